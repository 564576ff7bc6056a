//! Alby's webhook endpoints (the Wallet API as `@getalby/sdk`'s `createWebhookEndpoint` and
//! `deleteWebhookEndpoint` call it): `POST /webhook_endpoints` with `{url, description,
//! filter_types}` answers `{id, url, description, filter_types, created_at, endpoint_secret}`;
//! `GET`/`DELETE /webhook_endpoints/{id}` answer the endpoint without its secret. Endpoints made
//! here deliver in Alby's format: Alby invoice objects, rendered by this dialect
//! (`invoice::webhook_invoice`, installed with the engine's webhook renderer in `lib.rs`),
//! signed the Svix way by `boltd_engine::webhook`. Errors are Alby's `{code, error: true,
//! message}`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::notify::rfc3339;
use boltd_store::{WebhookFormat, WebhookRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dialect::alby::AlbyErrorBody;
use crate::dialect::alby::TAG;
use crate::error::ApiError;
use crate::AppState;

/// An [`ApiError`] in Alby's shape: `code` 8 for a bad request, 10 otherwise (as Alby's API).
pub(crate) struct AlbyError(ApiError);

impl<E: Into<ApiError>> From<E> for AlbyError {
    fn from(e: E) -> Self {
        AlbyError(e.into())
    }
}

impl IntoResponse for AlbyError {
    fn into_response(self) -> Response {
        let code = if self.0.status.is_client_error() { 8 } else { 10 };
        let body = AlbyErrorBody { code, error: true, message: self.0.message };
        (self.0.status, Json(body)).into_response()
    }
}

/// An Alby webhook endpoint (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyWebhookEndpoint {
    /// Its id.
    id: String,
    /// Where deliveries are POSTed.
    url: String,
    /// The owner's description.
    description: Option<String>,
    /// The event types delivered (Alby's names); empty: all.
    filter_types: Vec<String>,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
}

fn endpoint_json(w: &WebhookRecord) -> AlbyWebhookEndpoint {
    AlbyWebhookEndpoint {
        id: w.id.to_string(),
        url: w.url.clone(),
        description: w.description.clone(),
        filter_types: w.filter_types.clone().unwrap_or_default(),
        created_at: rfc3339(w.created_at),
    }
}

/// A new endpoint, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedAlbyWebhookEndpoint {
    #[serde(flatten)]
    endpoint: AlbyWebhookEndpoint,
    /// The Svix signing secret, `whsec_...`.
    endpoint_secret: String,
}

/// An Alby webhook endpoint to create.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CreateEndpoint {
    /// Where to POST deliveries (http or https).
    url: String,
    /// A description.
    description: Option<String>,
    /// Alby's event types to deliver (`invoice.incoming.settled`, `invoice.outgoing.settled`,
    /// `invoice.outgoing.failed`); absent or empty: all.
    #[serde(default)]
    filter_types: Vec<String>,
}

/// Creates an endpoint: 201 with `endpoint_secret` (`whsec_...`), shown this once.
#[utoipa::path(post, path = "/webhook_endpoints", tag = TAG, operation_id = "alby_create_webhook_endpoint",
    security(("bearer" = ["node:admin"])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created", body = CreatedAlbyWebhookEndpoint),
        (status = 400, description = "Bad arguments (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn create(
    State(engine): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedAlbyWebhookEndpoint>), AlbyError> {
    // Alby answers every unreadable body (not JSON, wrong shape) with 400 and code 8.
    let Json(v) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::from(e),
        _ => ApiError::bad_request(e.body_text()),
    })?;
    let r: CreateEndpoint = crate::error::from_value(v)
        .map_err(|e| ApiError::bad_request(format!("bad arguments: {e}")))?;
    let created = engine.create_alby_webhook(r.url, r.description, r.filter_types).await?;
    let endpoint = endpoint_json(&created.webhook);
    Ok((
        StatusCode::CREATED,
        Json(CreatedAlbyWebhookEndpoint { endpoint, endpoint_secret: created.secret }),
    ))
}

/// The Alby endpoint with this id (an endpoint made through the native API is not one).
async fn alby_endpoint(engine: &AppState, id: &str) -> Result<WebhookRecord, AlbyError> {
    let not_found = || ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no webhook endpoint {id}"),
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    match engine.webhook(id).await {
        Ok(w) if w.format == WebhookFormat::Alby => Ok(w),
        Ok(_) => Err(not_found().into()),
        Err(e) => Err(e.into()),
    }
}

/// One endpoint, without its secret.
#[utoipa::path(get, path = "/webhook_endpoints/{id}", tag = TAG, operation_id = "alby_get_webhook_endpoint",
    security(("bearer" = ["node:admin"])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = AlbyWebhookEndpoint),
        (status = 404, description = "No such Alby endpoint (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn get(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlbyWebhookEndpoint>, AlbyError> {
    Ok(Json(endpoint_json(&alby_endpoint(&engine, &id).await?)))
}

/// Deletes an endpoint (its pending deliveries are dropped); answers the deleted endpoint.
#[utoipa::path(delete, path = "/webhook_endpoints/{id}", tag = TAG, operation_id = "alby_delete_webhook_endpoint",
    security(("bearer" = ["node:admin"])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The deleted endpoint", body = AlbyWebhookEndpoint),
        (status = 404, description = "No such Alby endpoint (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn delete(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlbyWebhookEndpoint>, AlbyError> {
    let w = alby_endpoint(&engine, &id).await?;
    let deleted = engine.delete_webhook(w.id).await?;
    Ok(Json(endpoint_json(&deleted)))
}
