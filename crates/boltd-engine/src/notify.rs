//! Notifications: the event log as clients see it (long-poll and WebSocket), WebSocket tickets
//! and the sweep that expires unpaid receives.
//!
//! The store appends events in the transaction of the state change they report (see
//! `boltd_store`'s `events` module) and announces each commit; [`Notifications`] turns those
//! announcements into a `tokio::sync::watch` that waiters and the webhook worker follow. Nothing
//! is buffered in memory: every reader reads the log after its cursor, so a client that
//! reconnects with its last `seq` misses nothing, and a slow reader holds nothing up.
//!
//! A notification is the event as JSON (one shape for long-poll, WebSocket and native
//! webhooks), rendered by the API's dialect ([`NotificationRenderer`]) from the neutral
//! [`event_json`]: `seq`, `type`, `created_at` (RFC 3339), `payment_hash` and the subject
//! (`payment`, `receive` or `channel`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use boltd_store::{EventRecord, EventType, Store};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::error::NotifyError;
use crate::ledger::now_secs;
use crate::Engine;

/// How often a long-poll or WebSocket checks that its token still works: a revoked token's
/// streams end within this (plus one store read).
pub const TOKEN_RECHECK: Duration = Duration::from_secs(1);
/// How long a WebSocket ticket stays valid (single use).
pub const WS_TICKET_TTL: Duration = Duration::from_secs(60);
/// Most unused tickets kept at once; creating more is refused until some expire.
pub const MAX_WS_TICKETS: usize = 10_000;
/// How often receives past their expiry are marked expired (`invoice_expired`).
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// Most events one read returns.
pub const MAX_PAGE: u32 = 1000;
/// A waiter re-reads the log at least this often, even without an announcement (an event
/// written by another connection to the database is not announced).
const RECHECK: Duration = Duration::from_secs(5);

/// Where a reader starts: after a sequence number (boltd's cursor), or after a time (barkd's
/// `since`, unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Events with a greater `seq`.
    Seq(u64),
    /// Events appended after this unix time (seconds).
    Time(u64),
}

impl Since {
    /// Parses a `since` parameter: a sequence number (decimal) or an RFC 3339 date-time.
    pub fn parse(s: &str) -> Result<Since, NotifyError> {
        let s = s.trim();
        if let Ok(seq) = s.parse::<u64>() {
            return Ok(Since::Seq(seq));
        }
        let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            NotifyError::InvalidParams(format!(
                "since `{s}` is neither a sequence number nor an RFC 3339 date-time"
            ))
        })?;
        Ok(Since::Time(u64::try_from(t.timestamp()).unwrap_or(0)))
    }
}

/// What a read of the log returned.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events, oldest first (only the requested types).
    pub events: Vec<EventRecord>,
    /// Where to continue: the `seq` of the last event read (matching or not), or the starting
    /// point if there was none.
    pub cursor: u64,
}

