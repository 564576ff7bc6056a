//! boltd's own route finding: a compact view of the public graph and a fast search over it,
//! used by [`router::PolicyRouter`] for every BOLT11 and keysend route (payments, LDK's
//! retries, the payment engine's pre-flight and fee quotes).
//!
//! The crate depends on LDK, not on the rest of boltd, so the search can be tested and
//! benchmarked alone (`boltd-bench`). Its modules, each depending only on those listed before
//! it: [`policy`] (the payment policy: Core Lightning's `pay` options, [`policy::PaymentPolicy`],
//! exclusions, risk cost, fee limit), [`cost`], [`learned`], [`view`], [`shadow`], [`search`]
//! and this root ([`RoutingEngine`], [`GossipWatch`]), [`scorer`] (the policy as an LDK scorer), and
//! [`router`] (the channel manager's [`lightning::routing::router::Router`]). [`logger`] (LDK's
//! log records to `tracing`) and [`types`] (the concrete graph and scorer) depend on nothing
//! here; they are what the node's router type is made of, and the node re-exports them.
//!
//! # The view ([`GraphView`])
//!
//! LDK's [`NetworkGraph`] keeps every announcement in hash maps keyed by node id and short
//! channel id (about 135–140 MiB for the mainnet snapshots of issue 6). The view keeps what
//! routing reads in flat arrays: nodes interned to `u32` (sorted by node id), and the routable
//! channel directions in compressed rows grouped by target node (source, short channel id,
//! fees, CLTV delta, HTLC minimum and maximum, capacity: 48 bytes each), plus interned features
//! and what the shadow CLTV offset walks; about 6 MiB for the same graphs
//! ([`GraphView::heap_bytes`]; B4 in `bench/results/`).
//!
//! **Freshness.** [`RoutingEngine`] holds the current view behind an [`Arc`] and counts graph
//! changes ([`RoutingEngine::graph_changed`]): every gossip message LDK accepts
//! ([`GossipWatch`] wraps the gossip handler), every payment failure that carried a channel
//! update (the node's event handler), and a periodic check of the graph's size (LDK's pruning).
//! A background thread ([`RoutingEngine::run_refresher`]) rebuilds the view from LDK's graph
//! when it is behind, at most once per 100 build times (so rebuilding costs at most about 1 % of
//! a core), and swaps the [`Arc`]: a search never waits for a rebuild, it uses the view it took.
//! On a small graph (at most [`SYNC_REBUILD_MAX_CHANNELS`] channels: regtest, a fresh node) a
//! search that finds the view behind rebuilds it first, which takes well under a millisecond,
//! so a route always reflects the latest gossip there.
//!
//! **Persistence.** [`GraphView::to_bytes`] / [`GraphView::from_bytes`] (checked, never
//! panicking on bad bytes). The node stores the view in its key-value store after rebuilds (at
//! most every [`PERSIST_INTERVAL`]) and at shutdown, and starts from it: routing is ready before
//! the view is rebuilt from LDK's graph in the background.
//!
//! # The search ([`search::find_route`])
//!
//! Dijkstra from the payee back to the payer, so that each hop's amount (the value plus the fees
//! of the hops after it) is known when the hop is priced. A hop costs:
//!
//! - its fee (hops out of the payer are free, as in LDK);
//! - Core Lightning's risk cost ([`policy::risk_cost_msat`], the policy's `riskfactor`);
//! - on public channels, LDK's default `ProbabilisticScorer` penalties for a channel it has no
//!   history for: a per-hop base penalty and a success-probability penalty from its
//!   no-history liquidity prior, counting what is already in flight on the channel
//!   ([`cost`]);
//! - the route randomization of the policy ([`cost::random_penalty_msat`], the same bounded,
//!   seeded penalty as the LDK-based policy scorer);
//! - exclusions (directional channels, nodes) and LDK's previously failed channels: never used.
//!
//! **A\*.** Every public hop not out of the payer costs at least LDK's base penalty plus the
//! probability penalty at amount 0 ([`search`]'s `min_hop_penalty_msat`), so the number of such
//! hops from the payer to a node (a 0-1 breadth-first walk, counting our own hops, first hops
//! and hint hops as 0) times that amount is a consistent lower bound of what reaching the node
//! from the payer costs. The search orders nodes by cost plus that bound: it settles a few
//! hundred nodes instead of the whole core, finds the same route, and never enters a node the
//! payer cannot reach. The walk depends only on the view, the payer and the extra hops, so it
//! is kept across searches (our node is always the payer). Before pricing a hop, a cheap lower
//! bound of its cost skips hops that cannot improve the source's label; labels are split into
//! a hot part (mark, cost) and a cold one, and the queue is an indexed 4-ary heap.
//!
//! Hard limits, as LDK's `find_route` applies them: the total fee
//! (`max_total_routing_fee_msat`; a hop whose path would exceed it is never used, so
//! randomization and penalties only rank routes within the limit), the total CLTV delta
//! (`max_total_cltv_expiry_delta` less the final delta, less 2 × 40 blocks of room for the shadow
//! offset when the limit allows), the path length, `htlc_minimum_msat` and `htlc_maximum_msat`,
//! and, for a single path, at most 1/2^`max_channel_saturation_power_of_half` of a channel's
//! capacity first (relaxed to the whole capacity when that finds nothing, as LDK does). With
//! `first_hops`, our
//! usable channels and their real outbound limits replace the graph's view of our channels;
//! route hints add the invoice's private last hops.
//!
//! **Multi-part.** When the payee supports MPP (invoice features, or its node announcement),
//! the payment is split: a path is searched for the whole remaining amount; when none can carry
//! it, for half of it, and so on down to LDK's minimum part (amount / `max_path_count`). A path
//! found for less than what remains is filled up to what its hops have left (within the fee
//! limit, leaving nothing or at least a minimum part). When the payer's and the payee's hops
//! show that no single path can carry the payment, no part carries more than half of it: a
//! part at a channel's limit (its capacity or `htlc_maximum_msat`) rarely gets through, two
//! halves much more often (B5). Each path reserves its liquidity on its
//! channels for the next searches and uses part of the fee limit. At most `max_path_count`
//! parts; parts over the same channels are merged. Quick bounds skip searches that cannot
//! succeed: the largest hop out of the payer and into the payee (one path), and the sum of
//! either side's hops (all paths together). When splitting, the saturation limit is not a
//! hard cap: LDK's is a preference too (it collects paths beyond it and keeps the cheapest per
//! msat, and its documentation leaves the choice to the scorer); here the success-probability
//! penalty prices the share of a channel a part takes, which gives lower fees and fewer parts
//! at the same success probability under LDK's prior (B1).
//!
//! The route is an LDK [`Route`]: hops with the node and
//! channel features of the graph (or of the first hop's peer), fees and CLTV deltas filled as
//! LDK's `get_route` fills them, and LDK's shadow CLTV offset ([`shadow`]), so that the same
//! random bytes give the same offset as LDK.
//!
//! # What is left to LDK
//!
//! [`router::PolicyRouter`] uses LDK's `find_route` (with the policy scorer) for blinded
//! payees (BOLT12 invoices: their paths start at introduction points this router does not
//! model). A search this router answers with "no route" is **not** retried with LDK: on the
//! benchmark graphs LDK finds no route there either (see the B1 report), and a second, slower
//! search would only delay the failure. Differences from LDK's search: no overpaying to meet a
//! downstream `htlc_minimum_msat` (such hops are skipped); a channel's `htlc_maximum_msat`
//! bounds each part, not all parts together (LDK counts it against their sum: several parts
//! may cross a channel with a small maximum, up to its capacity); and the live scorer's learned
//! liquidity is not read (in-flight HTLCs lower the success probability). What it reads
//! instead are [`LiquidityBounds`] ([`learned`]: per channel direction, bounds learned from
//! failures and successes, given to [`router::PolicyRouter::set_liquidity_bounds`] and fed by
//! [`router::PolicyRouter::learn_from_path`], which the node calls for LDK's
//! `PaymentPathFailed` / `PaymentPathSuccessful`): the success probability is conditioned on
//! them, after a failure a path sends at most the middle of what is still possible over the
//! channel ([`learned::learned_cap_msat`]), and a previously failed channel with bounds is
//! capped by them instead of banned. They never make a payment unroutable: when the search
//! with them finds no route, [`router::PolicyRouter`] searches again trusting more of what is
//! still possible (three quarters, then fifteen sixteenths: [`learned::LearnedCap`]; never the
//! amount that failed), then without them (a bound may be stale, or its failure not one of
//! liquidity: a peer away fails the same way). B5 (`bench_success` in `boltd-bench`) measures
//! them.

