//! The driver of an outgoing payment: from its durable intent to the node, waiting for a channel
//! peer that is away, and back to the node when LDK gave up on a send for want of that peer,
//! within the payment's retry window. It runs as its own task, so nothing depends on the request
//! that asked for the payment staying open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boltd_store::{
    BeginOutgoing, FailureCode, NewOutgoing, PaymentRecord, PaymentStage, Store, StoreError,
};
use lightning::events::PaymentFailureReason;
use lightning::ln::channelmanager::PaymentId;
use tokio::sync::oneshot;

use super::lightning::{sendable_verdict, Lightning, SendPlan, Unsent};
use super::registry::{Driving, HandedOver, Registry};
use super::resume;
use crate::error::PayError;
use crate::ledger::now_secs;

/// How often a payment waiting for a channel peer looks again.
pub const PEER_POLL: Duration = Duration::from_millis(250);

/// How often a payment whose route broke further on (LDK found no route after a hop failed)
/// looks for one again.
pub const ROUTE_POLL: Duration = Duration::from_secs(1);

/// The first pause before sending again after LDK gave up for want of a route beyond our own
/// channels; it doubles up to [`RESEND_BACKOFF_MAX`].
pub const RESEND_BACKOFF: Duration = Duration::from_millis(500);

/// The longest pause between two sends of a payment.
pub const RESEND_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// How long a payment waits for HTLC slots on busy channels before its intent is recorded
/// (at most its `retry_for`); then it fails as [`PayError::ChannelsBusy`].
pub const HTLC_SLOT_WAIT: Duration = Duration::from_secs(10);

/// How often a payment waiting for HTLC slots looks again.
const HTLC_SLOT_POLL: Duration = Duration::from_millis(20);

/// The longest retry window a deadline is computed for (a bigger one is capped here).
const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The outgoing payments' core: what the engine's payment flows and the ledger share.
#[derive(Clone)]
pub(crate) struct Payments {
    pub(crate) store: Arc<Store>,
    pub(crate) lightning: Arc<dyn Lightning>,
    pub(crate) registry: Arc<Registry>,
    /// Sends reconciliation found unknown to the node on its last pass (see
    /// [`Payments::reconcile`]).
    pub(crate) suspects: Arc<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>,
}

impl Payments {
    /// The core over `store` and `lightning`.
    pub(crate) fn new(
        store: Arc<Store>,
        lightning: Arc<dyn Lightning>,
        registry: Arc<Registry>,
    ) -> Self {
        Self { store, lightning, registry, suspects: Arc::default() }
    }
}

/// What recording an intent found.
#[derive(Debug)]
pub(crate) enum Begun {
    /// A new payment (or a retry of a failed invoice): its driver is taking it to the node.
    /// If the payment fails before anything leaves, the driver answers why on `unsent`, once
    /// the failure is durable (the record only says it in Core Lightning's terms); dropped
    /// without an answer once the node has the payment.
    Sending { record: PaymentRecord, unsent: oneshot::Receiver<PayError> },
    /// The request is covered by this existing payment: nothing new is sent.
    Existing(PaymentRecord),
}

/// How a send of a payment ended, as far as its driver is concerned.
enum Outcome {
    /// LDK gave up on the send and the ledger handed the failure over.
    Failed(HandedOver),
    /// Final (the ledger recorded it), or the window closed with the send still in LDK's hands.
    Done,
}

