//! Node administration (peers, channels, graph), chain tip, balances and the on-chain wallet.
//! barkd's paths where barkd has the operation; what barkd lacks (it has no channels) lives
//! under `/api/v1/node/...`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_node::chain::OnchainFeeRates;
use boltd_node::node::{ChannelInfo, ClosedChannel, GraphChannel, NodeInfo, PeerInfo};
use boltd_node::seed_recovery::RecoveredFunds;
use boltd_node::wallet::{OnchainSent, SendRequest, Utxo, WalletTransaction};
use boltd_node::NodeError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::Ctx;
use crate::dialect::native::barkd::{IdempotencyKey, TAG as BARKD};
use crate::error::{parse_pubkey, ApiError, ApiResult, Body, ErrorBody};
use crate::AppState;

/// The OpenAPI tag of node administration.
pub(crate) const TAG: &str = "node";

/// A message saying what was done.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageResponse {
    /// What was done.
    message: &'static str,
}

/// The node: id, network, addresses, heights, counts.
#[utoipa::path(get, path = "/api/v1/node/info", tag = TAG, operation_id = "node_info",
    security(("bearer" = ["node:read"])),
    responses((status = 200, description = "The node", body = NodeInfo)))]
pub(crate) async fn node_info(State(engine): State<AppState>) -> ApiResult<NodeInfo> {
    Ok(Json(engine.node().info()))
}

/// barkd's `TipResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TipResponse {
    /// The height of the best block the node has processed.
    tip_height: u32,
}

/// The chain tip the node has processed.
#[utoipa::path(get, path = "/api/v1/bitcoin/tip", tag = BARKD, operation_id = "tip",
    security(("bearer" = ["node:read"])),
    responses((status = 200, description = "The tip's height", body = TipResponse)))]
pub(crate) async fn tip(State(engine): State<AppState>) -> ApiResult<TipResponse> {
    Ok(Json(TipResponse { tip_height: engine.node().info().block_height }))
}

/// Connected peers.
#[utoipa::path(get, path = "/api/v1/node/peers", tag = TAG, operation_id = "list_peers",
    security(("bearer" = ["node:read"])),
    responses((status = 200, description = "The connected peers", body = Vec<PeerInfo>)))]
pub(crate) async fn list_peers(State(engine): State<AppState>) -> ApiResult<Vec<PeerInfo>> {
    Ok(Json(engine.node().list_peers()))
}

/// A peer to connect to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The peer's node id (hex).
    pub node_id: String,
    /// Its P2P address, `host:port`.
    pub address: String,
}

/// A connected peer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectResponse {
    /// `connected`.
    message: &'static str,
    /// The peer's node id.
    node_id: String,
}

/// Connects to a peer (and keeps reconnecting to it while it has channels with us).
#[utoipa::path(post, path = "/api/v1/node/peers/connect", tag = TAG, operation_id = "connect_peer",
    security(("bearer" = ["node:admin"])),
    request_body = ConnectRequest,
    responses(
        (status = 200, description = "Connected", body = ConnectResponse),
        (status = 422, description = "The peer could not be reached or refused the connection", body = ErrorBody),
    ))]
pub(crate) async fn connect_peer(
    State(engine): State<AppState>,
    Body(r): Body<ConnectRequest>,
) -> ApiResult<ConnectResponse> {
    let node = engine.node();
    let id = parse_pubkey(&r.node_id)?;
    node.connect_peer(id, &r.address).await?;
    Ok(Json(ConnectResponse { message: "connected", node_id: r.node_id }))
}

/// A peer to disconnect from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    /// The peer's node id (hex).
    pub node_id: String,
}

/// Disconnects from a peer.
#[utoipa::path(post, path = "/api/v1/node/peers/disconnect", tag = TAG,
    operation_id = "disconnect_peer",
    security(("bearer" = ["node:admin"])),
    request_body = DisconnectRequest,
    responses(
        (status = 200, description = "Disconnected", body = MessageResponse),
        (status = 404, description = "Not a connected peer", body = ErrorBody),
    ))]