#![deny(missing_docs)]

pub mod cost;
pub mod learned;
pub mod logger;
pub mod offered;
pub mod policy;
pub mod router;
pub mod scorer;
pub mod search;
pub mod shadow;
pub mod types;
pub mod view;

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, Init, LightningError, MessageSendEvent,
    NodeAnnouncement, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd, RoutingMessageHandler,
};
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::routing::router::Route;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::logger::Logger;

pub use learned::{HopAmount, LearnedCap, LiquidityBounds};
pub use search::{InFlight, Request, SearchError};
pub use view::GraphView;

/// Graphs with at most this many channels are rebuilt by the search itself when behind.
pub const SYNC_REBUILD_MAX_CHANNELS: usize = 5_000;
/// The refresher checks the graph's size (LDK prunes without telling) this often.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// A view older than this is rebuilt even when no change was counted.
pub const MAX_VIEW_AGE: Duration = Duration::from_secs(600);
/// The refresher hands a rebuilt view to be persisted at most this often.
pub const PERSIST_INTERVAL: Duration = Duration::from_secs(600);
/// The least time between two background rebuilds.
pub const MIN_REBUILD_INTERVAL: Duration = Duration::from_millis(200);
/// The most time between two background rebuilds while changes keep coming.
pub const MAX_REBUILD_INTERVAL: Duration = Duration::from_secs(10);

