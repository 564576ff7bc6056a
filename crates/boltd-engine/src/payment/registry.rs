//! The registry of outgoing payments in progress: who waits for which payment, and which
//! payments a driver still owns.
//!
//! It holds nothing that can disagree with the store: a waiter re-reads the record, and an entry
//! exists only while someone waits or a driver runs, so the registry is empty when the node is
//! idle, however many payments it made (the in-memory tracker it replaces kept every payment
//! hash it ever saw).
//!
//! * **Waiters** ([`Registry::wait_final`]) are woken by the store's commit notifications: every
//!   final transition of a payment appends `payment_sent` or `payment_failed` to the event log in
//!   its transaction, and [`Registry::run`] reads what was appended and wakes the waiters of those
//!   payments. Whoever makes the transition (the ledger, a driver, reconciliation), the waiter
//!   wakes.
//! * **Drivers** ([`Registry::drive`]) are the tasks that take a recorded payment to the node
//!   (`outgoing.rs`). While one runs, reconciliation leaves its payment alone, and the ledger
//!   hands it a failure it may retry ([`Registry::hand_over`]) instead of recording it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use boltd_store::{EventType, PaymentRecord, Store};
use lightning::events::PaymentFailureReason;
use tokio::sync::{mpsc, Notify};

use crate::error::PayError;

/// A failure LDK reported for a driver's current send, handed to the driver to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HandedOver {
    /// LDK's reason.
    pub(crate) reason: Option<PaymentFailureReason>,
}

/// A failure handed over, with the send it is the failure of.
type Handed = ([u8; 32], HandedOver);

#[derive(Default)]
struct Waiting {
    notify: Arc<Notify>,
    waiters: usize,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Registry {
    /// Waiters by payment row id.
    waiting: Mutex<HashMap<i64, Waiting>>,
    /// Live drivers by the LDK id of their current send, with the channel to hand failures to
    /// (each with the send it is the failure of).
    drivers: Mutex<HashMap<[u8; 32], mpsc::UnboundedSender<Handed>>>,
    /// Asks the periodic reconciliation to run now (a payment to resume).
    reconcile_now: Notify,
    /// Where the time of the payments callers wait for goes (see [`super::spans`]).
    pub(crate) spans: super::spans::Spans,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves the maps consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Leaves the waiting list when the waiter goes (answered, timed out or dropped).
struct WaitGuard<'a> {
    registry: &'a Registry,
    id: i64,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.registry.waiting);
        if let Some(w) = waiting.get_mut(&self.id) {
            w.waiters -= 1;
            if w.waiters == 0 {
                waiting.remove(&self.id);
            }
        }
    }
}

/// A driver's registration; dropping it unregisters the current send.
pub(crate) struct Driving {
    registry: Arc<Registry>,
    send: [u8; 32],
    failures: mpsc::UnboundedReceiver<Handed>,
    sender: mpsc::UnboundedSender<Handed>,
}

impl Driving {
    /// Registers the driver under the next send too, before that send is recorded, so that the
    /// payment is driven under whichever of the two the store says is current.
    pub(crate) fn also(&self, next: [u8; 32]) {
        lock(&self.registry.drivers).insert(next, self.sender.clone());
    }

    /// The next send is recorded (`recorded`): the registration moves to it. Or it is not
    /// (someone else moved the payment on): the registration stays, without it.
    pub(crate) fn settle(&mut self, next: [u8; 32], recorded: bool) {
        let mut drivers = lock(&self.registry.drivers);
        if recorded {
            drivers.remove(&self.send);
            self.send = next;
        } else {
            drivers.remove(&next);
        }
    }

    /// The next failure the ledger hands over for the current send. A failure of an earlier
    /// send (handed over before the driver moved on, or replayed by LDK after a restart) says
    /// nothing about the current one, whose HTLCs may be out: it is dropped.
    pub(crate) async fn handed_over(&mut self) -> Option<HandedOver> {
        loop {
            let (send, failure) = self.failures.recv().await?;
            if send == self.send {
                return Some(failure);
            }
            tracing::debug!("a failure of an earlier send of the payment, ignored");
        }
    }

