//! B2 (payment throughput over one channel) with two boltd daemons, and B4's daemon figures
//! (idle memory, time from process start to the ready line) from the same daemons.
//!
//! Two real `boltd serve` processes on loopback (each with its SQLite store in its data
//! directory), one channel from the payer to the payee, BOLT11 invoices created ahead on the
//! payee through its API, then for each concurrency `K` a closed loop of `K` workers paying them
//! through the payer's `POST /api/v1/lightning/pay` (synchronous: the answer carries the
//! preimage). Durability calls are counted in the kernel for both daemons over each measured
//! window (see [`crate::fsyncs`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boltd_harness::{fund, open_channel, wait_until, Bitcoind, ChainAccess, TestNode};
use serde::Serialize;

use crate::fsyncs::{self, SyncCalls};
use crate::http;
use crate::load::{self, RunFigures};
use crate::machine;

/// One measured run: `payments` payments with `concurrency` workers (after `concurrency`
/// warm-up payments that are not measured).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Phase {
    /// Workers (payments in flight at once).
    pub concurrency: usize,
    /// Payments measured.
    pub payments: usize,
}

/// What B2 runs, for either implementation.
#[derive(Debug, Clone, Serialize)]
pub struct B2Plan {
    /// Channel size, sat (large enough for every payment of the run).
    pub channel_sat: u64,
    /// Amount of each payment, sat. Above the dust threshold of both implementations' channels
    /// (boltd's are not anchor channels: at regtest's 253 sat/kWU, LDK's dust buffer makes HTLCs
    /// below about 2,400 sat dust, and its dust exposure limit then allows only a few in flight),
    /// so every HTLC is a commitment output on both sides.
    pub amount_sat: u64,
    /// The runs, in order.
    pub phases: Vec<Phase>,
    /// Whether to count durability calls with `perf` (when it is available).
    pub count_syncs: bool,
}

impl B2Plan {
    /// The full size: K = 1, 10, 50.
    pub fn full() -> Self {
        B2Plan {
            channel_sat: 16_000_000,
            amount_sat: 5_000,
            phases: vec![
                Phase { concurrency: 1, payments: 150 },
                Phase { concurrency: 10, payments: 600 },
                Phase { concurrency: 50, payments: 2_000 },
            ],
            count_syncs: true,
        }
    }

    /// The CI size: the same K, a handful of payments each.
    pub fn smoke() -> Self {
        B2Plan {
            phases: vec![
                Phase { concurrency: 1, payments: 5 },
                Phase { concurrency: 10, payments: 20 },
                Phase { concurrency: 50, payments: 50 },
            ],
            ..Self::full()
        }
    }

    /// Invoices the whole plan needs (warm-up included).
    pub fn invoices(&self) -> usize {
        self.phases.iter().map(|p| p.payments + p.concurrency).sum()
    }
}

/// Durability calls over one measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowSyncs {
    /// Per process: (role, counts).
    pub processes: Vec<(String, SyncCalls)>,
    /// All processes together.
    pub total: u64,
    /// `total` per completed payment.
    pub per_payment: f64,
    /// Length of the window (the run plus the settling of the last commitments), seconds.
    pub window_secs: f64,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseFigures {
    /// Throughput and latency.
    pub run: RunFigures,
    /// Durability calls, when counted.
    pub syncs: Option<WindowSyncs>,
    /// CPU time the measured processes used over the window, per completed payment, ms.
    pub cpu_ms_per_payment: Option<f64>,
}

/// B2's figures for one implementation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct B2Figures {
    /// `boltd` or `ldk-node 0.7.1`.
    pub implementation: String,
    /// How invoices were paid and what is measured.
    pub method: String,
    /// Durability calls per second of the idle pair before the runs (background persistence).
    pub idle_syncs_per_sec: Option<f64>,
    /// Why durability calls were not counted, if they were not.
    pub syncs_unavailable: Option<String>,
    /// One entry per phase.
    pub phases: Vec<PhaseFigures>,
    /// Set-up time (chain, nodes, funding, channel, invoices), seconds.
    pub setup_secs: f64,
    /// boltd only: the daemons' store commits and disk flushes over their whole life (set-up
    /// and runs), from their logs at shutdown: (role, commits, flushes). With
    /// `synchronous=FULL` every commit was one flush.
    #[serde(default)]
    pub store_flushes: Vec<(String, u64, u64)>,
}

