//! The receive side: one row per invoice (or offer invoice) we issue, keyed by payment hash,
//! with its state machine.
//!
//! ```text
//! created ──► htlcs_arrived ──► preimage_revealed ──► settled
//!    │  │           │
//!    │  └───────────┴──► canceled         (refused once the preimage is revealed)
//!    └──► expired                         (only from created, once expires_at < now)
//! ```
//!
//! States only move forward (a step may be skipped, e.g. created → settled when LDK claims a
//! plain invoice by itself); settled, canceled and expired are final. A transition that is not
//! allowed leaves the row unchanged and returns it ([`ReceiveUpdate::Unchanged`]), so event
//! replays are harmless. The preimage of a hold invoice is unknown (NULL) until the engine
//! reveals it ([`Store::receive_preimage_revealed`]); every preimage is checked against the
//! payment hash. Like the payment methods, these are methods on [`Store`], take `now` (unix
//! seconds) and run each read-check-write in one `BEGIN IMMEDIATE` transaction. Canceling and
//! expiring a receive append an event (`invoice_canceled`, `invoice_expired`) in the same
//! transaction (see the `events` module).

use crate::db::{params, Conn as Connection, Conn as Transaction, OptionalExtension, Params, Row};
use serde::Serialize;

use crate::error::{StoreError, TxError};
use crate::events::{receive_data, EventType};
use crate::payments::{check_custom_records, check_key, check_preimage, hex_opt, payment_hash_of};
use crate::Store;

/// Where a receive stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiveState {
    /// Issued; nothing has arrived.
    Created,
    /// HTLCs paying it arrived and are held (LDK's `PaymentClaimable`).
    HtlcsArrived,
    /// We released the preimage (claiming the HTLCs); it can no longer be canceled.
    PreimageRevealed,
    /// The payment was claimed (LDK's `PaymentClaimed`). Final.
    Settled,
    /// Canceled by us before the preimage was revealed. Final.
    Canceled,
    /// Expired unpaid. Final.
    Expired,
}
crate::payments::text_enum!(ReceiveState {
    Created => "created",
    HtlcsArrived => "htlcs_arrived",
    PreimageRevealed => "preimage_revealed",
    Settled => "settled",
    Canceled => "canceled",
    Expired => "expired",
});

impl ReceiveState {
    /// Whether this is a final state (settled, canceled or expired).
    pub fn is_final(self) -> bool {
        matches!(self, ReceiveState::Settled | ReceiveState::Canceled | ReceiveState::Expired)
    }
}

/// One invoice or offer invoice we issued, as stored in the `receives` table. Serializes to
/// JSON with hashes and preimages as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReceiveRecord {
    /// The row id.
    pub id: i64,
    /// The payment hash (unique).
    #[serde(serialize_with = "hex_opt_ref")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub payment_hash: [u8; 32],
    /// Where it stands.
    pub state: ReceiveState,
    /// The invoice we issued.
    pub invoice: Option<String>,
    /// The preimage (NULL for a hold invoice until it is revealed).
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub preimage: Option<[u8; 32]>,
    /// Whether this is a hold invoice (the engine decides when to settle or cancel).
    pub hold: bool,
    /// The amount requested (`None`: any amount).
    pub amount_msat: Option<u64>,
    /// The amount that arrived / was received.
    pub received_msat: Option<u64>,
    /// The description.
    pub description: Option<String>,
    /// The description hash, for invoices that commit to one.
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub description_hash: Option<[u8; 32]>,
    /// When it was issued (unix seconds).
    pub created_at: u64,
    /// When it expires.
    pub expires_at: Option<u64>,
    /// When HTLCs arrived.
    pub htlcs_arrived_at: Option<u64>,
    /// When the preimage was revealed.
    pub preimage_revealed_at: Option<u64>,
    /// When it reached a final state.
    pub finished_at: Option<u64>,
    /// The payer's note: BOLT12's payer note, or LNURL-pay's (LUD-12) comment.
    pub payer_note: Option<String>,
    /// Keysend-style TLV records (JSON object text, TLV type to hex value).
    pub custom_records: Option<String>,
    /// The client's idempotency key (unique per token).
    pub idempotency_key: Option<String>,
    /// Its label (Core Lightning's `invoice` label; unique across the node while the receive is
    /// not deleted).
    pub label: Option<String>,
    /// The fingerprint of the request that created it.
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub request_hash: Option<[u8; 32]>,
    /// While HTLCs are held (a hold invoice): the block height by which they must be settled;
    /// at it, the node fails them back and the receive is canceled (`htlcs_expired`).
    pub claim_deadline_height: Option<u32>,
    /// The same deadline as an estimated time (unix seconds, at 10 minutes a block).
    pub claim_deadline_at: Option<u64>,
    /// Why a canceled receive was canceled: `canceled` (by request) or `htlcs_expired` (its
    /// held HTLCs reached their claim deadline and were failed back).
    #[schema(value_type = Option<String>)]
    pub cancel_reason: Option<CancelReason>,
    /// The API token that created it (`None` without authentication, or for a receive made
    /// by the node itself); never shown to clients.
    #[serde(skip)]
    pub token_id: Option<String>,
}