    /// Unregisters, and returns the failures handed over that the driver has not taken (the
    /// ledger hands over under the registry's lock, so none can arrive after this).
    pub(crate) fn close(mut self) -> Vec<HandedOver> {
        lock(&self.registry.drivers).remove(&self.send);
        self.failures.close();
        let mut left = Vec::new();
        while let Ok((send, f)) = self.failures.try_recv() {
            if send == self.send {
                left.push(f);
            }
        }
        left
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        lock(&self.registry.drivers).remove(&self.send);
    }
}

impl Registry {
    /// Registers a driver for the payment about to be (or just) recorded under `send`.
    pub(crate) fn drive(self: &Arc<Self>, send: [u8; 32]) -> Driving {
        let (sender, failures) = mpsc::unbounded_channel();
        lock(&self.drivers).insert(send, sender.clone());
        Driving { registry: Arc::clone(self), send, failures, sender }
    }

    /// Whether a driver owns the payment whose current send is `send`.
    pub(crate) fn is_driven(&self, send: &[u8; 32]) -> bool {
        lock(&self.drivers).contains_key(send)
    }

    /// Hands LDK's failure of `send` to its driver, if one runs: then the driver records the
    /// outcome (a new send, or the failure) and the caller must not. Called by the ledger.
    pub(crate) fn hand_over(&self, send: &[u8; 32], failure: HandedOver) -> bool {
        match lock(&self.drivers).get(send) {
            Some(driver) => driver.send((*send, failure)).is_ok(),
            None => false,
        }
    }

    /// Asks reconciliation to run now rather than at its next interval.
    pub(crate) fn nudge_reconciliation(&self) {
        self.reconcile_now.notify_one();
    }

    /// Returns when reconciliation was asked to run now.
    pub(crate) async fn reconciliation_nudged(&self) {
        self.reconcile_now.notified().await;
    }

