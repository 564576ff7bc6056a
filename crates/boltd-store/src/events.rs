//! The event log: one durable, ordered row per thing a client may want to hear about
//! (`events`), read with a cursor (the sequence number) so a client that reconnects misses
//! nothing.
//!
//! # Rules
//!
//! * **Appended with the state change.** A payment or receive event is appended inside the
//!   transaction that makes the change it reports ([`Store::complete_outgoing`],
//!   [`Store::fail_outgoing`], [`Store::record_incoming`], [`Store::receive_cancel`],
//!   [`Store::expire_receives`]), and only when the state really changed, so an LDK event replay
//!   (which finds the row already final) appends nothing. Channel events are not store writes:
//!   [`Store::record_channel_event`] is idempotent by a key (the event type and the channel
//!   id), so replays append nothing either.
//! * **Ordered, gap-free for readers.** `seq` is assigned under SQLite's write lock and the
//!   appending transaction commits before another can start, so an event with a higher `seq` is
//!   never visible before one with a lower `seq`: reading "everything after my cursor" is
//!   complete.
//! * **Fanned out in the same transaction.** Appending an event creates one pending delivery per
//!   webhook endpoint whose filter matches (see the `webhooks` module), so a delivery is as
//!   durable as its event.
//! * **No secrets.** A receive's preimage is left out of its events (a canceled or expired
//!   receive's preimage has no business leaving the node); payment records carry the preimage
//!   only once the payment is complete, when it is the proof of payment.
//!
//! After the transaction commits, the listeners registered with [`Store::on_events`] are called
//! with the highest new `seq` (the engine wakes long-polls, WebSockets and the webhook worker).

use std::sync::Mutex;

use crate::db::{params, Conn as Connection, Conn as Transaction, OptionalExtension, Row};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{StoreError, TxError};
use crate::payments::{hex_opt, PaymentRecord};
use crate::receives::ReceiveRecord;
use crate::Store;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// An outgoing payment completed (we hold the preimage).
    PaymentSent,
    /// An outgoing payment failed (no HTLC of it is left in flight).
    PaymentFailed,
    /// A payment was received (claimed).
    PaymentReceived,
    /// A receive (invoice) was canceled before it was paid.
    InvoiceCanceled,
    /// A receive (invoice) expired unpaid.
    InvoiceExpired,
    /// A channel's funding transaction was broadcast; it awaits confirmations.
    ChannelPending,
    /// A channel is ready to use.
    ChannelReady,
    /// A channel was closed (cooperatively or by force).
    ChannelClosed,
}
crate::payments::text_enum!(EventType {
    PaymentSent => "payment_sent",
    PaymentFailed => "payment_failed",
    PaymentReceived => "payment_received",
    InvoiceCanceled => "invoice_canceled",
    InvoiceExpired => "invoice_expired",
    ChannelPending => "channel_pending",
    ChannelReady => "channel_ready",
    ChannelClosed => "channel_closed",
});

impl EventType {
    /// Every event type, in documentation order.
    pub const ALL: [EventType; 8] = [
        EventType::PaymentSent,
        EventType::PaymentFailed,
        EventType::PaymentReceived,
        EventType::InvoiceCanceled,
        EventType::InvoiceExpired,
        EventType::ChannelPending,
        EventType::ChannelReady,
        EventType::ChannelClosed,
    ];

    /// Whether this is one of the channel events ([`Store::record_channel_event`]).
    pub fn is_channel_event(self) -> bool {
        matches!(
            self,
            EventType::ChannelPending | EventType::ChannelReady | EventType::ChannelClosed
        )
    }
}

/// One event of the log. Serializes with the payment hash as hex and `data`'s keys (`payment`,
/// `receive` or `channel`) next to `seq`, `type` and `created_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The sequence number: strictly increasing, never reused; a client's cursor.
    pub seq: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it was appended (unix seconds).
    pub created_at: u64,
    /// The payment hash, for payment and receive events.
    #[serde(serialize_with = "hex_opt")]
    pub payment_hash: Option<[u8; 32]>,
    /// The subject at the time of the event: `{"payment": PaymentRecord}` (payment events),
    /// `{"receive": ReceiveRecord}` (invoice events, without the preimage) or
    /// `{"channel": {...}}` (channel events).
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

/// A channel event for [`Store::record_channel_event`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannelEvent {
    /// One of the channel event types.
    pub event_type: EventType,
    /// The channel id: with the type, what makes the event unique (a replay appends nothing).
    pub channel_id: [u8; 32],
    /// What to say about the channel (a JSON object: counterparty, capacity, reason, ...).
    pub channel: Value,
}