/// B4: the daemon's memory and start-up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DaemonFigures {
    /// From spawning `boltd serve` on an empty data directory to its ready line, ms (payer
    /// and payee).
    pub fresh_start_to_ready_ms: Vec<f64>,
    /// From spawning `boltd serve` on the payer's data directory after the payment runs (a
    /// channel, thousands of payment records) to its ready line, ms.
    pub restart_to_ready_ms: f64,
    /// Resident memory of the idle payer with a fresh wallet and no channel, MiB.
    pub idle_rss_fresh_mib: f64,
    /// Resident memory of the idle payer with its channel, before the runs, MiB.
    pub idle_rss_channel_mib: f64,
    /// Resident memory of the idle payer after the runs, MiB.
    pub idle_rss_after_runs_mib: f64,
    /// Peak resident memory of the payer over the runs, MiB.
    pub peak_rss_mib: f64,
    /// Resident memory of the idle payer after the restart, MiB.
    pub idle_rss_after_restart_mib: f64,
    /// CPU the idle payer uses, in percent of one core (over 3 s).
    pub idle_cpu_percent: f64,
}

/// Everything the boltd side of B2 (and B4) measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OursFigures {
    /// B2.
    pub b2: B2Figures,
    /// B4.
    pub daemon: DaemonFigures,
}

/// How long an idle process is watched before its memory is read.
const IDLE: Duration = Duration::from_secs(2);

/// Counts durability calls of several processes over a window.
pub(crate) struct Window {
    counters: Vec<(String, fsyncs::Counter)>,
    pids: Vec<u32>,
    cpu_before: f64,
    start: Instant,
}

impl Window {
    pub(crate) fn open(procs: &[(&str, u32)], count_syncs: bool) -> Result<Window, String> {
        let mut counters = Vec::new();
        if count_syncs {
            for (role, pid) in procs {
                counters.push((role.to_string(), fsyncs::Counter::attach(*pid)?));
            }
        }
        let pids: Vec<u32> = procs.iter().map(|p| p.1).collect();
        let cpu_before = pids.iter().filter_map(|p| machine::cpu_secs(*p)).sum();
        Ok(Window { counters, pids, cpu_before, start: Instant::now() })
    }

    /// Closes the window: (durability calls, CPU seconds used).
    pub(crate) fn close(self, completed: usize) -> Result<(Option<WindowSyncs>, f64), String> {
        let cpu_after: f64 = self.pids.iter().filter_map(|p| machine::cpu_secs(*p)).sum();
        let window_secs = self.start.elapsed().as_secs_f64();
        if self.counters.is_empty() {
            return Ok((None, cpu_after - self.cpu_before));
        }
        let mut processes = Vec::new();
        for (role, c) in self.counters {
            processes.push((role, c.stop()?));
        }
        let total = processes.iter().map(|(_, c)| c.total()).sum::<u64>();
        let per_payment = if completed > 0 { total as f64 / completed as f64 } else { 0.0 };
        Ok((
            Some(WindowSyncs { processes, total, per_payment, window_secs }),
            cpu_after - self.cpu_before,
        ))
    }
}

/// Whether to count, and the reason when counting is impossible.
/// The durability calls per second of the idle processes `procs` over 2 s (`None` when not
/// counting).
pub(crate) fn idle_syncs_per_sec(
    procs: &[(&str, u32)],
    count_syncs: bool,
) -> Result<Option<f64>, String> {
    if !count_syncs {
        return Ok(None);
    }
    let w = Window::open(procs, true)?;
    std::thread::sleep(Duration::from_secs(2));
    let (s, _) = w.close(0)?;
    Ok(s.map(|s| s.total as f64 / s.window_secs))
}

pub(crate) fn sync_counting(plan: &B2Plan) -> (bool, Option<String>) {
    if !plan.count_syncs {
        return (false, Some("not requested".into()));
    }
    match fsyncs::available() {
        Ok(()) => (true, None),
        Err(why) => (false, Some(why)),
    }
}

