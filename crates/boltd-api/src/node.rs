//! Node administration (peers, channels, graph), chain tip, balances and the on-chain wallet.
//! barkd's paths where barkd has the operation; what barkd lacks (it has no channels) lives
//! under `/api/v1/node/...`.

use axum::extract::{Path, State};
use axum::Json;
use boltd_node::NodeError;
use serde::Deserialize;
use serde_json::json;

use crate::error::{parse_pubkey, to_json, ApiError, ApiResult, Body};
use crate::AppState;

pub(crate) async fn node_info(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.info())
}

pub(crate) async fn tip(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    Ok(Json(json!({ "tip_height": node.info().block_height })))
}

pub(crate) async fn list_peers(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_peers())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectRequest {
    node_id: String,
    address: String,
}

pub(crate) async fn connect_peer(
    State(engine): State<AppState>,
    Body(r): Body<ConnectRequest>,
) -> ApiResult {
    let node = engine.node();
    let id = parse_pubkey(&r.node_id)?;
    node.connect_peer(id, &r.address).await?;
    Ok(Json(json!({ "message": "connected", "node_id": r.node_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisconnectRequest {
    node_id: String,
}

pub(crate) async fn disconnect_peer(
    State(engine): State<AppState>,
    Body(r): Body<DisconnectRequest>,
) -> ApiResult {
    let node = engine.node();
    node.disconnect_peer(parse_pubkey(&r.node_id)?)?;
    Ok(Json(json!({ "message": "disconnected" })))
}

pub(crate) async fn list_channels(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_channels())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenRequest {
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

pub(crate) async fn open_channel(
    State(engine): State<AppState>,
    Body(r): Body<OpenRequest>,
) -> ApiResult {
    let node = engine.node();
    let id = parse_pubkey(&r.node_id)?;
    let channel_id =
        node.open_channel(id, r.address.as_deref(), r.amount_sat, r.push_msat, r.public).await?;
    Ok(Json(json!({ "channel_id": channel_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseRequest {
    channel_id: String,
    #[serde(default)]
    force: bool,
}

pub(crate) async fn close_channel(
    State(engine): State<AppState>,
    Body(r): Body<CloseRequest>,
) -> ApiResult {
    let node = engine.node();
    node.close_channel(&r.channel_id, r.force)?;
    Ok(Json(json!({ "message": if r.force { "force-closing" } else { "closing" } })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelConfigRequest {
    fee_base_msat: Option<u32>,
    fee_ppm: Option<u32>,
    cltv_expiry_delta: Option<u16>,
}

pub(crate) async fn channel_config(
    State(engine): State<AppState>,
    Body(r): Body<ChannelConfigRequest>,
) -> ApiResult {
    let n = engine.node().update_forwarding(r.fee_base_msat, r.fee_ppm, r.cltv_expiry_delta)?;
    Ok(Json(json!({ "channels_updated": n })))
}

pub(crate) async fn graph_channel(
    State(engine): State<AppState>,
    Path(scid): Path<String>,
) -> ApiResult {
    let id = boltd_node::router::scid_from_str(&scid)
        .ok_or_else(|| ApiError::bad_request(format!("`{scid}` is not a short channel id")))?;
    let info = engine.node().graph_channel(id).ok_or_else(|| {
        ApiError::from(NodeError::NotFound(format!("channel {scid} in the graph")))
    })?;
    Ok(Json(info))
}

pub(crate) async fn onchain_balance(State(engine): State<AppState>) -> ApiResult {
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

pub(crate) async fn next_address(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    Ok(Json(json!({ "address": node.new_address().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendRequest {
    destination: String,
    amount_sat: u64,
    fee_rate_sat_per_vb: Option<u64>,
}

pub(crate) async fn onchain_send(
    State(engine): State<AppState>,
    Body(r): Body<SendRequest>,
) -> ApiResult {
    let node = engine.node();
    if r.amount_sat == 0 {
        return Err(ApiError::bad_request("amount_sat must be positive"));
    }
    let txid = node.send_onchain(r.destination, Some(r.amount_sat), r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrainRequest {
    destination: String,
    fee_rate_sat_per_vb: Option<u64>,
}

pub(crate) async fn onchain_drain(
    State(engine): State<AppState>,
    Body(r): Body<DrainRequest>,
) -> ApiResult {
    let node = engine.node();
    let txid = node.send_onchain(r.destination, None, r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendManyRequest {
    /// barkd's format: `"address:amount_sat"` each.
    destinations: Vec<String>,
    /// barkd (Ark) batches sends unless `immediate`; boltd always sends at once.
    #[allow(dead_code)]
    immediate: Option<bool>,
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

/// barkd's `POST /api/v1/onchain/send-many`: one transaction paying every destination.
/// Everything is checked before anything is signed or broadcast.
pub(crate) async fn onchain_send_many(
    State(engine): State<AppState>,
    Body(r): Body<SendManyRequest>,
) -> ApiResult {
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
    let txid = engine.node().send_onchain_many(recipients, r.fee_rate_sat_per_vb).await?;
    Ok(Json(json!({ "txid": txid })))
}

/// barkd's `POST /api/v1/onchain/sync`: one wallet sync round now; answers when it is done.
pub(crate) async fn onchain_sync(State(engine): State<AppState>) -> ApiResult {
    let height = engine.node().sync_wallet().await?;
    Ok(Json(json!({ "message": "synced", "wallet_height": height })))
}

/// barkd's `GET /api/v1/fees/onchain`: fee rates for ~1, ~3 and ~6 blocks, in sat/vB.
pub(crate) async fn onchain_fee_rates(State(engine): State<AppState>) -> ApiResult {
    to_json(engine.node().onchain_fee_rates())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignRequest {
    message: String,
    /// barkd signs with the key of an Ark address; boltd has only its node key.
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

/// `POST /api/v1/message/sign`: signs with the node key, in the zbase32 format of LND's and
/// Core Lightning's `signmessage` (not barkd's BIP-340 over an Ark key).
pub(crate) async fn sign_message(
    State(engine): State<AppState>,
    Body(r): Body<SignRequest>,
) -> ApiResult {
    no_ark_address(&r.address)?;
    let node = engine.node();
    let signature = node.sign_message(r.message.as_bytes())?;
    Ok(Json(json!({ "signature": signature, "pubkey": node.node_id().to_string() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    message: String,
    signature: String,
    /// The expected signer (default: this node).
    pubkey: Option<String>,
    address: Option<String>,
}

/// `POST /api/v1/message/verify`: whether `signature` (zbase32) signs `message` by `pubkey`
/// (default: this node); also returns the key that signed. An undecodable signature is a 400.
pub(crate) async fn verify_message(
    State(engine): State<AppState>,
    Body(r): Body<VerifyRequest>,
) -> ApiResult {
    no_ark_address(&r.address)?;
    let expected = match &r.pubkey {
        Some(pk) => parse_pubkey(pk)?,
        None => engine.node().node_id(),
    };
    let signer = boltd_node::Node::recover_signer(r.message.as_bytes(), &r.signature)?;
    Ok(Json(json!({
        "valid": signer == expected,
        "pubkey": expected.to_string(),
        "signer": signer.to_string(),
    })))
}

pub(crate) async fn utxos(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_utxos())
}

pub(crate) async fn transactions(State(engine): State<AppState>) -> ApiResult {
    let node = engine.node();
    to_json(node.list_transactions())
}
