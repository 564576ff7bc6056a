//! The route search: Dijkstra from the payee back to the payer over the compact view, with the
//! payment's first hops and route hints added for the search, and the multi-part split (see the
//! [module documentation](super)).

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::channel_state::ChannelDetails;
use lightning::routing::gossip::NodeId;
use lightning::routing::router::{
    InFlightHtlcs, Path, Payee, Route, RouteHop, RouteParameters, MAX_PATH_LENGTH_ESTIMATE,
};
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::util::ser::Writeable;

use crate::cost::{fee_msat, public_hop_penalty_msat, random_penalty_msat, splitmix64};
use crate::learned::{learned_cap_msat, learned_hop_penalty_msat, LearnedCap, LiquidityBounds};
use crate::policy::{risk_cost_msat, PaymentPolicy};
use crate::shadow::{add_random_cltv_offset, MEDIAN_HOP_CLTV_EXPIRY_DELTA};
use crate::view::{default_node_features, Edge, GraphView, EDGE_CAPACITY_KNOWN, NONE};

/// LDK's `MAX_VALUE_MSAT`: no payment can be larger than all bitcoin.
const MAX_VALUE_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// Why the search gave no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchError {
    /// The request needs something this router does not implement (blinded paths): use LDK's.
    Unsupported(&'static str),
    /// No route (LDK's error messages, so callers and reports read the same).
    Failed(&'static str),
}

impl SearchError {
    /// The message.
    pub fn message(&self) -> &'static str {
        match self {
            SearchError::Unsupported(m) | SearchError::Failed(m) => m,
        }
    }
}

/// LDK's message when no path at all was found.
pub const ERR_NO_PATH: &str = "Failed to find a path to the given destination";
/// LDK's message when the paths found cannot carry the amount.
pub const ERR_INSUFFICIENT: &str = "Failed to find a sufficient route to the given destination";

/// Amounts already in flight per channel direction (LDK's [`InFlightHtlcs`]): (short channel
/// id, source node id < target node id) → msat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight(pub HashMap<(u64, bool), u64>);

impl InFlight {
    /// Reads LDK's in-flight HTLCs. Their map is private; its serialization (a collection
    /// length, then per entry the scid, the direction byte and the amount, big-endian) is not,
    /// and is read here. Anything unexpected yields what was read so far.
    pub fn from_ldk(inflight: &InFlightHtlcs) -> Self {
        let bytes = inflight.encode();
        let mut map = HashMap::new();
        if bytes.len() < 2 {
            return Self(map);
        }
        let mut pos = 2;
        let mut len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if len == 0xffff {
            if bytes.len() < 10 {
                return Self(map);
            }
            len += u64::from_be_bytes(bytes[2..10].try_into().expect("8"));
            pos = 10;
        }
        for _ in 0..len {
            if bytes.len() < pos + 17 {
                break;
            }
            let scid = u64::from_be_bytes(bytes[pos..pos + 8].try_into().expect("8"));
            let dir = bytes[pos + 8] != 0;
            let msat = u64::from_be_bytes(bytes[pos + 9..pos + 17].try_into().expect("8"));
            map.insert((scid, dir), msat);
            pos += 17;
        }
        Self(map)
    }
}

/// One route search.
pub struct Request<'a> {
    /// Our node.
    pub payer: PublicKey,
    /// LDK's route parameters (payee, limits, hints, previously failed channels).
    pub route_params: &'a RouteParameters,
    /// Our usable channels; when given, they replace the graph's view of our channels.
    pub first_hops: Option<&'a [&'a ChannelDetails]>,
    /// Amounts in flight (they lower the success probability of the channels they use).
    pub inflight: &'a InFlight,
    /// Risk factor, exclusions and randomization.
    pub policy: &'a PaymentPolicy,
    /// Random bytes for the shadow CLTV offset.
    pub random_seed_bytes: [u8; 32],
    /// Liquidity bounds learned from earlier attempts ([`crate::learned`]): the success
    /// probability of a public hop is conditioned on them, and a path sends at most the upper
    /// bound over a direction. `None`: LDK's no-history prior everywhere.
    pub learned: Option<&'a LiquidityBounds>,
    /// How much of a failure's upper bound `learned` is trusted with.
    pub learned_cap: LearnedCap,
}