    /// Payments waited for, and payments driven (for tests and diagnostics).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (lock(&self.waiting).len(), lock(&self.drivers).len())
    }

    /// Wakes the waiters of payment `id`.
    pub(crate) fn wake(&self, id: i64) {
        if let Some(w) = lock(&self.waiting).get(&id) {
            w.notify.notify_waiters();
        }
    }

    /// Waits until payment `id` is final or `wait` passes, and returns it as it is then.
    pub(crate) async fn wait_final(
        &self,
        store: &Arc<Store>,
        id: i64,
        wait: Duration,
    ) -> Result<Option<PaymentRecord>, PayError> {
        let found = self.wait_final_with(store, id, wait, |_, _| Ok(())).await?;
        Ok(found.map(|(record, _)| record))
    }

    /// [`Registry::wait_final`], with `also` read in the same trip to the store once the
    /// payment is final (`None` when the wait ended first).
    pub(crate) async fn wait_final_with<T: Send + 'static>(
        &self,
        store: &Arc<Store>,
        id: i64,
        wait: Duration,
        also: fn(&Store, &PaymentRecord) -> Result<T, boltd_store::StoreError>,
    ) -> Result<Option<(PaymentRecord, Option<T>)>, PayError> {
        let notify = {
            let mut waiting = lock(&self.waiting);
            let w = waiting.entry(id).or_default();
            w.waiters += 1;
            Arc::clone(&w.notify)
        };
        let _guard = WaitGuard { registry: self, id };
        // An absurd wait (beyond any deadline tokio can represent) is "as long as it takes".
        let deadline = tokio::time::Instant::now().checked_add(wait);
        loop {
            // Registered before reading: a transition committed after the read wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let store = Arc::clone(store);
            let read = tokio::task::spawn_blocking(move || {
                let Some(record) = store.payment_by_id(id)? else { return Ok(None) };
                let extra = if record.is_final() { Some(also(&store, &record)?) } else { None };
                Ok::<_, boltd_store::StoreError>(Some((record, extra)))
            });
            let read = read
                .await
                .map_err(|e| PayError::storage(format!("storage task failed: {e}")))??;
            let Some((record, extra)) = read else { return Ok(None) };
            let expired = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
            if record.is_final() || expired {
                return Ok(Some((record, extra)));
            }
            match deadline {
                Some(d) => {
                    let _ = tokio::time::timeout_at(d, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Wakes waiters as the store appends payment events, until `stop` (the engine's stop).
    pub(crate) async fn run(
        self: Arc<Self>,
        store: Arc<Store>,
        mut appended: tokio::sync::watch::Receiver<u64>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut cursor = *appended.borrow_and_update();
        loop {
            tokio::select! {
                changed = appended.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            let last = *appended.borrow_and_update();
            // Fast path: nobody waits; skip what was appended.
            if lock(&self.waiting).is_empty() {
                cursor = last;
                continue;
            }
            let s = Arc::clone(&store);
            let from = cursor;
            let read = tokio::task::spawn_blocking(move || s.events_after(from, 1000)).await;
            let events = match read {
                Ok(Ok(events)) => events,
                Ok(Err(e)) => {
                    tracing::warn!("reading payment events for waiters: {e}");
                    continue;
                }
                Err(_) => return,
            };
            for e in &events {
                cursor = cursor.max(e.seq);
                if matches!(e.event_type, EventType::PaymentSent | EventType::PaymentFailed) {
                    if let Some(id) = e.data.get("payment").and_then(|p| p["id"].as_i64()) {
                        self.wake(id);
                    }
                }
            }
            if events.len() == 1000 {
                // More to read: go round again without waiting.
                appended.mark_changed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_driver_is_registered_under_its_current_send_until_dropped() {
        let registry = Arc::new(Registry::default());
        let mut d = registry.drive([1; 32]);
        assert!(registry.is_driven(&[1; 32]));
        assert!(registry.hand_over(&[1; 32], HandedOver { reason: None }));
        assert_eq!(d.handed_over().await, Some(HandedOver { reason: None }));
        d.also([2; 32]);
        assert!(registry.is_driven(&[1; 32]) && registry.is_driven(&[2; 32]), "both, meanwhile");
        d.settle([2; 32], true);
        assert!(!registry.is_driven(&[1; 32]));
        assert!(!registry.hand_over(&[1; 32], HandedOver { reason: None }));
        assert!(registry.is_driven(&[2; 32]));
        assert!(registry.hand_over(&[2; 32], HandedOver { reason: None }));
        assert_eq!(d.close(), vec![HandedOver { reason: None }], "nothing handed over is lost");
        assert_eq!(registry.sizes(), (0, 0));
        assert!(!registry.hand_over(&[2; 32], HandedOver { reason: None }));
    }

    #[tokio::test]
    async fn a_failure_of_an_earlier_send_is_never_taken_for_the_current_one() {
        let registry = Arc::new(Registry::default());
        let mut d = registry.drive([1; 32]);
        // LDK's failure of the first send arrives (or is replayed) before the driver moves on.
        let stale = HandedOver { reason: Some(PaymentFailureReason::RouteNotFound) };
        assert!(registry.hand_over(&[1; 32], stale));
        d.also([2; 32]);
        d.settle([2; 32], true);
        // The second send's HTLCs may be out: the first send's failure says nothing of them.
        let current = HandedOver { reason: Some(PaymentFailureReason::RecipientRejected) };
        assert!(registry.hand_over(&[2; 32], current));
        assert_eq!(d.handed_over().await, Some(current));
        // Nor is it left over for the driver to record when it closes.
        assert!(registry.hand_over(&[2; 32], current));
        let mut e = registry.drive([3; 32]);
        assert!(registry.hand_over(&[3; 32], stale));
        e.also([4; 32]);
        e.settle([4; 32], true);
        assert_eq!(e.close(), vec![], "the earlier send's failure is not the current send's");
        assert_eq!(d.close(), vec![current]);
    }
}
