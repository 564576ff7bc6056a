//! The compact routing view: LDK's public graph in flat arrays (see the
//! [module documentation](super)).
//!
//! Nodes are sorted by node id and referred to by their index (`u32`); channels are sorted by
//! short channel id. The routable channel directions are stored once, grouped by their **target**
//! node in compressed rows ([`GraphView::in_edges`]): the search walks from the payee back to the
//! payer, so it reads the directions *into* a node. A direction is routable exactly when LDK's
//! `get_route` would consider it: both directions of the channel have an update
//! (`ChannelInfo::as_directed_to`), the direction is enabled, and neither the channel's nor the
//! target node's features require unknown bits.
//!
//! Besides what the search reads, the view keeps what building an LDK [`Route`] and its shadow
//! CLTV offset needs: the interned node and channel features, each node's channels in LDK's
//! order (`NodeInfo::channels`), and per channel the CLTV delta of each direction, disabled ones
//! included.
//!
//! [`Route`]: lightning::routing::router::Route

use lightning::routing::gossip::{NodeId, ReadOnlyNetworkGraph};
use lightning::types::features::{ChannelFeatures, NodeFeatures};

/// "No such index".
pub const NONE: u32 = u32::MAX;

/// [`Edge::flags`]: the channel's capacity is known (LDK's `EffectiveCapacity::Total`);
/// otherwise only its `htlc_maximum_msat` is (`EffectiveCapacity::AdvertisedMaxHTLC`).
pub const EDGE_CAPACITY_KNOWN: u16 = 1;
/// [`Edge::flags`]: the direction goes from `node_two` to `node_one` (BOLT 7 direction 1).
pub const EDGE_DIRECTION_1: u16 = 2;

/// Channel flags: `one_to_two` has an update.
const CHAN_ONE_TO_TWO: u8 = 1;
/// Channel flags: `two_to_one` has an update.
const CHAN_TWO_TO_ONE: u8 = 2;

/// One routable channel direction, as the search reads it (48 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Edge {
    /// The node that forwards over this direction (index into the nodes).
    pub source: u32,
    /// `fee_base_msat` of the direction.
    pub fee_base_msat: u32,
    /// `fee_proportional_millionths` of the direction.
    pub fee_ppm: u32,
    /// `htlc_minimum_msat` of the direction.
    pub htlc_min_msat: u64,
    /// `htlc_maximum_msat`, capped at the capacity when it is known (LDK's effective capacity).
    pub htlc_max_msat: u64,
    /// The capacity when known, else `htlc_maximum_msat` (LDK's `EffectiveCapacity::as_msat`).
    pub capacity_msat: u64,
    /// `cltv_expiry_delta` of the direction.
    pub cltv_delta: u16,
    /// [`EDGE_CAPACITY_KNOWN`], [`EDGE_DIRECTION_1`].
    pub flags: u16,
    /// The channel's short channel id (kept here rather than its index: the search reads it
    /// for every hop it prices, the channel's other data only for the hops of the route).
    pub scid: u64,
}

impl Edge {
    /// What one path may send over this direction with LDK's
    /// `max_channel_saturation_power_of_half` = `saturation`: the capacity halved `saturation`
    /// times, at most `htlc_maximum_msat` (LDK's `max_htlc_from_capacity`).
    #[inline]
    pub fn max_msat(&self, saturation: u8) -> u64 {
        self.total_msat(saturation).min(self.htlc_max_msat)
    }

    /// What all the parts of a route together may send over this direction with saturation
    /// `saturation`: the capacity halved `saturation` times when it is known, else
    /// `htlc_maximum_msat` halved (LDK's effective capacity). `htlc_maximum_msat` bounds each
    /// part (one HTLC), not their sum: several parts of a payment may cross a channel, each at
    /// most its `htlc_maximum_msat`.
    #[inline]
    pub fn total_msat(&self, saturation: u8) -> u64 {
        if self.flags & EDGE_CAPACITY_KNOWN != 0 {
            self.capacity_msat.checked_shr(u32::from(saturation)).unwrap_or(0)
        } else {
            self.htlc_max_msat.checked_shr(u32::from(saturation)).unwrap_or(0)
        }
    }

    /// BOLT 7 direction of this edge: 0 from `node_one`, 1 from `node_two`.
    #[inline]
    pub fn direction(&self) -> u8 {
        u8::from(self.flags & EDGE_DIRECTION_1 != 0)
    }
}