/// The cold part of a node's label (the hot part, its cost and mark, is in separate arrays).
#[derive(Clone, Copy, Default)]
struct NodeState {
    /// What the node must receive (the value plus the fees of the hops after it).
    amount_msat: u64,
    /// The hop out of this node towards the payee.
    hop: u32,
    /// The node after this one towards the payee.
    next: u32,
    cltv: u16,
    hops: u8,
}

/// Reusable buffers of the search, sized to the view.
#[derive(Default)]
pub struct Scratch {
    /// Per node: `run` while queued in the current Dijkstra, `run + 1` once settled.
    mark: Vec<u32>,
    /// Per node: the label's cost (valid when marked).
    cost: Vec<u64>,
    state: Vec<NodeState>,
    run: u32,
    heap: Heap,
    /// Per request marks (stamped with `request`): blocked nodes, nodes with extra in-hops.
    node_block: Vec<u32>,
    node_extra: Vec<u32>,
    node_extra_src: Vec<u32>,
    /// Per request marks on graph edges: blocked, and "has used or in-flight liquidity".
    edge_block: Vec<u32>,
    edge_used: Vec<u32>,
    request: u32,
    /// Per request: public hops from the payer to each node, at least (the A* lower bound);
    /// [`UNREACHABLE`] when the payer cannot reach it at all.
    from_payer: Vec<u8>,
    queue: std::collections::VecDeque<u32>,
    /// The view this scratch is used with (set by [`super::RoutingEngine::find_route`]); while
    /// it holds it, the view's address identifies it, so `from_payer` can be reused.
    pub(crate) owner: Option<std::sync::Arc<GraphView>>,
    /// What `from_payer` was computed for: (payer, graph hops out of the payer skipped, the
    /// extra hops as (source, target)). Only valid with `owner`.
    bfs_key: Option<BfsKey>,
}

impl Scratch {
    /// Ties the scratch to `view` (clearing what was computed for another one).
    pub(crate) fn own(&mut self, view: &std::sync::Arc<GraphView>) {
        if !self.owner.as_ref().is_some_and(|o| std::sync::Arc::ptr_eq(o, view)) {
            self.owner = Some(std::sync::Arc::clone(view));
            self.bfs_key = None;
        }
    }
}

/// An indexed 4-ary min-heap of (key, node) with decrease-key: each node is in it at most
/// once, so the heap stays as small as the search frontier.
#[derive(Default)]
struct Heap {
    items: Vec<(u64, u32)>,
    /// Per node, its index in `items` while it is queued.
    pos: Vec<u32>,
}

impl Heap {
    fn clear(&mut self) {
        self.items.clear();
    }

    #[inline]
    fn push(&mut self, key: u64, node: u32) {
        self.items.push((key, node));
        self.up(self.items.len() - 1);
    }

    /// Lowers the key of a queued node.
    #[inline]
    fn decrease(&mut self, key: u64, node: u32) {
        let i = self.pos[node as usize] as usize;
        self.items[i].0 = key;
        self.up(i);
    }

    #[inline]
    fn pop(&mut self) -> Option<(u64, u32)> {
        let top = *self.items.first()?;
        let last = self.items.pop()?;
        if !self.items.is_empty() {
            self.items[0] = last;
            self.down(0);
        }
        Some(top)
    }