type Listener = Box<dyn Fn(u64) + Send + Sync>;

/// The store's announcements of appended events: the highest `seq` appended by the current
/// transaction (announced once it commits) and the listeners.
#[derive(Default)]
pub(crate) struct EventSignal {
    pending: Mutex<Option<u64>>,
    listeners: Mutex<Vec<Listener>>,
}

impl EventSignal {
    pub(crate) fn clear_pending(&self) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn take_pending(&self) -> Option<u64> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn appended(&self, seq: u64) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *p = Some(p.map_or(seq, |s| s.max(seq)));
    }

    pub(crate) fn announce(&self, seq: u64) {
        for l in self.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            l(seq);
        }
    }
}

const EVENT_COLUMNS: &str = "seq, type, created_at, payment_hash, data";

fn event_from_row(row: &Row<'_>) -> crate::db::Result<EventRecord> {
    let text: String = row.get(4)?;
    let data = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m,
        _ => return Err(crate::db::Error::conversion(4, "event data is not a JSON object")),
    };
    Ok(EventRecord {
        seq: row.get(0)?,
        event_type: row.get(1)?,
        created_at: row.get(2)?,
        payment_hash: row.get(3)?,
        data,
    })
}

pub(crate) fn event_row(conn: &Connection, seq: u64) -> crate::db::Result<EventRecord> {
    conn.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"))?
        .query_row([seq], event_from_row)
}

/// `{"payment": record}`.
pub(crate) fn payment_data(rec: &PaymentRecord) -> Result<Value, TxError> {
    let v = serde_json::to_value(rec)
        .map_err(|e| StoreError::invalid(format!("cannot serialize a payment event: {e}")))?;
    Ok(serde_json::json!({ "payment": v }))
}

/// `{"receive": record}`, without the preimage.
pub(crate) fn receive_data(rec: &ReceiveRecord) -> Result<Value, TxError> {
    let mut v = serde_json::to_value(rec)
        .map_err(|e| StoreError::invalid(format!("cannot serialize a receive event: {e}")))?;
    if let Some(m) = v.as_object_mut() {
        m.remove("preimage");
    }
    Ok(serde_json::json!({ "receive": v }))
}

impl Store {
    /// Appends an event inside the caller's transaction and creates its webhook deliveries;
    /// returns its `seq`, or `None` if `dedup_key` was used before (nothing appended).
    pub(crate) fn append_event(
        &self,
        tx: &Transaction,
        event_type: EventType,
        payment_hash: Option<[u8; 32]>,
        data: &Value,
        dedup_key: Option<&str>,
        now: u64,
    ) -> Result<Option<u64>, TxError> {
        if !data.is_object() {
            return Err(StoreError::invalid("event data must be a JSON object").into());
        }
        let seq = tx
            .prepare_cached(
                "INSERT INTO events (type, created_at, payment_hash, dedup_key, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (dedup_key) DO NOTHING RETURNING seq",
            )?
            .query_row(params![event_type, now, payment_hash, dedup_key, data.to_string()], |r| {
                r.get::<_, u64>(0)
            })
            .optional()?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        let now_ms = now.saturating_mul(1000).min(i64::MAX as u64);
        // Every endpoint that takes this type (an empty list: every type).
        let endpoints = tx
            .prepare_cached("SELECT id, event_types FROM webhooks")?
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .collect::<crate::db::Result<Vec<_>>>()?;
        for (webhook_id, types) in endpoints {
            let types: Vec<String> =
                serde_json::from_str(&types).map_err(|e| crate::db::Error::conversion(1, e))?;
            if !types.is_empty() && !types.iter().any(|t| t == event_type.as_str()) {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO webhook_deliveries (webhook_id, event_seq, state, attempts, \
                 next_attempt_at_ms, created_at_ms) VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
            )?
            .execute(params![webhook_id, seq, now_ms])?;
        }
        self.events.appended(seq);
        Ok(Some(seq))
    }

