//! A closed-loop load generator: `K` workers, each sending its next payment as soon as its
//! previous one has answered, over a list of payments prepared ahead; and the figures of a run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::percentile;

/// One payment's outcome, as a worker saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From the call to the proof of payment (or the failure).
    pub latency: Duration,
    /// `Err` with the reason when the payment did not complete.
    pub result: Result<(), String>,
}

/// What a run of payments gave.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunFigures {
    /// Concurrent workers (payments in flight at once).
    pub concurrency: usize,
    /// Payments attempted.
    pub attempted: usize,
    /// Payments that completed (preimage in hand).
    pub completed: usize,
    /// Wall time from the first call to the last answer, seconds.
    pub wall_secs: f64,
    /// Completed payments per second of wall time.
    pub payments_per_sec: f64,
    /// Latency of the completed payments, ms: p50.
    pub p50_ms: f64,
    /// p90, ms.
    pub p90_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Max, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// The first few failure reasons, with counts.
    pub failures: Vec<(String, usize)>,
}

impl RunFigures {
    /// Summarizes `outcomes` of a run with `concurrency` workers that took `wall`.
    pub fn of(concurrency: usize, outcomes: &[Outcome], wall: Duration) -> Self {
        let mut ms: Vec<f64> = outcomes
            .iter()
            .filter(|o| o.result.is_ok())
            .map(|o| o.latency.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        let mut failures: Vec<(String, usize)> = Vec::new();
        for o in outcomes {
            if let Err(e) = &o.result {
                if let Some(i) = failures.iter().position(|(r, _)| r == e) {
                    failures[i].1 += 1;
                } else if failures.len() < 5 {
                    failures.push((e.clone(), 1));
                }
            }
        }
        let wall_secs = wall.as_secs_f64();
        RunFigures {
            concurrency,
            attempted: outcomes.len(),
            completed: ms.len(),
            wall_secs,
            payments_per_sec: if wall_secs > 0.0 { ms.len() as f64 / wall_secs } else { 0.0 },
            p50_ms: percentile(&ms, 50.0),
            p90_ms: percentile(&ms, 90.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms: percentile(&ms, 100.0),
            mean_ms: if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 },
            failures,
        }
    }

    /// Whether every attempted payment completed.
    pub fn all_completed(&self) -> bool {
        self.completed == self.attempted
    }
}

/// Runs `pay(i)` for every `i` in `0..count` with `concurrency` workers (closed loop: a worker
/// starts its next payment when its previous one answered). `pay` returns when the payment is
/// final (or failed). Returns the outcomes (in completion order) and the wall time.
pub fn run<F>(count: usize, concurrency: usize, pay: F) -> (Vec<Outcome>, Duration)
where
    F: Fn(usize) -> Result<(), String> + Sync,
{
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(count));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                let result = pay(i);
                let outcome = Outcome { latency: t.elapsed(), result };
                outcomes.lock().unwrap().push(outcome);
            });
        }
    });
    let wall = start.elapsed();
    (outcomes.into_inner().unwrap(), wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_item_once_and_summarizes() {
        let seen = Mutex::new(Vec::new());
        let (outcomes, wall) = run(40, 7, |i| {
            seen.lock().unwrap().push(i);
            std::thread::sleep(Duration::from_millis(1));
            if i % 10 == 3 {
                Err("odd".into())
            } else {
                Ok(())
            }
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        let f = RunFigures::of(7, &outcomes, wall);
        assert_eq!((f.attempted, f.completed), (40, 36));
        assert_eq!(f.failures, vec![("odd".to_string(), 4)]);
        assert!(!f.all_completed());
        assert!(f.p50_ms >= 1.0 && f.p99_ms >= f.p50_ms && f.max_ms >= f.p99_ms);
        assert!(f.payments_per_sec > 0.0);
    }
}