    #[inline]
    fn up(&mut self, mut i: usize) {
        let item = self.items[i];
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.items[parent].0 <= item.0 {
                break;
            }
            self.items[i] = self.items[parent];
            self.pos[self.items[i].1 as usize] = i as u32;
            i = parent;
        }
        self.items[i] = item;
        self.pos[item.1 as usize] = i as u32;
    }

    #[inline]
    fn down(&mut self, mut i: usize) {
        let item = self.items[i];
        let len = self.items.len();
        loop {
            let first = 4 * i + 1;
            if first >= len {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + 4).min(len) {
                if self.items[c].0 < self.items[best].0 {
                    best = c;
                }
            }
            if self.items[best].0 >= item.0 {
                break;
            }
            self.items[i] = self.items[best];
            self.pos[self.items[i].1 as usize] = i as u32;
            i = best;
        }
        self.items[i] = item;
        self.pos[item.1 as usize] = i as u32;
    }
}

/// What an A* bound was computed for (see [`Scratch`]).
type BfsKey = (u32, bool, Vec<(u32, u32)>);

/// [`Scratch::from_payer`] of a node the payer cannot reach.
const UNREACHABLE: u8 = u8::MAX;

/// A lower bound of what any public hop not out of the payer costs, beyond its fee, for an
/// amount of at least `value_msat`: LDK's base penalty and the probability penalty at amount 0
/// (−log10(64/78) ≈ 0.0859, times 10 000; 850 leaves room for rounding).
fn min_hop_penalty_msat(value_msat: u64) -> u64 {
    super::cost::BASE_PENALTY_MSAT
        + (super::cost::BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT.saturating_mul(value_msat) >> 30)
        + 850
}

impl Scratch {
    fn prepare(&mut self, nodes: usize, edges: usize) {
        if self.state.len() < nodes {
            self.state.resize(nodes, NodeState::default());
            self.mark.resize(nodes, 0);
            self.cost.resize(nodes, 0);
            self.heap.pos.resize(nodes, 0);
            self.node_block.resize(nodes, 0);
            self.node_extra.resize(nodes, 0);
            self.node_extra_src.resize(nodes, 0);
        }
        if self.edge_block.len() < edges {
            self.edge_block.resize(edges, 0);
            self.edge_used.resize(edges, 0);
        }
        if self.from_payer.len() < nodes {
            self.from_payer.resize(nodes, UNREACHABLE);
        }
        self.request = self.request.wrapping_add(1);
        if self.request == 0 {
            self.node_block.iter_mut().for_each(|x| *x = 0);
            self.node_extra.iter_mut().for_each(|x| *x = 0);
            self.node_extra_src.iter_mut().for_each(|x| *x = 0);
            self.edge_block.iter_mut().for_each(|x| *x = 0);
            self.edge_used.iter_mut().for_each(|x| *x = 0);
            self.request = 1;
        }
    }

    /// Starts a Dijkstra: returns its `run` (queued mark; `run + 1` is settled).
    fn next_run(&mut self) -> u32 {
        self.run = self.run.wrapping_add(2);
        if self.run >= u32::MAX - 2 || self.run == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.run = 2;
        }
        self.heap.clear();
        self.run
    }
}

/// How much one path may send over a hop that is not a graph edge.
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// Exactly this much (a first hop's outbound limit, a hint's `htlc_maximum_msat`).
    Exact(u64),
    /// No limit (a hint without `htlc_maximum_msat`).
    Infinite,
    /// A public channel: the graph edge's rule, with the saturation limit.
    Public,
}

#[derive(Clone, Copy, Debug)]
enum ExtraKind {
    /// `first_hops[i]`.
    FirstHop(usize),
    /// A hint hop not in the graph.
    Private,
    /// A hint hop found in the graph (channel index).
    Public(u32),
}

/// A hop added for one request: a first hop, or a route hint's hop.
#[derive(Clone, Debug)]
struct Extra {
    source: u32,
    target: u32,
    rec: Edge,
    limit: Limit,
    scid: u64,
    /// LDK's direction key: source node id < target node id.
    dir_key: bool,
    kind: ExtraKind,
}