struct Current {
    view: Arc<GraphView>,
    built: Instant,
}

/// The current view, its freshness, and reusable search buffers (see the
/// [module documentation](self)).
pub struct RoutingEngine {
    current: Mutex<Current>,
    /// Changes counted so far; a view built at generation g is fresh while this is g.
    generation: AtomicU64,
    wake: Condvar,
    wake_flag: Mutex<bool>,
    scratch: Mutex<Vec<search::Scratch>>,
}

impl Default for RoutingEngine {
    fn default() -> Self {
        Self::new(GraphView::empty())
    }
}

impl RoutingEngine {
    /// An engine starting from `view`. The graph is taken to have changed since (the view's
    /// generation is behind), so the first search or the refresher rebuilds it.
    pub fn new(view: GraphView) -> Self {
        let generation = view.generation + 1;
        Self {
            current: Mutex::new(Current { view: Arc::new(view), built: Instant::now() }),
            generation: AtomicU64::new(generation),
            wake: Condvar::new(),
            wake_flag: Mutex::new(false),
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// An engine with a view built from `graph` now.
    pub fn from_graph<L: Deref>(graph: &NetworkGraph<L>) -> Self
    where
        L::Target: Logger,
    {
        let engine = Self::new(GraphView::empty());
        engine.rebuild(graph);
        engine
    }

    /// Records that LDK's graph changed, and wakes the refresher.
    pub fn graph_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.wake_refresher();
    }

    fn wake_refresher(&self) {
        *self.wake_flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// The number of graph changes counted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current view.
    pub fn view(&self) -> Arc<GraphView> {
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()).view)
    }

    /// Whether the current view reflects every change counted.
    pub fn is_fresh(&self) -> bool {
        self.view().generation == self.generation()
    }

