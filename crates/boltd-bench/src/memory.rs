//! B6 (called B5 before issue 16; reports before it say B5): does the daemons' memory follow
//! the number of payments they ever made? (Issue 10: RSS after 100,000 payments within 1.2× of
//! RSS after 1,000.)
//!
//! The B2 pair (two `boltd serve` processes, one channel, half of it pushed to the payee so
//! both sides can pay) makes `payments` payments through the native API, `concurrency` at a
//! time, in batches of `batch` that alternate direction so the channel never runs dry. At each
//! checkpoint (after `first_checkpoint` payments, then every `every`), once the channel has no
//! HTLC in flight and after 2 s idle, both daemons' resident memory (`VmRSS`) is read, with
//! what LDK keeps on disk for the channel (the channel monitor with its pending update records,
//! and the channel manager: read from the daemon's database, read-only). Two parts of LDK grow
//! with the payments over a channel and explain growth that is not boltd's: the channel monitor
//! keeps the HTLC outputs of every counterparty commitment, revoked ones included, for as long
//! as the channel is open (rust-lightning issue 3049; LDK 0.2 has no way to offload them), and
//! the channel manager keeps every resolved payment for its idempotency window (7 timer ticks,
//! about 7 minutes).
//!
//! Then the idle node: the restarted payer, its channel open, sits idle while a block is mined
//! every `block_every_secs` (the playground's pace) for `idle_secs` (an hour at full size), its
//! RSS read six times on the way.

use std::path::Path;
use std::time::{Duration, Instant};

use boltd_harness::{fund, open_channel, Bitcoind, ChainAccess, TestNode};
use serde::Serialize;

use crate::load::{self, RunFigures};
use crate::machine;
use crate::payments::{create_invoices, pay_boltd, settle_boltd, spawn_timed};

/// What B6 runs.
#[derive(Debug, Clone, Serialize)]
pub struct B6Plan {
    /// Payments in all.
    pub payments: usize,
    /// Workers (payments in flight at once).
    pub concurrency: usize,
    /// Payments in one direction before the direction swaps.
    pub batch: usize,
    /// The first checkpoint (the baseline), in payments.
    pub first_checkpoint: usize,
    /// Checkpoints after the first, every this many payments.
    pub every: usize,
    /// Channel size, sat; half of it is pushed to the payee.
    pub channel_sat: u64,
    /// Amount of each payment, sat (above the dust threshold, see B2).
    pub amount_sat: u64,
    /// How long the idle node is watched while blocks are mined, seconds.
    pub idle_secs: u64,
    /// A block every this many seconds meanwhile (the playground's 5 s).
    pub block_every_secs: u64,
}

impl B6Plan {
    /// The size: 100,000 payments, baseline after 1,000.
    pub fn full() -> Self {
        B6Plan {
            payments: 100_000,
            concurrency: 20,
            batch: 1_000,
            first_checkpoint: 1_000,
            every: 10_000,
            channel_sat: 16_000_000,
            amount_sat: 5_000,
            idle_secs: 3_600,
            block_every_secs: 5,
        }
    }

    /// The default run's size (`scripts/bench.sh`, about 10 minutes on 2 cores): 10,000
    /// payments, then 5 minutes idle.
    pub fn default_run() -> Self {
        B6Plan { idle_secs: 300, ..Self::sized(10_000) }
    }

    /// `payments` payments with the full size's baseline (after 1,000, or all when fewer) and
    /// checkpoints in proportion: ten after the baseline, as in the full size (`bench_node
    /// --b6-payments N`: 20,000 takes about 10 minutes where 100,000 takes 50).
    pub fn sized(payments: usize) -> Self {
        let full = Self::full();
        B6Plan {
            payments,
            first_checkpoint: full.first_checkpoint.min(payments),
            every: (payments / 10).max(1),
            ..full
        }
    }

    /// The CI size (figures meaningless; exercises the run).
    pub fn smoke() -> Self {
        B6Plan {
            payments: 300,
            batch: 100,
            first_checkpoint: 100,
            every: 100,
            idle_secs: 12,
            ..Self::full()
        }
    }

