//! The ledger: turns LDK's payment events into the durable payment record.
//!
//! Every method that returns `Result` writes to SQLite before it returns `Ok`, so an event is
//! only acknowledged to LDK once it is recorded; on a write failure LDK replays the event. All
//! writes are idempotent (a replayed `PaymentSent` finds the record complete and leaves it).
//! The store appends the matching events (`payment_sent`, ...) in the same transactions; channel
//! events go to the log here too, idempotent by channel.
//!
//! The payment writes (and the reads they depend on) run inside [`Store::deferring_sync`]: they
//! commit without waiting for the disk. LDK's background processor handles events one at a time
//! on one thread, and a flush per event would cap payments at the disk's flush rate. The WAL is
//! one append-only log that SQLite recovers as a prefix, so these records are durable as soon as
//! any later commit is flushed, and nothing depends on them before that: the background
//! processor persists the channel manager (a synced write, after which LDK no longer replays
//! the handled events) right after handling them, so a crash before that flush replays the
//! events and the idempotent records are made again; a preimage recorded as revealed leaves the
//! node only after LDK's monitor update that carries it, a synced write made after the record;
//! and every read from outside the ledger (API answers, the event log's readers) flushes the
//! deferred commits it could see before returning.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use boltd_node::events::{
    ChannelEvent, ChannelEventKind, ClaimDecision, ClaimableEvent, ClaimedEvent, FailedEvent,
    NotRecorded, PathEvent, PaymentEvents, SentEvent,
};
use boltd_node::node::scid_string;
use boltd_store::{
    EventType, NewChannelEvent, NewClosedChannel, NewIncoming, NewPart, PartFailure, PartHop,
    PaymentKind, ReceiveState, ReceiveUpdate, Store,
};
use lightning::events::{PathFailure, PaymentFailureReason};
use lightning::routing::gossip::NetworkUpdate;

use crate::payment::outgoing::failure_code;
use crate::payment::registry::{HandedOver, Registry};
use crate::payment::resume;

/// Unix time in seconds.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Seconds a block takes on average, to estimate when a block height is reached.
pub const BLOCK_SECS: u64 = 600;

/// Records payments as LDK reports them.
pub struct Ledger {
    store: Arc<Store>,
    registry: Arc<Registry>,
}

