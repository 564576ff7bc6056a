//! The torture suite's machinery (issue 10): daemons that tests SIGKILL, SIGTERM and starve of
//! disk while clients pay across them, and the invariants checked afterwards. The tests are in
//! `crates/boltd/tests/torture.rs`; `scripts/torture.sh` runs them at full size.
//!
//! - [`daemon::Daemon`]: a `boltd serve` child process any thread can kill and start again on
//!   the same data directory and P2P port while others call its API.
//! - [`client`]: a client that retries as a real one does (same `Idempotency-Key` after a
//!   refused connection, a timeout, a 5xx or a `pending` answer) until a final answer.
//! - [`run`]: a line of daemons, a plan of payments both ways (invoices, hold invoices the run
//!   settles, keysends), a block every few seconds, a [`run::Disruptor`] acting meanwhile, and a
//!   bounded wait for everything to settle; [`disrupt`] has the SIGKILL and SIGTERM disruptors,
//!   [`outage`] the bitcoind outage, [`chain`] the helpers of the reorg scenario.
//! - [`check`]: what must hold afterwards (nothing paid twice, acknowledged outcomes kept,
//!   payer and payee agreeing, nothing pending, balances moved by exactly what completed, no
//!   channel force-closed).
//! - [`storage`]: a data directory whose writes start failing under a running daemon (a small
//!   tmpfs that fills up, or `RLIMIT_FSIZE` where mounting is refused).

pub mod chain;
pub mod check;
pub mod client;
pub mod daemon;
pub mod disrupt;
pub mod outage;
pub mod run;
pub mod storage;

pub use client::{Outcome, PayOutcome};
pub use daemon::Daemon;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

use crate::{ApiFailure, TestNode};

/// What the checks need of a node: a name and `GET` on its API (a [`Daemon`], or a
/// [`TestNode`] that a test drives itself).
pub trait Api {
    /// Its name, for messages.
    fn name(&self) -> &str;
    /// `GET path` on its API.
    fn get(&self, path: &str) -> Result<Value, ApiFailure>;
}

impl Api for Daemon {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        Daemon::get(self, path)
    }
}

impl Api for TestNode {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        TestNode::get(self, path)
    }
}

/// The size of a torture run: `BOLTD_TORTURE=full` (what `scripts/torture.sh` sets) or the CI
/// size (unset, or `ci`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Small enough for every `cargo test`.
    Ci,
    /// The full run.
    Full,
}

impl Size {
    /// The size `BOLTD_TORTURE` asks for.
    ///
    /// # Panics
    /// On a value other than `ci`, `full` or empty, so a typo does not run the wrong size.
    pub fn from_env() -> Size {
        match std::env::var("BOLTD_TORTURE").unwrap_or_default().as_str() {
            "" | "ci" => Size::Ci,
            "full" => Size::Full,
            other => panic!("BOLTD_TORTURE={other}: use `ci` or `full`"),
        }
    }

    /// `ci` or `full` by size.
    pub fn pick<T>(self, ci: T, full: T) -> T {
        match self {
            Size::Ci => ci,
            Size::Full => full,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.pick("ci", "full")
    }
}

/// A random generator for a run, seeded from `BOLTD_TORTURE_SEED` if set (to repeat a run's
/// choices; the timing of a run is never the same), else at random. Returns it with its seed,
/// which the run prints.
pub fn rng() -> (StdRng, u64) {
    let seed = match std::env::var("BOLTD_TORTURE_SEED") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("BOLTD_TORTURE_SEED={s}: not a number")),
        Err(_) => rand::random(),
    };
    (StdRng::seed_from_u64(seed), seed)
}

/// Prints `[torture] <test>: <line>` (the figures `scripts/torture.sh` collects).
pub fn say(test: &str, line: impl std::fmt::Display) {
    eprintln!("[torture] {test}: {line}");
}

/// Prints a run's figures and its violations; returns the violations as one message (empty:
/// none).
pub fn report(
    test: &str,
    lab: &[Daemon],
    report: &run::Report,
    violations: &[String],
    fc: &check::ForceCloses,
) -> String {
    let t = check::tally(&report.records);
    let mut per_node: Vec<String> = lab
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let n = report.disruptions.iter().filter(|x| x.node == Some(i)).count();
            format!("{} {n}", d.name)
        })
        .collect();
    let chain = report.disruptions.iter().filter(|x| x.node.is_none()).count();
    if chain > 0 {
        per_node.push(format!("chain {chain}"));
    }
    say(
        test,
        format!(
            "disruptions {} ({}), payments {} attempted: {} complete, {} failed, {} \
             unresolved, {} without an invoice; blocks mined {}; run {:.0} s",
            report.disruptions.len(),
            per_node.join(", "),
            report.records.len() - t.skipped,
            t.complete,
            t.failed,
            t.unresolved,
            t.skipped,
            report.blocks,
            report.elapsed.as_secs_f64()
        ),
    );
    for (reason, n, example) in t.reasons.iter().take(8) {
        say(test, format!("  {n:>4} × {reason} (e.g. {example})"));
    }
    say(
        test,
        format!(
            "force-closes: {} channel(s) closed ({} channel_closed events, {} channel ends not \
             ready, {} log lines)",
            fc.channels_closed, fc.closed_events, fc.channels_lost, fc.log_lines
        ),
    );
    match &report.settle {
        Ok(s) => say(
            test,
            format!(
                "settled {s:.1} s after the last disruption ({:.1} s after the clients' last \
                 final answer)",
                report.settle_wait.as_secs_f64()
            ),
        ),
        Err(e) => say(test, format!("did not settle: {e}")),
    }
    say(test, format!("{} violations", violations.len()));
    let mut msg = String::new();
    for v in violations.iter().take(40) {
        msg.push_str("\n  - ");
        msg.push_str(v);
    }
    if violations.len() > 40 {
        msg.push_str(&format!("\n  ... and {} more", violations.len() - 40));
    }
    msg
}
