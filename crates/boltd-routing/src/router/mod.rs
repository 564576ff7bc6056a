//! Per-payment routing policy: Core Lightning's `pay` routing contract on boltd's route search.
//!
//! [`PolicyRouter`] is a drop-in [`Router`] for the channel manager. Each route search runs with
//! the [`PaymentPolicy`] registered for the payment's [`PaymentId`] ([`PolicyRouter::set_policy`]),
//! or [`PaymentPolicy::default`] when none is registered, on boltd's own search over its compact
//! graph view ([`RoutingEngine`], [`crate::search`]: the same limits, shadow offset and route
//! shape as LDK's `find_route`, several times faster). Blinded payees (BOLT12 invoices) are
//! routed by LDK's `find_route` with a [`PolicyScorer`] (in [`crate::scorer`]) over LDK's
//! [`ProbabilisticScorer`](lightning::routing::scoring::ProbabilisticScorer) instead
//! ([`PolicyRouter::find_route_ldk`]); both apply the policy the same way.
//!
//! # How Core Lightning's `pay` options are enforced
//!
//! | `pay` option | here | enforced by |
//! |---|---|---|
//! | `riskfactor` (default 10) | [`PaymentPolicy::riskfactor`] | the search adds [`risk_cost_msat`] per hop (LDK: [`PolicyScorer`]) |
//! | `maxfeepercent`, `exemptfee`, `maxfee` | [`fee_limit_msat`] → `RouteParametersConfig::max_total_routing_fee_msat` (or [`RouteParameters::max_total_routing_fee_msat`]) | the search: hard bound over all parts |
//! | `maxdelay` | `RouteParametersConfig::max_total_cltv_expiry_delta` / [`PaymentParameters::max_total_cltv_expiry_delta`](lightning::routing::router::PaymentParameters::max_total_cltv_expiry_delta) | the search: hard bound, route and shadow offset |
//! | `exclude` | [`parse_exclusion`] → [`PaymentPolicy::exclude_channels`], [`PaymentPolicy::exclude_nodes`] | the search never uses them (LDK: [`PolicyScorer`], penalty `u64::MAX`) |
//! | route randomization | [`PaymentPolicy::randomize`], [`PaymentPolicy::seed`] | bounded pseudo-random penalty per hop, the same function in both ([`crate::cost::random_penalty_msat`]) |
//! | shadow route | always on | LDK's `add_random_cltv_offset`, reproduced exactly ([`crate::shadow`]) |
//!
//! The paragraphs below describe LDK's `find_route`; boltd's search applies the same rules (see
//! the [crate documentation](crate)).
//!
//! **Fee limit.** LDK ignores every candidate hop whose path fee would exceed
//! `max_total_routing_fee_msat` while searching and re-checks the finished route
//! (`"Failed to find route that adheres to the maximum total fee limit"`). Penalties (risk,
//! randomization) only rank the routes that are within the limit, so route randomization can never
//! exceed `maxfeepercent` / `maxfee`.
//!
//! **Delay limit (`maxdelay`) and the shadow route.** LDK's `find_route` calls `get_route`, which
//! ignores candidates whose cumulative CLTV delta would exceed `max_total_cltv_expiry_delta` less
//! the final CLTV delta (less a further 2 × 40 blocks of headroom for the shadow offset when the
//! bound allows), then `add_random_cltv_offset`: a 1–3 hop random walk through the public graph
//! from the path's last public node sums the walked channels' CLTV deltas (40 per hop when
//! unknown), caps the sum at 3 × 144 blocks *and* at `max_total_cltv_expiry_delta` minus the
//! path's total CLTV delta (rounded down to a multiple of 40), and adds it to the final hop. So the
//! route and its shadow offset together never exceed `maxdelay`. Two differences from Core
//! Lightning: LDK's shadow route adds delay only, no shadow fees; LDK's default
//! `max_total_cltv_expiry_delta` is 1008 blocks where Core Lightning's `maxdelay` defaults to
//! 2016, so the payment engine should set it explicitly.
//!
//! **Exclusions are directional.** `PaymentParameters::previously_failed_channels` bans a short
//! channel id in both directions (and LDK fills it on retries), so `exclude` is implemented in the
//! scorer instead, where the hop's direction is known. Direction follows BOLT 7: direction 0 is
//! from the node with the lexicographically lesser node id (`node_one` in LDK's graph) to the
//! other ([`channel_direction`]). A first hop is matched by its real short channel id and by its
//! outbound alias.
//!
//! **The payer and the payee cannot be excluded.** Excluding the payer is ignored. Excluding the
//! destination is an error, not a routing constraint: the payment engine should check
//! [`PaymentPolicy::excludes_node`] for the payee before paying and refuse with a clear message;
//! [`PolicyRouter`] also refuses such a search early
//! (`"the payment policy excludes the destination node"`) rather than searching in vain, while
//! [`PolicyScorer`] itself never penalizes hops into the destination.
//!
//! **Lifetime of a policy.** Register it with [`PolicyRouter::set_policy`] before handing the
//! payment to the channel manager with the same [`PaymentId`]; LDK's retries of that payment call
//! [`Router::find_route_with_id`] with the same id and reuse it. Remove it with
//! [`PolicyRouter::clear_policy`] when the payment is final (`PaymentSent` / `PaymentFailed`).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::router::{
    self as ldk_router, DefaultRouter, InFlightHtlcs, Payee, Route, RouteParameters, Router,
    ScorerAccountingForInFlightHtlcs,
};
use lightning::routing::scoring::{LockableScore, ProbabilisticScoringFeeParameters, ScoreLookUp};
use lightning::sign::{EntropySource, KeysManager};
use lightning::types::payment::PaymentHash;
use lightning::util::logger::Logger;

