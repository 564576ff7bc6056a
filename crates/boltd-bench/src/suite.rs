//! B2-B4 and B6 in one run on one regtest chain, and the report of B1-B4 and B6 (Markdown and JSON) stamped
//! with the machine: CPU model, commit, and the measured fsync rate of the disk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boltd_harness::Bitcoind;
use serde::Serialize;
use serde_json::{json, Value};

use crate::anchor;
use crate::machine::{self, DiskSync};
use crate::memory::{self, B6Figures, B6Plan};
use crate::multihop::{self, B3Figures, B3Plan};
use crate::payments::{self, B2Figures, B2Plan, OursFigures, PhaseFigures};

/// The targets the figures are compared with (issue 6).
pub mod targets {
    /// B2: payments per second over one channel, durable storage, 2 cores.
    pub const B2_PAYMENTS_PER_SEC: f64 = 500.0;
    /// B2: ldk-node's published figure, payments per second.
    pub const B2_ANCHOR_PUBLISHED_PER_SEC: f64 = 160.0;
    /// B3: the engine's overhead at p99, ms.
    pub const B3_OVERHEAD_P99_MS: f64 = 5.0;
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// CI size.
    pub smoke: bool,
    /// The `boltd` binary B2 and B4 spawn.
    pub boltd_exe: PathBuf,
    /// Where the labs' data directories go (a temporary directory inside it); the disk's fsync
    /// rate is measured there. Default: the system's temporary directory.
    pub data_dir: Option<PathBuf>,
    /// B2 and B4 with boltd.
    pub ours: bool,
    /// B2 with ldk-node.
    pub anchor: bool,
    /// B3.
    pub multihop: bool,
    /// B6 (memory over the payments made, and of an idle node).
    pub memory: bool,
    /// B6 at full size (100,000 payments, an hour idle; `--b6-full`) rather than the default
    /// run's (10,000 payments, 5 minutes idle).
    pub b6_full: bool,
    /// B6's number of payments, when not its size's (`--b6-payments N`).
    pub b6_payments: Option<usize>,
    /// Extra `boltd serve` flags for B2's daemons.
    pub daemon_args: Vec<String>,
    /// Count durability calls (needs `perf`).
    pub count_syncs: bool,
}

/// B2-B4's figures, with the machine they ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `full` or `smoke`.
    pub mode: String,
    /// UTC time of the run.
    pub time: String,
    /// Date (for file names).
    pub date: String,
    /// Short commit.
    pub commit: String,
    /// Uncommitted changes in the working tree.
    pub dirty: bool,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// The disk's measured durable-write rate.
    pub disk: Option<DiskSync>,
    /// B2's plan.
    pub b2_plan: B2Plan,
    /// B2 and B4 with boltd.
    pub ours: Option<OursFigures>,
    /// B2 with ldk-node.
    pub anchor: Option<B2Figures>,
    /// B3.
    pub b3: Option<B3Figures>,
    /// B6.
    pub b6: Option<B6Figures>,
    /// B6's plan, when it ran.
    pub b6_plan: Option<B6Plan>,
    /// Extra daemon flags B2 ran with.
    pub daemon_args: Vec<String>,
    /// Seconds B2-B4 took, set-up included.
    pub elapsed_s: f64,
}

