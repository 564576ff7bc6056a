//! [`PolicyScorer`]: a [`PaymentPolicy`] as an LDK [`ScoreLookUp`], for the routes
//! [`crate::router::PolicyRouter`] leaves to LDK's `find_route` (blinded payees).

use std::collections::HashSet;

use bitcoin::secp256k1::PublicKey;
use lightning::routing::gossip::NodeId;
use lightning::routing::router::CandidateRouteHop;
use lightning::routing::scoring::{ChannelUsage, ScoreLookUp};

use crate::cost::splitmix64;
use crate::policy::{
    channel_direction, risk_cost_msat, PaymentPolicy, RANDOM_PENALTY_BASE_MSAT,
    RANDOM_PENALTY_PERCENT,
};

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