use crate::learned::{LearnedCap, LiquidityBounds};
use crate::logger::LdkLogger;
use crate::policy::PaymentPolicy;
#[cfg(doc)]
use crate::policy::{
    channel_direction, fee_limit_msat, parse_exclusion, risk_cost_msat, RANDOM_PENALTY_BASE_MSAT,
    RANDOM_PENALTY_PERCENT,
};
use crate::scorer::PolicyScorer;
use crate::search::{InFlight, Request, SearchError};
use crate::types::{Graph, Scorer};
use crate::RoutingEngine;

/// Error returned by [`PolicyRouter`] when the policy excludes the payment's destination.
pub const ERR_DESTINATION_EXCLUDED: &str = "the payment policy excludes the destination node";

/// LDK's [`DefaultRouter`] with a [`PaymentPolicy`] per payment (see the
/// [module documentation](self)). Blinded receive paths are created by an inner
/// [`DefaultRouter`] over the same graph, entropy source and scorer.
pub struct PolicyRouter<G, L, ES, S, SP, Sc>
where
    G: Deref<Target = NetworkGraph<L>> + Clone,
    L: Deref + Clone,
    L::Target: Logger,
    ES: Deref + Clone,
    ES::Target: EntropySource,
    S: Deref + Clone,
    S::Target: for<'a> LockableScore<'a, ScoreLookUp = Sc>,
    SP: Clone,
    Sc: ScoreLookUp<ScoreParams = SP>,
{
    network_graph: G,
    logger: L,
    entropy_source: ES,
    scorer: S,
    score_params: SP,
    inner: DefaultRouter<G, L, ES, S, SP, Sc>,
    engine: Arc<RoutingEngine>,
    policies: Mutex<HashMap<PaymentId, PaymentPolicy>>,
    /// Paths handed to LDK per payment with a policy (Core Lightning's `parts`: attempts).
    parts: Mutex<HashMap<PaymentId, u32>>,
    /// Liquidity bounds learned from payments, read by boltd's search when set.
    learned: Mutex<Option<Arc<RwLock<LiquidityBounds>>>>,
    /// Routes the engine found just before handing a payment over (see [`crate::offered`]).
    offered: crate::offered::OfferedRoutes,
}