    /// The payment counts at which memory is read.
    pub fn checkpoints(&self) -> Vec<usize> {
        let mut at = vec![self.first_checkpoint.min(self.payments)];
        let mut next = self.every.max(1);
        while next <= self.payments {
            if next > at[0] {
                at.push(next);
            }
            next += self.every.max(1);
        }
        if at.last() != Some(&self.payments) {
            at.push(self.payments);
        }
        at
    }
}

/// Memory at one checkpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Checkpoint {
    /// Payments made so far.
    pub payments: usize,
    /// The payer's resident memory, MiB.
    pub payer_rss_mib: f64,
    /// The payee's resident memory, MiB.
    pub payee_rss_mib: f64,
    /// Seconds since the first payment.
    pub elapsed_s: f64,
    /// The payer's channel monitor on disk (full monitor and pending update records), bytes.
    pub payer_monitor_bytes: u64,
    /// The payee's, bytes.
    pub payee_monitor_bytes: u64,
    /// The payer's channel manager on disk, bytes.
    pub payer_manager_bytes: u64,
}

/// The idle node's memory at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdleSample {
    /// Seconds since the idle watch began.
    pub elapsed_s: f64,
    /// Blocks mined since.
    pub blocks: u64,
    /// The node's resident memory, MiB.
    pub rss_mib: f64,
}

/// What LDK keeps for the node on disk: (channel monitors and their update records, channel
/// manager), in bytes, read-only from the daemon's database.
fn ldk_bytes(data_dir: &Path) -> (u64, u64) {
    let path = data_dir.join("boltd.sqlite");
    let open = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    );
    let Ok(c) = open else { return (0, 0) };
    let sum = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64;
    (
        sum("SELECT coalesce(sum(length(value)), 0) FROM kv \
             WHERE primary_namespace IN ('monitors', 'monitor_updates')"),
        sum("SELECT coalesce(sum(length(value)), 0) FROM kv \
             WHERE primary_namespace = '' AND key = 'manager'"),
    )
}

/// B6's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct B6Figures {
    /// Every checkpoint, in order.
    pub checkpoints: Vec<Checkpoint>,
    /// RSS at the last checkpoint over RSS at the first, payer.
    pub payer_ratio: f64,
    /// The same, payee.
    pub payee_ratio: f64,
    /// Payments that completed.
    pub completed: usize,
    /// Payments that failed, by reason.
    pub failures: Vec<(String, usize)>,
    /// Completed payments per second over the run (checkpoint pauses excluded).
    pub payments_per_sec: f64,
    /// Set-up time, seconds.
    pub setup_secs: f64,
    /// The payer's RSS after a restart at the end, once idle, MiB: what the state it loads
    /// takes (what a leak of the running process cannot explain).
    pub payer_rss_after_restart_mib: f64,
    /// The same, payee.
    pub payee_rss_after_restart_mib: f64,
    /// The idle payer's memory while blocks are mined.
    pub idle: Vec<IdleSample>,
}

impl B6Figures {
    /// The split of the payer's RSS at the end: (state, running) in MiB. State is what a
    /// restarted daemon holds (what it loads: LDK's channel monitor and manager, the caches it
    /// fills again); running is the rest, what the process held only because it had been running
    /// (freed memory the allocator kept, caches, leaks).
    pub fn payer_split(&self) -> (f64, f64) {
        let last = self.checkpoints.last().map_or(0.0, |c| c.payer_rss_mib);
        (self.payer_rss_after_restart_mib, last - self.payer_rss_after_restart_mib)
    }

    /// The same, payee.
    pub fn payee_split(&self) -> (f64, f64) {
        let last = self.checkpoints.last().map_or(0.0, |c| c.payee_rss_mib);
        (self.payee_rss_after_restart_mib, last - self.payee_rss_after_restart_mib)
    }

    /// RSS after the restart over RSS at the first checkpoint, (payer, payee): the ratio the
    /// state alone would give if the running process held nothing more.
    pub fn restart_ratios(&self) -> (f64, f64) {
        let Some(first) = self.checkpoints.first() else { return (0.0, 0.0) };
        (
            ratio(first.payer_rss_mib, self.payer_rss_after_restart_mib),
            ratio(first.payee_rss_mib, self.payee_rss_after_restart_mib),
        )
    }

