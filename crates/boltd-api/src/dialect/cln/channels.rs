//! Core Lightning's `listpeerchannels`: the node's channels in the members of Core Lightning's
//! schema, optionally only those with one peer (`id`), one `short_channel_id` or one
//! `channel_id`.

use axum::body::Bytes;
use axum::extract::State;
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use boltd_node::node::ChannelInfo;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dialect::cln::wallet::ClnFundsChannelState;
use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{ClnError, Created, Params, TAG};
use crate::AppState;

/// Core Lightning's `listpeerchannels` parameters (at most one).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnListPeerChannelsParams {
    /// Only the channels with this peer (node id, hex).
    id: Option<String>,
    /// Only the channel with this short channel id (`BLOCKxTXxOUT`).
    short_channel_id: Option<String>,
    /// Only the channel with this channel id (hex).
    channel_id: Option<String>,
}

/// Who opened a channel.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClnOpener {
    /// We did.
    Local,
    /// The peer did.
    Remote,
}

/// A channel in `listpeerchannels`' shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnPeerChannel {
    /// The peer's node id.
    peer_id: String,
    /// Whether the peer is connected.
    peer_connected: bool,
    /// Core Lightning's name for where the channel stands.
    state: ClnFundsChannelState,
    /// Who opened it.
    opener: ClnOpener,
    /// The channel type's feature names: boltd does not report them here (always empty).
    features: Vec<String>,
    /// Whether the channel is unannounced.
    private: bool,
    /// The channel id (hex).
    channel_id: String,
    /// The short channel id (`BLOCKxTXxOUT`), once confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    short_channel_id: Option<String>,
    /// Our direction in the channel's gossip (0 when our node id sorts first), with the short
    /// channel id.
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<u32>,
    /// The funding transaction, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    funding_txid: Option<String>,
    /// The funding output's index, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    funding_outnum: Option<u32>,
    /// The channel's capacity.
    total_msat: u64,
    /// What we can send in it now (our balance less the reserve and what HTLCs in flight
    /// hold).
    spendable_msat: u64,
    /// What we can receive in it now.
    receivable_msat: u64,
}

/// `listpeerchannels`' result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnPeerChannels {
    /// The channels.
    channels: Vec<ClnPeerChannel>,
}

fn peer_channel(c: ChannelInfo, ours: &str, connected: bool) -> ClnPeerChannel {
    let state = ClnFundsChannelState::of(c.state);
    let (funding_txid, funding_outnum) = match c.funding_outpoint.as_deref().and_then(|o| {
        let (txid, vout) = o.rsplit_once(':')?;
        Some((txid.to_string(), vout.parse().ok()?))
    }) {
        Some((t, v)) => (Some(t), Some(v)),
        None => (None, None),
    };
    // Hex of compressed keys sorts as their bytes do.
    let direction = c.short_channel_id.as_ref().map(|_| u32::from(ours > c.peer_node_id.as_str()));
    ClnPeerChannel {
        peer_connected: connected,
        peer_id: c.peer_node_id,
        state,
        opener: if c.outbound { ClnOpener::Local } else { ClnOpener::Remote },
        features: Vec::new(),
        private: !c.public,
        channel_id: c.channel_id,
        short_channel_id: c.short_channel_id,
        direction,
        funding_txid,
        funding_outnum,
        total_msat: c.capacity_sat.saturating_mul(1000),
        spendable_msat: c.outbound_msat,
        receivable_msat: c.inbound_msat,
    }
}

/// Core Lightning's `listpeerchannels`: every channel of the node, or only those with peer
/// `id`, or the one with `short_channel_id` or `channel_id` (give at most one).
#[utoipa::path(post, path = "/v1/listpeerchannels", tag = TAG,
    security(("bearer" = ["node:read"])),
    operation_id = "cln_listpeerchannels",
    request_body = ClnListPeerChannelsParams,
    responses(
        (status = 201, description = "The channels", body = ClnPeerChannels),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_listpeerchannels(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnPeerChannels>, ClnError> {
    let p = Params::parse(&body, &["id", "short_channel_id", "channel_id"], &[])?;
    let id = p.text("id")?;
    let scid = p.text("short_channel_id")?;
    let channel_id = p.text("channel_id")?;
    if [&id, &scid, &channel_id].iter().filter(|x| x.is_some()).count() > 1 {
        return Err(ClnError::invalid("give at most one of id, short_channel_id and channel_id"));
    }
    let id = id
        .map(|s| {
            s.parse::<PublicKey>()
                .map(|k| k.to_string())
                .map_err(|_| ClnError::invalid(format!("id: `{s}` is not a node id")))
        })
        .transpose()?;
    if let Some(c) = &channel_id {
        if c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClnError::invalid(format!("channel_id: `{c}` is not 32 bytes of hex")));
        }
    }
    let node = engine.node();
    let ours = node.node_id().to_string();
    let peers: Vec<String> = node.list_peers().into_iter().map(|p| p.node_id).collect();
    let channels = node
        .list_channels()
        .into_iter()
        .filter(|c| id.as_ref().is_none_or(|id| *id == c.peer_node_id))
        .filter(|c| scid.is_none() || c.short_channel_id == scid)
        .filter(|c| channel_id.as_ref().is_none_or(|want| want.eq_ignore_ascii_case(&c.channel_id)))
        .map(|c| {
            let connected = peers.contains(&c.peer_node_id);
            peer_channel(c, &ours, connected)
        })
        .collect();
    Ok(Created(ClnPeerChannels { channels }))
}