impl Ledger {
    /// A ledger over the node's store, handing failures a payment's driver may answer to it.
    pub(crate) fn new(store: Arc<Store>, registry: Arc<Registry>) -> Self {
        Self { store, registry }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// A path LDK resolved, as the part to record: the route, and for a failure who reported it,
/// which channel, and a BOLT 4 failure code. LDK does not expose the onion's raw code in release
/// builds, so the code is derived from the failure's network update: 0x400f (incorrect or
/// unknown payment details) at the destination, 0x1007/0x4008 (temporary/permanent channel
/// failure) or 0x2002/0x6002 (temporary/permanent node failure) on the way.
fn part_of(event: &PathEvent) -> Option<NewPart> {
    let ldk_payment_id = event.payment_id?.0;
    let hops = &event.path.hops;
    let route = hops
        .iter()
        .map(|h| PartHop {
            node_id: h.pubkey.to_string(),
            short_channel_id: scid_string(h.short_channel_id),
            fee_msat: h.fee_msat,
            cltv_expiry_delta: h.cltv_expiry_delta,
        })
        .collect();
    let failure = event.failure.as_ref().map(|failure| {
        let scid = failure.short_channel_id;
        let index = scid.and_then(|s| hops.iter().position(|h| h.short_channel_id == s));
        let (erring_index, erring_node, erring_channel) = match (index, &failure.failure) {
            (_, PathFailure::InitialSend { .. }) => (0, None, scid),
            // The node before the failing channel reported it.
            (Some(i), _) => (i as u32, if i == 0 { None } else { Some(hops[i - 1].pubkey) }, scid),
            // No channel: the destination failed it.
            (None, _) => (hops.len() as u32, hops.last().map(|h| h.pubkey), None),
        };
        let failcode = match &failure.failure {
            PathFailure::InitialSend { .. } => 0x2002,
            PathFailure::OnPath { network_update } => match network_update {
                Some(NetworkUpdate::ChannelFailure { is_permanent: true, .. }) => 0x4008 | 0x8000,
                Some(NetworkUpdate::ChannelFailure { .. }) => 0x1007,
                Some(NetworkUpdate::NodeFailure { is_permanent: true, .. }) => 0x6002,
                Some(NetworkUpdate::NodeFailure { .. }) => 0x2002,
                None if failure.permanent => 0x400f,
                None => 0x1007,
            },
        };
        PartFailure {
            erring_index,
            erring_node: erring_node.map(|n| n.to_string()),
            erring_channel: erring_channel.map(scid_string),
            failcode,
        }
    });
    Some(NewPart { ldk_payment_id, route, failure })
}

fn not_recorded(e: boltd_store::StoreError) -> NotRecorded {
    tracing::error!("recording a payment event failed (LDK will replay it): {e}");
    NotRecorded
}

fn custom_records_json(records: &[(u64, Vec<u8>)]) -> Option<String> {
    if records.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> =
        records.iter().map(|(t, v)| (t.to_string(), hex::encode(v).into())).collect();
    Some(serde_json::Value::Object(map).to_string())
}

impl Ledger {
    /// The decision for a payment from which `counterparty_skimmed_fee_msat` was taken, when
    /// not to go on: the fee is not an LSP's promised one for a receive of ours (`Fail`), or
    /// cannot be checked or recorded now (`Hold`; the HTLCs fail back at their deadline).
    /// `None`: the fee was promised and is recorded.
    fn check_lsp_fee(&self, event: &ClaimableEvent, known: bool) -> Option<ClaimDecision> {
        let hash = event.payment_hash.0;
        let skimmed = event.counterparty_skimmed_fee_msat;
        let lsp = match self.store.deferring_sync(|s| s.receive_lsp(&hash)) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(payment_hash = %event.payment_hash, "cannot read the receive's LSP: {e}");
                return Some(ClaimDecision::Hold);
            }
        };
        match lsp {
            Some(l) if known && skimmed <= l.opening_fee_msat => {
                let recorded =
                    self.store.deferring_sync(|s| s.record_lsp_skimmed_fee(&hash, skimmed));
                if let Err(e) = recorded {
                    tracing::error!("recording the LSP's fee failed: {e}");
                    return Some(ClaimDecision::Hold);
                }
                tracing::info!(payment_hash = %event.payment_hash, skimmed, promised = l.opening_fee_msat, "the LSP took its promised fee");
                None
            }
            Some(l) => {
                tracing::warn!(
                    payment_hash = %event.payment_hash, skimmed, promised = l.opening_fee_msat,
                    known,
                    "the LSP took more than it promised (or the receive is unknown): failing \
                     the payment back"
                );
                Some(ClaimDecision::Fail)
            }
            None => {
                tracing::warn!(
                    payment_hash = %event.payment_hash, skimmed,
                    "a fee was taken from a payment not made through an LSP: failing it back"
                );
                Some(ClaimDecision::Fail)
            }
        }
    }
}

