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

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::offer::{OfferPayRequest, OfferRequest};
use boltd_engine::receive::InvoiceRequest as EngineInvoiceRequest;
use boltd_engine::{Engine, PayError, PayRequest, PayResult};
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use boltd_node::NodeError;
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
type AppState = Arc<Engine>;

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
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/ping", get(|| async { Json(json!({ "message": "pong" })) }))
        .route("/api/v1/node/info", get(node_info))
        .route("/api/v1/node/peers", get(list_peers))
        .route("/api/v1/node/peers/connect", post(connect_peer))
        .route("/api/v1/node/peers/disconnect", post(disconnect_peer))
        .route("/api/v1/node/channels", get(list_channels))
        .route("/api/v1/node/channels/open", post(open_channel))
        .route("/api/v1/node/channels/close", post(close_channel))
        .route("/api/v1/node/channels/config", post(channel_config))
        .route("/api/v1/node/graph/channels/{scid}", get(graph_channel))
        .route("/api/v1/bitcoin/tip", get(tip))
        .route("/api/v1/wallet/balance", get(balance))
        .route("/api/v1/onchain/addresses/next", post(next_address))
        .route("/api/v1/onchain/balance", get(onchain_balance))
        .route("/api/v1/onchain/send", post(onchain_send))
        .route("/api/v1/onchain/drain", post(onchain_drain))
        .route("/api/v1/onchain/utxos", get(utxos))
        .route("/api/v1/onchain/transactions", get(transactions))
        .route("/api/v1/lightning/receives/invoice", post(create_invoice))
        .route("/api/v1/lightning/receives", get(pending_receives))
        .route(
            "/api/v1/lightning/receives/{identifier}",
            get(receive_status).delete(cancel_receive),
        )
        .route("/api/v1/lightning/receives/settle", post(settle_hold))
        .route("/api/v1/lightning/pay", post(pay))
        .route("/api/v1/wallet/send", post(pay))
        .route("/api/v1/lightning/keysend", post(keysend))
        .route("/api/v1/lightning/keysend/multi", post(multi_keysend))
        .route("/api/v1/lightning/sends/{identifier}", get(send_status))
        .route("/v1/pay", post(cln_pay))
        .route("/api/v1/fees/lightning/pay", get(fee_quote))
        .route("/api/v1/history", get(history))
        .route("/.well-known/lnurlp/{name}", get(lnurlp_params))
        .route("/.well-known/lnurlp/{name}/callback", get(lnurlp_callback))
        .route("/api/v1/lightning/offers", post(create_offer))
        .route("/api/v1/lightning/offers/pay", post(pay_offer))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: "no such path".into(),
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(engine)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).with_graceful_shutdown(shutdown).await
}

/// Binds the API's listen address; an error names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for the API on {addr}: {e}"))
    })
}

async fn node_info(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.info())
}

async fn tip(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    Ok(Json(json!({ "tip_height": node.info().block_height })))
}

async fn list_peers(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_peers())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectRequest {
    node_id: String,
    address: String,
}

async fn connect_peer(State(engine): State<AppState>, Body(r): Body<ConnectRequest>) -> ApiResult {
    let node = engine.node();
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
    State(engine): State<AppState>,
    Body(r): Body<DisconnectRequest>,
) -> ApiResult {
    let node = engine.node();
    node.disconnect_peer(parse_pubkey(&r.node_id)?)?;
    Ok(Json(json!({ "message": "disconnected" })))
}