pub(crate) async fn disconnect_peer(
    State(engine): State<AppState>,
    Body(r): Body<DisconnectRequest>,
) -> ApiResult<MessageResponse> {
    let node = engine.node();
    node.disconnect_peer(parse_pubkey(&r.node_id)?)?;
    Ok(Json(MessageResponse { message: "disconnected" }))
}

/// The node's channels.
#[utoipa::path(get, path = "/api/v1/node/channels", tag = TAG, operation_id = "list_channels",
    security(("bearer" = ["node:read"])),
    responses((status = 200, description = "The channels", body = Vec<ChannelInfo>)))]
pub(crate) async fn list_channels(State(engine): State<AppState>) -> ApiResult<Vec<ChannelInfo>> {
    Ok(Json(engine.node().list_channels()))
}

/// The channels that closed, the most recently closed first: why (`close_kind`, LDK's
/// `reason`), when, our balance then, the closing transaction once confirmed, and what is still
/// on its way back to the wallet (`pending_claims`, `sweeps`; `settled` once nothing is left).
/// Kept across restarts.
#[utoipa::path(get, path = "/api/v1/node/channels/closed", tag = TAG,
    operation_id = "list_closed_channels",
    security(("bearer" = ["node:read"])),
    responses((status = 200, description = "The closed channels", body = Vec<ClosedChannel>)))]
pub(crate) async fn list_closed_channels(
    State(engine): State<AppState>,
) -> ApiResult<Vec<ClosedChannel>> {
    Ok(Json(engine.node().closed_channels().await?))
}

/// A channel to open.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// The peer's node id (hex).
    pub node_id: String,
    /// Its P2P address (`host:port`), when not connected yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Capacity, in sats.
    pub amount_sat: u64,
    /// Given to the peer at opening, in msat (default 0).
    #[serde(default)]
    pub push_msat: u64,
    /// Announce the channel (default true).
    #[serde(default = "yes")]
    pub public: bool,
}

fn yes() -> bool {
    true
}

/// An opening channel.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenChannelResponse {
    /// The channel id (hex).
    channel_id: String,
}

/// Opens a channel: the funding transaction is broadcast once the peer accepts.
#[utoipa::path(post, path = "/api/v1/node/channels/open", tag = TAG, operation_id = "open_channel",
    security(("bearer" = ["node:admin"])),
    request_body = OpenRequest,
    responses(
        (status = 200, description = "Opening", body = OpenChannelResponse),
        (status = 422, description = "The peer could not be reached or refused the channel", body = ErrorBody),
    ))]
pub(crate) async fn open_channel(
    State(engine): State<AppState>,
    Body(r): Body<OpenRequest>,
) -> ApiResult<OpenChannelResponse> {
    let node = engine.node();
    let id = parse_pubkey(&r.node_id)?;
    let channel_id =
        node.open_channel(id, r.address.as_deref(), r.amount_sat, r.push_msat, r.public).await?;
    Ok(Json(OpenChannelResponse { channel_id }))
}

/// A channel to close.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The channel id (hex).
    pub channel_id: String,
    /// Broadcast our commitment transaction instead of negotiating (default false).
    #[serde(default)]
    pub force: bool,
}

/// Closes a channel, cooperatively or by force.
#[utoipa::path(post, path = "/api/v1/node/channels/close", tag = TAG, operation_id = "close_channel",
    security(("bearer" = ["node:admin"])),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "`closing` or `force-closing`", body = MessageResponse),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 422, description = "The node refused to close it now", body = ErrorBody),
    ))]
pub(crate) async fn close_channel(
    State(engine): State<AppState>,
    Body(r): Body<CloseRequest>,
) -> ApiResult<MessageResponse> {
    let node = engine.node();
    node.close_channel(&r.channel_id, r.force).await?;
    Ok(Json(MessageResponse { message: if r.force { "force-closing" } else { "closing" } }))
}