/// Formats a unix time as RFC 3339 (UTC, seconds).
pub fn rfc3339(unix_secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(unix_secs).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Renders an event as the notification JSON clients get (long-poll, WebSocket). The API
/// installs its dialect's renderer ([`Engine::set_notification_renderer`]); the engine itself
/// only knows the neutral [`event_json`]. Webhook bodies have their own renderer, per endpoint
/// format ([`crate::webhook::WebhookRenderer`]); the API renders native ones with this same
/// function.
pub type NotificationRenderer = fn(&EventRecord) -> Value;

/// An event as neutral JSON: `seq`, `type` (boltd's event type), `created_at` (RFC 3339),
/// `payment_hash` and its subject (`payment`, `receive` or `channel`). Dialects add their
/// views of the subject to it.
pub fn event_json(event: &EventRecord) -> Value {
    let mut v = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    v["created_at"] = rfc3339(event.created_at).into();
    v
}

/// Parses a comma-separated list of event type names.
pub fn parse_event_types(names: &[String]) -> Result<Vec<EventType>, NotifyError> {
    let mut out = Vec::new();
    for n in names {
        let t = EventType::parse(n.trim()).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            NotifyError::InvalidParams(format!(
                "unknown event type `{n}`; known types: {}",
                known.join(", ")
            ))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Single-use WebSocket tickets, kept only as SHA-256 hashes, each valid for a while, with the
/// API token that asked for it (the stream ends when that token is revoked).
pub struct TicketBook {
    ttl: Duration,
    tickets: HashMap<[u8; 32], (Instant, Option<String>)>,
}

impl TicketBook {
    /// An empty book whose tickets live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, tickets: HashMap::new() }
    }

    /// Changes how long new tickets live.
    pub fn set_ttl(&mut self, ttl: Duration) {
        self.ttl = ttl;
    }

    /// A new ticket (64 hex characters) for `token_id`'s token, valid until `now + ttl`.
    pub fn create(
        &mut self,
        now: Instant,
        token_id: Option<String>,
    ) -> Result<String, NotifyError> {
        self.tickets.retain(|_, (expires, _)| *expires > now);
        if self.tickets.len() >= MAX_WS_TICKETS {
            return Err(NotifyError::TooManyTickets);
        }
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let ticket = hex::encode(secret);
        let key = sha256::Hash::hash(ticket.as_bytes()).to_byte_array();
        self.tickets.insert(key, (now + self.ttl, token_id));
        Ok(ticket)
    }

    /// Uses a ticket up: its token's id, once, if it was issued and has not expired at `now`.
    /// The lookup is by the ticket's hash, so its timing tells nothing about valid tickets.
    pub fn redeem(&mut self, ticket: &str, now: Instant) -> Result<Option<String>, NotifyError> {
        let key = sha256::Hash::hash(ticket.trim().as_bytes()).to_byte_array();
        match self.tickets.remove(&key) {
            Some((expires, token_id)) if expires > now => Ok(token_id),
            _ => Err(NotifyError::TicketRefused),
        }
    }
}

/// The engine's notification state: the announced last `seq` and the ticket book.
pub struct Notifications {
    last_seq: watch::Sender<u64>,
    tickets: Mutex<TicketBook>,
}

impl Notifications {
    /// Follows `store`'s appended events from now on.
    pub(crate) fn new(store: &Store) -> Result<Arc<Self>, NotifyError> {
        let (tx, _) = watch::channel(store.last_event_seq()?);
        let n =
            Arc::new(Self { last_seq: tx, tickets: Mutex::new(TicketBook::new(WS_TICKET_TTL)) });
        let weak = Arc::downgrade(&n);
        store.on_events(move |seq| {
            if let Some(n) = weak.upgrade() {
                n.last_seq.send_if_modified(|s| {
                    let newer = seq > *s;
                    if newer {
                        *s = seq;
                    }
                    newer
                });
            }
        });
        Ok(n)
    }

    /// A receiver that changes whenever events are appended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }
}

impl Engine {
    /// The notification state (announcements and tickets).
    pub fn notifications(&self) -> &Arc<Notifications> {
        &self.notify
    }

    /// Events after `since`, only of `types` (all if empty), at most `limit` (capped at
    /// [`MAX_PAGE`]); if there are none yet, waits up to `timeout` for some (long-poll) and
    /// returns an empty page when it elapses.
    pub async fn wait_events(
        &self,
        since: Since,
        types: &[EventType],
        limit: u32,
        timeout: Duration,
    ) -> Result<EventPage, NotifyError> {
        let deadline = crate::pay::deadline_in(timeout);
        let limit = limit.clamp(1, MAX_PAGE);
        let mut rx = self.notify.subscribe();
        rx.borrow_and_update();
        let mut cursor = match since {
            Since::Seq(seq) => seq,
            Since::Time(t) => {
                // The last seq first: whatever is appended after it is read by seq below.
                let last = self.store_op(|s| s.last_event_seq()).await?;
                let page = self.store_op(move |s| s.events_created_after(t, limit)).await?;
                match page.last() {
                    Some(e) => {
                        let cursor = e.seq;
                        let events = filter(page, types);
                        if !events.is_empty() {
                            return Ok(EventPage { events, cursor });
                        }
                        cursor
                    }
                    None => last,
                }
            }
        };
        loop {
            let page = self.store_op(move |s| s.events_after(cursor, limit)).await?;
            if let Some(last) = page.last() {
                cursor = last.seq;
                let events = filter(page, types);
                if !events.is_empty() {
                    return Ok(EventPage { events, cursor });
                }
                continue;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(EventPage { events: Vec::new(), cursor });
            }
            let wake = deadline.min(now + RECHECK);
            // A change or a closed channel (the engine stopping) ends the wait alike.
            let _ = tokio::time::timeout_at(wake, rx.changed()).await;
            rx.borrow_and_update();
        }
    }

    /// The highest sequence number in the log (0 when empty): where "only new events" starts.
    pub async fn last_event_seq(&self) -> Result<u64, NotifyError> {
        self.store_op(|s| s.last_event_seq()).await
    }

    /// Turns true when the engine is stopping (long-lived streams end then).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop_background.subscribe()
    }

    /// A single-use WebSocket ticket for `token_id`'s token (`None` without authentication),
    /// valid for [`WS_TICKET_TTL`] (see [`Engine::set_ws_ticket_ttl`]).
    pub fn create_ws_ticket(&self, token_id: Option<String>) -> Result<String, NotifyError> {
        let mut book = self.notify.tickets.lock().unwrap_or_else(|p| p.into_inner());
        book.create(Instant::now(), token_id)
    }

    /// Uses up a WebSocket ticket, answering the id of the token it was made for:
    /// `Err(TicketRefused)` if it is unknown, used or expired.
    pub fn redeem_ws_ticket(&self, ticket: &str) -> Result<Option<String>, NotifyError> {
        self.notify.tickets.lock().unwrap_or_else(|p| p.into_inner()).redeem(ticket, Instant::now())
    }

    /// Resolves once `token_id`'s token no longer works (revoked, expired, gone, or its state
    /// unreadable: fail closed), checked every [`TOKEN_RECHECK`]; never without a token (no
    /// authentication). Long-lived reads (long-polls, WebSockets) end on it.
    pub async fn token_ended(&self, token_id: Option<String>) {
        let Some(id) = token_id else { return std::future::pending().await };
        loop {
            tokio::time::sleep(TOKEN_RECHECK).await;
            let id = id.clone();
            let found = self.store_op(move |s| s.token_by_id(&id)).await;
            match found {
                Ok(Some(t)) if t.is_active(crate::ledger::now_secs()) => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("checking a streaming token failed: {e}; ending the stream");
                    return;
                }
            }
        }
    }

    /// Changes how long new WebSocket tickets live (default [`WS_TICKET_TTL`]).
    pub fn set_ws_ticket_ttl(&self, ttl: Duration) {
        self.notify.tickets.lock().unwrap_or_else(|p| p.into_inner()).set_ttl(ttl);
    }

    /// The `seq` of the `payment_received` event of `payment_hash`, once it was received: a
    /// paid invoice's place in payment order (Core Lightning's `pay_index`).
    pub async fn received_seq(&self, payment_hash: [u8; 32]) -> Result<Option<u64>, NotifyError> {
        self.store_op(move |s| s.first_event_seq(payment_hash, EventType::PaymentReceived)).await
    }

    /// Runs a store operation off the async workers, with the store's errors as
    /// [`NotifyError`]s.
    pub(crate) async fn store_op<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, boltd_store::StoreError> + Send + 'static,
    ) -> Result<T, NotifyError> {
        let store = Arc::clone(self.store());
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| NotifyError::Other(format!("storage task failed: {e}")))?
            .map_err(NotifyError::from)
    }
}

