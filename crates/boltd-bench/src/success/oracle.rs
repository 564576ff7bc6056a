//! The hidden liquidity of every channel ([`Oracle`]) and what the network answers an attempt.

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;
use boltd_routing::HopAmount;
use lightning::routing::gossip::NodeId;
use lightning::routing::router::Path;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use boltd_routing::types::usable_channel;
use lightning::ln::channel_state::ChannelDetails;

use crate::gossmap::Gossmap;
use crate::ldk::{channel_of_scid, ldk_usable, scid};

/// How the capacity of a channel is split between its two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// The balance of either end is uniform in `0..=capacity`.
    Uniform,
    /// "Depleted edges": 90 % of channels hold less than 10 % of their capacity on one end
    /// (uniform in 0..10 %, the end chosen at random), the other 10 % are uniform. Most liquidity
    /// sits at one end, as measured on the real network (bimodal liquidity, Pickhardt et al.).
    Depleted,
}

impl Distribution {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Depleted => "depleted",
        }
    }

    /// Parses [`Distribution::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "uniform" => Some(Self::Uniform),
            "depleted" => Some(Self::Depleted),
            _ => None,
        }
    }
}

/// The hidden balances: per channel of the [`Gossmap`] (channel `c` has short channel id
/// [`crate::ldk::scid`]`(c)`), what the end with the lesser node id can send (the rest of the
/// capacity is the other end's).
pub struct Oracle {
    capacity_msat: Vec<u64>,
    lesser_msat: Vec<u64>,
    /// The node ids of the map's nodes (to orient a hop).
    node_ids: Vec<NodeId>,
    /// Per node, its channels it can send over (LDK-routable directions): (channel, peer).
    own: HashMap<NodeId, Vec<(usize, u32)>>,
    /// The distribution the balances were drawn from.
    pub distribution: Distribution,
}

/// Why a part did not arrive: the index of the hop that lacked liquidity and its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartFailure {
    /// Index into the path's hops (0: out of the payer).
    pub hop: usize,
    /// The channel that lacked liquidity.
    pub scid: u64,
}

/// Held HTLCs of the payment in progress: (short channel id, direction 0) → msat.
pub type Locks = HashMap<(u64, bool), u64>;

impl Oracle {
    /// Draws the balances of every channel of `map` with `seed`; `keys` are the nodes' keys.
    pub fn new(map: &Gossmap, keys: &[PublicKey], distribution: Distribution, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let node_ids: Vec<NodeId> = keys.iter().map(NodeId::from_pubkey).collect();
        let mut capacity_msat = Vec::with_capacity(map.channel_count());
        let mut lesser_msat = Vec::with_capacity(map.channel_count());
        for c in 0..map.channel_count() {
            let cap = map.capacity_sat[c].saturating_mul(1000);
            let x: f64 = match distribution {
                Distribution::Uniform => rng.gen::<f64>(),
                Distribution::Depleted => {
                    if rng.gen::<f64>() < 0.9 {
                        let low = rng.gen::<f64>() * 0.1;
                        if rng.gen::<bool>() {
                            low
                        } else {
                            1.0 - low
                        }
                    } else {
                        rng.gen::<f64>()
                    }
                }
            };
            capacity_msat.push(cap);
            lesser_msat.push(((cap as f64) * x) as u64);
        }
        let own = own_channels(map, &node_ids);
        Self { capacity_msat, lesser_msat, node_ids, own, distribution }
    }

    /// An oracle with given balances: `lesser_msat[c]` is what the end of channel `c` with the
    /// lesser node id (of `keys`) can send, at most the capacity.
    pub fn from_split(map: &Gossmap, keys: &[PublicKey], lesser_msat: &[u64]) -> Self {
        let capacity_msat: Vec<u64> =
            map.capacity_sat.iter().map(|c| c.saturating_mul(1000)).collect();
        let lesser_msat =
            capacity_msat.iter().zip(lesser_msat).map(|(c, l)| (*l).min(*c)).collect();
        let node_ids: Vec<NodeId> = keys.iter().map(NodeId::from_pubkey).collect();
        let own = own_channels(map, &node_ids);
        Self { capacity_msat, lesser_msat, node_ids, own, distribution: Distribution::Uniform }
    }

