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
//! Liquidity moves on the real network, so a node forgets what it learned: an instance made with
//! [`LiquidityBounds::with_max_age`] ignores (and in time drops) a direction's bounds once they
//! are older than that, counted from the last fact about the direction (the node uses
//! [`NODE_MAX_AGE`]; LDK halves its scorer's offsets every 6 hours). [`LiquidityBounds::new`]
//! never forgets (the benchmarks' learners); the owner can [`LiquidityBounds::clear`] it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use lightning::routing::gossip::NodeId;
use lightning::routing::router::Path;

use crate::cost::{
    prior_success_probability, ANTI_PROBING_PENALTY_MSAT, BASE_PENALTY_AMOUNT_MULTIPLIER_MSAT,
    BASE_PENALTY_MSAT, IMPOSSIBLE_PENALTY_MSAT, MAX_NEGATIVE_LOG10,
    PROBABILITY_PENALTY_AMOUNT_MULTIPLIER_MSAT, PROBABILITY_PENALTY_MULTIPLIER_MSAT,
};

/// Learned liquidity bounds per channel direction: (short channel id, source node id < target
/// node id, as in [`crate::InFlight`]) → (lower, upper) bound in msat, both inclusive.
#[derive(Debug, Clone, Default)]
pub struct LiquidityBounds {
    map: HashMap<(u64, bool), Learned>,
    /// Bounds older than this are ignored and, in time, dropped.
    max_age: Option<Duration>,
    /// Updates since expired entries were last dropped.
    updates: u32,
}

/// How long the node keeps what a payment taught about a channel direction.
pub const NODE_MAX_AGE: Duration = Duration::from_secs(3600);

/// Updates between two sweeps of expired entries.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug, Clone, Copy)]
struct Learned {
    lo_msat: u64,
    hi_msat: u64,
    /// When the last fact about the direction was learned.
    at: Instant,
}

impl Learned {
    /// Not yet forgotten under `max_age` (`None`: never forgotten).
    fn live(&self, max_age: Option<Duration>) -> bool {
        max_age.is_none_or(|age| self.at.elapsed() < age)
    }
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

impl HopAmount {
    /// The channel directions of `path` from `payer` and what each forwards (the amount to the
    /// next node: fees of the later hops included), payer's hop first.
    pub fn of_path(payer: &PublicKey, path: &Path) -> Vec<HopAmount> {
        let mut amounts: Vec<u64> = path
            .hops
            .iter()
            .rev()
            .scan(0u64, |downstream, h| {
                *downstream = downstream.saturating_add(h.fee_msat);
                Some(*downstream)
            })
            .collect();
        amounts.reverse();
        let mut source = NodeId::from_pubkey(payer);
        path.hops
            .iter()
            .zip(amounts)
            .map(|(h, amount_msat)| {
                let target = NodeId::from_pubkey(&h.pubkey);
                let hop =
                    HopAmount { scid: h.short_channel_id, dir_key: source < target, amount_msat };
                source = target;
                hop
            })
            .collect()
    }
}

impl LiquidityBounds {
    /// No knowledge, never forgetting.
    pub fn new() -> Self {
        Self::default()
    }

    /// No knowledge; what is learned is forgotten `max_age` after the last fact about it.
    pub fn with_max_age(max_age: Duration) -> Self {
        Self { max_age: Some(max_age), ..Self::default() }
    }

    fn live(&self, l: &Learned) -> bool {
        l.live(self.max_age)
    }

    /// The number of directions with a bound (forgotten ones may still be counted until the
    /// next sweep).
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

    /// The (lower, upper) bound of a direction, if any was learned (and not forgotten).
    pub fn bounds(&self, scid: u64, dir_key: bool) -> Option<(u64, u64)> {
        self.map.get(&(scid, dir_key)).filter(|l| self.live(l)).map(|l| (l.lo_msat, l.hi_msat))
    }