/// Why a receive was canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Canceled by request (the API).
    Canceled,
    /// Its held HTLCs reached their claim deadline and the node failed them back.
    HtlcsExpired,
}
crate::payments::text_enum!(CancelReason {
    Canceled => "canceled",
    HtlcsExpired => "htlcs_expired",
});

fn hex_opt_ref<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    hex_opt(&Some(*v), s)
}

/// An invoice or offer invoice we are about to hand out, for [`Store::insert_receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceive {
    /// The payment hash.
    pub payment_hash: [u8; 32],
    /// The invoice.
    pub invoice: Option<String>,
    /// The preimage; must be `None` for a hold invoice, and hash to `payment_hash` otherwise.
    pub preimage: Option<[u8; 32]>,
    /// Whether this is a hold invoice.
    pub hold: bool,
    /// The amount requested (`None`: any amount).
    pub amount_msat: Option<u64>,
    /// The description.
    pub description: Option<String>,
    /// The description hash.
    pub description_hash: Option<[u8; 32]>,
    /// When it expires.
    pub expires_at: Option<u64>,
    /// The payer's note: BOLT12's payer note, or LNURL-pay's (LUD-12) comment.
    pub payer_note: Option<String>,
    /// TLV records (JSON object text, TLV type to hex value).
    pub custom_records: Option<String>,
    /// The client's idempotency key (unique per token).
    pub idempotency_key: Option<String>,
    /// Its label (unique across the node).
    pub label: Option<String>,
    /// The fingerprint of the request.
    pub request_hash: Option<[u8; 32]>,
    /// The API token that asks for it.
    pub token_id: Option<String>,
}

impl NewReceive {
    /// A receive with the required fields; set the others directly.
    pub fn new(payment_hash: [u8; 32]) -> NewReceive {
        NewReceive {
            payment_hash,
            invoice: None,
            preimage: None,
            hold: false,
            amount_msat: None,
            description: None,
            description_hash: None,
            expires_at: None,
            payer_note: None,
            custom_records: None,
            idempotency_key: None,
            label: None,
            request_hash: None,
            token_id: None,
        }
    }
}

/// What [`Store::insert_receive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertReceive {
    /// The receive was recorded (state created): hand out the invoice.
    Created(ReceiveRecord),
    /// The same idempotency key with the same request: the original receive.
    Existing(ReceiveRecord),
    /// The idempotency key belongs to this receive, made by a different request.
    KeyConflict(ReceiveRecord),
    /// A receive with this payment hash exists already (under another key or none).
    HashExists(ReceiveRecord),
}

impl InsertReceive {
    /// The record, whatever the outcome.
    pub fn record(&self) -> &ReceiveRecord {
        match self {
            InsertReceive::Created(r)
            | InsertReceive::Existing(r)
            | InsertReceive::KeyConflict(r)
            | InsertReceive::HashExists(r) => r,
        }
    }
}

