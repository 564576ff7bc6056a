//! The three dialects, each in its own folder with its wire types, its presentation of the
//! engine's neutral types, its error shape and its error mapping, and the list of its
//! operations ([`native::routes`], [`cln::routes`], [`alby::routes`]):
//! - [`native`]: barkd's REST API (`/api/v1/...`) and boltd's additions (node administration,
//!   the on-chain wallet, notifications and webhooks, tokens, LNURL hosting);
//! - [`cln`]: Core Lightning's REST methods (`POST /v1/<method>`);
//! - [`alby`]: Alby's Wallet API (`/payments/...`, `/invoices...`, `/balance`, ...).
//!
//! A path belongs to one dialect ([`Dialect::of`]): answers the layers around the handlers
//! make (authentication, the edge guards, axum's rejections, unknown paths) take that
//! dialect's error shape through [`error_response`] and [`auth_failure`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boltd_engine::auth::AuthError;

use crate::error::ApiError;

pub(crate) mod alby;
pub(crate) mod cln;
pub(crate) mod native;

/// The API dialect of a path, for the shape of the answers the layers make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// barkd's and boltd's native `{code, message}` with a string code.
    Native,
    /// Core Lightning's `{code, message}` with a numeric code (`/v1/...`).
    Cln,
    /// Alby's Wallet API `{code, error: true, message}` (its path roots).
    Alby,
}

impl Dialect {
    /// The dialect `path` belongs to: Core Lightning's under `/v1/`, Alby's under its path
    /// roots ([`alby::ROOTS`]), the native dialect's otherwise.
    pub(crate) fn of(path: &str) -> Dialect {
        if path.starts_with("/v1/") {
            return Dialect::Cln;
        }
        let root_of = |r: &str| {
            path.strip_prefix(r).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if alby::ROOTS.iter().any(|r| root_of(r)) {
            Dialect::Alby
        } else {
            Dialect::Native
        }
    }
}

/// An error of `status` with `message` in `dialect`'s shape (for answers no handler made).
pub(crate) fn error_response(dialect: Dialect, status: StatusCode, message: String) -> Response {
    match dialect {
        Dialect::Native => native::error_response(status, message),
        Dialect::Cln => cln::error_response(status, message),
        Dialect::Alby => alby::error_response(status, message),
    }
}

/// The answer to a request that failed authentication or authorization, in `dialect`'s shape;
/// a 401 carries `WWW-Authenticate: Bearer`.
pub(crate) fn auth_failure(dialect: Dialect, e: AuthError) -> Response {
    let api = ApiError::from(e);
    let status = api.status;
    let mut res = match dialect {
        Dialect::Native => api.into_response(),
        Dialect::Cln => cln::auth_failure(status, api.message),
        Dialect::Alby => alby::auth_failure(status, api.message),
    };
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"boltd\""));
    }
    res
}