/// The compact view of the public graph (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphView {
    /// The graph generation this view was built from ([`super::RoutingEngine`] counts changes).
    pub(crate) generation: u64,
    /// Node ids, sorted.
    pub(crate) node_ids: Vec<[u8; 33]>,
    /// Per node, index into `node_feature_sets`.
    pub(crate) node_features: Vec<u16>,
    /// Distinct node feature sets; 0 is LDK's default for nodes without an announcement.
    pub(crate) node_feature_sets: Vec<NodeFeatures>,
    /// Per node, the start of its in-edges in `edges` (`node_count + 1` entries).
    pub(crate) in_start: Vec<u32>,
    /// Routable directions grouped by target.
    pub(crate) edges: Vec<Edge>,
    /// Short channel ids, sorted.
    pub(crate) chan_scids: Vec<u64>,
    /// Per channel, (`node_one`, `node_two`).
    pub(crate) chan_nodes: Vec<[u32; 2]>,
    /// Per channel, the CLTV delta of each direction (0 when the direction has no update).
    pub(crate) chan_cltv: Vec<[u16; 2]>,
    /// Per channel, which directions have an update.
    pub(crate) chan_flags: Vec<u8>,
    /// Per channel, index into `chan_feature_sets`.
    pub(crate) chan_features: Vec<u16>,
    /// Distinct channel feature sets.
    pub(crate) chan_feature_sets: Vec<ChannelFeatures>,
    /// Per channel, the index of each direction in `edges`, or [`NONE`] when not routable.
    pub(crate) chan_edges: Vec<[u32; 2]>,
    /// Per node, the start of its channels in `node_chans` (`node_count + 1` entries).
    pub(crate) node_chan_start: Vec<u32>,
    /// Each node's channels (indices), in LDK's order.
    pub(crate) node_chans: Vec<u32>,
    /// Derived (not persisted): per node, the start of its routable out-directions in
    /// `out_targets` (`node_count + 1` entries).
    pub(crate) out_start: Vec<u32>,
    /// Derived: the targets of the routable directions, grouped by source.
    pub(crate) out_targets: Vec<u32>,
}

