//! Figures of one workload for one router ([`Cell`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::sim::Outcome;
use crate::stats::percentile;

/// What the oracle knows about a payment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Truth {
    /// A flow of the amount exists over the hidden liquidity.
    pub feasible: bool,
    /// The reference fee ([`super::flow::FlowNet::cheapest_fee_msat`]), msat: `Some` proves
    /// the payment can be made at that fee.
    pub cheapest_fee_msat: Option<u64>,
    /// The reference fee is within the payer's fee limit: the payment can be made as the payer
    /// asks (the goals' denominator).
    pub payable: bool,
}

/// The figures of a set of payments.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cell {
    /// Payments.
    pub payments: usize,
    /// Payments that succeeded.
    pub succeeded: usize,
    /// Share of payments that succeeded.
    pub success_share: f64,
    /// Feasible payments.
    pub feasible: usize,
    /// Feasible payments that succeeded.
    pub succeeded_feasible: usize,
    /// Share of feasible payments that succeeded.
    pub success_feasible_share: f64,
    /// Payable payments (see [`Truth::payable`]).
    pub payable: usize,
    /// Payable payments that succeeded.
    pub succeeded_payable: usize,
    /// Share of payable payments that succeeded.
    pub success_payable_share: f64,
    /// Attempts (rounds) of the successful payments: median.
    pub attempts_p50: f64,
    /// p90.
    pub attempts_p90: f64,
    /// Mean.
    pub attempts_mean: f64,
    /// Successful payments with a reference fee: sum of fees paid / sum of reference fees.
    pub fee_over_cheapest_total: f64,
    /// Median of fee / reference over those with a reference fee above 0.
    pub fee_over_cheapest_p50: f64,
    /// p90 of the same.
    pub fee_over_cheapest_p90: f64,
    /// Share of successful payments paying at most 1.1 × the reference fee (+1 sat).
    pub fee_within_1_1_share: f64,
    /// Fee paid, ppm of the amount, mean over successful payments.
    pub fee_ppm_mean: f64,
    /// Route-search time to success (all rounds), ms: median.
    pub time_to_success_ms_p50: f64,
    /// p90.
    pub time_to_success_ms_p90: f64,
    /// Route-search thread CPU per payment (all payments), ms: mean.
    pub cpu_ms_mean: f64,
    /// Why payments ended unpaid ("(payable)" or "(feasible)" first for such ones).
    pub errors: BTreeMap<String, usize>,
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

impl Cell {
    /// Summarizes `outcomes` of payments of `amount_msat` with what the oracle knows (`truth`,
    /// the same order).
    pub fn of(outcomes: &[Outcome], truth: &[Truth], amount_msat: u64) -> Self {
        let mut c = Cell { payments: outcomes.len(), ..Cell::default() };
        let (mut attempts, mut ratios, mut times) = (Vec::new(), Vec::new(), Vec::new());
        let (mut fee_sum, mut ref_sum, mut within, mut with_ref, mut ppm) = (0u64, 0u64, 0, 0, 0.0);
        for (o, t) in outcomes.iter().zip(truth) {
            c.cpu_ms_mean += o.search_cpu_ms;
            if t.feasible {
                c.feasible += 1;
            }
            if t.payable {
                c.payable += 1;
            }
            if !o.succeeded {
                let why = o.error.clone().unwrap_or_default();
                let e = if t.payable {
                    format!("(payable) {why}")
                } else if t.feasible {
                    format!("(feasible) {why}")
                } else {
                    why
                };
                *c.errors.entry(e).or_insert(0) += 1;
                continue;
            }
            c.succeeded += 1;
            if t.feasible {
                c.succeeded_feasible += 1;
            }
            if t.payable {
                c.succeeded_payable += 1;
            }
            attempts.push(f64::from(o.attempts));
            times.push(o.search_ms);
            ppm += o.fee_msat as f64 / amount_msat as f64 * 1e6;
            if let Some(r) = t.cheapest_fee_msat {
                with_ref += 1;
                fee_sum = fee_sum.saturating_add(o.fee_msat);
                ref_sum = ref_sum.saturating_add(r);
                if o.fee_msat as f64 <= r as f64 * 1.1 + 1000.0 {
                    within += 1;
                }
                if r > 0 {
                    ratios.push(o.fee_msat as f64 / r as f64);
                }
            }
        }
        let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        c.success_share = share(c.succeeded, c.payments);
        c.success_feasible_share = share(c.succeeded_feasible, c.feasible);
        c.success_payable_share = share(c.succeeded_payable, c.payable);
        c.attempts_mean = attempts.iter().sum::<f64>() / attempts.len().max(1) as f64;
        let attempts = sorted(attempts);
        c.attempts_p50 = percentile(&attempts, 50.0);
        c.attempts_p90 = percentile(&attempts, 90.0);
        c.fee_over_cheapest_total =
            if ref_sum == 0 { 0.0 } else { fee_sum as f64 / ref_sum as f64 };
        let ratios = sorted(ratios);
        c.fee_over_cheapest_p50 = percentile(&ratios, 50.0);
        c.fee_over_cheapest_p90 = percentile(&ratios, 90.0);
        c.fee_within_1_1_share = share(within, with_ref);
        c.fee_ppm_mean = ppm / c.succeeded.max(1) as f64;
        let times = sorted(times);
        c.time_to_success_ms_p50 = percentile(&times, 50.0);
        c.time_to_success_ms_p90 = percentile(&times, 90.0);
        c.cpu_ms_mean /= c.payments.max(1) as f64;
        c
    }
}
