//! Percentiles and per-workload summaries of route searches.

use std::collections::BTreeMap;

use serde::Serialize;

/// The quality of a route found.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    /// Total fee in ppm of the amount.
    pub fee_ppm: f64,
    /// Total CLTV of the slowest path (final delta and shadow offset included).
    pub cltv: u32,
    /// Parts (paths).
    pub parts: usize,
    /// Success probability with a uniform prior on each channel's liquidity: the product over
    /// the channel directions used of (capacity + 1 − amount) / (capacity + 1), the amount being
    /// what all parts together send over the direction.
    pub p_uniform: f64,
    /// The same with LDK's no-history prior (density ∝ 1/256 + 9·(x − ½)^8, without LDK's
    /// extra 64/78 discount).
    pub p_bimodal: f64,
}

/// One route search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Wall time of the `find_route` call, in microseconds.
    pub micros: f64,
    /// CPU time of the calling thread during the call, in microseconds (on a shared machine,
    /// wall time also counts waiting for a core).
    pub cpu_micros: f64,
    /// The route found.
    pub route: Option<Quality>,
    /// LDK's error when no route was found.
    pub error: Option<&'static str>,
}

/// The nearest-rank percentile `p` (0..=100) of `sorted` (ascending); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Figures of one router on one workload.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Searches.
    pub pairs: usize,
    /// Share of the searches that returned a route (0..=1).
    pub routed_share: f64,
    /// Time per search (routed or not), milliseconds: p50, p90, p99, max, mean.
    pub ms_p50: f64,
    /// p90, ms.
    pub ms_p90: f64,
    /// p99, ms.
    pub ms_p99: f64,
    /// Max, ms.
    pub ms_max: f64,
    /// Mean, ms.
    pub ms_mean: f64,
    /// Thread CPU time per search, ms: p50.
    pub cpu_ms_p50: f64,
    /// Thread CPU time per search, ms: p99.
    pub cpu_ms_p99: f64,
    /// Total fee in ppm of the amount over the routed pairs: p50 and mean.
    pub fee_ppm_p50: f64,
    /// Mean fee ppm.
    pub fee_ppm_mean: f64,
    /// Total CLTV (the slowest path, final hop and shadow offset included): p50 and mean.
    pub cltv_p50: f64,
    /// Mean CLTV.
    pub cltv_mean: f64,
    /// Parts (paths) per route: mean and max.
    pub parts_mean: f64,
    /// Max parts.
    pub parts_max: usize,
    /// Success probability, uniform prior: mean over the routed pairs.
    pub p_uniform_mean: f64,
    /// Success probability, LDK's no-history prior: mean over the routed pairs.
    pub p_bimodal_mean: f64,
    /// Why searches failed: LDK's error message and count.
    pub errors: BTreeMap<String, usize>,
}

impl Summary {
    /// Summarizes `samples`.
    pub fn of(samples: &[Sample]) -> Self {
        let times = sorted(samples.iter().map(|s| s.micros / 1000.0).collect());
        let cpu = sorted(samples.iter().map(|s| s.cpu_micros / 1000.0).collect());
        let routes: Vec<_> = samples.iter().filter_map(|s| s.route).collect();
        let fees = sorted(routes.iter().map(|r| r.fee_ppm).collect());
        let cltvs = sorted(routes.iter().map(|r| f64::from(r.cltv)).collect());
        let parts: Vec<f64> = routes.iter().map(|r| r.parts as f64).collect();
        let pu: Vec<f64> = routes.iter().map(|r| r.p_uniform).collect();
        let pb: Vec<f64> = routes.iter().map(|r| r.p_bimodal).collect();
        Summary {
            pairs: samples.len(),
            routed_share: if samples.is_empty() {
                0.0
            } else {
                routes.len() as f64 / samples.len() as f64
            },
            ms_p50: percentile(&times, 50.0),
            ms_p90: percentile(&times, 90.0),
            ms_p99: percentile(&times, 99.0),
            ms_max: percentile(&times, 100.0),
            ms_mean: mean(&times),
            cpu_ms_p50: percentile(&cpu, 50.0),
            cpu_ms_p99: percentile(&cpu, 99.0),
            fee_ppm_p50: percentile(&fees, 50.0),
            fee_ppm_mean: mean(&fees),
            cltv_p50: percentile(&cltvs, 50.0),
            cltv_mean: mean(&cltvs),
            parts_mean: mean(&parts),
            parts_max: routes.iter().map(|r| r.parts).max().unwrap_or(0),
            p_uniform_mean: mean(&pu),
            p_bimodal_mean: mean(&pb),
            errors: samples.iter().filter_map(|s| s.error).fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e.to_owned()).or_insert(0) += 1;
                m
            }),
        }
    }
}

