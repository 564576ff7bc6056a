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
use crate::learned::{learned_cap_msat, learned_hop_penalty_msat, LiquidityBounds};
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

/// Splits the payment into paths (see the module documentation of [`super`]).
fn collect_parts(
    ctx: &mut Ctx<'_>,
    scratch: &mut Scratch,
    value: u64,
    max_fee: u64,
    allow_mpp: bool,
) -> Result<Vec<Part>, SearchError> {
    let pp = &ctx.req.route_params.payment_params;
    let max_paths = u64::from(pp.max_path_count);
    let min_part = if allow_mpp { value.div_ceil(max_paths) } else { value };
    // LDK's saturation limit is a preference: LDK collects paths beyond it when they are cheaper
    // per msat, and its documentation leaves the choice to the scorer. For a single path it is
    // a first attempt, as in LDK; when splitting, the success-probability penalty prices how
    // much of a channel a part takes instead (B1 shows lower fees, fewer parts, and the same
    // success probability under LDK's prior as LDK's soft limit).
    let mut saturation = if allow_mpp { 0 } else { pp.max_channel_saturation_power_of_half };
    let mut parts: Vec<Part> = Vec::new();
    let mut remaining = value;
    let mut fees_msat = 0u64;
    let mut try_msat = remaining;
    if allow_mpp && ctx.cut_bound() < value {
        // Even all of the payer's (or the payee's) channels together cannot carry it.
        return Err(SearchError::Failed(
            if scratch.from_payer[ctx.payee as usize] == UNREACHABLE {
                ERR_NO_PATH
            } else {
                ERR_INSUFFICIENT
            },
        ));
    }
    while remaining > 0 {
        if parts.len() as u64 >= max_paths {
            break;
        }
        let bound = ctx.single_path_bound(saturation);
        let mut s = try_msat.min(remaining);
        if allow_mpp && bound < s {
            s = bound.max(min_part.min(remaining));
        }
        let found = if s <= bound {
            ctx.dijkstra(scratch, s, max_fee - fees_msat, saturation)
        } else {
            None
        };
        match found {
            Some((hops, fee)) => {
                // A path found for less than what remains may carry more: fill it.
                let (v, fee) = if s < remaining {
                    ctx.fill(&hops, s, remaining, min_part, max_fee - fees_msat, saturation)
                } else {
                    (s, fee)
                };
                ctx.use_liquidity(scratch, &hops, v);
                parts.push(Part { hops, value_msat: v });
                fees_msat += fee;
                remaining -= v;
                try_msat = s;
            }
            None => {
                let floor = min_part.min(remaining);
                if allow_mpp && s > floor {
                    try_msat = (s / 2).max(floor);
                } else if saturation != 0 {
                    saturation = 0;
                    try_msat = remaining;
                } else {
                    break;
                }
            }
        }
    }
    if parts.is_empty() {
        return Err(SearchError::Failed(ERR_NO_PATH));
    }
    if remaining > 0 {
        return Err(SearchError::Failed(ERR_INSUFFICIENT));
    }
    // Two parts over the same hops become one HTLC, unless that HTLC would be larger than a
    // hop's `htlc_maximum_msat`.
    parts.sort_by(|a, b| a.hops.cmp(&b.hops));
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for p in parts {
        match merged.last_mut() {
            Some(last)
                if last.hops == p.hops
                    && ctx.fits_one_part(&p.hops, last.value_msat + p.value_msat) =>
            {
                last.value_msat += p.value_msat
            }
            _ => merged.push(p),
        }
    }
    Ok(merged)
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

impl Ctx<'_> {
    #[inline]
    fn hop(&self, id: HopId, saturation: u8) -> HopRef {
        if id < self.edge_count {
            let rec = *self.view.edge(id as usize);
            let dir_key = rec.direction() == 0;
            HopRef {
                max_msat: self.learned_max_msat(&rec, dir_key, saturation),
                per_part_msat: rec.htlc_max_msat,
                public: true,
                scid: rec.scid,
                dir_key,
                rec,
            }
        } else {
            let x = &self.extras[(id - self.edge_count) as usize];
            let max_msat = match x.limit {
                Limit::Exact(m) => m,
                Limit::Infinite => u64::MAX,
                Limit::Public => x.rec.total_msat(saturation),
            };
            HopRef {
                rec: x.rec,
                max_msat,
                per_part_msat: match x.limit {
                    Limit::Public => x.rec.htlc_max_msat,
                    _ => max_msat,
                },
                public: matches!(x.limit, Limit::Public),
                scid: x.scid,
                dir_key: x.dir_key,
            }
        }
    }

    /// What all parts together may send over a public direction: [`Edge::total_msat`], or with
    /// learned bounds [`learned_cap_msat`].
    fn learned_max_msat(&self, rec: &Edge, dir_key: bool, saturation: u8) -> u64 {
        let max = rec.total_msat(saturation);
        match self.req.learned.and_then(|l| l.bounds(rec.scid, dir_key)) {
            Some(b) => {
                learned_cap_msat(max, rec.total_msat(0), b, self.inflight_msat(rec.scid, dir_key))
            }
            None => max,
        }
    }

    fn used_msat(&self, scid: u64, dir_key: bool) -> u64 {
        self.used.get(&(scid, dir_key)).copied().unwrap_or(0)
    }

    fn inflight_msat(&self, scid: u64, dir_key: bool) -> u64 {
        self.req.inflight.0.get(&(scid, dir_key)).copied().unwrap_or(0)
    }

    /// The most all paths together could carry (at full capacity), judging by the payee's and
    /// the payer's hops only: the smaller of the two cuts.
    fn cut_bound(&self) -> u64 {
        let room = |id: HopId| {
            let h = self.hop(id, 0);
            h.max_msat.saturating_sub(self.used_msat(h.scid, h.dir_key))
        };
        let mut into_payee = 0u64;
        let mut out_of_payer = 0u64;
        for (i, x) in self.extras.iter().enumerate() {
            let r = room(self.edge_count + i as u32);
            if x.target == self.payee {
                into_payee = into_payee.saturating_add(r);
            }
            if x.source == self.payer {
                out_of_payer = out_of_payer.saturating_add(r);
            }
        }
        if self.payee < self.n {
            let (start, edges) = self.view.in_edges(self.payee);
            for (i, e) in edges.iter().enumerate() {
                if !(self.skip_payer_edges && e.source == self.payer) {
                    into_payee = into_payee.saturating_add(room((start + i) as u32));
                }
            }
        }
        if self.payer < self.n && !self.skip_payer_edges {
            for &c in self.view.node_channels(self.payer) {
                let [one, _] = self.view.chan_nodes[c as usize];
                let e = self.view.channel_edges(c)[usize::from(one != self.payer)];
                if e != NONE {
                    out_of_payer = out_of_payer.saturating_add(room(e));
                }
            }
        }
        into_payee.min(out_of_payer)
    }

    /// The most one path could carry, judging by the payee's and the payer's hops only.
    fn single_path_bound(&self, saturation: u8) -> u64 {
        let room = |id: HopId| {
            let h = self.hop(id, saturation);
            h.max_msat.saturating_sub(self.used_msat(h.scid, h.dir_key)).min(h.per_part_msat)
        };
        let extras = |pred: &dyn Fn(&Extra) -> bool| {
            self.extras
                .iter()
                .enumerate()
                .filter(|(_, x)| pred(x))
                .map(|(i, _)| room(self.edge_count + i as u32))
                .max()
                .unwrap_or(0)
        };
        let mut into_payee = extras(&|x| x.target == self.payee);
        if self.payee < self.n {
            let (start, edges) = self.view.in_edges(self.payee);
            for i in 0..edges.len() {
                into_payee = into_payee.max(room((start + i) as u32));
            }
        }
        let mut out_of_payer = extras(&|x| x.source == self.payer);
        if self.payer < self.n && !self.skip_payer_edges {
            for &c in self.view.node_channels(self.payer) {
                let [one, _] = self.view.chan_nodes[c as usize];
                let e = self.view.channel_edges(c)[usize::from(one != self.payer)];
                if e != NONE {
                    out_of_payer = out_of_payer.max(room(e));
                }
            }
        }
        into_payee.min(out_of_payer)
    }

    /// The most a path found for `found_msat` can deliver, up to `remaining_msat`, within what
    /// its hops have left and `fee_budget_msat`, leaving either nothing or at least `min_part_msat`
    /// for the other parts; and the path's fee for it.
    fn fill(
        &self,
        hops: &[HopId],
        found_msat: u64,
        remaining_msat: u64,
        min_part_msat: u64,
        fee_budget_msat: u64,
        saturation: u8,
    ) -> (u64, u64) {
        let rooms: Vec<u64> = hops
            .iter()
            .map(|&id| {
                let h = self.hop(id, saturation);
                h.max_msat.saturating_sub(self.used_msat(h.scid, h.dir_key)).min(h.per_part_msat)
            })
            .collect();
        let fee_of = |v: u64| -> Option<u64> {
            let amounts = self.amounts(hops, v);
            let fits = amounts.iter().zip(&rooms).all(|(a, r)| a <= r);
            let fee = amounts.first().map_or(0, |a| a - v);
            (fits && fee <= fee_budget_msat).then_some(fee)
        };
        let (mut lo, mut hi) = (found_msat, remaining_msat);
        if fee_of(hi).is_none() {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if fee_of(mid).is_some() {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            hi = lo;
            if remaining_msat - hi < min_part_msat {
                hi = remaining_msat.saturating_sub(min_part_msat).max(found_msat);
            }
        }
        match fee_of(hi) {
            Some(fee) => (hi, fee),
            None => (found_msat, fee_of(found_msat).unwrap_or(0)),
        }
    }

    /// Whether one part delivering `value_msat` over `hops` is within every hop's per-part
    /// limit.
    fn fits_one_part(&self, hops: &[HopId], value_msat: u64) -> bool {
        let amounts = self.amounts(hops, value_msat);
        hops.iter().zip(amounts).all(|(&id, a)| a <= self.hop(id, 0).per_part_msat)
    }

    fn use_liquidity(&mut self, scratch: &mut Scratch, hops: &[HopId], value_msat: u64) {
        let amounts = self.amounts(hops, value_msat);
        let request = scratch.request;
        for (i, &id) in hops.iter().enumerate() {
            let h = self.hop(id, 0);
            *self.used.entry((h.scid, h.dir_key)).or_insert(0) += amounts[i];
            mark_used(self.view, scratch, request, h.scid, h.dir_key);
        }
    }

    /// The amount over each hop of a path (payer first) delivering `value_msat`.
    fn amounts(&self, hops: &[HopId], value_msat: u64) -> Vec<u64> {
        let mut amounts = vec![0u64; hops.len()];
        let mut amount = value_msat;
        for i in (0..hops.len()).rev() {
            amounts[i] = amount;
            if i > 0 {
                let h = self.hop(hops[i], 0);
                amount += fee_msat(amount, h.rec.fee_base_msat, h.rec.fee_ppm).unwrap_or(0);
            }
        }
        amounts
    }

    /// Fills [`Scratch::from_payer`]: a 0-1 breadth-first walk from the payer over every hop
    /// (blocked ones too: a bound may be too low, never too high), counting 1 per public graph
    /// hop not out of the payer (each costs at least [`min_hop_penalty_msat`]) and 0 for the
    /// others. The search adds `from_payer × min_hop_penalty_msat` to a node's cost (A*): a
    /// consistent lower bound of what reaching it from the payer costs, so the search settles
    /// far fewer nodes and still finds the same route; nodes the payer cannot reach are never
    /// entered.
    fn bound_hops_from_payer(&self, scratch: &mut Scratch) {
        let total = self.n as usize + self.extra_nodes.len();
        let view = self.view;
        let d = &mut scratch.from_payer;
        d[..total].fill(UNREACHABLE);
        let q = &mut scratch.queue;
        let (marks, request) = (&scratch.node_extra_src, scratch.request);
        q.clear();
        d[self.payer as usize] = 0;
        q.push_back(self.payer);
        while let Some(x) = q.pop_front() {
            let dx = d[x as usize];
            let visit =
                |t: u32, w: u8, d: &mut Vec<u8>, q: &mut std::collections::VecDeque<u32>| {
                    let nd = dx.saturating_add(w).min(UNREACHABLE - 1);
                    if nd < d[t as usize] {
                        d[t as usize] = nd;
                        if w == 0 {
                            q.push_front(t);
                        } else {
                            q.push_back(t);
                        }
                    }
                };
            if x < self.n && !(x == self.payer && self.skip_payer_edges) {
                let w = u8::from(x != self.payer);
                for &t in view.out_targets(x) {
                    visit(t, w, d, q);
                }
            }
            if marks[x as usize] == request {
                for e in &self.extras {
                    if e.source == x {
                        visit(e.target, 0, d, q);
                    }
                }
            }
        }
    }

    #[inline]
    fn node_blocked(&self, scratch: &Scratch, i: u32) -> bool {
        self.any_blocked_node
            && (i as usize) < scratch.node_block.len()
            && scratch.node_block[i as usize] == scratch.request
    }

    /// One Dijkstra from the payee back to the payer for a path delivering `value_msat`, with
    /// `fee_budget_msat` of fees at most. Returns the hops (payer first) and the path's fee.
    fn dijkstra(
        &self,
        scratch: &mut Scratch,
        value_msat: u64,
        fee_budget_msat: u64,
        saturation: u8,
    ) -> Option<(Vec<HopId>, u64)> {
        let run = scratch.next_run();
        let settled = run + 1;
        let request = scratch.request;
        let payee = self.payee as usize;
        if scratch.from_payer[payee] == UNREACHABLE {
            return None;
        }
        let unit = min_hop_penalty_msat(value_msat);
        scratch.mark[payee] = run;
        scratch.cost[payee] = 0;
        scratch.state[payee] =
            NodeState { amount_msat: value_msat, hop: NONE, next: NONE, cltv: 0, hops: 0 };
        scratch.heap.push(u64::from(scratch.from_payer[payee]) * unit, self.payee);
        let n = self.n;
        let max_amount = value_msat.saturating_add(fee_budget_msat);
        // Liquidity already used (other parts) or in flight: looked up only when there is some.
        let any_used = !self.used.is_empty()
            || !self.req.inflight.0.is_empty()
            || self.req.learned.is_some_and(|l| !l.is_empty());
        while let Some((_, v)) = scratch.heap.pop() {
            scratch.mark[v as usize] = settled;
            let at = Settled {
                node: v,
                cost: scratch.cost[v as usize],
                state: scratch.state[v as usize],
            };
            if v == self.payer {
                let mut hops = Vec::with_capacity(usize::from(at.state.hops));
                let mut u = v;
                while u != self.payee {
                    let s = &scratch.state[u as usize];
                    hops.push(s.hop);
                    u = s.next;
                }
                return Some((hops, at.state.amount_msat - value_msat));
            }
            if at.state.hops >= self.max_hops {
                continue;
            }
            // LDK does not route through a node twice: it settles each node once, as here.
            if v < n {
                let (start, edges) = self.view.in_edges(v);
                for (k, e) in edges.iter().enumerate() {
                    if scratch.mark[e.source as usize] == settled {
                        continue;
                    }
                    let id = (start + k) as u32;
                    if self.skip_payer_edges && e.source == self.payer {
                        continue;
                    }
                    if self.any_blocked_edge && scratch.edge_block[id as usize] == request {
                        continue;
                    }
                    if self.any_blocked_node && self.node_blocked(scratch, e.source) {
                        continue;
                    }
                    let (used, inflight, bounds) =
                        if any_used && scratch.edge_used[id as usize] == request {
                            let key = e.direction() == 0;
                            (
                                self.used_msat(e.scid, key),
                                self.inflight_msat(e.scid, key),
                                self.req.learned.and_then(|l| l.bounds(e.scid, key)),
                            )
                        } else {
                            (0, 0, None)
                        };
                    let mut cap = e.total_msat(saturation);
                    if let Some((lo, hi)) = bounds {
                        // Known liquidity may go past the saturation preference; a failure's
                        // upper bound halves what is tried.
                        cap = learned_cap_msat(cap, e.total_msat(0), (lo, hi), inflight);
                    }
                    // Each part at most `htlc_maximum_msat`; all parts at most the capacity.
                    let max = cap.saturating_sub(used).min(e.htlc_max_msat);
                    let hop = Candidate {
                        id,
                        edge: e,
                        max_msat: max,
                        public: true,
                        loaded_msat: used + inflight,
                        bounds,
                    };
                    self.relax(scratch, run, &at, &hop, unit, max_amount);
                }
            }
            if scratch.node_extra[v as usize] == request {
                for (k, x) in self.extras.iter().enumerate() {
                    if x.target != v || scratch.mark[x.source as usize] == settled {
                        continue;
                    }
                    let id = self.edge_count + k as u32;
                    let h = self.hop(id, saturation);
                    let used = self.used_msat(h.scid, h.dir_key);
                    let inflight = if h.public { self.inflight_msat(h.scid, h.dir_key) } else { 0 };
                    let rec = Edge { source: x.source, ..h.rec };
                    let hop = Candidate {
                        id,
                        edge: &rec,
                        max_msat: h.max_msat.saturating_sub(used).min(h.per_part_msat),
                        public: h.public,
                        loaded_msat: used + inflight,
                        bounds: None,
                    };
                    self.relax(scratch, run, &at, &hop, unit, max_amount);
                }
            }
        }
        None
    }

    /// Offers the hop `c.edge` into the settled node `at` to its source.
    #[inline(always)]
    fn relax(
        &self,
        scratch: &mut Scratch,
        run: u32,
        at: &Settled,
        c: &Candidate<'_>,
        unit: u64,
        max_amount: u64,
    ) {
        let e = c.edge;
        let u = e.source;
        let from_payer = scratch.from_payer[u as usize];
        if from_payer == UNREACHABLE {
            return;
        }
        let amount = at.state.amount_msat;
        if amount > c.max_msat || amount < e.htlc_min_msat {
            return;
        }
        let cltv = u32::from(at.state.cltv) + u32::from(e.cltv_delta);
        if cltv > self.cltv_limit {
            return;
        }
        let hop_fee = match fee_msat(amount, e.fee_base_msat, e.fee_ppm) {
            Some(f) => f,
            None => return,
        };
        let paid = if u == self.payer { 0 } else { hop_fee };
        let amount_in = match amount.checked_add(paid) {
            Some(a) if a <= max_amount => a,
            _ => return,
        };
        let queued = scratch.mark[u as usize] == run;
        // Before pricing the hop: can it beat the label the source already has?
        let floor = at.cost.saturating_add(paid).saturating_add(if c.public { unit } else { 0 });
        if queued && floor >= scratch.cost[u as usize] {
            return;
        }
        let mut penalty = risk_cost_msat(amount, e.cltv_delta, self.riskfactor);
        if c.public {
            let anti_probing =
                e.flags & EDGE_CAPACITY_KNOWN != 0 && e.htlc_max_msat >= e.capacity_msat / 2;
            penalty = penalty.saturating_add(match c.bounds {
                Some((lo, hi)) => learned_hop_penalty_msat(
                    amount,
                    c.loaded_msat,
                    e.capacity_msat,
                    anti_probing,
                    (lo, hi),
                ),
                None => {
                    public_hop_penalty_msat(amount, c.loaded_msat, e.capacity_msat, anti_probing)
                }
            });
        }
        if self.randomize {
            let direction = if c.id < self.edge_count {
                e.direction()
            } else {
                u8::from(!self.extras[(c.id - self.edge_count) as usize].dir_key)
            };
            penalty = penalty.saturating_add(random_penalty_msat(
                self.mixed_seed,
                e.scid,
                direction,
                hop_fee.saturating_add(penalty),
            ));
        }
        let new_cost = at.cost.saturating_add(paid).saturating_add(penalty);
        if queued && new_cost >= scratch.cost[u as usize] {
            return;
        }
        scratch.mark[u as usize] = run;
        scratch.cost[u as usize] = new_cost;
        scratch.state[u as usize] = NodeState {
            amount_msat: amount_in,
            hop: c.id,
            next: at.node,
            cltv: cltv as u16,
            hops: at.state.hops + 1,
        };
        let key = new_cost.saturating_add(u64::from(from_payer) * unit);
        if queued {
            scratch.heap.decrease(key, u);
        } else {
            scratch.heap.push(key, u);
        }
    }
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

/// Builds LDK's paths from the parts: hop `i`'s `fee_msat` is what hop `i + 1` charges (the
/// last hop's is the value), its `cltv_expiry_delta` hop `i + 1`'s delta (the last hop's the
/// final CLTV delta), exactly as LDK's `get_route` fills them.
fn build_paths(ctx: &Ctx<'_>, parts: Vec<Part>, final_cltv: u32) -> Result<Vec<Path>, SearchError> {
    let view = ctx.view;
    let first_hops = ctx.req.first_hops.unwrap_or(&[]);
    let mut paths = Vec::with_capacity(parts.len());
    for part in parts {
        let hops: Vec<HopRef> = part.hops.iter().map(|&id| ctx.hop(id, 0)).collect();
        let amounts = ctx.amounts(&part.hops, part.value_msat);
        let mut route_hops = Vec::with_capacity(hops.len());
        for (i, &id) in part.hops.iter().enumerate() {
            let h = &hops[i];
            let (target, kind) = if id < ctx.edge_count {
                (view.edge_target(id as usize), None)
            } else {
                let x = &ctx.extras[(id - ctx.edge_count) as usize];
                (x.target, Some(x.kind))
            };
            let target_id = node_id_of(view, &ctx.extra_nodes, target);
            let pubkey = PublicKey::from_slice(target_id.as_slice())
                .map_err(|_| SearchError::Failed("A PublicKey in NetworkGraph is invalid!"))?;
            let (node_features, channel_features, maybe_announced) = match kind {
                Some(ExtraKind::FirstHop(fi)) => {
                    let d = first_hops[fi];
                    (
                        d.counterparty.features.to_context::<_>(),
                        d.counterparty.features.to_context::<_>(),
                        d.is_announced,
                    )
                }
                Some(ExtraKind::Private) => {
                    let source = ctx.hop_source(id);
                    let announced = target < ctx.n
                        && source < ctx.n
                        && view
                            .node_channels(target)
                            .iter()
                            .any(|&c| view.directed_from(c, source).is_some());
                    (graph_node_features(view, ctx.n, target), ChannelFeatures::empty(), announced)
                }
                Some(ExtraKind::Public(c)) => (
                    graph_node_features(view, ctx.n, target),
                    view.channel_features(c).clone(),
                    true,
                ),
                None => (
                    graph_node_features(view, ctx.n, target),
                    view.channel_features(view.edge_channel(&h.rec)).clone(),
                    true,
                ),
            };
            let last = i + 1 == hops.len();
            let (fee, cltv) = if last {
                (part.value_msat, final_cltv)
            } else {
                let next = &hops[i + 1];
                let fee = fee_msat(amounts[i + 1], next.rec.fee_base_msat, next.rec.fee_ppm)
                    .ok_or(SearchError::Failed(ERR_NO_PATH))?;
                (fee, u32::from(next.rec.cltv_delta))
            };
            route_hops.push(RouteHop {
                pubkey,
                node_features,
                short_channel_id: h.scid,
                channel_features,
                fee_msat: fee,
                cltv_expiry_delta: cltv,
                maybe_announced_channel: maybe_announced,
            });
        }
        paths.push(Path { hops: route_hops, blinded_tail: None });
    }
    Ok(paths)
}

impl Ctx<'_> {
    fn hop_source(&self, id: HopId) -> u32 {
        if id < self.edge_count {
            self.view.edge(id as usize).source
        } else {
            self.extras[(id - self.edge_count) as usize].source
        }
    }
}

fn graph_node_features(view: &GraphView, n: u32, i: u32) -> NodeFeatures {
    if i < n {
        view.node_features(i).clone()
    } else {
        default_node_features()
    }
}
