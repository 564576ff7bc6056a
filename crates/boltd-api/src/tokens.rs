//! Token management (`/api/v1/tokens`, `node:admin`) and a token's view of itself
//! (`/api/v1/tokens/self`, any valid token).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use boltd_engine::auth::{Caller, Scope, TokenSpec};
use boltd_store::SpendingLimits;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{to_json, ApiError, ApiResult, Body};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTokenRequest {
    name: String,
    scopes: Vec<String>,
    /// Unix seconds.
    expires_at: Option<u64>,
    /// Alternative to `expires_at`: seconds from now.
    expires_in_secs: Option<u64>,
    max_payment_msat: Option<u64>,
    budget_day_msat: Option<u64>,
    budget_week_msat: Option<u64>,
    budget_month_msat: Option<u64>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Creates a token: 201 with the token string, shown this once.
pub(crate) async fn create_token(
    State(engine): State<AppState>,
    Body(r): Body<CreateTokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut scopes = Vec::with_capacity(r.scopes.len());
    for s in &r.scopes {
        scopes.push(Scope::parse(s).ok_or_else(|| {
            let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!("unknown scope `{s}`; the scopes are {}", all.join(", ")))
        })?);
    }
    let expires_at = match (r.expires_at, r.expires_in_secs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give expires_at or expires_in_secs, not both"))
        }
        (Some(t), None) => Some(t),
        (None, Some(0)) => return Err(ApiError::bad_request("expires_in_secs must be positive")),
        (None, Some(secs)) => Some(now_secs().saturating_add(secs)),
        (None, None) => None,
    };
    let spec = TokenSpec {
        name: r.name,
        scopes,
        expires_at,
        limits: SpendingLimits {
            max_payment_msat: r.max_payment_msat,
            budget_day_msat: r.budget_day_msat,
            budget_week_msat: r.budget_week_msat,
            budget_month_msat: r.budget_month_msat,
        },
    };
    let created = engine.create_token(spec).await?;
    let Json(v) = to_json(created)?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Every token, without secrets.
pub(crate) async fn list_tokens(State(engine): State<AppState>) -> ApiResult {
    to_json(engine.list_tokens().await?)
}

/// One token, without its secret.
pub(crate) async fn get_token(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult {
    to_json(engine.token(&id).await?)
}

/// Revokes a token.
pub(crate) async fn revoke_token(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.revoke_token(&id).await?)
}

/// The calling token: its scopes, expiry, limits and what is left of its budgets.
pub(crate) async fn current_token(
    State(engine): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> ApiResult {
    let Some(Extension(caller)) = caller else {
        return Err(ApiError::from(boltd_engine::auth::AuthError::Missing));
    };
    match &caller.token_id {
        Some(id) => to_json(engine.token(id).await?),
        // --insecure-no-auth: no token.
        None => Ok(Json(json!({
            "id": null,
            "name": caller.name,
            "scopes": caller.scopes,
            "active": true,
            "budgets": [],
        }))),
    }
}
