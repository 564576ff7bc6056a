//! What a hop costs the search: its fee, Core Lightning's risk cost, a success-probability
//! penalty and LDK's per-hop penalties, and the seeded randomization (see the
//! [module documentation](super)).
//!
//! The penalties reproduce LDK's default `ProbabilisticScorer` for a channel it has no history
//! for (`ProbabilisticScoringFeeParameters::default()`), so that boltd's router optimizes what
//! the anchor of issue 6 optimizes, plus the payment's policy:
//!
//! - per hop: `base_penalty_msat` (1024) + `base_penalty_amount_multiplier_msat` (131 072) ×
//!   amount / 2^30, and the anti-probing penalty (250) when `htlc_maximum_msat` is at least half
//!   the capacity;
//! - success probability: LDK's no-history prior on the liquidity of a channel of capacity `c`
//!   (density ∝ 1/256 + 9·(x − ½)^8 on x = liquidity / `c`), scaled by 64/78 for a channel never
//!   seen to succeed, priced as −log10(P) × (10 000 + 1 250 × amount / 2^20) msat with
//!   −log10(P) at most 2; an amount (plus what is already in flight on the channel) of at least
//!   the capacity costs LDK's "considered impossible" penalty on top.
//!
//! −log10(P) depends only on amount / capacity, so it is read from a table of 4 097 points with
//! linear interpolation instead of evaluating the polynomial and the logarithm on every edge.

use std::sync::OnceLock;

use crate::policy::{RANDOM_PENALTY_BASE_MSAT, RANDOM_PENALTY_PERCENT};

/// LDK's default `base_penalty_msat`.
pub const BASE_PENALTY_MSAT: u64 = 1024;
/// LDK's default `base_penalty_amount_multiplier_msat` (per 2^30 msat of amount).
pub const BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT: u64 = 131_072;
/// LDK's default `anti_probing_penalty_msat`.
pub const ANTI_PROBING_PENALTY_MSAT: u64 = 250;
/// LDK's default `historical_liquidity_penalty_multiplier_msat` (per unit of −log10 P).
pub const PROBABILITY_PENALTY_MULTIPLIER_MSAT: u64 = 10_000;
/// LDK's default `historical_liquidity_penalty_amount_multiplier_msat` (per unit of −log10 P,
/// per 2^20 msat of amount).
pub const PROBABILITY_PENALTY_AMOUNT_MULTIPLIER_MSAT: u64 = 1_250;
/// LDK's default `considered_impossible_penalty_msat`.
pub const IMPOSSIBLE_PENALTY_MSAT: u64 = 100_000_000_000;
/// The largest −log10(P) priced (LDK's `NEGATIVE_LOG10_UPPER_BOUND`).
pub const MAX_NEGATIVE_LOG10: f64 = 2.0;

const TABLE_STEPS: usize = 4096;

/// The no-history prior's success probability of sending the fraction `x` (0..1) of a channel's
/// capacity, with LDK's 64/78 discount for a channel never seen to succeed.
pub fn prior_success_probability(x: f64) -> f64 {
    if x <= 0.0 {
        return 64.0 / 78.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    let g = |y: f64| {
        let d = y - 0.5;
        let d2 = d * d;
        let d4 = d2 * d2;
        d * d4 * d4 + d / 256.0
    };
    let (max_v, min_v, amt_v) = (g(1.0), g(0.0), g(x));
    ((max_v - amt_v) / ((max_v - min_v) * 78.0 / 64.0)).clamp(0.0, 1.0)
}

fn table() -> &'static [f32; TABLE_STEPS + 1] {
    static TABLE: OnceLock<Box<[f32; TABLE_STEPS + 1]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0f32; TABLE_STEPS + 1]);
        for (i, v) in t.iter_mut().enumerate() {
            let p = prior_success_probability(i as f64 / TABLE_STEPS as f64);
            *v = if p <= 0.0 {
                MAX_NEGATIVE_LOG10 as f32
            } else {
                (-p.log10()).clamp(0.0, MAX_NEGATIVE_LOG10) as f32
            };
        }
        t
    })
}

/// −log10 of [`prior_success_probability`] for sending `amount_msat` over `capacity_msat`,
/// from the table, at most [`MAX_NEGATIVE_LOG10`].
#[inline]
pub fn negative_log10_probability(amount_msat: u64, capacity_msat: u64) -> f64 {
    if amount_msat >= capacity_msat {
        return MAX_NEGATIVE_LOG10;
    }
    let x = amount_msat as f64 / capacity_msat as f64 * TABLE_STEPS as f64;
    let i = x as usize;
    let t = table();
    let (a, b) = (f64::from(t[i]), f64::from(t[(i + 1).min(TABLE_STEPS)]));
    a + (b - a) * (x - i as f64)
}

