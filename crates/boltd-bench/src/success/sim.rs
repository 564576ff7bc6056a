//! The payer's loop over the [`Oracle`]: route, send the parts, tell the learner what failed,
//! route what is left, until the payment arrives or the retry budget is spent.
//!
//! As LDK's `ChannelManager` pays (and Core Lightning's `pay`): every search is given the
//! payer's own channels with what they can send now as first hops ([`Oracle::first_hops`], LDK's
//! `list_usable_channels`), parts that arrive are held by
//! the payee (their liquidity stays locked, and the next searches see them as in-flight HTLCs);
//! each failed part's amount is routed again in the next round, with the failing channel added to
//! `previously_failed_channels` (what LDK's retries do; both routers never use such a channel
//! again for this payment) and the fee limit less the fees of the held parts. A round is one
//! attempt. When all parts have arrived the payment succeeds and every part is reported as a
//! success to the learner.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use boltd_routing::logger::LdkLogger;
use boltd_routing::policy::{fee_limit_msat, PaymentPolicy, DEFAULT_RISKFACTOR};
use boltd_routing::router::NodeRouter;
use boltd_routing::types::{Graph, Scorer};
use boltd_routing::{HopAmount, LiquidityBounds};
use lightning::ln::channel_state::ChannelDetails;
use lightning::routing::router::{
    find_route, InFlightHtlcs, PaymentParameters, Route, RouteParameters,
    ScorerAccountingForInFlightHtlcs,
};
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
    ScoreUpdate,
};

use super::oracle::{Locks, Oracle};
use crate::ldk::{mpp_features, EXEMPTFEE_MSAT, FINAL_CLTV, MAXDELAY_BLOCKS, MAXFEEPERCENT};
use crate::machine::timed;

/// The routers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// LDK's `find_route` with a `ProbabilisticScorer` that learns from every failure and
    /// success (`payment_path_failed`, `payment_path_successful`).
    Anchor,
    /// boltd's router without learning: `NodeRouter::find_route_with_policy` with the engine's
    /// `pay` policy; within a payment it avoids the channels that failed, it keeps nothing
    /// across payments (how the node paid before it learned liquidity bounds).
    Ours,
    /// The same router reading [`LiquidityBounds`] learned from failures and successes: how
    /// the node pays (its event handler feeds the bounds from LDK's `PaymentPathFailed` and
    /// `PaymentPathSuccessful`, forgotten after an hour).
    OursLearning,
}

impl Kind {
    /// All, in report order.
    pub const ALL: [Kind; 3] = [Kind::Anchor, Kind::Ours, Kind::OursLearning];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Anchor => "anchor (LDK + ProbabilisticScorer)",
            Self::Ours => "ours, no learning",
            Self::OursLearning => "ours + learned bounds (the node)",
        }
    }

    /// A short key for JSON.
    pub fn key(self) -> &'static str {
        match self {
            Self::Anchor => "anchor",
            Self::Ours => "ours",
            Self::OursLearning => "ours_learning",
        }
    }
}

/// A router with what it learns.
pub struct Contender {
    /// Which router.
    pub kind: Kind,
    graph: Arc<Graph>,
    logger: Arc<LdkLogger>,
    scorer: Scorer,
    router: Arc<NodeRouter>,
    bounds: Arc<RwLock<LiquidityBounds>>,
    /// The simulated clock given to LDK's scorer.
    clock: Duration,
}

impl Contender {
    /// A contender with nothing learned; `router` is shared by the boltd contenders (its search
    /// buffers and A* bound), its bounds are set per search.
    pub fn new(
        kind: Kind,
        graph: &Arc<Graph>,
        logger: &Arc<LdkLogger>,
        router: &Arc<NodeRouter>,
    ) -> Self {
        Self {
            kind,
            graph: Arc::clone(graph),
            logger: Arc::clone(logger),
            scorer: ProbabilisticScorer::new(
                ProbabilisticScoringDecayParameters::default(),
                Arc::clone(graph),
                Arc::clone(logger),
            ),
            router: Arc::clone(router),
            bounds: Arc::new(RwLock::new(LiquidityBounds::new())),
            clock: Duration::from_secs(1_750_000_000),
        }
    }

