//! The API's errors and request plumbing: [`ApiError`] (HTTP status, stable machine code, a
//! message safe to show; the native dialect's error, and the common ground the other dialects
//! map from), mapped exhaustively from the node's [`NodeError`] and the engine's [`PayError`],
//! [`NotifyError`] and [`AuthError`]; the JSON body extractor whose parse errors are 4xx, never
//! 500; the native error body (Core Lightning's and Alby's are in their dialect folders); and
//! the last line of defence, [`shape_errors`], which turns axum's own plain-text rejections
//! (bad path or query parameters, an unreadable or oversized body, a wrong method) into the
//! dialect's JSON error.

use axum::extract::rejection::JsonRejection;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::auth::AuthError;
use boltd_engine::{NotifyError, PayError};
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use boltd_node::NodeError;
use boltd_store::FailureCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::{error_response, Dialect};

/// Every machine `code` of the native dialect's errors ([`ErrorBody`]). A unit test checks that
/// the crate's sources use no other.
pub const ERROR_CODES: &[&str] = &[
    "bad_request",
    "invalid_input",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "unauthorized",
    "missing_scope",
    "cors_denied",
    "host_not_allowed",
    "insufficient_funds",
    "insufficient_balance",
    "channels_busy",
    "peer_unreachable",
    "lightning_refused",
    "chain_unavailable",
    "transaction_rejected",
    "idempotency_conflict",
    "already_paid",
    "destination_rejected",
    "route_not_found",
    "route_too_expensive",
    "invoice_expired",
    "payment_timeout",
    "wrong_state",
    "duplicate_label",
    "payment_limit_exceeded",
    "budget_exceeded",
    "payment_failed",
    "too_many_tickets",
    "last_admin_token",
    "nwc_off",
    "storage_error",
    "standby",
    "internal",
];

fn error_code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_CODES.iter().copied()))
        .description(Some("Stable machine code of the error"))
        .build()
}

/// The native (barkd) dialect's error: a stable machine `code` and a message for people.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    #[schema(schema_with = error_code_schema)]
    pub(crate) code: &'static str,
    /// What went wrong, safe to show (internal details are only logged).
    pub(crate) message: String,
    /// On a 404, what was not found (barkd's `NotFoundError`); absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) resources: Vec<String>,
}

impl ErrorBody {
    /// The native error body of `code` and `message` for an answer of `status`.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        let resources =
            if status == StatusCode::NOT_FOUND { vec![message.clone()] } else { Vec::new() };
        ErrorBody { code, message, resources }
    }
}

/// The native code of an axum rejection's (or a bare error's) status.
pub(crate) fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthorized",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// The unknown-path answer: 404 in the dialect of the path.
pub(crate) async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    error_response(Dialect::of(&path), StatusCode::NOT_FOUND, format!("no such path: {path}"))
}

/// Longest plain-text rejection read back into a JSON error.
const MAX_REJECTION_BYTES: usize = 4096;

/// Middleware: an error answer that is not JSON (axum's rejections are plain text; a wrong
/// method is an empty 405) becomes the dialect's JSON error with the same status and the text
/// as its message, so every error a client sees has its dialect's shape. The LNURL endpoints
/// answer LUD-06's own errors and are left alone.
pub(crate) async fn shape_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || path.starts_with("/.well-known/lnurlp/")
    {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES).await.unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_string();
    let allow = parts.headers.get(header::ALLOW).cloned();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or("");
        message = format!("method {method} is not allowed on {path}; allowed: {allowed}");
    } else if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_string();
    }
    if status.is_server_error() {
        tracing::error!(%path, "internal error: {message}");
        message = "internal error; see the daemon's log".into();
    }
    let mut shaped = error_response(Dialect::of(&path), status, message);
    // Keep what the client needs to act on: the allowed methods, the authentication scheme.
    for name in [header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            shaped.headers_mut().insert(name, v.clone());
        }
    }
    if let Some(v) = parts.headers.get(header::VARY) {
        shaped.headers_mut().insert(header::VARY, v.clone());
    }
    shaped
}

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

    /// An internal error: `detail` is logged, the client sees a generic message.
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; see the daemon's log".into(),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let (status, code) = match &e {
            NodeError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            NodeError::InsufficientFunds { .. } => (StatusCode::BAD_REQUEST, "insufficient_funds"),
            NodeError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            NodeError::Connection(_) => (StatusCode::BAD_GATEWAY, "peer_unreachable"),
            NodeError::LspRefused(_) => (StatusCode::BAD_REQUEST, "lsp_refused"),
            NodeError::Lightning(_) => (StatusCode::UNPROCESSABLE_ENTITY, "lightning_refused"),
            NodeError::Chain(_) => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
            NodeError::IdempotencyConflict { .. } => (StatusCode::CONFLICT, "idempotency_conflict"),
            NodeError::TransactionRejected { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "transaction_rejected")
            }
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
        let status = r.status();
        Self { status, code: code_for_status(status), message: r.body_text() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.status, self.code, self.message))).into_response()
    }
}