impl PaymentEvents for Ledger {
    /// Decides what happens to HTLCs that can be claimed, recording it first:
    /// - no receive (keysend, or an invoice boltd did not record): claim with LDK's preimage;
    /// - a canceled or expired receive: fail them back;
    /// - a settled receive: a second payment of a paid invoice: fail it back (it is never
    ///   claimed unrecorded);
    /// - otherwise the receive moves to htlcs_arrived (with the claim deadline); a hold invoice
    ///   whose preimage is not revealed yet holds them; else the preimage is recorded as
    ///   revealed, only if the receive can still take it (a cancel may have won the race),
    ///   before the HTLCs are claimed.
    fn payment_claimable(&self, event: ClaimableEvent) -> ClaimDecision {
        let hash = event.payment_hash.0;
        let now = now_secs();
        let receive = match self.store.deferring_sync(|s| s.receive_by_hash(&hash)) {
            Ok(r) => r,
            Err(e) => {
                // Without the record we cannot tell a hold invoice from a plain one: keep the
                // HTLCs (they fail back by themselves at the claim deadline) rather than guess.
                tracing::error!(payment_hash = %event.payment_hash, "cannot read receive: {e}");
                return ClaimDecision::Hold;
            }
        };
        // A fee taken on the way (an LSP's, for a just-in-time channel) must be the one its LSP
        // promised for this receive: anything else is failed back.
        if event.counterparty_skimmed_fee_msat > 0 {
            if let Some(decision) = self.check_lsp_fee(&event, receive.is_some()) {
                return decision;
            }
        }
        let Some(r) = receive else {
            return event.known_preimage.map(ClaimDecision::Claim).unwrap_or(ClaimDecision::Fail);
        };
        match r.state {
            ReceiveState::Canceled | ReceiveState::Expired => return ClaimDecision::Fail,
            ReceiveState::Settled => {
                tracing::warn!(
                    receive = r.id,
                    amount_msat = event.amount_msat,
                    "a payment to an invoice that is already paid: failing it back"
                );
                return ClaimDecision::Fail;
            }
            ReceiveState::Created | ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => {
            }
        }
        let deadline = event.claim_deadline.map(|height| {
            let blocks = u64::from(height.saturating_sub(event.best_height));
            (height, now.saturating_add(blocks.saturating_mul(BLOCK_SECS)))
        });
        let arrived = self
            .store
            .deferring_sync(|s| s.receive_htlcs_arrived(&hash, event.amount_msat, deadline, now));
        if let Err(e) = arrived {
            tracing::error!("recording arrived HTLCs failed: {e}");
            return ClaimDecision::Hold;
        }
        if r.hold && r.preimage.is_none() {
            return ClaimDecision::Hold;
        }
        let Some(preimage) =
            event.known_preimage.or(r.preimage.map(lightning::types::payment::PaymentPreimage))
        else {
            return ClaimDecision::Fail;
        };
        // Persist before revealing: the record says the preimage is out before it is.
        let revealed =
            self.store.deferring_sync(|s| s.receive_preimage_revealed(&hash, &preimage.0, now));
        match revealed {
            Ok(ReceiveUpdate::Updated(_)) => ClaimDecision::Claim(preimage),
            // A replay: the preimage was revealed already.
            Ok(ReceiveUpdate::Unchanged(r)) if r.state == ReceiveState::PreimageRevealed => {
                ClaimDecision::Claim(preimage)
            }
            // Canceled (or expired) since it was read: the cancel won.
            Ok(ReceiveUpdate::Unchanged(_)) | Ok(ReceiveUpdate::NotFound) => ClaimDecision::Fail,
            Err(e) => {
                tracing::error!("recording the revealed preimage failed: {e}");
                ClaimDecision::Hold
            }
        }
    }

    /// Cancels the receive (`htlcs_expired`) only once its claim deadline is reached: a new
    /// HTLC refused for being too close to its expiry fails the same way but leaves the held
    /// ones alone (anyone who knows the hash could send one).
    fn receive_htlcs_expired(
        &self,
        payment_hash: lightning::types::payment::PaymentHash,
        best_height: u32,
    ) -> Result<(), NotRecorded> {
        let hash = payment_hash.0;
        let receive =
            self.store.deferring_sync(|s| s.receive_by_hash(&hash)).map_err(not_recorded)?;
        let due = receive
            .as_ref()
            .and_then(|r| r.claim_deadline_height)
            .is_some_and(|deadline| best_height >= deadline);
        if !due {
            tracing::debug!(%payment_hash, best_height, "an HTLC too close to its expiry was refused");
            return Ok(());
        }
        let now = now_secs();
        let failed = self
            .store
            .deferring_sync(|s| s.receive_htlcs_failed(&hash, now))
            .map_err(not_recorded)?;
        if let ReceiveUpdate::Updated(r) = failed {
            tracing::warn!(
                receive = r.id,
                "held HTLCs reached their claim deadline and were failed back: receive canceled"
            );
        }
        Ok(())
    }

