//! Per-payment routing policy: Core Lightning's `pay` routing contract on boltd's route search.
//!
//! [`PolicyRouter`] is a drop-in [`Router`] for the channel manager. Each route search runs with
//! the [`PaymentPolicy`] registered for the payment's [`PaymentId`] ([`PolicyRouter::set_policy`]),
//! or [`PaymentPolicy::default`] when none is registered, on boltd's own search over its compact
//! graph view ([`crate::routing`]: the same limits, shadow offset and route shape as LDK's
//! `find_route`, several times faster). Blinded payees (BOLT12 invoices) are routed by LDK's
//! `find_route` with a [`PolicyScorer`] over LDK's
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
//! | route randomization | [`PaymentPolicy::randomize`], [`PaymentPolicy::seed`] | bounded pseudo-random penalty per hop, the same function in both ([`crate::routing::cost::random_penalty_msat`]) |
//! | shadow route | always on | LDK's `add_random_cltv_offset`, reproduced exactly ([`crate::routing::shadow`]) |
//!
//! The paragraphs below describe LDK's `find_route`; boltd's search applies the same rules (see
//! [`crate::routing`]).
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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::routing::router::{
    self as ldk_router, CandidateRouteHop, DefaultRouter, InFlightHtlcs, Payee, Route,
    RouteParameters, Router, ScorerAccountingForInFlightHtlcs,
};
use lightning::routing::scoring::{
    ChannelUsage, LockableScore, ProbabilisticScoringFeeParameters, ScoreLookUp,
};
use lightning::sign::{EntropySource, KeysManager};
use lightning::types::payment::PaymentHash;
use lightning::util::logger::Logger;

use crate::logger::LdkLogger;
use crate::routing::{InFlight, Request, RoutingEngine, SearchError};
use crate::types::{Graph, Scorer};

/// Blocks per year in Core Lightning's risk cost (365.25 days × 144 blocks).
pub const BLOCKS_PER_YEAR: u64 = 52_596;

/// Core Lightning's default `riskfactor`.
pub const DEFAULT_RISKFACTOR: f64 = 10.0;

/// Route randomization: the pseudo-random penalty of a hop is at most this percentage of the
/// hop's cost (its fee for the amount, plus the base scorer's penalty, plus the risk cost) ...
pub const RANDOM_PENALTY_PERCENT: u64 = 10;

/// ... plus this constant, so that even free hops are shuffled.
pub const RANDOM_PENALTY_BASE_MSAT: u64 = 1_000;

/// Error returned by [`PolicyRouter`] when the policy excludes the payment's destination.
pub const ERR_DESTINATION_EXCLUDED: &str = "the payment policy excludes the destination node";

/// How one payment may be routed: Core Lightning's `riskfactor`, `exclude` and route
/// randomization. The fee and delay limits (`maxfee*`, `maxdelay`) are LDK route parameters, see
/// the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentPolicy {
    /// Annual interest rate, in percent, charged for the time the payment's amount may be locked
    /// up in each hop ([`risk_cost_msat`]). Default 10; 0 ignores delays.
    pub riskfactor: f64,
    /// Channel directions never to use: (short channel id, direction 0 or 1 per BOLT 7).
    pub exclude_channels: Vec<(u64, u8)>,
    /// Nodes never to route through. The payer is ignored here; the destination must not be
    /// listed (see [`PaymentPolicy::excludes_node`]).
    pub exclude_nodes: Vec<PublicKey>,
    /// Whether to add the bounded pseudo-random penalty per hop (route randomization).
    /// Default true.
    pub randomize: bool,
    /// Seed of the route randomization; the same seed and graph give the same route.
    /// [`PaymentPolicy::default`] draws a fresh random seed.
    pub seed: u64,
}

impl Default for PaymentPolicy {
    /// `riskfactor` 10, no exclusions, randomization on with a fresh random seed (so two payments
    /// built from the default do not share their randomization).
    fn default() -> Self {
        Self {
            riskfactor: DEFAULT_RISKFACTOR,
            exclude_channels: Vec::new(),
            exclude_nodes: Vec::new(),
            randomize: true,
            seed: rand::random(),
        }
    }
}

impl PaymentPolicy {
    /// Whether `node` is in [`PaymentPolicy::exclude_nodes`]. The payment engine calls this
    /// with the destination before paying: a payment to an excluded node must be refused.
    pub fn excludes_node(&self, node: &PublicKey) -> bool {
        self.exclude_nodes.contains(node)
    }

    /// Whether the direction `direction` (0 or 1) of channel `scid` is excluded.
    pub fn excludes_channel(&self, scid: u64, direction: u8) -> bool {
        self.exclude_channels.contains(&(scid, direction))
    }

