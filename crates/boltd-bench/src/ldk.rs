//! Loading a [`Gossmap`] into LDK's [`NetworkGraph`] (boltd's [`Graph`]).
//!
//! Node `i` gets the key of the secret `sha256(i as u64, big-endian)`; channel `c` gets the
//! short channel id `(600 000 + c / 4096) x (c % 4096) x 0`. Channels are added with
//! [`NetworkGraph::add_channel_from_partial_announcement`] and their usable directions
//! ([`Direction::usable`](crate::gossmap::Direction::usable)) with
//! [`NetworkGraph::update_channel_unsigned`], timestamped now (LDK refuses updates older than two
//! weeks). Channels from a node to itself are left out.
//!
//! LDK routes over a channel only when **both** of its directions have an update
//! (`ChannelInfo::as_directed_to`). So a disabled direction gets an update with the disable bit
//! (LDK keeps it and never routes over it, and the other direction stays usable), as a real node
//! would have received it; a direction without a policy gets no update, as on a real node, which
//! makes LDK ignore the whole channel. [`ldk_usable`] says which directions LDK can route over.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use boltd_routing::logger::LdkLogger;
use boltd_routing::types::Graph;
use lightning::ln::msgs::UnsignedChannelUpdate;
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::types::features::ChannelFeatures;
use lightning_types::features::Bolt11InvoiceFeatures;
use sha2::{Digest, Sha256};

use crate::gossmap::Gossmap;

/// The payment engine's defaults (`boltd_engine::pay`), Core Lightning's `pay`: `maxfeepercent`.
pub const MAXFEEPERCENT: f64 = 0.5;
/// `exemptfee`, in msat.
pub const EXEMPTFEE_MSAT: u64 = 5_000;
/// `maxdelay`, in blocks.
pub const MAXDELAY_BLOCKS: u32 = 2016;
/// The final CLTV delta of the benchmark invoices.
pub const FINAL_CLTV: u32 = 18;

/// The features of a BOLT11 invoice that accepts multi-part payments.
pub fn mpp_features() -> Bolt11InvoiceFeatures {
    let mut f = Bolt11InvoiceFeatures::empty();
    f.set_variable_length_onion_required();
    f.set_payment_secret_required();
    f.set_basic_mpp_optional();
    f
}

/// The public key of node `index`: the secret key is `sha256(index as u64 big-endian)`
/// (re-hashed in the astronomically unlikely case it is not a valid key).
pub fn node_key(index: u32) -> PublicKey {
    let secp = Secp256k1::signing_only();
    let mut seed: [u8; 32] = Sha256::digest(u64::from(index).to_be_bytes()).into();
    loop {
        if let Ok(sk) = SecretKey::from_slice(&seed) {
            return PublicKey::from_secret_key(&secp, &sk);
        }
        seed = Sha256::digest(seed).into();
    }
}

/// The short channel id given to channel `channel`.
pub fn scid(channel: usize) -> u64 {
    let c = channel as u64;
    (600_000 + c / 4096) << 40 | (c % 4096) << 16
}

/// The channel given short channel id `scid` ([`scid`]'s inverse), `None` for other ids.
pub fn channel_of_scid(scid: u64) -> Option<usize> {
    let block = (scid >> 40).checked_sub(600_000)?;
    let index = (scid >> 16) & 0xffffff;
    if index >= 4096 || scid & 0xffff != 0 {
        return None;
    }
    usize::try_from(block.checked_mul(4096)?.checked_add(index)?).ok()
}

/// Whether LDK can route over direction `dir_index` (`channel*2 + direction`) once loaded: the
/// direction is usable, the channel is not a loop, and the other direction has an update
/// (usable or disabled).
pub fn ldk_usable(map: &Gossmap, dir_index: usize) -> bool {
    let other = &map.directions[dir_index ^ 1];
    map.directions[dir_index].usable()
        && (other.usable() || other.disabled)
        && map.source(dir_index) != map.target(dir_index)
}

