//! Notifications and webhooks, native dialect: barkd's long-poll (`/api/v1/notifications/wait`)
//! and WebSocket (`/api/v1/notifications/ws`, opened with a single-use ticket from
//! `/api/v1/notifications/ws/ticket`), extended with a cursor (`seq`), and webhook endpoints
//! (`/api/v1/webhooks`) with their deliveries.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use boltd_engine::auth::{AuthError, Caller};
use boltd_engine::notify::{parse_event_types, rfc3339, Since};
use boltd_engine::webhook::{CreatedWebhook, WebhookRequest};
use boltd_engine::Engine;
use boltd_store::{
    DeliveryRecord, DeliveryState, EventType, PaymentRecord, ReceiveRecord, WebhookRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::dialect::native::history::{notification, Movement};
use crate::error::{ApiError, ApiResult, Body, ErrorBody};
use crate::AppState;

/// The OpenAPI tag of notifications and webhooks.
pub(crate) const TAG: &str = "notifications";

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
    match names.as_slice() {
        [] => Ok(BARKD_EVENT_TYPES.to_vec()),
        [all] if all == ALL_EVENT_TYPES => Ok(EventType::ALL.to_vec()),
        _ if names.iter().any(|n| n == ALL_EVENT_TYPES) => Err(ApiError::bad_request(
            "types: `all` stands alone (every event type); otherwise name the types",
        )),
        _ => Ok(parse_event_types(&names)?),
    }
}

/// What a client that names no `types` gets: the events barkd has a `WalletNotification` for
/// (`movement-created`, `movement-updated`), so that barkd's clients, which parse every
/// notification as one, can read the stream. boltd's other events (invoices canceled or
/// expired, channels) come when asked for by name, or all of them with `types=all`.
const BARKD_EVENT_TYPES: [EventType; 3] =
    [EventType::PaymentReceived, EventType::PaymentSent, EventType::PaymentFailed];

/// The `types` value asking for every event type.
const ALL_EVENT_TYPES: &str = "all";

/// The long-poll's query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// A sequence number (boltd's cursor) or an RFC 3339 date-time (barkd's); absent: the
    /// whole log.
    since: Option<String>,
    /// How long to wait for an event, in seconds (default 30, at most 120).
    #[param(maximum = 120)]
    timeout_secs: Option<u64>,
    /// At most this many notifications (default 100).
    limit: Option<u32>,
    /// Comma-separated event types, or `all` (default: the payment events, which are barkd's
    /// `WalletNotification`s: `payment_received`, `payment_sent`, `payment_failed`).
    types: Option<String>,
}

/// A notification: one event of the log, with its subject as it was then (the same JSON in
/// the long-poll, the WebSocket and native webhooks). A payment event is also barkd's
/// `WalletNotification` (`type` and `movement`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Notification {
    /// The event's sequence number: the cursor.
    seq: u64,
    /// barkd's notification type for payment events: `movement-created` (a payment received)
    /// or `movement-updated` (an outgoing payment complete or failed); for the other events,
    /// boltd's event type (as `event_type`).
    #[schema(rename = "type")]
    kind: String,
    /// What happened (boltd's event type).
    event_type: EventType,
    /// When it was appended (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// The payment hash (hex), for payment and invoice events.
    payment_hash: Option<String>,
    /// The payment record (payment events).
    payment: Option<PaymentRecord>,
    /// The payment as barkd's `Movement` (payment events).
    movement: Option<Movement>,
    /// The receive, without its preimage (invoice events).
    receive: Option<ReceiveRecord>,
    /// The channel (channel events).
    channel: Option<ChannelEventInfo>,
}

/// The channel of a channel event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ChannelEventInfo {
    /// The channel id (hex).
    channel_id: String,
    /// The peer's node id.
    counterparty_node_id: Option<String>,
    /// The channel's capacity, in sats.
    capacity_sat: Option<u64>,
    /// The funding outpoint `txid:vout` (`channel_pending`).
    funding_txo: Option<String>,
    /// Why it closed (`channel_closed`).
    reason: Option<String>,
}