    /// Adds one exclusion (once).
    pub fn exclude(&mut self, exclusion: Exclusion) {
        match exclusion {
            Exclusion::Channel { scid, direction } => {
                if !self.excludes_channel(scid, direction) {
                    self.exclude_channels.push((scid, direction));
                }
            }
            Exclusion::Node(node) => {
                if !self.excludes_node(&node) {
                    self.exclude_nodes.push(node);
                }
            }
        }
    }
}

/// One entry of Core Lightning's `exclude` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// One direction of a channel (`BLOCKxTXxOUT/DIR`).
    Channel {
        /// The short channel id.
        scid: u64,
        /// 0: from the lesser node id to the greater; 1: the other way (BOLT 7).
        direction: u8,
    },
    /// A node (33-byte hex node id).
    Node(PublicKey),
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Channel { scid, direction } => {
                write!(f, "{}/{direction}", scid_to_string(*scid))
            }
            Exclusion::Node(node) => write!(f, "{node}"),
        }
    }
}

impl FromStr for Exclusion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_exclusion(s)
    }
}

const EXCLUSION_SYNTAX: &str = "expected a short channel id with direction \
     (BLOCKxTXxOUT/DIR, e.g. 564334x877x1/0) or a node id (66 hex characters)";

/// Parses one `exclude` entry: `BLOCKxTXxOUT/DIR` (DIR 0 or 1) or a 33-byte hex node id.
/// Surrounding whitespace is ignored. The error says what is wrong and what is expected.
pub fn parse_exclusion(s: &str) -> Result<Exclusion, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty exclusion: {EXCLUSION_SYNTAX}"));
    }
    if let Some((scid_part, dir_part)) = t.split_once('/') {
        let scid = scid_from_str(scid_part).ok_or_else(|| {
            format!(
                "invalid short channel id {scid_part:?} in exclusion {t:?}: expected BLOCKxTXxOUT \
                 (e.g. 564334x877x1) with BLOCK and TX below 16777216 and OUT below 65536"
            )
        })?;
        let direction = match dir_part {
            "0" => 0,
            "1" => 1,
            _ => {
                return Err(format!(
                    "invalid direction {dir_part:?} in exclusion {t:?}: expected 0 or 1"
                ))
            }
        };
        return Ok(Exclusion::Channel { scid, direction });
    }
    if scid_from_str(t).is_some() {
        return Err(format!(
            "exclusion {t:?} has no direction: write {t}/0 or {t}/1 (BOLT 7: 0 is from the \
             lesser node id)"
        ));
    }
    if t.bytes().all(|b| b.is_ascii_hexdigit()) {
        if t.len() != 66 {
            return Err(format!(
                "invalid node id {t:?} in exclusion: {} hex characters, expected 66 (33 bytes)",
                t.len()
            ));
        }
        let bytes = hex::decode(t).map_err(|e| format!("invalid node id {t:?}: {e}"))?;
        return PublicKey::from_slice(&bytes).map(Exclusion::Node).map_err(|_| {
            format!("invalid node id {t:?} in exclusion: not a valid secp256k1 public key")
        });
    }
    Err(format!("invalid exclusion {t:?}: {EXCLUSION_SYNTAX}"))
}

/// Parses a short channel id written `BLOCKxTXxOUT` (decimal; BLOCK and TX below 2^24, OUT
/// below 2^16). `None` on anything else.
pub fn scid_from_str(s: &str) -> Option<u64> {
    let mut parts = s.split('x');
    let mut next = |limit: u64| -> Option<u64> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u64>().ok().filter(|v| *v < limit)
    };
    let block = next(1 << 24)?;
    let tx = next(1 << 24)?;
    let out = next(1 << 16)?;
    if parts.next().is_some() {
        return None;
    }
    Some(block << 40 | tx << 16 | out)
}

/// Writes a short channel id as `BLOCKxTXxOUT`.
pub fn scid_to_string(scid: u64) -> String {
    format!("{}x{}x{}", scid >> 40, (scid >> 16) & 0xff_ffff, scid & 0xffff)
}

/// The BOLT 7 direction of a hop from `source` to `target`: 0 when `source` is the
/// lexicographically lesser node id (LDK's `node_one`), else 1.
pub fn channel_direction(source: &NodeId, target: &NodeId) -> u8 {
    if source < target {
        0
    } else {
        1
    }
}

