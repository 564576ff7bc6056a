//! Alby's Wallet API (seed 004; `@getalby/sdk`'s `Client` calls it as is): payments
//! ([`wallet`]: `/payments/bolt11`, `/payments/keysend`, `/payments/keysend/multi`, the invoice
//! lists, `/balance`, `/decode/bolt11/...`), its invoice object ([`invoice`]: the one rendering,
//! also the body of Alby webhook deliveries) and webhook endpoints ([`webhooks`]). This module
//! holds the dialect's error (`{code, error: true, message}`), its mapping from the engine's
//! errors, and [`routes`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::PayError;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::AppState;

pub(crate) mod invoice;
pub(crate) mod wallet;
pub(crate) mod webhooks;

/// Path roots of Alby's Wallet API: a path under one of them is Alby's.
pub(crate) const ROOTS: [&str; 6] =
    ["/balance", "/decode", "/invoices", "/payments", "/user", "/webhook_endpoints"];

/// Alby's operations, one line each (see the crate's documentation).
pub(crate) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(wallet::pay_bolt11))
        .routes(routes!(wallet::keysend))
        .routes(routes!(wallet::multi_keysend))
        .routes(routes!(wallet::all_invoices, wallet::create_invoice))
        .routes(routes!(wallet::incoming))
        .routes(routes!(wallet::outgoing))
        .routes(routes!(wallet::get_invoice))
        .routes(routes!(wallet::balance))
        .routes(routes!(wallet::decode))
        .routes(routes!(webhooks::create))
        .routes(routes!(webhooks::get, webhooks::delete))
}

/// Alby's error (Wallet API paths): `code` 1 authentication, 2 not enough balance or an expired
/// invoice, 6 internal, 8 bad arguments, 10 the payment failed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyErrorBody {
    /// Alby's (lndhub's) numeric error code.
    #[schema(minimum = 1)]
    pub(crate) code: u16,
    /// Always true.
    pub(crate) error: bool,
    /// What went wrong.
    pub(crate) message: String,
}

/// An error of `status` no handler made: 6 (something went wrong) for server errors, 8 (bad
/// arguments) otherwise.
pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    let code = if status.is_server_error() { 6 } else { 8 };
    (status, Json(AlbyErrorBody { code, error: true, message })).into_response()
}

/// A refused token: Alby's (lndhub's) code 1, "bad auth".
pub(crate) fn auth_failure(status: StatusCode, message: String) -> Response {
    (status, Json(AlbyErrorBody { code: 1, error: true, message })).into_response()
}

/// The OpenAPI tag of Alby's dialect.
pub(crate) const TAG: &str = "alby";

/// Items per page of the invoice lists by default (Alby's).
pub const DEFAULT_ITEMS: u32 = 25;
/// Most items per page.
pub const MAX_ITEMS: u32 = 100;

/// An Alby error: `{code, error: true, message}` with an HTTP status.
#[derive(Debug)]
pub(crate) struct AlbyError {
    status: StatusCode,
    code: u16,
    message: String,
}

impl AlbyError {
    pub(crate) fn bad_arguments(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: 8, message: message.into() }
    }

    fn body(&self) -> AlbyErrorBody {
        AlbyErrorBody { code: self.code, error: true, message: self.message.clone() }
    }
}

impl IntoResponse for AlbyError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<PayError> for AlbyError {
    fn from(e: PayError) -> Self {
        let (status, code) = match &e {
            PayError::InvalidParams(_) => (StatusCode::BAD_REQUEST, 8),
            PayError::IdempotencyConflict { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::WrongState(_)
            | PayError::LabelExists(_) => (StatusCode::CONFLICT, 8),
            PayError::NotFound(_) => (StatusCode::NOT_FOUND, 8),
            // Alby's (lndhub's) code 1 is "bad auth", as the authentication layer answers.
            PayError::Unauthorized => (StatusCode::UNAUTHORIZED, 1),
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                (StatusCode::FORBIDDEN, 1)
            }
            PayError::InsufficientBalance { .. } | PayError::InvoiceExpired { .. } => {
                (StatusCode::BAD_REQUEST, 2)
            }
            PayError::DestinationRejected { .. }
            | PayError::ChannelsBusy { .. }
            | PayError::RouteNotFound { .. }
            | PayError::RouteTooExpensive { .. }
            | PayError::Timeout { .. }
            | PayError::Recorded { .. }
            | PayError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, 10),
            // Alby's code 6 ("something went wrong"), not 10: this is no payment outcome.
            PayError::Storage => (StatusCode::INTERNAL_SERVER_ERROR, 6),
        };
        Self { status, code, message: e.to_string() }
    }
}

impl From<ApiError> for AlbyError {
    fn from(e: ApiError) -> Self {
        let code = if e.status.is_server_error() { 6 } else { 8 };
        Self { status: e.status, code, message: e.message }
    }
}

impl From<boltd_node::NodeError> for AlbyError {
    fn from(e: boltd_node::NodeError) -> Self {
        ApiError::from(e).into()
    }
}
