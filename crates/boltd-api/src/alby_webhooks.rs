//! Alby's webhook endpoints (the Wallet API as `@getalby/sdk`'s `createWebhookEndpoint` and
//! `deleteWebhookEndpoint` call it): `POST /webhook_endpoints` with `{url, description,
//! filter_types}` answers `{id, url, description, filter_types, created_at, endpoint_secret}`;
//! `GET`/`DELETE /webhook_endpoints/{id}` answer the endpoint without its secret. Endpoints made
//! here deliver in Alby's format (Alby invoice objects, Svix signatures); see
//! `boltd_engine::webhook`. Errors are Alby's `{code, error: true, message}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::notify::rfc3339;
use boltd_store::{WebhookFormat, WebhookRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Body};
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
        let body = json!({ "code": code, "error": true, "message": self.0.message });
        (self.0.status, Json(body)).into_response()
    }
}

fn endpoint_json(w: &WebhookRecord) -> Value {
    json!({
        "id": w.id.to_string(),
        "url": w.url,
        "description": w.description,
        "filter_types": w.filter_types.clone().unwrap_or_default(),
        "created_at": rfc3339(w.created_at),
    })
}

#[derive(Deserialize)]
pub(crate) struct CreateEndpoint {
    url: String,
    description: Option<String>,
    #[serde(default)]
    filter_types: Vec<String>,
}

/// Creates an endpoint: 201 with `endpoint_secret` (`whsec_...`), shown this once.
pub(crate) async fn create(
    State(engine): State<AppState>,
    body: Result<Body<CreateEndpoint>, ApiError>,
) -> Result<(StatusCode, Json<Value>), AlbyError> {
    let Body(r) = body?;
    let created = engine.create_alby_webhook(r.url, r.description, r.filter_types).await?;
    let mut v = endpoint_json(&created.webhook);
    v["endpoint_secret"] = created.secret.into();
    Ok((StatusCode::CREATED, Json(v)))
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
pub(crate) async fn get(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AlbyError> {
    Ok(Json(endpoint_json(&alby_endpoint(&engine, &id).await?)))
}

/// Deletes an endpoint (its pending deliveries are dropped); answers the deleted endpoint.
pub(crate) async fn delete(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AlbyError> {
    let w = alby_endpoint(&engine, &id).await?;
    let deleted = engine.delete_webhook(w.id).await?;
    Ok(Json(endpoint_json(&deleted)))
}
