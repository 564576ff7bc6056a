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

/// Tracks outcomes and wakes waiters.
#[derive(Debug, Default)]
pub struct PaymentTracker {
    outgoing: Mutex<HashMap<PaymentHash, OutgoingStatus>>,
    changed: Notify,
}

impl PaymentTracker {
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

    /// The status of an outgoing payment.
    pub fn outgoing(&self, hash: &PaymentHash) -> Option<OutgoingStatus> {
        self.outgoing.lock().unwrap().get(hash).cloned()
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
    fn complete_is_final() {
        let t = PaymentTracker::default();
        let h = PaymentHash([1; 32]);
        t.succeeded(h, PaymentPreimage([2; 32]), Some(5));
        t.failed(h, "late failure".into());
        assert!(matches!(t.outgoing(&h), Some(OutgoingStatus::Complete { fee_msat: Some(5), .. })));
    }
}
