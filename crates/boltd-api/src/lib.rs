//! boltd's HTTP API.
//!
//! Handlers are thin: parse, call one node method, map the error. Errors have two layers: the
//! node's [`NodeError`] and the API's [`ApiError`], with a stable machine `code`; the mapping
//! between them is one exhaustive match. Internal details are logged, not returned.
//!
//! Paths follow barkd's REST API (`/api/v1/...`) where barkd has the operation; node
//! administration that barkd lacks (peers, channels) lives under `/api/v1/node/...`.

#![deny(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use boltd_node::deps::lightning::types::payment::PaymentHash;
use boltd_node::payments::OutgoingStatus;
use boltd_node::{Node, NodeError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An API error: HTTP status, stable machine code, and a message safe to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let (status, code) = match &e {
            NodeError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            NodeError::InsufficientFunds { .. } => (StatusCode::BAD_REQUEST, "insufficient_funds"),
            NodeError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            NodeError::Connection(_) => (StatusCode::BAD_GATEWAY, "peer_unreachable"),
            NodeError::Lightning(_) => (StatusCode::UNPROCESSABLE_ENTITY, "lightning_refused"),
            NodeError::Chain(_) => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
            NodeError::Config(_)
            | NodeError::Store(_)
            | NodeError::UnreadableState { .. }
            | NodeError::Wallet(_)
            | NodeError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {e}");
            "internal error; see the daemon's log".to_string()
        } else {
            e.to_string()
        };
        Self { status, code, message }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        Self { status: r.status(), code: "bad_request", message: r.body_text() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;
type AppState = Arc<Node>;

/// A JSON body whose parse errors become [`ApiError`]s (400 with a message, never a 500).
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

fn to_json<T: serde::Serialize>(v: T) -> ApiResult {
    serde_json::to_value(v).map(Json).map_err(|e| {
        tracing::error!("serializing a response failed: {e}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error".into(),
        }
    })
}

fn parse_pubkey(s: &str) -> Result<PublicKey, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("`{s}` is not a node public key")))
}

/// The API's router over a running node.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/ping", get(|| async { Json(json!({ "message": "pong" })) }))
        .route("/api/v1/node/info", get(node_info))
        .route("/api/v1/node/peers", get(list_peers))
        .route("/api/v1/node/peers/connect", post(connect_peer))
        .route("/api/v1/node/peers/disconnect", post(disconnect_peer))
        .route("/api/v1/node/channels", get(list_channels))
        .route("/api/v1/node/channels/open", post(open_channel))
        .route("/api/v1/node/channels/close", post(close_channel))
        .route("/api/v1/bitcoin/tip", get(tip))
        .route("/api/v1/wallet/balance", get(balance))
        .route("/api/v1/onchain/addresses/next", post(next_address))
        .route("/api/v1/onchain/balance", get(onchain_balance))
        .route("/api/v1/onchain/send", post(onchain_send))
        .route("/api/v1/onchain/drain", post(onchain_drain))
        .route("/api/v1/onchain/utxos", get(utxos))
        .route("/api/v1/onchain/transactions", get(transactions))
        .route("/api/v1/lightning/receives/invoice", post(create_invoice))
        .route("/api/v1/lightning/receives/{identifier}", get(receive_status))
        .route("/api/v1/lightning/pay", post(pay))
        .route("/api/v1/lightning/sends/{identifier}", get(send_status))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: "no such path".into(),
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(node)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node)).with_graceful_shutdown(shutdown).await
}

/// Binds the API's listen address; an error names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for the API on {addr}: {e}"))
    })
}

async fn node_info(State(node): State<AppState>) -> ApiResult {
    to_json(node.info())
}

async fn tip(State(node): State<AppState>) -> ApiResult {
    Ok(Json(json!({ "tip_height": node.info().block_height })))
}

