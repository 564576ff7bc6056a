//! Core Lightning's wallet methods that payment apps (LNbits' `CLNRestWallet`) call:
//! `listfunds` (on-chain outputs and channels, in Core Lightning's shapes) and
//! `waitanyinvoice` (the next paid invoice after a `pay_index`).
//!
//! A paid invoice's `pay_index` is the sequence number of its `payment_received` event in
//! boltd's event log: unique and increasing in the order invoices were paid, as Core
//! Lightning's is (not dense: other events take numbers in between).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::receive::receive_label;
use boltd_store::ReceiveRecord;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{ClnError, Created, Params, TAG};
use crate::AppState;

/// Core Lightning's `listfunds` parameters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClnListFundsParams {
    /// Include spent outputs: boltd's wallet lists unspent ones only (`true` is refused).
    spent: Option<bool>,
}

/// Core Lightning's status of an on-chain output.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClnOutputStatus {
    /// In the mempool.
    Unconfirmed,
    /// In a block.
    Confirmed,
}

/// An unspent output of the on-chain wallet, in `listfunds`' shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnFundsOutput {
    /// The transaction id.
    txid: String,
    /// The output's index.
    output: u32,
    /// Its value.
    amount_msat: u64,
    /// Its scriptPubKey (hex).
    scriptpubkey: String,
    /// Its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// Confirmed or not.
    status: ClnOutputStatus,
    /// Always false: boltd reserves no outputs for transactions in flight.
    reserved: bool,
    /// The height of its block (confirmed outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    blockheight: Option<u32>,
}

/// Core Lightning's channel states, as `listfunds` shows a channel.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub(crate) enum ClnFundsChannelState {
    /// Negotiating the channel.
    OPENINGD,
    /// Funding transaction not yet deep enough.
    CHANNELD_AWAITING_LOCKIN,
    /// Ready (usable when `connected`).
    CHANNELD_NORMAL,
    /// Closing cooperatively.
    CHANNELD_SHUTTING_DOWN,
}

impl ClnFundsChannelState {
    /// Core Lightning's state of a channel in boltd's `state`.
    pub(crate) fn of(state: &str) -> Self {
        match state {
            "ready" | "offline" => ClnFundsChannelState::CHANNELD_NORMAL,
            "pending_confirmation" => ClnFundsChannelState::CHANNELD_AWAITING_LOCKIN,
            "closing" => ClnFundsChannelState::CHANNELD_SHUTTING_DOWN,
            _ => ClnFundsChannelState::OPENINGD,
        }
    }
}

/// A channel, in `listfunds`' shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnFundsChannel {
    /// The peer's node id.
    peer_id: String,
    /// What we can send in it now, in msat (our balance less the reserve the peer requires
    /// and what HTLCs in flight hold).
    our_amount_msat: u64,
    /// The channel's capacity.
    amount_msat: u64,
    /// The funding transaction (empty while opening).
    funding_txid: String,
    /// The funding output's index.
    funding_output: u32,
    /// Whether the peer is connected.
    connected: bool,
    /// Core Lightning's name for where the channel stands.
    state: ClnFundsChannelState,
    /// The channel id (hex).
    channel_id: String,
    /// The short channel id (`BLOCKxTXxOUT`), once confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    short_channel_id: Option<String>,
}

/// `listfunds`' result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnFunds {
    /// The on-chain wallet's unspent outputs.
    outputs: Vec<ClnFundsOutput>,
    /// The channels.
    channels: Vec<ClnFundsChannel>,
}

/// `txid:vout` split, or `None`.
fn outpoint(s: &str) -> Option<(String, u32)> {
    let (txid, vout) = s.rsplit_once(':')?;
    Some((txid.to_string(), vout.parse().ok()?))
}

