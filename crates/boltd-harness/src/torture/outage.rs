//! bitcoind stopped and started again under load (T8): [`BitcoindOutage`] stops the lab's
//! bitcoind cleanly (RPC `stop`, so its chain state is on disk), keeps it down for a while,
//! watches the daemons meanwhile (each must stay up and answer its API, a wallet sync with 503),
//! starts bitcoind again on the same data directory and ports, and waits for every daemon to
//! catch up with the tip (LDK's height and the wallet's) and sync its wallet on request.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use super::daemon::Daemon;
use super::disrupt::exited_on_their_own;
use super::run::{Disruption, Disruptor};
use crate::{wait_until, Bitcoind};

/// How often the daemons are probed while bitcoind is down.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What one outage did.
#[derive(Debug, Clone)]
pub struct Outage {
    /// When bitcoind was asked to stop.
    pub down: Instant,
    /// When it answered again after its start.
    pub up: Instant,
    /// bitcoind's height before the stop and after the start (the same: a clean stop loses no
    /// block).
    pub heights: (u32, u32),
    /// How long the stop took (RPC `stop` to the process's exit).
    pub stop: Duration,
    /// How long the start took.
    pub start: Duration,
    /// API probes of the daemons while bitcoind was down, and how many were answered (by a
    /// daemon that had not exited).
    pub probes: (usize, usize),
    /// How long after the start every daemon had processed the tip (LDK and wallet).
    pub caught_up: Option<Duration>,
}

/// Stops bitcoind `rounds` times, `gap` apart (random within the range), for `down_for` each;
/// see the module documentation. Every outage is noted in `outages`.
pub struct BitcoindOutage<'a> {
    /// The lab's bitcoind, started with [`Bitcoind::start_restartable`].
    pub btc: &'a Bitcoind,
    /// Outages in all.
    pub rounds: usize,
    /// The pause before each outage, drawn uniformly from this range.
    pub gap: (Duration, Duration),
    /// How long bitcoind stays down.
    pub down_for: Duration,
    /// How long the daemons may take to catch up once bitcoind is back.
    pub catch_up_within: Duration,
    /// What each outage did.
    pub outages: Vec<Outage>,
}

impl BitcoindOutage<'_> {
    /// Probes every daemon: alive (not exited) and answering `GET /api/v1/node/info`. Returns
    /// the problems (empty: all well).
    fn probe(lab: &[Daemon]) -> Vec<String> {
        let mut problems = Vec::new();
        for d in lab {
            let exited = d.node().as_mut().and_then(|n| n.try_exit_status().ok().flatten());
            if let Some(status) = exited {
                problems.push(format!("{} exited ({status}) while bitcoind was down", d.name));
            } else if let Err(e) = d.get("/api/v1/node/info") {
                problems.push(format!("{} did not answer while bitcoind was down: {e}", d.name));
            }
        }
        problems
    }

    /// Asks every daemon for a wallet sync (`POST /api/v1/onchain/sync`): while bitcoind is
    /// down the answer must be 503 (bitcoind could not be reached), once it is back a sync to
    /// `tip` or beyond. Returns the problems.
    fn sync(lab: &[Daemon], tip: Option<u32>) -> Vec<String> {
        let mut problems = Vec::new();
        for d in lab {
            let r = d.post("/api/v1/onchain/sync", serde_json::json!({}));
            match (tip, r) {
                (None, Err(e)) if e.status == 503 => {}
                (None, r) => problems.push(format!(
                    "{}: a wallet sync while bitcoind was down answered {r:?} (expected 503)",
                    d.name
                )),
                (Some(tip), Ok(v)) if v["wallet_height"].as_u64() >= Some(u64::from(tip)) => {}
                (Some(tip), r) => problems.push(format!(
                    "{}: a wallet sync once bitcoind was back at height {tip} answered {r:?}",
                    d.name
                )),
            }
        }
        problems
    }

    /// Waits until every daemon has processed `tip` (LDK and wallet). `Err`: who lags.
    fn catch_up(&self, lab: &[Daemon], tip: u32) -> Result<(), String> {
        wait_until(
            &format!("every daemon to process height {tip} after bitcoind came back"),
            self.catch_up_within,
            Duration::from_millis(100),
            || {
                for d in lab {
                    let i = d.get("/api/v1/node/info").map_err(|e| {
                        crate::HarnessError::Other(format!("{}: node info: {e}", d.name))
                    })?;
                    let (ldk, wallet) = (&i["block_height"], &i["wallet_height"]);
                    let behind = |h: &serde_json::Value| h.as_u64().unwrap_or(0) < u64::from(tip);
                    if behind(ldk) || behind(wallet) {
                        return Err(crate::HarnessError::Other(format!(
                            "{} is at height {ldk} (wallet {wallet})",
                            d.name
                        )));
                    }
                }
                Ok(Some(()))
            },
        )
        .map_err(|e| e.to_string())
    }
}

