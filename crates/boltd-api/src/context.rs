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
        let mut ctx = PayContext::new(key, caller.token_id.clone());
        ctx.owner = caller.owner().map(String::from);
        Ok(Ctx(ctx))
    }
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            // Visible ASCII only, no spaces or tabs (`to_str` lets those through): the
            // document's pattern `^[\x21-\x7e]+$`.
            let bytes = v.as_bytes();
            if bytes.is_empty()
                || bytes.len() > MAX_IDEMPOTENCY_KEY_LEN
                || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
            {
                return Err(ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII \
                     characters (no spaces)"
                )));
            }
            Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
    }
}