/// Core Lightning's failure code for LDK's reason, its description, and whether paying the
/// same invoice again may work.
pub(crate) fn failure_code(
    reason: Option<PaymentFailureReason>,
) -> (FailureCode, &'static str, bool) {
    use PaymentFailureReason::*;
    match reason {
        Some(RecipientRejected) => (
            FailureCode::DestinationPermanentFailure,
            "the destination rejected the payment",
            false,
        ),
        Some(RouteNotFound) => (FailureCode::RouteNotFound, "no route to the destination", true),
        Some(RetriesExhausted) => {
            (FailureCode::StoppedRetrying, "retry_for elapsed without a successful attempt", true)
        }
        Some(PaymentExpired) => (FailureCode::InvoiceExpired, "the invoice expired", false),
        Some(UserAbandoned) => (FailureCode::Other, "abandoned", true),
        Some(UnknownRequiredFeatures) => {
            (FailureCode::Other, "the invoice requires features this node lacks", false)
        }
        Some(UnexpectedError) | None => (FailureCode::Other, "unexpected error", true),
        Some(InvoiceRequestExpired) => {
            (FailureCode::Other, "the BOLT12 invoice request expired", true)
        }
        Some(InvoiceRequestRejected) => {
            (FailureCode::Other, "the BOLT12 offer's issuer rejected the request", false)
        }
        Some(BlindedPathCreationFailed) => {
            (FailureCode::Other, "could not create a blinded path", true)
        }
    }
}

fn deadline_after(window: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(window.min(MAX_WINDOW)).unwrap_or(now)
}