    /// Installs `view` unless a newer one is already there.
    pub fn install(&self, view: GraphView) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if view.generation >= cur.view.generation {
            cur.view = Arc::new(view);
            cur.built = Instant::now();
        }
    }

    /// Rebuilds the view from `graph` and installs it; returns how long the build took.
    pub fn rebuild<L: Deref>(&self, graph: &NetworkGraph<L>) -> Duration
    where
        L::Target: Logger,
    {
        // Read the generation first: a change during the build leaves the view behind.
        let generation = self.generation();
        let t = Instant::now();
        let view = GraphView::from_graph(&graph.read_only(), generation);
        let took = t.elapsed();
        self.install(view);
        took
    }

    /// The view to search: the current one, rebuilt first when it is behind and the graph is
    /// small; otherwise the refresher is woken and the search uses the current view.
    pub fn view_for_search<L: Deref>(&self, graph: &NetworkGraph<L>) -> Arc<GraphView>
    where
        L::Target: Logger,
    {
        let view = self.view();
        if view.generation == self.generation() {
            return view;
        }
        if view.channel_count() <= SYNC_REBUILD_MAX_CHANNELS
            && graph.read_only().channels().len() <= SYNC_REBUILD_MAX_CHANNELS
        {
            self.rebuild(graph);
            return self.view();
        }
        self.wake_refresher();
        view
    }

    /// Runs one search over `view` with pooled buffers (which keep what depends only on the
    /// view and the payer, such as the A* bound, across searches).
    pub fn find_route(
        &self,
        view: &Arc<GraphView>,
        req: &Request<'_>,
    ) -> Result<Route, SearchError> {
        let mut scratch =
            self.scratch.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        scratch.own(view);
        let r = search::find_route(view, &mut scratch, req);
        self.scratch.lock().unwrap_or_else(|e| e.into_inner()).push(scratch);
        r
    }

    /// Keeps the view fresh until `stop` is set (then call [`RoutingEngine::stop_refresher`]):
    /// rebuilds from `graph` when changes were counted (at most once per 100 build times, between
    /// [`MIN_REBUILD_INTERVAL`] and [`MAX_REBUILD_INTERVAL`]), when the graph's size changed
    /// (checked every [`CHECK_INTERVAL`]) or the view is older than [`MAX_VIEW_AGE`]; hands
    /// rebuilt views to `persist` at most every [`PERSIST_INTERVAL`]. Run it on its own thread.
    pub fn run_refresher<L: Deref>(
        &self,
        graph: &NetworkGraph<L>,
        stop: &AtomicBool,
        mut persist: impl FnMut(&GraphView),
    ) where
        L::Target: Logger,
    {
        let mut last_build = Duration::from_millis(1);
        let mut last_rebuild: Option<Instant> = None;
        let mut last_persist: Option<Instant> = None;
        let size = |g: &NetworkGraph<L>| {
            let ro = g.read_only();
            (ro.channels().len(), ro.nodes().len())
        };
        let mut last_size = size(graph);
        let mut last_check = Instant::now();
        loop {
            if stop.load(Ordering::Acquire) {
                break;
            }
            if last_check.elapsed() >= CHECK_INTERVAL {
                last_check = Instant::now();
                let now_size = size(graph);
                let age = self.current.lock().unwrap_or_else(|e| e.into_inner()).built.elapsed();
                if now_size != last_size || age >= MAX_VIEW_AGE {
                    last_size = now_size;
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
            }
            if self.is_fresh() {
                self.sleep(CHECK_INTERVAL);
                continue;
            }
            // Pace rebuilds by their cost.
            let spacing = (last_build * 100).clamp(MIN_REBUILD_INTERVAL, MAX_REBUILD_INTERVAL);
            if let Some(wait) = last_rebuild.map(|t| spacing.saturating_sub(t.elapsed())) {
                if !wait.is_zero() {
                    self.sleep(wait);
                    continue;
                }
            }
            last_build = self.rebuild(graph);
            last_rebuild = Some(Instant::now());
            tracing::debug!(build_ms = last_build.as_secs_f64() * 1e3, "routing view rebuilt");
            if last_persist.is_none_or(|t| t.elapsed() >= PERSIST_INTERVAL) {
                persist(&self.view());
                last_persist = Some(Instant::now());
            }
        }
    }

    /// Sleeps up to `timeout`, or until woken (a counted change, or a stop).
    fn sleep(&self, timeout: Duration) {
        let flag = self.wake_flag.lock().unwrap_or_else(|e| e.into_inner());
        let (mut flag, _) = self
            .wake
            .wait_timeout_while(flag, timeout, |woken| !*woken)
            .unwrap_or_else(|e| e.into_inner());
        *flag = false;
    }

    /// Wakes a refresher so that it sees its `stop` flag.
    pub fn stop_refresher(&self) {
        self.wake_refresher();
    }
}

