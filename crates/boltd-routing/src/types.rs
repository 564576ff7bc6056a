//! The concrete LDK graph and scorer the node routes over (the node re-exports them in its own
//! `types`).

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::channel_state::{ChannelCounterparty, ChannelDetails};
use lightning::ln::types::ChannelId;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::scoring::ProbabilisticScorer;
use lightning::types::features::InitFeatures;

use crate::logger::LdkLogger;

/// The network graph.
pub type Graph = NetworkGraph<Arc<LdkLogger>>;

/// The payment scorer.
pub type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<LdkLogger>>;

/// A usable, announced outbound channel `scid` of `capacity_sat` to `peer` as LDK's
/// `list_usable_channels` lists it, that can send `outbound_msat` now with HTLCs of at least
/// `min_msat`: a first hop for searches outside a running node (benchmarks, tests).
pub fn usable_channel(
    peer: PublicKey,
    scid: u64,
    capacity_sat: u64,
    outbound_msat: u64,
    min_msat: u64,
) -> ChannelDetails {
    let mut channel_id = [0u8; 32];
    channel_id[..8].copy_from_slice(&scid.to_be_bytes());
    ChannelDetails {
        channel_id: ChannelId(channel_id),
        counterparty: ChannelCounterparty {
            node_id: peer,
            features: InitFeatures::empty(),
            unspendable_punishment_reserve: 0,
            forwarding_info: None,
            outbound_htlc_minimum_msat: None,
            outbound_htlc_maximum_msat: None,
        },
        funding_txo: None,
        channel_type: None,
        short_channel_id: Some(scid),
        outbound_scid_alias: None,
        inbound_scid_alias: None,
        channel_value_satoshis: capacity_sat,
        unspendable_punishment_reserve: None,
        user_channel_id: 0,
        feerate_sat_per_1000_weight: None,
        outbound_capacity_msat: outbound_msat,
        next_outbound_htlc_limit_msat: outbound_msat,
        next_outbound_htlc_minimum_msat: min_msat,
        inbound_capacity_msat: 0,
        confirmations_required: None,
        confirmations: None,
        force_close_spend_delay: None,
        is_outbound: true,
        is_channel_ready: true,
        channel_shutdown_state: None,
        is_usable: true,
        is_announced: true,
        inbound_htlc_minimum_msat: None,
        inbound_htlc_maximum_msat: None,
        config: None,
        pending_inbound_htlcs: Vec::new(),
        pending_outbound_htlcs: Vec::new(),
        funding_redeem_script: None,
    }
}