/// Core Lightning's risk cost of locking `amount_msat` for `cltv_delta` blocks at an annual
/// rate of `riskfactor` percent: `amount × delay × riskfactor / (52596 × 100)`, rounded down,
/// saturating. A riskfactor that is not a positive number costs nothing.
pub fn risk_cost_msat(amount_msat: u64, cltv_delta: u16, riskfactor: f64) -> u64 {
    let cost =
        amount_msat as f64 * f64::from(cltv_delta) * riskfactor / (BLOCKS_PER_YEAR as f64 * 100.0);
    if cost.is_nan() || cost <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX and rounds toward zero.
        cost as u64
    }
}

/// Core Lightning's fee limit: `maxfee_msat` when given; otherwise the larger of
/// `maxfeepercent` percent of `amount_msat` (rounded down) and `exemptfee_msat`.
/// A `maxfeepercent` that is not a positive number allows only `exemptfee_msat`.
pub fn fee_limit_msat(
    amount_msat: u64,
    maxfeepercent: f64,
    exemptfee_msat: u64,
    maxfee_msat: Option<u64>,
) -> u64 {
    if let Some(maxfee) = maxfee_msat {
        return maxfee;
    }
    let percent_fee = if maxfeepercent.is_nan() || maxfeepercent <= 0.0 {
        0
    } else {
        // Parts per billion of the amount, so that e.g. 0.5 % is exact.
        let ppb = (maxfeepercent * 1e7).round() as u64; // saturating
        let fee = u128::from(amount_msat) * u128::from(ppb) / 1_000_000_000;
        u64::try_from(fee).unwrap_or(u64::MAX)
    };
    percent_fee.max(exemptfee_msat)
}

/// A [`ScoreLookUp`] applying a [`PaymentPolicy`] on top of a base scorer, with the base
/// scorer's [`ScoreLookUp::ScoreParams`].
///
/// For each candidate hop it returns:
/// - `u64::MAX` (LDK never uses such a hop) when the hop's channel direction is excluded, or its
///   source or target is an excluded node other than the payer and the destination;
/// - `u64::MAX` when the base scorer says so;
/// - otherwise the base penalty, plus [`risk_cost_msat`] of the amount over the hop and the hop's
///   [`CandidateRouteHop::cltv_expiry_delta`], plus, when [`PaymentPolicy::randomize`], a
///   pseudo-random penalty uniform in `0 ..= cost × 10 % + 1 000 msat`
///   ([`RANDOM_PENALTY_PERCENT`], [`RANDOM_PENALTY_BASE_MSAT`]), where `cost` is the hop's fee
///   for the amount plus the base penalty plus the risk cost; it is a function of
///   ([`PaymentPolicy::seed`], short channel id, direction), so one payment sees one consistent
///   perturbation of the graph and different payments see different ones. The sum is capped
///   just below `u64::MAX`.
///
/// Penalties only rank candidates: the fee and CLTV limits stay hard bounds in LDK.
pub struct PolicyScorer<'a, S: ScoreLookUp> {
    base: &'a S,
    riskfactor: f64,
    randomize: bool,
    seed: u64,
    payer: NodeId,
    payee: Option<NodeId>,
    excluded_nodes: HashSet<NodeId>,
    excluded_channels: HashSet<(u64, u8)>,
}

impl<'a, S: ScoreLookUp> PolicyScorer<'a, S> {
    /// Wraps `base` with `policy` for a payment from `payer` to `payee` (`None` when the
    /// destination is blinded).
    pub fn new(
        base: &'a S,
        policy: &PaymentPolicy,
        payer: &PublicKey,
        payee: Option<&PublicKey>,
    ) -> Self {
        Self {
            base,
            riskfactor: policy.riskfactor,
            randomize: policy.randomize,
            seed: policy.seed,
            payer: NodeId::from_pubkey(payer),
            payee: payee.map(NodeId::from_pubkey),
            excluded_nodes: policy.exclude_nodes.iter().map(NodeId::from_pubkey).collect(),
            excluded_channels: policy.exclude_channels.iter().copied().collect(),
        }
    }

    fn node_excluded(&self, node: &NodeId) -> bool {
        *node != self.payer && Some(*node) != self.payee && self.excluded_nodes.contains(node)
    }

    fn hop_excluded(&self, candidate: &CandidateRouteHop, direction: Option<u8>) -> bool {
        let source = candidate.source();
        if self.node_excluded(&source) {
            return true;
        }
        if let Some(target) = candidate.target() {
            if self.node_excluded(&target) {
                return true;
            }
        }
        match direction {
            Some(dir) if !self.excluded_channels.is_empty() => candidate_scids(candidate)
                .into_iter()
                .flatten()
                .any(|scid| self.excluded_channels.contains(&(scid, dir))),
            _ => false,
        }
    }