/// Funds to take out of a channel without closing it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpliceOutRequest {
    /// The channel id (hex).
    pub channel_id: String,
    /// The amount to take out, in sat (the splice's fee comes from the channel on top).
    pub amount_sat: u64,
    /// Where to send it (default: a new address of the node's wallet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Splice-out: takes `amount_sat` out of a channel to an address in one on-chain transaction
/// that also re-funds the channel, which stays usable; its capacity shrinks once the splice
/// is locked (confirmed on both sides).
#[utoipa::path(post, path = "/api/v1/node/channels/splice-out", tag = TAG, operation_id = "splice_out",
    security(("bearer" = ["node:admin"])),
    request_body = SpliceOutRequest,
    responses(
        (status = 200, description = "Splicing", body = boltd_node::node::SpliceOut),
        (status = 400, description = "A bad amount or address, or more than the channel can send", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 422, description = "The node or the peer refused to splice now", body = ErrorBody),
    ))]
pub(crate) async fn splice_out(
    State(engine): State<AppState>,
    Body(r): Body<SpliceOutRequest>,
) -> ApiResult<boltd_node::node::SpliceOut> {
    let node = engine.node();
    Ok(Json(node.splice_out(&r.channel_id, r.amount_sat, r.address.as_deref()).await?))
}

/// Funds to add to a channel from the on-chain wallet.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpliceInRequest {
    /// The channel id (hex).
    pub channel_id: String,
    /// The amount to add, in sat (confirmed wallet coins pay it and the splice's fee).
    pub amount_sat: u64,
}

/// Splice-in: adds `amount_sat` from the wallet's confirmed coins to a channel in one on-chain
/// transaction that also re-funds the channel, which stays usable; its capacity grows once the
/// splice is locked. The anchor reserve stays on chain.
#[utoipa::path(post, path = "/api/v1/node/channels/splice-in", tag = TAG, operation_id = "splice_in",
    security(("bearer" = ["node:admin"])),
    request_body = SpliceInRequest,
    responses(
        (status = 200, description = "Splicing", body = boltd_node::node::SpliceIn),
        (status = 400, description = "A bad amount, or not enough confirmed coins beside the anchor reserve", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 422, description = "The node or the peer refused to splice now", body = ErrorBody),
    ))]
pub(crate) async fn splice_in(
    State(engine): State<AppState>,
    Body(r): Body<SpliceInRequest>,
) -> ApiResult<boltd_node::node::SpliceIn> {
    Ok(Json(engine.node().splice_in(&r.channel_id, r.amount_sat).await?))
}

/// New forwarding parameters for every channel (absent: unchanged).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelConfigRequest {
    /// Base fee, in msat.
    fee_base_msat: Option<u32>,
    /// Proportional fee, in millionths.
    fee_ppm: Option<u32>,
    /// CLTV expiry delta, in blocks.
    cltv_expiry_delta: Option<u16>,
}

/// How many channels took the new parameters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelConfigResponse {
    /// Channels updated.
    channels_updated: usize,
}

/// Sets the forwarding fees and CLTV delta of every channel.
#[utoipa::path(post, path = "/api/v1/node/channels/config", tag = TAG,
    operation_id = "channel_config",
    security(("bearer" = ["node:admin"])),
    request_body = ChannelConfigRequest,
    responses(
        (status = 200, description = "Updated", body = ChannelConfigResponse),
        (status = 422, description = "The node refused the parameters", body = ErrorBody),
    ))]
pub(crate) async fn channel_config(
    State(engine): State<AppState>,
    Body(r): Body<ChannelConfigRequest>,
) -> ApiResult<ChannelConfigResponse> {
    let n = engine.node().update_forwarding(r.fee_base_msat, r.fee_ppm, r.cltv_expiry_delta)?;
    Ok(Json(ChannelConfigResponse { channels_updated: n }))
}

