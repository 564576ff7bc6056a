//! Webhook endpoints and their deliveries.
//!
//! * An endpoint (`webhooks`) has a URL, a format (boltd's own or Alby's), the event types it
//!   wants (none listed: all) and a signing secret. The secret is needed to sign, so it is
//!   stored as is; [`WebhookRecord`] never serializes it and its `Debug` hides it.
//! * A delivery (`webhook_deliveries`) is one event for one endpoint, created in the
//!   transaction that appends the event (see the `events` module). It is `pending` with a next
//!   attempt time until it is `delivered` or the sender gives up (`failed`); both are final.
//! * Every attempt is kept (`webhook_attempts`): when, how long, the HTTP status or the error.
//!
//! The retry policy (backoff, when to give up) is the caller's: [`Store::record_attempt`] takes
//! the outcome and what comes next. Times here are unix **milliseconds** (`_ms`), because
//! retries start at one second.

use crate::db::{params, Conn as Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{StoreError, TxError};
use crate::events::{event_row, EventRecord, EventType};
use crate::Store;

/// The shape and signature of an endpoint's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// boltd's notification JSON, signed with `X-Boltd-Signature`.
    Native,
    /// Alby's invoice objects, signed Svix-style (`svix-id`, `svix-timestamp`,
    /// `svix-signature`).
    Alby,
}
crate::payments::text_enum!(WebhookFormat { Native => "native", Alby => "alby" });

/// A webhook endpoint to create ([`Store::create_webhook`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// Where deliveries are POSTed.
    pub url: String,
    /// The owner's description.
    pub description: Option<String>,
    /// The delivery format.
    pub format: WebhookFormat,
    /// The event types delivered; empty: all.
    pub event_types: Vec<EventType>,
    /// The filter as the client gave it, for dialects whose names differ from ours (Alby's
    /// `filter_types`).
    pub filter_types: Option<Vec<String>>,
    /// The signing secret.
    pub secret: String,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("event_types", &self.event_types)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A webhook endpoint. Serializes without its secret.
#[derive(Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookRecord {
    /// The row id.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The owner's description.
    pub description: Option<String>,
    /// The delivery format.
    pub format: WebhookFormat,
    /// The event types delivered; empty: all.
    pub event_types: Vec<EventType>,
    /// The filter as the client gave it (Alby endpoints).
    pub filter_types: Option<Vec<String>>,
    /// The signing secret. Never serialized.
    #[serde(skip)]
    pub secret: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("event_types", &self.event_types)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands. `Delivered` and `Failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; the next attempt is due at `next_attempt_at_ms`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up.
    Failed,
}
crate::payments::text_enum!(DeliveryState {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started (unix ms).
    pub at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// The HTTP status, if the endpoint answered.
    pub status: Option<u16>,
    /// What went wrong (a non-2xx answer, a timeout, a refused connection, ...).
    pub error: Option<String>,
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// The row id.
    pub id: i64,
    /// The endpoint.
    pub webhook_id: i64,
    /// The event's sequence number.
    pub event_seq: u64,
    /// The event's type.
    pub event_type: EventType,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only; unix ms).
    pub next_attempt_at_ms: Option<u64>,
    /// When the last attempt started.
    pub last_attempt_at_ms: Option<u64>,
    /// The last attempt's HTTP status.
    pub last_status: Option<u16>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was created (with its event).
    pub created_at_ms: u64,
    /// When it was delivered or given up.
    pub finished_at_ms: Option<u64>,
    /// Every attempt, oldest first (filled by [`Store::deliveries`]; empty elsewhere).
    #[serde(rename = "attempt_log")]
    pub attempt_log: Vec<AttemptRecord>,
}

/// A delivery that is due, with what it takes to make the attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: DeliveryRecord,
    /// Its endpoint (with the secret).
    pub webhook: WebhookRecord,
    /// Its event.
    pub event: EventRecord,
}

/// What an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// When it started (unix ms).
    pub at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// The HTTP status, if the endpoint answered.
    pub status: Option<u16>,
    /// What went wrong, if it did.
    pub error: Option<String>,
}

/// What follows an attempt ([`Store::record_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAttempt {
    /// It was delivered: final.
    Delivered,
    /// Try again at this time (unix ms).
    RetryAt(u64),
    /// Give up: final (`failed`).
    GiveUp,
}

