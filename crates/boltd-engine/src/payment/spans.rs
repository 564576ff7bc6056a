//! Where a payment's time goes, for the benchmarks (B3) and diagnostics: the engine's own work
//! before the node gets the payment, the node's (LDK's) part, and the engine's own work after
//! LDK's `PaymentSent`, per payment, by payment hash.
//!
//! Three instants are taken on the way of a payment a caller waits for (BOLT11 and keysend):
//! the engine's method is called (`Engine::pay`, `Engine::keysend`); the driver hands the
//! payment to the node (the first send: the pre-flight checks and route are behind it); the
//! ledger gets LDK's `PaymentSent`; and the method returns with the result. A payment whose
//! caller stops waiting, or that fails, leaves no spans. Memory is bounded: [`KEEP`] finished
//! payments, and payments handed to the node and never finished are dropped after [`OPEN_FOR`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many finished payments' spans are kept (the oldest go first).
pub const KEEP: usize = 4096;

/// How long a payment handed to the node is waited for before its instants are dropped.
pub const OPEN_FOR: Duration = Duration::from_secs(3600);

/// One payment's time, split at the node's boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaySpans {
    /// From the engine's method being called to the node getting the payment: parsing, checks,
    /// the intent's durable record, the pre-flight route, waiting for a peer or HTLC slots.
    pub before_node: Duration,
    /// From the node getting the payment to the ledger getting LDK's `PaymentSent`: LDK's route
    /// (boltd's router), the HTLCs' round trips, LDK's event processing.
    pub node: Duration,
    /// From `PaymentSent` to the engine's method returning: the outcome's record, waking the
    /// waiter, reading the record back, the answer.
    pub after_node: Duration,
}

impl PaySpans {
    /// The engine's own part: before and after the node.
    pub fn engine(&self) -> Duration {
        self.before_node + self.after_node
    }

    /// The whole call.
    pub fn total(&self) -> Duration {
        self.before_node + self.node + self.after_node
    }
}

struct Open {
    to_node: Instant,
    node_done: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    open: HashMap<[u8; 32], Open>,
    done: VecDeque<([u8; 32], PaySpans)>,
}

/// The instants of payments in progress and the spans of the last [`KEEP`] finished ones.
#[derive(Default)]
pub(crate) struct Spans {
    inner: Mutex<Inner>,
}

impl Spans {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The payment with `hash` is handed to the node (its first send counts).
    pub(crate) fn to_node(&self, hash: [u8; 32]) {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.open.len() >= KEEP {
            inner.open.retain(|_, o| now.saturating_duration_since(o.to_node) < OPEN_FOR);
        }
        inner.open.entry(hash).or_insert(Open { to_node: now, node_done: None });
    }

    /// LDK reported the payment with `hash` sent.
    pub(crate) fn node_done(&self, hash: [u8; 32]) {
        let now = Instant::now();
        if let Some(o) = self.lock().open.get_mut(&hash) {
            o.node_done.get_or_insert(now);
        }
    }

    /// The engine's method for the payment with `hash`, called at `started`, returns its
    /// success now.
    pub(crate) fn finish(&self, hash: [u8; 32], started: Instant) {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(Open { to_node, node_done: Some(done) }) = inner.open.remove(&hash) else {
            return;
        };
        let spans = PaySpans {
            before_node: to_node.saturating_duration_since(started),
            node: done.saturating_duration_since(to_node),
            after_node: now.saturating_duration_since(done),
        };
        if inner.done.len() >= KEEP {
            inner.done.pop_front();
        }
        inner.done.push_back((hash, spans));
    }

    /// The spans of the finished payment with `hash`, if kept.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<PaySpans> {
        self.lock().done.iter().rev().find(|(h, _)| h == hash).map(|(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_is_split_at_the_nodes_boundaries() {
        let spans = Spans::default();
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        spans.to_node([1; 32]);
        spans.to_node([1; 32]); // a second send: the first counts
        std::thread::sleep(Duration::from_millis(10));
        spans.node_done([1; 32]);
        std::thread::sleep(Duration::from_millis(5));
        spans.finish([1; 32], started);
        let s = spans.get(&[1; 32]).unwrap();
        assert!(s.before_node >= Duration::from_millis(5), "{s:?}");
        assert!(s.node >= Duration::from_millis(10), "{s:?}");
        assert!(s.after_node >= Duration::from_millis(5), "{s:?}");
        assert_eq!(s.total(), s.engine() + s.node);
        assert!(s.total() <= started.elapsed());
    }

    #[test]
    fn unfinished_or_unsent_payments_leave_nothing_and_memory_is_bounded() {
        let spans = Spans::default();
        let started = Instant::now();
        spans.node_done([2; 32]); // never handed to the node
        spans.finish([2; 32], started);
        spans.to_node([3; 32]); // handed over, no PaymentSent (failed)
        spans.finish([3; 32], started);
        assert_eq!((spans.get(&[2; 32]), spans.get(&[3; 32])), (None, None));
        for i in 0..(KEEP + 10) as u32 {
            let mut h = [0; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            spans.to_node(h);
            spans.node_done(h);
            spans.finish(h, started);
        }
        let inner = spans.lock();
        assert_eq!(inner.done.len(), KEEP);
        assert!(inner.open.is_empty());
    }
}