    /// Registers `listener`, called with the highest new `seq` after every transaction that
    /// appended events has committed (on the writing thread: keep it short and non-blocking).
    pub fn on_events(&self, listener: impl Fn(u64) + Send + Sync + 'static) {
        self.events.listeners.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(listener));
    }

    /// Up to `limit` events with `seq > after_seq`, oldest first.
    pub fn events_after(&self, after_seq: u64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows =
                stmt.query_map(params![after_seq.min(i64::MAX as u64), limit], event_from_row)?;
            rows.collect()
        })
    }

    /// Up to `limit` events appended after unix time `created_after` (exclusive), oldest first.
    pub fn events_created_after(
        &self,
        created_after: u64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE created_at > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows =
                stmt.query_map(params![created_after.min(i64::MAX as u64), limit], event_from_row)?;
            rows.collect()
        })
    }

    /// The sequence number of the first event of `event_type` about `payment_hash` (Core
    /// Lightning's `pay_index` of a paid invoice is its `payment_received` event's).
    pub fn first_event_seq(
        &self,
        payment_hash: [u8; 32],
        event_type: EventType,
    ) -> Result<Option<u64>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT min(seq) FROM events WHERE payment_hash = ?1 AND type = ?2")?
                .query_row(params![payment_hash.as_slice(), event_type.as_str()], |r| r.get(0))
        })
    }

    /// The event with this sequence number.
    pub fn event(&self, seq: u64) -> Result<Option<EventRecord>, StoreError> {
        self.read(|c| event_row(c, seq).optional())
    }

    /// The highest sequence number so far (0 when the log is empty).
    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))
        })
    }

    /// Appends a channel event unless this channel already has an event of this type (LDK
    /// replays events after a crash): returns the new event, or `None` for a replay. Fails with
    /// [`StoreError::Invalid`] for a type that is not a channel event or data that is not a
    /// JSON object.
    pub fn record_channel_event(
        &self,
        event: NewChannelEvent,
        now: u64,
    ) -> Result<Option<EventRecord>, StoreError> {
        self.transaction(|tx| self.append_channel_event(tx, &event, now))
    }

    /// Appends a channel event in `tx` (see [`Store::record_channel_event`]).
    pub(crate) fn append_channel_event(
        &self,
        tx: &crate::db::Conn,
        event: &NewChannelEvent,
        now: u64,
    ) -> Result<Option<EventRecord>, TxError> {
        if !event.event_type.is_channel_event() {
            return Err(StoreError::invalid(format!(
                "{} is not a channel event",
                event.event_type
            ))
            .into());
        }
        if !event.channel.is_object() {
            return Err(StoreError::invalid("the channel must be a JSON object").into());
        }
        let key = format!("{}:{}", event.event_type, crate::payments::to_hex(&event.channel_id));
        let data = serde_json::json!({ "channel": event.channel });
        match self.append_event(tx, event.event_type, None, &data, Some(&key), now)? {
            Some(seq) => Ok(Some(event_row(tx, seq)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::payments::payment_hash_of;
    use crate::{
        BeginOutgoing, CancelOutcome, FailureCode, NewIncoming, NewOutgoing, NewReceive,
        PaymentKind,
    };

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn secret(n: u8) -> ([u8; 32], [u8; 32]) {
        ([n; 32], payment_hash_of(&[n; 32]))
    }

    fn types(events: &[EventRecord]) -> Vec<EventType> {
        events.iter().map(|e| e.event_type).collect()
    }

    fn all(store: &Store) -> Vec<EventRecord> {
        store.events_after(0, 1000).unwrap()
    }

    #[test]
    fn payment_events_are_appended_with_their_state_change_and_never_twice() {
        let (_d, store) = store();
        let announced = Arc::new(AtomicU64::new(0));
        let a = Arc::clone(&announced);
        store.on_events(move |seq| a.store(seq, Ordering::SeqCst));

        // Starting a payment is no event.
        let (p1, h1) = secret(1);
        store
            .begin_outgoing(NewOutgoing::new(PaymentKind::Bolt11, Some(h1), [1; 32], 1000), 100)
            .unwrap();
        assert!(all(&store).is_empty());
        assert_eq!(store.last_event_seq().unwrap(), 0);

        // Complete: one payment_sent, with the record as it is now.
        let done = store
            .complete_outgoing(&[1; 32], &p1, Some(3), Some(1003), Some(1), 110)
            .unwrap()
            .unwrap();
        let events = all(&store);
        assert_eq!(types(&events), [EventType::PaymentSent]);
        assert_eq!(events[0].payment_hash, Some(h1));
        assert_eq!(events[0].created_at, 110);
        assert_eq!(events[0].data["payment"], serde_json::to_value(&done).unwrap());
        assert_eq!(announced.load(Ordering::SeqCst), events[0].seq);
        // A replayed PaymentSent (and a late failure) change nothing and append nothing.
        store.complete_outgoing(&[1; 32], &p1, Some(3), Some(1003), Some(1), 120).unwrap();
        store.fail_outgoing(&[1; 32], FailureCode::Other, None, true, 121).unwrap();
        assert_eq!(all(&store).len(), 1);

        // Fail, replay, retry, complete: payment_failed once, then payment_sent.
        let (p2, h2) = secret(2);
        store
            .begin_outgoing(NewOutgoing::new(PaymentKind::Bolt11, Some(h2), [2; 32], 500), 200)
            .unwrap();
        store
            .fail_outgoing(&[2; 32], FailureCode::RouteNotFound, Some("no route"), true, 201)
            .unwrap();
        store
            .fail_outgoing(&[2; 32], FailureCode::RouteNotFound, Some("no route"), true, 202)
            .unwrap();
        let retry = store
            .begin_outgoing(NewOutgoing::new(PaymentKind::Bolt11, Some(h2), [3; 32], 500), 203)
            .unwrap();
        assert!(matches!(retry, BeginOutgoing::Retrying(_)));
        store.complete_outgoing(&[3; 32], &p2, None, None, None, 204).unwrap();
        let events = all(&store);
        assert_eq!(
            types(&events),
            [EventType::PaymentSent, EventType::PaymentFailed, EventType::PaymentSent]
        );
        assert_eq!(events[1].data["payment"]["failure_code"], 205);
        assert_eq!(events[1].data["payment"]["status"], "failed");

        // Incoming: payment_received once, even when LDK replays PaymentClaimed.
        let (p4, h4) = secret(4);
        let mut r = NewReceive::new(h4);
        r.preimage = Some(p4);
        r.amount_msat = Some(7000);
        store.insert_receive(r, 300).unwrap();
        let mut inc = NewIncoming::new(PaymentKind::Bolt11, h4, 7000);
        inc.preimage = Some(p4);
        store.record_incoming(inc.clone(), 310).unwrap();
        store.record_incoming(inc, 311).unwrap();
        store.receive_settled(&h4, 7000, 312).unwrap();
        let events = all(&store);
        assert_eq!(events.len(), 4);
        assert_eq!(events[3].event_type, EventType::PaymentReceived);
        assert_eq!(events[3].data["payment"]["direction"], "incoming");
        assert_eq!(events[3].data["payment"]["amount_msat"], 7000);

        // Strictly increasing sequence numbers, and the listener saw the last one.
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(announced.load(Ordering::SeqCst), *seqs.last().unwrap());
        assert_eq!(store.last_event_seq().unwrap(), *seqs.last().unwrap());
    }

    #[test]
    fn receive_events_leave_the_preimage_out() {
        let (_d, store) = store();
        let (p1, h1) = secret(1);
        let mut r = NewReceive::new(h1);
        r.preimage = Some(p1);
        r.expires_at = Some(150);
        store.insert_receive(r, 100).unwrap();
        let (_, h2) = secret(2);
        let mut hold = NewReceive::new(h2);
        hold.hold = true;
        hold.expires_at = Some(10_000);
        store.insert_receive(hold, 100).unwrap();

        assert!(matches!(store.receive_cancel(&h2, 120).unwrap(), CancelOutcome::Canceled(_)));
        assert!(matches!(store.receive_cancel(&h2, 121).unwrap(), CancelOutcome::Canceled(_)));
        assert_eq!(store.expire_receives(200).unwrap().len(), 1);
        assert!(store.expire_receives(300).unwrap().is_empty());

        let events = all(&store);
        assert_eq!(types(&events), [EventType::InvoiceCanceled, EventType::InvoiceExpired]);
        assert_eq!(events[0].payment_hash, Some(h2));
        assert_eq!(events[0].data["receive"]["state"], "canceled");
        assert_eq!(events[1].payment_hash, Some(h1));
        assert_eq!(events[1].data["receive"]["state"], "expired");
        for e in &events {
            assert!(e.data["receive"].get("preimage").is_none(), "{:?}", e.data);
        }
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains(&crate::payments::to_hex(&p1)), "{text}");
    }

    #[test]
    fn channel_events_are_idempotent_by_type_and_channel() {
        let (_d, store) = store();
        let ev = |t, id: u8| NewChannelEvent {
            event_type: t,
            channel_id: [id; 32],
            channel: serde_json::json!({ "channel_id": crate::payments::to_hex(&[id; 32]) }),
        };
        let first =
            store.record_channel_event(ev(EventType::ChannelPending, 1), 10).unwrap().unwrap();
        assert_eq!(first.data["channel"]["channel_id"], "01".repeat(32));
        assert_eq!(store.record_channel_event(ev(EventType::ChannelPending, 1), 11).unwrap(), None);
        assert!(store.record_channel_event(ev(EventType::ChannelReady, 1), 12).unwrap().is_some());
        assert!(store
            .record_channel_event(ev(EventType::ChannelPending, 2), 13)
            .unwrap()
            .is_some());
        assert_eq!(store.record_channel_event(ev(EventType::ChannelReady, 1), 14).unwrap(), None);
        assert_eq!(
            types(&all(&store)),
            [EventType::ChannelPending, EventType::ChannelReady, EventType::ChannelPending]
        );
        let err = store.record_channel_event(ev(EventType::PaymentSent, 3), 15).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn cursor_reads_page_through_everything_once() {
        let (_d, store) = store();
        for i in 0..25u8 {
            let t = if i % 2 == 0 { EventType::ChannelPending } else { EventType::ChannelReady };
            store
                .record_channel_event(
                    NewChannelEvent {
                        event_type: t,
                        channel_id: [i; 32],
                        channel: serde_json::json!({}),
                    },
                    1000 + u64::from(i / 5),
                )
                .unwrap();
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let page = store.events_after(cursor, 7).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 7);
            cursor = page.last().unwrap().seq;
            seen.extend(page.into_iter().map(|e| e.seq));
        }
        assert_eq!(seen.len(), 25);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert!(store.events_after(cursor, 7).unwrap().is_empty());
        assert!(store.events_after(u64::MAX, 7).unwrap().is_empty());
        // By time: strictly after the given second.
        let late = store.events_created_after(1002, 100).unwrap();
        assert_eq!(late.len(), 10);
        assert!(late.iter().all(|e| e.created_at > 1002));
        assert_eq!(store.event(seen[3]).unwrap().unwrap().seq, seen[3]);
        assert_eq!(store.event(9999).unwrap(), None);
    }

    #[test]
    fn a_reader_following_its_cursor_misses_nothing_while_writers_race() {
        let dir = tempfile::tempdir().unwrap();
        const WRITERS: u8 = 4;
        const EACH: u8 = 25;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = Store::open(dir.path()).unwrap();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let ev = NewChannelEvent {
                            event_type: EventType::ChannelReady,
                            channel_id: [w * EACH + i; 32],
                            channel: serde_json::json!({}),
                        };
                        store.record_channel_event(ev, 1).unwrap().unwrap();
                    }
                })
            })
            .collect();
        let reader = Store::open(dir.path()).unwrap();
        let mut cursor = 0;
        let mut seen = Vec::new();
        let total = usize::from(WRITERS) * usize::from(EACH);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while seen.len() < total {
            assert!(std::time::Instant::now() < deadline, "read {} of {total}", seen.len());
            for e in reader.events_after(cursor, 7).unwrap() {
                cursor = e.seq;
                seen.push(e.seq);
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "read in order, no duplicates");
        assert_eq!(seen, all(&reader).iter().map(|e| e.seq).collect::<Vec<_>>(), "none skipped");
    }

    #[test]
    fn events_survive_reopen_and_sequence_numbers_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let ev = |id: u8| NewChannelEvent {
            event_type: EventType::ChannelClosed,
            channel_id: [id; 32],
            channel: serde_json::json!({}),
        };
        let last = {
            let store = Store::open(dir.path()).unwrap();
            store.record_channel_event(ev(1), 1).unwrap();
            let e = store.record_channel_event(ev(2), 2).unwrap().unwrap();
            // Even if the newest event were deleted, its number is not handed out again.
            store.read(|c| c.execute("DELETE FROM events WHERE seq = ?1", [e.seq])).unwrap();
            e.seq
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&store).len(), 1);
        let next = store.record_channel_event(ev(3), 3).unwrap().unwrap();
        assert!(next.seq > last);
    }

    #[test]
    fn a_failed_transaction_appends_and_announces_nothing() {
        let (_d, store) = store();
        let announced = Arc::new(AtomicU64::new(0));
        let a = Arc::clone(&announced);
        store.on_events(move |seq| a.store(seq, Ordering::SeqCst));
        // The event is appended, then the transaction fails: it is rolled back with it.
        let err = store
            .transaction(|tx| {
                let seq = store.append_event(
                    tx,
                    EventType::ChannelReady,
                    None,
                    &serde_json::json!({}),
                    None,
                    1,
                )?;
                assert!(seq.is_some());
                Err::<(), _>(StoreError::invalid("boom").into())
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }));
        assert!(all(&store).is_empty());
        assert_eq!(announced.load(Ordering::SeqCst), 0);
    }
}