/// LDK's no-history penalty for a public channel direction (see the module documentation):
/// `amount_msat` over the hop, `inflight_msat` already in flight over it, the capacity LDK
/// prices (`EffectiveCapacity::as_msat`), and whether the anti-probing penalty applies.
#[inline]
pub fn public_hop_penalty_msat(
    amount_msat: u64,
    inflight_msat: u64,
    capacity_msat: u64,
    anti_probing: bool,
) -> u64 {
    let base = BASE_PENALTY_MSAT
        .saturating_add(BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT.saturating_mul(amount_msat) >> 30);
    let total = amount_msat.saturating_add(inflight_msat);
    let nl = negative_log10_probability(total, capacity_msat);
    let per_unit = PROBABILITY_PENALTY_MULTIPLIER_MSAT as f64
        + PROBABILITY_PENALTY_AMOUNT_MULTIPLIER_MSAT as f64 * amount_msat as f64
            / (1u64 << 20) as f64;
    let mut penalty = base.saturating_add((nl * per_unit) as u64);
    if anti_probing {
        penalty = penalty.saturating_add(ANTI_PROBING_PENALTY_MSAT);
    }
    if total >= capacity_msat {
        penalty = penalty.saturating_add(IMPOSSIBLE_PENALTY_MSAT);
    }
    penalty
}

/// The routing fee a hop with `base_msat` and `ppm` charges for forwarding `amount_msat`
/// (LDK's `compute_fees`: rounded down), `None` on overflow.
#[inline]
pub fn fee_msat(amount_msat: u64, base_msat: u32, ppm: u32) -> Option<u64> {
    amount_msat
        .checked_mul(u64::from(ppm))
        .and_then(|p| u64::from(base_msat).checked_add(p / 1_000_000))
}

/// SplitMix64, the mixer of the route randomization.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The route randomization's penalty for a hop: uniform in
/// `0..=cost × RANDOM_PENALTY_PERCENT / 100 + RANDOM_PENALTY_BASE_MSAT`, where `cost` is the
/// hop's fee plus its other penalties, drawn from (`mixed_seed` = `splitmix64(seed)`, `scid`,
/// `direction`). The same function as the LDK-based policy scorer, so a policy means the same
/// on both routers.
#[inline]
pub fn random_penalty_msat(mixed_seed: u64, scid: u64, direction: u8, cost_msat: u64) -> u64 {
    // cost × percent / 100, exactly, without a 128-bit division.
    let span = (cost_msat / 100)
        .saturating_mul(RANDOM_PENALTY_PERCENT)
        .saturating_add(cost_msat % 100 * RANDOM_PENALTY_PERCENT / 100)
        .saturating_add(RANDOM_PENALTY_BASE_MSAT);
    let r = splitmix64(splitmix64(mixed_seed ^ scid) ^ u64::from(direction));
    match span.checked_add(1) {
        Some(modulus) => r % modulus,
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_matches_ldk_shape() {
        // No amount: the 64/78 discount only.
        assert!((prior_success_probability(0.0) - 64.0 / 78.0).abs() < 1e-12);
        // The bimodal prior: half the capacity succeeds half the time (times the discount).
        assert!((prior_success_probability(0.5) - 0.5 * 64.0 / 78.0).abs() < 1e-9);
        assert_eq!(prior_success_probability(1.0), 0.0);
        // Monotone decreasing.
        let mut last = 1.0;
        for i in 0..=100 {
            let p = prior_success_probability(f64::from(i) / 100.0);
            assert!(p <= last, "{i}");
            last = p;
        }
    }

    #[test]
    fn table_is_close_to_the_formula() {
        for (a, c) in [(1u64, 1000u64), (100, 1000), (333, 1000), (900, 1000), (999, 1000)] {
            let exact = (-prior_success_probability(a as f64 / c as f64).log10()).min(2.0);
            let approx = negative_log10_probability(a, c);
            assert!((exact - approx).abs() < 0.01, "{a}/{c}: {exact} vs {approx}");
        }
        assert_eq!(negative_log10_probability(1000, 1000), 2.0);
        assert_eq!(negative_log10_probability(5000, 1000), 2.0);
    }

    #[test]
    fn penalties_follow_ldk_defaults() {
        // 1 000 sat over a 1 BTC channel: base 1024 + 122 (amount / 8192), −log10(64/78 ...)
        // ≈ 0.086 × (10 000 + 1 192), plus anti-probing.
        let p = public_hop_penalty_msat(1_000_000, 0, 100_000_000_000, true);
        let nl = -(prior_success_probability(1e-5)).log10();
        let expect = 1024 + 122 + (nl * (10_000.0 + 1250.0 * 1e6 / 1048576.0)) as u64 + 250;
        assert!(p.abs_diff(expect) <= 2, "{p} vs {expect}");
        // Over the capacity: impossible.
        assert!(public_hop_penalty_msat(10, 0, 10, false) >= IMPOSSIBLE_PENALTY_MSAT);
        // In-flight amounts count towards the probability.
        assert!(
            public_hop_penalty_msat(1000, 5000, 10_000, false)
                > public_hop_penalty_msat(1000, 0, 10_000, false)
        );
    }

    #[test]
    fn fees_round_down_and_overflow() {
        assert_eq!(fee_msat(1_000_000, 1000, 100), Some(1100));
        assert_eq!(fee_msat(999_999, 0, 1), Some(0));
        assert_eq!(fee_msat(u64::MAX, 0, 2), None);
    }

    #[test]
    fn random_penalty_is_bounded_and_seeded() {
        let bound = 10_000 * RANDOM_PENALTY_PERCENT / 100 + RANDOM_PENALTY_BASE_MSAT;
        let mut seen = std::collections::HashSet::new();
        for seed in 0..500u64 {
            let m = splitmix64(seed);
            let r = random_penalty_msat(m, 42, 1, 10_000);
            assert!(r <= bound);
            assert_eq!(r, random_penalty_msat(m, 42, 1, 10_000));
            seen.insert(r);
        }
        assert!(seen.len() > 400);
    }
}