    fn payment_claimed(&self, event: ClaimedEvent) -> Result<(), NotRecorded> {
        let now = now_secs();
        let hash = event.payment_hash.0;
        let receive =
            self.store.deferring_sync(|s| s.receive_by_hash(&hash)).map_err(not_recorded)?;
        let kind = if event.keysend {
            PaymentKind::Keysend
        } else if event.bolt12 {
            PaymentKind::Bolt12
        } else {
            PaymentKind::Bolt11
        };
        let mut incoming = NewIncoming::new(kind, hash, event.amount_msat);
        incoming.preimage = event.preimage.map(|p| p.0);
        incoming.custom_records = custom_records_json(&event.custom_records);
        if let Some(r) = &receive {
            incoming.invoice = r.invoice.clone();
            incoming.description = r.description.clone();
        }
        if let Some(note) = event.payer_note {
            incoming.description = Some(note);
        }
        self.store
            .deferring_sync(|s| {
                s.record_incoming(incoming, now)?;
                if receive.is_some() {
                    s.receive_settled(&hash, event.amount_msat, now)?;
                }
                Ok(())
            })
            .map_err(not_recorded)
    }

    fn payment_sent(&self, event: SentEvent) -> Result<(), NotRecorded> {
        let Some(id) = event.payment_id else { return Ok(()) };
        self.registry.spans.node_done(event.payment_hash.0);
        let amount_sent = event.amount_msat.map(|a| a.saturating_add(event.fee_msat.unwrap_or(0)));
        let parts = Some(event.attempted_parts.max(1));
        self.store
            .deferring_sync(|s| {
                s.complete_outgoing(
                    &id.0,
                    &event.preimage.0,
                    event.fee_msat,
                    amount_sent,
                    parts,
                    now_secs(),
                )
            })
            // Its waiters at once (the event log's announcement, which wakes them too, comes
            // a store read later); they read the record through the store, which makes it
            // durable first.
            .map(|record| {
                if let Some(r) = record {
                    self.registry.wake(r.id);
                }
            })
            .map_err(not_recorded)
    }

    /// A failure a payment's driver may answer with a new send (no route: a channel peer may
    /// be away) is handed to the driver when one runs; it records what follows. Anything else
    /// is recorded here.
    fn payment_failed(&self, event: FailedEvent) -> Result<(), NotRecorded> {
        let (code, reason, retryable) = failure_code(event.reason);
        if event.reason == Some(PaymentFailureReason::RouteNotFound)
            && self.registry.is_driven(&event.payment_id.0)
        {
            // Noted on the send first (reconciliation records it if the driver is gone by the
            // time anyone looks), then handed over.
            let id = event.payment_id.0;
            self.store
                .deferring_sync(|s| s.note_send_failure(&id, code, reason))
                .map_err(not_recorded)?;
            if self.registry.hand_over(&id, HandedOver { reason: event.reason }) {
                return Ok(());
            }
        }
        if matches!(
            event.reason,
            Some(PaymentFailureReason::RouteNotFound | PaymentFailureReason::RetriesExhausted)
        ) && !self.registry.is_driven(&event.payment_id.0)
        {
            // No driver (the node restarted: LDK gives up, as it reloads, on a payment it was
            // about to retry): a payment with time left of its window is resumed by
            // reconciliation, which the failure noted on the send tells that nothing of the
            // send is out.
            let id = event.payment_id.0;
            let plan = self.store.send_plan(&id).map_err(not_recorded)?;
            if plan.as_ref().is_some_and(resume::has_time_left) {
                self.store
                    .deferring_sync(|s| s.note_send_failure(&id, code, reason))
                    .map_err(not_recorded)?;
                tracing::info!(send = %event.payment_id, "{reason}; the payment will be resumed");
                self.registry.nudge_reconciliation();
                return Ok(());
            }
        }
        self.store
            .deferring_sync(|s| {
                s.fail_outgoing(&event.payment_id.0, code, Some(reason), retryable, now_secs())
            })
            .map(|_| ())
            .map_err(not_recorded)
    }

