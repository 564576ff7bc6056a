//! Core Lightning's errors: the error object `{code, message, data}` ([`ClnErrorBody`]), the
//! mapping of the engine's [`PayError`] to Core Lightning's codes and `data` ([`ClnError`]; an
//! exhaustive match), and the answers the layers make in this shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::PayError;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Core Lightning's error object (`/v1/...`): `code` is Core Lightning's (-32602 invalid
/// parameters, 201-210 `pay` failures, 900 duplicate label, 1501/1502 authentication, -1 other).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnErrorBody {
    /// Core Lightning's numeric error code.
    pub(crate) code: i32,
    /// What went wrong.
    pub(crate) message: String,
    /// Details of a `pay` failure (its attempts, amounts, ...), absent or null otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) data: Option<Value>,
}

/// An error of `status` no method made (an unknown method, an unreadable body): JSON-RPC's
/// "method not found" for unknown methods, "invalid params" for bad requests, -1 otherwise.
pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => -32601,
        s if s.is_server_error() => -1,
        _ => -32602,
    };
    (status, Json(ClnErrorBody { code, message, data: None })).into_response()
}

/// A refused token: Core Lightning's 1501 (not authorized) on a 401, 1502 (not permitted) on a
/// 403.
pub(crate) fn auth_failure(status: StatusCode, message: String) -> Response {
    let code = if status == StatusCode::UNAUTHORIZED {
        cln_codes::NOT_AUTHORIZED
    } else {
        cln_codes::NOT_PERMITTED
    };
    (status, Json(ClnErrorBody { code, message, data: None })).into_response()
}

/// A Core Lightning error object: `{code, message, data}`, with clnrest's status: 500 for an
/// RPC error (a payment that failed, a label taken, a timeout...), as clnrest answers every
/// error of the method; boltd answers bad parameters (-32602) with 400 and the token's
/// refusals with 401/403 instead (nothing was attempted).
pub(crate) struct ClnError(pub(crate) PayError);

impl ClnError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ClnError(PayError::InvalidParams(msg.into()))
    }
}

impl From<PayError> for ClnError {
    fn from(e: PayError) -> Self {
        ClnError(e)
    }
}

impl IntoResponse for ClnError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            PayError::InvalidParams(_) | PayError::NotFound(_) => StatusCode::BAD_REQUEST,
            PayError::Unauthorized => StatusCode::UNAUTHORIZED,
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                StatusCode::FORBIDDEN
            }
            // An RPC error: clnrest answers 500 with the error object, whatever the code.
            PayError::Other(_)
            | PayError::Storage
            | PayError::Recorded { .. }
            | PayError::LabelExists(_)
            | PayError::IdempotencyConflict { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::DestinationRejected { .. }
            | PayError::RouteNotFound { .. }
            | PayError::InsufficientBalance { .. }
            | PayError::ChannelsBusy { .. }
            | PayError::RouteTooExpensive { .. }
            | PayError::InvoiceExpired { .. }
            | PayError::Timeout { .. }
            | PayError::WrongState(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let data = data(&self.0);
        let body = ClnErrorBody {
            code: code(&self.0),
            message: self.0.to_string(),
            // Always present (null when there are no details), as Core Lightning's REST plugin.
            data: Some(data),
        };
        (status, Json(body)).into_response()
    }
}