/// [`PolicyRouter`] over boltd's graph, logger, keys manager and scorer (see [`crate::types`]).
pub type NodeRouter = PolicyRouter<
    Arc<Graph>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;

impl<G, L, ES, S, SP, Sc> PolicyRouter<G, L, ES, S, SP, Sc>
where
    G: Deref<Target = NetworkGraph<L>> + Clone,
    L: Deref + Clone,
    L::Target: Logger,
    ES: Deref + Clone,
    ES::Target: EntropySource,
    S: Deref + Clone,
    S::Target: for<'a> LockableScore<'a, ScoreLookUp = Sc>,
    SP: Clone,
    Sc: ScoreLookUp<ScoreParams = SP>,
{
    /// Creates a router; the arguments are those of [`DefaultRouter::new`]. Its
    /// [`RoutingEngine`] is built from the graph now; without a refresher
    /// ([`RoutingEngine::run_refresher`]) only small graphs follow later changes (see
    /// the [crate documentation](crate)), so the node uses [`PolicyRouter::with_engine`].
    pub fn new(
        network_graph: G,
        logger: L,
        entropy_source: ES,
        scorer: S,
        score_params: SP,
    ) -> Self {
        let engine = Arc::new(RoutingEngine::from_graph(&*network_graph));
        Self::with_engine(network_graph, logger, entropy_source, scorer, score_params, engine)
    }

    /// Creates a router that routes with `engine` (kept fresh by the caller).
    pub fn with_engine(
        network_graph: G,
        logger: L,
        entropy_source: ES,
        scorer: S,
        score_params: SP,
        engine: Arc<RoutingEngine>,
    ) -> Self {
        let inner = DefaultRouter::new(
            network_graph.clone(),
            logger.clone(),
            entropy_source.clone(),
            scorer.clone(),
            score_params.clone(),
        );
        Self {
            network_graph,
            logger,
            entropy_source,
            scorer,
            score_params,
            inner,
            engine,
            policies: Mutex::new(HashMap::new()),
            parts: Mutex::new(HashMap::new()),
            learned: Mutex::new(None),
            offered: Default::default(),
        }
    }

    /// Makes boltd's search read `bounds` (liquidity learned from payment failures and
    /// successes, [`crate::learned`]) on every search from now on; the caller feeds them
    /// ([`LiquidityBounds::path_failed`], [`LiquidityBounds::path_succeeded`]). `None` goes back
    /// to LDK's no-history prior. LDK's `find_route` (blinded payees) does not read them.
    pub fn set_liquidity_bounds(&self, bounds: Option<Arc<RwLock<LiquidityBounds>>>) {
        *self.learned.lock().unwrap_or_else(|e| e.into_inner()) = bounds;
    }

    /// Learns from a path of one of our payments (when bounds are set): it failed at the hop
    /// over `failed_scid` (the hops before it had their amounts, that one did not), or it
    /// reached the payee (`None`: every hop had its amount). The node calls it for LDK's
    /// `PaymentPathFailed` / `PaymentPathSuccessful`, as LDK's background processor feeds its
    /// scorer.
    pub fn learn_from_path(
        &self,
        payer: &PublicKey,
        path: &ldk_router::Path,
        failed_scid: Option<u64>,
    ) {
        let Some(learned) = self.learned.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let hops = crate::HopAmount::of_path(payer, path);
        let mut bounds = learned.write().unwrap_or_else(|e| e.into_inner());
        match failed_scid {
            // A channel that is not one of the path's teaches nothing about its hops.
            Some(scid) => {
                if let Some(i) = hops.iter().position(|h| h.scid == scid) {
                    bounds.path_failed(&hops, i);
                }
            }
            None => bounds.path_succeeded(&hops),
        }
    }

    /// Registers the policy for payment `id`, replacing any previous one. Every route search
    /// for that payment (the first attempt and LDK's retries) uses it until
    /// [`PolicyRouter::clear_policy`].
    pub fn set_policy(&self, id: PaymentId, policy: PaymentPolicy) {
        self.lock_policies().insert(id, policy);
    }

    /// Offers `route`, just found for payment `id` with its policy, as the answer to LDK's
    /// first search for it if it still fits then (see [`crate::offered`]).
    pub fn offer_route(&self, id: PaymentId, route: Route) {
        self.offered.offer(id, route);
    }

    /// How many offered routes answered LDK's first search, since the start.
    pub fn offered_routes_used(&self) -> u64 {
        self.offered.used()
    }

    /// Forgets the policy of payment `id` (no-op when there is none).
    pub fn clear_policy(&self, id: &PaymentId) {
        self.offered.forget(id);
        self.lock_policies().remove(id);
        self.parts.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// How many paths (parts, including retried ones) routes for payment `id` have had since
    /// its policy was set: Core Lightning's `parts` ("how many attempts this took").
    pub fn attempted_parts(&self, id: &PaymentId) -> u32 {
        self.parts.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied().unwrap_or(0)
    }

    /// The policy registered for payment `id`, if any.
    pub fn policy(&self, id: &PaymentId) -> Option<PaymentPolicy> {
        self.lock_policies().get(id).cloned()
    }

    fn lock_policies(&self) -> std::sync::MutexGuard<'_, HashMap<PaymentId, PaymentPolicy>> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The routing engine (boltd's own search and its view of the graph).
    pub fn engine(&self) -> &Arc<RoutingEngine> {
        &self.engine
    }

    /// Finds a route with an explicit policy, exactly as [`Router::find_route_with_id`] does
    /// with a registered one: boltd's search ([`crate::search`]) over the engine's view, with
    /// the policy's risk factor, exclusions and randomization, LDK's fee and CLTV limits and
    /// shadow CLTV offset. Blinded payees (BOLT12) go to LDK's `find_route` with a
    /// [`PolicyScorer`] ([`PolicyRouter::find_route_ldk`]). Fails early with
    /// [`ERR_DESTINATION_EXCLUDED`] when the policy excludes the destination.
    pub fn find_route_with_policy(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
        policy: &PaymentPolicy,
    ) -> Result<Route, &'static str> {
        if let Payee::Clear { node_id, .. } = &route_params.payment_params.payee {
            if policy.excludes_node(node_id) {
                return Err(ERR_DESTINATION_EXCLUDED);
            }
            let view = self.engine.view_for_search(&*self.network_graph);
            let inflight = InFlight::from_ldk(&inflight_htlcs);
            let learned = self.learned.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let learned_guard =
                learned.as_ref().map(|l| l.read().unwrap_or_else(|e| e.into_inner()));
            let mut request = Request {
                payer: *payer,
                route_params,
                first_hops,
                inflight: &inflight,
                policy,
                random_seed_bytes: self.entropy_source.get_secure_random_bytes(),
                learned: learned_guard.as_deref(),
                learned_cap: LearnedCap::Likely,
            };
            match self.engine.find_route(&view, &request) {
                Ok(route) => return Ok(route),
                Err(SearchError::Failed(e)) => {
                    // What was learned never makes a payment unroutable that the graph allows.
                    // First more of what the failures left possible (never the amount that
                    // failed: that fails again); then without the bounds (one may be stale, or
                    // its failure not one of liquidity: a peer away fails the same way), the
                    // channels that failed for this payment avoided as LDK does.
                    if request.learned.is_some_and(|l| !l.is_empty()) {
                        for cap in [LearnedCap::Hopeful, LearnedCap::Bold] {
                            request.learned_cap = cap;
                            if let Ok(route) = self.engine.find_route(&view, &request) {
                                return Ok(route);
                            }
                        }
                        request.learned = None;
                        if let Ok(route) = self.engine.find_route(&view, &request) {
                            return Ok(route);
                        }
                    }
                    return Err(e);
                }
                Err(SearchError::Unsupported(_)) => {}
            }
        }
        self.find_route_ldk(payer, route_params, first_hops, inflight_htlcs, policy)
    }

    /// The same search with LDK's [`find_route`](ldk_router::find_route) (fee and CLTV limits,
    /// shadow CLTV offset) and a [`PolicyScorer`] over the in-flight-aware, read-locked base
    /// scorer: what [`PolicyRouter::find_route_with_policy`] uses for blinded payees, kept
    /// public for comparisons. Fails early with [`ERR_DESTINATION_EXCLUDED`] when the policy
    /// excludes the destination.
    pub fn find_route_ldk(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
        policy: &PaymentPolicy,
    ) -> Result<Route, &'static str> {
        let payee = match &route_params.payment_params.payee {
            Payee::Clear { node_id, .. } => Some(*node_id),
            Payee::Blinded { .. } => None,
        };
        if let Some(payee) = &payee {
            if policy.excludes_node(payee) {
                return Err(ERR_DESTINATION_EXCLUDED);
            }
        }
        let random_seed_bytes = self.entropy_source.get_secure_random_bytes();
        let base = ScorerAccountingForInFlightHtlcs::new(self.scorer.read_lock(), &inflight_htlcs);
        let scorer = PolicyScorer::new(&base, policy, payer, payee.as_ref());
        ldk_router::find_route(
            payer,
            route_params,
            &self.network_graph,
            first_hops,
            &*self.logger,
            &scorer,
            &self.score_params,
            &random_seed_bytes,
        )
    }
}