/// A hop of a found path: a graph edge (index) or an extra hop (index + edge count).
type HopId = u32;

struct Part {
    hops: Vec<HopId>,
    value_msat: u64,
}

struct Ctx<'a> {
    view: &'a GraphView,
    req: &'a Request<'a>,
    n: u32,
    edge_count: u32,
    payer: u32,
    payee: u32,
    extras: Vec<Extra>,
    /// Node ids of extra nodes (index - n).
    extra_nodes: Vec<NodeId>,
    /// Graph edges from the payer are replaced by first hops.
    skip_payer_edges: bool,
    any_blocked_edge: bool,
    any_blocked_node: bool,
    riskfactor: f64,
    randomize: bool,
    mixed_seed: u64,
    cltv_limit: u32,
    max_hops: u8,
    used: HashMap<(u64, bool), u64>,
}

/// Finds a route for `req` over `view`. LDK's `find_route` semantics: same preconditions and
/// error messages, same limits (fee, CLTV with room for the shadow offset, path length, HTLC
/// minimum and maximum, saturation), first hops overriding our channels, route hints, MPP when
/// the payee supports it; the shadow CLTV offset is LDK's. Blinded payees are
/// [`SearchError::Unsupported`].
pub fn find_route(
    view: &GraphView,
    scratch: &mut Scratch,
    req: &Request<'_>,
) -> Result<Route, SearchError> {
    let params = req.route_params;
    let pp = &params.payment_params;
    let (payee_pk, hints, payee_features, final_cltv) = match &pp.payee {
        Payee::Clear { node_id, route_hints, features, final_cltv_expiry_delta } => {
            (*node_id, route_hints, features, *final_cltv_expiry_delta)
        }
        Payee::Blinded { .. } => return Err(SearchError::Unsupported("blinded payee")),
    };
    let fail = SearchError::Failed;
    let value = params.final_value_msat;
    if payee_pk == req.payer {
        return Err(fail("Cannot generate a route to ourselves"));
    }
    if value > MAX_VALUE_MSAT {
        return Err(fail("Cannot generate a route of more value than all existing satoshis"));
    }
    if value == 0 {
        return Err(fail("Cannot send a payment of 0 msat"));
    }
    if pp.max_total_cltv_expiry_delta <= final_cltv {
        return Err(fail(
            "Can't find a route where the maximum total CLTV expiry delta is below the final CLTV expiry.",
        ));
    }
    if pp.max_path_count == 0 {
        return Err(fail("Can't find a route with no paths allowed."));
    }
    if let Some(hops) = req.first_hops {
        if hops.is_empty() {
            return Err(fail("Cannot route when there are no outbound routes away from us"));
        }
        if hops.iter().any(|h| h.counterparty.node_id == req.payer) {
            return Err(fail("First hop cannot have our_node_pubkey as a destination."));
        }
    }

    let n = view.node_count() as u32;
    let payer_id = NodeId::from_pubkey(&req.payer);
    let payee_id = NodeId::from_pubkey(&payee_pk);
    let mut extra_nodes: Vec<NodeId> = Vec::new();
    let index_of = |id: &NodeId, extra_nodes: &mut Vec<NodeId>| -> u32 {
        if let Some(i) = view.node_index(id) {
            return i;
        }
        if let Some(p) = extra_nodes.iter().position(|x| x == id) {
            return n + p as u32;
        }
        extra_nodes.push(*id);
        n + extra_nodes.len() as u32 - 1
    };
    let payer = index_of(&payer_id, &mut extra_nodes);
    let payee = index_of(&payee_id, &mut extra_nodes);

    // Exclusions (never the payer or the payee) and previously failed channels.
    let node_excluded = |id: &NodeId| {
        *id != payer_id
            && *id != payee_id
            && req.policy.exclude_nodes.iter().any(|k| NodeId::from_pubkey(k) == *id)
    };
    let scid_failed = |scid: u64| pp.previously_failed_channels.contains(&scid);

    let mut extras: Vec<Extra> = Vec::new();
    // First hops, per counterparty in LDK's preference order.
    if let Some(hops) = req.first_hops {
        let mut sorted: Vec<(usize, &ChannelDetails)> = hops.iter().copied().enumerate().collect();
        sort_first_hops(&mut sorted, value.saturating_mul(3));
        for (i, details) in sorted {
            let Some(scid) = details.get_outbound_payment_scid() else {
                continue;
            };
            let peer = NodeId::from_pubkey(&details.counterparty.node_id);
            if node_excluded(&peer) || scid_failed(scid) {
                continue;
            }
            let dir = u8::from(payer_id >= peer);
            let excluded = [details.short_channel_id, details.outbound_scid_alias]
                .into_iter()
                .flatten()
                .any(|s| req.policy.excludes_channel(s, dir));
            if excluded {
                continue;
            }
            let target = index_of(&peer, &mut extra_nodes);
            extras.push(Extra {
                source: payer,
                target,
                rec: Edge {
                    source: payer,
                    scid,
                    htlc_min_msat: details.next_outbound_htlc_minimum_msat,
                    ..Edge::default()
                },
                limit: Limit::Exact(details.next_outbound_htlc_limit_msat),
                scid,
                dir_key: payer_id < peer,
                kind: ExtraKind::FirstHop(i),
            });
        }
    }
    // Route hints, from the payee backwards, as LDK reads them.
    for hint in hints {
        if hint.0.is_empty() {
            continue;
        }
        let mut target_pk = payee_pk;
        for hop in hint.0.iter().rev() {
            let target_id = NodeId::from_pubkey(&target_pk);
            if let Some(hops) = req.first_hops {
                let direct = hops.iter().any(|d| {
                    NodeId::from_pubkey(&d.counterparty.node_id) == target_id
                        && (d.outbound_scid_alias == Some(hop.short_channel_id)
                            || d.short_channel_id == Some(hop.short_channel_id))
                });
                if direct {
                    break;
                }
            }
            let target = index_of(&target_id, &mut extra_nodes);
            let public = view.channel_index(hop.short_channel_id).and_then(|c| {
                let t = view.node_index(&target_id)?;
                let [one, two] = view.chan_nodes[c as usize];
                let src = if t == two {
                    one
                } else if t == one {
                    two
                } else {
                    return None;
                };
                let (_, _) = view.directed_from(c, src)?;
                Some((c, src, t))
            });
            let extra = match public {
                Some((c, src, t)) => {
                    let dir = usize::from(t == view.chan_nodes[c as usize][0]);
                    let rec = public_record(view, c, dir);
                    Extra {
                        source: src,
                        target: t,
                        rec,
                        limit: Limit::Public,
                        scid: hop.short_channel_id,
                        dir_key: dir == 0,
                        kind: ExtraKind::Public(c),
                    }
                }
                None => {
                    let src_id = NodeId::from_pubkey(&hop.src_node_id);
                    let source = index_of(&src_id, &mut extra_nodes);
                    Extra {
                        source,
                        target,
                        rec: Edge {
                            source,
                            scid: hop.short_channel_id,
                            fee_base_msat: hop.fees.base_msat,
                            fee_ppm: hop.fees.proportional_millionths,
                            htlc_min_msat: hop.htlc_minimum_msat.unwrap_or(0),
                            cltv_delta: hop.cltv_expiry_delta,
                            ..Edge::default()
                        },
                        limit: match hop.htlc_maximum_msat {
                            Some(m) => Limit::Exact(m),
                            None => Limit::Infinite,
                        },
                        scid: hop.short_channel_id,
                        dir_key: src_id < target_id,
                        kind: ExtraKind::Private,
                    }
                }
            };
            let src_id = node_id_of(view, &extra_nodes, extra.source);
            let blocked = node_excluded(&src_id)
                || node_excluded(&target_id)
                || scid_failed(hop.short_channel_id)
                || req.policy.excludes_channel(hop.short_channel_id, u8::from(!extra.dir_key));
            if !blocked && extra.source != extra.target {
                extras.push(extra);
            }
            target_pk = hop.src_node_id;
        }
    }

    let total_nodes = n as usize + extra_nodes.len();
    scratch.prepare(total_nodes, view.edge_count());
    let request = scratch.request;
    for x in &extras {
        scratch.node_extra[x.target as usize] = request;
        scratch.node_extra_src[x.source as usize] = request;
    }
    let mut any_blocked_node = false;
    for k in &req.policy.exclude_nodes {
        let id = NodeId::from_pubkey(k);
        if id == payer_id || id == payee_id {
            continue;
        }
        if let Some(i) = view.node_index(&id) {
            scratch.node_block[i as usize] = request;
            any_blocked_node = true;
        }
    }
    let mut any_blocked_edge = false;
    let mut block = |scid: u64, dir: Option<u8>, scratch: &mut Scratch| {
        if let Some(c) = view.channel_index(scid) {
            let edges = view.channel_edges(c);
            for (d, e) in edges.iter().enumerate() {
                if *e != NONE && dir.is_none_or(|x| usize::from(x) == d) {
                    scratch.edge_block[*e as usize] = request;
                    any_blocked_edge = true;
                }
            }
        }
    };
    for &(scid, dir) in &req.policy.exclude_channels {
        block(scid, Some(dir), scratch);
    }
    // LDK bans a failed channel in both directions for the rest of the payment; a direction
    // with learned bounds is capped by them instead (the failure taught its upper bound, so
    // smaller parts and the other direction stay usable).
    let has_bounds = |scid: u64| {
        req.learned
            .is_some_and(|l| l.bounds(scid, true).is_some() || l.bounds(scid, false).is_some())
    };
    for &scid in &pp.previously_failed_channels {
        if !has_bounds(scid) {
            block(scid, None, scratch);
        }
    }
    for &(scid, dir_key) in req.inflight.0.keys() {
        mark_used(view, scratch, request, scid, dir_key);
    }
    let learned = req.learned.filter(|l| !l.is_empty());
    for &(scid, dir_key) in learned.into_iter().flat_map(|l| l.keys()) {
        mark_used(view, scratch, request, scid, dir_key);
    }

    let allow_mpp = if pp.max_path_count == 1 {
        false
    } else if payee_features.as_ref().is_some_and(|f| f.supports_basic_mpp()) {
        true
    } else {
        payee < n && view.node_supports_mpp(payee)
    };
    let max_fee = params.max_total_routing_fee_msat.unwrap_or(u64::MAX);
    let room = pp.max_total_cltv_expiry_delta - final_cltv;
    let cltv_limit = u32::from(
        u16::try_from(room.checked_sub(2 * MEDIAN_HOP_CLTV_EXPIRY_DELTA).unwrap_or(room))
            .unwrap_or(u16::MAX),
    );
    let mut ctx = Ctx {
        view,
        req,
        n,
        edge_count: view.edge_count() as u32,
        payer,
        payee,
        extras,
        extra_nodes,
        skip_payer_edges: req.first_hops.is_some(),
        any_blocked_edge,
        any_blocked_node,
        riskfactor: req.policy.riskfactor,
        randomize: req.policy.randomize,
        mixed_seed: splitmix64(req.policy.seed),
        cltv_limit,
        max_hops: pp.max_path_length.min(MAX_PATH_LENGTH_ESTIMATE),
        used: HashMap::new(),
    };

    // The A* bound depends on the payer and the extra hops only: reuse it across payments.
    let key =
        (payer, ctx.skip_payer_edges, ctx.extras.iter().map(|x| (x.source, x.target)).collect());
    let owned = scratch.owner.as_ref().is_some_and(|o| std::ptr::eq(&**o, view));
    if !(owned && scratch.bfs_key.as_ref() == Some(&key)) {
        ctx.bound_hops_from_payer(scratch);
        scratch.bfs_key = owned.then_some(key);
    }
    let parts = collect_parts(&mut ctx, scratch, value, max_fee, allow_mpp)?;
    let mut paths = build_paths(&ctx, parts, final_cltv)?;
    if let Some(f) = payee_features {
        let nf: NodeFeatures = f.to_context();
        for p in &mut paths {
            if let Some(h) = p.hops.last_mut() {
                h.node_features = nf.clone();
            }
        }
    }
    add_random_cltv_offset(
        &mut paths,
        view,
        pp.max_total_cltv_expiry_delta,
        &req.random_seed_bytes,
    );
    let route = Route { paths, route_params: Some(params.clone()) };
    if route.get_total_fees() > max_fee {
        // Cannot happen: every path is searched within what the others left of the limit.
        return Err(fail("Failed to find route that adheres to the maximum total fee limit"));
    }
    Ok(route)
}