pub(crate) fn settle_boltd(nodes: &[&TestNode]) -> Result<(), String> {
    for n in nodes {
        wait_until(
            &format!("{}'s channel to have no HTLC in flight", n.name),
            Duration::from_secs(30),
            Duration::from_millis(20),
            || {
                let chans = n.channels()?;
                Ok(chans.iter().all(|c| c["pending_htlcs"].as_u64() == Some(0)).then_some(()))
            },
        )
        .map_err(|e| e.to_string())?;
    }
    // The last commitment's channel manager write follows the last monitor update.
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

pub(crate) fn create_invoices(
    node: &TestNode,
    count: usize,
    amount_sat: u64,
) -> Result<Vec<String>, String> {
    let token = node.admin_token();
    let made = std::sync::Mutex::new(vec![String::new(); count]);
    let (outcomes, _) = load::run(count, 4, |i| {
        let v = http::create_invoice(&node.api_url, token, amount_sat, format!("b2 {i}"))?;
        let inv = v["invoice"].as_str().ok_or_else(|| format!("no invoice in {v}"))?;
        made.lock().unwrap()[i] = inv.to_string();
        Ok(())
    });
    if let Some(e) = outcomes.iter().find_map(|o| o.result.as_ref().err()) {
        return Err(format!("creating invoices on {}: {e}", node.name));
    }
    Ok(made.into_inner().unwrap())
}

/// Pays `invoice` through boltd's native API (at `api_url`) and checks the answer carries the
/// proof.
pub(crate) fn pay_boltd(api_url: &str, token: &str, invoice: &str) -> Result<(), String> {
    let v = http::pay(api_url, token, invoice)?;
    if v.status != "complete" || v.preimage.is_none() {
        return Err(format!("not complete: {}", v.status));
    }
    Ok(())
}

pub(crate) fn spawn_timed(
    name: &str,
    exe: &Path,
    dir: &Path,
    chain: &ChainAccess,
    port: u16,
    args: &[String],
) -> Result<(TestNode, f64), String> {
    let t = Instant::now();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node =
        TestNode::spawn_with(name, exe, dir, chain, port, &args).map_err(|e| e.to_string())?;
    Ok((node, t.elapsed().as_secs_f64() * 1e3))
}

/// The store's commits and flushes a stopped daemon logged (its last `node stopped` line; the
/// harness appends the log to `<data dir>.log`).
fn store_stats(data_dir: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(data_dir.with_extension("log")).ok()?;
    let line = text.lines().rev().find(|l| l.contains("store_commits="))?;
    let field = |name: &str| -> Option<u64> {
        let rest = &line[line.find(name)? + name.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    Some((field("store_commits=")?, field("store_flushes=")?))
}

fn idle_rss(node: &TestNode) -> f64 {
    std::thread::sleep(IDLE);
    node.pid().and_then(machine::rss_mib).unwrap_or(0.0)
}

/// Runs B2 (and B4) with two `boltd` daemons (`exe`) on `btc`, data directories under `dir`.
/// `daemon_args` are extra `serve` flags for both daemons.
pub fn run_ours(
    btc: &Bitcoind,
    exe: &Path,
    dir: &Path,
    plan: &B2Plan,
    daemon_args: &[String],
    log: &dyn Fn(&str),
) -> Result<OursFigures, String> {
    let setup = Instant::now();
    // The daemons' logs go beside their data directories.
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let chain = ChainAccess::from(btc);
    let e = |e: boltd_harness::HarnessError| e.to_string();
    let (payer_dir, payee_dir): (PathBuf, PathBuf) = (dir.join("payer"), dir.join("payee"));
    let payer_port = boltd_harness::free_port().map_err(e)?;
    let (mut payer, fresh_payer_ms) =
        spawn_timed("payer", exe, &payer_dir, &chain, payer_port, daemon_args)?;
    let (payee, fresh_payee_ms) = spawn_timed(
        "payee",
        exe,
        &payee_dir,
        &chain,
        boltd_harness::free_port().map_err(e)?,
        daemon_args,
    )?;
    log(&format!("boltd daemons ready in {fresh_payer_ms:.0} and {fresh_payee_ms:.0} ms"));
    let idle_rss_fresh_mib = idle_rss(&payer);
    btc.mine(101).map_err(e)?;
    fund(btc, &payer, &[&payee]).map_err(e)?;
    open_channel(btc, &payer, &payee, plan.channel_sat, 0, &[&payer, &payee]).map_err(e)?;
    let idle_rss_channel_mib = idle_rss(&payer);
    let invoices = create_invoices(&payee, plan.invoices(), plan.amount_sat)?;
    let setup_secs = setup.elapsed().as_secs_f64();
    log(&format!("boltd lab ready in {setup_secs:.0} s ({} invoices)", invoices.len()));

    let (count_syncs, syncs_unavailable) = sync_counting(plan);
    let (payer_pid, payee_pid) = (payer.pid().unwrap_or(0), payee.pid().unwrap_or(0));
    let procs = [("payer", payer_pid), ("payee", payee_pid)];
    let idle_syncs_per_sec = idle_syncs_per_sec(&procs, count_syncs)?;

    let pay_url = payer.api_url.clone();
    let token = payer.admin_token();
    let mut next = 0;
    let mut phases = Vec::new();
    for phase in &plan.phases {
        let warm = &invoices[next..next + phase.concurrency];
        next += phase.concurrency;
        let (warm_out, _) =
            load::run(warm.len(), phase.concurrency, |i| pay_boltd(&pay_url, token, &warm[i]));
        if let Some(err) = warm_out.iter().find_map(|o| o.result.as_ref().err()) {
            log(&format!("  warm-up payment failed: {err}"));
        }
        settle_boltd(&[&payer, &payee])?;
        let batch = &invoices[next..next + phase.payments];
        next += phase.payments;
        let window = Window::open(&procs, count_syncs)?;
        let (outcomes, wall) =
            load::run(batch.len(), phase.concurrency, |i| pay_boltd(&pay_url, token, &batch[i]));
        settle_boltd(&[&payer, &payee])?;
        let run = RunFigures::of(phase.concurrency, &outcomes, wall);
        let (syncs, cpu) = window.close(run.completed)?;
        log(&phase_line("boltd", &run, syncs.as_ref()));
        let cpu_ms_per_payment = (run.completed > 0).then(|| cpu * 1e3 / run.completed as f64);
        phases.push(PhaseFigures { run, syncs, cpu_ms_per_payment });
    }

    let idle_rss_after_runs_mib = idle_rss(&payer);
    let peak_rss_mib = machine::peak_rss_mib(payer_pid).unwrap_or(0.0);
    payer.stop().map_err(e)?;
    let mut store_flushes = Vec::new();
    if let Some((commits, flushes)) = store_stats(&payer_dir) {
        log(&format!("boltd payer store: {commits} commits, {flushes} disk flushes"));
        store_flushes.push(("payer".to_string(), commits, flushes));
    }
    let (payer, restart_to_ready_ms) =
        spawn_timed("payer", exe, &payer_dir, &chain, payer_port, daemon_args)?;
    let idle_rss_after_restart_mib = idle_rss(&payer);
    let pid = payer.pid().unwrap_or(0);
    let (cpu0, t0) = (machine::cpu_secs(pid).unwrap_or(0.0), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let idle_cpu_percent =
        (machine::cpu_secs(pid).unwrap_or(0.0) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    log(&format!(
        "boltd daemon: restart to ready {restart_to_ready_ms:.0} ms, idle RSS {idle_rss_after_restart_mib:.1} MiB"
    ));
    drop(payer);
    let mut payee = payee;
    payee.stop().map_err(e)?;
    if let Some((commits, flushes)) = store_stats(&payee_dir) {
        log(&format!("boltd payee store: {commits} commits, {flushes} disk flushes"));
        store_flushes.push(("payee".to_string(), commits, flushes));
    }
    Ok(OursFigures {
        b2: B2Figures {
            implementation: "boltd".into(),
            method: "BOLT11 invoices created ahead on the payee (POST \
                     /api/v1/lightning/receives/invoice), paid through the payer's POST \
                     /api/v1/lightning/pay (synchronous; latency until the answer with the \
                     preimage), one HTTP keep-alive connection per worker"
                .into(),
            idle_syncs_per_sec,
            syncs_unavailable,
            phases,
            setup_secs,
            store_flushes,
        },
        daemon: DaemonFigures {
            fresh_start_to_ready_ms: vec![fresh_payer_ms, fresh_payee_ms],
            restart_to_ready_ms,
            idle_rss_fresh_mib,
            idle_rss_channel_mib,
            idle_rss_after_runs_mib,
            peak_rss_mib,
            idle_rss_after_restart_mib,
            idle_cpu_percent,
        },
    })
}

/// A one-line summary of a phase for the progress log.
pub(crate) fn phase_line(who: &str, run: &RunFigures, syncs: Option<&WindowSyncs>) -> String {
    format!(
        "  {who} K={}: {}/{} completed, {:.1} payments/s, p50 {:.1} ms, p99 {:.1} ms{}{}",
        run.concurrency,
        run.completed,
        run.attempted,
        run.payments_per_sec,
        run.p50_ms,
        run.p99_ms,
        syncs.map(|s| format!(", {:.2} fsyncs/payment", s.per_payment)).unwrap_or_default(),
        run.failures
            .first()
            .map(|(e, n)| format!("; {n} × {}", e.chars().take(160).collect::<String>()))
            .unwrap_or_default(),
    )
}