/// What a receive state transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveUpdate {
    /// The transition was made; the updated record.
    Updated(ReceiveRecord),
    /// The transition is not allowed from the current state (already there, later, or
    /// final); the unchanged record.
    Unchanged(ReceiveRecord),
    /// No receive has this payment hash.
    NotFound,
}

/// What [`Store::receive_cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The receive is canceled (now, or it already was).
    Canceled(ReceiveRecord),
    /// Refused: the preimage was revealed or the payment settled. Unchanged.
    TooLate(ReceiveRecord),
    /// It had already expired (final). Unchanged.
    Expired(ReceiveRecord),
    /// No receive has this payment hash.
    NotFound,
}

const RECEIVE_COLUMNS: &str = "id, payment_hash, state, invoice, preimage, hold, amount_msat, \
    received_msat, description, description_hash, created_at, expires_at, htlcs_arrived_at, \
    preimage_revealed_at, finished_at, payer_note, custom_records, idempotency_key, request_hash, \
    claim_deadline_height, claim_deadline_at, cancel_reason, token_id, label";

fn receive_from_row(row: &Row<'_>) -> crate::db::Result<ReceiveRecord> {
    Ok(ReceiveRecord {
        id: row.get(0)?,
        payment_hash: row.get(1)?,
        state: row.get(2)?,
        invoice: row.get(3)?,
        preimage: row.get(4)?,
        hold: row.get(5)?,
        amount_msat: row.get(6)?,
        received_msat: row.get(7)?,
        description: row.get(8)?,
        description_hash: row.get(9)?,
        created_at: row.get(10)?,
        expires_at: row.get(11)?,
        htlcs_arrived_at: row.get(12)?,
        preimage_revealed_at: row.get(13)?,
        finished_at: row.get(14)?,
        payer_note: row.get(15)?,
        custom_records: row.get(16)?,
        idempotency_key: row.get(17)?,
        request_hash: row.get(18)?,
        claim_deadline_height: row.get(19)?,
        claim_deadline_at: row.get(20)?,
        cancel_reason: row.get(21)?,
        token_id: row.get(22)?,
        label: row.get(23)?,
    })
}

/// The first receive matching `clause` (a `WHERE` condition, optionally with `ORDER BY`).
pub(crate) fn find_receive(
    conn: &Connection,
    clause: &str,
    params: impl Params,
) -> crate::db::Result<Option<ReceiveRecord>> {
    let sql = format!("SELECT {RECEIVE_COLUMNS} FROM receives WHERE {clause} LIMIT 1");
    conn.prepare_cached(&sql)?.query_row(params, receive_from_row).optional()
}

