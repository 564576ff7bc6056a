//! B3: multi-hop latency, and the engine's own overhead against LDK's `ChannelManager` on the
//! same nodes.
//!
//! A - B - C - D on loopback, in this process (the harness's in-process nodes expose the engine
//! and the node), with `htlc_forward_delay_ms = 0` on every node (see
//! [`Config::htlc_forward_delay_ms`](boltd_node::Config::htlc_forward_delay_ms)). D creates
//! the invoices ahead; A pays them one at a time, alternating two ways:
//!
//! - **engine**: `POST /api/v1/lightning/pay` on A's API (parse, checks, the idempotent intent
//!   record, the pre-flight route, the policy, LDK, the ledger's record of the outcome, the
//!   answer), timed from the call to the answer carrying the preimage;
//! - **direct**: `ChannelManager::pay_for_bolt11_invoice` on A's node with the same retry
//!   window, timed from the call to the node's `PaymentSent` (its payment tracker, woken by the
//!   event handler).
//!
//! The engine's overhead is measured **per payment**: the engine's own spans
//! ([`boltd_engine::payment::spans`]: from its `pay` being called to the node getting the
//! payment, and from LDK's `PaymentSent` to `pay` returning) plus HTTP (the client's latency
//! minus the engine's whole call), and reported as a distribution. The difference of the two
//! paths' latency percentiles is kept beside it (it is not a percentile of anything: p99 of a
//! difference is not the difference of the p99s).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use boltd_engine::pay::defaults::RETRY_FOR_SECS;
use boltd_engine::payment::spans::PaySpans;
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use boltd_node::deps::lightning::ln::channelmanager::{PaymentId, RecentPaymentDetails, Retry};
use boltd_node::deps::lightning::routing::router::RouteParametersConfig;
use lightning_invoice::Bolt11Invoice;
use serde::Serialize;

use crate::load::{Outcome, RunFigures};

/// What B3 runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct B3Plan {
    /// Payments each way (engine and direct), measured.
    pub payments_each: usize,
    /// Unmeasured payments through the engine first.
    pub warmup: usize,
    /// Amount of each payment, sat.
    pub amount_sat: u64,
    /// Size of each of the three channels, sat.
    pub channel_sat: u64,
    /// `htlc_forward_delay_ms` of every node (`None`: LDK's randomized delay).
    pub forward_delay_ms: Option<u64>,
}

impl B3Plan {
    /// The full size.
    pub fn full() -> Self {
        B3Plan {
            payments_each: 300,
            warmup: 10,
            amount_sat: 5_000,
            channel_sat: 5_000_000,
            forward_delay_ms: Some(0),
        }
    }

    /// The CI size.
    pub fn smoke() -> Self {
        B3Plan { payments_each: 5, warmup: 2, ..Self::full() }
    }
}

/// A distribution of durations, ms.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dist {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Dist {
    /// The distribution of `ms`.
    pub fn of(ms: &[f64]) -> Self {
        let mut v = ms.to_vec();
        v.sort_by(f64::total_cmp);
        let p = |q| crate::stats::percentile(&v, q);
        Dist {
            p50_ms: p(50.0),
            p90_ms: p(90.0),
            p99_ms: p(99.0),
            max_ms: v.last().copied().unwrap_or(0.0),
            mean_ms: if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 },
        }
    }
}

/// The engine's own time in each payment through the API, from its spans, ms.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerPayment {
    /// Payments with spans (every completed one).
    pub payments: usize,
    /// The engine's overhead: before the node + after LDK's event + HTTP.
    pub overhead: Dist,
    /// From `pay` being called to the node getting the payment (checks, the intent record,
    /// the pre-flight route).
    pub before_node: Dist,
    /// From LDK's `PaymentSent` to `pay` returning (the outcome record, waking the caller,
    /// reading the record back).
    pub after_node: Dist,
    /// HTTP: the client's latency minus the engine's whole call (request parsing,
    /// authorization, the answer's rendering, loopback).
    pub http: Dist,
    /// The node's part (LDK's route through boltd's router, the HTLCs, LDK's event), for
    /// comparison with the direct path.
    pub node: Dist,
}

/// Differences engine − direct of the latency percentiles, ms.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overhead {
    /// p50 difference.
    pub p50_ms: f64,
    /// p90 difference.
    pub p90_ms: f64,
    /// p99 difference.
    pub p99_ms: f64,
    /// Mean difference.
    pub mean_ms: f64,
}

