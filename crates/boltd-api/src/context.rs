//! What a request that creates a payment or an invoice brings besides its body: the client's
//! `Idempotency-Key` header and the authenticated caller (whose token the payment records and
//! whose spending limits apply), as one extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use boltd_engine::auth::{AuthError, Caller};
use boltd_engine::PayContext;

use crate::error::ApiError;

/// Longest accepted `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The engine's [`PayContext`] for this request.
pub(crate) struct Ctx(pub(crate) PayContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // The auth middleware puts the caller there; without one, fail closed.
        let caller = parts.extensions.get::<Caller>().ok_or(AuthError::Missing)?;
        let key = idempotency_key(&parts.headers)?;
        Ok(Ctx(PayContext::new(key, caller.token_id.clone())))
    }
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k =
                v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be ASCII"))?;
            if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
                )));
            }
            Ok(Some(k.to_string()))
        }
    }
}