    /// Forgets everything learned (a fresh scorer).
    pub fn forget(&mut self) {
        self.scorer = ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            Arc::clone(&self.graph),
            Arc::clone(&self.logger),
        );
        self.bounds.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Channel directions with learned bounds (boltd) or scorer entries (LDK: not exposed, 0).
    pub fn learned_directions(&self) -> usize {
        match self.kind {
            Kind::OursLearning => self.bounds.read().unwrap_or_else(|e| e.into_inner()).len(),
            _ => 0,
        }
    }

    fn route(
        &self,
        payer: &PublicKey,
        rp: &RouteParameters,
        (first_hops, inflight): (&[&ChannelDetails], &InFlightHtlcs),
        seed: u64,
    ) -> Result<Route, &'static str> {
        match self.kind {
            Kind::Anchor => {
                let scorer = ScorerAccountingForInFlightHtlcs::new(&self.scorer, inflight);
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&seed.to_be_bytes());
                find_route(
                    payer,
                    rp,
                    &self.graph,
                    Some(first_hops),
                    &*self.logger,
                    &scorer,
                    &ProbabilisticScoringFeeParameters::default(),
                    &bytes,
                )
            }
            Kind::Ours | Kind::OursLearning => {
                self.router.set_liquidity_bounds(
                    (self.kind == Kind::OursLearning).then(|| Arc::clone(&self.bounds)),
                );
                let policy = PaymentPolicy {
                    riskfactor: DEFAULT_RISKFACTOR,
                    randomize: true,
                    seed,
                    ..PaymentPolicy::default()
                };
                self.router.find_route_with_policy(
                    payer,
                    rp,
                    Some(first_hops),
                    inflight.clone(),
                    &policy,
                )
            }
        }
    }

    fn failed(&mut self, payer: &PublicKey, path: &lightning::routing::router::Path, hop: usize) {
        self.clock += Duration::from_secs(1);
        match self.kind {
            Kind::Anchor => {
                if let Some(h) = path.hops.get(hop) {
                    self.scorer.payment_path_failed(path, h.short_channel_id, self.clock);
                }
            }
            Kind::Ours => {}
            Kind::OursLearning => self
                .bounds
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .path_failed(&HopAmount::of_path(payer, path), hop),
        }
    }

    fn succeeded(&mut self, payer: &PublicKey, path: &lightning::routing::router::Path) {
        self.clock += Duration::from_secs(1);
        match self.kind {
            Kind::Anchor => self.scorer.payment_path_successful(path, self.clock),
            Kind::Ours => {}
            Kind::OursLearning => self
                .bounds
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .path_succeeded(&HopAmount::of_path(payer, path)),
        }
    }
}

/// The retry budget of one payment.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Rounds (attempts) at most.
    pub max_attempts: u32,
    /// Route-search wall time at most, in milliseconds (Core Lightning's `retry_for`, with the
    /// network's round trips not simulated).
    pub max_search_ms: f64,
}

/// What happened to one payment.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// All parts arrived.
    pub succeeded: bool,
    /// Rounds in which parts were sent.
    pub attempts: u32,
    /// Fees of the parts that arrived (all of them when it succeeded), msat.
    pub fee_msat: u64,
    /// Parts sent in all.
    pub parts_sent: u32,
    /// Route-search wall and thread CPU time over all rounds, ms.
    pub search_ms: f64,
    /// Thread CPU time of the searches, ms.
    pub search_cpu_ms: f64,
    /// Why it ended unpaid: the router's error, or the budget.
    pub error: Option<String>,
    /// What was left unpaid at the end, msat.
    pub remaining_msat: u64,
    /// Parts that failed, with the amount each failing hop was asked to forward.
    pub failed_parts: Vec<(u64, u64)>,
}