    fn channel_event(&self, event: ChannelEvent) -> Result<(), NotRecorded> {
        let channel_id = hex::encode(event.channel_id);
        let mut channel = serde_json::json!({
            "channel_id": channel_id,
            "counterparty_node_id": event.counterparty_node_id.map(|n| n.to_string()),
            "capacity_sat": event.capacity_sat,
        });
        let event_type = match event.kind {
            ChannelEventKind::Pending { funding_txo } => {
                channel["funding_txo"] = funding_txo.into();
                EventType::ChannelPending
            }
            ChannelEventKind::Ready => EventType::ChannelReady,
            ChannelEventKind::Closed { reason, kind, funding_txo, last_local_balance_msat } => {
                channel["reason"] = reason.clone().into();
                channel["close_kind"] = kind.as_str().into();
                let closed = NewClosedChannel {
                    channel_id: event.channel_id,
                    counterparty_node_id: event.counterparty_node_id.map(|n| n.to_string()),
                    capacity_sat: event.capacity_sat,
                    funding_txo,
                    kind,
                    reason,
                    last_local_balance_msat,
                };
                let event_type = EventType::ChannelClosed;
                let new = NewChannelEvent { event_type, channel_id: event.channel_id, channel };
                return self
                    .store
                    .record_channel_closed(new, closed, now_secs())
                    .map(|_| ())
                    .map_err(not_recorded);
            }
        };
        let new = NewChannelEvent { event_type, channel_id: event.channel_id, channel };
        self.store.record_channel_event(new, now_secs()).map(|_| ()).map_err(not_recorded)
    }