fn find_receives(
    conn: &Connection,
    clause: &str,
    params: impl Params,
) -> crate::db::Result<Vec<ReceiveRecord>> {
    let sql = format!("SELECT {RECEIVE_COLUMNS} FROM receives WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, receive_from_row)?;
    rows.collect()
}

fn receive_row(conn: &Connection, id: i64) -> crate::db::Result<ReceiveRecord> {
    conn.prepare_cached(&format!("SELECT {RECEIVE_COLUMNS} FROM receives WHERE id = ?1"))?
        .query_row([id], receive_from_row)
}

impl Store {
    /// Records an invoice we are about to hand out, in one transaction: first the idempotency
    /// key is checked ([`InsertReceive::Existing`] for the same `request_hash`,
    /// [`InsertReceive::KeyConflict`] otherwise), then the payment hash
    /// ([`InsertReceive::HashExists`]), then the row is inserted in state created.
    ///
    /// Fails with [`StoreError::Invalid`] (writing nothing) if a hold invoice comes with a
    /// preimage, a preimage does not match the hash, the key is empty or the custom records are
    /// malformed.
    pub fn insert_receive(
        &self,
        receive: NewReceive,
        now: u64,
    ) -> Result<InsertReceive, StoreError> {
        check_key(receive.idempotency_key.as_deref())?;
        if receive.label.as_deref() == Some("") {
            return Err(StoreError::invalid("the label is empty"));
        }
        if let Some(preimage) = &receive.preimage {
            if receive.hold {
                return Err(StoreError::invalid(
                    "a hold invoice's preimage is only recorded when it is revealed",
                ));
            }
            check_preimage(preimage, &receive.payment_hash)?;
        }
        self.transaction(|tx| {
            check_custom_records(receive.custom_records.as_deref())?;
            let by_key = match &receive.idempotency_key {
                Some(key) => find_receive(
                    tx,
                    "idempotency_key = ?1 AND coalesce(token_id, '') = coalesce(?2, '')",
                    params![key, receive.token_id],
                )?,
                None => None,
            };
            let by_label = match &receive.label {
                Some(label) => find_receive(tx, "label = ?1", [label])?,
                None => None,
            };
            if let Some(rec) = by_key.or(by_label) {
                return Ok(if rec.request_hash == receive.request_hash {
                    InsertReceive::Existing(rec)
                } else {
                    InsertReceive::KeyConflict(rec)
                });
            }
            if let Some(rec) = find_receive(tx, "payment_hash = ?1", [receive.payment_hash])? {
                return Ok(InsertReceive::HashExists(rec));
            }
            let id = tx
                .prepare_cached(
                    "INSERT INTO receives (payment_hash, state, invoice, preimage, hold, \
                 amount_msat, description, description_hash, created_at, expires_at, \
                 payer_note, custom_records, idempotency_key, request_hash, token_id, label) \
                 VALUES (?1, 'created', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                 ?15) RETURNING id",
                )?
                .query_row(
                    params![
                        receive.payment_hash,
                        receive.invoice,
                        receive.preimage,
                        receive.hold,
                        receive.amount_msat,
                        receive.description,
                        receive.description_hash,
                        now,
                        receive.expires_at,
                        receive.payer_note,
                        receive.custom_records,
                        receive.idempotency_key,
                        receive.request_hash,
                        receive.token_id,
                        receive.label,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            Ok(InsertReceive::Created(receive_row(tx, id)?))
        })
    }

    /// The receive with this payment hash.
    pub fn receive_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<ReceiveRecord>, StoreError> {
        self.read(|c| find_receive(c, "payment_hash = ?1", [payment_hash]))
    }

    /// The receive with this invoice string (as it was stored).
    pub fn receive_by_invoice(&self, invoice: &str) -> Result<Option<ReceiveRecord>, StoreError> {
        self.read(|c| find_receive(c, "invoice = ?1", [invoice]))
    }

    /// The receive whose payment hash is the SHA-256 of `preimage`.
    pub fn receive_by_preimage(
        &self,
        preimage: &[u8; 32],
    ) -> Result<Option<ReceiveRecord>, StoreError> {
        self.receive_by_hash(&payment_hash_of(preimage))
    }

    /// The receive created by token `token_id` (`None`: without authentication) under
    /// idempotency key `key`: keys are unique per token, so one token never finds another's.
    pub fn receive_by_idempotency_key(
        &self,
        key: &str,
        token_id: Option<&str>,
    ) -> Result<Option<ReceiveRecord>, StoreError> {
        self.read(|c| {
            find_receive(
                c,
                "idempotency_key = ?1 AND coalesce(token_id, '') = coalesce(?2, '')",
                params![key, token_id],
            )
        })
    }

    /// The receive with this label (labels are unique across the node; a deleted receive has
    /// none).
    pub fn receive_by_label(&self, label: &str) -> Result<Option<ReceiveRecord>, StoreError> {
        self.read(|c| find_receive(c, "label = ?1", [label]))
    }

    /// Every receive in creation order (by row id), starting after row id `after_id`, at most
    /// `limit` of them; deleted ones are not listed.
    pub fn list_receives(
        &self,
        after_id: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<ReceiveRecord>, StoreError> {
        self.read(|c| {
            find_receives(
                c,
                "id > ?1 AND deleted_at IS NULL ORDER BY id LIMIT ?2",
                params![after_id.unwrap_or(0), limit.map_or(i64::MAX, i64::from)],
            )
        })
    }

    /// Receives that are not final (created, HTLCs arrived, preimage revealed), oldest first.
    pub fn pending_receives(&self) -> Result<Vec<ReceiveRecord>, StoreError> {
        self.read(|c| {
            find_receives(
                c,
                "state IN ('created', 'htlcs_arrived', 'preimage_revealed') \
                 ORDER BY created_at, id",
                [],
            )
        })
    }

    /// Applies `update` to the receive with this hash if its state is one of `from`.
    fn receive_transition(
        &self,
        payment_hash: &[u8; 32],
        from: &[ReceiveState],
        update: impl FnOnce(&Transaction, i64) -> crate::db::Result<usize>,
    ) -> Result<ReceiveUpdate, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_receive(tx, "payment_hash = ?1", [payment_hash])? else {
                return Ok(ReceiveUpdate::NotFound);
            };
            if !from.contains(&rec.state) {
                return Ok(ReceiveUpdate::Unchanged(rec));
            }
            update(tx, rec.id)?;
            Ok(ReceiveUpdate::Updated(receive_row(tx, rec.id)?))
        })
    }

    /// created → htlcs_arrived (LDK's `PaymentClaimable`): records the amount that arrived in
    /// `received_msat`, the time, and the claim deadline (block height and its estimated time)
    /// by which held HTLCs must be settled. From any other state: unchanged.
    pub fn receive_htlcs_arrived(
        &self,
        payment_hash: &[u8; 32],
        amount_msat: u64,
        claim_deadline: Option<(u32, u64)>,
        now: u64,
    ) -> Result<ReceiveUpdate, StoreError> {
        let (height, at) = claim_deadline.unzip();
        self.receive_transition(payment_hash, &[ReceiveState::Created], |tx, id| {
            tx.prepare_cached(
                "UPDATE receives SET state = 'htlcs_arrived', received_msat = ?2, \
                 htlcs_arrived_at = ?3, claim_deadline_height = ?4, claim_deadline_at = ?5 \
                 WHERE id = ?1",
            )?
            .execute(params![id, amount_msat, now, height, at])
        })
    }

    /// htlcs_arrived or preimage_revealed → canceled (`htlcs_expired`): the node failed the held
    /// HTLCs back at their claim deadline, unsettled (a settle that raced the deadline block
    /// revealed nothing: the node had nothing left to claim), so there is nothing left to
    /// settle; appends `invoice_canceled`. From any other state: unchanged. The caller checks
    /// the deadline was reached (a late HTLC refused for its expiry fails the same way).
    pub fn receive_htlcs_failed(
        &self,
        payment_hash: &[u8; 32],
        now: u64,
    ) -> Result<ReceiveUpdate, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_receive(tx, "payment_hash = ?1", [payment_hash])? else {
                return Ok(ReceiveUpdate::NotFound);
            };
            if !matches!(rec.state, ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed) {
                return Ok(ReceiveUpdate::Unchanged(rec));
            }
            Ok(ReceiveUpdate::Updated(self.cancel_in(tx, &rec, CancelReason::HtlcsExpired, now)?))
        })
    }

    /// Cancels `rec` inside `tx` and appends `invoice_canceled`.
    pub(crate) fn cancel_in(
        &self,
        tx: &Transaction,
        rec: &ReceiveRecord,
        reason: CancelReason,
        now: u64,
    ) -> Result<ReceiveRecord, TxError> {
        tx.prepare_cached(
            "UPDATE receives SET state = 'canceled', cancel_reason = ?2, finished_at = ?3 \
             WHERE id = ?1",
        )?
        .execute(params![rec.id, reason, now])?;
        let canceled = receive_row(tx, rec.id)?;
        let data = receive_data(&canceled)?;
        let hash = Some(canceled.payment_hash);
        self.append_event(tx, EventType::InvoiceCanceled, hash, &data, None, now)?;
        Ok(canceled)
    }

    /// created or htlcs_arrived → preimage_revealed: records the preimage, which must be
    /// recorded before it is handed to LDK (claiming); from then on the receive can no longer
    /// be canceled. From any other state: unchanged. Fails with [`StoreError::Invalid`] if the
    /// preimage does not match the hash.
    pub fn receive_preimage_revealed(
        &self,
        payment_hash: &[u8; 32],
        preimage: &[u8; 32],
        now: u64,
    ) -> Result<ReceiveUpdate, StoreError> {
        check_preimage(preimage, payment_hash)?;
        self.receive_transition(
            payment_hash,
            &[ReceiveState::Created, ReceiveState::HtlcsArrived],
            |tx, id| {
                tx.prepare_cached(
                    "UPDATE receives SET state = 'preimage_revealed', preimage = ?2, \
                     preimage_revealed_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, preimage, now])
            },
        )
    }

    /// created, htlcs_arrived or preimage_revealed → settled (the payment was claimed):
    /// records `received_msat` and `finished_at`. From a final state: unchanged.
    /// [`Store::record_incoming`] does this too, together with the payment record.
    pub fn receive_settled(
        &self,
        payment_hash: &[u8; 32],
        received_msat: u64,
        now: u64,
    ) -> Result<ReceiveUpdate, StoreError> {
        self.receive_transition(
            payment_hash,
            &[ReceiveState::Created, ReceiveState::HtlcsArrived, ReceiveState::PreimageRevealed],
            |tx, id| {
                tx.prepare_cached(
                    "UPDATE receives SET state = 'settled', received_msat = ?2, \
                     finished_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, received_msat, now])
            },
        )
    }

    /// created or htlcs_arrived → canceled (the engine then fails any held HTLCs back).
    /// Refused once the preimage was revealed or the payment settled
    /// ([`CancelOutcome::TooLate`]); canceling twice returns the canceled record.
    pub fn receive_cancel(
        &self,
        payment_hash: &[u8; 32],
        now: u64,
    ) -> Result<CancelOutcome, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_receive(tx, "payment_hash = ?1", [payment_hash])? else {
                return Ok(CancelOutcome::NotFound);
            };
            Ok(match rec.state {
                ReceiveState::Created | ReceiveState::HtlcsArrived => CancelOutcome::Canceled(
                    self.cancel_in(tx, &rec, CancelReason::Canceled, now)?,
                ),
                ReceiveState::Canceled => CancelOutcome::Canceled(rec),
                ReceiveState::PreimageRevealed | ReceiveState::Settled => {
                    CancelOutcome::TooLate(rec)
                }
                ReceiveState::Expired => CancelOutcome::Expired(rec),
            })
        })
    }

    /// Moves every receive still in state created whose `expires_at` is before `now` to
    /// expired (with `finished_at = now`) and returns them, oldest first. Receives with HTLCs
    /// arrived are left to the engine (it settles or cancels them).
    pub fn expire_receives(&self, now: u64) -> Result<Vec<ReceiveRecord>, StoreError> {
        self.transaction(|tx| {
            let expired = find_receives(
                tx,
                "state = 'created' AND expires_at IS NOT NULL AND expires_at < ?1 \
                 ORDER BY created_at, id",
                [now],
            )?;
            let mut stmt = tx.prepare_cached(
                "UPDATE receives SET state = 'expired', finished_at = ?2 \
                 WHERE id = ?1 AND state = 'created'",
            )?;
            let mut out = Vec::with_capacity(expired.len());
            for rec in expired {
                stmt.execute(params![rec.id, now])?;
                let done = receive_row(tx, rec.id)?;
                let data = receive_data(&done)?;
                let hash = Some(done.payment_hash);
                self.append_event(tx, EventType::InvoiceExpired, hash, &data, None, now)?;
                out.push(done);
            }
            Ok::<_, TxError>(out)
        })
    }
}

#[cfg(test)]
mod tests;