async fn list_peers(State(node): State<AppState>) -> ApiResult {
    to_json(node.list_peers())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectRequest {
    node_id: String,
    address: String,
}

async fn connect_peer(State(node): State<AppState>, Body(r): Body<ConnectRequest>) -> ApiResult {
    let id = parse_pubkey(&r.node_id)?;
    node.connect_peer(id, &r.address).await?;
    Ok(Json(json!({ "message": "connected", "node_id": r.node_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectRequest {
    node_id: String,
}

async fn disconnect_peer(
    State(node): State<AppState>,
    Body(r): Body<DisconnectRequest>,
) -> ApiResult {
    node.disconnect_peer(parse_pubkey(&r.node_id)?)?;
    Ok(Json(json!({ "message": "disconnected" })))
}

async fn list_channels(State(node): State<AppState>) -> ApiResult {
    to_json(node.list_channels())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    node_id: String,
    address: Option<String>,
    amount_sat: u64,
    #[serde(default)]
    push_msat: u64,
    #[serde(default = "yes")]
    public: bool,
}

fn yes() -> bool {
    true
}

async fn open_channel(State(node): State<AppState>, Body(r): Body<OpenRequest>) -> ApiResult {
    let id = parse_pubkey(&r.node_id)?;
    let channel_id =
        node.open_channel(id, r.address.as_deref(), r.amount_sat, r.push_msat, r.public).await?;
    Ok(Json(json!({ "channel_id": channel_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    channel_id: String,
    #[serde(default)]
    force: bool,
}

async fn close_channel(State(node): State<AppState>, Body(r): Body<CloseRequest>) -> ApiResult {
    node.close_channel(&r.channel_id, r.force)?;
    Ok(Json(json!({ "message": if r.force { "force-closing" } else { "closing" } })))
}

async fn balance(State(node): State<AppState>) -> ApiResult {
    to_json(node.balances())
}

async fn onchain_balance(State(node): State<AppState>) -> ApiResult {
    let b = node.balances().onchain;
    Ok(Json(json!({
        "confirmed_sat": b.confirmed_sat,
        "trusted_pending_sat": b.trusted_pending_sat,
        "untrusted_pending_sat": b.untrusted_pending_sat,
        "immature_sat": b.immature_sat,
        "trusted_spendable_sat": b.confirmed_sat + b.trusted_pending_sat,
        "total_sat": b.confirmed_sat + b.trusted_pending_sat + b.untrusted_pending_sat + b.immature_sat,
    })))
}

async fn next_address(State(node): State<AppState>) -> ApiResult {
    Ok(Json(json!({ "address": node.new_address().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    destination: String,
    amount_sat: u64,
    fee_rate_sat_per_vb: Option<u64>,
}

async fn onchain_send(State(node): State<AppState>, Body(r): Body<SendRequest>) -> ApiResult {
    if r.amount_sat == 0 {
        return Err(ApiError::bad_request("amount_sat must be positive"));
    }
    let txid = node.send_onchain(r.destination, Some(r.amount_sat), r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainRequest {
    destination: String,
    fee_rate_sat_per_vb: Option<u64>,
}

async fn onchain_drain(State(node): State<AppState>, Body(r): Body<DrainRequest>) -> ApiResult {
    let txid = node.send_onchain(r.destination, None, r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

async fn utxos(State(node): State<AppState>) -> ApiResult {
    to_json(node.list_utxos())
}

async fn transactions(State(node): State<AppState>) -> ApiResult {
    to_json(node.list_transactions())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceRequest {
    amount_sat: Option<u64>,
    description: Option<String>,
    expiry_secs: Option<u32>,
}

async fn create_invoice(State(node): State<AppState>, Body(r): Body<InvoiceRequest>) -> ApiResult {
    let amount_msat = r.amount_sat.map(|a| a.saturating_mul(1000));
    let inv = node.create_invoice(
        amount_msat,
        r.description.as_deref().unwrap_or(""),
        r.expiry_secs.unwrap_or(3600),
    )?;
    to_json(inv)
}

fn parse_hash(s: &str) -> Result<PaymentHash, ApiError> {
    let bytes = hex::decode(s).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes
        .map(PaymentHash)
        .ok_or_else(|| ApiError::bad_request(format!("`{s}` is not a payment hash")))
}

async fn receive_status(State(node): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let hash = parse_hash(&id)?;
    match node.received_payment(&hash) {
        Some(r) => Ok(Json(
            json!({ "payment_hash": id, "status": "complete", "amount_msat": r.amount_msat }),
        )),
        None => Ok(Json(json!({ "payment_hash": id, "status": "pending" }))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    destination: String,
    amount_sat: Option<u64>,
    comment: Option<String>,
    /// Seconds to wait for the final result before answering `pending`.
    wait_secs: Option<u64>,
}

fn status_json(hash: &str, status: Option<OutgoingStatus>) -> Value {
    match status {
        Some(OutgoingStatus::Complete { preimage, fee_msat }) => json!({
            "message": "payment complete", "payment_hash": hash, "status": "complete",
            "preimage": preimage, "fee_msat": fee_msat,
        }),
        Some(OutgoingStatus::Failed { reason }) => json!({
            "message": "payment failed", "payment_hash": hash, "status": "failed", "reason": reason,
        }),
        Some(OutgoingStatus::Pending) | None => {
            json!({ "message": "payment pending", "payment_hash": hash, "status": "pending" })
        }
    }
}

async fn pay(State(node): State<AppState>, Body(r): Body<PayRequest>) -> ApiResult {
    if r.comment.is_some() {
        return Err(ApiError::bad_request("comments are only supported for Lightning addresses"));
    }
    let amount_msat = r.amount_sat.map(|a| a.saturating_mul(1000));
    let hash = node.pay_invoice(&r.destination, amount_msat, Duration::from_secs(60))?;
    let wait = Duration::from_secs(r.wait_secs.unwrap_or(0).min(300));
    let status = node.wait_payment(hash, wait).await;
    Ok(Json(status_json(&hex::encode(hash.0), status)))
}

async fn send_status(State(node): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let hash = parse_hash(&id)?;
    let status = node.wait_payment(hash, Duration::ZERO).await;
    if status.is_none() {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no payment {id}"),
        });
    }
    Ok(Json(status_json(&id, status)))
}