/// A Core Lightning RPC error with a method's own code (905 unknown invoice, 903 expired...),
/// as clnrest answers it: 500 with `{code, message, data}` (`data` null when there are no
/// details).
pub(crate) fn rpc_error(code: i32, message: impl Into<String>, data: Value) -> Response {
    let body = ClnErrorBody { code, message: message.into(), data: Some(data) };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// Core Lightning's `checkrune` error codes, which its REST interface answers with when a rune
/// is missing or invalid (`RUNE_NOT_AUTHORIZED`) or does not allow the call
/// (`RUNE_NOT_PERMITTED`); boltd's tokens play the runes' part.
pub(crate) mod cln_codes {
    /// The token is missing, invalid, revoked or expired.
    pub(crate) const NOT_AUTHORIZED: i32 = 1501;
    /// The token does not allow this (scope, per-payment maximum or budget).
    pub(crate) const NOT_PERMITTED: i32 = 1502;
}

/// Core Lightning's error code of `e` (900 is `invoice`'s `INVOICE_LABEL_ALREADY_EXISTS`).
pub(crate) fn code(e: &PayError) -> i32 {
    {
        match e {
            PayError::InvalidParams(_) => -32602,
            PayError::IdempotencyConflict { .. } => -32602,
            PayError::AlreadyPaid { .. } => 201,
            PayError::DestinationRejected { .. } => 203,
            PayError::RouteNotFound { .. }
            | PayError::InsufficientBalance { .. }
            | PayError::ChannelsBusy { .. } => 205,
            PayError::RouteTooExpensive { .. } => 206,
            PayError::InvoiceExpired { .. } => 207,
            PayError::Timeout { .. } => 210,
            PayError::NotFound(_) | PayError::WrongState(_) => -32602,
            PayError::LabelExists(_) => 900,
            PayError::Unauthorized => cln_codes::NOT_AUTHORIZED,
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                cln_codes::NOT_PERMITTED
            }
            // The code the payment's record keeps (206, 201...).
            PayError::Recorded { code, .. } => code.code(),
            PayError::Storage | PayError::Other(_) => -1,
        }
    }
}

/// Core Lightning's `data` object for the error: for a payment that failed after sending,
/// the `failures` of its persisted parts (each with `erring_index`, `erring_node`,
/// `erring_channel`, `failcode`), the last one's members at the top level, and the
/// `getroute_tries` and `sendpay_tries` statistics.
pub(crate) fn data(e: &PayError) -> Value {
    {
        match e {
            PayError::DestinationRejected { failures }
            | PayError::RouteNotFound { failures }
            | PayError::Timeout { failures } => {
                let last = failures.last().cloned();
                // Core Lightning's statistics: each failed part is one route found and one
                // `sendpay`.
                let mut v = serde_json::json!({
                    "failures": failures,
                    "getroute_tries": failures.len(),
                    "sendpay_tries": failures.len(),
                });
                if let Some(f) = last {
                    v["erring_index"] = f.erring_index.into();
                    v["erring_node"] = f.erring_node.into();
                    v["erring_channel"] = f.erring_channel.into();
                    v["failcode"] = f.failcode.into();
                }
                v
            }
            PayError::RouteTooExpensive { fee_msat, feepercent, delay } => {
                serde_json::json!({ "fee": fee_msat, "feepercent": feepercent, "delay": delay })
            }
            PayError::InvoiceExpired { now, expiry } => {
                serde_json::json!({ "now": now, "expiry": expiry })
            }
            PayError::AlreadyPaid { payment_id } | PayError::IdempotencyConflict { payment_id } => {
                serde_json::json!({ "payment_id": payment_id })
            }
            PayError::InsufficientBalance { needed_msat, available_msat } => {
                serde_json::json!({ "needed_msat": needed_msat, "available_msat": available_msat })
            }
            PayError::ChannelsBusy { needed_msat, sendable_msat, in_flight_htlcs } => {
                serde_json::json!({
                    "needed_msat": needed_msat,
                    "sendable_msat": sendable_msat,
                    "in_flight_htlcs": in_flight_htlcs,
                })
            }
            PayError::PaymentLimitExceeded { limit_msat, amount_msat } => {
                serde_json::json!({ "max_payment_msat": limit_msat, "amount_msat": amount_msat })
            }
            PayError::BudgetExceeded {
                window,
                limit_msat,
                spent_msat,
                remaining_msat,
                needed_msat,
            } => serde_json::json!({
                "budget": window.as_str(),
                "limit_msat": limit_msat,
                "spent_msat": spent_msat,
                "remaining_msat": remaining_msat,
                "needed_msat": needed_msat,
            }),
            PayError::InvalidParams(_)
            | PayError::NotFound(_)
            | PayError::WrongState(_)
            | PayError::LabelExists(_)
            | PayError::Unauthorized
            | PayError::Recorded { .. }
            | PayError::Other(_) => Value::Null,
            // Core Lightning has no code of its own for it: -1 with a machine code in `data`.
            PayError::Storage => serde_json::json!({ "error": "storage_error" }),
        }
    }
}