/// barkd's `WaitNotificationResponse`, with boltd's cursor.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WaitNotificationResponse {
    /// The notifications after `since`, oldest first (empty if the wait timed out).
    #[schema(value_type = Vec<Notification>)]
    notifications: Vec<Value>,
    /// When the last notification was appended (RFC 3339).
    #[schema(format = DateTime)]
    last_pushed_at: Option<String>,
    /// The `since` of the next call.
    cursor: u64,
}

/// Long-poll: the notifications after `since` (everything when absent), at once if there are
/// any, else as soon as one is appended, or an empty list after `timeout_secs`. The answer's
/// `cursor` is the `since` of the next call.
#[utoipa::path(get, path = "/api/v1/notifications/wait", tag = TAG, operation_id = "wait_notification",
    security(("bearer" = ["transactions:read"])),
    params(WaitQuery),
    responses((status = 200, description = "Notifications (or none, after the timeout)", body = WaitNotificationResponse)))]
pub(crate) async fn wait(
    State(engine): State<AppState>,
    caller: Option<Extension<Caller>>,
    q: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<WaitNotificationResponse> {
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
    // The wait ends early, refused, when the caller's token is revoked meanwhile.
    let token_id = caller.and_then(|Extension(c)| c.token_id);
    let page = tokio::select! {
        page = engine.wait_events(since, &types, limit, Duration::from_secs(timeout_secs)) => page?,
        _ = engine.token_ended(token_id) => return Err(AuthError::Invalid.into()),
    };
    let last_pushed_at = match (page.events.last(), since) {
        (Some(e), _) => Some(rfc3339(e.created_at)),
        (None, Since::Time(t)) => Some(rfc3339(t)),
        (None, Since::Seq(_)) => None,
    };
    let notifications: Vec<Value> = page.events.iter().map(notification).collect();
    Ok(Json(WaitNotificationResponse { notifications, last_pushed_at, cursor: page.cursor }))
}

/// A single-use ticket for the WebSocket, as a JSON string (what barkd answers, and what its
/// clients parse): valid for one connection, for a short while.
#[utoipa::path(get, path = "/api/v1/notifications/ws/ticket", tag = TAG, operation_id = "websocket_ticket",
    security(("bearer" = ["transactions:read"])),
    responses(
        (status = 200, description = "The ticket (a JSON string)", body = String, content_type = "application/json"),
        (status = 429, description = "Too many unused tickets", body = ErrorBody),
    ))]
pub(crate) async fn ws_ticket(
    State(engine): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Json<String>, ApiError> {
    // The ticket remembers its token: the stream it opens ends when the token is revoked.
    Ok(Json(engine.create_ws_ticket(caller.and_then(|Extension(c)| c.token_id))?))
}

/// The WebSocket's query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WsQuery {
    /// A ticket from `GET /api/v1/notifications/ws/ticket` (required).
    ticket: Option<String>,
    /// Replay from here first (a sequence number or an RFC 3339 date-time); absent: only new
    /// notifications.
    since: Option<String>,
    /// Comma-separated event types, or `all` (default: the payment events, which are barkd's
    /// `WalletNotification`s: `payment_received`, `payment_sent`, `payment_failed`).
    types: Option<String>,
}

/// The WebSocket: every notification after `since`, then live ones, one JSON text message
/// each (a [`Notification`]). Authenticated by a ticket (browsers cannot set headers on
/// WebSockets), checked before the upgrade: 401 if it is missing, unknown, used or expired.
#[utoipa::path(get, path = "/api/v1/notifications/ws", tag = TAG, operation_id = "websocket",
    security(()),
    params(WsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol: one JSON `Notification` per text message"),
        (status = 400, description = "Bad parameters, or not a WebSocket upgrade request", body = ErrorBody),
        (status = 401, description = "No ticket, or an unknown, used or expired one", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody),
    ))]
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
    let token_id = engine.redeem_ws_ticket(&ticket)?;
    let since = match since {
        Some(s) => s,
        None => Since::Seq(engine.last_event_seq().await?),
    };
    Ok(upgrade
        .on_upgrade(move |socket| stream(engine, socket, since, types, token_id))
        .into_response())
}