async fn list_channels(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
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

async fn open_channel(State(engine): State<AppState>, Body(r): Body<OpenRequest>) -> ApiResult {
    let node = engine.node();
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

async fn close_channel(State(engine): State<AppState>, Body(r): Body<CloseRequest>) -> ApiResult {
    let node = engine.node();
    node.close_channel(&r.channel_id, r.force)?;
    Ok(Json(json!({ "message": if r.force { "force-closing" } else { "closing" } })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelConfigRequest {
    fee_base_msat: Option<u32>,
    fee_ppm: Option<u32>,
    cltv_expiry_delta: Option<u16>,
}

async fn channel_config(
    State(engine): State<AppState>,
    Body(r): Body<ChannelConfigRequest>,
) -> ApiResult {
    let n = engine.node().update_forwarding(r.fee_base_msat, r.fee_ppm, r.cltv_expiry_delta)?;
    Ok(Json(json!({ "channels_updated": n })))
}

async fn graph_channel(State(engine): State<AppState>, Path(scid): Path<String>) -> ApiResult {
    let id = boltd_node::router::scid_from_str(&scid)
        .ok_or_else(|| ApiError::bad_request(format!("`{scid}` is not a short channel id")))?;
    let info = engine.node().graph_channel(id).ok_or_else(|| {
        ApiError::from(NodeError::NotFound(format!("channel {scid} in the graph")))
    })?;
    Ok(Json(info))
}

async fn balance(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.balances())
}

async fn onchain_balance(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
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

async fn next_address(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    Ok(Json(json!({ "address": node.new_address().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    destination: String,
    amount_sat: u64,
    fee_rate_sat_per_vb: Option<u64>,
}

async fn onchain_send(State(engine): State<AppState>, Body(r): Body<SendRequest>) -> ApiResult {
    let node = engine.node();
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

async fn onchain_drain(State(engine): State<AppState>, Body(r): Body<DrainRequest>) -> ApiResult {
    let node = engine.node();
    let txid = node.send_onchain(r.destination, None, r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

async fn utxos(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_utxos())
}

async fn transactions(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_transactions())
}

// ---- payments (engine) ----

/// The `Idempotency-Key` header, if any.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k =
                v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be ASCII"))?;
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::bad_request("Idempotency-Key must be 1 to 255 characters"));
            }
            Ok(Some(k.to_string()))
        }
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        let (status, code) = match &e {
            PayError::InvalidParams(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            PayError::IdempotencyConflict { .. } => (StatusCode::CONFLICT, "idempotency_conflict"),
            PayError::AlreadyPaid { .. } => (StatusCode::CONFLICT, "already_paid"),
            PayError::DestinationRejected { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "destination_rejected")
            }
            PayError::RouteNotFound { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "route_not_found"),
            PayError::InsufficientBalance { .. } => {
                (StatusCode::BAD_REQUEST, "insufficient_balance")
            }
            PayError::RouteTooExpensive { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "route_too_expensive")
            }
            PayError::InvoiceExpired { .. } => (StatusCode::BAD_REQUEST, "invoice_expired"),
            PayError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "payment_timeout"),
            PayError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            PayError::WrongState(_) => (StatusCode::CONFLICT, "wrong_state"),
            PayError::Other(_) => (StatusCode::UNPROCESSABLE_ENTITY, "payment_failed"),
        };
        Self { status, code, message: e.to_string() }
    }
}

fn pay_json(r: &PayResult) -> Value {
    let fee_msat = r.amount_sent_msat.saturating_sub(r.amount_msat);
    json!({
        "message": format!("payment {}", r.status),
        "id": r.id,
        "payment_hash": r.payment_hash,
        "status": r.status,
        "preimage": r.payment_preimage,
        "amount_sat": r.amount_msat / 1000,
        "fee_sat": fee_msat.div_ceil(1000),
        "fee_msat": fee_msat,
        "parts": r.parts,
        "destination": r.destination,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BarkPayRequest {
    destination: String,
    amount_sat: Option<u64>,
    comment: Option<String>,
}

async fn pay(
    State(engine): State<AppState>,
    headers: HeaderMap,
    Body(r): Body<BarkPayRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let amount_msat = r.amount_sat.map(|a| a.saturating_mul(1000));
    let res = engine.send(&r.destination, amount_msat, r.comment, key).await?;
    Ok(Json(pay_json(&res)))
}

async fn send_status(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult {
    to_json(engine.outgoing_payment(&id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BarkInvoiceRequest {
    amount_sat: Option<u64>,
    description: Option<String>,
    description_hash: Option<String>,
    expiry_secs: Option<u32>,
    /// Hold invoice: the payment hash whose preimage the caller keeps.
    payment_hash: Option<String>,
}

async fn create_invoice(
    State(engine): State<AppState>,
    headers: HeaderMap,
    Body(r): Body<BarkInvoiceRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let req = EngineInvoiceRequest {
        amount_msat: r.amount_sat.map(|a| a.saturating_mul(1000)),
        description: r.description,
        description_hash: r.description_hash,
        expiry_secs: r.expiry_secs,
        payment_hash: r.payment_hash,
    };
    let rec = engine.create_invoice(req, key).await?;
    to_json(rec)
}

async fn receive_status(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult {
    to_json(engine.receive(&id).await?)
}

async fn pending_receives(State(engine): State<AppState>) -> ApiResult {
    to_json(engine.pending_receives().await?)
}

async fn cancel_receive(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult {
    to_json(engine.cancel_receive(&id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleRequest {
    preimage: String,
}

async fn settle_hold(State(engine): State<AppState>, Body(r): Body<SettleRequest>) -> ApiResult {
    to_json(engine.settle_hold(&r.preimage).await?)
}

async fn keysend(
    State(engine): State<AppState>,
    headers: HeaderMap,
    Body(r): Body<KeysendRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let res = engine.keysend(r, key).await?;
    Ok(Json(pay_json(&res)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiKeysendRequest {
    keysends: Vec<KeysendRequest>,
}

async fn multi_keysend(
    State(engine): State<AppState>,
    Body(r): Body<MultiKeysendRequest>,
) -> ApiResult {
    let results = engine.multi_keysend(r.keysends).await;
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(p) => json!({ "keysend": pay_json(&p) }),
            Err(e) => {
                let api = ApiError::from(e);
                json!({ "error": { "code": api.code, "message": api.message } })
            }
        })
        .collect();
    Ok(Json(json!({ "keysends": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeeQuoteQuery {
    destination: String,
    amount_sat: Option<u64>,
}

/// barkd's fee quote: what paying `destination` would cost now (a route is computed; nothing
/// is sent).
async fn fee_quote(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<FeeQuoteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let quote =
        engine.quote_invoice(&q.destination, q.amount_sat.map(|a| a.saturating_mul(1000)))?;
    let mut v = serde_json::to_value(&quote).unwrap_or_default();
    v["fee_sat"] = json!(quote.fee_msat.div_ceil(1000));
    Ok(Json(v))
}

// ---- Core Lightning dialect ----

/// A Core Lightning error object: `{code, message, data}`.
struct ClnError(PayError);

impl IntoResponse for ClnError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            PayError::InvalidParams(_) | PayError::NotFound(_) => StatusCode::BAD_REQUEST,
            PayError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let body =
            json!({ "code": self.0.code(), "message": self.0.to_string(), "data": self.0.data() });
        (status, Json(body)).into_response()
    }
}

/// `amount_msat` as Core Lightning takes it: a number, or a string with a unit.
fn cln_amount(v: &Value) -> Result<Option<u64>, PayError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| PayError::InvalidParams("amount_msat must be a whole number".into())),
        Value::String(s) => {
            boltd_engine::amount::parse_msat(s).map(Some).map_err(PayError::InvalidParams)
        }
        _ => Err(PayError::InvalidParams("amount_msat must be a number or a string".into())),
    }
}

async fn cln_pay(
    State(engine): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ClnError> {
    let key =
        idempotency_key(&headers).map_err(|e| ClnError(PayError::InvalidParams(e.message)))?;
    let Json(mut v) = body.map_err(|e| ClnError(PayError::InvalidParams(e.body_text())))?;
    let amount = cln_amount(v.get("amount_msat").unwrap_or(&Value::Null)).map_err(ClnError)?;
    for k in ["maxfee", "exemptfee"] {
        if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
            let msat = cln_amount(x).map_err(ClnError)?;
            v[k] = json!(msat);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("amount_msat");
    }
    let mut req: PayRequest = serde_json::from_value(v)
        .map_err(|e| ClnError(PayError::InvalidParams(format!("invalid parameters: {e}"))))?;
    req.amount_msat = amount;
    let r = engine.pay(req, key, None).await.map_err(ClnError)?;
    serde_json::to_value(&r).map(Json).map_err(|e| ClnError(PayError::Other(e.to_string())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    direction: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Payments in both directions, newest first.
async fn history(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let direction = match q.direction.as_deref() {
        None => None,
        Some("incoming") => Some(boltd_store::Direction::Incoming),
        Some("outgoing") => Some(boltd_store::Direction::Outgoing),
        Some(d) => {
            return Err(ApiError::bad_request(format!("direction `{d}`: use incoming or outgoing")))
        }
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(boltd_store::PaymentStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("status `{s}`: use pending, complete or failed"))
        })?),
    };
    let filter = boltd_store::PaymentFilter {
        direction,
        status,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
        offset: q.offset,
        ..Default::default()
    };
    to_json(engine.list_payments(filter).await?)
}

// ---- BOLT12 offers ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOfferRequest {
    amount_sat: Option<u64>,
    amount_msat: Option<u64>,
    #[serde(default)]
    description: String,
    expiry_secs: Option<u64>,
}

/// Creates a BOLT12 offer (fixed amount, or any amount when none is given).
async fn create_offer(
    State(engine): State<AppState>,
    Body(r): Body<CreateOfferRequest>,
) -> ApiResult {
    let amount_msat = match (r.amount_sat, r.amount_msat) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give either amount_sat or amount_msat, not both"))
        }
        (Some(sat), None) => Some(sat.saturating_mul(1000)),
        (None, msat) => msat,
    };
    let req = OfferRequest { amount_msat, description: r.description, expiry_secs: r.expiry_secs };
    to_json(engine.create_offer(req).await?)
}

/// Pays a BOLT12 offer; honours the `Idempotency-Key` header.
async fn pay_offer(
    State(engine): State<AppState>,
    headers: HeaderMap,
    Body(r): Body<OfferPayRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let res = engine.pay_offer(r, key).await?;
    Ok(Json(pay_json(&res)))
}

// ---- LNURL-pay and Lightning addresses ----

/// An LNURL answer: the JSON body, or LUD-06's `{"status":"ERROR","reason":...}` with the
/// error's status; open to browser wallets (CORS).
fn lnurl_response(r: Result<Value, boltd_engine::lnurl::LnurlError>) -> Response {
    let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    match r {
        Ok(v) => (cors, Json(v)).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, cors, Json(e.body())).into_response()
        }
    }
}

fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok())
}

/// LUD-16 `GET /.well-known/lnurlp/{name}` (public): the pay parameters of a hosted name.
async fn lnurlp_params(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    lnurl_response(engine.lnurlp_params(&name, host_header(&headers)))
}

/// LUD-06 callback `GET /.well-known/lnurlp/{name}/callback?amount=<msat>[&comment=...]`
/// (public): an invoice committing to the name's metadata. Other query parameters are ignored.
async fn lnurlp_callback(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let q = match q {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => {
            let reason = e.body_text();
            return lnurl_response(Err(boltd_engine::lnurl::LnurlError { status: 400, reason }));
        }
    };
    let amount = q.get("amount").map(String::as_str);
    let comment = q.get("comment").map(String::as_str);
    lnurl_response(engine.lnurlp_callback(&name, host_header(&headers), amount, comment).await)
}
