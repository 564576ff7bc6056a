//! What payments taught about the liquidity of channel directions: a lower and an upper bound
//! per direction ([`LiquidityBounds`]), learned from failures and successes, and the
//! success probability the search prices with them ([`negative_log10_within`]).
//!
//! A failure at hop *i* of a path says that hops *0..i* had the amount they forwarded (lower
//! bounds) and that hop *i* did not (an upper bound below what it had to forward); a success
//! says every hop had its amount. The search then conditions LDK's no-history prior on the
//! bounds: the success probability of sending `a` over a direction known to hold between `lo`
//! and `hi` is the prior's mass in `[a, hi]` over its mass in `[lo, hi]`, with LDK's 64/78
//! discount kept (so a learned hop never costs less than an unknown one at amount zero, which
//! keeps the search's A* bound valid), and it sends at most `hi` over the direction.
//!
//! Bounds do not decay here: liquidity moves on the real network, and a node should forget
//! bounds after a while (LDK halves its offsets every 6 hours); the caller owns the instance and
//! can [`LiquidityBounds::clear`] it or build a new one.

use std::collections::HashMap;

use crate::cost::{
    prior_success_probability, ANTI_PROBING_PENALTY_MSAT, BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT,
    BASE_PENALTY_MSAT, IMPOSSIBLE_PENALTY_MSAT, MAX_NEGATIVE_LOG10,
    PROBABILITY_PENALTY_AMOUNT_MULTIPLIER_MSAT, PROBABILITY_PENALTY_MULTIPLIER_MSAT,
};

/// Learned liquidity bounds per channel direction: (short channel id, source node id < target
/// node id, as in [`crate::InFlight`]) → (lower, upper) bound in msat, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiquidityBounds {
    map: HashMap<(u64, bool), (u64, u64)>,
}

/// One hop of a path as the network saw it: the channel direction and what it forwarded (the
/// amount to the next node, fees of later hops included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopAmount {
    /// Short channel id.
    pub scid: u64,
    /// Whether the hop goes from the lesser node id to the greater one (direction 0).
    pub dir_key: bool,
    /// What the hop had to carry, in msat.
    pub amount_msat: u64,
}

impl LiquidityBounds {
    /// No knowledge.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of directions with a bound.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// The (lower, upper) bound of a direction, if any was learned.
    pub fn bounds(&self, scid: u64, dir_key: bool) -> Option<(u64, u64)> {
        self.map.get(&(scid, dir_key)).copied()
    }

    /// The directions with a bound.
    pub fn keys(&self) -> impl Iterator<Item = &(u64, bool)> {
        self.map.keys()
    }

    fn at_least(&mut self, scid: u64, dir_key: bool, msat: u64) {
        let b = self.map.entry((scid, dir_key)).or_insert((0, u64::MAX));
        b.0 = b.0.max(msat);
        // A success after a failure at a larger amount: the newer fact wins.
        if b.1 < b.0 {
            b.1 = u64::MAX;
        }
    }

    fn less_than(&mut self, scid: u64, dir_key: bool, msat: u64) {
        let b = self.map.entry((scid, dir_key)).or_insert((0, u64::MAX));
        b.1 = b.1.min(msat.saturating_sub(1));
        if b.0 > b.1 {
            b.0 = 0;
        }
    }

    /// A path failed at hop `failed_hop` (index into `hops`, payer's hop first) for lack of
    /// liquidity: the hops before it had their amounts, that hop did not. An index past the
    /// end records the earlier hops only.
    pub fn path_failed(&mut self, hops: &[HopAmount], failed_hop: usize) {
        for h in hops.iter().take(failed_hop) {
            self.at_least(h.scid, h.dir_key, h.amount_msat);
        }
        if let Some(h) = hops.get(failed_hop) {
            self.less_than(h.scid, h.dir_key, h.amount_msat);
        }
    }

    /// A path reached the payee: every hop had its amount.
    pub fn path_succeeded(&mut self, hops: &[HopAmount]) {
        for h in hops {
            self.at_least(h.scid, h.dir_key, h.amount_msat);
        }
    }
}

/// −log10 of the success probability of sending `amount_msat` over a direction of
/// `capacity_msat` known to hold between `lo_msat` and `hi_msat`: LDK's no-history prior
/// conditioned on the bounds, with its 64/78 discount, between −log10(64/78) and
/// [`MAX_NEGATIVE_LOG10`] (see the [module documentation](self)).
pub fn negative_log10_within(
    amount_msat: u64,
    capacity_msat: u64,
    lo_msat: u64,
    hi_msat: u64,
) -> f64 {
    let floor = -(64.0f64 / 78.0).log10();
    if capacity_msat == 0 {
        return MAX_NEGATIVE_LOG10;
    }
    let hi = hi_msat.min(capacity_msat);
    let lo = lo_msat.min(hi);
    if amount_msat <= lo {
        return floor;
    }
    if amount_msat > hi {
        return MAX_NEGATIVE_LOG10;
    }
    let c = capacity_msat as f64;
    let mass = |x: u64| prior_success_probability(x as f64 / c);
    let (m_lo, m_hi, m_a) = (mass(lo), mass(hi), mass(amount_msat));
    let whole = m_lo - m_hi;
    let p = if whole <= 0.0 {
        // Bounds too close for the prior's resolution: uniform between them.
        (hi - amount_msat) as f64 / (hi - lo).max(1) as f64
    } else {
        ((m_a - m_hi) / whole).clamp(0.0, 1.0)
    } * 64.0
        / 78.0;
    if p <= 0.0 {
        return MAX_NEGATIVE_LOG10;
    }
    (-p.log10()).clamp(floor, MAX_NEGATIVE_LOG10)
}

