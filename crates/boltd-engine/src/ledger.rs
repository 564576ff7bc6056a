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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use boltd_node::events::{
    ChannelEvent, ChannelEventKind, ClaimDecision, ClaimableEvent, ClaimedEvent, FailedEvent,
    NotRecorded, PathEvent, PaymentEvents, SentEvent,
};
use boltd_node::node::scid_string;
use boltd_store::{EventType, FailureCode, NewChannelEvent, NewIncoming, PaymentKind, Store};
use lightning::events::{PathFailure, PaymentFailureReason};
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::gossip::NetworkUpdate;

use crate::error::RoutingFailure;

/// Unix time in seconds.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What the ledger saw of one outgoing payment's paths (kept in memory: Core Lightning's
/// failure details and part counts for the response).
#[derive(Debug, Default, Clone)]
pub struct PathStats {
    /// Paths that reached the destination.
    pub succeeded: u32,
    /// Failed attempts, in order.
    pub failures: Vec<RoutingFailure>,
    /// Whether the destination itself failed a path.
    pub destination_failed: bool,
}

/// Records payments as LDK reports them.
pub struct Ledger {
    store: Arc<Store>,
    paths: Mutex<HashMap<PaymentId, PathStats>>,
}

impl Ledger {
    /// A ledger over the node's store.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, paths: Mutex::new(HashMap::new()) }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// What was seen of a payment's paths so far.
    pub fn path_stats(&self, id: &PaymentId) -> PathStats {
        self.paths.lock().unwrap().get(id).cloned().unwrap_or_default()
    }

    /// Forgets a payment's path details (after its result was returned).
    pub fn forget_paths(&self, id: &PaymentId) {
        self.paths.lock().unwrap().remove(id);
    }
}

fn failure_code(reason: Option<PaymentFailureReason>) -> (FailureCode, &'static str, bool) {
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

fn routing_failure(
    event: &PathEvent,
    failure: &boltd_node::events::PathFailureInfo,
) -> Option<RoutingFailure> {
    let hops = &event.path.hops;
    let scid = failure.short_channel_id;
    let index = scid.and_then(|s| hops.iter().position(|h| h.short_channel_id == s));
    let (erring_index, erring_node, erring_channel) = match (index, &failure.failure) {
        (_, PathFailure::InitialSend { .. }) => (0, None, scid),
        // The node before the failing channel reported it.
        (Some(i), _) => (i as u32, if i == 0 { None } else { Some(hops[i - 1].pubkey) }, scid),
        (None, _) => {
            // No channel: the destination failed it.
            let last = hops.last().map(|h| h.pubkey);
            (hops.len() as u32, last, None)
        }
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
    Some(RoutingFailure {
        erring_index,
        erring_node: erring_node.map(|n| n.to_string()).unwrap_or_default(),
        erring_channel: erring_channel.map(scid_string).unwrap_or_else(|| "0x0x0".into()),
        failcode,
    })
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

impl PaymentEvents for Ledger {
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
        if let Some(r) = &receive {
            if r.state.is_final() && r.state != boltd_store::ReceiveState::Settled {
                return ClaimDecision::Fail;
            }
            let arrived = self
                .store
                .deferring_sync(|s| s.receive_htlcs_arrived(&hash, event.amount_msat, now));
            if let Err(e) = arrived {
                tracing::error!("recording arrived HTLCs failed: {e}");
            }
            if r.hold && r.preimage.is_none() {
                return ClaimDecision::Hold;
            }
        }
        let preimage = event.known_preimage.or_else(|| {
            receive
                .as_ref()
                .and_then(|r| r.preimage)
                .map(lightning::types::payment::PaymentPreimage)
        });
        match preimage {
            Some(p) => {
                // Persist before revealing: the record says the preimage is out before it is.
                if receive.is_some() {
                    let revealed = self
                        .store
                        .deferring_sync(|s| s.receive_preimage_revealed(&hash, &p.0, now));
                    if let Err(e) = revealed {
                        tracing::error!("recording the revealed preimage failed: {e}");
                        return ClaimDecision::Hold;
                    }
                }
                ClaimDecision::Claim(p)
            }
            None => ClaimDecision::Fail,
        }
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
        let stats = self.path_stats(&id);
        let amount_sent = event.amount_msat.map(|a| a + event.fee_msat.unwrap_or(0));
        let parts = Some(stats.succeeded.max(1));
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
            .map(|_| ())
            .map_err(not_recorded)
    }

    fn payment_failed(&self, event: FailedEvent) -> Result<(), NotRecorded> {
        let (code, reason, retryable) = failure_code(event.reason);
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
            ChannelEventKind::Closed { reason } => {
                channel["reason"] = reason.into();
                EventType::ChannelClosed
            }
        };
        let new = NewChannelEvent { event_type, channel_id: event.channel_id, channel };
        self.store.record_channel_event(new, now_secs()).map(|_| ()).map_err(not_recorded)
    }

    fn payment_path(&self, event: PathEvent) {
        let Some(id) = event.payment_id else { return };
        let mut paths = self.paths.lock().unwrap();
        let stats = paths.entry(id).or_default();
        match &event.failure {
            None => stats.succeeded += 1,
            Some(f) => {
                if f.permanent {
                    stats.destination_failed = true;
                }
                if let Some(rf) = routing_failure(&event, f) {
                    stats.failures.push(rf);
                }
            }
        }
    }
}
