//! Token management (`/api/v1/tokens`, `node:admin`) and a token's view of itself
//! (`/api/v1/tokens/self`, any valid token).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use boltd_engine::auth::{Caller, CreatedToken, Scope, TokenInfo, TokenSpec};
use boltd_store::{BudgetUse, SpendingLimits};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Body, ErrorBody};
use crate::AppState;

/// The OpenAPI tag of token management.
pub(crate) const TAG: &str = "tokens";

/// A token to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A name for people (1 to 64 bytes).
    pub name: String,
    /// What it may do (at least one).
    #[schema(value_type = Vec<Scope>)]
    pub scopes: Vec<String>,
    /// When it stops working (unix seconds, in the future, at most 253402300799:
    /// 9999-12-31T23:59:59Z).
    #[schema(maximum = 253_402_300_799_u64)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Alternative to `expires_at`: seconds from now (ending by the same latest date).
    #[schema(minimum = 1)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// Largest amount of one payment, fees excluded, in msat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payment_msat: Option<u64>,
    /// Budget of the last 24 hours (amounts plus fees), in msat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_day_msat: Option<u64>,
    /// Budget of the last 7 days, in msat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_week_msat: Option<u64>,
    /// Budget of the last 30 days, in msat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_month_msat: Option<u64>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Creates a token: 201 with the token string, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = TAG, operation_id = "create_token",
    security(("bearer" = ["node:admin"])),
    request_body = CreateTokenRequest,
    responses((status = 201, description = "Created: `token` is shown this once", body = CreatedToken)))]
pub(crate) async fn create_token(
    State(engine): State<AppState>,
    Body(r): Body<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = engine.create_token(token_spec(r)?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The engine's token request of an API one.
pub(crate) fn token_spec(r: CreateTokenRequest) -> Result<TokenSpec, ApiError> {
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
        (None, Some(secs)) => {
            let latest = boltd_engine::auth::MAX_TOKEN_EXPIRES_AT;
            match now_secs().checked_add(secs).filter(|t| *t <= latest) {
                Some(t) => Some(t),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "expires_in_secs is too large: the token must expire by {latest} \
                         (9999-12-31T23:59:59Z)"
                    )))
                }
            }
        }
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
    Ok(spec)
}

/// Every token, without secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = TAG, operation_id = "list_tokens",
    security(("bearer" = ["node:admin"])),
    responses((status = 200, description = "The tokens", body = Vec<TokenInfo>)))]
pub(crate) async fn list_tokens(State(engine): State<AppState>) -> ApiResult<Vec<TokenInfo>> {
    Ok(Json(engine.list_tokens().await?))
}

/// One token, without its secret.
#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = TAG, operation_id = "get_token",
    security(("bearer" = ["node:admin"])),
    params(("id" = String, Path, description = "The token's id (the `<id>` of `boltd_<id>_<secret>`)")),
    responses(
        (status = 200, description = "The token", body = TokenInfo),
        (status = 404, description = "No such token", body = ErrorBody),
    ))]
pub(crate) async fn get_token(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<TokenInfo> {
    Ok(Json(engine.token(&id).await?))
}

/// Revokes a token (revoking a revoked one changes nothing).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = TAG, operation_id = "revoke_token",
    security(("bearer" = ["node:admin"])),
    params(("id" = String, Path, description = "The token's id (the `<id>` of `boltd_<id>_<secret>`)")),
    responses(
        (status = 200, description = "The revoked token", body = TokenInfo),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "The last active admin token cannot be revoked", body = ErrorBody),
    ))]
pub(crate) async fn revoke_token(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<TokenInfo> {
    Ok(Json(engine.revoke_token(&id).await?))
}

/// The caller of a daemon without authentication (`--insecure-no-auth`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnrestrictedCaller {
    /// Always null: there is no token (what tells this shape from a token's).
    #[schema(schema_with = null_schema)]
    id: Option<String>,
    /// The caller's name.
    name: String,
    /// Its scopes.
    scopes: Vec<Scope>,
    /// Always true.
    active: bool,
    /// Always empty.
    budgets: Vec<BudgetUse>,
}

/// The calling token, or the unrestricted caller of a daemon without authentication.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum CurrentToken {
    /// The token.
    Token(TokenInfo),
    /// No authentication.
    Unrestricted(UnrestrictedCaller),
}

/// The calling token: its scopes, expiry, limits and what is left of its budgets.
#[utoipa::path(get, path = "/api/v1/tokens/self", tag = TAG, operation_id = "current_token",
    security(("bearer" = [])),
    responses((status = 200, description = "The calling token", body = CurrentToken)))]
pub(crate) async fn current_token(
    State(engine): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> ApiResult<CurrentToken> {
    let Some(Extension(caller)) = caller else {
        return Err(ApiError::from(boltd_engine::auth::AuthError::Missing));
    };
    match &caller.token_id {
        Some(id) => Ok(Json(CurrentToken::Token(engine.token(id).await?))),
        // --insecure-no-auth: no token.
        None => Ok(Json(CurrentToken::Unrestricted(UnrestrictedCaller {
            id: None,
            name: caller.name.clone(),
            scopes: caller.scopes.clone(),
            active: true,
            budgets: Vec::new(),
        }))),
    }
}

/// The JSON schema of a value that is always null.
fn null_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Null)
        .description(Some("Always null: there is no token"))
        .build()
}
