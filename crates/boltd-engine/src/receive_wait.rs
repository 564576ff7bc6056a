//! Waiting on receives: until the receive with a label is paid or can no longer be
//! ([`Engine::wait_labeled_receive`]), and for the next receive paid after a point of the event
//! log ([`Engine::wait_any_paid_receive`]). Both read the event log (a payment's
//! `payment_received` event, a cancel's `invoice_canceled`) in chunks of [`WAIT_CHUNK`], and
//! end when the engine stops. Core Lightning's `waitinvoice` and `waitanyinvoice` are these.

use std::time::Duration;

use boltd_store::{EventType, ReceiveRecord, ReceiveState};
use serde_json::Value;

use crate::ledger::now_secs;
use crate::notify::Since;
use crate::{Engine, PayError};

/// How long one read of the event log waits before looking again (an indefinite wait is a loop
/// of these; it ends when the caller goes away or the engine stops).
pub const WAIT_CHUNK: Duration = Duration::from_secs(30);

/// How a wait on a labeled receive ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LabeledWait {
    /// It is paid (settled); `pay_index` is the seq of its `payment_received` event.
    Paid {
        /// The receive.
        receive: ReceiveRecord,
        /// The seq of its `payment_received` event, if the log has it.
        pay_index: Option<u64>,
    },
    /// It can no longer be paid: expired (with nothing arrived) or canceled.
    Ended(ReceiveRecord),
    /// There is no receive with this label (or it was deleted).
    Unknown,
}

/// A receive paid, as the event log saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaidReceive {
    /// The receive.
    pub receive: ReceiveRecord,
    /// The seq of its `payment_received` event.
    pub seq: u64,
    /// The event's payment record (JSON): amount received, completion time, preimage.
    pub payment: Value,
}

fn stopping() -> PayError {
    PayError::Other("the node is stopping".into())
}

fn log_error(e: crate::NotifyError) -> PayError {
    PayError::Other(e.to_string())
}

impl Engine {
    /// Waits until the receive labeled `label` is paid ([`LabeledWait::Paid`], at once if it
    /// is) or can no longer be ([`LabeledWait::Ended`]: expired with nothing arrived, or
    /// canceled). A receive whose HTLCs have arrived is waited on past its expiry.
    pub async fn wait_labeled_receive(&self, label: &str) -> Result<LabeledWait, PayError> {
        // The cursor is taken before the receive is read: a payment in between wakes the wait.
        let mut since = self.last_event_seq().await.map_err(log_error)?;
        let stopping_rx = self.stopping();
        loop {
            let Some(r) = self.receive_by_label(label).await? else {
                return Ok(LabeledWait::Unknown);
            };
            let now = now_secs();
            match r.state {
                ReceiveState::Settled => {
                    let pay_index = self.received_seq(r.payment_hash).await.map_err(log_error)?;
                    return Ok(LabeledWait::Paid { receive: r, pay_index });
                }
                ReceiveState::Expired | ReceiveState::Canceled => return Ok(LabeledWait::Ended(r)),
                ReceiveState::Created if r.expires_at.is_some_and(|e| e <= now) => {
                    return Ok(LabeledWait::Ended(r))
                }
                ReceiveState::Created
                | ReceiveState::HtlcsArrived
                | ReceiveState::PreimageRevealed => {}
            }
            if *stopping_rx.borrow() {
                return Err(stopping());
            }
            // Until the next event, or until it expires (no event says so by itself).
            let until_expiry =
                r.expires_at.map(|e| Duration::from_secs(e.saturating_sub(now).saturating_add(1)));
            let wait = until_expiry.map_or(WAIT_CHUNK, |d| d.min(WAIT_CHUNK));
            let types = [EventType::PaymentReceived, EventType::InvoiceCanceled];
            let page =
                self.wait_events(Since::Seq(since), &types, 100, wait).await.map_err(log_error)?;
            since = page.cursor.max(since);
        }
    }

    /// The first receive paid after event `after_seq` (at once if there is one), else waits
    /// for the next, at most `timeout` (`None`: until the engine stops); `Ok(None)` when the
    /// timeout passes. Keysends (paid without a receive) are skipped.
    pub async fn wait_any_paid_receive(
        &self,
        after_seq: u64,
        timeout: Option<Duration>,
    ) -> Result<Option<PaidReceive>, PayError> {
        let deadline = timeout.map(crate::pay::deadline_in);
        let stopping_rx = self.stopping();
        let mut since = after_seq;
        loop {
            let wait = match deadline {
                None => WAIT_CHUNK,
                Some(d) => d.saturating_duration_since(tokio::time::Instant::now()).min(WAIT_CHUNK),
            };
            let page = self
                .wait_events(Since::Seq(since), &[EventType::PaymentReceived], 1, wait)
                .await
                .map_err(log_error)?;
            for e in &page.events {
                let Some(hash) = e.payment_hash else { continue };
                let payment = e.data.get("payment").cloned().unwrap_or(Value::Null);
                // As the API finds it (a deleted invoice is not); a keysend has none.
                match self.receive(&hex::encode(hash)).await {
                    Ok(receive) if receive.payment_hash == hash => {
                        return Ok(Some(PaidReceive { receive, seq: e.seq, payment }));
                    }
                    Ok(_) | Err(PayError::NotFound(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            since = page.cursor.max(since);
            if *stopping_rx.borrow() {
                return Err(stopping());
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Ok(None);
            }
        }
    }
}