/// B3's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct B3Figures {
    /// The plan that ran.
    pub plan: B3Plan,
    /// Through the engine's API: from the call to the preimage.
    pub engine: RunFigures,
    /// Straight to LDK's `ChannelManager`: from the call to `PaymentSent`.
    pub direct: RunFigures,
    /// The engine's own overhead per payment (its spans and HTTP).
    pub overhead: PerPayment,
    /// Engine − direct per latency percentile.
    pub percentile_difference: Overhead,
    /// Hops of the route (channels).
    pub hops: usize,
    /// Set-up time, seconds.
    pub setup_secs: f64,
    /// Measured engine payments whose pre-flight route answered LDK's first search (not
    /// searched twice).
    pub preflight_routes_reused: u64,
}

/// Runs B3 on `btc`, data directories under `dir`.
pub fn run(
    btc: &Bitcoind,
    dir: &Path,
    plan: &B3Plan,
    log: &dyn Fn(&str),
) -> Result<B3Figures, String> {
    let setup = Instant::now();
    let e = |e: HarnessError| e.to_string();
    let chain = ChainAccess::from(btc);
    let delay = plan.forward_delay_ms;
    let start = |name: &str| -> Result<TestNode, String> {
        TestNode::start_in_process_with(
            name,
            &dir.join(name),
            &chain,
            free_port().map_err(e)?,
            |a| {
                a.htlc_forward_delay_ms = delay;
            },
        )
        .map_err(e)
    };
    let (a, b, c, d) = (start("a")?, start("b")?, start("c")?, start("d")?);
    let all = [&a, &b, &c, &d];
    btc.mine(101).map_err(e)?;
    for (i, n) in [&a, &b, &c].into_iter().enumerate() {
        let others: Vec<&TestNode> = all.iter().copied().filter(|o| o.name != n.name).collect();
        fund(btc, n, &others).map_err(|err| format!("funding node {i}: {err}"))?;
    }
    for (from, to) in [(&a, &b), (&b, &c), (&c, &d)] {
        open_channel(btc, from, to, plan.channel_sat, 0, &all).map_err(e)?;
    }
    a.wait_for_gossip(3).map_err(e)?;
    mine_and_sync(btc, 1, &all).map_err(e)?;

    let total = plan.warmup + 2 * plan.payments_each;
    let mut invoices = Vec::with_capacity(total);
    for i in 0..total {
        let (inv, _) = d.invoice(plan.amount_sat, &format!("b3 {i}")).map_err(e)?;
        invoices.push(inv);
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    log(&format!("B3 lab ready in {setup_secs:.0} s"));

    let pay_url = a.api_url.clone();
    let engine = a.engine().ok_or("A runs in-process")?;
    // Each completed payment's spans, and its latency at the client: (spans, latency).
    let spans = std::cell::RefCell::new(Vec::new());
    let via_engine = |inv: &str| -> Result<(), String> {
        let hash =
            Bolt11Invoice::from_str(inv).map_err(|e| e.to_string())?.payment_hash().to_byte_array();
        let s = Instant::now();
        crate::payments::pay_boltd(&pay_url, a.admin_token(), inv)?;
        let latency = s.elapsed();
        let recorded = engine.pay_spans(&hash).ok_or("the payment left no spans")?;
        spans.borrow_mut().push((recorded, latency));
        Ok(())
    };
    let node = engine.node();
    let retry = Duration::from_secs(RETRY_FOR_SECS);
    // LDK directly: the payment is done when LDK marks it fulfilled (when it has the preimage,
    // as it queues `PaymentSent`), looked at every millisecond (at most 1 ms late).
    let direct = |inv: &str| -> Result<(), String> {
        let invoice = Bolt11Invoice::from_str(inv).map_err(|e| e.to_string())?;
        let id = PaymentId(rand::random());
        let cm = node.channel_manager();
        cm.pay_for_bolt11_invoice(
            &invoice,
            id,
            None,
            RouteParametersConfig::default(),
            Retry::Timeout(retry),
        )
        .map_err(|e| format!("{e:?}"))?;
        let deadline = Instant::now() + retry;
        loop {
            let state = cm.list_recent_payments().into_iter().find_map(|p| match p {
                RecentPaymentDetails::Fulfilled { payment_id, .. } if payment_id == id => {
                    Some(true)
                }
                RecentPaymentDetails::Abandoned { payment_id, .. } if payment_id == id => {
                    Some(false)
                }
                _ => None,
            });
            match state {
                Some(true) => return Ok(()),
                Some(false) => return Err("abandoned".into()),
                None if Instant::now() >= deadline => return Err("not complete in time".into()),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    };

    let mut it = invoices.iter();
    for inv in it.by_ref().take(plan.warmup) {
        if let Err(err) = via_engine(inv) {
            log(&format!("  warm-up payment failed: {err}"));
        }
    }
    spans.borrow_mut().clear();
    let reused_before = node.router().offered_routes_used();
    let (mut eng, mut dir_out) = (Vec::new(), Vec::new());
    let t = Instant::now();
    let mut wall = (Duration::ZERO, Duration::ZERO);
    for _ in 0..plan.payments_each {
        // Interleaved, so both see the same channel states and machine load.
        for (out, f, w) in [
            (&mut eng, &via_engine as &dyn Fn(&str) -> Result<(), String>, &mut wall.0),
            (&mut dir_out, &direct, &mut wall.1),
        ] {
            let inv = it.next().ok_or("out of invoices")?;
            let s = Instant::now();
            let result = f(inv);
            let latency = s.elapsed();
            *w += latency;
            out.push(Outcome { latency, result });
        }
    }
    log(&format!("  B3 payments done in {:.1} s", t.elapsed().as_secs_f64()));
    let engine_fig = RunFigures::of(1, &eng, wall.0);
    let direct_fig = RunFigures::of(1, &dir_out, wall.1);
    let percentile_difference = Overhead {
        p50_ms: engine_fig.p50_ms - direct_fig.p50_ms,
        p90_ms: engine_fig.p90_ms - direct_fig.p90_ms,
        p99_ms: engine_fig.p99_ms - direct_fig.p99_ms,
        mean_ms: engine_fig.mean_ms - direct_fig.mean_ms,
    };
    let overhead = per_payment(&spans.into_inner());
    let preflight_routes_reused = node.router().offered_routes_used() - reused_before;
    log(&format!(
        "  engine p50 {:.1} / p99 {:.1} ms, direct p50 {:.1} / p99 {:.1} ms; the engine's own \
         overhead per payment p50 {:.2}, p99 {:.2} ms (before the node p99 {:.2}, after it {:.2}, \
         HTTP {:.2})",
        engine_fig.p50_ms,
        engine_fig.p99_ms,
        direct_fig.p50_ms,
        direct_fig.p99_ms,
        overhead.overhead.p50_ms,
        overhead.overhead.p99_ms,
        overhead.before_node.p99_ms,
        overhead.after_node.p99_ms,
        overhead.http.p99_ms,
    ));
    Ok(B3Figures {
        plan: plan.clone(),
        engine: engine_fig,
        direct: direct_fig,
        overhead,
        percentile_difference,
        hops: 3,
        setup_secs,
        preflight_routes_reused,
    })
}

/// The per-payment distributions of `spans` (each payment's spans and client latency).
pub fn per_payment(spans: &[(PaySpans, Duration)]) -> PerPayment {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let col = |f: &dyn Fn(&PaySpans, Duration) -> f64| {
        Dist::of(&spans.iter().map(|(s, l)| f(s, *l)).collect::<Vec<_>>())
    };
    // HTTP: what the client waited beyond the engine's call (never negative: the two clocks
    // are one, but the engine's instants are taken inside the client's).
    let http = |s: &PaySpans, l: Duration| ms(l.saturating_sub(s.total()));
    PerPayment {
        payments: spans.len(),
        overhead: col(&|s, l| ms(s.engine()) + http(s, l)),
        before_node: col(&|s, _| ms(s.before_node)),
        after_node: col(&|s, _| ms(s.after_node)),
        http: col(&http),
        node: col(&|s, _| ms(s.node)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overhead_is_a_distribution_of_each_payments_own_overhead() {
        let ms = Duration::from_millis;
        // Two payments: one slow in the node, one slow in the engine. The difference of
        // percentiles would mix them; per payment, the overheads are 3 and 9 ms.
        let spans = [
            (PaySpans { before_node: ms(1), node: ms(100), after_node: ms(1) }, ms(103)),
            (PaySpans { before_node: ms(4), node: ms(10), after_node: ms(4) }, ms(19)),
        ];
        let p = per_payment(&spans);
        assert_eq!(p.payments, 2);
        assert_eq!((p.overhead.p50_ms, p.overhead.max_ms), (3.0, 9.0));
        assert_eq!((p.http.p50_ms, p.http.max_ms), (1.0, 1.0));
        assert_eq!(p.node.max_ms, 100.0);
        assert_eq!(Dist::of(&[]).p99_ms, 0.0);
    }
}
