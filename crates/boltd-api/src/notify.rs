//! Notifications and webhooks, native dialect: barkd's long-poll (`/api/v1/notifications/wait`)
//! and WebSocket (`/api/v1/notifications/ws`, opened with a single-use ticket from
//! `/api/v1/notifications/ws/ticket`), extended with a cursor (`seq`), and webhook endpoints
//! (`/api/v1/webhooks`) with their deliveries.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::notify::{notification_json, parse_event_types, rfc3339, Since};
use boltd_engine::webhook::{CreatedWebhook, WebhookRequest};
use boltd_engine::Engine;
use boltd_store::{DeliveryState, EventType};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{to_json, ApiError, ApiResult, Body};
use crate::AppState;

/// Default long-poll wait.
const DEFAULT_WAIT_SECS: u64 = 30;
/// Longest long-poll wait.
const MAX_WAIT_SECS: u64 = 120;
/// Default number of notifications per answer (and per WebSocket read).
const DEFAULT_LIMIT: u32 = 100;
/// A WebSocket without events for this long gets a ping (keeps proxies from closing it).
const WS_PING_EVERY: Duration = Duration::from_secs(30);

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad_request(e.body_text()))
}

fn types_param(types: Option<&str>) -> Result<Vec<EventType>, ApiError> {
    let names: Vec<String> = types
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok(parse_event_types(&names)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// A sequence number (boltd's cursor) or an RFC 3339 date-time (barkd's).
    since: Option<String>,
    timeout_secs: Option<u64>,
    limit: Option<u32>,
    /// Comma-separated event types.
    types: Option<String>,
}

/// Long-poll: the notifications after `since` (everything when absent), at once if there are
/// any, else as soon as one is appended, or an empty list after `timeout_secs`. The answer's
/// `cursor` is the `since` of the next call.
pub(crate) async fn wait(
    State(engine): State<AppState>,
    q: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let since = match q.since.as_deref() {
        Some(s) => Since::parse(s)?,
        None => Since::Seq(0),
    };
    let timeout_secs = q.timeout_secs.unwrap_or(DEFAULT_WAIT_SECS);
    if timeout_secs > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "timeout_secs: at most {MAX_WAIT_SECS} seconds"
        )));
    }
    let types = types_param(q.types.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let page = engine.wait_events(since, &types, limit, Duration::from_secs(timeout_secs)).await?;
    let last_pushed_at = match (page.events.last(), since) {
        (Some(e), _) => Some(rfc3339(e.created_at)),
        (None, Since::Time(t)) => Some(rfc3339(t)),
        (None, Since::Seq(_)) => None,
    };
    let notifications: Vec<Value> = page.events.iter().map(notification_json).collect();
    Ok(Json(json!({
        "notifications": notifications,
        "last_pushed_at": last_pushed_at,
        "cursor": page.cursor,
    })))
}

/// A single-use ticket for the WebSocket, as text (barkd's shape).
pub(crate) async fn ws_ticket(State(engine): State<AppState>) -> Result<String, ApiError> {
    Ok(engine.create_ws_ticket()?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WsQuery {
    ticket: Option<String>,
    /// Replay from here first (a sequence number or an RFC 3339 date-time); absent: only new
    /// notifications.
    since: Option<String>,
    types: Option<String>,
}

/// The WebSocket: every notification after `since`, then live ones, one JSON text message
/// each. Authenticated by a ticket (browsers cannot set headers on WebSockets), checked before
/// the upgrade: 401 if it is missing, unknown, used or expired.
pub(crate) async fn ws(
    State(engine): State<AppState>,
    q: Result<Query<WsQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let since = q.since.as_deref().map(Since::parse).transpose()?;
    let types = types_param(q.types.as_deref())?;
    let upgrade = upgrade.map_err(|e| ApiError {
        status: e.status(),
        code: "bad_request",
        message: format!("expected a WebSocket upgrade: {}", e.body_text()),
    })?;
    let Some(ticket) = q.ticket else {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a ticket is required: GET /api/v1/notifications/ws/ticket".into(),
        });
    };
    engine.redeem_ws_ticket(&ticket)?;
    let since = match since {
        Some(s) => s,
        None => Since::Seq(engine.last_event_seq().await?),
    };
    Ok(upgrade.on_upgrade(move |socket| stream(engine, socket, since, types)).into_response())
}

async fn stream(
    engine: std::sync::Arc<Engine>,
    mut socket: WebSocket,
    since: Since,
    types: Vec<EventType>,
) {
    let mut since = since;
    let mut stopping = engine.stopping();
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            },
            _ = async { let _ = stopping.wait_for(|s| *s).await; } => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            page = engine.wait_events(since, &types, DEFAULT_LIMIT, WS_PING_EVERY) => {
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!("WebSocket notifications: {e}");
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                };
                since = Since::Seq(page.cursor);
                if page.events.is_empty() {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    continue;
                }
                for e in &page.events {
                    let text = notification_json(e).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    url: String,
    description: Option<String>,
    /// Event types to deliver; absent or empty: all.
    #[serde(default)]
    event_types: Vec<String>,
}

fn created_json(c: &CreatedWebhook) -> Value {
    let mut v = serde_json::to_value(&c.webhook).unwrap_or_default();
    v["secret"] = c.secret.clone().into();
    v
}

/// Registers a native webhook endpoint: 201 with its secret, shown this once.
pub(crate) async fn create_webhook(
    State(engine): State<AppState>,
    Body(r): Body<CreateWebhook>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = WebhookRequest { url: r.url, description: r.description, event_types: r.event_types };
    let created = engine.create_webhook(req).await?;
    Ok((StatusCode::CREATED, Json(created_json(&created))))
}

/// Every endpoint, without secrets.
pub(crate) async fn list_webhooks(State(engine): State<AppState>) -> ApiResult {
    to_json(engine.webhooks().await?)
}

fn webhook_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("`{id}` is not a webhook id")))
}

/// One endpoint.
pub(crate) async fn get_webhook(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.webhook(webhook_id(&id)?).await?)
}

/// Deletes an endpoint and its deliveries.
pub(crate) async fn delete_webhook(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.delete_webhook(webhook_id(&id)?).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveriesQuery {
    state: Option<String>,
    limit: Option<u32>,
    /// Only deliveries with a smaller id (the last id of the previous page).
    before: Option<i64>,
}

/// An endpoint's deliveries, newest first, each with every attempt (`attempt_log`).
pub(crate) async fn deliveries(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let state = q
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!("state `{s}`: use pending, delivered or failed"))
            })
        })
        .transpose()?;
    let list = engine
        .webhook_deliveries(webhook_id(&id)?, state, q.before, q.limit.unwrap_or(DEFAULT_LIMIT))
        .await?;
    to_json(list)
}
