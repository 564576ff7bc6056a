//! Outcomes of payments as LDK reports them through events, so callers can wait for a result.
//!
//! This is the node-level view (by payment hash). The durable, idempotent payment record of the
//! payment engine builds on the same events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lightning::types::payment::{PaymentHash, PaymentPreimage};
use serde::Serialize;
use tokio::sync::Notify;

/// Where an outgoing payment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutgoingStatus {
    /// HTLCs are in flight.
    Pending,
    /// The payee released the preimage.
    Complete {
        /// The preimage (hex).
        preimage: String,
        /// Routing fees paid, in msat.
        fee_msat: Option<u64>,
    },
    /// The payment failed for good.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A payment we received and claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    /// Amount claimed, in msat.
    pub amount_msat: u64,
}

/// Tracks outcomes and wakes waiters.
#[derive(Debug, Default)]
pub struct PaymentTracker {
    outgoing: Mutex<HashMap<PaymentHash, OutgoingStatus>>,
    received: Mutex<HashMap<PaymentHash, Received>>,
    changed: Notify,
}

impl PaymentTracker {
    /// Marks a payment as started unless one with this hash is pending or complete; returns
    /// whether the caller may send it. A failed payment may be tried again.
    pub fn begin(&self, hash: PaymentHash) -> bool {
        let mut map = self.outgoing.lock().unwrap();
        match map.get(&hash) {
            Some(OutgoingStatus::Pending) | Some(OutgoingStatus::Complete { .. }) => false,
            Some(OutgoingStatus::Failed { .. }) | None => {
                map.insert(hash, OutgoingStatus::Pending);
                drop(map);
                self.changed.notify_waiters();
                true
            }
        }
    }

    /// Records a success. Final: a later failure for the same hash is ignored.
    pub fn succeeded(&self, hash: PaymentHash, preimage: PaymentPreimage, fee_msat: Option<u64>) {
        let status = OutgoingStatus::Complete { preimage: hex::encode(preimage.0), fee_msat };
        self.outgoing.lock().unwrap().insert(hash, status);
        self.changed.notify_waiters();
    }

    /// Records a failure, unless the payment already completed.
    pub fn failed(&self, hash: PaymentHash, reason: String) {
        let mut map = self.outgoing.lock().unwrap();
        let entry = map.entry(hash).or_insert(OutgoingStatus::Pending);
        if !matches!(entry, OutgoingStatus::Complete { .. }) {
            *entry = OutgoingStatus::Failed { reason };
        }
        drop(map);
        self.changed.notify_waiters();
    }

    /// Records a claimed incoming payment.
    pub fn received(&self, hash: PaymentHash, amount_msat: u64) {
        self.received.lock().unwrap().insert(hash, Received { amount_msat });
        self.changed.notify_waiters();
    }

    /// The status of an outgoing payment.
    pub fn outgoing(&self, hash: &PaymentHash) -> Option<OutgoingStatus> {
        self.outgoing.lock().unwrap().get(hash).cloned()
    }

    /// A received payment.
    pub fn incoming(&self, hash: &PaymentHash) -> Option<Received> {
        self.received.lock().unwrap().get(hash).cloned()
    }

    /// Waits until the outgoing payment is no longer pending, or `timeout` passes (then returns
    /// the current status, possibly still `Pending`).
    pub async fn wait_final(&self, hash: PaymentHash, timeout: Duration) -> Option<OutgoingStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            match self.outgoing(&hash) {
                Some(OutgoingStatus::Pending) | None => {}
                done => return done,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.outgoing(&hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_refuses_pending_and_complete_but_allows_retry_after_failure() {
        let t = PaymentTracker::default();
        let h = PaymentHash([3; 32]);
        assert!(t.begin(h));
        assert!(!t.begin(h), "pending: no second send");
        t.failed(h, "no route".into());
        assert!(t.begin(h), "failed: may retry");
        t.succeeded(h, PaymentPreimage([4; 32]), None);
        assert!(!t.begin(h), "complete: never again");
    }

    #[test]
    fn complete_is_final() {
        let t = PaymentTracker::default();
        let h = PaymentHash([1; 32]);
        assert!(t.begin(h));
        t.succeeded(h, PaymentPreimage([2; 32]), Some(5));
        t.failed(h, "late failure".into());
        assert!(matches!(t.outgoing(&h), Some(OutgoingStatus::Complete { fee_msat: Some(5), .. })));
    }
}