/// A channel of the network graph.
#[utoipa::path(get, path = "/api/v1/node/graph/channels/{scid}", tag = TAG,
    operation_id = "graph_channel",
    security(("bearer" = ["node:read"])),
    params(("scid" = String, Path, description = "Short channel id, `BLOCKxTXxOUT`")),
    responses(
        (status = 200, description = "The channel and its two directions' policies", body = GraphChannel),
        (status = 400, description = "Not a short channel id", body = ErrorBody),
        (status = 404, description = "Not in the graph", body = ErrorBody),
    ))]
pub(crate) async fn graph_channel(
    State(engine): State<AppState>,
    Path(scid): Path<String>,
) -> ApiResult<GraphChannel> {
    let id = boltd_routing::policy::scid_from_str(&scid)
        .ok_or_else(|| ApiError::bad_request(format!("`{scid}` is not a short channel id")))?;
    let info = engine.node().graph_channel(id).ok_or_else(|| {
        ApiError::from(NodeError::NotFound(format!("channel {scid} in the graph")))
    })?;
    Ok(Json(info))
}

/// barkd's `OnchainBalance`, in sats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnchainBalance {
    /// Confirmed and spendable.
    pub confirmed_sat: u64,
    /// Unconfirmed outputs of our own transactions (change).
    pub trusted_pending_sat: u64,
    /// Unconfirmed outputs from others.
    pub untrusted_pending_sat: u64,
    /// Coinbase outputs not yet mature.
    pub immature_sat: u64,
    /// Confirmed plus trusted pending: what can be spent now.
    pub trusted_spendable_sat: u64,
    /// All of them.
    pub total_sat: u64,
}

/// The on-chain wallet's balance.
#[utoipa::path(get, path = "/api/v1/onchain/balance", tag = BARKD, operation_id = "onchain_balance",
    security(("bearer" = ["balance:read"])),
    responses((status = 200, description = "The balance", body = OnchainBalance)))]
pub(crate) async fn onchain_balance(State(engine): State<AppState>) -> ApiResult<OnchainBalance> {
    let b = engine.node().balances().onchain;
    Ok(Json(OnchainBalance {
        confirmed_sat: b.confirmed_sat,
        trusted_pending_sat: b.trusted_pending_sat,
        untrusted_pending_sat: b.untrusted_pending_sat,
        immature_sat: b.immature_sat,
        trusted_spendable_sat: b.confirmed_sat + b.trusted_pending_sat,
        total_sat: b.confirmed_sat
            + b.trusted_pending_sat
            + b.untrusted_pending_sat
            + b.immature_sat,
    }))
}

/// barkd's `Address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// A new address of the on-chain wallet.
    pub address: String,
}

/// A new on-chain receive address (persisted before it is returned).
#[utoipa::path(post, path = "/api/v1/onchain/addresses/next", tag = BARKD,
    operation_id = "onchain_address",
    security(("bearer" = ["invoices:create"])),
    responses((status = 200, description = "The address", body = Address)))]
pub(crate) async fn next_address(State(engine): State<AppState>) -> ApiResult<Address> {
    Ok(Json(Address { address: engine.node().new_address().await? }))
}

/// barkd's `OnchainSendRequest`, with a fee rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnchainSendRequest {
    /// A bitcoin address of the node's network.
    pub destination: String,
    /// The amount, in sats (positive, at most 21 million bitcoin).
    #[schema(minimum = 1, maximum = 2_100_000_000_000_000_u64)]
    pub amount_sat: u64,
    /// Fee rate in sat/vB (default: the node's estimate; at most 10000, bitcoind's default
    /// `-maxfeerate`).
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_rate_sat_per_vb: Option<u64>,
}

/// barkd's `Send`: the transaction, and what is known of its broadcast.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Send {
    /// Its id.
    txid: String,
    /// `broadcast`: bitcoind accepted it (200). `unknown`: bitcoind's answer did not arrive (a
    /// timeout, a transport error): it may have been accepted, and it stays the wallet's (202).
    /// Check `GET /api/v1/onchain/transactions`, or repeat the request with the same
    /// `Idempotency-Key` (it broadcasts the same transaction again); a new request would pay
    /// again.
    #[schema(value_type = String, pattern = "^(broadcast|unknown)$")]
    status: &'static str,
    /// Why the status is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// True when this answers a repeated request (same `Idempotency-Key`) with its first send.
    replayed: bool,
}

