//! Core Lightning's `getinfo`.

use axum::body::Bytes;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::*;
use crate::AppState;

/// Core Lightning's address object.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnAddress {
    /// `ipv4`, `ipv6` or `dns`.
    #[serde(rename = "type")]
    kind: ClnAddressType,
    /// The IP address or host name.
    address: String,
    /// The port, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u16>)]
    port: Option<Option<u16>>,
}

/// The kind of a [`ClnAddress`].
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClnAddressType {
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A host name.
    Dns,
}

/// `host:port` as Core Lightning's address object.
fn address_json(a: &str) -> ClnAddress {
    match a.parse::<std::net::SocketAddr>() {
        Ok(std::net::SocketAddr::V4(s)) => ClnAddress {
            kind: ClnAddressType::Ipv4,
            address: s.ip().to_string(),
            port: Some(Some(s.port())),
        },
        Ok(std::net::SocketAddr::V6(s)) => ClnAddress {
            kind: ClnAddressType::Ipv6,
            address: s.ip().to_string(),
            port: Some(Some(s.port())),
        },
        Err(_) => match a.rsplit_once(':') {
            Some((host, port)) => ClnAddress {
                kind: ClnAddressType::Dns,
                address: host.to_string(),
                port: Some(port.parse::<u16>().ok()),
            },
            None => ClnAddress { kind: ClnAddressType::Dns, address: a.to_string(), port: None },
        },
    }
}

/// `getinfo` takes no parameters: an empty body or `{}`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClnNoParams {}

/// Core Lightning's `getinfo` result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnGetinfo {
    /// The node id.
    id: String,
    /// The node's alias.
    alias: String,
    /// The node's color (hex RGB).
    color: &'static str,
    /// Connected peers.
    num_peers: usize,
    /// Channels opening or awaiting confirmations.
    num_pending_channels: usize,
    /// Usable channels.
    num_active_channels: usize,
    /// Ready channels whose peer is away.
    num_inactive_channels: usize,
    /// Announced addresses.
    address: Vec<ClnAddress>,
    /// Where it listens for peers.
    binding: Vec<ClnAddress>,
    /// `boltd-<version>`.
    version: String,
    /// The height the node has processed.
    blockheight: u32,
    /// The network.
    network: String,
    /// The data directory.
    #[serde(rename = "lightning-dir")]
    lightning_dir: String,
    /// Forwarding fees earned: always 0, boltd does not record forwarding fees (the node only
    /// logs each forward's fee).
    fees_collected_msat: u64,
}

/// Core Lightning's `getinfo`. `fees_collected_msat` is always 0: boltd does not record
/// forwarding fees.
#[utoipa::path(post, path = "/v1/getinfo", tag = TAG, operation_id = "cln_getinfo",
    security(("bearer" = ["node:read"])),
    request_body(content = Option<ClnNoParams>, description = "No parameters: an empty body or `{}`"),
    responses(
        (status = 201, description = "The node", body = ClnGetinfo),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_getinfo(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnGetinfo>, ClnError> {
    Params::parse(&body, &[], &[])?;
    let node = engine.node();
    let info = node.info();
    let channels = node.list_channels();
    let count = |states: &[&str]| channels.iter().filter(|c| states.contains(&c.state)).count();
    let config = node.config();
    Ok(Created(ClnGetinfo {
        id: info.node_id,
        alias: config.alias.clone(),
        color: "000000",
        num_peers: info.num_peers,
        num_pending_channels: count(&["opening", "pending_confirmation"]),
        num_active_channels: count(&["ready"]),
        num_inactive_channels: count(&["offline"]),
        address: config.announce_addrs.iter().map(|a| address_json(a)).collect(),
        binding: vec![address_json(&info.p2p_addr)],
        version: format!("boltd-{}", env!("CARGO_PKG_VERSION")),
        blockheight: info.block_height,
        network: info.network,
        lightning_dir: config.data_dir.display().to_string(),
        // Not recorded by the node (it only logs `PaymentForwarded`'s fee): 0, as Core
        // Lightning's schema requires the member.
        fees_collected_msat: 0,
    }))
}