impl<G, L, ES, S, SP, Sc> Router for PolicyRouter<G, L, ES, S, SP, Sc>
where
    G: Deref<Target = NetworkGraph<L>> + Clone,
    L: Deref + Clone,
    L::Target: Logger,
    ES: Deref + Clone,
    ES::Target: EntropySource,
    S: Deref + Clone,
    S::Target: for<'a> LockableScore<'a, ScoreLookUp = Sc>,
    SP: Clone,
    Sc: ScoreLookUp<ScoreParams = SP>,
{
    /// Routes with [`PaymentPolicy::default`] (no payment id to look a policy up by).
    fn find_route(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
    ) -> Result<Route, &'static str> {
        let policy = PaymentPolicy::default();
        self.find_route_with_policy(payer, route_params, first_hops, inflight_htlcs, &policy)
    }

    /// Routes with the policy registered for `payment_id`, or [`PaymentPolicy::default`].
    fn find_route_with_id(
        &self,
        payer: &PublicKey,
        route_params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
        inflight_htlcs: InFlightHtlcs,
        _payment_hash: PaymentHash,
        payment_id: PaymentId,
    ) -> Result<Route, &'static str> {
        let registered = self.policy(&payment_id);
        let has_policy = registered.is_some();
        let policy = registered.unwrap_or_default();
        let route = match self.offered.take(&payment_id, route_params, first_hops) {
            Some(route) => route,
            None => self.find_route_with_policy(
                payer,
                route_params,
                first_hops,
                inflight_htlcs,
                &policy,
            )?,
        };
        if has_policy {
            *self.parts.lock().unwrap_or_else(|e| e.into_inner()).entry(payment_id).or_insert(0) +=
                route.paths.len() as u32;
        }
        Ok(route)
    }

    fn create_blinded_payment_paths<T: secp256k1::Signing + secp256k1::Verification>(
        &self,
        recipient: PublicKey,
        first_hops: Vec<ChannelDetails>,
        tlvs: ReceiveTlvs,
        amount_msats: Option<u64>,
        secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedPaymentPath>, ()> {
        self.inner.create_blinded_payment_paths(recipient, first_hops, tlvs, amount_msats, secp_ctx)
    }
}

#[cfg(test)]
mod tests;