    /// The idle node's last RSS over its first.
    pub fn idle_ratio(&self) -> f64 {
        match (self.idle.first(), self.idle.last()) {
            (Some(first), Some(last)) => ratio(first.rss_mib, last.rss_mib),
            _ => 0.0,
        }
    }

    /// Whether both daemons are within [`TARGET_RATIO`].
    pub fn meets_target(&self) -> bool {
        self.payer_ratio <= TARGET_RATIO && self.payee_ratio <= TARGET_RATIO
    }
}

fn ratio(first: f64, then: f64) -> f64 {
    if first > 0.0 {
        then / first
    } else {
        0.0
    }
}

/// The target of issue 10: RSS at the end within this factor of RSS at the baseline.
pub const TARGET_RATIO: f64 = 1.2;

fn rss(node: &TestNode) -> f64 {
    node.pid().and_then(machine::rss_mib).unwrap_or(0.0)
}

/// Runs B6 with two `boltd` daemons (`exe`) on `btc`, data directories under `dir`.
pub fn run(
    btc: &Bitcoind,
    exe: &Path,
    dir: &Path,
    plan: &B6Plan,
    daemon_args: &[String],
    log: &dyn Fn(&str),
) -> Result<B6Figures, String> {
    let setup = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let chain = ChainAccess::from(btc);
    let e = |e: boltd_harness::HarnessError| e.to_string();
    let port = || boltd_harness::free_port().map_err(e);
    let payer_port = port()?;
    let (mut a, _) =
        spawn_timed("payer", exe, &dir.join("payer"), &chain, payer_port, daemon_args)?;
    let payee_port = port()?;
    let (mut b, _) =
        spawn_timed("payee", exe, &dir.join("payee"), &chain, payee_port, daemon_args)?;
    btc.mine(101).map_err(e)?;
    fund(btc, &a, &[&b]).map_err(e)?;
    let push_msat = plan.channel_sat * 1000 / 2;
    open_channel(btc, &a, &b, plan.channel_sat, push_msat, &[&a, &b]).map_err(e)?;
    let setup_secs = setup.elapsed().as_secs_f64();
    log(&format!("B6 lab ready in {setup_secs:.0} s"));

    let mut checkpoints = Vec::new();
    let mut outcomes = Vec::with_capacity(plan.payments);
    let mut paying = Duration::ZERO;
    let started = Instant::now();
    let mut done = 0;
    for at in plan.checkpoints() {
        while done < at {
            // Alternate directions batch by batch; a batch never crosses a checkpoint.
            let forward = (done / plan.batch.max(1)).is_multiple_of(2);
            let (from, to) = if forward { (&a, &b) } else { (&b, &a) };
            let batch_end = (done / plan.batch.max(1) + 1) * plan.batch.max(1);
            let n = batch_end.min(at) - done;
            let invoices = create_invoices(to, n, plan.amount_sat)?;
            let url = from.api_url.clone();
            let token = from.admin_token();
            let (out, wall) =
                load::run(n, plan.concurrency, |i| pay_boltd(&url, token, &invoices[i]));
            paying += wall;
            outcomes.extend(out);
            done += n;
            settle_boltd(&[&a, &b])?;
        }
        std::thread::sleep(Duration::from_secs(2));
        let (payer_monitor_bytes, payer_manager_bytes) = ldk_bytes(&a.data_dir);
        let (payee_monitor_bytes, _) = ldk_bytes(&b.data_dir);
        let c = Checkpoint {
            payments: done,
            payer_rss_mib: rss(&a),
            payee_rss_mib: rss(&b),
            elapsed_s: started.elapsed().as_secs_f64(),
            payer_monitor_bytes,
            payee_monitor_bytes,
            payer_manager_bytes,
        };
        log(&format!(
            "  B6 after {} payments: RSS payer {:.1} MiB, payee {:.1} MiB; LDK on disk: monitor \
             {:.1} / {:.1} MiB, manager {:.2} MiB ({:.0} s)",
            c.payments,
            c.payer_rss_mib,
            c.payee_rss_mib,
            c.payer_monitor_bytes as f64 / 1048576.0,
            c.payee_monitor_bytes as f64 / 1048576.0,
            c.payer_manager_bytes as f64 / 1048576.0,
            c.elapsed_s
        ));
        checkpoints.push(c);
    }
    let run = RunFigures::of(plan.concurrency, &outcomes, paying);
    // Both daemons restart on the data they have: what they hold then, once idle, is the state
    // they load; the rest of what they held at the end was the running process's.
    a.stop().map_err(e)?;
    b.stop().map_err(e)?;
    let (a, _) = spawn_timed("payer", exe, &dir.join("payer"), &chain, payer_port, daemon_args)?;
    let (b, _) = spawn_timed("payee", exe, &dir.join("payee"), &chain, payee_port, daemon_args)?;
    std::thread::sleep(Duration::from_secs(2));
    let payer_rss_after_restart_mib = rss(&a);
    let payee_rss_after_restart_mib = rss(&b);
    log(&format!(
        "  B6 after a restart: RSS payer {payer_rss_after_restart_mib:.1} MiB, payee \
         {payee_rss_after_restart_mib:.1} MiB"
    ));
    drop(b);
    let idle = watch_idle(btc, &a, plan, log)?;
    let (first, last) = (&checkpoints[0], &checkpoints[checkpoints.len() - 1]);
    let figures = B6Figures {
        payer_ratio: ratio(first.payer_rss_mib, last.payer_rss_mib),
        payee_ratio: ratio(first.payee_rss_mib, last.payee_rss_mib),
        completed: run.completed,
        failures: run.failures.clone(),
        payments_per_sec: run.payments_per_sec,
        setup_secs,
        payer_rss_after_restart_mib,
        payee_rss_after_restart_mib,
        checkpoints,
        idle,
    };
    log(&format!(
        "  B6 RSS({}) / RSS({}): payer x{:.2}, payee x{:.2} (target x{TARGET_RATIO:.1}: {})",
        last_payments(&figures),
        figures.checkpoints[0].payments,
        figures.payer_ratio,
        figures.payee_ratio,
        if figures.meets_target() { "met" } else { "missed" }
    ));
    Ok(figures)
}