    /// The directions with a bound.
    pub fn keys(&self) -> impl Iterator<Item = &(u64, bool)> {
        self.map.iter().filter(|(_, l)| self.live(l)).map(|(k, _)| k)
    }

    /// The entry of a direction to update: a forgotten one starts again from nothing.
    fn entry(&mut self, scid: u64, dir_key: bool) -> &mut Learned {
        self.updates += 1;
        let max_age = self.max_age;
        if self.updates >= SWEEP_EVERY && max_age.is_some() {
            self.updates = 0;
            self.map.retain(|_, l| l.live(max_age));
        }
        let now = Instant::now();
        let l = self.map.entry((scid, dir_key)).or_insert(Learned {
            lo_msat: 0,
            hi_msat: u64::MAX,
            at: now,
        });
        if !l.live(max_age) {
            (l.lo_msat, l.hi_msat) = (0, u64::MAX);
        }
        l.at = now;
        l
    }

    fn at_least(&mut self, scid: u64, dir_key: bool, msat: u64) {
        let b = self.entry(scid, dir_key);
        b.lo_msat = b.lo_msat.max(msat);
        // A success after a failure at a larger amount: the newer fact wins.
        if b.hi_msat < b.lo_msat {
            b.hi_msat = u64::MAX;
        }
    }

