//! The disruptors of torture runs: SIGKILL at random moments ([`Killer`]) and SIGTERM with
//! payments in flight ([`Terminator`]), each followed by a restart on the same data directory.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use super::daemon::Daemon;
use super::run::{Disruption, Disruptor};

/// Starts a daemon again (three attempts); the error says what every attempt reported.
fn start_again(d: &Daemon) -> Result<Duration, String> {
    let mut errors = Vec::new();
    for _ in 0..3 {
        match d.start() {
            Ok(t) => return Ok(t),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(errors.join("; then: "))
}

/// A daemon that exited on its own since it was last started (a crash), found before the next
/// disruption, is a violation; it is started again.
pub fn exited_on_their_own(lab: &[Daemon]) -> Option<Disruption> {
    for (i, d) in lab.iter().enumerate() {
        let status = d.node().as_mut().and_then(|n| n.try_exit_status().ok().flatten());
        if let Some(status) = status {
            let at = Instant::now();
            let _ = d.kill();
            let again = start_again(d);
            return Some(Disruption {
                node: Some(i),
                at,
                note: format!("exited on its own ({status}); started again: {again:?}"),
                violation: Some(format!(
                    "{} exited on its own ({status}); see {}",
                    d.name,
                    d.log_path().display()
                )),
            });
        }
    }
    None
}

/// SIGKILLs a random daemon every `gap` (random within the range), then starts it again at
/// once (same data directory, same P2P port); at least `min_kills` times and until every
/// payment has been released, at most `max_kills` times.
pub struct Killer {
    /// Kills at least.
    pub min_kills: usize,
    /// Kills at most.
    pub max_kills: usize,
    /// The pause before each kill, drawn uniformly from this range.
    pub gap: (Duration, Duration),
    /// Kills so far.
    pub kills: usize,
}

impl Disruptor for Killer {
    fn next(&mut self, lab: &[Daemon], released: bool, rng: &mut StdRng) -> Option<Disruption> {
        if let Some(crash) = exited_on_their_own(lab) {
            return Some(crash);
        }
        if self.kills >= self.max_kills || (self.kills >= self.min_kills && released) {
            return None;
        }
        std::thread::sleep(rng.gen_range(self.gap.0..=self.gap.1));
        let node = rng.gen_range(0..lab.len());
        let d = &lab[node];
        let at = Instant::now();
        self.kills += 1;
        if let Err(e) = d.kill() {
            let v = format!("{}: SIGKILL failed: {e}", d.name);
            return Some(Disruption { node: Some(node), at, note: v.clone(), violation: Some(v) });
        }
        Some(match start_again(d) {
            Ok(t) => Disruption {
                node: Some(node),
                at,
                note: format!("SIGKILL #{}, up again in {:.1} s", self.kills, t.as_secs_f64()),
                violation: None,
            },
            Err(e) => Disruption {
                node: Some(node),
                at,
                note: format!("SIGKILL #{}, did not start again", self.kills),
                violation: Some(format!("{} did not start again after SIGKILL: {e}", d.name)),
            },
        })
    }
}

/// Stops the daemons in turn (`order`, cycled) with SIGTERM while HTLCs are in flight (it waits
/// up to 10 s for a channel with one), `rounds` times, `gap` apart; each must exit with code 0
/// within `timeout`; each is then started again.
pub struct Terminator {
    /// Stops in all.
    pub rounds: usize,
    /// The daemons to stop, by index, cycled.
    pub order: Vec<usize>,
    /// The pause before each stop, drawn uniformly from this range.
    pub gap: (Duration, Duration),
    /// How long a daemon may take to exit after SIGTERM.
    pub timeout: Duration,
    /// Stops so far.
    pub done: usize,
}

/// Whether any channel of any daemon has an HTLC in flight now.
fn htlcs_in_flight(lab: &[Daemon]) -> bool {
    lab.iter().any(|d| {
        d.get("/api/v1/node/channels").is_ok_and(|cs| {
            cs.as_array()
                .into_iter()
                .flatten()
                .any(|c| c["pending_htlcs"].as_u64().unwrap_or(0) > 0)
        })
    })
}

impl Disruptor for Terminator {
    fn next(&mut self, lab: &[Daemon], _released: bool, rng: &mut StdRng) -> Option<Disruption> {
        if let Some(crash) = exited_on_their_own(lab) {
            return Some(crash);
        }
        if self.done >= self.rounds {
            return None;
        }
        std::thread::sleep(rng.gen_range(self.gap.0..=self.gap.1));
        let node = self.order[self.done % self.order.len()];
        let d = &lab[node];
        self.done += 1;
        let waited = Instant::now();
        let mut in_flight = htlcs_in_flight(lab);
        while !in_flight && waited.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
            in_flight = htlcs_in_flight(lab);
        }
        let at = Instant::now();
        let stopped = match d.sigterm(self.timeout) {
            Ok(s) => s,
            Err(e) => {
                let v = format!("{}: SIGTERM: {e}", d.name);
                return Some(Disruption {
                    node: Some(node),
                    at,
                    note: v.clone(),
                    violation: Some(v),
                });
            }
        };
        let flight = if in_flight { "HTLCs in flight" } else { "no HTLC seen in flight in 10 s" };
        let mut note = format!(
            "SIGTERM #{} ({flight}): exit code {:?} after {:.2} s",
            self.done,
            stopped.code,
            stopped.after.as_secs_f64()
        );
        let mut violation = match (&stopped.timed_out, stopped.code) {
            (Some(t), _) => {
                Some(format!("{}: no exit within {:?} of SIGTERM ({t})", d.name, self.timeout))
            }
            (None, Some(0)) => None,
            (None, code) => Some(format!(
                "{}: exit code {code:?} after SIGTERM (expected 0); see {}",
                d.name,
                d.log_path().display()
            )),
        };
        match start_again(d) {
            Ok(t) => note.push_str(&format!(", up again in {:.1} s", t.as_secs_f64())),
            Err(e) => {
                note.push_str(", did not start again");
                let v = format!("{} did not start again after SIGTERM: {e}", d.name);
                violation = Some(violation.map_or(v.clone(), |x| format!("{x}; {v}")));
            }
        }
        Some(Disruption { node: Some(node), at, note, violation })
    }
}