/// The idle node `node`'s RSS while a block is mined every `plan.block_every_secs` for
/// `plan.idle_secs`: at the start and at six even steps.
fn watch_idle(
    btc: &Bitcoind,
    node: &TestNode,
    plan: &B6Plan,
    log: &dyn Fn(&str),
) -> Result<Vec<IdleSample>, String> {
    const STEPS: u64 = 6;
    let start = Instant::now();
    let every = Duration::from_secs(plan.block_every_secs.max(1));
    let total = Duration::from_secs(plan.idle_secs);
    let sample = |blocks: u64| IdleSample {
        elapsed_s: start.elapsed().as_secs_f64(),
        blocks,
        rss_mib: rss(node),
    };
    let mut samples = vec![sample(0)];
    let mut blocks = 0;
    for step in 1..=STEPS {
        let until = total.mul_f64(step as f64 / STEPS as f64);
        while start.elapsed() < until {
            std::thread::sleep(every.min(until.saturating_sub(start.elapsed())));
            if start.elapsed() >= every * (blocks as u32 + 1) {
                btc.mine(1).map_err(|e| e.to_string())?;
                blocks += 1;
            }
        }
        let s = sample(blocks);
        log(&format!(
            "  B6 idle {:.0} s, {} blocks: RSS {:.1} MiB",
            s.elapsed_s, s.blocks, s.rss_mib
        ));
        samples.push(s);
    }
    Ok(samples)
}

fn last_payments(f: &B6Figures) -> usize {
    f.checkpoints.last().map_or(0, |c| c.payments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_start_at_the_baseline_and_end_at_the_last_payment() {
        assert_eq!(
            B6Plan::full().checkpoints(),
            vec![
                1_000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000,
                100_000
            ]
        );
        assert_eq!(B6Plan::smoke().checkpoints(), vec![100, 200, 300]);
        let odd = B6Plan { payments: 250, first_checkpoint: 100, every: 100, ..B6Plan::smoke() };
        assert_eq!(odd.checkpoints(), vec![100, 200, 250]);
        assert_eq!(
            B6Plan::sized(20_000).checkpoints(),
            vec![1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 14_000, 16_000, 18_000, 20_000]
        );
        assert_eq!(B6Plan::sized(500).checkpoints(), vec![500]);
    }
}