impl Disruptor for BitcoindOutage<'_> {
    fn next(&mut self, lab: &[Daemon], _released: bool, rng: &mut StdRng) -> Option<Disruption> {
        if let Some(crash) = exited_on_their_own(lab) {
            return Some(crash);
        }
        if self.outages.len() >= self.rounds {
            return None;
        }
        std::thread::sleep(rng.gen_range(self.gap.0..=self.gap.1));
        let mut violations = Vec::new();
        let before = self.btc.height().unwrap_or(0);
        let down = Instant::now();
        let stop = self.btc.shut_down().unwrap_or_else(|e| {
            violations.push(format!("bitcoind did not stop cleanly: {e}"));
            down.elapsed()
        });
        // Watch the daemons while bitcoind is away.
        violations.extend(Self::sync(lab, None));
        let mut probes = (0, 0);
        while down.elapsed() < self.down_for {
            std::thread::sleep(PROBE_EVERY.min(self.down_for.saturating_sub(down.elapsed())));
            let problems = Self::probe(lab);
            probes.0 += lab.len();
            probes.1 += lab.len() - problems.len();
            for p in problems {
                if !violations.contains(&p) {
                    violations.push(p);
                }
            }
        }
        let started = Instant::now();
        let start = match self.btc.start_again() {
            Ok(t) => t,
            Err(e) => {
                let v = format!("bitcoind did not start again: {e}");
                return Some(Disruption {
                    node: None,
                    at: down,
                    note: v.clone(),
                    violation: Some(v),
                });
            }
        };
        let up = Instant::now();
        let after = self.btc.height().unwrap_or(0);
        if after < before {
            violations.push(format!(
                "bitcoind lost blocks over its clean stop: height {before} before, {after} after"
            ));
        }
        // A new block, so catching up means processing one the daemons could not have seen.
        let tip = self.btc.mine(1).ok().and_then(|_| self.btc.height().ok()).unwrap_or(after);
        let caught_up = match self.catch_up(lab, tip) {
            Ok(()) => Some(started.elapsed()),
            Err(e) => {
                violations.push(format!("the daemons did not catch up with bitcoind: {e}"));
                None
            }
        };
        violations.extend(Self::sync(lab, Some(tip)));
        let note = format!(
            "bitcoind down {:.1} s (stop {:.1} s, start {:.1} s), height {before}; {}/{} API \
             probes answered meanwhile; every daemon at the new tip {tip} {}",
            up.duration_since(down).as_secs_f64(),
            stop.as_secs_f64(),
            start.as_secs_f64(),
            probes.1,
            probes.0,
            caught_up.map_or("never".to_string(), |t| format!(
                "{:.1} s after the start",
                t.as_secs_f64()
            )),
        );
        self.outages.push(Outage {
            down,
            up,
            heights: (before, after),
            stop,
            start,
            probes,
            caught_up,
        });
        let violation = (!violations.is_empty()).then(|| violations.join("; "));
        Some(Disruption { node: None, at: down, note, violation })
    }
}