    /// What the direction from `source` to `target` of channel `channel` can send (0 for a
    /// channel not between them).
    pub fn liquidity_msat(&self, channel: usize, source_lesser: bool) -> u64 {
        let (Some(cap), Some(l)) = (self.capacity_msat.get(channel), self.lesser_msat.get(channel))
        else {
            return 0;
        };
        if source_lesser {
            *l
        } else {
            cap - l
        }
    }

    /// The liquidity of the direction of map direction `dir_index` (`channel*2 + d`, from
    /// [`Gossmap::source`] to [`Gossmap::target`]).
    pub fn direction_liquidity_msat(&self, map: &Gossmap, dir_index: usize) -> u64 {
        let (s, t) = (map.source(dir_index) as usize, map.target(dir_index) as usize);
        match (self.node_ids.get(s), self.node_ids.get(t)) {
            (Some(a), Some(b)) => self.liquidity_msat(dir_index / 2, a < b),
            _ => 0,
        }
    }

    /// What the payer can send over its own channel `channel`: all of its capacity (see
    /// [`Oracle::send`]).
    pub fn own_capacity_msat(&self, channel: usize) -> u64 {
        self.capacity_msat.get(channel).copied().unwrap_or(0)
    }

    /// The payer's channels as its node lists them to its router (LDK's
    /// `list_usable_channels`, the `first_hops` of a search): each with all of its capacity
    /// (see [`Oracle::send`]) less what the payment's parts in `locks` hold on it.
    pub fn first_hops(&self, payer: &PublicKey, locks: &Locks) -> Vec<ChannelDetails> {
        let me = NodeId::from_pubkey(payer);
        let Some(own) = self.own.get(&me) else { return Vec::new() };
        own.iter()
            .filter_map(|&(c, peer)| {
                let peer_id = self.node_ids.get(peer as usize)?;
                let scid = scid(c);
                let held = locks.get(&(scid, me < *peer_id)).copied().unwrap_or(0);
                let free_msat = self.own_capacity_msat(c).saturating_sub(held);
                let capacity_sat = self.own_capacity_msat(c) / 1000;
                Some(usable_channel(peer_id.as_pubkey().ok()?, scid, capacity_sat, free_msat, 1))
            })
            .collect()
    }

    /// Sends one part over `path` from `payer`, on top of the HTLCs `locks` already holds: when
    /// every hop has the liquidity for what it forwards, the part arrives and its amounts are
    /// added to `locks` (held until the payment ends); otherwise the first hop that lacks it is
    /// returned and nothing is held. The payer's own channels hold their whole capacity on the
    /// payer's side (a node knows its balances: both routers get them as first hops,
    /// [`Oracle::first_hops`]).
    pub fn send(
        &self,
        payer: &PublicKey,
        path: &Path,
        locks: &mut Locks,
    ) -> Result<(), PartFailure> {
        let hops = HopAmount::of_path(payer, path);
        for (i, h) in hops.iter().enumerate() {
            let available = match channel_of_scid(h.scid) {
                Some(c) if i == 0 => self.own_capacity_msat(c),
                Some(c) => self.liquidity_msat(c, h.dir_key),
                None => 0,
            };
            let held = locks.get(&(h.scid, h.dir_key)).copied().unwrap_or(0);
            if available.saturating_sub(held) < h.amount_msat {
                return Err(PartFailure { hop: i, scid: h.scid });
            }
        }
        for h in &hops {
            *locks.entry((h.scid, h.dir_key)).or_insert(0) += h.amount_msat;
        }
        Ok(())
    }
}

/// Per node, the channels whose direction out of it LDK can route over: (channel, peer).
fn own_channels(map: &Gossmap, node_ids: &[NodeId]) -> HashMap<NodeId, Vec<(usize, u32)>> {
    let mut own: HashMap<NodeId, Vec<(usize, u32)>> = HashMap::new();
    for d in 0..map.directions.len() {
        if !ldk_usable(map, d) {
            continue;
        }
        if let Some(id) = node_ids.get(map.source(d) as usize) {
            own.entry(*id).or_default().push((d / 2, map.target(d)));
        }
    }
    own
}