/// Which deliveries [`Store::deliveries`] lists (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only this endpoint's.
    pub webhook_id: Option<i64>,
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Only this event's.
    pub event_seq: Option<u64>,
    /// Only deliveries with a smaller id (keyset pagination: the last id of the previous page).
    pub before_id: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

fn json_list<T: Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn conversion(i: usize, what: &str) -> crate::db::Error {
    crate::db::Error::conversion(i, what)
}

const WEBHOOK_COLUMNS: &str =
    "id, url, description, format, event_types, filter_types, secret, created_at";

fn webhook_from_row(row: &Row<'_>) -> crate::db::Result<WebhookRecord> {
    let types: String = row.get(4)?;
    let names: Vec<String> =
        serde_json::from_str(&types).map_err(|_| conversion(4, "event_types"))?;
    let event_types = names
        .iter()
        .map(|n| EventType::parse(n).ok_or_else(|| conversion(4, "unknown event type")))
        .collect::<Result<_, _>>()?;
    let filter: Option<String> = row.get(5)?;
    let filter_types = filter
        .map(|f| serde_json::from_str(&f).map_err(|_| conversion(5, "filter_types")))
        .transpose()?;
    Ok(WebhookRecord {
        id: row.get(0)?,
        url: row.get(1)?,
        description: row.get(2)?,
        format: row.get(3)?,
        event_types,
        filter_types,
        secret: row.get(6)?,
        created_at: row.get(7)?,
    })
}

fn webhook_row(conn: &Connection, id: i64) -> crate::db::Result<Option<WebhookRecord>> {
    conn.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"))?
        .query_row([id], webhook_from_row)
        .optional()
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_seq, e.type, d.state, d.attempts, \
    d.next_attempt_at_ms, d.last_attempt_at_ms, d.last_status, d.last_error, d.created_at_ms, \
    d.finished_at_ms";

fn delivery_from_row(row: &Row<'_>) -> crate::db::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        event_seq: row.get(2)?,
        event_type: row.get(3)?,
        state: row.get(4)?,
        attempts: row.get(5)?,
        next_attempt_at_ms: row.get(6)?,
        last_attempt_at_ms: row.get(7)?,
        last_status: row.get(8)?,
        last_error: row.get(9)?,
        created_at_ms: row.get(10)?,
        finished_at_ms: row.get(11)?,
        attempt_log: Vec::new(),
    })
}

fn delivery_row(conn: &Connection, id: i64) -> crate::db::Result<Option<DeliveryRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq \
         WHERE d.id = ?1"
    ))?
    .query_row([id], delivery_from_row)
    .optional()
}

fn attempts_of(conn: &Connection, delivery_id: i64) -> crate::db::Result<Vec<AttemptRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, at_ms, duration_ms, status, error FROM webhook_attempts \
         WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    let rows = stmt.query_map([delivery_id], |r| {
        Ok(AttemptRecord {
            attempt: r.get(0)?,
            at_ms: r.get(1)?,
            duration_ms: r.get(2)?,
            status: r.get(3)?,
            error: r.get(4)?,
        })
    })?;
    rows.collect()
}

impl Store {
    /// Records a webhook endpoint. It receives the events appended from now on. Fails with
    /// [`StoreError::Invalid`] on an empty URL or secret.
    pub fn create_webhook(&self, new: NewWebhook, now: u64) -> Result<WebhookRecord, StoreError> {
        if new.url.is_empty() || new.secret.is_empty() {
            return Err(StoreError::invalid("a webhook needs a URL and a secret"));
        }
        let types: Vec<&str> = new.event_types.iter().map(|t| t.as_str()).collect();
        self.transaction(|tx| {
            let id = tx
                .prepare_cached(
                    "INSERT INTO webhooks (url, description, format, event_types, filter_types, \
                 secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                )?
                .query_row(
                    params![
                        new.url,
                        new.description,
                        new.format,
                        json_list(&types),
                        new.filter_types.as_deref().map(json_list),
                        new.secret,
                        now,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            webhook_row(tx, id)?.ok_or_else(|| TxError::Sql(crate::db::Error::NoRows))
        })
    }

    /// Every endpoint, oldest first.
    pub fn webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"))?;
            let rows = stmt.query_map([], webhook_from_row)?;
            rows.collect()
        })
    }