    fn random_penalty_msat(
        &self,
        candidate: &CandidateRouteHop,
        direction: Option<u8>,
        amount_msat: u64,
        cost_msat: u64,
    ) -> u64 {
        let fees = candidate.fees();
        let proportional =
            u128::from(amount_msat) * u128::from(fees.proportional_millionths) / 1_000_000;
        let fee = u64::from(fees.base_msat)
            .saturating_add(u64::try_from(proportional).unwrap_or(u64::MAX));
        let cost = u128::from(fee.saturating_add(cost_msat));
        let span = u64::try_from(cost * u128::from(RANDOM_PENALTY_PERCENT) / 100)
            .unwrap_or(u64::MAX)
            .saturating_add(RANDOM_PENALTY_BASE_MSAT);
        let key = match candidate_scids(candidate) {
            [Some(scid), _] | [None, Some(scid)] => scid,
            [None, None] => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&candidate.source().as_slice()[1..9]);
                u64::from_be_bytes(b)
            }
        };
        let r =
            splitmix64(splitmix64(splitmix64(self.seed) ^ key) ^ u64::from(direction.unwrap_or(2)));
        match span.checked_add(1) {
            Some(modulus) => r % modulus,
            None => r,
        }
    }
}

impl<S: ScoreLookUp> ScoreLookUp for PolicyScorer<'_, S> {
    type ScoreParams = S::ScoreParams;

    fn channel_penalty_msat(
        &self,
        candidate: &CandidateRouteHop,
        usage: ChannelUsage,
        score_params: &Self::ScoreParams,
    ) -> u64 {
        let direction =
            candidate.target().map(|target| channel_direction(&candidate.source(), &target));
        if self.hop_excluded(candidate, direction) {
            return u64::MAX;
        }
        let base = self.base.channel_penalty_msat(candidate, usage, score_params);
        if base == u64::MAX {
            return u64::MAX;
        }
        let cltv = u16::try_from(candidate.cltv_expiry_delta()).unwrap_or(u16::MAX);
        let risk = risk_cost_msat(usage.amount_msat, cltv, self.riskfactor);
        let mut penalty = base.saturating_add(risk);
        if self.randomize {
            let random = self.random_penalty_msat(candidate, direction, usage.amount_msat, penalty);
            penalty = penalty.saturating_add(random);
        }
        penalty.min(u64::MAX - 1)
    }
}

