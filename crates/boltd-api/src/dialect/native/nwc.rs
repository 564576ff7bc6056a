//! Nostr Wallet Connect connections (`/api/v1/nwc/connections`, `node:admin`): a connection
//! is a token reached through a relay (see `boltd_nwc`). Creating one answers its
//! `nostr+walletconnect://` URI, once; revoking one revokes its token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use boltd_nwc::connection::{self, ConnectionError, ConnectionInfo, CreatedConnection};

use super::tokens::{token_spec, CreateTokenRequest};
use crate::error::{ApiError, ApiResult, Body, ErrorBody};
use crate::AppState;

/// The OpenAPI tag of NWC connections.
pub(crate) const TAG: &str = "nwc";

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Auth(a) => a.into(),
            ConnectionError::NotConfigured => {
                ApiError { status: StatusCode::CONFLICT, code: "nwc_off", message: e.to_string() }
            }
            ConnectionError::NotFound(_) => ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: e.to_string(),
            },
            ConnectionError::Internal => ApiError::internal("NWC connection store"),
        }
    }
}

/// Creates a connection: a client key pair and a token with these scopes, maximum and
/// budgets. 201 with the `nostr+walletconnect://` URI, shown this once.
#[utoipa::path(post, path = "/api/v1/nwc/connections", tag = TAG, operation_id = "create_nwc_connection",
    security(("bearer" = ["node:admin"])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created: `uri` is shown this once", body = CreatedConnection),
        (status = 400, description = "A bad token request", body = ErrorBody),
        (status = 409, description = "NWC is off: `nwc_relays` is not set", body = ErrorBody),
    ))]
pub(crate) async fn create_connection(
    State(engine): State<AppState>,
    Body(r): Body<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedConnection>), ApiError> {
    let created = connection::create(&engine, token_spec(r)?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every connection (revoked ones too), with its token; never a secret.
#[utoipa::path(get, path = "/api/v1/nwc/connections", tag = TAG, operation_id = "list_nwc_connections",
    security(("bearer" = ["node:admin"])),
    responses((status = 200, description = "The connections", body = Vec<ConnectionInfo>)))]
pub(crate) async fn list_connections(
    State(engine): State<AppState>,
) -> ApiResult<Vec<ConnectionInfo>> {
    Ok(Json(connection::list(&engine).await?))
}

/// Revokes a connection (its token): its requests are answered `UNAUTHORIZED` from now on.
#[utoipa::path(delete, path = "/api/v1/nwc/connections/{client_pubkey}", tag = TAG,
    operation_id = "revoke_nwc_connection",
    security(("bearer" = ["node:admin"])),
    params(("client_pubkey" = String, Path, description = "The connection's client public key (hex)")),
    responses(
        (status = 200, description = "The revoked connection", body = ConnectionInfo),
        (status = 404, description = "No such connection", body = ErrorBody),
    ))]
pub(crate) async fn revoke_connection(
    State(engine): State<AppState>,
    Path(client_pubkey): Path<String>,
) -> ApiResult<ConnectionInfo> {
    Ok(Json(connection::revoke(&engine, &client_pubkey).await?))
}