impl Payments {
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, PayError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| PayError::storage(format!("storage task failed: {e}")))?
            .map_err(PayError::from)
    }

    /// While the channels are busy ([`PayError::ChannelsBusy`]: the balance is there but the
    /// HTLCs in flight leave no room for this one), waits for payments in flight to resolve, for
    /// at most [`HTLC_SLOT_WAIT`] or `retry_for`, whichever is shorter. Runs before the intent is
    /// recorded, so a caller that gives up meanwhile leaves nothing behind.
    pub(crate) async fn wait_for_htlc_slots(&self, amount_msat: u64, retry_for: Duration) {
        let deadline = deadline_after(retry_for.min(HTLC_SLOT_WAIT));
        while let Err(PayError::ChannelsBusy { .. }) =
            sendable_verdict(&self.lightning.sendable_channels(), amount_msat)
        {
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(HTLC_SLOT_POLL).await;
        }
    }

    /// Records the intent to pay (checked against earlier payments and the token's limits in
    /// one transaction, see `Store::begin_outgoing`) and, for a new payment, drives it to the
    /// node. Both run in a task of their own: a caller that goes away at any point (before the
    /// intent is durable, or after) changes nothing about the payment.
    pub(crate) async fn begin(
        &self,
        intent: NewOutgoing,
        plan: SendPlan,
    ) -> Result<Begun, PayError> {
        let (begun, answer) = oneshot::channel();
        let payments = self.clone();
        tokio::spawn(async move { payments.begin_and_drive(intent, plan, begun).await });
        answer.await.map_err(|_| PayError::Other("the payment's task ended unexpectedly".into()))?
    }

    async fn begin_and_drive(
        self,
        intent: NewOutgoing,
        plan: SendPlan,
        begun: oneshot::Sender<Result<Begun, PayError>>,
    ) {
        // Registered before the intent is durable: reconciliation leaves it to the driver.
        let driving = self.registry.drive(intent.payment_id);
        let deadline = deadline_after(plan.retry_for());
        let recorded = self.blocking(move |s| s.begin_outgoing(intent, now_secs())).await;
        let outcome = match recorded {
            Ok(BeginOutgoing::Started(r) | BeginOutgoing::Retrying(r)) => {
                let (answer, unsent) = oneshot::channel();
                let _ = begun.send(Ok(Begun::Sending { record: r.clone(), unsent }));
                self.drive(r, plan, driving, deadline, answer, false).await;
                return;
            }
            Ok(BeginOutgoing::Existing(r)) => Ok(Begun::Existing(r)),
            Ok(BeginOutgoing::KeyConflict(r)) => {
                Err(PayError::IdempotencyConflict { payment_id: r.id })
            }
            Ok(BeginOutgoing::AlreadyPaidDifferently(r)) => {
                Err(PayError::AlreadyPaid { payment_id: r.id })
            }
            Ok(BeginOutgoing::Refused(refusal)) => Err(refusal.into()),
            Err(e) => Err(e),
        };
        let _ = begun.send(outcome);
    }

    /// Takes a recorded payment to the node and stays with it while its window lasts. A
    /// `resumed` payment (see [`super::resume`]) goes under a new send: its current one may be
    /// known to the node, which refuses an id twice.
    async fn drive(
        self,
        record: PaymentRecord,
        plan: SendPlan,
        mut driving: Driving,
        deadline: Instant,
        answer: oneshot::Sender<PayError>,
        resumed: bool,
    ) {
        let Some(first) = record.payment_id else { return };
        let mut answer = Some(answer);
        let mut send = PaymentId(first);
        let mut recorded = !resumed;
        // After a send failed for want of a route (or a restart interrupted the payment), a
        // missing route is worth waiting for.
        let mut patient = resumed;
        let mut backoff = RESEND_BACKOFF;
        loop {
            if let Err(unsent) = self.until_sendable(&record, &plan, deadline, patient).await {
                self.fail_unsent(send, unsent, answer.take()).await;
                return;
            }
            if !recorded {
                // The next send is durable before the node gets it, and only if the current one
                // is still the payment's; reconciliation sees the payment driven throughout.
                let next = PaymentId(rand::random());
                driving.also(next.0);
                let current = send;
                let recorded = self
                    .blocking(move |s| s.new_send(record.id, &current.0, &next.0, now_secs()))
                    .await;
                let moved = matches!(recorded, Ok(Some(_)));
                driving.settle(next.0, moved);
                if !moved {
                    // Final or moved on meanwhile, or the store failed (fail-stop): nothing more
                    // for this driver to do.
                    return;
                }
                send = next;
                tracing::info!(id = record.id, attempt_send = %next, "sending the payment again");
            }
            recorded = false;
            // LDK retries within what is left of the payment's window, never beyond it.
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(hash) = record.payment_hash {
                self.registry.spans.to_node(hash);
            }
            if let Err(unsent) = self.lightning.send(send, &plan, left) {
                self.fail_unsent(send, unsent, answer.take()).await;
                return;
            }
            // The node has it: from now on the record says how it ends.
            answer = None;
            // Informational: a crash before it is durable leaves `recorded`, and
            // reconciliation asks the node.
            let id = record.id;
            let _ = self
                .blocking(move |s| {
                    s.deferring_sync(|s| s.set_stage(id, PaymentStage::InFlight, now_secs()))
                })
                .await;
            match self.outcome(&mut driving, record.id, deadline).await {
                Outcome::Done => break,
                Outcome::Failed(f) if self.may_send_again(&plan, f, deadline) => {
                    patient = true;
                    if self.lightning.offline_outbound_msat() > 0 {
                        tracing::info!(id = record.id, "no route while a channel peer is away");
                    } else {
                        // A hop further on is away (a restarting node, most often): pause,
                        // then look for a route again.
                        let left = deadline.saturating_duration_since(Instant::now());
                        tracing::info!(id = record.id, ?backoff, "no route now; trying again");
                        tokio::time::sleep(backoff.min(left)).await;
                        backoff = (backoff * 2).min(RESEND_BACKOFF_MAX);
                    }
                }
                Outcome::Failed(f) => {
                    self.record_failure(send, f).await;
                    return;
                }
            }
        }
        // The window closed (or the payment is final): failures LDK reports from now on are
        // the ledger's to record, including one handed over just before.
        for f in driving.close() {
            self.record_failure(send, f).await;
        }
    }

    /// Whether the engine sends again after LDK gave up on a send: no route (a channel on the
    /// way, ours or further on, went down after the payment started), with time left in the
    /// payment's window. Core Lightning's `pay` keeps trying for `retry_for` the same way.
    fn may_send_again(&self, plan: &SendPlan, f: HandedOver, deadline: Instant) -> bool {
        plan.can_send_again()
            && f.reason == Some(PaymentFailureReason::RouteNotFound)
            && Instant::now() < deadline
    }

    /// Waits for the send's outcome: a failure handed over by the ledger, the payment final, or
    /// the end of the window.
    async fn outcome(&self, driving: &mut Driving, id: i64, deadline: Instant) -> Outcome {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            f = driving.handed_over() => match f {
                Some(f) => Outcome::Failed(f),
                None => Outcome::Done,
            },
            _ = self.registry.wait_final(&self.store, id, left) => Outcome::Done,
        }
    }

    /// Checks that the payment can go out; while it cannot for want of a channel peer that is
    /// away (or, once a send failed for want of a route, `patient`, for want of a route),
    /// waits (stage `waiting_for_peer`) until `deadline`.
    async fn until_sendable(
        &self,
        record: &PaymentRecord,
        plan: &SendPlan,
        deadline: Instant,
        patient: bool,
    ) -> Result<(), Unsent> {
        let mut waiting = false;
        loop {
            match self.lightning.preflight(plan) {
                Ok(()) => return Ok(()),
                Err(unsent)
                    if unsent.peer_may_help
                        && Instant::now() < deadline
                        && (patient || self.lightning.peers_could_carry(plan.amount_msat())) =>
                {
                    if !waiting {
                        waiting = true;
                        let id = record.id;
                        let stage = PaymentStage::WaitingForPeer;
                        // A storage failure stops the node (fail-stop); nothing to add here.
                        let _ = self.blocking(move |s| s.set_stage(id, stage, now_secs())).await;
                        tracing::info!(
                            id,
                            "payment waits for a channel peer to reconnect: {}",
                            unsent.reason
                        );
                    }
                    let own_peer_away = self.lightning.offline_outbound_msat() > 0;
                    tokio::time::sleep(if own_peer_away { PEER_POLL } else { ROUTE_POLL }).await;
                }
                Err(unsent) => return Err(unsent),
            }
        }
    }

    /// Records that `send` failed before anything left, durably, then tells the caller who
    /// started the payment why (`answer`).
    async fn fail_unsent(
        &self,
        send: PaymentId,
        unsent: Unsent,
        answer: Option<oneshot::Sender<PayError>>,
    ) {
        self.lightning.forget(send);
        let Unsent { code, reason, retryable, error, .. } = unsent;
        let recorded = self
            .blocking(move |s| s.fail_outgoing(&send.0, code, Some(&reason), retryable, now_secs()))
            .await;
        // A failure to record it is a storage error, not the payment's outcome.
        if let Some(answer) = answer {
            let _ = answer.send(recorded.map_or_else(|e| e, |_| error));
        }
    }

    /// Records LDK's failure of `send`.
    async fn record_failure(&self, send: PaymentId, f: HandedOver) {
        let (code, reason, retryable) = failure_code(f.reason);
        let _ = self
            .blocking(move |s| s.fail_outgoing(&send.0, code, Some(reason), retryable, now_secs()))
            .await;
    }

    /// Settles pending payments that no driver owns and of which nothing can be out: the node
    /// reported the send failed (its failure is noted on the send: LDK reports a failure only
    /// once no HTLC of it is left), or the node does not know the send on two passes in a row
    /// (the intent was recorded but the payment never reached the node, a crash in between; two
    /// passes, because the node forgets a send as it queues its failure event, which the ledger
    /// notes a moment later). Each such payment is resumed while its retry window lasts (see
    /// [`super::resume`]), else failed, with the failure noted on the send if there is one. A
    /// send the node still lists without a failure, abandoned included (its HTLCs may still be
    /// out, and may still succeed), is left to the node's events. Returns how many it failed.
    pub(crate) async fn reconcile(&self) -> Result<usize, PayError> {
        let pending = self.blocking(|s| s.pending_outgoing()).await?;
        let known = self.lightning.known_sends();
        let candidates: Vec<(PaymentRecord, [u8; 32])> = pending
            .into_iter()
            .filter_map(|r| r.payment_id.map(|send| (r, send)))
            .filter(|(_, send)| !self.registry.is_driven(send))
            .collect();
        let sends: Vec<[u8; 32]> = candidates.iter().map(|(_, send)| *send).collect();
        let noted: Vec<Option<(FailureCode, String)>> =
            self.blocking(move |s| sends.iter().map(|send| s.send_failure(send)).collect()).await?;
        let mut unknown = std::collections::HashSet::new();
        let mut due = Vec::new();
        {
            let suspects = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
            for ((rec, send), noted) in candidates.into_iter().zip(noted) {
                if noted.is_some() {
                    due.push((rec, send, noted));
                } else if known.contains(&PaymentId(send)) {
                    continue;
                } else if suspects.contains(&send) {
                    due.push((rec, send, None));
                } else {
                    unknown.insert(send);
                }
            }
        }
        *self.suspects.lock().unwrap_or_else(|p| p.into_inner()) = unknown;
        let mut failed = 0;
        for (rec, send, noted) in due {
            let id = rec.id;
            let (code, reason) = match self.resumable(&rec, &send).await? {
                Resumable::Yes(plan, left) => {
                    tracing::info!(id, ?left, "resuming an interrupted payment within retry_for");
                    self.resume(rec, plan, left);
                    continue;
                }
                Resumable::WindowOver => noted.unwrap_or((
                    FailureCode::StoppedRetrying,
                    "retry_for elapsed before the payment could be sent again".into(),
                )),
                Resumable::No => noted.unwrap_or((
                    FailureCode::Other,
                    "the payment never reached the node (interrupted before it was sent)".into(),
                )),
            };
            tracing::warn!(
                id,
                "pending payment the node is done with: {reason}; marking it failed"
            );
            let done = self
                .blocking(move |s| s.fail_outgoing(&send, code, Some(&reason), true, now_secs()))
                .await?;
            if done.is_some_and(|r| r.status == boltd_store::PaymentStatus::Failed) {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Whether the payment whose current send is `send` can be sent again, and with what.
    async fn resumable(&self, rec: &PaymentRecord, send: &[u8; 32]) -> Result<Resumable, PayError> {
        let send = *send;
        let Some(stored) = self.blocking(move |s| s.send_plan(&send)).await? else {
            return Ok(Resumable::No);
        };
        let Some(retry_for) = resume::retry_for(&stored.plan) else { return Ok(Resumable::No) };
        match resume::window_left(retry_for, stored.attempted_at, resume::now_ms()) {
            Some(left) if left >= resume::MIN_RESUME_WINDOW => {
                match resume::rebuild(rec, &stored.plan) {
                    Ok(plan) => Ok(Resumable::Yes(plan, left)),
                    Err(e) => {
                        tracing::warn!(id = rec.id, "the payment's send plan is unusable: {e}");
                        Ok(Resumable::No)
                    }
                }
            }
            _ => Ok(Resumable::WindowOver),
        }
    }

    /// Hands an interrupted payment back to a driver, under a new send, for what is left of
    /// its window.
    fn resume(&self, record: PaymentRecord, plan: SendPlan, left: Duration) {
        let Some(send) = record.payment_id else { return };
        let driving = self.registry.drive(send);
        let deadline = deadline_after(left);
        // Nobody waits for a failure before anything left: the record says how it ends.
        let (answer, _) = oneshot::channel();
        let payments = self.clone();
        tokio::spawn(async move {
            payments.drive(record, plan, driving, deadline, answer, true).await;
        });
    }
}

/// What [`Payments::resumable`] found.
enum Resumable {
    Yes(SendPlan, Duration),
    /// Its window is over.
    WindowOver,
    /// It has no (usable) plan.
    No,
}

#[cfg(test)]
#[path = "outgoing_tests.rs"]
mod tests;