/// An on-chain send's answer: 200 when broadcast, 202 when bitcoind's answer is unknown.
fn sent(s: OnchainSent) -> Response {
    let unknown = s.state != boltd_store::onchain::OnchainSendState::Broadcast;
    let body = Send {
        txid: s.txid.to_string(),
        status: if unknown { "unknown" } else { "broadcast" },
        reason: s.reason,
        replayed: s.replayed,
    };
    let status = if unknown { StatusCode::ACCEPTED } else { StatusCode::OK };
    (status, Json(body)).into_response()
}

/// On-chain errors: a bad address or amount, or not enough funds.
const ONCHAIN_400: &str =
    "Not an address of this network, a bad amount or fee rate, or not enough funds";
/// The first answer to a key, or a different request under it.
const ONCHAIN_409: &str = "The Idempotency-Key was used for a different request";
/// bitcoind refused the transaction (or it left the mempool): nothing was spent.
const ONCHAIN_422: &str = "bitcoind refused the transaction, or it left the mempool unconfirmed";
/// The broadcast's outcome is unknown.
const ONCHAIN_202: &str = "Recorded; bitcoind's answer is unknown (see `status`)";

/// Sends on chain. With an `Idempotency-Key`, the same request returns the first send (a
/// transaction whose broadcast is unknown is broadcast again, never a new one) and a different
/// request is a 409; the key is recorded with the signed transaction before it is broadcast,
/// and survives restarts. (On-chain keys are separate from Lightning payments' keys.)
#[utoipa::path(post, path = "/api/v1/onchain/send", tag = BARKD, operation_id = "onchain_send",
    security(("bearer" = ["node:admin"])),
    params(IdempotencyKey),
    request_body = OnchainSendRequest,
    responses(
        (status = 200, description = "Broadcast", body = Send),
        (status = 202, description = ONCHAIN_202, body = Send),
        (status = 400, description = ONCHAIN_400, body = ErrorBody),
        (status = 409, description = ONCHAIN_409, body = ErrorBody),
        (status = 422, description = ONCHAIN_422, body = ErrorBody),
    ))]
pub(crate) async fn onchain_send(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<OnchainSendRequest>,
) -> Result<Response, ApiError> {
    if r.amount_sat == 0 {
        return Err(ApiError::bad_request("amount_sat must be positive"));
    }
    let req = SendRequest::Send {
        address: r.destination,
        amount_sat: r.amount_sat,
        fee_rate_sat_per_vb: r.fee_rate_sat_per_vb,
        confirmed_only: false,
    };
    Ok(sent(engine.node().send_onchain(req, ctx.idempotency_key).await?))
}

/// barkd's `OnchainDrainRequest`, with a fee rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnchainDrainRequest {
    /// A bitcoin address of the node's network.
    pub destination: String,
    /// Fee rate in sat/vB (default: the node's estimate; at most 10000, bitcoind's default
    /// `-maxfeerate`).
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_rate_sat_per_vb: Option<u64>,
}

/// Sends everything the on-chain wallet holds to one address (`Idempotency-Key` as for
/// `POST /api/v1/onchain/send`).
#[utoipa::path(post, path = "/api/v1/onchain/drain", tag = BARKD, operation_id = "onchain_drain",
    security(("bearer" = ["node:admin"])),
    params(IdempotencyKey),
    request_body = OnchainDrainRequest,
    responses(
        (status = 200, description = "Broadcast", body = Send),
        (status = 202, description = ONCHAIN_202, body = Send),
        (status = 400, description = ONCHAIN_400, body = ErrorBody),
        (status = 409, description = ONCHAIN_409, body = ErrorBody),
        (status = 422, description = ONCHAIN_422, body = ErrorBody),
    ))]