    fn payment_path(&self, event: PathEvent) -> Result<(), NotRecorded> {
        let Some(part) = part_of(&event) else { return Ok(()) };
        self.store
            .deferring_sync(|s| s.record_part(part, now_secs()))
            .map(|_| ())
            .map_err(not_recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltd_store::{NewReceive, ReceiveState};
    use lightning::types::payment::PaymentHash;

    #[test]
    fn only_the_claim_deadline_cancels_a_held_receive_not_a_late_htlc_refused_for_its_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let ledger = Ledger::new(Arc::clone(&store), Arc::new(Registry::default()));
        let hash = [3; 32];
        let mut hold = NewReceive::new(hash);
        hold.hold = true;
        store.insert_receive(hold, 1).unwrap();
        store.receive_htlcs_arrived(&hash, 1_000, Some((250, 9_999)), 2).unwrap();
        // Anyone who knows the hash can send an HTLC that LDK refuses for its expiry: the held
        // HTLCs stay, and so does the receive.
        ledger.receive_htlcs_expired(PaymentHash(hash), 249).unwrap();
        let r = store.receive_by_hash(&hash).unwrap().unwrap();
        assert_eq!(r.state, ReceiveState::HtlcsArrived);
        // At the deadline the held HTLCs are failed back.
        ledger.receive_htlcs_expired(PaymentHash(hash), 250).unwrap();
        let r = store.receive_by_hash(&hash).unwrap().unwrap();
        assert_eq!(r.state, ReceiveState::Canceled);
        assert_eq!(r.cancel_reason, Some(boltd_store::CancelReason::HtlcsExpired));
    }

    #[test]
    fn a_give_up_without_a_driver_is_left_to_resume_only_with_time_left_and_a_plan() {
        use crate::payment::lightning::{KeysendPlan, SendPlan};
        use boltd_store::{NewOutgoing, PaymentKind, PaymentStatus};
        use lightning::ln::channelmanager::{PaymentId, RecipientOnionFields};
        use lightning::routing::router::{PaymentParameters, RouteParameters};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let ledger = Ledger::new(Arc::clone(&store), Arc::new(Registry::default()));
        let payee = bitcoin::secp256k1::PublicKey::from_slice(&[2; 33]).unwrap();
        let begin = |n: u8, attempted_at: u64| {
            let pp = PaymentParameters::for_keysend(payee, 40, true);
            let plan = SendPlan::Keysend(Box::new(KeysendPlan {
                preimage: [n; 32],
                onion: RecipientOnionFields::spontaneous_empty(),
                route_params: RouteParameters::from_payment_params_and_value(pp, 1_000),
                amount_msat: 1_000,
                retry_for: std::time::Duration::from_secs(60),
            }));
            let mut i = NewOutgoing::new(PaymentKind::Keysend, Some([n; 32]), [n; 32], 1_000);
            i.send_plan = crate::payment::resume::stored(&plan);
            store.begin_outgoing(i, attempted_at).unwrap().record().unwrap().clone()
        };
        let fail = |n: u8, reason| {
            let event = FailedEvent {
                payment_id: PaymentId([n; 32]),
                payment_hash: None,
                reason: Some(reason),
            };
            ledger.payment_failed(event).unwrap();
            store.payment_by_payment_id(&[n; 32]).unwrap().unwrap()
        };
        let now = now_secs();
        begin(1, now);
        begin(2, now - 120);
        begin(3, now);
        let resumable = fail(1, PaymentFailureReason::RetriesExhausted);
        assert_eq!(resumable.status, PaymentStatus::Pending, "left to reconciliation");
        assert!(store.send_failure(&[1; 32]).unwrap().is_some(), "noted on the send");
        let over = fail(2, PaymentFailureReason::RetriesExhausted);
        assert_eq!(over.status, PaymentStatus::Failed, "no time left");
        let rejected = fail(3, PaymentFailureReason::RecipientRejected);
        assert_eq!(rejected.status, PaymentStatus::Failed, "final whatever the window");
    }

    #[test]
    fn a_skimmed_fee_is_claimed_only_within_its_lsps_promise() {
        use bitcoin::hashes::{sha256, Hash};
        use boltd_store::NewReceiveLsp;
        use lightning::types::payment::PaymentPreimage;
        let dir = tempfile::tempdir().unwrap();
        let (p1, p2) = ([9; 32], [8; 32]);
        let h1 = sha256::Hash::hash(&p1).to_byte_array();
        let h2 = sha256::Hash::hash(&p2).to_byte_array();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let ledger = Ledger::new(Arc::clone(&store), Arc::new(Registry::default()));
        let event = |preimage: [u8; 32], skimmed: u64| ClaimableEvent {
            payment_hash: PaymentHash(sha256::Hash::hash(&preimage).to_byte_array()),
            amount_msat: 100_000_000 - skimmed,
            known_preimage: Some(PaymentPreimage(preimage)),
            keysend: false,
            payer_note: None,
            custom_records: Vec::new(),
            claim_deadline: None,
            best_height: 100,
            counterparty_skimmed_fee_msat: skimmed,
        };
        for h in [h1, h2] {
            let mut r = NewReceive::new(h);
            r.amount_msat = Some(100_000_000);
            store.insert_receive(r, 1).unwrap();
        }
        let lsp = NewReceiveLsp {
            payment_hash: h1,
            lsp_node_id: "02ab".into(),
            opening_fee_msat: 2_000_000,
            valid_until: u64::MAX / 2,
        };
        store.insert_receive_lsp(lsp, 1).unwrap();
        // One msat more than promised: failed back, nothing recorded.
        assert_eq!(ledger.payment_claimable(event(p1, 2_000_001)), ClaimDecision::Fail);
        assert_eq!(store.receive_lsp(&h1).unwrap().unwrap().skimmed_fee_msat, None);
        // A fee taken from a receive not made through an LSP: failed back.
        assert_eq!(ledger.payment_claimable(event(p2, 1)), ClaimDecision::Fail);
        // Within the promise: claimed, the fee recorded.
        let d = ledger.payment_claimable(event(p1, 2_000_000));
        assert_eq!(d, ClaimDecision::Claim(PaymentPreimage(p1)));
        assert_eq!(store.receive_lsp(&h1).unwrap().unwrap().skimmed_fee_msat, Some(2_000_000));
    }
}