/// A snapshot loaded into LDK.
pub struct Loaded {
    /// The graph.
    pub graph: Arc<Graph>,
    /// The key of each node index.
    pub keys: Vec<PublicKey>,
    /// Channels added.
    pub channels: usize,
    /// Directions given a channel update (usable or disabled).
    pub directions: usize,
    /// Channels or updates LDK refused (with the first error).
    pub refused: (usize, Option<String>),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Loads `map` into a fresh mainnet [`Graph`].
pub fn load(map: &Gossmap, logger: Arc<LdkLogger>) -> Loaded {
    let graph = Arc::new(NetworkGraph::new(Network::Bitcoin, logger));
    let keys: Vec<PublicKey> = (0..map.node_count as u32).map(node_key).collect();
    let ids: Vec<NodeId> = keys.iter().map(NodeId::from_pubkey).collect();
    let chain_hash = ChainHash::using_genesis_block(Network::Bitcoin);
    let timestamp = now();
    let (mut channels, mut directions, mut refused, mut first_error) = (0, 0, 0, None);
    let mut refuse = |e: String, first: &mut Option<String>| {
        refused += 1;
        first.get_or_insert(e);
    };
    for c in 0..map.channel_count() {
        let (a, b) = (map.node1[c] as usize, map.node2[c] as usize);
        if a == b {
            continue;
        }
        let (one, two) = if ids[a] < ids[b] { (ids[a], ids[b]) } else { (ids[b], ids[a]) };
        let scid = scid(c);
        let cap = map.capacity_sat[c];
        if let Err(e) = graph.add_channel_from_partial_announcement(
            scid,
            Some(cap),
            timestamp,
            ChannelFeatures::empty(),
            one,
            two,
        ) {
            refuse(e.err, &mut first_error);
            continue;
        }
        channels += 1;
        for d in 0..2 {
            let dir = &map.directions[2 * c + d];
            if !dir.usable() && !dir.disabled {
                continue;
            }
            let from = if d == 0 { ids[a] } else { ids[b] };
            let flags = u8::from(from != one);
            let update = UnsignedChannelUpdate {
                chain_hash,
                short_channel_id: scid,
                timestamp: timestamp as u32,
                message_flags: 1,
                channel_flags: flags | if dir.disabled { 2 } else { 0 },
                cltv_expiry_delta: u16::try_from(dir.cltv_delta).unwrap_or(u16::MAX),
                htlc_minimum_msat: dir.htlc_min_msat,
                htlc_maximum_msat: dir.htlc_max_msat.min(cap.saturating_mul(1000)),
                fee_base_msat: u32::try_from(dir.fee_base_msat).unwrap_or(u32::MAX),
                fee_proportional_millionths: u32::try_from(dir.fee_ppm).unwrap_or(u32::MAX),
                excess_data: Vec::new(),
            };
            match graph.update_channel_unsigned(&update) {
                Ok(()) => directions += 1,
                Err(e) => refuse(e.err, &mut first_error),
            }
        }
    }
    Loaded { graph, keys, channels, directions, refused: (refused, first_error) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossmap::{write_bigsize, HEADER};

    #[test]
    fn keys_and_scids_are_deterministic_and_distinct() {
        assert_eq!(node_key(7), node_key(7));
        assert_ne!(node_key(7), node_key(8));
        assert_eq!(scid(0), 600_000 << 40);
        assert_eq!(scid(4097), 600_001 << 40 | 1 << 16);
    }

    #[test]
    fn loads_usable_directions_only() {
        let mut s = HEADER.to_vec();
        // Channels 0-1 and 1-2; channel 0 direction 1 disabled; capacity 1 000 000 sat.
        for v in [2, 0, 1, 1, 2, 1, 4, 1, 1_000_000, 0, 0] {
            write_bigsize(&mut s, v);
        }
        // htlc_min, htlc_max (0: the capacity), base, ppm, cltv: template [0, v], and channel 1
        // direction 1 has all zero (no policy).
        for value in [1, 0, 1000, 100, 40] {
            for v in [2, 0, value, 1, 1, 1, 0] {
                write_bigsize(&mut s, v);
            }
        }
        let map = Gossmap::parse(&s).unwrap();
        let usable: Vec<bool> = (0..4).map(|d| ldk_usable(&map, d)).collect();
        assert_eq!(usable, vec![true, false, false, false]);
        let loaded = load(&map, Arc::new(LdkLogger));
        assert_eq!((loaded.channels, loaded.directions, loaded.refused.0), (2, 3, 0));
        let graph = loaded.graph.read_only();
        let flags = |from: usize, to: usize| {
            u8::from(
                NodeId::from_pubkey(&loaded.keys[from]) > NodeId::from_pubkey(&loaded.keys[to]),
            )
        };
        let chan = graph.channel(scid(0)).unwrap();
        let fwd = chan.get_directional_info(flags(0, 1)).unwrap();
        assert!(fwd.enabled);
        assert_eq!(fwd.htlc_maximum_msat, 1_000_000_000);
        assert_eq!(fwd.fees.proportional_millionths, 100);
        assert_eq!(fwd.cltv_expiry_delta, 40);
        assert!(!chan.get_directional_info(flags(1, 0)).unwrap().enabled);
        let chan = graph.channel(scid(1)).unwrap();
        assert!(chan.get_directional_info(flags(1, 2)).is_some());
        assert!(chan.get_directional_info(flags(2, 1)).is_none());
    }
}