/// Pays `amount_msat` from `payer` to `payee` over `oracle` with `contender` (see the
/// [module documentation](self)); `seed` varies the policy's randomization and shadow offset.
pub fn pay(
    oracle: &Oracle,
    contender: &mut Contender,
    (payer, payee): (&PublicKey, &PublicKey),
    amount_msat: u64,
    budget: Budget,
    seed: u64,
) -> Outcome {
    let mut out = Outcome::default();
    let limit_msat = fee_limit_msat(amount_msat, MAXFEEPERCENT, EXEMPTFEE_MSAT, None);
    let mut remaining = amount_msat;
    let mut held = Vec::new();
    let mut locks = Locks::new();
    let mut failed_scids: Vec<u64> = Vec::new();
    out.remaining_msat = amount_msat;
    while out.attempts < budget.max_attempts {
        if out.search_ms > budget.max_search_ms {
            out.error = Some("retry_for spent".into());
            return out;
        }
        let pp = match PaymentParameters::from_node_id(*payee, FINAL_CLTV)
            .with_bolt11_features(mpp_features())
        {
            Ok(mut pp) => {
                pp.max_total_cltv_expiry_delta = MAXDELAY_BLOCKS;
                pp.previously_failed_channels = failed_scids.clone();
                pp
            }
            Err(()) => {
                out.error = Some("invoice features".into());
                return out;
            }
        };
        let mut rp = RouteParameters::from_payment_params_and_value(pp, remaining);
        rp.max_total_routing_fee_msat = Some(limit_msat.saturating_sub(out.fee_msat));
        let mut inflight = InFlightHtlcs::new();
        for path in &held {
            inflight.process_path(path, *payer);
        }
        let round_seed = seed ^ (u64::from(out.attempts) << 56);
        let channels = oracle.first_hops(payer, &locks);
        let first_hops: Vec<&ChannelDetails> = channels.iter().collect();
        let (route, (wall_us, cpu_us)) =
            timed(|| contender.route(payer, &rp, (&first_hops, &inflight), round_seed));
        out.search_ms += wall_us / 1e3;
        out.search_cpu_ms += cpu_us / 1e3;
        let route = match route {
            Ok(r) => r,
            Err(e) => {
                if *PROBE {
                    eprintln!(
                        "probe attempt {} of {amount_msat} msat, {remaining} left, {} failed channels:",
                        out.attempts,
                        failed_scids.len()
                    );
                    probe(contender, payer, &rp, (&first_hops, &inflight));
                }
                out.error = Some(e.to_string());
                return out;
            }
        };
        out.attempts += 1;
        for path in route.paths {
            out.parts_sent += 1;
            match oracle.send(payer, &path, &mut locks) {
                Ok(()) => {
                    out.fee_msat = out.fee_msat.saturating_add(path.fee_msat());
                    remaining = remaining.saturating_sub(path.final_value_msat());
                    out.remaining_msat = remaining;
                    held.push(path);
                }
                Err(f) => {
                    let asked =
                        HopAmount::of_path(payer, &path).get(f.hop).map_or(0, |h| h.amount_msat);
                    out.failed_parts.push((f.scid, asked));
                    contender.failed(payer, &path, f.hop);
                    if !failed_scids.contains(&f.scid) {
                        failed_scids.push(f.scid);
                    }
                }
            }
        }
        if remaining == 0 {
            for path in &held {
                contender.succeeded(payer, path);
            }
            out.succeeded = true;
            return out;
        }
    }
    out.error = Some("attempts spent".into());
    out
}

/// `BOLTD_B5_PROBE` set: every failed search is tried again with limits lifted, by this router
/// and by the anchor, on stderr (for work on the router).
static PROBE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("BOLTD_B5_PROBE").is_some());

fn probe(
    c: &Contender,
    payer: &PublicKey,
    rp: &RouteParameters,
    hops: (&[&ChannelDetails], &InFlightHtlcs),
) {
    let fresh = |kind| Contender::new(kind, &c.graph, &c.logger, &c.router);
    let (anchor, plain) = (fresh(Kind::Anchor), fresh(Kind::Ours));
    let try_it = |name: &str, rp: &RouteParameters| {
        let a = anchor.route(payer, rp, hops, 1).map(|r| (r.paths.len(), r.get_total_fees()));
        let o = c.route(payer, rp, hops, 1).map(|r| (r.paths.len(), r.get_total_fees()));
        eprintln!("probe {name}: anchor {a:?} ours {o:?}");
    };
    try_it("as is", rp);
    let mut r = rp.clone();
    r.max_total_routing_fee_msat = None;
    try_it("no fee limit", &r);
    let mut r = rp.clone();
    r.payment_params.max_total_cltv_expiry_delta = 10_000;
    try_it("no cltv limit", &r);
    let mut r = rp.clone();
    r.payment_params.max_path_count = 100;
    try_it("100 paths", &r);
    let mut r = rp.clone();
    r.payment_params.previously_failed_channels.clear();
    try_it("no failed channels", &r);
    eprintln!(
        "probe without bounds: {:?}",
        plain.route(payer, rp, hops, 1).map(|r| (r.paths.len(), r.get_total_fees()))
    );
}