    fn less_than(&mut self, scid: u64, dir_key: bool, msat: u64) {
        let b = self.entry(scid, dir_key);
        b.hi_msat = b.hi_msat.min(msat.saturating_sub(1));
        if b.lo_msat > b.hi_msat {
            b.lo_msat = 0;
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

/// How much of what is still possible over a direction a search sends after a failure taught
/// its upper bound ([`learned_cap_msat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LearnedCap {
    /// At most the middle: the first search.
    #[default]
    Likely,
    /// At most three quarters: the search after the first found no route.
    Hopeful,
    /// At most fifteen sixteenths: the last search with the bounds, before they are dropped.
    Bold,
}

impl LearnedCap {
    /// The share of `lo..=hi` sent at most, as a fraction.
    fn fraction(self) -> (u128, u128) {
        match self {
            Self::Likely => (1, 2),
            Self::Hopeful => (3, 4),
            Self::Bold => (15, 16),
        }
    }
}

/// What a path may send over a direction with learned `(lo, hi)` bounds, `inflight_msat`
/// already over it: past `preferred_msat` (the saturation preference) up to the lower bound,
/// at most `full_msat` (the direction's own limit). After a failure taught an upper bound, no
/// more than a share of what is still possible (`lo + (hi + 1 − lo) / 2` in all with
/// [`LearnedCap::Likely`]: a failure at `a` with nothing known below allows `a / 2`): above the
/// middle a part is more likely to fail than not, and sending just under the amount that failed
/// (what the bound alone allows) fails again almost surely. Each failure so cuts what is tried
/// over the direction, and the rest of the payment is split onto other paths. Never the upper
/// bound itself, in any mode.
pub fn learned_cap_msat(
    preferred_msat: u64,
    full_msat: u64,
    (lo_msat, hi_msat): (u64, u64),
    inflight_msat: u64,
    mode: LearnedCap,
) -> u64 {
    let lo = lo_msat.min(full_msat);
    let likely = if hi_msat < full_msat {
        let from = lo_msat.min(hi_msat);
        let (num, den) = mode.fraction();
        // Below `hi - from + 1`, so `from + share <= hi`.
        let share = (u128::from(hi_msat - from) + 1) * num / den;
        from.saturating_add(u64::try_from(share).unwrap_or(u64::MAX))
    } else {
        hi_msat
    };
    preferred_msat.max(lo).min(likely.saturating_sub(inflight_msat))
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
    fn bounds_are_forgotten_after_their_max_age() {
        let mut b = LiquidityBounds::with_max_age(Duration::from_millis(30));
        b.path_failed(&[hop(1, 1_000)], 0);
        assert_eq!(b.bounds(1, true), Some((0, 999)));
        assert_eq!(b.keys().count(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.bounds(1, true), None);
        assert_eq!(b.keys().count(), 0);
        // A new fact about a forgotten direction starts from nothing, not from the old bound.
        b.path_succeeded(&[hop(1, 5_000)]);
        assert_eq!(b.bounds(1, true), Some((5_000, u64::MAX)));
        // Expired entries are dropped by the periodic sweep.
        std::thread::sleep(Duration::from_millis(40));
        for i in 0..SWEEP_EVERY {
            b.path_succeeded(&[hop(2, u64::from(i))]);
        }
        assert_eq!(b.len(), 1);
        // Without a max age nothing is forgotten.
        let mut forever = LiquidityBounds::new();
        forever.path_failed(&[hop(1, 1_000)], 0);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(forever.bounds(1, true), Some((0, 999)));
    }

    #[test]
    fn a_failure_halves_what_is_tried_over_the_direction() {
        let full = 10_000_000;
        let cap = |p, f, b, i| learned_cap_msat(p, f, b, i, LearnedCap::Likely);
        // Nothing failed: up to the upper bound of the direction's own limit; the lower bound
        // lifts the saturation preference.
        assert_eq!(cap(2_500_000, full, (0, u64::MAX), 0), 2_500_000);
        assert_eq!(cap(2_500_000, full, (4_000_000, u64::MAX), 0), 4_000_000);
        // Failed at 8M: at most the middle of 0..8M (two parts of 4M make 8M), less what is in
        // flight.
        assert_eq!(cap(full, full, (0, 7_999_999), 0), 4_000_000);
        assert_eq!(cap(full, full, (0, 7_999_999), 1_000_000), 3_000_000);
        // Then 4M got through: the middle of 4M..8M.
        assert_eq!(cap(full, full, (4_000_000, 7_999_999), 0), 6_000_000);
        // In flight beyond the cap: nothing more.
        assert_eq!(cap(full, full, (0, 999), 5_000), 0);
        // The later searches send more of what is possible, never the amount that failed.
        let with = |mode| learned_cap_msat(full, full, (0, 7_999_999), 0, mode);
        assert_eq!(with(LearnedCap::Hopeful), 6_000_000);
        assert_eq!(with(LearnedCap::Bold), 7_500_000);
        assert_eq!(learned_cap_msat(full, full, (5, 5), 0, LearnedCap::Bold), 5);
        assert_eq!(learned_cap_msat(full, full, (4_000_000, u64::MAX), 0, LearnedCap::Bold), full);
    }

    #[test]
    fn hop_amounts_of_a_path_include_the_later_hops_fees() {
        use bitcoin::secp256k1::{Secp256k1, SecretKey};
        use lightning::routing::router::RouteHop;
        use lightning::types::features::{ChannelFeatures, NodeFeatures};
        let secp = Secp256k1::new();
        let key =
            |b: u8| PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[b; 32]).unwrap());
        let (payer, a, b) = (key(1), key(2), key(3));
        let route_hop = |pubkey, scid, fee_msat| RouteHop {
            pubkey,
            node_features: NodeFeatures::empty(),
            short_channel_id: scid,
            channel_features: ChannelFeatures::empty(),
            fee_msat,
            cltv_expiry_delta: 40,
            maybe_announced_channel: true,
        };
        let path =
            Path { hops: vec![route_hop(a, 7, 10), route_hop(b, 8, 1_000)], blinded_tail: None };
        let hops = HopAmount::of_path(&payer, &path);
        let dir = |x: &PublicKey, y: &PublicKey| NodeId::from_pubkey(x) < NodeId::from_pubkey(y);
        assert_eq!(
            hops,
            vec![
                HopAmount { scid: 7, dir_key: dir(&payer, &a), amount_msat: 1_010 },
                HopAmount { scid: 8, dir_key: dir(&a, &b), amount_msat: 1_000 },
            ]
        );
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
