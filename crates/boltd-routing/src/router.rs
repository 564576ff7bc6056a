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

use crate::learned::LiquidityBounds;
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
            let request = Request {
                payer: *payer,
                route_params,
                first_hops,
                inflight: &inflight,
                policy,
                random_seed_bytes: self.entropy_source.get_secure_random_bytes(),
                learned: learned_guard.as_deref(),
            };
            match self.engine.find_route(&view, &request) {
                Ok(route) => return Ok(route),
                Err(SearchError::Failed(e)) => return Err(e),
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
mod tests {
    use super::*;

    use std::collections::HashSet;
    use std::time::{SystemTime, UNIX_EPOCH};

    use bitcoin::constants::ChainHash;
    use bitcoin::secp256k1::SecretKey;
    use bitcoin::Network;
    use lightning::ln::msgs::UnsignedChannelUpdate;
    use lightning::routing::gossip::{EffectiveCapacity, NodeId};
    use lightning::routing::router::{CandidateRouteHop, PaymentParameters, PublicHopCandidate};
    use lightning::routing::scoring::{
        ChannelUsage, FixedPenaltyScorer, ProbabilisticScorer, ProbabilisticScoringDecayParameters,
    };
    use lightning::types::features::ChannelFeatures;

    use crate::policy::{
        channel_direction, parse_exclusion, risk_cost_msat, scid_from_str, scid_to_string,
        Exclusion, DEFAULT_RISKFACTOR, RANDOM_PENALTY_BASE_MSAT, RANDOM_PENALTY_PERCENT,
    };

    const AMOUNT_MSAT: u64 = 100_000_000; // 100 000 sat
    const FINAL_CLTV: u32 = 18;
    const CAPACITY_SAT: u64 = 1_000_000;

    fn key(i: u8) -> PublicKey {
        let secp = Secp256k1::new();
        PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[i; 32]).unwrap())
    }

    fn dir(from: &PublicKey, to: &PublicKey) -> u8 {
        channel_direction(&NodeId::from_pubkey(from), &NodeId::from_pubkey(to))
    }

    /// Payer P, destination D, and two routes P-B-D and P-C-D.
    struct Net {
        router: NodeRouter,
        p: PublicKey,
        b: PublicKey,
        c: PublicKey,
        d: PublicKey,
        pb: u64,
        bd: u64,
        pc: u64,
        cd: u64,
    }

    fn now() -> u32 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
    }

    fn add_channel(graph: &Graph, scid: u64, x: &PublicKey, y: &PublicKey) {
        let (x, y) = (NodeId::from_pubkey(x), NodeId::from_pubkey(y));
        let (one, two) = if x < y { (x, y) } else { (y, x) };
        graph
            .add_channel_from_partial_announcement(
                scid,
                Some(CAPACITY_SAT),
                now() as u64,
                ChannelFeatures::empty(),
                one,
                two,
            )
            .unwrap();
    }

    fn update(graph: &Graph, scid: u64, from: &PublicKey, to: &PublicKey, ppm: u32, cltv: u16) {
        graph
            .update_channel_unsigned(&UnsignedChannelUpdate {
                chain_hash: ChainHash::using_genesis_block(Network::Regtest),
                short_channel_id: scid,
                timestamp: now(),
                message_flags: 1,
                channel_flags: dir(from, to),
                cltv_expiry_delta: cltv,
                htlc_minimum_msat: 1,
                htlc_maximum_msat: CAPACITY_SAT * 1000,
                fee_base_msat: 0,
                fee_proportional_millionths: ppm,
                excess_data: Vec::new(),
            })
            .unwrap();
    }

    /// B charges `b_ppm` and needs `b_cltv` blocks towards D; C likewise. The payer's own
    /// channels are free with 40 blocks; every channel has both directions.
    fn net(b_ppm: u32, b_cltv: u16, c_ppm: u32, c_cltv: u16) -> Net {
        let logger = Arc::new(LdkLogger);
        let graph = Arc::new(Graph::new(Network::Regtest, Arc::clone(&logger)));
        let (p, b, c, d) = (key(1), key(2), key(3), key(4));
        let pb = scid_from_str("100x1x0").unwrap();
        let bd = scid_from_str("100x2x0").unwrap();
        let pc = scid_from_str("100x3x0").unwrap();
        let cd = scid_from_str("100x4x0").unwrap();
        for (scid, x, y) in [(pb, &p, &b), (bd, &b, &d), (pc, &p, &c), (cd, &c, &d)] {
            add_channel(&graph, scid, x, y);
        }
        update(&graph, pb, &p, &b, 0, 40);
        update(&graph, pb, &b, &p, 0, 40);
        update(&graph, pc, &p, &c, 0, 40);
        update(&graph, pc, &c, &p, 0, 40);
        update(&graph, bd, &b, &d, b_ppm, b_cltv);
        update(&graph, bd, &d, &b, 0, 40);
        update(&graph, cd, &c, &d, c_ppm, c_cltv);
        update(&graph, cd, &d, &c, 0, 40);
        let scorer = ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            Arc::clone(&graph),
            Arc::clone(&logger),
        );
        let keys = Arc::new(KeysManager::new(&[7; 32], 1, 2, true));
        let router = NodeRouter::new(
            graph,
            logger,
            keys,
            Arc::new(RwLock::new(scorer)),
            ProbabilisticScoringFeeParameters::default(),
        );
        Net { router, p, b, c, d, pb, bd, pc, cd }
    }

    impl Net {
        fn params(&self, max_fee_msat: u64) -> RouteParameters {
            let mut params = RouteParameters::from_payment_params_and_value(
                PaymentParameters::from_node_id(self.d, FINAL_CLTV),
                AMOUNT_MSAT,
            );
            params.max_total_routing_fee_msat = Some(max_fee_msat);
            params
        }

        fn route(&self, policy: PaymentPolicy, params: &RouteParameters) -> Result<Route, &str> {
            let id = PaymentId([9; 32]);
            self.router.set_policy(id, policy);
            let r = self.router.find_route_with_id(
                &self.p,
                params,
                None,
                InFlightHtlcs::new(),
                PaymentHash([0; 32]),
                id,
            );
            self.router.clear_policy(&id);
            r
        }

        /// The intermediate node of a route found with `policy` and a generous fee limit.
        fn via(&self, policy: PaymentPolicy) -> PublicKey {
            let route = self.route(policy, &self.params(1_000_000)).unwrap();
            assert_eq!(route.paths.len(), 1);
            let hops = &route.paths[0].hops;
            assert_eq!(hops.len(), 2);
            assert_eq!(hops[1].pubkey, self.d);
            hops[0].pubkey
        }
    }

    fn fixed(riskfactor: f64) -> PaymentPolicy {
        PaymentPolicy { riskfactor, randomize: false, seed: 0, ..PaymentPolicy::default() }
    }

    fn excluding(s: &str) -> PaymentPolicy {
        let mut policy = fixed(0.0);
        policy.exclude(parse_exclusion(s).unwrap());
        policy
    }

    fn total_cltv(route: &Route) -> u32 {
        route.paths[0].hops.iter().map(|h| h.cltv_expiry_delta).sum()
    }

    #[test]
    fn policy_scorer_penalties() {
        let n = net(100, 144, 100, 144);
        let graph = n.router.network_graph.read_only();
        let amount = AMOUNT_MSAT;
        let usage = ChannelUsage {
            amount_msat: amount,
            inflight_htlc_msat: 0,
            effective_capacity: EffectiveCapacity::Unknown,
        };
        let candidate = |scid: u64, from: &PublicKey| {
            let chan = graph.channel(scid).unwrap();
            let (info, _) = chan.as_directed_from(&NodeId::from_pubkey(from)).unwrap();
            CandidateRouteHop::PublicHop(PublicHopCandidate { info, short_channel_id: scid })
        };
        let bd = candidate(n.bd, &n.b);
        let db = candidate(n.bd, &n.d);
        let pb = candidate(n.pb, &n.p);
        let base = FixedPenaltyScorer::with_penalty(500);
        let score = |policy: &PaymentPolicy, c: &CandidateRouteHop| {
            PolicyScorer::new(&base, policy, &n.p, Some(&n.d)).channel_penalty_msat(c, usage, &())
        };

        // Risk: base + amount x 144 x riskfactor / 5 259 600.
        assert_eq!(score(&fixed(0.0), &bd), 500);
        assert_eq!(score(&fixed(10.0), &bd), 500 + risk_cost_msat(amount, 144, 10.0));

        // Directional channel exclusion.
        let mut p = fixed(10.0);
        p.exclude(Exclusion::Channel { scid: n.bd, direction: dir(&n.b, &n.d) });
        assert_eq!(score(&p, &bd), u64::MAX);
        assert_ne!(score(&p, &db), u64::MAX);

        // Node exclusion hits hops from and to the node; the payer and the destination are
        // never excluded by the scorer.
        let mut p = fixed(0.0);
        p.exclude(Exclusion::Node(n.b));
        assert_eq!(score(&p, &bd), u64::MAX);
        assert_eq!(score(&p, &pb), u64::MAX);
        let mut p = fixed(0.0);
        p.exclude(Exclusion::Node(n.p));
        p.exclude(Exclusion::Node(n.d));
        assert!(p.excludes_node(&n.d));
        assert_eq!(score(&p, &bd), 500);
        assert_eq!(score(&p, &pb), 500);

        // Randomization: deterministic per seed, bounded, and varying across seeds.
        let fee = amount * 100 / 1_000_000;
        let risk = risk_cost_msat(amount, 144, 10.0);
        let bound = (fee + 500 + risk) * RANDOM_PENALTY_PERCENT / 100 + RANDOM_PENALTY_BASE_MSAT;
        let mut seen = HashSet::new();
        for seed in 0..200 {
            let policy = PaymentPolicy { seed, ..fixed(10.0) };
            let policy = PaymentPolicy { randomize: true, ..policy };
            let s = score(&policy, &bd);
            assert_eq!(s, score(&policy, &bd));
            let extra = s - 500 - risk;
            assert!(extra <= bound, "seed {seed}: {extra} > {bound}");
            seen.insert(extra);
        }
        assert!(seen.len() > 150, "{}", seen.len());
    }

    #[test]
    fn exclusions_steer_the_route() {
        // B is cheaper (100 ppm vs 200 ppm), same delays.
        let n = net(100, 40, 200, 40);
        assert_eq!(n.via(fixed(0.0)), n.b);

        let pb_fwd = format!("{}/{}", scid_to_string(n.pb), dir(&n.p, &n.b));
        let pb_back = format!("{}/{}", scid_to_string(n.pb), dir(&n.b, &n.p));
        let bd_fwd = format!("{}/{}", scid_to_string(n.bd), dir(&n.b, &n.d));
        assert_eq!(n.via(excluding(&pb_fwd)), n.c);
        assert_eq!(n.via(excluding(&bd_fwd)), n.c);
        // The other direction of the same channel is not excluded.
        assert_eq!(n.via(excluding(&pb_back)), n.b);
        // Excluding a node.
        assert_eq!(n.via(excluding(&n.b.to_string())), n.c);
        // Excluding C instead leaves the cheap route.
        assert_eq!(n.via(excluding(&n.c.to_string())), n.b);
        // Excluding the payer is ignored.
        assert_eq!(n.via(excluding(&n.p.to_string())), n.b);
        // Excluding both intermediaries leaves no route.
        let mut both = excluding(&n.b.to_string());
        both.exclude(Exclusion::Node(n.c));
        assert!(n.route(both, &n.params(1_000_000)).is_err());
        let pc_fwd = format!("{}/{}", scid_to_string(n.pc), dir(&n.p, &n.c));
        let mut both = excluding(&n.b.to_string());
        both.exclude(parse_exclusion(&pc_fwd).unwrap());
        assert!(n.route(both, &n.params(1_000_000)).is_err());
        let cd_fwd = format!("{}/{}", scid_to_string(n.cd), dir(&n.c, &n.d));
        let mut both = excluding(&bd_fwd);
        both.exclude(parse_exclusion(&cd_fwd).unwrap());
        assert!(n.route(both, &n.params(1_000_000)).is_err());
        // Excluding the destination fails early with a clear error.
        let policy = excluding(&n.d.to_string());
        assert!(policy.excludes_node(&n.d));
        assert_eq!(n.route(policy, &n.params(1_000_000)).unwrap_err(), ERR_DESTINATION_EXCLUDED);
        // With the policy cleared, the id routes with the default policy again.
        assert!(n.router.policy(&PaymentId([9; 32])).is_none());
    }

    #[test]
    fn riskfactor_trades_fees_against_delay() {
        // B: 10 000 msat fee, 400 blocks; C: 20 000 msat fee, 40 blocks. The risk difference is
        // about 6 845 msat per unit of riskfactor.
        let n = net(100, 400, 200, 40);
        assert_eq!(n.via(fixed(0.0)), n.b);
        assert_eq!(n.via(fixed(1.0)), n.b);
        assert_eq!(n.via(fixed(DEFAULT_RISKFACTOR)), n.c);
        assert_eq!(n.via(fixed(100.0)), n.c);
        // The fee of the cheap route is what LDK reports.
        let route = n.route(fixed(0.0), &n.params(1_000_000)).unwrap();
        assert_eq!(route.get_total_fees(), 10_000);
    }

    #[test]
    fn randomization_varies_equal_routes_by_seed() {
        let n = net(100, 40, 100, 40);
        let mut seen = HashSet::new();
        for seed in 0..64 {
            let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
            let via = n.via(policy.clone());
            // Same seed, same route.
            assert_eq!(n.via(policy), via);
            seen.insert(via);
        }
        assert_eq!(seen, HashSet::from([n.b, n.c]));
        // Without randomization the choice does not depend on the seed.
        let first = n.via(fixed(10.0));
        for seed in 0..16 {
            assert_eq!(n.via(PaymentPolicy { seed, ..fixed(10.0) }), first);
        }
    }

    #[test]
    fn randomization_never_exceeds_the_fee_limit() {
        // B: 10 000 msat, C: 10 100 msat. Randomization sometimes prefers C, but never above
        // the limit.
        let n = net(100, 40, 101, 40);
        let generous = n.params(1_000_000);
        let mut seen = HashSet::new();
        for seed in 0..64 {
            let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
            let route = n.route(policy, &generous).unwrap();
            assert!(route.get_total_fees() <= 1_000_000);
            seen.insert(route.get_total_fees());
        }
        assert_eq!(seen, HashSet::from([10_000, 10_100]));

        // A limit of exactly B's fee: every seed, every riskfactor, only B.
        let tight = n.params(10_000);
        for seed in 0..64 {
            for riskfactor in [0.0, 10.0, 1_000.0] {
                let policy = PaymentPolicy { seed, riskfactor, ..PaymentPolicy::default() };
                let route = n.route(policy, &tight).unwrap();
                assert_eq!(route.get_total_fees(), 10_000);
                assert_eq!(route.paths[0].hops[0].pubkey, n.b);
            }
        }
        // Below every route's fee: no route rather than a too expensive one.
        let impossible = n.params(9_999);
        for seed in 0..16 {
            let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
            assert!(n.route(policy, &impossible).is_err());
        }
    }

    #[test]
    fn max_total_cltv_bounds_route_and_shadow() {
        // B is cheaper but needs 400 blocks; C needs 40.
        let n = net(100, 400, 200, 40);
        assert_eq!(n.via(fixed(0.0)), n.b);

        let max_total = 200;
        let mut params = n.params(1_000_000);
        params.payment_params.max_total_cltv_expiry_delta = max_total;
        let mut shadowed = 0;
        for seed in 0..100 {
            // Each search draws fresh random bytes for the shadow offset from the keys manager.
            let route = n.route(PaymentPolicy { seed, ..fixed(0.0) }, &params).unwrap();
            assert_eq!(route.paths[0].hops[0].pubkey, n.c);
            let total = total_cltv(&route);
            assert!(total <= max_total, "seed {seed}: total CLTV {total} > {max_total}");
            // C's 40 blocks plus the final 18, plus the shadow offset.
            assert!(total >= 40 + FINAL_CLTV);
            if total > 40 + FINAL_CLTV {
                shadowed += 1;
            }
        }
        assert!(shadowed > 0, "no shadow offset was ever added");

        // Without a tight bound the shadow offset is still capped by the default bound.
        let route = n.route(fixed(0.0), &n.params(1_000_000)).unwrap();
        assert!(
            total_cltv(&route)
                <= route.route_params.unwrap().payment_params.max_total_cltv_expiry_delta
        );

        // A bound no route fits: an error, not a longer route.
        params.payment_params.max_total_cltv_expiry_delta = FINAL_CLTV + 1;
        assert!(n.route(fixed(0.0), &params).is_err());
    }

    #[test]
    fn router_without_policy_uses_the_default() {
        let n = net(100, 40, 100, 40);
        let params = n.params(1_000_000);
        let route = n.router.find_route(&n.p, &params, None, InFlightHtlcs::new()).unwrap();
        assert!(route.get_total_fees() <= 1_000_000);
        let route = n
            .router
            .find_route_with_id(
                &n.p,
                &params,
                None,
                InFlightHtlcs::new(),
                PaymentHash([0; 32]),
                PaymentId([1; 32]),
            )
            .unwrap();
        assert_eq!(route.paths[0].hops.len(), 2);
        let default = PaymentPolicy::default();
        assert_eq!(default.riskfactor, 10.0);
        assert!(default.randomize);
        assert!(default.exclude_channels.is_empty() && default.exclude_nodes.is_empty());
        assert_ne!(default.seed, PaymentPolicy::default().seed);
    }
}