/// Core Lightning's `listfunds`: the on-chain wallet's unspent outputs and the channels with
/// what we can send in each.
#[utoipa::path(post, path = "/v1/listfunds", tag = TAG, operation_id = "cln_listfunds",
    security(("bearer" = ["balance:read"])),
    request_body = ClnListFundsParams,
    responses(
        (status = 201, description = "Outputs and channels", body = ClnFunds),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_listfunds(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnFunds>, ClnError> {
    let p = Params::parse(&body, &["spent"], &[])?;
    if p.bool("spent")? {
        return Err(ClnError::invalid("spent outputs are not listed by boltd: give spent false"));
    }
    let node = engine.node();
    let outputs = node
        .list_utxos()
        .into_iter()
        .filter_map(|u| {
            let (txid, output) = outpoint(&u.outpoint)?;
            Some(ClnFundsOutput {
                txid,
                output,
                amount_msat: u.amount_sat.saturating_mul(1000),
                scriptpubkey: u.script_pubkey,
                address: u.address,
                status: if u.confirmation_height.is_some() {
                    ClnOutputStatus::Confirmed
                } else {
                    ClnOutputStatus::Unconfirmed
                },
                reserved: false,
                blockheight: u.confirmation_height,
            })
        })
        .collect();
    let peers: Vec<String> = node.list_peers().into_iter().map(|p| p.node_id).collect();
    let channels = node
        .list_channels()
        .into_iter()
        .map(|c| {
            let state = ClnFundsChannelState::of(c.state);
            let (funding_txid, funding_output) =
                c.funding_outpoint.as_deref().and_then(outpoint).unwrap_or_default();
            ClnFundsChannel {
                connected: peers.contains(&c.peer_node_id),
                peer_id: c.peer_node_id,
                our_amount_msat: c.outbound_msat,
                amount_msat: c.capacity_sat.saturating_mul(1000),
                funding_txid,
                funding_output,
                state,
                channel_id: c.channel_id,
                short_channel_id: c.short_channel_id,
            }
        })
        .collect();
    Ok(Created(ClnFunds { outputs, channels }))
}

/// Core Lightning's `waitanyinvoice` parameters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClnWaitAnyInvoiceParams {
    /// Skip invoices paid at or before this `pay_index` (0 or absent: none).
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    lastpay_index: Option<Value>,
    /// Wait at most this many seconds (absent: indefinitely); then error 904.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    timeout: Option<Value>,
}

/// A paid invoice, in `waitanyinvoice`'s shape (exactly Core Lightning's members).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnPaidInvoice {
    /// Its label; receives made without one (through another dialect) show their payment
    /// hash.
    label: String,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The payment hash (hex).
    payment_hash: String,
    /// Always `paid`.
    status: crate::dialect::cln::lists::ClnInvoiceStatus,
    /// When it expires (unix seconds).
    expires_at: u64,
    /// The amount requested (absent: any amount).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_msat: Option<u64>,
    /// The BOLT11 invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    bolt11: Option<String>,
    /// Its index in creation order.
    created_index: i64,
    /// Its index in payment order (the cursor for `lastpay_index`).
    pay_index: u64,
    /// What arrived.
    amount_received_msat: u64,
    /// When it was paid (unix seconds).
    paid_at: u64,
    /// The preimage (hex).
    payment_preimage: String,
}

/// The paid invoice of a `payment_received` event: its receive (none for a keysend).
fn paid_invoice(r: &ReceiveRecord, seq: u64, payment: &Value) -> Option<ClnPaidInvoice> {
    let hash = hex::encode(r.payment_hash);
    let preimage =
        r.preimage.map(hex::encode).or_else(|| payment["preimage"].as_str().map(String::from))?;
    Some(ClnPaidInvoice {
        label: receive_label(r).map_or_else(|| hash.clone(), String::from),
        description: r.description.clone(),
        payment_hash: hash,
        status: crate::dialect::cln::lists::ClnInvoiceStatus::Paid,
        expires_at: r.expires_at.unwrap_or_default(),
        amount_msat: r.amount_msat,
        bolt11: r.invoice.clone(),
        created_index: r.id,
        pay_index: seq,
        amount_received_msat: payment["amount_msat"].as_u64().or(r.received_msat)?,
        paid_at: payment["completed_at"].as_u64().or(r.finished_at).unwrap_or_default(),
        payment_preimage: preimage,
    })
}

/// Core Lightning's `waitanyinvoice`: the first invoice paid after `lastpay_index` (at once if
/// there is one), else waits for the next, at most `timeout` seconds (error 904 then).
#[utoipa::path(post, path = "/v1/waitanyinvoice", tag = TAG, operation_id = "cln_waitanyinvoice",
    security(("bearer" = ["invoices:read"])),
    request_body = ClnWaitAnyInvoiceParams,
    responses(
        (status = 201, description = "The paid invoice", body = ClnPaidInvoice),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "Timed out (904), or the node is stopping (-1)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_waitanyinvoice(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["lastpay_index", "timeout"], &[])?;
    let since = p.u64("lastpay_index")?.unwrap_or(0);
    let timeout = p.u64("timeout")?.map(|t| Duration::from_secs(t.min(86_400 * 365)));
    loop {
        let Some(paid) = engine.wait_any_paid_receive(since, timeout).await? else {
            // Core Lightning's `waitanyinvoice` timeout: error 904.
            let body = ClnErrorBody {
                code: 904,
                message: "Timed out while waiting for an invoice to be paid".into(),
                data: Some(Value::Null),
            };
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response());
        };
        if let Some(inv) = paid_invoice(&paid.receive, paid.seq, &paid.payment) {
            return Ok(Created(inv).into_response());
        }
    }
}