    /// The endpoint with this id.
    pub fn webhook(&self, id: i64) -> Result<Option<WebhookRecord>, StoreError> {
        self.read(|c| webhook_row(c, id))
    }

    /// Deletes an endpoint with its deliveries and their attempts (pending ones are not
    /// attempted any more); returns it, or `None` if there is none with this id.
    pub fn delete_webhook(&self, id: i64) -> Result<Option<WebhookRecord>, StoreError> {
        self.transaction(|tx| {
            let Some(w) = webhook_row(tx, id)? else { return Ok(None) };
            tx.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?.execute([id])?;
            Ok(Some(w))
        })
    }

    /// Deliveries matching `filter`, newest first, each with its attempts.
    pub fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN events e ON e.seq = d.event_seq \
                 WHERE (CAST(?1 AS BIGINT) IS NULL OR d.webhook_id = ?1) \
                 AND (CAST(?2 AS TEXT) IS NULL OR d.state = ?2) \
                 AND (CAST(?3 AS BIGINT) IS NULL OR d.event_seq = ?3) \
                 AND (CAST(?4 AS BIGINT) IS NULL OR d.id < ?4) \
                 ORDER BY d.id DESC LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.webhook_id,
                    filter.state,
                    filter.event_seq,
                    filter.before_id,
                    filter.limit.unwrap_or(100)
                ],
                delivery_from_row,
            )?;
            let mut out: Vec<DeliveryRecord> = rows.collect::<Result<_, _>>()?;
            for d in &mut out {
                d.attempt_log = attempts_of(c, d.id)?;
            }
            Ok(out)
        })
    }

    /// Pending deliveries due at `now_ms`, at most `per_webhook` per endpoint (the earliest
    /// due of each), so one endpoint's backlog never hides another's, oldest first.
    pub fn due_deliveries(
        &self,
        now_ms: u64,
        per_webhook: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM ( \
                   SELECT id, row_number() OVER ( \
                     PARTITION BY webhook_id ORDER BY next_attempt_at_ms, id) AS rank \
                   FROM webhook_deliveries \
                   WHERE state = 'pending' AND next_attempt_at_ms <= ?1) due \
                 JOIN webhook_deliveries d ON d.id = due.id \
                 JOIN events e ON e.seq = d.event_seq \
                 WHERE due.rank <= ?2 ORDER BY d.next_attempt_at_ms, d.id"
            ))?;
            let rows = stmt.query_map(params![now_ms, per_webhook], delivery_from_row)?;
            let deliveries: Vec<DeliveryRecord> = rows.collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                let Some(webhook) = webhook_row(c, delivery.webhook_id)? else { continue };
                let event = event_row(c, delivery.event_seq)?;
                out.push(DueDelivery { delivery, webhook, event });
            }
            Ok(out)
        })
    }

    /// When the earliest pending delivery due strictly after `after_ms` is due (unix ms), if
    /// any (deliveries due now are found by [`Store::due_deliveries`]).
    pub fn next_delivery_due_ms(&self, after_ms: u64) -> Result<Option<u64>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT min(next_attempt_at_ms) FROM webhook_deliveries \
                 WHERE state = 'pending' AND next_attempt_at_ms > ?1",
            )?
            .query_row([after_ms], |r| r.get(0))
        })
    }

    /// Takes a pending delivery for an attempt: its next attempt time moves to `until_ms`, so
    /// it is not due again while the attempt runs, and is due again then if the attempt is never
    /// recorded (the process died meanwhile: delivery is at least once). Returns `false` if it
    /// is not pending any more (or is gone).
    pub fn lease_delivery(&self, delivery_id: i64, until_ms: u64) -> Result<bool, StoreError> {
        self.transaction(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE webhook_deliveries SET next_attempt_at_ms = ?2 \
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![delivery_id, until_ms])?;
            Ok(n == 1)
        })
    }

    /// Records an attempt at a pending delivery and what follows it, in one transaction:
    /// the attempt row, then the delivery (`attempts + 1`, last status and error, and
    /// delivered, failed or the next attempt time). Returns the updated delivery, or `None` if
    /// it no longer exists (its endpoint was deleted) or is not pending (nothing is written).
    pub fn record_attempt(
        &self,
        delivery_id: i64,
        outcome: &AttemptOutcome,
        next: NextAttempt,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        if outcome.status.is_none() && outcome.error.is_none() {
            return Err(StoreError::invalid("an attempt has a status or an error"));
        }
        self.transaction(|tx| {
            let Some(d) = delivery_row(tx, delivery_id)? else { return Ok(None) };
            if d.state != DeliveryState::Pending {
                return Ok(None);
            }
            let attempt = d.attempts + 1;
            tx.prepare_cached(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, duration_ms, status, \
                 error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                delivery_id,
                attempt,
                outcome.at_ms,
                outcome.duration_ms,
                outcome.status,
                outcome.error,
            ])?;
            let end = outcome.at_ms.saturating_add(outcome.duration_ms);
            let (state, next_at, finished) = match next {
                NextAttempt::Delivered => (DeliveryState::Delivered, None, Some(end)),
                NextAttempt::RetryAt(at) => (DeliveryState::Pending, Some(at), None),
                NextAttempt::GiveUp => (DeliveryState::Failed, None, Some(end)),
            };
            tx.prepare_cached(
                "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, next_attempt_at_ms = ?4, \
                 last_attempt_at_ms = ?5, last_status = ?6, last_error = ?7, finished_at_ms = ?8 \
                 WHERE id = ?1",
            )?
            .execute(params![
                delivery_id,
                state,
                attempt,
                next_at,
                outcome.at_ms,
                outcome.status,
                outcome.error,
                finished,
            ])?;
            let mut d =
                delivery_row(tx, delivery_id)?.ok_or(TxError::Sql(crate::db::Error::NoRows))?;
            d.attempt_log = attempts_of(tx, delivery_id)?;
            Ok(Some(d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NewChannelEvent;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn hook(store: &Store, types: &[EventType], format: WebhookFormat) -> WebhookRecord {
        store
            .create_webhook(
                NewWebhook {
                    url: "http://127.0.0.1:9/hook".into(),
                    description: Some("test".into()),
                    format,
                    event_types: types.to_vec(),
                    filter_types: (format == WebhookFormat::Alby)
                        .then(|| vec!["invoice.incoming.settled".to_string()]),
                    secret: "whsec_c2VjcmV0".into(),
                },
                50,
            )
            .unwrap()
    }

    fn channel_event(store: &Store, t: EventType, id: u8, now: u64) -> EventRecord {
        store
            .record_channel_event(
                NewChannelEvent {
                    event_type: t,
                    channel_id: [id; 32],
                    channel: serde_json::json!({}),
                },
                now,
            )
            .unwrap()
            .unwrap()
    }

    fn failure(at_ms: u64, status: u16) -> AttemptOutcome {
        AttemptOutcome {
            at_ms,
            duration_ms: 5,
            status: Some(status),
            error: Some(format!("HTTP {status}")),
        }
    }

    #[test]
    fn endpoints_are_stored_listed_and_deleted_without_showing_the_secret() {
        let (_d, store) = store();
        let a = hook(&store, &[], WebhookFormat::Native);
        let b = hook(&store, &[EventType::PaymentReceived], WebhookFormat::Alby);
        assert_eq!(a.secret, "whsec_c2VjcmV0");
        assert_eq!(b.filter_types.as_deref(), Some(&["invoice.incoming.settled".to_string()][..]));
        assert_eq!(store.webhooks().unwrap(), [a.clone(), b.clone()]);
        assert_eq!(store.webhook(b.id).unwrap().as_ref(), Some(&b));
        let json = serde_json::to_string(&store.webhooks().unwrap()).unwrap();
        assert!(!json.contains("whsec_") && !json.contains("secret"), "{json}");
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
        assert_eq!(json_list(&["x"]), "[\"x\"]");

        assert_eq!(store.delete_webhook(a.id).unwrap(), Some(a.clone()));
        assert_eq!(store.delete_webhook(a.id).unwrap(), None);
        assert_eq!(store.webhooks().unwrap(), [b]);
        let err = store
            .create_webhook(
                NewWebhook {
                    url: String::new(),
                    description: None,
                    format: WebhookFormat::Native,
                    event_types: vec![],
                    filter_types: None,
                    secret: "s".into(),
                },
                1,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }));
    }

    #[test]
    fn events_fan_out_to_matching_endpoints_in_their_transaction() {
        let (_d, store) = store();
        let all = hook(&store, &[], WebhookFormat::Native);
        let ready_only = hook(&store, &[EventType::ChannelReady], WebhookFormat::Native);
        let e1 = channel_event(&store, EventType::ChannelPending, 1, 100);
        let e2 = channel_event(&store, EventType::ChannelReady, 1, 101);
        // A replayed event creates no deliveries either.
        assert!(store
            .record_channel_event(
                NewChannelEvent {
                    event_type: EventType::ChannelReady,
                    channel_id: [1; 32],
                    channel: serde_json::json!({})
                },
                102
            )
            .unwrap()
            .is_none());

        let of = |id| {
            let f = DeliveryFilter { webhook_id: Some(id), ..Default::default() };
            store.deliveries(&f).unwrap().into_iter().map(|d| d.event_seq).collect::<Vec<_>>()
        };
        assert_eq!(of(all.id), [e2.seq, e1.seq], "newest first");
        assert_eq!(of(ready_only.id), [e2.seq]);
        let d = &store.deliveries(&DeliveryFilter::default()).unwrap()[0];
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
        assert_eq!(d.next_attempt_at_ms, Some(101_000));
        assert_eq!(d.event_type, EventType::ChannelReady);

        // An endpoint created later only gets later events.
        let late = hook(&store, &[], WebhookFormat::Native);
        let e3 = channel_event(&store, EventType::ChannelClosed, 1, 103);
        assert_eq!(of(late.id), [e3.seq]);
        // Deleting an endpoint deletes its deliveries; the events stay.
        store.delete_webhook(all.id).unwrap();
        assert!(of(all.id).is_empty());
        assert_eq!(store.events_after(0, 10).unwrap().len(), 3);
    }

    #[test]
    fn attempts_are_recorded_and_final_states_stay_final() {
        let (_d, store) = store();
        let w = hook(&store, &[], WebhookFormat::Native);
        let e = channel_event(&store, EventType::ChannelReady, 1, 100);
        let due = store.due_deliveries(100_000, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].webhook, w);
        assert_eq!(due[0].event, e);
        let id = due[0].delivery.id;
        assert!(store.due_deliveries(99_999, 10).unwrap().is_empty());

        // 503, retry in 1 s; 503, retry in 2 s; then 200.
        let d = store
            .record_attempt(id, &failure(100_000, 503), NextAttempt::RetryAt(101_005))
            .unwrap()
            .unwrap();
        assert_eq!((d.state, d.attempts, d.last_status), (DeliveryState::Pending, 1, Some(503)));
        assert_eq!(d.next_attempt_at_ms, Some(101_005));
        assert_eq!(store.next_delivery_due_ms(100_000).unwrap(), Some(101_005));
        assert_eq!(store.next_delivery_due_ms(101_005).unwrap(), None);
        assert!(store.due_deliveries(101_000, 10).unwrap().is_empty());
        assert_eq!(store.due_deliveries(101_005, 10).unwrap().len(), 1);
        store
            .record_attempt(id, &failure(101_005, 503), NextAttempt::RetryAt(103_010))
            .unwrap()
            .unwrap();
        let ok = AttemptOutcome { at_ms: 103_010, duration_ms: 7, status: Some(200), error: None };
        let d = store.record_attempt(id, &ok, NextAttempt::Delivered).unwrap().unwrap();
        assert_eq!((d.state, d.attempts, d.last_status), (DeliveryState::Delivered, 3, Some(200)));
        assert_eq!((d.next_attempt_at_ms, d.finished_at_ms), (None, Some(103_017)));
        let statuses: Vec<_> = d.attempt_log.iter().map(|a| (a.attempt, a.status)).collect();
        assert_eq!(statuses, [(1, Some(503)), (2, Some(503)), (3, Some(200))]);
        assert_eq!(store.next_delivery_due_ms(0).unwrap(), None);

        // Final: a late attempt is not recorded.
        assert_eq!(
            store.record_attempt(id, &failure(200_000, 500), NextAttempt::GiveUp).unwrap(),
            None
        );
        let listed = store.deliveries(&DeliveryFilter::default()).unwrap();
        assert_eq!(listed, [d]);

        // Giving up.
        let e2 = channel_event(&store, EventType::ChannelClosed, 1, 300);
        let id2 = store.due_deliveries(300_000, 10).unwrap()[0].delivery.id;
        let timeout = AttemptOutcome {
            at_ms: 300_000,
            duration_ms: 10_000,
            status: None,
            error: Some("timed out".into()),
        };
        let d2 = store.record_attempt(id2, &timeout, NextAttempt::GiveUp).unwrap().unwrap();
        assert_eq!(
            (d2.state, d2.event_seq, d2.finished_at_ms),
            (DeliveryState::Failed, e2.seq, Some(310_000))
        );
        let failed = DeliveryFilter { state: Some(DeliveryState::Failed), ..Default::default() };
        assert_eq!(store.deliveries(&failed).unwrap().len(), 1);
        assert!(store.due_deliveries(u64::MAX >> 2, 10).unwrap().is_empty());
        // Unknown delivery.
        assert_eq!(store.record_attempt(999, &timeout, NextAttempt::GiveUp).unwrap(), None);
    }

    #[test]
    fn a_leased_delivery_is_not_due_until_the_lease_ends() {
        let (_d, store) = store();
        hook(&store, &[], WebhookFormat::Native);
        channel_event(&store, EventType::ChannelReady, 1, 100);
        let id = store.due_deliveries(100_000, 10).unwrap()[0].delivery.id;
        assert!(store.lease_delivery(id, 115_000).unwrap());
        assert!(store.due_deliveries(114_999, 10).unwrap().is_empty());
        assert_eq!(store.next_delivery_due_ms(100_000).unwrap(), Some(115_000));
        // Never recorded (a crash): due again when the lease ends, with no attempt counted.
        let due = store.due_deliveries(115_000, 10).unwrap();
        assert_eq!((due[0].delivery.id, due[0].delivery.attempts), (id, 0));
        let ok = AttemptOutcome { at_ms: 115_000, duration_ms: 1, status: Some(204), error: None };
        store.record_attempt(id, &ok, NextAttempt::Delivered).unwrap().unwrap();
        assert!(!store.lease_delivery(id, 200_000).unwrap());
        assert!(!store.lease_delivery(999, 200_000).unwrap());
    }

    #[test]
    fn one_endpoints_backlog_does_not_hide_anothers() {
        let (_d, store) = store();
        let dead = hook(&store, &[EventType::ChannelPending], WebhookFormat::Native);
        for i in 0..20 {
            channel_event(&store, EventType::ChannelPending, i, 100);
        }
        let live = hook(&store, &[], WebhookFormat::Native);
        channel_event(&store, EventType::ChannelReady, 1, 200);
        let due = store.due_deliveries(1_000_000, 3).unwrap();
        let dead_n = due.iter().filter(|d| d.webhook.id == dead.id).count();
        let live_n = due.iter().filter(|d| d.webhook.id == live.id).count();
        assert_eq!((dead_n, live_n), (3, 1));
        // The earliest due first.
        let seqs: Vec<u64> =
            due.iter().filter(|d| d.webhook.id == dead.id).map(|d| d.event.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn deliveries_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let store = Store::open(dir.path()).unwrap();
            hook(&store, &[], WebhookFormat::Native);
            channel_event(&store, EventType::ChannelReady, 1, 100);
            let id = store.due_deliveries(100_000, 10).unwrap()[0].delivery.id;
            store
                .record_attempt(id, &failure(100_000, 503), NextAttempt::RetryAt(101_000))
                .unwrap();
            id
        };
        let store = Store::open(dir.path()).unwrap();
        let due = store.due_deliveries(101_000, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].delivery.id, due[0].delivery.attempts), (id, 1));
        assert_eq!(due[0].webhook.secret, "whsec_c2VjcmV0");
    }
}