fn node_id_of(view: &GraphView, extra_nodes: &[NodeId], i: u32) -> NodeId {
    let n = view.node_count() as u32;
    if i < n {
        view.node_id(i)
    } else {
        extra_nodes[(i - n) as usize]
    }
}

fn public_record(view: &GraphView, c: u32, dir: usize) -> Edge {
    let e = view.channel_edges(c)[dir];
    if e != NONE {
        return *view.edge(e as usize);
    }
    // A disabled direction is not in the edge array; LDK still uses it as a hint hop. Its
    // policy is not kept in the view, so such a hop is priced as free with the CLTV delta known.
    let [one, two] = view.chan_nodes[c as usize];
    Edge {
        source: if dir == 0 { one } else { two },
        scid: view.scid(c),
        cltv_delta: view.chan_cltv[c as usize][dir],
        flags: if dir == 1 { super::view::EDGE_DIRECTION_1 } else { 0 },
        ..Edge::default()
    }
}

fn mark_used(view: &GraphView, scratch: &mut Scratch, request: u32, scid: u64, dir_key: bool) {
    if let Some(c) = view.channel_index(scid) {
        let e = view.channel_edges(c)[usize::from(!dir_key)];
        if e != NONE {
            scratch.edge_used[e as usize] = request;
        }
    }
}