pub(crate) async fn onchain_drain(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<OnchainDrainRequest>,
) -> Result<Response, ApiError> {
    let req = SendRequest::Drain {
        address: r.destination,
        fee_rate_sat_per_vb: r.fee_rate_sat_per_vb,
        confirmed_only: false,
    };
    Ok(sent(engine.node().send_onchain(req, ctx.idempotency_key).await?))
}

/// barkd's `OnchainSendManyRequest`, with a fee rate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnchainSendManyRequest {
    /// barkd's format: `"address:amount_sat"` each (1 to 250).
    #[schema(min_items = 1, max_items = 250)]
    destinations: Vec<String>,
    /// barkd (Ark) batches sends unless `immediate`; boltd always sends at once.
    #[allow(dead_code)]
    immediate: Option<bool>,
    /// Fee rate in sat/vB (default: the node's estimate; at most 10000, bitcoind's default
    /// `-maxfeerate`).
    #[schema(minimum = 1, maximum = 10_000)]
    fee_rate_sat_per_vb: Option<u64>,
}

/// Most outputs one send-many transaction may have.
pub const MAX_SEND_MANY_OUTPUTS: usize = 250;

/// Parses barkd's `"address:amount_sat"`.
fn parse_destination(d: &str) -> Result<(String, u64), ApiError> {
    let (address, amount) = d.trim().rsplit_once(':').ok_or_else(|| {
        ApiError::bad_request(format!("destination `{d}` is not in the form address:amount_sat"))
    })?;
    let amount_sat: u64 = amount.trim().parse().map_err(|_| {
        ApiError::bad_request(format!("amount `{amount}` of `{address}` is not a number of sats"))
    })?;
    if amount_sat == 0 {
        return Err(ApiError::bad_request(format!("the amount for `{address}` must be positive")));
    }
    Ok((address.trim().to_string(), amount_sat))
}

/// One transaction paying every destination. Everything is checked before anything is signed
/// or broadcast (`Idempotency-Key` as for `POST /api/v1/onchain/send`).
#[utoipa::path(post, path = "/api/v1/onchain/send-many", tag = BARKD,
    operation_id = "onchain_send_many",
    security(("bearer" = ["node:admin"])),
    params(IdempotencyKey),
    request_body = OnchainSendManyRequest,
    responses(
        (status = 200, description = "Broadcast", body = Send),
        (status = 202, description = ONCHAIN_202, body = Send),
        (status = 400, description = ONCHAIN_400, body = ErrorBody),
        (status = 409, description = ONCHAIN_409, body = ErrorBody),
        (status = 422, description = ONCHAIN_422, body = ErrorBody),
    ))]
pub(crate) async fn onchain_send_many(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<OnchainSendManyRequest>,
) -> Result<Response, ApiError> {
    if r.destinations.is_empty() {
        return Err(ApiError::bad_request("destinations is empty"));
    }
    if r.destinations.len() > MAX_SEND_MANY_OUTPUTS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_SEND_MANY_OUTPUTS} destinations per transaction"
        )));
    }
    let recipients =
        r.destinations.iter().map(|d| parse_destination(d)).collect::<Result<Vec<_>, _>>()?;
    let req = SendRequest::SendMany { recipients, fee_rate_sat_per_vb: r.fee_rate_sat_per_vb };
    Ok(sent(engine.node().send_onchain(req, ctx.idempotency_key).await?))
}

/// A finished wallet sync round.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncResponse {
    /// `synced`.
    message: &'static str,
    /// The height the wallet has processed.
    wallet_height: u32,
}

/// One wallet sync round now; answers when it is done.
#[utoipa::path(post, path = "/api/v1/onchain/sync", tag = BARKD, operation_id = "onchain_sync",
    security(("bearer" = ["balance:read"])),
    responses(
        (status = 200, description = "Synced", body = SyncResponse),
        (status = 503, description = "bitcoind could not be reached", body = ErrorBody),
    ))]