fn filter(events: Vec<EventRecord>, types: &[EventType]) -> Vec<EventRecord> {
    if types.is_empty() {
        return events;
    }
    events.into_iter().filter(|e| types.contains(&e.event_type)).collect()
}

/// Marks receives past their expiry as expired (appending `invoice_expired`), every
/// [`EXPIRY_SWEEP_INTERVAL`], until `stop` turns true.
pub(crate) async fn expiry_sweep(store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    loop {
        let s = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || s.expire_receives(now_secs())).await {
            Ok(Ok(expired)) if !expired.is_empty() => {
                tracing::info!(count = expired.len(), "receives expired unpaid");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("expiring receives failed: {e}"),
            Err(e) => tracing::error!("expiring receives failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_SWEEP_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_sequence_number_or_a_date_time() {
        assert_eq!(Since::parse("0").unwrap(), Since::Seq(0));
        assert_eq!(Since::parse(" 42 ").unwrap(), Since::Seq(42));
        assert_eq!(Since::parse("2024-01-02T03:04:05Z").unwrap(), Since::Time(1_704_164_645));
        assert_eq!(Since::parse("2024-01-02T04:04:05+01:00").unwrap(), Since::Time(1_704_164_645));
        let err = Since::parse("yesterday").unwrap_err();
        assert!(err.to_string().contains("yesterday"), "{err}");
        assert!(Since::parse("-1").is_err());
        assert_eq!(rfc3339(1_704_164_645), "2024-01-02T03:04:05Z");
    }

    #[test]
    fn tickets_are_single_use_and_expire() {
        let t0 = Instant::now();
        let mut book = TicketBook::new(Duration::from_secs(60));
        let a = book.create(t0, Some("aaaaaaaaaaaaaaaa".into())).unwrap();
        let b = book.create(t0, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        // Used once, for its token, then refused.
        let token = book.redeem(&a, t0 + Duration::from_secs(59)).unwrap();
        assert_eq!(token.as_deref(), Some("aaaaaaaaaaaaaaaa"));
        assert!(matches!(book.redeem(&a, t0), Err(NotifyError::TicketRefused)));
        // Expired: refused (and gone).
        assert!(matches!(
            book.redeem(&b, t0 + Duration::from_secs(60)),
            Err(NotifyError::TicketRefused)
        ));
        assert!(matches!(book.redeem("nope", t0), Err(NotifyError::TicketRefused)));
        assert!(matches!(book.redeem("", t0), Err(NotifyError::TicketRefused)));
        // The book never holds the tickets themselves.
        let c = book.create(t0, None).unwrap();
        assert!(!book.tickets.keys().any(|k| hex::encode(k) == c));
    }

    #[test]
    fn the_ticket_book_is_bounded_and_forgets_expired_tickets() {
        let t0 = Instant::now();
        let mut book = TicketBook::new(Duration::from_secs(1));
        for _ in 0..MAX_WS_TICKETS {
            book.create(t0, None).unwrap();
        }
        assert!(matches!(book.create(t0, None), Err(NotifyError::TooManyTickets)));
        // Once they expired, new ones can be made.
        book.create(t0 + Duration::from_secs(2), None).unwrap();
        assert_eq!(book.tickets.len(), 1);
    }

    #[test]
    fn event_types_parse_by_name() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_event_types(&names(&["payment_sent", " payment_received", "payment_sent"]))
                .unwrap(),
            [EventType::PaymentSent, EventType::PaymentReceived]
        );
        let err = parse_event_types(&names(&["payment.sent"])).unwrap_err();
        assert!(
            err.to_string().contains("payment.sent") && err.to_string().contains("invoice_expired")
        );
    }

    #[test]
    fn events_as_neutral_json() {
        let mut data = serde_json::Map::new();
        data.insert("payment".into(), json!({ "id": 7, "direction": "outgoing" }));
        let e = EventRecord {
            seq: 3,
            event_type: EventType::PaymentSent,
            created_at: 101,
            payment_hash: Some([1; 32]),
            data,
        };
        let n = event_json(&e);
        assert_eq!(n["seq"], 3);
        assert_eq!(n["type"], "payment_sent");
        assert_eq!(n["created_at"], "1970-01-01T00:01:41Z");
        assert_eq!(n["payment_hash"], "01".repeat(32));
        assert_eq!(n["payment"]["id"], 7);
        assert!(n.get("movement").is_none(), "dialect views are the API's: {n}");
    }
}