/// The routable directions grouped by source: (row starts, targets).
fn out_index(in_start: &[u32], edges: &[Edge]) -> (Vec<u32>, Vec<u32>) {
    let n = in_start.len().saturating_sub(1);
    let mut start = vec![0u32; n + 1];
    for e in edges {
        start[e.source as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut targets = vec![0u32; edges.len()];
    for t in 0..n {
        for e in &edges[in_start[t] as usize..in_start[t + 1] as usize] {
            targets[fill[e.source as usize] as usize] = t as u32;
            fill[e.source as usize] += 1;
        }
    }
    (start, targets)
}

/// LDK's features for a node without an announcement (`default_node_features` in its router).
pub fn default_node_features() -> NodeFeatures {
    let mut features = NodeFeatures::empty();
    features.set_variable_length_onion_optional();
    features
}

struct Interner<F> {
    sets: Vec<F>,
    index: std::collections::HashMap<Vec<u8>, u16>,
}

impl<F: Clone> Interner<F> {
    fn new(first: Option<(F, Vec<u8>)>) -> Self {
        let mut i = Self { sets: Vec::new(), index: std::collections::HashMap::new() };
        if let Some((f, bytes)) = first {
            i.index.insert(bytes, 0);
            i.sets.push(f);
        }
        i
    }

    fn get(&mut self, f: &F, bytes: &[u8]) -> u16 {
        if let Some(&i) = self.index.get(bytes) {
            return i;
        }
        // More than 65 535 distinct feature sets would be absurd; fold the rest onto the last.
        let i = u16::try_from(self.sets.len()).unwrap_or(u16::MAX);
        if usize::from(i) == self.sets.len() {
            self.sets.push(f.clone());
            self.index.insert(bytes.to_vec(), i);
        }
        i
    }
}

impl GraphView {
    /// An empty view (nothing is routable).
    pub fn empty() -> Self {
        Self::from_parts(Vec::new(), Vec::new(), 0)
    }

    /// Builds the view of LDK's graph. `generation` is recorded in the view.
    pub fn from_graph(graph: &ReadOnlyNetworkGraph<'_>, generation: u64) -> Self {
        let nodes: Vec<(NodeId, &lightning::routing::gossip::NodeInfo)> =
            graph.nodes().unordered_iter().map(|(id, info)| (*id, info)).collect();
        let channels: Vec<(u64, &lightning::routing::gossip::ChannelInfo)> =
            graph.channels().unordered_iter().map(|(scid, info)| (*scid, info)).collect();
        let node_input: Vec<NodeInput> = nodes
            .iter()
            .map(|(id, info)| NodeInput {
                id: *id,
                features: info.announcement_info.as_ref().map(|a| a.features().clone()),
                channels: info.channels.clone(),
            })
            .collect();
        let chan_input: Vec<ChannelInput> = channels
            .iter()
            .map(|(scid, c)| ChannelInput {
                scid: *scid,
                node_one: c.node_one,
                node_two: c.node_two,
                features: c.features.clone(),
                capacity_sats: c.capacity_sats,
                directions: [
                    c.one_to_two.as_ref().map(|u| DirectionInput {
                        enabled: u.enabled,
                        cltv_delta: u.cltv_expiry_delta,
                        htlc_min_msat: u.htlc_minimum_msat,
                        htlc_max_msat: u.htlc_maximum_msat,
                        fee_base_msat: u.fees.base_msat,
                        fee_ppm: u.fees.proportional_millionths,
                    }),
                    c.two_to_one.as_ref().map(|u| DirectionInput {
                        enabled: u.enabled,
                        cltv_delta: u.cltv_expiry_delta,
                        htlc_min_msat: u.htlc_minimum_msat,
                        htlc_max_msat: u.htlc_maximum_msat,
                        fee_base_msat: u.fees.base_msat,
                        fee_ppm: u.fees.proportional_millionths,
                    }),
                ],
            })
            .collect();
        Self::from_parts(node_input, chan_input, generation)
    }

    fn from_parts(
        mut nodes: Vec<NodeInput>,
        mut channels: Vec<ChannelInput>,
        generation: u64,
    ) -> Self {
        nodes.sort_unstable_by_key(|a| a.id);
        channels.sort_unstable_by_key(|c| c.scid);
        let node_ids: Vec<[u8; 33]> = nodes.iter().map(|n| node_bytes(&n.id)).collect();
        let find = |id: &NodeId| -> u32 {
            node_ids.binary_search(&node_bytes(id)).map(|i| i as u32).unwrap_or(NONE)
        };

        let default = default_node_features();
        let default_bytes = default.le_flags().to_vec();
        let mut node_sets = Interner::new(Some((default.clone(), default_bytes)));
        let node_features: Vec<u16> = nodes
            .iter()
            .map(|n| match &n.features {
                Some(f) => node_sets.get(f, f.le_flags()),
                None => 0,
            })
            .collect();
        let node_unknown: Vec<bool> =
            node_sets.sets.iter().map(|f| f.requires_unknown_bits()).collect();

        let mut chan_sets = Interner::new(None);
        let chan_scids: Vec<u64> = channels.iter().map(|c| c.scid).collect();
        let chan_nodes: Vec<[u32; 2]> =
            channels.iter().map(|c| [find(&c.node_one), find(&c.node_two)]).collect();
        let chan_features: Vec<u16> =
            channels.iter().map(|c| chan_sets.get(&c.features, c.features.le_flags())).collect();
        let chan_unknown: Vec<bool> =
            chan_sets.sets.iter().map(|f| f.requires_unknown_bits()).collect();
        let chan_cltv: Vec<[u16; 2]> = channels
            .iter()
            .map(|c| {
                [
                    c.directions[0].as_ref().map_or(0, |d| d.cltv_delta),
                    c.directions[1].as_ref().map_or(0, |d| d.cltv_delta),
                ]
            })
            .collect();
        let chan_flags: Vec<u8> = channels
            .iter()
            .map(|c| {
                (if c.directions[0].is_some() { CHAN_ONE_TO_TWO } else { 0 })
                    | (if c.directions[1].is_some() { CHAN_TWO_TO_ONE } else { 0 })
            })
            .collect();

        // Routable directions, as (target, edge, channel, direction).
        let mut routable: Vec<(u32, Edge, usize, usize)> = Vec::with_capacity(channels.len() * 2);
        for (ci, c) in channels.iter().enumerate() {
            let [one, two] = chan_nodes[ci];
            if one == NONE || two == NONE || one == two {
                continue;
            }
            if chan_unknown[usize::from(chan_features[ci])] {
                continue;
            }
            let (Some(d0), Some(d1)) = (&c.directions[0], &c.directions[1]) else {
                continue;
            };
            for (dir, d) in [(0usize, d0), (1, d1)] {
                if !d.enabled {
                    continue;
                }
                let (source, target) = if dir == 0 { (one, two) } else { (two, one) };
                if node_unknown[usize::from(node_features[target as usize])] {
                    continue;
                }
                let (capacity_msat, htlc_max_msat, known) = match c.capacity_sats {
                    Some(sats) => {
                        let cap = sats.saturating_mul(1000);
                        (cap, d.htlc_max_msat.min(cap), true)
                    }
                    None => (d.htlc_max_msat, d.htlc_max_msat, false),
                };
                let edge = Edge {
                    source,
                    scid: c.scid,
                    fee_base_msat: d.fee_base_msat,
                    fee_ppm: d.fee_ppm,
                    htlc_min_msat: d.htlc_min_msat,
                    htlc_max_msat,
                    capacity_msat,
                    cltv_delta: d.cltv_delta,
                    flags: if known { EDGE_CAPACITY_KNOWN } else { 0 }
                        | if dir == 1 { EDGE_DIRECTION_1 } else { 0 },
                };
                routable.push((target, edge, ci, dir));
            }
        }
        let n = node_ids.len();
        let mut in_start = vec![0u32; n + 1];
        for (t, ..) in &routable {
            in_start[*t as usize + 1] += 1;
        }
        for i in 0..n {
            in_start[i + 1] += in_start[i];
        }
        let mut fill = in_start.clone();
        let mut edges = vec![Edge::default(); routable.len()];
        let mut chan_edges = vec![[NONE; 2]; channels.len()];
        // Within a target, keep the channels in scid order (routable is in channel order).
        for (t, e, ci, dir) in routable {
            let at = fill[t as usize];
            fill[t as usize] += 1;
            edges[at as usize] = e;
            chan_edges[ci][dir] = at;
        }

        let mut node_chan_start = Vec::with_capacity(n + 1);
        let mut node_chans = Vec::new();
        node_chan_start.push(0u32);
        for node in &nodes {
            for scid in &node.channels {
                if let Ok(ci) = chan_scids.binary_search(scid) {
                    node_chans.push(ci as u32);
                }
            }
            node_chan_start.push(node_chans.len() as u32);
        }

        let (out_start, out_targets) = out_index(&in_start, &edges);
        let view = GraphView {
            generation,
            node_ids,
            node_features,
            node_feature_sets: node_sets.sets,
            in_start,
            edges,
            chan_scids,
            chan_nodes,
            chan_cltv,
            chan_flags,
            chan_features,
            chan_feature_sets: chan_sets.sets,
            chan_edges,
            node_chan_start,
            node_chans,
            out_start,
            out_targets,
        };
        view.shrink()
    }

    fn shrink(mut self) -> Self {
        self.node_ids.shrink_to_fit();
        self.node_features.shrink_to_fit();
        self.edges.shrink_to_fit();
        self.node_chans.shrink_to_fit();
        self
    }

    /// The generation of the graph this view was built from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.node_ids.len()
    }

    /// Number of channels (with or without routable directions).
    pub fn channel_count(&self) -> usize {
        self.chan_scids.len()
    }

    /// Number of routable directions.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The index of `node`, if it is in the graph.
    pub fn node_index(&self, node: &NodeId) -> Option<u32> {
        self.node_ids.binary_search(&node_bytes(node)).ok().map(|i| i as u32)
    }

    /// The node id of index `i`.
    pub fn node_id(&self, i: u32) -> NodeId {
        NodeId::from_slice(&self.node_ids[i as usize]).expect("33 bytes")
    }

    /// The index of channel `scid`, if it is in the graph.
    pub fn channel_index(&self, scid: u64) -> Option<u32> {
        self.chan_scids.binary_search(&scid).ok().map(|i| i as u32)
    }

    /// The routable directions into node `i`, with their indices in the edge array.
    #[inline]
    pub fn in_edges(&self, i: u32) -> (usize, &[Edge]) {
        let (s, e) = (self.in_start[i as usize] as usize, self.in_start[i as usize + 1] as usize);
        (s, &self.edges[s..e])
    }

    /// Edge `i`.
    #[inline]
    pub fn edge(&self, i: usize) -> &Edge {
        &self.edges[i]
    }

    /// The target of edge `i` (the node whose row holds it).
    pub fn edge_target(&self, i: usize) -> u32 {
        let e = &self.edges[i];
        let [one, two] = self.chan_nodes[self.edge_channel(e) as usize];
        if e.direction() == 0 {
            two
        } else {
            one
        }
    }

    /// The index of an edge's channel.
    pub fn edge_channel(&self, e: &Edge) -> u32 {
        self.channel_index(e.scid).unwrap_or(NONE)
    }

    /// The short channel id of channel `c`.
    #[inline]
    pub fn scid(&self, c: u32) -> u64 {
        self.chan_scids[c as usize]
    }

    /// The features announced for node `i` (LDK's default when it has no announcement).
    pub fn node_features(&self, i: u32) -> &NodeFeatures {
        &self.node_feature_sets[usize::from(self.node_features[i as usize])]
    }

    /// The features of channel `c`.
    pub fn channel_features(&self, c: u32) -> &ChannelFeatures {
        &self.chan_feature_sets[usize::from(self.chan_features[c as usize])]
    }

    /// The routable edge indices of channel `c` per direction.
    pub fn channel_edges(&self, c: u32) -> [u32; 2] {
        self.chan_edges[c as usize]
    }

    /// Whether node `i` announced support for basic multi-part payments.
    pub fn node_supports_mpp(&self, i: u32) -> bool {
        self.node_features[i as usize] != 0 && self.node_features(i).supports_basic_mpp()
    }

    /// LDK's `ChannelInfo::as_directed_from(source)` for channel `c`: when both directions have
    /// an update and `source` is an end, (the other end, the CLTV delta from `source`).
    pub fn directed_from(&self, c: u32, source: u32) -> Option<(u32, u16)> {
        let c = c as usize;
        if self.chan_flags[c] != CHAN_ONE_TO_TWO | CHAN_TWO_TO_ONE {
            return None;
        }
        let [one, two] = self.chan_nodes[c];
        if source == one {
            Some((two, self.chan_cltv[c][0]))
        } else if source == two {
            Some((one, self.chan_cltv[c][1]))
        } else {
            None
        }
    }

    /// The targets of node `i`'s routable out-directions.
    #[inline]
    pub fn out_targets(&self, i: u32) -> &[u32] {
        &self.out_targets
            [self.out_start[i as usize] as usize..self.out_start[i as usize + 1] as usize]
    }

    /// Node `i`'s channels, in LDK's order.
    pub fn node_channels(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.node_chans[self.node_chan_start[i] as usize..self.node_chan_start[i + 1] as usize]
    }

    /// Bytes held on the heap by the view (its arrays and feature sets).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        fn vec<T>(v: &Vec<T>) -> usize {
            v.capacity() * size_of::<T>()
        }
        vec(&self.node_ids)
            + vec(&self.node_features)
            + vec(&self.node_feature_sets)
            + self.node_feature_sets.iter().map(|f| f.le_flags().len()).sum::<usize>()
            + vec(&self.in_start)
            + vec(&self.edges)
            + vec(&self.chan_scids)
            + vec(&self.chan_nodes)
            + vec(&self.chan_cltv)
            + vec(&self.chan_flags)
            + vec(&self.chan_features)
            + vec(&self.chan_feature_sets)
            + self.chan_feature_sets.iter().map(|f| f.le_flags().len()).sum::<usize>()
            + vec(&self.chan_edges)
            + vec(&self.node_chan_start)
            + vec(&self.node_chans)
            + vec(&self.out_start)
            + vec(&self.out_targets)
    }
}

fn node_bytes(id: &NodeId) -> [u8; 33] {
    let mut b = [0u8; 33];
    b.copy_from_slice(id.as_slice());
    b
}

struct NodeInput {
    id: NodeId,
    features: Option<NodeFeatures>,
    channels: Vec<u64>,
}

struct DirectionInput {
    enabled: bool,
    cltv_delta: u16,
    htlc_min_msat: u64,
    htlc_max_msat: u64,
    fee_base_msat: u32,
    fee_ppm: u32,
}

struct ChannelInput {
    scid: u64,
    node_one: NodeId,
    node_two: NodeId,
    features: ChannelFeatures,
    capacity_sats: Option<u64>,
    directions: [Option<DirectionInput>; 2],
}

mod codec;

pub use codec::ViewDecodeError;
