//! Percentiles and per-workload summaries of route searches.

use std::collections::BTreeMap;

use serde::Serialize;

/// One route search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Wall time of the `find_route` call, in microseconds.
    pub micros: f64,
    /// The route found: (total fee in ppm of the amount, total CLTV of the slowest path, parts).
    pub route: Option<(f64, u32, usize)>,
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
    /// Why searches failed: LDK's error message and count.
    pub errors: BTreeMap<String, usize>,
}

impl Summary {
    /// Summarizes `samples`.
    pub fn of(samples: &[Sample]) -> Self {
        let times = sorted(samples.iter().map(|s| s.micros / 1000.0).collect());
        let routes: Vec<_> = samples.iter().filter_map(|s| s.route).collect();
        let fees = sorted(routes.iter().map(|r| r.0).collect());
        let cltvs = sorted(routes.iter().map(|r| f64::from(r.1)).collect());
        let parts: Vec<f64> = routes.iter().map(|r| r.2 as f64).collect();
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
            fee_ppm_p50: percentile(&fees, 50.0),
            fee_ppm_mean: mean(&fees),
            cltv_p50: percentile(&cltvs, 50.0),
            cltv_mean: mean(&cltvs),
            parts_mean: mean(&parts),
            parts_max: routes.iter().map(|r| r.2).max().unwrap_or(0),
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
    /// p50 time ratio (all searches).
    pub ms_p50: f64,
    /// p99 time ratio (all searches).
    pub ms_p99: f64,
    /// Mean time ratio (all searches).
    pub ms_mean: f64,
    /// Mean fee ppm ratio on the pairs both routed.
    pub fee_ppm_mean: f64,
    /// Mean CLTV ratio on the pairs both routed.
    pub cltv_mean: f64,
    /// Mean parts ratio on the pairs both routed.
    pub parts_mean: f64,
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
        let m = |f: &dyn Fn(&(f64, u32, usize)) -> f64, ours: bool| {
            mean(&both.iter().map(|(a, o)| f(if ours { o } else { a })).collect::<Vec<_>>())
        };
        let fee = |r: &(f64, u32, usize)| r.0;
        let cltv = |r: &(f64, u32, usize)| f64::from(r.1);
        let parts = |r: &(f64, u32, usize)| r.2 as f64;
        Ratio {
            both_routed: both.len(),
            ms_p50: div(o.ms_p50, a.ms_p50),
            ms_p99: div(o.ms_p99, a.ms_p99),
            ms_mean: div(o.ms_mean, a.ms_mean),
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
        let s = |ms: f64, route: Option<(f64, u32, usize)>| Sample {
            micros: ms * 1000.0,
            route,
            error: route.is_none().then_some("no route"),
        };
        let anchor = [s(1.0, Some((100.0, 100, 1))), s(3.0, None), s(2.0, Some((300.0, 200, 2)))];
        let ours = [s(2.0, Some((200.0, 100, 1))), s(6.0, Some((1.0, 1, 1))), s(4.0, None)];
        let a = Summary::of(&anchor);
        assert_eq!(a.pairs, 3);
        assert!((a.routed_share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!((a.ms_p50, a.ms_max), (2.0, 3.0));
        assert_eq!((a.fee_ppm_mean, a.cltv_p50, a.parts_max), (200.0, 100.0, 2));
        assert_eq!(a.errors, BTreeMap::from([("no route".to_owned(), 1)]));
        let r = Ratio::of(&anchor, &ours);
        assert_eq!(r.both_routed, 1);
        assert_eq!((r.ms_p50, r.fee_ppm_mean, r.cltv_mean), (2.0, 2.0, 1.0));
    }
}