/// Wraps LDK's gossip handler and counts every gossip message it accepts as a graph change
/// ([`RoutingEngine::graph_changed`]). Everything else is passed through unchanged.
pub struct GossipWatch<R: Deref>
where
    R::Target: RoutingMessageHandler,
{
    inner: R,
    engine: Arc<RoutingEngine>,
}

impl<R: Deref> GossipWatch<R>
where
    R::Target: RoutingMessageHandler,
{
    /// Watches `inner` for `engine`.
    pub fn new(inner: R, engine: Arc<RoutingEngine>) -> Self {
        Self { inner, engine }
    }

    fn counted<T>(&self, r: Result<T, LightningError>) -> Result<T, LightningError> {
        if r.is_ok() {
            self.engine.graph_changed();
        }
        r
    }
}

impl<R: Deref> BaseMessageHandler for GossipWatch<R>
where
    R::Target: RoutingMessageHandler,
{
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        self.inner.get_and_clear_pending_msg_events()
    }
    fn peer_disconnected(&self, their_node_id: PublicKey) {
        self.inner.peer_disconnected(their_node_id)
    }
    fn provided_node_features(&self) -> NodeFeatures {
        self.inner.provided_node_features()
    }
    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        self.inner.provided_init_features(their_node_id)
    }
    fn peer_connected(
        &self,
        their_node_id: PublicKey,
        msg: &Init,
        inbound: bool,
    ) -> Result<(), ()> {
        self.inner.peer_connected(their_node_id, msg, inbound)
    }
}

impl<R: Deref> RoutingMessageHandler for GossipWatch<R>
where
    R::Target: RoutingMessageHandler,
{
    fn handle_node_announcement(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &NodeAnnouncement,
    ) -> Result<bool, LightningError> {
        self.counted(self.inner.handle_node_announcement(their_node_id, msg))
    }
    fn handle_channel_announcement(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &ChannelAnnouncement,
    ) -> Result<bool, LightningError> {
        self.counted(self.inner.handle_channel_announcement(their_node_id, msg))
    }
    fn handle_channel_update(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &ChannelUpdate,
    ) -> Result<bool, LightningError> {
        self.counted(self.inner.handle_channel_update(their_node_id, msg))
    }
    fn get_next_channel_announcement(
        &self,
        starting_point: u64,
    ) -> Option<(ChannelAnnouncement, Option<ChannelUpdate>, Option<ChannelUpdate>)> {
        self.inner.get_next_channel_announcement(starting_point)
    }
    fn get_next_node_announcement(
        &self,
        starting_point: Option<&NodeId>,
    ) -> Option<NodeAnnouncement> {
        self.inner.get_next_node_announcement(starting_point)
    }
    fn handle_reply_channel_range(
        &self,
        their_node_id: PublicKey,
        msg: ReplyChannelRange,
    ) -> Result<(), LightningError> {
        self.inner.handle_reply_channel_range(their_node_id, msg)
    }
    fn handle_reply_short_channel_ids_end(
        &self,
        their_node_id: PublicKey,
        msg: ReplyShortChannelIdsEnd,
    ) -> Result<(), LightningError> {
        self.inner.handle_reply_short_channel_ids_end(their_node_id, msg)
    }
    fn handle_query_channel_range(
        &self,
        their_node_id: PublicKey,
        msg: QueryChannelRange,
    ) -> Result<(), LightningError> {
        self.inner.handle_query_channel_range(their_node_id, msg)
    }
    fn handle_query_short_channel_ids(
        &self,
        their_node_id: PublicKey,
        msg: QueryShortChannelIds,
    ) -> Result<(), LightningError> {
        self.inner.handle_query_short_channel_ids(their_node_id, msg)
    }
    fn processing_queue_high(&self) -> bool {
        self.inner.processing_queue_high()
    }
}

#[cfg(test)]
mod tests;