/// The short channel ids a candidate hop is known by: (real or only id, outbound alias of a
/// first hop).
fn candidate_scids(candidate: &CandidateRouteHop) -> [Option<u64>; 2] {
    match candidate {
        CandidateRouteHop::FirstHop(hop) => {
            let real = hop.details.short_channel_id;
            let alias = hop.details.get_outbound_payment_scid().filter(|a| Some(*a) != real);
            [real.or(alias), real.and(alias)]
        }
        CandidateRouteHop::PublicHop(hop) => [Some(hop.short_channel_id), None],
        CandidateRouteHop::PrivateHop(hop) => [Some(hop.hint.short_channel_id), None],
        CandidateRouteHop::Blinded(_) | CandidateRouteHop::OneHopBlinded(_) => [None, None],
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

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
    /// [`crate::routing`]), so the node uses [`PolicyRouter::with_engine`].
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
        }
    }

    /// Registers the policy for payment `id`, replacing any previous one. Every route search
    /// for that payment (the first attempt and LDK's retries) uses it until
    /// [`PolicyRouter::clear_policy`].
    pub fn set_policy(&self, id: PaymentId, policy: PaymentPolicy) {
        self.lock_policies().insert(id, policy);
    }

    /// Forgets the policy of payment `id` (no-op when there is none).
    pub fn clear_policy(&self, id: &PaymentId) {
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
    /// with a registered one: boltd's search ([`crate::routing`]) over the engine's view, with
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
            let request = Request {
                payer: *payer,
                route_params,
                first_hops,
                inflight: &inflight,
                policy,
                random_seed_bytes: self.entropy_source.get_secure_random_bytes(),
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
        let route =
            self.find_route_with_policy(payer, route_params, first_hops, inflight_htlcs, &policy)?;
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

    use std::time::{SystemTime, UNIX_EPOCH};

    use bitcoin::constants::ChainHash;
    use bitcoin::secp256k1::SecretKey;
    use bitcoin::Network;
    use lightning::ln::msgs::UnsignedChannelUpdate;
    use lightning::routing::gossip::EffectiveCapacity;
    use lightning::routing::router::{PaymentParameters, PublicHopCandidate};
    use lightning::routing::scoring::{
        FixedPenaltyScorer, ProbabilisticScorer, ProbabilisticScoringDecayParameters,
    };
    use lightning::types::features::ChannelFeatures;

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
    fn risk_cost_follows_core_lightning() {
        // 1 000 000 sat for 144 blocks at 10 %/year: 1e9 * 144 * 10 / 5 259 600.
        assert_eq!(risk_cost_msat(1_000_000_000, 144, 10.0), 273_785);
        assert_eq!(risk_cost_msat(AMOUNT_MSAT, 400, 10.0), 76_051);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, 0.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 0, 10.0), 0);
        assert_eq!(risk_cost_msat(0, 144, 10.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, -1.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, f64::NAN), 0);
        assert_eq!(risk_cost_msat(u64::MAX, u16::MAX, 1e9), u64::MAX);
    }

    #[test]
    fn fee_limit_follows_core_lightning() {
        // 0.5 % of 10 000 sat is 50 sat, below the 5 sat exemption? No: 50 000 msat > 5 000.
        assert_eq!(fee_limit_msat(10_000_000, 0.5, 5_000, None), 50_000);
        // Small payments: the exemption wins.
        assert_eq!(fee_limit_msat(100_000, 0.5, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, 0.5, 5_000, None), 5_000);
        // maxfee overrides both, in either direction.
        assert_eq!(fee_limit_msat(10_000_000, 0.5, 5_000, Some(1)), 1);
        assert_eq!(fee_limit_msat(100_000, 0.5, 5_000, Some(90_000)), 90_000);
        // Fractional percentages are exact; rounding is down.
        assert_eq!(fee_limit_msat(1_000_000_000, 0.1, 0, None), 1_000_000);
        assert_eq!(fee_limit_msat(999, 1.0, 0, None), 9);
        // Nonsense percentages allow only the exemption; huge amounts saturate.
        assert_eq!(fee_limit_msat(1_000_000, 0.0, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, -3.0, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, f64::NAN, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(u64::MAX, 100.0, 0, None), u64::MAX);
    }

    #[test]
    fn scids_and_exclusions_parse() {
        let scid = scid_from_str("564334x877x1").unwrap();
        assert_eq!(scid, 564334 << 40 | 877 << 16 | 1);
        assert_eq!(scid_to_string(scid), "564334x877x1");
        assert_eq!(
            parse_exclusion("564334x877x1/0").unwrap(),
            Exclusion::Channel { scid, direction: 0 }
        );
        assert_eq!(
            parse_exclusion(" 564195x1292x0/1 ").unwrap(),
            Exclusion::Channel { scid: scid_from_str("564195x1292x0").unwrap(), direction: 1 }
        );
        let node = key(5).to_string();
        assert_eq!(parse_exclusion(&node).unwrap(), Exclusion::Node(key(5)));
        for text in ["564334x877x1/1", node.as_str()] {
            assert_eq!(parse_exclusion(text).unwrap().to_string(), text);
            assert_eq!(text.parse::<Exclusion>().unwrap(), parse_exclusion(text).unwrap());
        }
        for bad in ["", "1x2", "1x2x3x4", "x1x2", "1xx2", "+1x2x3", "16777216x0x0", "0x16777216x0"]
        {
            assert_eq!(scid_from_str(bad), None, "{bad}");
        }
        assert_eq!(scid_from_str("0x0x65536"), None);
        assert_eq!(scid_from_str("16777215x16777215x65535"), Some(u64::MAX));
    }

    #[test]
    fn bad_exclusions_are_explained() {
        let err = |s: &str| parse_exclusion(s).unwrap_err();
        assert!(err("").contains("empty exclusion"), "{}", err(""));
        assert!(err("564334x877x1").contains("no direction"), "{}", err("564334x877x1"));
        assert!(err("564334x877x1").contains("564334x877x1/0"));
        let e = err("564334x877x1/2");
        assert!(e.contains("invalid direction \"2\"") && e.contains("expected 0 or 1"), "{e}");
        assert!(err("564334x877x1/").contains("invalid direction"));
        let e = err("564334x877/0");
        assert!(e.contains("invalid short channel id \"564334x877\""), "{e}");
        assert!(err("99999999x1x1/0").contains("below 16777216"));
        let e = err("02abcd");
        assert!(e.contains("6 hex characters, expected 66"), "{e}");
        let e = err(&format!("05{}", "11".repeat(32)));
        assert!(e.contains("not a valid secp256k1 public key"), "{e}");
        let e = err("bob");
        assert!(e.contains("invalid exclusion \"bob\"") && e.contains("BLOCKxTXxOUT/DIR"), "{e}");
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