async fn stream(
    engine: std::sync::Arc<Engine>,
    mut socket: WebSocket,
    since: Since,
    types: Vec<EventType>,
    token_id: Option<String>,
) {
    let mut since = since;
    let mut stopping = engine.stopping();
    let revoked = engine.token_ended(token_id);
    tokio::pin!(revoked);
    loop {
        tokio::select! {
            _ = &mut revoked => {
                // 1008: policy violation (RFC 6455).
                let close = CloseFrame { code: 1008, reason: "the token was revoked".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
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
                    let text = notification(e).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// A native webhook endpoint to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    /// Where to POST deliveries (http or https).
    url: String,
    /// A description.
    description: Option<String>,
    /// Event types to deliver; absent or empty: all.
    #[serde(default)]
    #[schema(value_type = Vec<EventType>)]
    event_types: Vec<String>,
}

/// A new endpoint, with its signing secret (shown this once).
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhookResponse {
    #[serde(flatten)]
    webhook: WebhookRecord,
    /// The HMAC signing secret (`whsec_...`) of `X-Boltd-Signature`.
    secret: String,
}

impl From<CreatedWebhook> for CreatedWebhookResponse {
    fn from(c: CreatedWebhook) -> Self {
        CreatedWebhookResponse { webhook: c.webhook, secret: c.secret }
    }
}

/// Registers a native webhook endpoint: 201 with its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = TAG, operation_id = "create_webhook",
    security(("bearer" = ["node:admin"])),
    request_body = CreateWebhook,
    responses((status = 201, description = "Registered", body = CreatedWebhookResponse)))]
pub(crate) async fn create_webhook(
    State(engine): State<AppState>,
    Body(r): Body<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhookResponse>), ApiError> {
    let req = WebhookRequest { url: r.url, description: r.description, event_types: r.event_types };
    let created = engine.create_webhook(req).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Every endpoint (native and Alby's), without secrets.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = TAG, operation_id = "list_webhooks",
    security(("bearer" = ["node:admin"])),
    responses((status = 200, description = "The endpoints", body = Vec<WebhookRecord>)))]
pub(crate) async fn list_webhooks(State(engine): State<AppState>) -> ApiResult<Vec<WebhookRecord>> {
    Ok(Json(engine.webhooks().await?))
}

fn webhook_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("`{id}` is not a webhook id")))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = TAG, operation_id = "get_webhook",
    security(("bearer" = ["node:admin"])),
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookRecord),
        (status = 400, description = "Not an endpoint id", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ))]
pub(crate) async fn get_webhook(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<WebhookRecord> {
    Ok(Json(engine.webhook(webhook_id(&id)?).await?))
}

/// Deletes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = TAG, operation_id = "delete_webhook",
    security(("bearer" = ["node:admin"])),
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The deleted endpoint", body = WebhookRecord),
        (status = 400, description = "Not an endpoint id", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ))]
pub(crate) async fn delete_webhook(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<WebhookRecord> {
    Ok(Json(engine.delete_webhook(webhook_id(&id)?).await?))
}

/// The deliveries' query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryState>)]
    state: Option<String>,
    /// At most this many (default 100).
    limit: Option<u32>,
    /// Only deliveries with a smaller id (the last id of the previous page).
    before: Option<i64>,
}

/// An endpoint's deliveries, newest first, each with every attempt (`attempt_log`).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = TAG, operation_id = "webhook_deliveries",
    security(("bearer" = ["node:admin"])),
    params(("id" = i64, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries", body = Vec<DeliveryRecord>),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ))]
pub(crate) async fn deliveries(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ApiResult<Vec<DeliveryRecord>> {
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
    Ok(Json(list))
}