/// [`crate::cost::public_hop_penalty_msat`] for a direction with learned `(lo, hi)` bounds:
/// the same per-hop and anti-probing penalties, the probability penalty from
/// [`negative_log10_within`] for `amount_msat` plus `inflight_msat`, and LDK's "considered
/// impossible" penalty when that exceeds the upper bound or the capacity.
pub fn learned_hop_penalty_msat(
    amount_msat: u64,
    inflight_msat: u64,
    capacity_msat: u64,
    anti_probing: bool,
    (lo_msat, hi_msat): (u64, u64),
) -> u64 {
    let base = BASE_PENALTY_MSAT
        .saturating_add(BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT.saturating_mul(amount_msat) >> 30);
    let total = amount_msat.saturating_add(inflight_msat);
    let nl = negative_log10_within(total, capacity_msat, lo_msat, hi_msat);
    let per_unit = PROBABILITY_PENALTY_MULTIPLIER_MSAT as f64
        + PROBABILITY_PENALTY_AMOUNT_MULTIPLIER_MSAT as f64 * amount_msat as f64
            / (1u64 << 20) as f64;
    let mut penalty = base.saturating_add((nl * per_unit) as u64);
    if anti_probing {
        penalty = penalty.saturating_add(ANTI_PROBING_PENALTY_MSAT);
    }
    if total > hi_msat || total >= capacity_msat {
        penalty = penalty.saturating_add(IMPOSSIBLE_PENALTY_MSAT);
    }
    penalty
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(scid: u64, amount_msat: u64) -> HopAmount {
        HopAmount { scid, dir_key: true, amount_msat }
    }

    #[test]
    fn failure_bounds_the_failing_hop_and_raises_the_earlier_ones() {
        let mut b = LiquidityBounds::new();
        b.path_failed(&[hop(1, 1_010), hop(2, 1_005), hop(3, 1_000)], 1);
        assert_eq!(b.bounds(1, true), Some((1_010, u64::MAX)));
        assert_eq!(b.bounds(2, true), Some((0, 1_004)));
        assert_eq!(b.bounds(3, true), None);
        assert_eq!(b.bounds(2, false), None);
        // A smaller failure tightens, a larger one does not loosen.
        b.path_failed(&[hop(2, 800)], 0);
        b.path_failed(&[hop(2, 5_000)], 0);
        assert_eq!(b.bounds(2, true), Some((0, 799)));
        b.path_succeeded(&[hop(2, 500)]);
        assert_eq!(b.bounds(2, true), Some((500, 799)));
        // Contradicting facts: the newer one wins.
        b.path_succeeded(&[hop(2, 900)]);
        assert_eq!(b.bounds(2, true), Some((900, u64::MAX)));
        b.path_failed(&[hop(2, 100)], 0);
        assert_eq!(b.bounds(2, true), Some((0, 99)));
        assert_eq!(b.len(), 2);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn conditioned_probability_follows_the_bounds() {
        let c = 1_000_000;
        let floor = -(64.0f64 / 78.0).log10();
        // Below the lower bound: certain (the discount only).
        assert!((negative_log10_within(300_000, c, 400_000, c) - floor).abs() < 1e-12);
        // Above the upper bound: impossible.
        assert_eq!(negative_log10_within(500_001, c, 0, 500_000), MAX_NEGATIVE_LOG10);
        // No bounds: the prior itself.
        let prior = -(prior_success_probability(0.3)).log10();
        assert!((negative_log10_within(300_000, c, 0, c) - prior).abs() < 1e-9);
        // A lower upper bound makes the same amount less likely; a higher lower bound more.
        let free = negative_log10_within(300_000, c, 0, c);
        assert!(negative_log10_within(300_000, c, 0, 600_000) > free);
        assert!(negative_log10_within(300_000, c, 200_000, c) < free);
        // The hop penalty: cheaper than the prior's below the lower bound, never below the
        // prior's at amount zero (the search's A* bound), impossible above the upper bound.
        let prior = crate::cost::public_hop_penalty_msat(300_000, 0, c, false);
        let known = learned_hop_penalty_msat(300_000, 0, c, false, (400_000, c));
        assert!(known < prior);
        assert!(known >= crate::cost::public_hop_penalty_msat(0, 0, c, false));
        assert!(
            learned_hop_penalty_msat(300_000, 0, c, false, (0, 299_999)) >= IMPOSSIBLE_PENALTY_MSAT
        );
        // Monotone in the amount within the bounds.
        let mut last = 0.0;
        for a in (100_000..=600_000).step_by(50_000) {
            let v = negative_log10_within(a, c, 100_000, 600_000);
            assert!(v >= last, "{a}");
            last = v;
        }
    }
}
