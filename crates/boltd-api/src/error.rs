//! The API's errors and request plumbing: [`ApiError`] (HTTP status, stable machine code, a
//! message safe to show), mapped exhaustively from the node's [`NodeError`] and the engine's
//! [`PayError`], [`NotifyError`] and [`AuthError`]; the JSON body extractor whose parse errors
//! are 4xx, never 500.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::auth::AuthError;
use boltd_engine::{NotifyError, PayError};
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use boltd_node::NodeError;
use serde_json::{json, Value};

/// An API error: HTTP status, stable machine code, and a message safe to show.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let (status, code) = match &e {
            NodeError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            NodeError::InsufficientFunds { .. } => (StatusCode::BAD_REQUEST, "insufficient_funds"),
            NodeError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            NodeError::Connection(_) => (StatusCode::BAD_GATEWAY, "peer_unreachable"),
            NodeError::Lightning(_) => (StatusCode::UNPROCESSABLE_ENTITY, "lightning_refused"),
            NodeError::Chain(_) => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
            NodeError::Config(_)
            | NodeError::Store(_)
            | NodeError::UnreadableState { .. }
            | NodeError::Wallet(_)
            | NodeError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {e}");
            "internal error; see the daemon's log".to_string()
        } else {
            e.to_string()
        };
        Self { status, code, message }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        Self { status: r.status(), code: "bad_request", message: r.body_text() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        let (status, code) = match &e {
            PayError::InvalidParams(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            PayError::IdempotencyConflict { .. } => (StatusCode::CONFLICT, "idempotency_conflict"),
            PayError::AlreadyPaid { .. } => (StatusCode::CONFLICT, "already_paid"),
            PayError::DestinationRejected { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "destination_rejected")
            }
            PayError::RouteNotFound { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "route_not_found"),
            PayError::InsufficientBalance { .. } => {
                (StatusCode::BAD_REQUEST, "insufficient_balance")
            }
            PayError::RouteTooExpensive { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "route_too_expensive")
            }
            PayError::InvoiceExpired { .. } => (StatusCode::BAD_REQUEST, "invoice_expired"),
            PayError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "payment_timeout"),
            PayError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            PayError::WrongState(_) => (StatusCode::CONFLICT, "wrong_state"),
            PayError::LabelExists(_) => (StatusCode::CONFLICT, "duplicate_label"),
            PayError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            PayError::PaymentLimitExceeded { .. } => {
                (StatusCode::FORBIDDEN, "payment_limit_exceeded")
            }
            PayError::BudgetExceeded { .. } => (StatusCode::FORBIDDEN, "budget_exceeded"),
            PayError::Other(_) => (StatusCode::UNPROCESSABLE_ENTITY, "payment_failed"),
        };
        Self { status, code, message: e.to_string() }
    }
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        let (status, code) = match &e {
            NotifyError::InvalidParams(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            NotifyError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            NotifyError::TicketRefused => (StatusCode::UNAUTHORIZED, "unauthorized"),
            NotifyError::TooManyTickets => (StatusCode::TOO_MANY_REQUESTS, "too_many_tickets"),
            NotifyError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {e}");
            "internal error; see the daemon's log".to_string()
        } else {
            e.to_string()
        };
        Self { status, code, message }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match &e {
            AuthError::Missing | AuthError::Invalid => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AuthError::MissingScope(_) => (StatusCode::FORBIDDEN, "missing_scope"),
            AuthError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            AuthError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AuthError::LastAdmin(_) => (StatusCode::CONFLICT, "last_admin_token"),
            AuthError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self { status, code, message: e.to_string() }
    }
}

/// What handlers return.
pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

/// A JSON body whose parse errors become [`ApiError`]s (400 with a message, never a 500).
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

/// Serializes a response body (a failure is an internal error, logged).
pub(crate) fn to_json<T: serde::Serialize>(v: T) -> ApiResult {
    serde_json::to_value(v).map(Json).map_err(|e| {
        tracing::error!("serializing a response failed: {e}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error".into(),
        }
    })
}

/// Parses a node id, or says which string is not one.
pub(crate) fn parse_pubkey(s: &str) -> Result<PublicKey, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("`{s}` is not a node public key")))
}