/// The status and code of a failure read back from a payment's record: the same as the
/// failure's own variant answers when it happens.
fn recorded_failure(code: FailureCode) -> (StatusCode, &'static str) {
    match code {
        FailureCode::AlreadyPaidDifferently => (StatusCode::CONFLICT, "already_paid"),
        FailureCode::DestinationPermanentFailure => {
            (StatusCode::UNPROCESSABLE_ENTITY, "destination_rejected")
        }
        FailureCode::RouteNotFound => (StatusCode::UNPROCESSABLE_ENTITY, "route_not_found"),
        FailureCode::RouteTooExpensive => (StatusCode::UNPROCESSABLE_ENTITY, "route_too_expensive"),
        FailureCode::InvoiceExpired => (StatusCode::BAD_REQUEST, "invoice_expired"),
        FailureCode::StoppedRetrying => (StatusCode::GATEWAY_TIMEOUT, "payment_timeout"),
        FailureCode::Other => (StatusCode::UNPROCESSABLE_ENTITY, "payment_failed"),
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
            PayError::ChannelsBusy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "channels_busy"),
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
            PayError::Recorded { code, .. } => recorded_failure(*code),
            PayError::Other(_) => (StatusCode::UNPROCESSABLE_ENTITY, "payment_failed"),
            // Not a payment outcome: the detail was logged, the message is a fixed text.
            PayError::Storage => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
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
pub(crate) type ApiResult<T = Value> = Result<Json<T>, ApiError>;

/// A JSON body whose parse errors become [`ApiError`]s (400 with a message, never a 500).
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

/// Reads `v` as a `T`; the error names the field it is about (`keysends[0].destination:
/// invalid type: ...`), which `serde_json::from_value` alone does not.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// Parses a node id, or says which string is not one.
pub(crate) fn parse_pubkey(s: &str) -> Result<PublicKey, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("`{s}` is not a node public key")))
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use boltd_store::StoreError;

    use super::*;

    async fn answer(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// A database failure whose detail (a path, SQLite's words) must stay in the log.
    fn store_failure() -> PayError {
        PayError::from(StoreError::Io {
            path: "/secret/data/boltd.sqlite".into(),
            source: std::io::Error::other("No space left on device"),
        })
    }

    fn no_detail(v: &Value) {
        let text = v.to_string();
        assert!(!text.contains("/secret") && !text.contains("space"), "detail leaked: {v}");
    }

    /// A storage failure is 500 with a stable code in every dialect, never a payment outcome
    /// (barkd's 422 `payment_failed`, Core Lightning's 2xx `pay` codes, Alby's code 10).
    #[tokio::test]
    async fn a_storage_failure_is_a_500_storage_error_in_every_dialect() {
        let (s, v) = answer(ApiError::from(store_failure()).into_response()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("storage_error"))
        );
        assert!(ERROR_CODES.contains(&"storage_error"));
        assert!(v["message"].as_str().unwrap().contains("storage error"), "{v}");
        no_detail(&v);

        let (s, v) =
            answer(crate::dialect::cln::ClnError::from(store_failure()).into_response()).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        assert_eq!(v["code"], -1, "{v}");
        assert_eq!(v["data"]["error"], "storage_error", "{v}");
        no_detail(&v);

        let (s, v) =
            answer(crate::dialect::alby::AlbyError::from(store_failure()).into_response()).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        assert_eq!((v["code"].as_u64(), v["error"].as_bool()), (Some(6), Some(true)), "{v}");
        no_detail(&v);
    }

    /// A failure read back from a payment's record answers with its recorded kind in every
    /// dialect: Core Lightning's 206 (not -1), barkd's `route_too_expensive`, Alby's 10.
    #[tokio::test]
    async fn a_recorded_failure_keeps_its_code_in_every_dialect() {
        let e = || PayError::Recorded {
            code: FailureCode::RouteTooExpensive,
            reason: "every route costs more than the fee limit".into(),
        };
        let (s, v) = answer(ApiError::from(e()).into_response()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("route_too_expensive"))
        );
        let (s, v) = answer(crate::dialect::cln::ClnError::from(e()).into_response()).await;
        assert_eq!((s, v["code"].as_i64()), (StatusCode::INTERNAL_SERVER_ERROR, Some(206)), "{v}");
        assert!(v["message"].as_str().unwrap().contains("fee limit"), "{v}");
        let already =
            PayError::Recorded { code: FailureCode::AlreadyPaidDifferently, reason: "x".into() };
        let (_, v) = answer(crate::dialect::cln::ClnError::from(already).into_response()).await;
        assert_eq!(v["code"], 201, "{v}");
        let (s, v) = answer(crate::dialect::alby::AlbyError::from(e()).into_response()).await;
        assert_eq!((s, v["code"].as_u64()), (StatusCode::INTERNAL_SERVER_ERROR, Some(10)), "{v}");
    }

    /// The store's refusal of malformed input writes nothing: it is the caller's 400.
    #[tokio::test]
    async fn the_stores_refusal_of_bad_input_is_a_400() {
        let e =
            PayError::from(StoreError::Invalid { reason: "the idempotency key is empty".into() });
        let (s, v) = answer(ApiError::from(e).into_response()).await;
        assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")));
        assert!(v["message"].as_str().unwrap().contains("idempotency key"), "{v}");
    }
}