pub(crate) async fn onchain_sync(State(engine): State<AppState>) -> ApiResult<SyncResponse> {
    let wallet_height = engine.node().sync_wallet().await?;
    Ok(Json(SyncResponse { message: "synced", wallet_height }))
}

/// barkd's wallet sync, for the node: a wallet sync round now (as `POST /api/v1/onchain/sync`;
/// Lightning needs no sync, the node follows the chain and its peers by itself).
#[utoipa::path(post, path = "/api/v1/wallet/sync", tag = BARKD, operation_id = "sync",
    security(("bearer" = ["balance:read"])),
    responses(
        (status = 200, description = "Synced", body = SyncResponse),
        (status = 503, description = "bitcoind could not be reached", body = ErrorBody),
    ))]
pub(crate) async fn wallet_sync(engine: State<AppState>) -> ApiResult<SyncResponse> {
    onchain_sync(engine).await
}

/// Fee rates for ~1, ~3 and ~6 blocks, in sat/vB.
#[utoipa::path(get, path = "/api/v1/fees/onchain", tag = BARKD, operation_id = "onchain_fee_rates",
    security(("bearer" = [])),
    responses((status = 200, description = "The fee rates", body = OnchainFeeRates)))]
pub(crate) async fn onchain_fee_rates(
    State(engine): State<AppState>,
) -> ApiResult<OnchainFeeRates> {
    Ok(Json(engine.node().onchain_fee_rates()))
}

/// barkd's `SignMessageRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignMessageRequest {
    /// The message.
    message: String,
    /// barkd signs with the key of an Ark address; boltd has only its node key: omit it (or
    /// give an empty string).
    address: Option<String>,
}

fn no_ark_address(address: &Option<String>) -> Result<(), ApiError> {
    match address.as_deref() {
        Some(a) if !a.is_empty() => Err(ApiError::bad_request(
            "boltd signs with its node key and has no Ark addresses: omit `address`",
        )),
        _ => Ok(()),
    }
}

/// barkd's `SignedMessage`, with the signing key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedMessage {
    /// zbase32, as LND's and Core Lightning's `signmessage`.
    signature: String,
    /// The node id that signed.
    pubkey: String,
}

/// Signs with the node key, in the zbase32 format of LND's and Core Lightning's
/// `signmessage` (not barkd's BIP-340 over an Ark key).
#[utoipa::path(post, path = "/api/v1/message/sign", tag = BARKD, operation_id = "sign_message",
    security(("bearer" = ["node:admin"])),
    request_body = SignMessageRequest,
    responses((status = 200, description = "The signature", body = SignedMessage)))]
pub(crate) async fn sign_message(
    State(engine): State<AppState>,
    Body(r): Body<SignMessageRequest>,
) -> ApiResult<SignedMessage> {
    no_ark_address(&r.address)?;
    let node = engine.node();
    let signature = node.sign_message(r.message.as_bytes())?;
    Ok(Json(SignedMessage { signature, pubkey: node.node_id().to_string() }))
}

/// barkd's `VerifyMessageRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyMessageRequest {
    /// The message.
    message: String,
    /// The signature (zbase32).
    signature: String,
    /// The expected signer (default: this node).
    pubkey: Option<String>,
    /// barkd's Ark address: omit it (or give an empty string).
    address: Option<String>,
}

/// barkd's `MessageVerification`, with the keys.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageVerification {
    /// Whether `signer` is the expected key.
    valid: bool,
    /// The expected signer.
    pubkey: String,
    /// The key that signed.
    signer: String,
}

/// Whether `signature` (zbase32) signs `message` by `pubkey` (default: this node); also
/// returns the key that signed. An undecodable signature is a 400.
#[utoipa::path(post, path = "/api/v1/message/verify", tag = BARKD, operation_id = "verify_message",
    security(("bearer" = [])),
    request_body = VerifyMessageRequest,
    responses((status = 200, description = "The verification", body = MessageVerification)))]