/// Runs what `opts` asks for. `log` gets progress lines.
pub fn run(opts: &Options, log: &dyn Fn(&str)) -> Result<Report, String> {
    let started = Instant::now();
    let (date, time) = machine::utc_now();
    let (commit, dirty) = machine::commit();
    let base = opts.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("boltd-bench-")
        .tempdir_in(&base)
        .map_err(|e| format!("temp dir in {}: {e}", base.display()))?;
    let disk = machine::disk_fsyncs_per_sec(dir.path(), Duration::from_secs(2)).ok();
    if let Some(d) = &disk {
        log(&format!(
            "disk under {}: {:.0} write+fdatasync per second",
            base.display(),
            d.fsyncs_per_sec
        ));
    }
    let b2_plan = if opts.smoke { B2Plan::smoke() } else { B2Plan::full() };
    let b2_plan = B2Plan { count_syncs: opts.count_syncs, ..b2_plan };
    let b3_plan = if opts.smoke { B3Plan::smoke() } else { B3Plan::full() };

    let btc = Bitcoind::start().map_err(|e| e.to_string())?;
    let ours = if opts.ours {
        log("B2/B4 with boltd");
        Some(payments::run_ours(
            &btc,
            &opts.boltd_exe,
            &dir.path().join("b2-boltd"),
            &b2_plan,
            &opts.daemon_args,
            log,
        )?)
    } else {
        None
    };
    let anchor = if opts.anchor {
        log("B2 with ldk-node 0.7.1 (anchor)");
        Some(anchor::run_anchor(&btc, &dir.path().join("b2-ldk-node"), &b2_plan, log)?)
    } else {
        None
    };
    let b3 = if opts.multihop {
        log("B3 A-B-C-D");
        Some(multihop::run(&btc, &dir.path().join("b3"), &b3_plan, log)?)
    } else {
        None
    };
    let b6_plan = opts.memory.then(|| {
        let size = if opts.smoke {
            B6Plan::smoke()
        } else if opts.b6_full {
            B6Plan::full()
        } else {
            B6Plan::default_run()
        };
        match opts.b6_payments {
            Some(n) => B6Plan { idle_secs: size.idle_secs, ..B6Plan::sized(n) },
            None => size,
        }
    });
    let b6 = match &b6_plan {
        Some(plan) => {
            log(&format!("B6 memory over {} payments", plan.payments));
            Some(memory::run(
                &btc,
                &opts.boltd_exe,
                &dir.path().join("b6"),
                plan,
                &opts.daemon_args,
                log,
            )?)
        }
        None => None,
    };
    drop(btc);
    Ok(Report {
        mode: if opts.smoke { "smoke" } else { "full" }.into(),
        time,
        date,
        commit,
        dirty,
        cpu: machine::cpu_model(),
        cpus: machine::cpus(),
        disk,
        b2_plan,
        ours,
        anchor,
        b3,
        b6,
        b6_plan,
        daemon_args: opts.daemon_args.clone(),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("×{:.2}", a / b)
    } else {
        "n/a".into()
    }
}

fn syncs_cell(p: &PhaseFigures) -> String {
    match &p.syncs {
        Some(s) => format!("{:.2}", s.per_payment),
        None => "n/a".into(),
    }
}

fn phase_rows(out: &mut String, who: &str, f: &B2Figures) {
    for p in &f.phases {
        let r = &p.run;
        let _ = writeln!(
            out,
            "| {who} | {} | {}/{} | **{:.1}** | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            r.concurrency,
            r.completed,
            r.attempted,
            r.payments_per_sec,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms,
            syncs_cell(p),
            p.cpu_ms_per_payment.map(|c| format!("{c:.2}")).unwrap_or("n/a".into()),
        );
    }
}

fn failures(out: &mut String, who: &str, f: &B2Figures) {
    for p in &f.phases {
        for (reason, n) in &p.run.failures {
            let _ = writeln!(out, "- {who}, K={}: {n} × {reason}", p.run.concurrency);
        }
    }
}

fn best(f: &B2Figures) -> Option<&PhaseFigures> {
    f.phases.iter().max_by(|a, b| a.run.payments_per_sec.total_cmp(&b.run.payments_per_sec))
}

impl Report {
    /// The report in Markdown; `b1` is B1's own Markdown report, included as its section.
    pub fn markdown(&self, b1: Option<&str>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# boltd benchmarks B1-B4, B6 ({})\n", self.mode);
        let _ = writeln!(
            s,
            "- Run: {}, commit `{}`{}; CPU {} ({} logical CPUs).",
            self.time,
            self.commit,
            if self.dirty { " (working tree with uncommitted changes)" } else { "" },
            self.cpu,
            self.cpus
        );
        match &self.disk {
            Some(d) => {
                let _ = writeln!(
                    s,
                    "- Disk: **{:.0} fsyncs/s** measured (write 4 KiB + `fdatasync`, one thread, \
                     {:.1} s, on the labs' filesystem). A boltd write returns once an `fdatasync` \
                     of SQLite's WAL covers it; concurrent writers share one (group commit).",
                    d.fsyncs_per_sec, d.secs
                );
            }
            None => {
                let _ = writeln!(s, "- Disk: fsync rate not measured.");
            }
        }
        let _ = writeln!(s, "- B2-B4 took {:.0} s, set-up included.", self.elapsed_s);
        if !self.daemon_args.is_empty() {
            let _ = writeln!(s, "- B2 daemons ran with `{}`.", self.daemon_args.join(" "));
        }

        s += "\n## Summary\n\n| figure | boltd | ldk-node 0.7.1 (anchor) | boltd / anchor | target |\n|---|---:|---:|---:|---|\n";
        if let (Some(o), a) = (&self.ours, &self.anchor) {
            for (i, p) in o.b2.phases.iter().enumerate() {
                let anchor_p = a.as_ref().and_then(|a| a.phases.get(i));
                let k = p.run.concurrency;
                let target = if k == self.b2_plan.phases.last().map_or(0, |l| l.concurrency) {
                    format!("≥ {:.0} payments/s", targets::B2_PAYMENTS_PER_SEC)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "| B2 payments/s, K={k} | **{:.1}** | {} | {} | {target} |",
                    p.run.payments_per_sec,
                    anchor_p
                        .map(|a| format!("{:.1}", a.run.payments_per_sec))
                        .unwrap_or("n/a".into()),
                    anchor_p
                        .map(|a| ratio(p.run.payments_per_sec, a.run.payments_per_sec))
                        .unwrap_or("n/a".into()),
                );
                let _ = writeln!(
                    s,
                    "| B2 p50 / p99 latency, K={k}, ms | {:.1} / {:.1} | {} | | |",
                    p.run.p50_ms,
                    p.run.p99_ms,
                    anchor_p
                        .map(|a| format!("{:.1} / {:.1}", a.run.p50_ms, a.run.p99_ms))
                        .unwrap_or("n/a".into()),
                );
                let _ = writeln!(
                    s,
                    "| B2 fsyncs per payment, K={k} | {} | {} | | |",
                    syncs_cell(p),
                    anchor_p.map(syncs_cell).unwrap_or("n/a".into()),
                );
            }
            if let (Some(ob), Some(ab)) = (best(&o.b2), a.as_ref().and_then(best)) {
                let _ = writeln!(
                    s,
                    "| B2 best payments/s (any K) | **{:.1}** | {:.1} (published: about {:.0}) | {} | ≥ {:.0} |",
                    ob.run.payments_per_sec,
                    ab.run.payments_per_sec,
                    targets::B2_ANCHOR_PUBLISHED_PER_SEC,
                    ratio(ob.run.payments_per_sec, ab.run.payments_per_sec),
                    targets::B2_PAYMENTS_PER_SEC
                );
            }
        }
        if let Some(b3) = &self.b3 {
            let _ = writeln!(
                s,
                "| B3 A→D (3 channels) p50 / p99, API call to preimage, ms | {:.1} / {:.1} | | | |",
                b3.engine.p50_ms, b3.engine.p99_ms
            );
            let _ = writeln!(
                s,
                "| B3 engine overhead per payment p50 / p99, ms | {:.2} / **{:.2}** | | | ≤ {:.0} ms at p99 |",
                b3.overhead.overhead.p50_ms,
                b3.overhead.overhead.p99_ms,
                targets::B3_OVERHEAD_P99_MS
            );
        }
        if let Some(o) = &self.ours {
            let d = &o.daemon;
            let _ = writeln!(
                s,
                "| B4 idle RSS: fresh / with a channel / after B2 / after restart, MiB | {:.1} / {:.1} / {:.1} / {:.1} | | | |",
                d.idle_rss_fresh_mib, d.idle_rss_channel_mib, d.idle_rss_after_runs_mib, d.idle_rss_after_restart_mib
            );
            let _ = writeln!(
                s,
                "| B4 process start to `ready`: empty data dir / after B2, ms | {} / {:.0} | | | |",
                d.fresh_start_to_ready_ms
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                d.restart_to_ready_ms
            );
        }
        if let (Some(b6), Some(plan)) = (&self.b6, &self.b6_plan) {
            let _ = writeln!(
                s,
                "| B6 RSS after {} / after {} payments (payer, payee); idle node over {} s | ×{:.2}, ×{:.2}; ×{:.2} | | | ≤ ×{:.1} |",
                b6.checkpoints.last().map_or(0, |c| c.payments),
                b6.checkpoints.first().map_or(0, |c| c.payments),
                plan.idle_secs,
                b6.payer_ratio,
                b6.payee_ratio,
                b6.idle_ratio(),
                memory::TARGET_RATIO
            );
        }

        if let Some(b1) = b1 {
            s += "\n## B1: route finding\n\n";
            // B1's own report, its headings one level down.
            for line in b1.lines() {
                if line.starts_with('#') {
                    let _ = writeln!(s, "#{line}");
                } else {
                    let _ = writeln!(s, "{line}");
                }
            }
        }

        s += "\n## B2: payment throughput over one channel\n\n";
        let plan = &self.b2_plan;
        let _ = writeln!(
            s,
            "Two nodes on loopback, one channel of {} sat from payer to payee, payments of {} sat \
             (above the dust threshold of both implementations' channels: each HTLC is a \
             commitment output). For each K, K warm-up \
             payments, then a closed loop of K workers (each pays its next invoice when its \
             previous payment answered). Payments/s: completed payments over the wall time from \
             the first call to the last answer. Latency: from the call to the proof of payment.\n",
            plan.channel_sat, plan.amount_sat
        );
        for f in [self.ours.as_ref().map(|o| &o.b2), self.anchor.as_ref()].into_iter().flatten() {
            let _ = writeln!(s, "- **{}**: {}.", f.implementation, f.method);
        }
        s +=
            "- **fsyncs/payment**: `fsync` + `fdatasync` + `sync_file_range` calls of both nodes, \
              counted exactly by the kernel's syscall tracepoints (`perf stat -e \
              syscalls:sys_enter_fsync,... -p PID`: no ptrace, so the run is not slowed) over the \
              measured run and the settling of its last commitments, divided by the completed \
              payments. **CPU ms/payment**: user + system time of the measured processes over the \
              same window (boltd: both daemons; ldk-node: the benchmark's process, which holds \
              both nodes and the load generator).\n";
        for f in [self.ours.as_ref().map(|o| &o.b2), self.anchor.as_ref()].into_iter().flatten() {
            match (&f.idle_syncs_per_sec, &f.syncs_unavailable) {
                (Some(idle), _) => {
                    let _ = writeln!(
                        s,
                        "- {} idle (before the runs): {:.1} durability calls/s for the pair.",
                        f.implementation, idle
                    );
                }
                (None, Some(why)) => {
                    let _ =
                        writeln!(s, "- {}: durability calls not counted: {why}.", f.implementation);
                }
                _ => {}
            }
            for (role, commits, flushes) in &f.store_flushes {
                let _ = writeln!(
                    s,
                    "- {} {role}'s store over its life (set-up and runs): {commits} commits, \
                     {flushes} disk flushes of the WAL ({:.2} commits per flush; with \
                     `synchronous=FULL`, every commit was one flush).",
                    f.implementation,
                    *commits as f64 / (*flushes).max(1) as f64
                );
            }
        }
        s += "\n| implementation | K | completed | payments/s | p50 ms | p90 ms | p99 ms | max ms | fsyncs/payment | CPU ms/payment |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        if let Some(o) = &self.ours {
            phase_rows(&mut s, "boltd", &o.b2);
        }
        if let Some(a) = &self.anchor {
            phase_rows(&mut s, "ldk-node 0.7.1", a);
        }
        let mut fails = String::new();
        if let Some(o) = &self.ours {
            failures(&mut fails, "boltd", &o.b2);
        }
        if let Some(a) = &self.anchor {
            failures(&mut fails, "ldk-node", a);
        }
        if !fails.is_empty() {
            s += "\nFailed payments (first reasons):\n\n";
            s += &fails;
        }
        if let Some(o) = &self.ours {
            s += "\nDurability calls per process (boltd):\n\n| K | payer fsync / fdatasync | payee fsync / fdatasync | window s |\n|---:|---:|---:|---:|\n";
            for p in &o.b2.phases {
                if let Some(w) = &p.syncs {
                    let cell = |i: usize| {
                        w.processes
                            .get(i)
                            .map(|(_, c)| format!("{} / {}", c.fsync, c.fdatasync))
                            .unwrap_or_default()
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.1} |",
                        p.run.concurrency,
                        cell(0),
                        cell(1),
                        w.window_secs
                    );
                }
            }
        }

        if let Some(b3) = &self.b3 {
            s += "\n## B3: multi-hop latency and the engine's overhead\n\n";
            let _ = writeln!(
                s,
                "A - B - C - D on loopback, boltd nodes in the benchmark's process, channels of {} \
                 sat, `htlc_forward_delay_ms = {}` on every node; {} sat invoices of D paid by A one \
                 at a time ({} unmeasured through the engine first), alternating **engine** (`POST \
                 /api/v1/lightning/pay` on A: checks, intent record, pre-flight route, policy, \
                 LDK, outcome record, answer; from the call to the answer with the preimage) and \
                 **direct** (`ChannelManager::pay_for_bolt11_invoice` on A's node, same retry \
                 window; from the call to `PaymentSent`). The engine's overhead is measured per \
                 payment: its own spans (from `pay` being called to the node getting the payment; \
                 from LDK's `PaymentSent` to `pay` returning) plus HTTP (the client's latency \
                 minus the engine's call); the difference of the two paths' percentiles is \
                 shown below it, for reference only.\n",
                b3.plan.channel_sat,
                b3.plan.forward_delay_ms.map_or("unset".into(), |d| d.to_string()),
                b3.plan.amount_sat,
                b3.plan.warmup
            );
            s += "| path | completed | p50 ms | p90 ms | p99 ms | max ms | mean ms |\n|---|---:|---:|---:|---:|---:|---:|\n";
            for (name, r) in [("engine (API)", &b3.engine), ("direct (ChannelManager)", &b3.direct)]
            {
                let _ = writeln!(
                    s,
                    "| {name} | {}/{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    r.completed, r.attempted, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.mean_ms
                );
            }
            let o = &b3.percentile_difference;
            let _ = writeln!(
                s,
                "| engine − direct, per percentile | | {:.2} | {:.2} | {:.2} | | {:.2} |",
                o.p50_ms, o.p90_ms, o.p99_ms, o.mean_ms
            );
            let p = &b3.overhead;
            let _ = writeln!(
                s,
                "\nThe engine's own time per payment ({} payments; the pre-flight's route \
                 answered LDK's first search in {} of them, the search not made twice):\n\n\
                 | span | p50 ms | p90 ms | p99 ms | max ms | mean ms |\n|---|---:|---:|---:|---:|---:|",
                p.payments, b3.preflight_routes_reused
            );
            for (name, d) in [
                ("**overhead** (before + after + HTTP)", &p.overhead),
                ("before the node (checks, intent record, pre-flight route)", &p.before_node),
                ("after `PaymentSent` (outcome record, wake-up, answer)", &p.after_node),
                ("HTTP (client latency − the engine's call)", &p.http),
                ("the node's part (LDK, for reference)", &p.node),
            ] {
                let _ = writeln!(
                    s,
                    "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms, d.mean_ms
                );
            }
        }

        if let Some(o) = &self.ours {
            let d = &o.daemon;
            s += "\n## B4: the daemon (memory, start-up)\n\n";
            s += "The B2 payer, a real `boltd serve` process (release build). Time: from spawning \
                  the process to its `ready` line on stdout. RSS: `VmRSS` after 2 s idle.\n\n\
                  | figure | value |\n|---|---:|\n";
            let _ = writeln!(
                s,
                "| start to ready, empty data directory (payer, payee), ms | {} |",
                d.fresh_start_to_ready_ms
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                s,
                "| start to ready after B2 (channel, payment records), ms | {:.0} |",
                d.restart_to_ready_ms
            );
            let _ = writeln!(s, "| idle RSS, fresh node, MiB | {:.1} |", d.idle_rss_fresh_mib);
            let _ = writeln!(s, "| idle RSS with a channel, MiB | {:.1} |", d.idle_rss_channel_mib);
            let _ = writeln!(s, "| idle RSS after B2, MiB | {:.1} |", d.idle_rss_after_runs_mib);
            let _ = writeln!(s, "| peak RSS during B2, MiB | {:.1} |", d.peak_rss_mib);
            let _ = writeln!(
                s,
                "| idle RSS after restart, MiB | {:.1} |",
                d.idle_rss_after_restart_mib
            );
            let _ = writeln!(
                s,
                "| idle CPU after restart, % of one core | {:.2} |",
                d.idle_cpu_percent
            );
        }
        if let (Some(b6), Some(plan)) = (&self.b6, &self.b6_plan) {
            s += "\n## B6: memory over the payments made (issue 10)\n\n";
            let _ = writeln!(
                s,
                "The B2 pair (two `boltd serve` processes, one channel of {} sat, half pushed), \
                 {} payments of {} sat, {} at a time, direction swapped every {}. `VmRSS` of \
                 both daemons after the channel settled and 2 s idle. {} completed at {:.1} \
                 payments/s. Two parts of LDK grow with the payments over a channel: the \
                 channel monitor keeps the HTLC outputs of every counterparty commitment, \
                 revoked ones included, while the channel is open (rust-lightning issue 3049; \
                 LDK 0.2 cannot offload them), and the channel manager keeps each resolved \
                 payment for about 7 minutes (its idempotency window); their sizes on disk are \
                 in the table. Target: RSS at the end within ×{TARGET:.1} of RSS after the first \
                 checkpoint.\n",
                plan.channel_sat,
                plan.payments,
                plan.amount_sat,
                plan.concurrency,
                plan.batch,
                b6.completed,
                b6.payments_per_sec,
                TARGET = memory::TARGET_RATIO,
            );
            s += "| payments | payer RSS, MiB | payee RSS, MiB | LDK monitor on disk, payer / payee, MiB | LDK manager on disk (payer), MiB | elapsed, s |\n|---:|---:|---:|---:|---:|---:|\n";
            let mib = |b: u64| b as f64 / 1048576.0;
            for c in &b6.checkpoints {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} | {:.1} | {:.1} / {:.1} | {:.2} | {:.0} |",
                    c.payments,
                    c.payer_rss_mib,
                    c.payee_rss_mib,
                    mib(c.payer_monitor_bytes),
                    mib(c.payee_monitor_bytes),
                    mib(c.payer_manager_bytes),
                    c.elapsed_s
                );
            }
            let (first, last) = (
                b6.checkpoints.first().map_or(0, |c| c.payments),
                b6.checkpoints.last().map_or(0, |c| c.payments),
            );
            let _ = writeln!(
                s,
                "\nRSS({last}) / RSS({first}): payer **×{:.2}**, payee **×{:.2}** (target ≤ \
                 ×{:.1}: {}).\n",
                b6.payer_ratio,
                b6.payee_ratio,
                memory::TARGET_RATIO,
                if b6.meets_target() { "met" } else { "missed" },
            );
            let (payer_state, payer_running) = b6.payer_split();
            let (payee_state, payee_running) = b6.payee_split();
            let (payer_restart, payee_restart) = b6.restart_ratios();
            s += "Split of RSS at the end: *state* is RSS after both daemons restart on their \
                  data (once idle: what they load, such as LDK's channel monitor), *running* is \
                  the rest (memory the running process held: LDK's table of recent payments at \
                  its peak size, freed memory the allocator kept, caches, leaks).\n\n";
            s += "| | payer | payee |\n|---|---:|---:|\n";
            let _ = writeln!(
                s,
                "| RSS after {first} payments, MiB | {:.1} | {:.1} |",
                b6.checkpoints.first().map_or(0.0, |c| c.payer_rss_mib),
                b6.checkpoints.first().map_or(0.0, |c| c.payee_rss_mib),
            );
            let _ = writeln!(
                s,
                "| RSS after {last} payments, MiB | {:.1} | {:.1} |",
                payer_state + payer_running,
                payee_state + payee_running,
            );
            let _ = writeln!(
                s,
                "| state: RSS after a restart, MiB (× of RSS({first})) | {payer_state:.1} \
                 (×{payer_restart:.2}) | {payee_state:.1} (×{payee_restart:.2}) |",
            );
            let _ = writeln!(
                s,
                "| running: the rest, MiB | {payer_running:.1} | {payee_running:.1} |",
            );
            for (reason, n) in &b6.failures {
                let _ = writeln!(s, "- failed: {n} × {reason}");
            }
            let _ = writeln!(
                s,
                "\nThe idle node: the restarted payer (its channel open) while a block is mined \
                 every {} s for {} s (the playground's pace). Last RSS / first: **×{:.2}** \
                 (target ≤ ×{:.1}).\n\n| elapsed, s | blocks | RSS, MiB |\n|---:|---:|---:|",
                plan.block_every_secs,
                plan.idle_secs,
                b6.idle_ratio(),
                memory::TARGET_RATIO,
            );
            for i in &b6.idle {
                let _ = writeln!(s, "| {:.0} | {} | {:.1} |", i.elapsed_s, i.blocks, i.rss_mib);
            }
        }
        s
    }

    /// The report as JSON; `b1` is B1's own JSON report.
    pub fn json(&self, b1: Option<Value>) -> Value {
        json!({
            "benchmark": "boltd B1-B4, B6 (issues 6, 16)",
            "mode": self.mode,
            "time": self.time,
            "commit": self.commit,
            "dirty": self.dirty,
            "cpu": self.cpu,
            "cpus": self.cpus,
            "disk_fsyncs_per_sec": self.disk.map(|d| d.fsyncs_per_sec),
            "disk": self.disk,
            "elapsed_s": self.elapsed_s,
            "targets": {
                "b2_payments_per_sec": targets::B2_PAYMENTS_PER_SEC,
                "b2_anchor_published_per_sec": targets::B2_ANCHOR_PUBLISHED_PER_SEC,
                "b3_overhead_p99_ms": targets::B3_OVERHEAD_P99_MS,
            },
            "b1": b1,
            "b2": {
                "plan": self.b2_plan,
                "daemon_args": self.daemon_args,
                "boltd": self.ours.as_ref().map(|o| &o.b2),
                "ldk_node": self.anchor,
            },
            "b3": self.b3,
            "b4": self.ours.as_ref().map(|o| &o.daemon),
            "b6": { "plan": self.b6_plan, "figures": self.b6 },
        })
    }

    /// Writes `bench-<date>-<commit>[-smoke].md` and `.json` under `out`, with B1's report
    /// (`b1_json`, and the `.md` beside it) folded in when given. Returns the two paths.
    pub fn write(&self, out: &Path, b1_json: Option<&Path>) -> Result<(PathBuf, PathBuf), String> {
        let b1_value = match b1_json {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                Some(
                    serde_json::from_str::<Value>(&text)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                )
            }
            None => None,
        };
        let b1_md = b1_json.and_then(|p| std::fs::read_to_string(p.with_extension("md")).ok());
        let suffix = if self.mode == "smoke" { "-smoke" } else { "" };
        let name = format!("bench-{}-{}{suffix}", self.date, self.commit);
        machine::write_report(out, &name, &self.markdown(b1_md.as_deref()), &self.json(b1_value))
    }
}
