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
//! The engine's overhead is the difference of the two latency distributions (p50, p90, p99).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use boltd_engine::pay::defaults::RETRY_FOR_SECS;
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

/// Differences engine − direct, ms.
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
    /// The engine's own overhead.
    pub overhead: Overhead,
    /// Hops of the route (channels).
    pub hops: usize,
    /// Set-up time, seconds.
    pub setup_secs: f64,
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
    let via_engine = |inv: &str| crate::payments::pay_boltd(&pay_url, a.admin_token(), inv);
    let engine = a.engine().ok_or("A runs in-process")?;
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
    let overhead = Overhead {
        p50_ms: engine_fig.p50_ms - direct_fig.p50_ms,
        p90_ms: engine_fig.p90_ms - direct_fig.p90_ms,
        p99_ms: engine_fig.p99_ms - direct_fig.p99_ms,
        mean_ms: engine_fig.mean_ms - direct_fig.mean_ms,
    };
    log(&format!(
        "  engine p50 {:.1} / p99 {:.1} ms, direct p50 {:.1} / p99 {:.1} ms: overhead p50 {:.1}, p99 {:.1} ms",
        engine_fig.p50_ms,
        engine_fig.p99_ms,
        direct_fig.p50_ms,
        direct_fig.p99_ms,
        overhead.p50_ms,
        overhead.p99_ms
    ));
    Ok(B3Figures {
        plan: plan.clone(),
        engine: engine_fig,
        direct: direct_fig,
        overhead,
        hops: 3,
        setup_secs,
    })
}