/// Ours against the anchor on the pairs both routed: ratios ours / anchor.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ratio {
    /// Pairs both routed.
    pub both_routed: usize,
    /// Pairs only the anchor routed.
    pub only_anchor: usize,
    /// Pairs only ours routed.
    pub only_ours: usize,
    /// p50 time ratio (all searches).
    pub ms_p50: f64,
    /// p99 time ratio (all searches).
    pub ms_p99: f64,
    /// Mean time ratio (all searches).
    pub ms_mean: f64,
    /// p99 thread CPU time ratio (all searches).
    pub cpu_ms_p99: f64,
    /// Mean fee ppm ratio on the pairs both routed.
    pub fee_ppm_mean: f64,
    /// Mean CLTV ratio on the pairs both routed.
    pub cltv_mean: f64,
    /// Mean parts ratio on the pairs both routed.
    pub parts_mean: f64,
    /// Mean success probability ratio (uniform prior) on the pairs both routed.
    pub p_uniform_mean: f64,
    /// Mean success probability ratio (LDK's prior) on the pairs both routed.
    pub p_bimodal_mean: f64,
    /// Pairs both routed where ours pays less / the same / more fees than the anchor.
    pub fee_lower_same_higher: (usize, usize, usize),
}

fn div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        if a == 0.0 {
            1.0
        } else {
            f64::INFINITY
        }
    } else {
        a / b
    }
}

impl Ratio {
    /// Compares `ours` with `anchor` (same pairs, same order).
    pub fn of(anchor: &[Sample], ours: &[Sample]) -> Self {
        let (a, o) = (Summary::of(anchor), Summary::of(ours));
        let both: Vec<_> =
            anchor.iter().zip(ours).filter_map(|(a, o)| Some((a.route?, o.route?))).collect();
        let m = |f: &dyn Fn(&Quality) -> f64, ours: bool| {
            mean(&both.iter().map(|(a, o)| f(if ours { o } else { a })).collect::<Vec<_>>())
        };
        let fee = |r: &Quality| r.fee_ppm;
        let cltv = |r: &Quality| f64::from(r.cltv);
        let parts = |r: &Quality| r.parts as f64;
        let pu = |r: &Quality| r.p_uniform;
        let pb = |r: &Quality| r.p_bimodal;
        let count =
            |f: &dyn Fn(&Quality, &Quality) -> bool| both.iter().filter(|(a, o)| f(a, o)).count();
        let tol = 1e-9;
        Ratio {
            both_routed: both.len(),
            only_anchor: anchor
                .iter()
                .zip(ours)
                .filter(|(a, o)| a.route.is_some() && o.route.is_none())
                .count(),
            only_ours: anchor
                .iter()
                .zip(ours)
                .filter(|(a, o)| a.route.is_none() && o.route.is_some())
                .count(),
            p_uniform_mean: div(m(&pu, true), m(&pu, false)),
            p_bimodal_mean: div(m(&pb, true), m(&pb, false)),
            fee_lower_same_higher: (
                count(&|a, o| o.fee_ppm < a.fee_ppm - tol),
                count(&|a, o| (o.fee_ppm - a.fee_ppm).abs() <= tol),
                count(&|a, o| o.fee_ppm > a.fee_ppm + tol),
            ),
            ms_p50: div(o.ms_p50, a.ms_p50),
            ms_p99: div(o.ms_p99, a.ms_p99),
            ms_mean: div(o.ms_mean, a.ms_mean),
            cpu_ms_p99: div(o.cpu_ms_p99, a.cpu_ms_p99),
            fee_ppm_mean: div(m(&fee, true), m(&fee, false)),
            cltv_mean: div(m(&cltv, true), m(&cltv, false)),
            parts_mean: div(m(&parts, true), m(&parts, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 90.0), 90.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summaries_and_ratios() {
        let q = |fee_ppm: f64, cltv: u32, parts: usize| Quality {
            fee_ppm,
            cltv,
            parts,
            p_uniform: 0.5,
            p_bimodal: 0.25,
        };
        let s = |ms: f64, route: Option<Quality>| Sample {
            micros: ms * 1000.0,
            cpu_micros: ms * 500.0,
            route,
            error: route.is_none().then_some("no route"),
        };
        let anchor = [s(1.0, Some(q(100.0, 100, 1))), s(3.0, None), s(2.0, Some(q(300.0, 200, 2)))];
        let ours = [s(2.0, Some(q(200.0, 100, 1))), s(6.0, Some(q(1.0, 1, 1))), s(4.0, None)];
        let a = Summary::of(&anchor);
        assert_eq!(a.pairs, 3);
        assert!((a.routed_share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!((a.ms_p50, a.ms_max), (2.0, 3.0));
        assert_eq!((a.fee_ppm_mean, a.cltv_p50, a.parts_max), (200.0, 100.0, 2));
        assert_eq!(a.errors, BTreeMap::from([("no route".to_owned(), 1)]));
        let r = Ratio::of(&anchor, &ours);
        assert_eq!(r.both_routed, 1);
        assert_eq!((r.ms_p50, r.fee_ppm_mean, r.cltv_mean), (2.0, 2.0, 1.0));
        assert_eq!((r.only_anchor, r.only_ours), (1, 1));
        assert_eq!(r.fee_lower_same_higher, (0, 0, 1));
        assert_eq!((r.p_uniform_mean, a.p_bimodal_mean), (1.0, 0.25));
    }
}