pub(crate) async fn verify_message(
    State(engine): State<AppState>,
    Body(r): Body<VerifyMessageRequest>,
) -> ApiResult<MessageVerification> {
    no_ark_address(&r.address)?;
    let expected = match &r.pubkey {
        Some(pk) => parse_pubkey(pk)?,
        None => engine.node().node_id(),
    };
    let signer = boltd_node::Node::recover_signer(r.message.as_bytes(), &r.signature)?;
    Ok(Json(MessageVerification {
        valid: signer == expected,
        pubkey: expected.to_string(),
        signer: signer.to_string(),
    }))
}

/// The on-chain wallet's unspent outputs.
#[utoipa::path(get, path = "/api/v1/onchain/utxos", tag = BARKD, operation_id = "onchain_utxos",
    security(("bearer" = ["balance:read"])),
    responses((status = 200, description = "The unspent outputs", body = Vec<Utxo>)))]
pub(crate) async fn utxos(State(engine): State<AppState>) -> ApiResult<Vec<Utxo>> {
    Ok(Json(engine.node().list_utxos()))
}

/// The on-chain wallet's transactions.
#[utoipa::path(get, path = "/api/v1/onchain/transactions", tag = BARKD,
    operation_id = "onchain_transactions",
    security(("bearer" = ["transactions:read"])),
    responses((status = 200, description = "The transactions", body = Vec<WalletTransaction>)))]
pub(crate) async fn transactions(
    State(engine): State<AppState>,
) -> ApiResult<Vec<WalletTransaction>> {
    Ok(Json(engine.node().list_transactions()))
}

/// An encrypted backup archive of the node: everything needed to restore it but its seed (the
/// channel manager and monitors as one write left them, the on-chain wallet, payment records,
/// invoices, API tokens, the event log), sealed with a key derived from the seed. Restore it
/// with `boltd restore --archive FILE --seed-file SEED`. An archive is the state when it was
/// taken: restored after further payments, its channels are behind their peers' and are closed
/// (by the peers, LDK never broadcasting the old state); keep the continuous backup
/// (`backup_dir`) for channels, archives for records and disaster recovery.
#[utoipa::path(post, path = "/api/v1/node/backup", tag = TAG, operation_id = "export_backup",
    security(("bearer" = ["node:admin"])),
    responses(
        (status = 200, description = "The archive", content_type = "application/octet-stream",
            body = Vec<u8>),
        (status = 500, description = "The snapshot could not be made", body = ErrorBody),
    ))]
pub(crate) async fn export_backup(State(engine): State<AppState>) -> Result<Response, ApiError> {
    let node = std::sync::Arc::clone(engine.node());
    let archive = tokio::task::spawn_blocking(move || node.export_backup())
        .await
        .map_err(ApiError::internal)??;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"boltd-backup.bin\""),
    ];
    Ok((headers, archive).into_response())
}

/// Channel funds from the seed alone: sweeps to the wallet what peers' force closes paid to the
/// keys boltd's seed derives for that (LDK's v2 remote-key derivation: our output of a peer's
/// commitment), found by a scan of bitcoind's UTXO set. For a node restored from its seed only,
/// once its peers have closed (connecting to a peer makes it close a channel this node no
/// longer knows). Answers what was found and the sweep.
#[utoipa::path(post, path = "/api/v1/node/recover-channel-funds", tag = TAG,
    operation_id = "recover_channel_funds",
    security(("bearer" = ["node:admin"])),
    responses(
        (status = 200, description = "What was found and swept", body = RecoveredFunds),
        (status = 400, description = "What was found is worth less than the sweep's fee \
            (`insufficient_funds`)", body = ErrorBody),
        (status = 422, description = "bitcoind refused the sweep (`transaction_rejected`: e.g. \
            the outputs are being swept already, by the node's own sweeper)", body = ErrorBody),
        (status = 503, description = "bitcoind could not be reached, or is scanning already",
            body = ErrorBody),
    ))]
pub(crate) async fn recover_channel_funds(
    State(engine): State<AppState>,
) -> ApiResult<RecoveredFunds> {
    Ok(Json(engine.node().recover_channel_funds().await?))
}