/// LDK's `sort_first_hop_channels`: below `recommended_msat` largest first, above it smallest
/// first.
fn sort_first_hops(hops: &mut [(usize, &ChannelDetails)], recommended_msat: u64) {
    hops.sort_by(|(_, a), (_, b)| {
        let (la, lb) = (a.next_outbound_htlc_limit_msat, b.next_outbound_htlc_limit_msat);
        if lb < recommended_msat || la < recommended_msat {
            lb.cmp(&la)
        } else {
            la.cmp(&lb)
        }
    });
}

/// A hop as the relaxation reads it.
struct HopRef {
    rec: Edge,
    /// What all parts together may send over it (before what earlier parts used).
    max_msat: u64,
    /// What one part may send over it (`htlc_maximum_msat` of a public hop).
    per_part_msat: u64,
    public: bool,
    scid: u64,
    dir_key: bool,
}

/// A settled node, as its in-hops are relaxed.
struct Settled {
    node: u32,
    cost: u64,
    state: NodeState,
}

/// A hop offered to the relaxation.
struct Candidate<'a> {
    id: HopId,
    edge: &'a Edge,
    /// What this path may send over it (saturation, used liquidity).
    max_msat: u64,
    /// Public channel: LDK's penalties apply.
    public: bool,
    /// Other parts and in-flight HTLCs over it.
    loaded_msat: u64,
    /// Learned (lower, upper) liquidity bounds of a public hop.
    bounds: Option<(u64, u64)>,
}

mod build;
mod dijkstra;
mod split;

use build::build_paths;
use split::collect_parts;
