//! Payment records: one durable, truthful row per payment in either direction.
//!
//! The API is a set of methods on [`Store`] (the node already shares its store as
//! `Arc<Store>`, and payment records live in the same database and on the same connection as
//! LDK's data). Every operation that reads and then writes runs in one `BEGIN IMMEDIATE`
//! transaction, so its checks still hold when it writes, across threads and processes.
//!
//! # Money-safety rules
//!
//! * **Never pay twice.** [`Store::begin_outgoing`] records the intent to pay and, in the same
//!   transaction, checks first the idempotency key and then the payment hash. Only
//!   [`BeginOutgoing::Started`] and [`BeginOutgoing::Retrying`] allow the engine to send; every
//!   other answer names the record that already covers the request.
//! * **Complete and failed are final.** [`Store::fail_outgoing`] only acts on pending payments;
//!   [`Store::complete_outgoing`] never changes a complete payment. The two exceptions are
//!   deliberate: a failed BOLT11 payment may be retried (back to pending, `attempts + 1`), and a
//!   failed payment whose preimage later shows up becomes complete, because the preimage proves
//!   that the money moved (the truth wins, with a warning in the log).
//! * **Persist before you acknowledge or send.** Every method returns only after its
//!   transaction committed and was flushed to disk (outside [`Store::deferring_sync`], which
//!   only the ledger uses, and whose commits every later read flushes before it returns); the
//!   engine sends HTLCs after [`Store::begin_outgoing`] returned and acknowledges clients after
//!   the record is written.
//!
//! # Conventions
//!
//! * Time is never read from a clock here: every method that writes takes `now` (unix
//!   seconds), so tests are deterministic.
//! * Hashes, payment ids and preimages are `[u8; 32]`; `request_hash` is the engine's 32-byte
//!   fingerprint of a request (for example the SHA-256 of its canonical form), used to tell "the
//!   same request again" from "the same idempotency key, different request".
//! * `metadata` is app-defined JSON object text; `custom_records` is JSON object text mapping
//!   TLV types (decimal strings) to lowercase hex values. Both are validated before anything is
//!   written ([`StoreError::Invalid`]).
//! * `destination` is the payee's node id as 66 hex characters; it is stored in lowercase.
//! * Completing, failing and receiving a payment append an event (`payment_sent`,
//!   `payment_failed`, `payment_received`) in the same transaction, only when the row changed
//!   (see the `events` module).
//! * Payment amounts (`amount_msat`) are what the payee receives, without routing fees.
//!
//! The receive side (invoices and offers we issue) is in the `receives` module.

use crate::db::{
    params, Conn as Connection, FromSql, FromSqlError, OptionalExtension, Params, Row, ToSql,
    Value, ValueRef,
};
use lightning::bitcoin::hashes::{sha256, Hash};
use serde::{Serialize, Serializer};
use tracing::warn;

use crate::error::{StoreError, TxError};
use crate::events::{payment_data, EventType};
use crate::tokens::{check_spending, SpendRefusal};
use crate::Store;

/// Implements `as_str`, `Display`, `ToSql` and `FromSql` for an enum stored as `TEXT`.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The value stored in the database (and used in JSON).
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)+
                }
            }

            /// Parses the stored value.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::db::ToSql for $ty {
            fn to_sql(&self) -> $crate::db::ValueRef<'_> {
                $crate::db::ValueRef::Text(self.as_str())
            }
        }

        impl $crate::db::FromSql for $ty {
            fn from_sql(
                value: $crate::db::ValueRef<'_>,
            ) -> ::std::result::Result<Self, $crate::db::FromSqlError> {
                let s = <String as $crate::db::FromSql>::from_sql(value)?;
                $ty::parse(&s).ok_or_else(|| {
                    $crate::db::FromSqlError(format!(
                        concat!("unknown ", stringify!($ty), " {:?}"),
                        s
                    ))
                })
            }
        }
    };
}
pub(crate) use text_enum;

/// Which way the money went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We paid.
    Outgoing,
    /// We were paid.
    Incoming,
}
text_enum!(Direction { Outgoing => "outgoing", Incoming => "incoming" });

/// How the payment was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A BOLT11 invoice.
    Bolt11,
    /// A BOLT12 offer (or refund).
    Bolt12,
    /// A spontaneous payment (keysend).
    Keysend,
    /// An LNURL-pay or Lightning address (which ends in a BOLT11 invoice).
    Lnurl,
}
text_enum!(PaymentKind {
    Bolt11 => "bolt11",
    Bolt12 => "bolt12",
    Keysend => "keysend",
    Lnurl => "lnurl",
});

/// Where a payment stands. `Complete` and `Failed` are final (see the module documentation for
/// the two deliberate exceptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Recorded; HTLCs may be in flight.
    Pending,
    /// Paid (outgoing: we hold the preimage) or received.
    Complete,
    /// Did not go through; no HTLC of it is left in flight.
    Failed,
}
text_enum!(PaymentStatus { Pending => "pending", Complete => "complete", Failed => "failed" });

/// Where a pending outgoing payment is (`None` once it is complete or failed). The stages of
/// the engine's state machine for an outgoing payment, persisted so that the record says what
/// the payment is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStage {
    /// The intent is durable; the payment has not been handed to the node yet.
    Recorded,
    /// A channel peer the payment needs is disconnected: it waits for the reconnection, within
    /// its retry window.
    WaitingForPeer,
    /// The node has the payment: HTLCs are (or are about to be) in flight.
    InFlight,
}
text_enum!(PaymentStage {
    Recorded => "recorded",
    WaitingForPeer => "waiting_for_peer",
    InFlight => "in_flight",
});

/// Why an outgoing payment failed, as Core Lightning's `pay` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// `-1`: any other error.
    Other,
    /// `201` (`PAY_RHASH_ALREADY_USED`): already paid with this hash, using a different amount
    /// or destination.
    AlreadyPaidDifferently,
    /// `203` (`PAY_DESTINATION_PERM_FAIL`): the destination refused the payment permanently.
    DestinationPermanentFailure,
    /// `205` (`PAY_ROUTE_NOT_FOUND`): no route was found.
    RouteNotFound,
    /// `206` (`PAY_ROUTE_TOO_EXPENSIVE`): every route costs more than the fee limit.
    RouteTooExpensive,
    /// `207` (`PAY_INVOICE_EXPIRED`): the invoice expired.
    InvoiceExpired,
    /// `210` (`PAY_STOPPED_RETRYING`): gave up retrying (time limit reached).
    StoppedRetrying,
}

impl FailureCode {
    /// The numeric Core Lightning error code.
    pub fn code(self) -> i32 {
        match self {
            FailureCode::Other => -1,
            FailureCode::AlreadyPaidDifferently => 201,
            FailureCode::DestinationPermanentFailure => 203,
            FailureCode::RouteNotFound => 205,
            FailureCode::RouteTooExpensive => 206,
            FailureCode::InvoiceExpired => 207,
            FailureCode::StoppedRetrying => 210,
        }
    }

    /// The failure code with this numeric code, if it is one of the known ones.
    pub fn from_code(code: i64) -> Option<FailureCode> {
        Some(match code {
            -1 => FailureCode::Other,
            201 => FailureCode::AlreadyPaidDifferently,
            203 => FailureCode::DestinationPermanentFailure,
            205 => FailureCode::RouteNotFound,
            206 => FailureCode::RouteTooExpensive,
            207 => FailureCode::InvoiceExpired,
            210 => FailureCode::StoppedRetrying,
            _ => return None,
        })
    }
}

impl Serialize for FailureCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.code())
    }
}

/// Serialized as its numeric Core Lightning code.
impl utoipa::PartialSchema for FailureCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        const ALL: [FailureCode; 7] = [
            FailureCode::Other,
            FailureCode::AlreadyPaidDifferently,
            FailureCode::DestinationPermanentFailure,
            FailureCode::RouteNotFound,
            FailureCode::RouteTooExpensive,
            FailureCode::InvoiceExpired,
            FailureCode::StoppedRetrying,
        ];
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::Int32,
            )))
            .enum_values(Some(ALL.map(|c| c.code())))
            .description(Some(
                "Core Lightning's `pay` failure code: -1 other, 201 already paid differently, \
                 203 permanent failure at the destination, 205 no route, 206 route too \
                 expensive, 207 invoice expired, 210 stopped retrying.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for FailureCode {}

impl ToSql for FailureCode {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(self.code()))
    }
}

impl FromSql for FailureCode {
    fn from_sql(value: ValueRef<'_>) -> Result<Self, FromSqlError> {
        let code = i64::from_sql(value)?;
        FailureCode::from_code(code)
            .ok_or_else(|| FromSqlError(format!("unknown failure code {code}")))
    }
}

/// One payment, as stored in the `payments` table. Serializes to JSON with hashes, ids and
/// preimages as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaymentRecord {
    /// The row id.
    pub id: i64,
    /// Which way the money went.
    pub direction: Direction,
    /// How the payment was requested.
    pub kind: PaymentKind,
    /// Where it stands.
    pub status: PaymentStatus,
    /// What a pending outgoing payment is doing or waiting for (`None` once final, and for
    /// incoming payments).
    pub stage: Option<PaymentStage>,
    /// The payment hash (always set for incoming, BOLT11 and keysend payments; for BOLT12 it
    /// may only become known on completion).
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub payment_hash: Option<[u8; 32]>,
    /// LDK's `PaymentId` of the current attempt (outgoing only).
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub payment_id: Option<[u8; 32]>,
    /// The preimage: the proof of payment. Always set on complete outgoing payments.
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub preimage: Option<[u8; 32]>,
    /// The amount the payee receives, without fees.
    pub amount_msat: u64,
    /// Routing fees paid (outgoing, once complete).
    pub fee_msat: Option<u64>,
    /// Everything that left our channels, fees included (outgoing, once complete).
    pub amount_sent_msat: Option<u64>,
    /// Number of HTLCs (parts) the payment took.
    pub parts: Option<u32>,
    /// The payee's node id (lowercase hex).
    pub destination: Option<String>,
    /// The invoice (BOLT11 string, BOLT12 invoice or offer).
    pub invoice: Option<String>,
    /// The invoice's (or the caller's) description.
    pub description: Option<String>,
    /// The caller's label.
    pub label: Option<String>,
    /// App-defined JSON object text.
    pub metadata: Option<String>,
    /// Keysend TLV records: JSON object text, TLV type to hex value.
    pub custom_records: Option<String>,
    /// The client's idempotency key (unique per direction).
    pub idempotency_key: Option<String>,
    /// The fingerprint of the request that created (or last retried) the record.
    #[serde(serialize_with = "hex_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub request_hash: Option<[u8; 32]>,
    /// Why it failed (failed payments only).
    pub failure_code: Option<FailureCode>,
    /// Human-readable failure reason.
    pub failure_reason: Option<String>,
    /// Whether trying again might succeed (failed payments only).
    pub retryable: Option<bool>,
    /// How many times it was started (1, plus one per retry).
    pub attempts: u32,
    /// When it was first recorded (unix seconds).
    pub created_at: u64,
    /// When it last changed.
    pub updated_at: u64,
    /// When it completed.
    pub completed_at: Option<u64>,
    /// When the invoice expires.
    pub expires_at: Option<u64>,
    /// The API token that asked for the payment (outgoing; `None` without authentication).
    pub token_id: Option<String>,
    /// The fee limit of the current attempt (outgoing): what counts against the token's budgets
    /// beyond the amount while the payment is pending.
    pub fee_limit_msat: Option<u64>,
}

impl PaymentRecord {
    /// The position of this record in [`Store::list_payments`]'s order, to continue a listing
    /// after it ([`PaymentFilter::cursor`]).
    pub fn cursor(&self) -> PaymentCursor {
        PaymentCursor { created_at: self.created_at, id: self.id }
    }

    /// Whether the payment is in a final state (complete or failed).
    pub fn is_final(&self) -> bool {
        self.status != PaymentStatus::Pending
    }
}

/// The intent to pay, recorded by [`Store::begin_outgoing`] before any HTLC is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    /// How the payment was requested.
    pub kind: PaymentKind,
    /// The payment hash; required for BOLT11 and keysend.
    pub payment_hash: Option<[u8; 32]>,
    /// LDK's `PaymentId` for this attempt. Must be new (unique among all payments).
    pub payment_id: [u8; 32],
    /// The amount the payee is to receive, without fees.
    pub amount_msat: u64,
    /// The payee's node id (66 hex characters).
    pub destination: Option<String>,
    /// The invoice.
    pub invoice: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The caller's label.
    pub label: Option<String>,
    /// App-defined JSON object text.
    pub metadata: Option<String>,
    /// Keysend TLV records (JSON object text, TLV type to hex value).
    pub custom_records: Option<String>,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// The fingerprint of the request.
    pub request_hash: Option<[u8; 32]>,
    /// When the invoice expires.
    pub expires_at: Option<u64>,
    /// The API token that asks for the payment. When set, [`Store::begin_outgoing`] checks the
    /// token's spending limits in its transaction (see the `tokens` module).
    pub token_id: Option<String>,
    /// The most the payment may cost in routing fees: counted against the token's budgets
    /// while it is pending.
    pub fee_limit_msat: Option<u64>,
    /// How to send the payment again (the engine's own JSON, opaque here): what a payment
    /// interrupted by a restart is resumed with, within its retry window. `None` for a payment
    /// that is never resumed (a BOLT12 offer: a new request could bring a different invoice).
    pub send_plan: Option<String>,
}

impl NewOutgoing {
    /// An intent with the required fields; set the others directly.
    pub fn new(
        kind: PaymentKind,
        payment_hash: Option<[u8; 32]>,
        payment_id: [u8; 32],
        amount_msat: u64,
    ) -> NewOutgoing {
        NewOutgoing {
            kind,
            payment_hash,
            payment_id,
            amount_msat,
            destination: None,
            invoice: None,
            description: None,
            label: None,
            metadata: None,
            custom_records: None,
            idempotency_key: None,
            request_hash: None,
            expires_at: None,
            token_id: None,
            fee_limit_msat: None,
            send_plan: None,
        }
    }
}

/// What [`Store::begin_outgoing`] did. Only `Started` and `Retrying` mean "send now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutgoing {
    /// A new pending payment was recorded: send it.
    Started(PaymentRecord),
    /// A failed BOLT11 payment of the same hash, amount and destination was set back to
    /// pending with the new `payment_id` (`attempts + 1`, failure fields cleared): send it.
    Retrying(PaymentRecord),
    /// The request is already covered by this record, whatever its status: the same
    /// idempotency key with the same request, or a pending or complete payment of the same
    /// hash, amount and destination. Do not send.
    Existing(PaymentRecord),
    /// The idempotency key belongs to this record, made by a different request. Do not send.
    KeyConflict(PaymentRecord),
    /// This record has the same payment hash with a different amount or destination (Core
    /// Lightning error 201). Do not send.
    AlreadyPaidDifferently(PaymentRecord),
    /// The intent's token may not spend this (inactive token, per-payment maximum or budget).
    /// Nothing was written. Do not send.
    Refused(SpendRefusal),
}

impl BeginOutgoing {
    /// The record, for every outcome but [`BeginOutgoing::Refused`].
    pub fn record(&self) -> Option<&PaymentRecord> {
        match self {
            BeginOutgoing::Started(r)
            | BeginOutgoing::Retrying(r)
            | BeginOutgoing::Existing(r)
            | BeginOutgoing::KeyConflict(r)
            | BeginOutgoing::AlreadyPaidDifferently(r) => Some(r),
            BeginOutgoing::Refused(_) => None,
        }
    }

    /// Whether the engine should send HTLCs now (`Started` or `Retrying`).
    pub fn should_send(&self) -> bool {
        matches!(self, BeginOutgoing::Started(_) | BeginOutgoing::Retrying(_))
    }
}

/// A received payment, recorded by [`Store::record_incoming`] (on LDK's `PaymentClaimed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncoming {
    /// How the payment was requested.
    pub kind: PaymentKind,
    /// The payment hash.
    pub payment_hash: [u8; 32],
    /// The preimage, if known (must hash to `payment_hash`).
    pub preimage: Option<[u8; 32]>,
    /// The amount received.
    pub amount_msat: u64,
    /// Number of HTLCs (parts).
    pub parts: Option<u32>,
    /// The invoice; taken from the matching receive if not given.
    pub invoice: Option<String>,
    /// The description; taken from the matching receive if not given.
    pub description: Option<String>,
    /// A label.
    pub label: Option<String>,
    /// App-defined JSON object text.
    pub metadata: Option<String>,
    /// Keysend TLV records (JSON object text, TLV type to hex value).
    pub custom_records: Option<String>,
}

impl NewIncoming {
    /// A received payment with the required fields; set the others directly.
    pub fn new(kind: PaymentKind, payment_hash: [u8; 32], amount_msat: u64) -> NewIncoming {
        NewIncoming {
            kind,
            payment_hash,
            preimage: None,
            amount_msat,
            parts: None,
            invoice: None,
            description: None,
            label: None,
            metadata: None,
            custom_records: None,
        }
    }
}

/// What [`Store::record_incoming`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordIncoming {
    /// The payment was recorded now.
    Recorded(PaymentRecord),
    /// A payment with this hash was already recorded (an event replay); it was left as is.
    Existing(PaymentRecord),
}

impl RecordIncoming {
    /// The record, whatever the outcome.
    pub fn record(&self) -> &PaymentRecord {
        match self {
            RecordIncoming::Recorded(r) | RecordIncoming::Existing(r) => r,
        }
    }
}

/// A position in [`Store::list_payments`]'s order (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentCursor {
    /// The record's `created_at`.
    pub created_at: u64,
    /// The record's `id`.
    pub id: i64,
}

/// Which payments [`Store::list_payments`] returns. The default lists everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only this status.
    pub status: Option<PaymentStatus>,
    /// Only this kind.
    pub kind: Option<PaymentKind>,
    /// Only payments created at or after this time (inclusive).
    pub created_after: Option<u64>,
    /// Only payments created before this time (exclusive).
    pub created_before: Option<u64>,
    /// Only payments after this one in the listing order (keyset pagination: pass the last
    /// record's [`PaymentRecord::cursor`]).
    pub cursor: Option<PaymentCursor>,
    /// At most this many records.
    pub limit: Option<u32>,
    /// Skip this many records first (offset pagination).
    pub offset: Option<u32>,
    /// Only payments with this payment hash.
    pub payment_hash: Option<[u8; 32]>,
    /// List oldest first instead of newest first (Core Lightning's order). A `cursor` then
    /// continues after (newer than) the given record.
    pub oldest_first: bool,
    /// Only payments of this invoice or offer (the exact text recorded).
    pub invoice: Option<String>,
    /// Only payments without an invoice (keysend) to or from this node id (lowercase hex).
    pub spontaneous_with: Option<String>,
}

const PAYMENT_COLUMNS: &str = "id, direction, kind, status, payment_hash, payment_id, preimage, \
    amount_msat, fee_msat, amount_sent_msat, parts, destination, invoice, description, label, \
    metadata, custom_records, idempotency_key, request_hash, failure_code, failure_reason, \
    retryable, attempts, created_at, updated_at, completed_at, expires_at, token_id, \
    fee_limit_msat, stage";

fn payment_from_row(row: &Row<'_>) -> crate::db::Result<PaymentRecord> {
    Ok(PaymentRecord {
        id: row.get(0)?,
        direction: row.get(1)?,
        kind: row.get(2)?,
        status: row.get(3)?,
        payment_hash: row.get(4)?,
        payment_id: row.get(5)?,
        preimage: row.get(6)?,
        amount_msat: row.get(7)?,
        fee_msat: row.get(8)?,
        amount_sent_msat: row.get(9)?,
        parts: row.get(10)?,
        destination: row.get(11)?,
        invoice: row.get(12)?,
        description: row.get(13)?,
        label: row.get(14)?,
        metadata: row.get(15)?,
        custom_records: row.get(16)?,
        idempotency_key: row.get(17)?,
        request_hash: row.get(18)?,
        failure_code: row.get(19)?,
        failure_reason: row.get(20)?,
        retryable: row.get(21)?,
        attempts: row.get(22)?,
        created_at: row.get(23)?,
        updated_at: row.get(24)?,
        completed_at: row.get(25)?,
        expires_at: row.get(26)?,
        token_id: row.get(27)?,
        fee_limit_msat: row.get(28)?,
        stage: row.get(29)?,
    })
}

/// The first payment matching `clause` (a `WHERE` condition, optionally followed by
/// `ORDER BY`).
pub(crate) fn find_payment(
    conn: &Connection,
    clause: &str,
    params: impl Params,
) -> crate::db::Result<Option<PaymentRecord>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause} LIMIT 1");
    conn.prepare_cached(&sql)?.query_row(params, payment_from_row).optional()
}

/// All payments matching `clause`.
fn find_payments(
    conn: &Connection,
    clause: &str,
    params: impl Params,
) -> crate::db::Result<Vec<PaymentRecord>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, payment_from_row)?;
    rows.collect()
}

/// The payment with row id `id`, which must exist (used right after writing it).
pub(crate) fn payment_row(conn: &Connection, id: i64) -> crate::db::Result<PaymentRecord> {
    conn.prepare_cached(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?1"))?
        .query_row([id], payment_from_row)
}

/// SHA-256 of a preimage: its payment hash.
pub(crate) fn payment_hash_of(preimage: &[u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(preimage).to_byte_array()
}

/// Fails unless `preimage` hashes to `hash`.
pub(crate) fn check_preimage(preimage: &[u8; 32], hash: &[u8; 32]) -> Result<(), StoreError> {
    if &payment_hash_of(preimage) != hash {
        return Err(StoreError::invalid("the preimage does not match the payment hash"));
    }
    Ok(())
}

/// Fails unless `text` is a JSON object.
pub(crate) fn check_json_object(what: &str, text: Option<&str>) -> Result<(), TxError> {
    let Some(text) = text else { return Ok(()) };
    parse_json_object(what, text).map(|_| ())
}

/// `text` as a JSON object, or a refusal naming `what`.
fn parse_json_object(
    what: &str,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, TxError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(StoreError::invalid(format!("{what} is not a JSON object")).into()),
    }
}

/// Fails unless `text` is a JSON object mapping TLV types (decimal) to lowercase hex strings.
pub(crate) fn check_custom_records(text: Option<&str>) -> Result<(), TxError> {
    let Some(text) = text else { return Ok(()) };
    let records = parse_json_object("custom_records", text)?;
    let good = records.iter().all(|(key, value)| {
        let hex = value.as_str().unwrap_or("x");
        !key.is_empty()
            && key.len() <= 20
            && key.bytes().all(|b| b.is_ascii_digit())
            && hex.len() % 2 == 0
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !good {
        return Err(StoreError::invalid(
            "custom_records must map decimal TLV types to lowercase hex values",
        )
        .into());
    }
    Ok(())
}

/// Applies an RFC 7396 JSON Merge Patch to `target`.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    if let serde_json::Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

/// Fails on an empty idempotency key.
pub(crate) fn check_key(key: Option<&str>) -> Result<(), StoreError> {
    if key == Some("") {
        return Err(StoreError::invalid("the idempotency key is empty"));
    }
    Ok(())
}

/// Validates a node id (66 hex characters) and returns it in lowercase.
fn normalize_destination(destination: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(d) = destination else { return Ok(None) };
    if d.len() != 66 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::invalid("the destination is not a node id (66 hex characters)"));
    }
    Ok(Some(d.to_ascii_lowercase()))
}

/// A `u64` as a SQLite integer, saturating (for filter bounds only).
fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records the intent to pay, unless the request is already covered, in one transaction:
    /// first the idempotency key is checked, then the payment hash, then the new pending row is
    /// inserted.
    ///
    /// 1. Same idempotency key (outgoing): the same `request_hash` gives
    ///    [`BeginOutgoing::Existing`] with the original record, whatever its status (so a
    ///    failed payment is not retried under the same key: retry with a new key or none);
    ///    a different one gives [`BeginOutgoing::KeyConflict`].
    /// 2. Same payment hash, outgoing, of any kind: a pending or complete payment with the same
    ///    amount and destination gives [`BeginOutgoing::Existing`], with a different amount or
    ///    destination [`BeginOutgoing::AlreadyPaidDifferently`]. For a BOLT11 intent, a failed
    ///    BOLT11 payment of that hash with the same amount and destination is retried
    ///    ([`BeginOutgoing::Retrying`]: back to pending with the intent's `payment_id` and
    ///    `request_hash`, `attempts + 1`, failure and completion fields cleared, the intent's
    ///    key, invoice, description, label, metadata, custom records and expiry replacing the
    ///    old ones where given); with a different amount or destination it gives
    ///    [`BeginOutgoing::AlreadyPaidDifferently`]. "Same request" for a hash is therefore the
    ///    same hash, amount and destination: a retry may change e.g. the fee limit.
    /// 3. Before a new row or a retry: with a `token_id`, the token's spending limits are
    ///    checked ([`BeginOutgoing::Refused`] if the token is no longer active, the amount is
    ///    above its per-payment maximum, or amount plus `fee_limit_msat` does not fit what is
    ///    left of a budget; see the `tokens` module). A request answered with an existing record
    ///    spends nothing, so it is not checked.
    /// 4. Otherwise a new pending row is written ([`BeginOutgoing::Started`]).
    ///
    /// An intent answered with an existing record does not attach its idempotency key to it
    /// (only a retry takes over the intent's key).
    ///
    /// Fails with [`StoreError::Invalid`] (writing nothing) if a BOLT11 or keysend intent has no
    /// payment hash, the destination is not a node id, the key is empty, or `metadata` or
    /// `custom_records` are malformed; with [`StoreError::Database`] if `payment_id` is already
    /// used by another payment.
    pub fn begin_outgoing(
        &self,
        intent: NewOutgoing,
        now: u64,
    ) -> Result<BeginOutgoing, StoreError> {
        if matches!(intent.kind, PaymentKind::Bolt11 | PaymentKind::Keysend)
            && intent.payment_hash.is_none()
        {
            return Err(StoreError::invalid(format!(
                "a {} payment needs a payment hash",
                intent.kind
            )));
        }
        check_key(intent.idempotency_key.as_deref())?;
        let destination = normalize_destination(intent.destination.as_deref())?;
        let same_payment =
            |r: &PaymentRecord| r.amount_msat == intent.amount_msat && r.destination == destination;
        if intent.fee_limit_msat.is_some_and(|f| i64::try_from(f).is_err()) {
            return Err(StoreError::invalid("the fee limit is out of range"));
        }
        let spend_check = |tx: &Connection| -> Result<Option<SpendRefusal>, TxError> {
            match &intent.token_id {
                None => Ok(None),
                Some(token) => check_spending(
                    tx,
                    token,
                    intent.amount_msat,
                    intent.fee_limit_msat.unwrap_or(0),
                    now,
                ),
            }
        };

        self.transaction(|tx| {
            check_json_object("metadata", intent.metadata.as_deref())?;
            check_custom_records(intent.custom_records.as_deref())?;

            if let Some(key) = &intent.idempotency_key {
                // Keys are the token's own: another token's payment under the same key is
                // neither returned nor a conflict (schema version 7's unique index).
                let found = find_payment(
                    tx,
                    "direction = 'outgoing' AND idempotency_key = ?1 AND token_id IS ?2",
                    params![key, intent.token_id],
                )?;
                if let Some(rec) = found {
                    return Ok(if rec.request_hash == intent.request_hash {
                        BeginOutgoing::Existing(rec)
                    } else {
                        BeginOutgoing::KeyConflict(rec)
                    });
                }
            }

            if let Some(hash) = &intent.payment_hash {
                let live = find_payment(
                    tx,
                    "direction = 'outgoing' AND payment_hash = ?1 \
                     AND status IN ('pending', 'complete') \
                     ORDER BY status = 'complete' DESC, created_at DESC, id DESC",
                    [hash],
                )?;
                if let Some(rec) = live {
                    return Ok(if same_payment(&rec) {
                        BeginOutgoing::Existing(rec)
                    } else {
                        BeginOutgoing::AlreadyPaidDifferently(rec)
                    });
                }
                if intent.kind == PaymentKind::Bolt11 {
                    // Not pending or complete, so failed.
                    let failed = find_payment(
                        tx,
                        "direction = 'outgoing' AND kind = 'bolt11' AND payment_hash = ?1",
                        [hash],
                    )?;
                    if let Some(rec) = failed {
                        if !same_payment(&rec) {
                            return Ok(BeginOutgoing::AlreadyPaidDifferently(rec));
                        }
                        if let Some(refusal) = spend_check(tx)? {
                            return Ok(BeginOutgoing::Refused(refusal));
                        }
                        tx.prepare_cached(
                            "UPDATE payments SET status = 'pending', attempts = attempts + 1, \
                             payment_id = ?2, request_hash = ?3, \
                             idempotency_key = CASE WHEN CAST(?4 AS TEXT) IS NOT NULL THEN ?4 \
                             WHEN token_id IS ?12 THEN idempotency_key END, \
                             invoice = coalesce(?5, invoice), \
                             description = coalesce(?6, description), \
                             label = coalesce(?7, label), metadata = coalesce(?8, metadata), \
                             custom_records = coalesce(?9, custom_records), \
                             expires_at = coalesce(?10, expires_at), \
                             failure_code = NULL, failure_reason = NULL, retryable = NULL, \
                             preimage = NULL, fee_msat = NULL, amount_sent_msat = NULL, \
                             parts = NULL, completed_at = NULL, updated_at = ?11, \
                             attempted_at = ?11, token_id = ?12, fee_limit_msat = ?13, \
                             stage = 'recorded', send_plan = ?14 \
                             WHERE id = ?1 AND status = 'failed'",
                        )?
                        .execute(params![
                            rec.id,
                            intent.payment_id,
                            intent.request_hash,
                            intent.idempotency_key,
                            intent.invoice,
                            intent.description,
                            intent.label,
                            intent.metadata,
                            intent.custom_records,
                            intent.expires_at,
                            now,
                            intent.token_id,
                            intent.fee_limit_msat,
                            intent.send_plan,
                        ])?;
                        let retried = payment_row(tx, rec.id)?;
                        crate::attempts::insert_send(tx, &intent.payment_id, &retried, now)?;
                        return Ok(BeginOutgoing::Retrying(retried));
                    }
                }
            }

            if let Some(refusal) = spend_check(tx)? {
                return Ok(BeginOutgoing::Refused(refusal));
            }
            let id = tx
                .prepare_cached(
                    "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                 amount_msat, destination, invoice, description, label, metadata, \
                 custom_records, idempotency_key, request_hash, attempts, created_at, \
                 updated_at, expires_at, attempted_at, token_id, fee_limit_msat, stage, \
                 send_plan) \
                 VALUES ('outgoing', ?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                 ?12, 1, ?13, ?13, ?14, ?13, ?15, ?16, 'recorded', ?17) RETURNING id",
                )?
                .query_row(
                    params![
                        intent.kind,
                        intent.payment_hash,
                        intent.payment_id,
                        intent.amount_msat,
                        destination,
                        intent.invoice,
                        intent.description,
                        intent.label,
                        intent.metadata,
                        intent.custom_records,
                        intent.idempotency_key,
                        intent.request_hash,
                        now,
                        intent.expires_at,
                        intent.token_id,
                        intent.fee_limit_msat,
                        intent.send_plan,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            let started = payment_row(tx, id)?;
            crate::attempts::insert_send(tx, &intent.payment_id, &started, now)?;
            Ok(BeginOutgoing::Started(started))
        })
    }

    /// Records that the outgoing payment with LDK id `payment_id` succeeded (LDK's
    /// `PaymentSent`). Returns `None` if no such payment exists.
    ///
    /// * pending → complete, with the preimage, fee, amount sent, parts and `completed_at`;
    /// * complete → returned unchanged (an event replay);
    /// * failed → complete as well, with the failure fields cleared: the preimage proves that
    ///   the money moved, so the record follows the truth (a warning is logged).
    ///
    /// `payment_id` may be any of the payment's sends (an earlier attempt's too: the preimage
    /// proves the money moved, whichever attempt moved it). If the payment's hash is unknown
    /// (BOLT12) it is set from the preimage. Fails with
    /// [`StoreError::Invalid`] (writing nothing) if the preimage does not match the hash.
    pub fn complete_outgoing(
        &self,
        payment_id: &[u8; 32],
        preimage: &[u8; 32],
        fee_msat: Option<u64>,
        amount_sent_msat: Option<u64>,
        parts: Option<u32>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_payment(
                tx,
                "id = (SELECT payment_row FROM payment_sends WHERE ldk_payment_id = ?1)",
                [payment_id],
            )?
            else {
                return Ok(None);
            };
            if let Some(hash) = &rec.payment_hash {
                check_preimage(preimage, hash)?;
            }
            match rec.status {
                PaymentStatus::Complete => return Ok(Some(rec)),
                PaymentStatus::Failed => warn!(
                    id = rec.id,
                    attempts = rec.attempts,
                    "an outgoing payment recorded as failed has completed (its preimage arrived); \
                     recording it as complete"
                ),
                PaymentStatus::Pending => {}
            }
            tx.prepare_cached(
                "UPDATE payments SET status = 'complete', preimage = ?2, \
                 payment_hash = coalesce(payment_hash, ?3), fee_msat = ?4, \
                 amount_sent_msat = ?5, parts = ?6, failure_code = NULL, \
                 failure_reason = NULL, retryable = NULL, completed_at = ?7, updated_at = ?7, \
                 stage = NULL WHERE id = ?1",
            )?
            .execute(params![
                rec.id,
                preimage,
                payment_hash_of(preimage),
                fee_msat,
                amount_sent_msat,
                parts,
                now,
            ])?;
            let done = payment_row(tx, rec.id)?;
            let data = payment_data(&done)?;
            self.append_event(tx, EventType::PaymentSent, done.payment_hash, &data, None, now)?;
            Ok(Some(done))
        })
    }

    /// Records that the outgoing payment with LDK id `payment_id` failed (LDK's
    /// `PaymentFailed`, or the engine giving up). Returns `None` if no such payment exists.
    ///
    /// Only a pending payment whose current attempt is `payment_id` changes (to failed, with the
    /// code, reason and whether a retry might succeed); a complete or failed payment is returned
    /// unchanged, and the failure of an earlier attempt (which the engine replaced with a new
    /// one) finds nothing.
    pub fn fail_outgoing(
        &self,
        payment_id: &[u8; 32],
        code: FailureCode,
        reason: Option<&str>,
        retryable: bool,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let Some(rec) =
                find_payment(tx, "direction = 'outgoing' AND payment_id = ?1", [payment_id])?
            else {
                return Ok(None);
            };
            if rec.status != PaymentStatus::Pending {
                return Ok(Some(rec));
            }
            tx.prepare_cached(
                "UPDATE payments SET status = 'failed', failure_code = ?2, failure_reason = ?3, \
                 retryable = ?4, updated_at = ?5, stage = NULL \
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![rec.id, code, reason, retryable, now])?;
            let failed = payment_row(tx, rec.id)?;
            let data = payment_data(&failed)?;
            self.append_event(tx, EventType::PaymentFailed, failed.payment_hash, &data, None, now)?;
            Ok(Some(failed))
        })
    }

    /// Records a received payment (LDK's `PaymentClaimed`, which LDK may replay), idempotently
    /// by payment hash: a second call with the same hash returns
    /// [`RecordIncoming::Existing`] and changes nothing.
    ///
    /// In the same transaction, the matching receive (if any, and not yet final) is moved to
    /// settled with `received_msat = amount_msat` and the preimage, so the two tables never
    /// disagree; the invoice and description are taken from it if not given. A receive that is
    /// already canceled or expired is left as is (and a warning is logged).
    ///
    /// Fails with [`StoreError::Invalid`] if the preimage does not match the hash or the JSON
    /// fields are malformed.
    pub fn record_incoming(
        &self,
        payment: NewIncoming,
        now: u64,
    ) -> Result<RecordIncoming, StoreError> {
        if let Some(preimage) = &payment.preimage {
            check_preimage(preimage, &payment.payment_hash)?;
        }
        self.transaction(|tx| {
            check_json_object("metadata", payment.metadata.as_deref())?;
            check_custom_records(payment.custom_records.as_deref())?;
            let hash = payment.payment_hash;
            if let Some(rec) =
                find_payment(tx, "direction = 'incoming' AND payment_hash = ?1", [hash])?
            {
                return Ok(RecordIncoming::Existing(rec));
            }
            let receive = crate::receives::find_receive(tx, "payment_hash = ?1", [hash])?;
            let (invoice, description, expires_at) = match &receive {
                Some(r) => (
                    payment.invoice.clone().or_else(|| r.invoice.clone()),
                    payment.description.clone().or_else(|| r.description.clone()),
                    r.expires_at,
                ),
                None => (payment.invoice.clone(), payment.description.clone(), None),
            };
            let id = tx
                .prepare_cached(
                    "INSERT INTO payments (direction, kind, status, payment_hash, preimage, \
                 amount_msat, parts, invoice, description, label, metadata, custom_records, \
                 attempts, created_at, updated_at, completed_at, expires_at) \
                 VALUES ('incoming', ?1, 'complete', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, \
                 ?11, ?11, ?11, ?12) RETURNING id",
                )?
                .query_row(
                    params![
                        payment.kind,
                        hash,
                        payment.preimage,
                        payment.amount_msat,
                        payment.parts,
                        invoice,
                        description,
                        payment.label,
                        payment.metadata,
                        payment.custom_records,
                        now,
                        expires_at,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            if let Some(r) = receive {
                // Canceled at the claim deadline, yet claimed: a claim that raced the deadline
                // went through after all. The money arrived; the receive says so.
                let claimed_late = r.state == crate::ReceiveState::Canceled
                    && r.cancel_reason == Some(crate::CancelReason::HtlcsExpired);
                if claimed_late {
                    warn!(receive = r.id, "a receive canceled at its claim deadline was claimed");
                }
                if r.state.is_final() && r.state != crate::ReceiveState::Settled && !claimed_late {
                    warn!(
                        receive = r.id,
                        state = %r.state,
                        "a payment was claimed for a receive that is already final; \
                         the receive is left as is"
                    );
                } else if r.state != crate::ReceiveState::Settled {
                    tx.prepare_cached(
                        "UPDATE receives SET state = 'settled', received_msat = ?2, \
                         preimage = coalesce(preimage, ?3), finished_at = ?4, \
                         cancel_reason = NULL WHERE id = ?1",
                    )?
                    .execute(params![
                        r.id,
                        payment.amount_msat,
                        payment.preimage,
                        now
                    ])?;
                }
            }
            let received = payment_row(tx, id)?;
            let data = payment_data(&received)?;
            self.append_event(tx, EventType::PaymentReceived, Some(hash), &data, None, now)?;
            Ok(RecordIncoming::Recorded(received))
        })
    }

    /// Replaces a payment's app-defined metadata (JSON object text, or `None` to clear it).
    /// Returns `None` if no payment has row id `id`. Fails with [`StoreError::Invalid`] if the
    /// text is not a JSON object.
    pub fn update_metadata(
        &self,
        id: i64,
        metadata: Option<&str>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            check_json_object("metadata", metadata)?;
            let n = tx
                .prepare_cached("UPDATE payments SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, metadata, now])?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(payment_row(tx, id)?))
        })
    }

    /// Applies an RFC 7396 JSON Merge Patch (`patch`, JSON object text) to a payment's
    /// app-defined metadata, atomically (read and written in one transaction): members set to `null` are
    /// removed, objects are merged recursively, everything else replaces. Returns `None` if no
    /// payment has row id `id`, or if `owner` is a token and the payment is not its own (an
    /// outgoing payment it made, or an incoming one to a receive it created; `None`: any
    /// payment). Fails with [`StoreError::Invalid`] if `patch` is not a JSON object.
    pub fn merge_metadata(
        &self,
        id: i64,
        patch: &str,
        owner: Option<&str>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let patch = serde_json::Value::Object(parse_json_object("the metadata patch", patch)?);
            let current: Option<Option<String>> = tx
                .prepare_cached(
                    "SELECT metadata FROM payments WHERE id = ?1 AND (CAST(?2 AS TEXT) IS NULL \
                     OR (direction = 'outgoing' AND token_id = ?2) \
                     OR (direction = 'incoming' AND EXISTS (SELECT 1 FROM receives r \
                         WHERE r.payment_hash = payments.payment_hash AND r.token_id = ?2)))",
                )?
                .query_row(params![id, owner], |r| r.get(0))
                .optional()?;
            let Some(current) = current else {
                return Ok(None);
            };
            let mut merged = match current.as_deref() {
                Some(text) => serde_json::Value::Object(parse_json_object("metadata", text)?),
                None => serde_json::Value::Object(Default::default()),
            };
            merge_patch(&mut merged, &patch);
            tx.prepare_cached("UPDATE payments SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, merged.to_string(), now])?;
            Ok(Some(payment_row(tx, id)?))
        })
    }

    /// The payment with row id `id`.
    pub fn payment_by_id(&self, id: i64) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| find_payment(c, "id = ?1", [id]))
    }

    /// The outgoing payment whose current attempt has LDK id `payment_id`.
    pub fn payment_by_payment_id(
        &self,
        payment_id: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| find_payment(c, "payment_id = ?1", [payment_id]))
    }

    /// The most recent payment (by `created_at`, then id) in `direction` with this hash.
    pub fn payment_by_hash(
        &self,
        direction: Direction,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payment(
                c,
                "direction = ?1 AND payment_hash = ?2 ORDER BY created_at DESC, id DESC",
                params![direction, payment_hash],
            )
        })
    }

    /// The payment in `direction` with this idempotency key of token `token_id` (keys are per
    /// token; `None`: the payments made without authentication).
    pub fn payment_by_idempotency_key(
        &self,
        direction: Direction,
        key: &str,
        token_id: Option<&str>,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payment(
                c,
                "direction = ?1 AND idempotency_key = ?2 AND token_id IS ?3",
                params![direction, key, token_id],
            )
        })
    }

    /// Payments matching `filter`, newest first (by `created_at`, then id), or oldest first
    /// with [`PaymentFilter::oldest_first`].
    pub fn list_payments(&self, filter: &PaymentFilter) -> Result<Vec<PaymentRecord>, StoreError> {
        let mut clause = String::from("1 = 1");
        let mut args: Vec<Value> = Vec::new();
        let mut text = |clause: &mut String, cond: &str, v: &str| {
            clause.push_str(cond);
            args.push(Value::Text(v.to_string()));
        };
        if let Some(d) = filter.direction {
            text(&mut clause, " AND direction = ?", d.as_str());
        }
        if let Some(s) = filter.status {
            text(&mut clause, " AND status = ?", s.as_str());
        }
        if let Some(k) = filter.kind {
            text(&mut clause, " AND kind = ?", k.as_str());
        }
        if let Some(i) = &filter.invoice {
            text(&mut clause, " AND invoice = ?", i);
        }
        if let Some(d) = &filter.spontaneous_with {
            text(&mut clause, " AND invoice IS NULL AND destination = ?", d);
        }
        if let Some(t) = filter.created_after {
            clause.push_str(" AND created_at >= ?");
            args.push(Value::Integer(saturating_i64(t)));
        }
        if let Some(t) = filter.created_before {
            clause.push_str(" AND created_at < ?");
            args.push(Value::Integer(saturating_i64(t)));
        }
        if let Some(h) = filter.payment_hash {
            clause.push_str(" AND payment_hash = ?");
            args.push(Value::Blob(h.to_vec()));
        }
        let (cmp, order) = if filter.oldest_first { ('>', "ASC") } else { ('<', "DESC") };
        if let Some(c) = filter.cursor {
            let t = saturating_i64(c.created_at);
            clause
                .push_str(&format!(" AND (created_at {cmp} ? OR (created_at = ? AND id {cmp} ?))"));
            args.extend([Value::Integer(t), Value::Integer(t), Value::Integer(c.id)]);
        }
        clause.push_str(&format!(" ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?"));
        args.push(Value::Integer(filter.limit.map_or(i64::MAX, i64::from)));
        args.push(Value::Integer(filter.offset.map_or(0, i64::from)));
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
        self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, payment_from_row)?;
            rows.collect()
        })
    }

    /// All pending outgoing payments, oldest first: what the engine reconciles with LDK on
    /// start-up.
    pub fn pending_outgoing(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payments(
                c,
                "direction = 'outgoing' AND status = 'pending' ORDER BY created_at, id",
                [],
            )
        })
    }
}

/// Serializes an optional 32-byte value as lowercase hex.
pub(crate) fn hex_opt<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(bytes) => s.serialize_str(&to_hex(bytes)),
        None => s.serialize_none(),
    }
}

/// Lowercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    const DEST: &str = "02abababababababababababababababababababababababababababababababab";
    const OTHER_DEST: &str = "03cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A preimage and its payment hash.
    fn secret(n: u8) -> ([u8; 32], [u8; 32]) {
        let preimage = [n; 32];
        (preimage, payment_hash_of(&preimage))
    }

    fn bolt11(hash: [u8; 32], payment_id: u8, amount_msat: u64) -> NewOutgoing {
        let mut intent =
            NewOutgoing::new(PaymentKind::Bolt11, Some(hash), [payment_id; 32], amount_msat);
        intent.destination = Some(DEST.to_string());
        intent.invoice = Some("lnbcrt1invoice".to_string());
        intent
    }

    fn keyed(mut intent: NewOutgoing, key: &str, request: u8) -> NewOutgoing {
        intent.idempotency_key = Some(key.to_string());
        intent.request_hash = Some([request; 32]);
        intent
    }

    fn count(store: &Store) -> i64 {
        store.read(|c| c.query_row("SELECT count(*) FROM payments", [], |r| r.get(0))).unwrap()
    }

    #[test]
    fn started_then_existing_by_hash_while_pending_and_complete() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let started = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
        let BeginOutgoing::Started(rec) = &started else { panic!("{started:?}") };
        assert!(started.should_send());
        assert_eq!(rec.direction, Direction::Outgoing);
        assert_eq!(rec.status, PaymentStatus::Pending);
        assert_eq!(rec.payment_hash, Some(hash));
        assert_eq!(rec.payment_id, Some([1; 32]));
        assert_eq!(rec.attempts, 1);
        assert_eq!((rec.created_at, rec.updated_at), (100, 100));
        assert_eq!(rec.destination.as_deref(), Some(DEST));

        // Same hash, amount and destination while pending: the original, never a second send.
        let again = store.begin_outgoing(bolt11(hash, 2, 1000), 101).unwrap();
        assert_eq!(again, BeginOutgoing::Existing(rec.clone()));
        assert!(!again.should_send());

        let done = store
            .complete_outgoing(&[1; 32], &preimage, Some(5), Some(1005), Some(2), 110)
            .unwrap()
            .unwrap();
        let again = store.begin_outgoing(bolt11(hash, 3, 1000), 120).unwrap();
        assert_eq!(again, BeginOutgoing::Existing(done));
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn same_key_same_request_is_existing_whatever_the_status() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let first = store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k1", 7), 100).unwrap();
        let BeginOutgoing::Started(rec) = first else { panic!() };
        let again = store.begin_outgoing(keyed(bolt11(hash, 2, 1000), "k1", 7), 101).unwrap();
        assert_eq!(again, BeginOutgoing::Existing(rec.clone()));

        // Failed: the same key still answers with the original record, it does not retry.
        let failed = store
            .fail_outgoing(&[1; 32], FailureCode::RouteNotFound, Some("no route"), true, 102)
            .unwrap()
            .unwrap();
        let again = store.begin_outgoing(keyed(bolt11(hash, 3, 1000), "k1", 7), 103).unwrap();
        assert_eq!(again, BeginOutgoing::Existing(failed));

        // The key check comes first: another hash under the same key and request is the
        // original too.
        let (_, other_hash) = secret(2);
        let again = store.begin_outgoing(keyed(bolt11(other_hash, 4, 1000), "k1", 7), 104).unwrap();
        assert_eq!(again.record().unwrap().id, rec.id);
        assert!(matches!(again, BeginOutgoing::Existing(_)));
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn same_key_different_request_is_a_conflict() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let (_, other_hash) = secret(2);
        let BeginOutgoing::Started(rec) =
            store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k1", 7), 100).unwrap()
        else {
            panic!()
        };
        let conflict =
            store.begin_outgoing(keyed(bolt11(other_hash, 2, 5000), "k1", 8), 101).unwrap();
        assert_eq!(conflict, BeginOutgoing::KeyConflict(rec.clone()));
        // No request hash is a different request too.
        let mut no_fingerprint = keyed(bolt11(other_hash, 3, 5000), "k1", 8);
        no_fingerprint.request_hash = None;
        assert_eq!(
            store.begin_outgoing(no_fingerprint, 102).unwrap(),
            BeginOutgoing::KeyConflict(rec)
        );
        // Keys are per direction and per key: another key is a new payment.
        let other = store.begin_outgoing(keyed(bolt11(other_hash, 4, 5000), "k2", 8), 103);
        assert!(matches!(other.unwrap(), BeginOutgoing::Started(_)));
        assert_eq!(count(&store), 2);
    }

    #[test]
    fn same_hash_different_amount_or_destination_is_already_paid_differently() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let BeginOutgoing::Started(rec) = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap()
        else {
            panic!()
        };
        let apd = store.begin_outgoing(bolt11(hash, 2, 2000), 101).unwrap();
        assert_eq!(apd, BeginOutgoing::AlreadyPaidDifferently(rec.clone()));
        let mut other_dest = bolt11(hash, 3, 1000);
        other_dest.destination = Some(OTHER_DEST.to_string());
        assert_eq!(
            store.begin_outgoing(other_dest, 102).unwrap(),
            BeginOutgoing::AlreadyPaidDifferently(rec.clone())
        );
        // Different kinds with the same hash are covered too (keysend, while pending).
        let keysend = NewOutgoing::new(PaymentKind::Keysend, Some(hash), [9; 32], 3000);
        assert_eq!(
            store.begin_outgoing(keysend, 103).unwrap(),
            BeginOutgoing::AlreadyPaidDifferently(rec.clone())
        );

        // Failed with a different amount: still refused, not retried.
        store.fail_outgoing(&[1; 32], FailureCode::Other, None, true, 104).unwrap();
        let apd = store.begin_outgoing(bolt11(hash, 4, 2000), 105).unwrap();
        assert!(matches!(apd, BeginOutgoing::AlreadyPaidDifferently(ref r) if r.id == rec.id));

        // Complete with a different amount: refused.
        store.begin_outgoing(bolt11(hash, 5, 1000), 106).unwrap();
        store.complete_outgoing(&[5; 32], &preimage, None, None, None, 107).unwrap();
        let apd = store.begin_outgoing(bolt11(hash, 6, 999), 108).unwrap();
        assert!(matches!(apd, BeginOutgoing::AlreadyPaidDifferently(ref r)
            if r.status == PaymentStatus::Complete));
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn failed_bolt11_payment_is_retried_in_place() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let mut first = keyed(bolt11(hash, 1, 1000), "k1", 7);
        first.label = Some("first".into());
        let BeginOutgoing::Started(rec) = store.begin_outgoing(first, 100).unwrap() else {
            panic!()
        };
        let failed = store
            .fail_outgoing(&[1; 32], FailureCode::RouteTooExpensive, Some("fees"), true, 110)
            .unwrap()
            .unwrap();
        assert_eq!(failed.status, PaymentStatus::Failed);
        assert_eq!(failed.failure_code, Some(FailureCode::RouteTooExpensive));
        assert_eq!(failed.failure_reason.as_deref(), Some("fees"));
        assert_eq!(failed.retryable, Some(true));
        assert_eq!(failed.updated_at, 110);

        // A new request (new key, new fingerprint, e.g. a higher fee limit) for the same
        // invoice: the failed row goes back to pending with the new payment id.
        let retry = store.begin_outgoing(keyed(bolt11(hash, 2, 1000), "k2", 8), 120).unwrap();
        let BeginOutgoing::Retrying(retried) = &retry else { panic!("{retry:?}") };
        assert!(retry.should_send());
        assert_eq!(retried.id, rec.id);
        assert_eq!(retried.status, PaymentStatus::Pending);
        assert_eq!(retried.attempts, 2);
        assert_eq!(retried.payment_id, Some([2; 32]));
        assert_eq!(retried.request_hash, Some([8; 32]));
        assert_eq!(retried.idempotency_key.as_deref(), Some("k2"));
        assert_eq!(retried.label.as_deref(), Some("first"), "kept where not given");
        assert_eq!(
            (retried.failure_code, retried.failure_reason.as_deref(), retried.retryable),
            (None, None, None)
        );
        assert_eq!((retried.created_at, retried.updated_at), (100, 120));
        assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap(), None);

        // The old attempt's late failure no longer matches anything.
        assert_eq!(
            store.fail_outgoing(&[1; 32], FailureCode::Other, None, false, 121).unwrap(),
            None
        );
        // While pending again, a third request is Existing.
        let again = store.begin_outgoing(bolt11(hash, 3, 1000), 122).unwrap();
        assert_eq!(again, BeginOutgoing::Existing(retried.clone()));

        let done = store
            .complete_outgoing(&[2; 32], &preimage, Some(3), Some(1003), Some(1), 130)
            .unwrap()
            .unwrap();
        assert_eq!(done.status, PaymentStatus::Complete);
        assert_eq!(done.attempts, 2);
        assert_eq!(
            store.begin_outgoing(bolt11(hash, 4, 1000), 131).unwrap(),
            BeginOutgoing::Existing(done)
        );
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn complete_and_failed_stay_final() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
        let done = store
            .complete_outgoing(&[1; 32], &preimage, Some(5), Some(1005), Some(2), 110)
            .unwrap()
            .unwrap();
        assert_eq!(done.status, PaymentStatus::Complete);
        assert_eq!(done.preimage, Some(preimage));
        assert_eq!(
            (done.fee_msat, done.amount_sent_msat, done.parts),
            (Some(5), Some(1005), Some(2))
        );
        assert_eq!(done.completed_at, Some(110));

        // Complete is never changed: not by a failure, not by a second completion.
        let after_fail = store
            .fail_outgoing(&[1; 32], FailureCode::Other, Some("late"), true, 120)
            .unwrap()
            .unwrap();
        assert_eq!(after_fail, done);
        let after_complete = store
            .complete_outgoing(&[1; 32], &preimage, Some(99), Some(9999), Some(9), 130)
            .unwrap()
            .unwrap();
        assert_eq!(after_complete, done);
        assert_eq!(store.payment_by_id(done.id).unwrap(), Some(done));

        // Failed is not changed by a second failure.
        let (preimage2, hash2) = secret(2);
        store.begin_outgoing(bolt11(hash2, 2, 1000), 100).unwrap();
        let failed = store
            .fail_outgoing(&[2; 32], FailureCode::InvoiceExpired, Some("expired"), false, 110)
            .unwrap()
            .unwrap();
        let again = store
            .fail_outgoing(&[2; 32], FailureCode::RouteNotFound, Some("other"), true, 120)
            .unwrap()
            .unwrap();
        assert_eq!(again, failed);

        // ... but the preimage proves it was paid: the truth wins.
        let truth = store
            .complete_outgoing(&[2; 32], &preimage2, Some(1), Some(1001), Some(1), 130)
            .unwrap()
            .unwrap();
        assert_eq!(truth.status, PaymentStatus::Complete);
        assert_eq!(truth.preimage, Some(preimage2));
        assert_eq!(
            (truth.failure_code, truth.failure_reason.as_deref(), truth.retryable),
            (None, None, None)
        );
        assert_eq!(truth.completed_at, Some(130));
        // And that is final as well.
        assert_eq!(
            store.fail_outgoing(&[2; 32], FailureCode::Other, None, true, 140).unwrap(),
            Some(truth)
        );
    }

    #[test]
    fn complete_checks_the_preimage_and_learns_unknown_hashes() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let (wrong, _) = secret(2);
        let BeginOutgoing::Started(rec) = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap()
        else {
            panic!()
        };
        let err = store.complete_outgoing(&[1; 32], &wrong, None, None, None, 110).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
        assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(rec));
        assert_eq!(
            store.complete_outgoing(&[7; 32], &preimage, None, None, None, 110).unwrap(),
            None
        );
        assert_eq!(
            store.fail_outgoing(&[7; 32], FailureCode::Other, None, true, 110).unwrap(),
            None
        );

        // BOLT12: the hash becomes known with the preimage.
        let offer = NewOutgoing::new(PaymentKind::Bolt12, None, [3; 32], 500);
        let BeginOutgoing::Started(rec) = store.begin_outgoing(offer, 100).unwrap() else {
            panic!()
        };
        assert_eq!(rec.payment_hash, None);
        let (p3, h3) = secret(3);
        let done = store.complete_outgoing(&[3; 32], &p3, None, None, None, 120).unwrap().unwrap();
        assert_eq!(done.payment_hash, Some(h3));
        assert_eq!(store.payment_by_hash(Direction::Outgoing, &h3).unwrap(), Some(done));
    }

    #[test]
    fn invalid_intents_write_nothing() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let invalid = |intent: NewOutgoing| {
            let err = store.begin_outgoing(intent, 100).unwrap_err();
            assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
        };
        invalid(NewOutgoing::new(PaymentKind::Bolt11, None, [1; 32], 1000));
        invalid(NewOutgoing::new(PaymentKind::Keysend, None, [1; 32], 1000));
        let mut i = bolt11(hash, 1, 1000);
        i.destination = Some("02ab".into());
        invalid(i);
        let mut i = bolt11(hash, 1, 1000);
        i.destination = Some(format!("02{}", "zz".repeat(32)));
        invalid(i);
        for bad in ["", "[1]", "{", "\"x\"", "{\"a\":1"] {
            let mut i = bolt11(hash, 1, 1000);
            i.metadata = Some(bad.into());
            invalid(i);
        }
        for bad in [
            "[]",
            "{\"x\":\"00\"}",
            "{\"5\":\"0g\"}",
            "{\"5\":\"abc\"}",
            "{\"5\":1}",
            "{\"5\":\"AB\"}",
        ] {
            let mut i = bolt11(hash, 1, 1000);
            i.custom_records = Some(bad.into());
            invalid(i);
        }
        invalid(keyed(bolt11(hash, 1, 1000), "", 1));
        assert_eq!(count(&store), 0);

        // Valid JSON goes through; a reused payment id is a database error.
        let mut ok = bolt11(hash, 1, 1000);
        ok.metadata = Some("{\"order\": 42, \"tags\": [\"a\"]}".into());
        ok.custom_records = Some("{\"5482373484\": \"00ff\", \"65537\": \"\"}".into());
        let BeginOutgoing::Started(rec) = store.begin_outgoing(ok, 100).unwrap() else { panic!() };
        assert_eq!(
            rec.custom_records.as_deref(),
            Some("{\"5482373484\": \"00ff\", \"65537\": \"\"}")
        );
        let (_, other) = secret(2);
        let err = store.begin_outgoing(bolt11(other, 1, 1000), 100).unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn destination_is_compared_in_lowercase() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let mut upper = bolt11(hash, 1, 1000);
        upper.destination = Some(DEST.to_ascii_uppercase());
        let BeginOutgoing::Started(rec) = store.begin_outgoing(upper, 100).unwrap() else {
            panic!()
        };
        assert_eq!(rec.destination.as_deref(), Some(DEST));
        assert_eq!(
            store.begin_outgoing(bolt11(hash, 2, 1000), 101).unwrap(),
            BeginOutgoing::Existing(rec)
        );
    }

    /// 20 threads over 4 connections (stores) to the same file.
    fn race(intent: impl Fn(u8) -> NewOutgoing + Send + Sync + 'static) -> Vec<BeginOutgoing> {
        const THREADS: usize = 20;
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Arc<Store>> =
            (0..4).map(|_| Arc::new(Store::open(dir.path()).unwrap())).collect();
        let barrier = Arc::new(Barrier::new(THREADS));
        let intent = Arc::new(intent);
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let store = Arc::clone(&stores[i % stores.len()]);
                let barrier = Arc::clone(&barrier);
                let intent = Arc::clone(&intent);
                std::thread::spawn(move || {
                    let intent = intent(i as u8 + 1);
                    barrier.wait();
                    store.begin_outgoing(intent, 100 + i as u64).unwrap()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(count(&stores[0]), 1);
        let started: Vec<_> =
            results.iter().filter(|r| matches!(r, BeginOutgoing::Started(_))).collect();
        assert_eq!(started.len(), 1, "{results:?}");
        let id = started[0].record().unwrap().id;
        for r in &results {
            if !matches!(r, BeginOutgoing::Started(_)) {
                assert!(matches!(r, BeginOutgoing::Existing(rec) if rec.id == id), "{r:?}");
            }
        }
        results
    }

    #[test]
    fn concurrent_begins_with_the_same_hash_start_once() {
        let (_, hash) = secret(1);
        race(move |i| bolt11(hash, i, 1000));
    }

    #[test]
    fn concurrent_begins_with_the_same_key_start_once() {
        // Different hashes, one key and request: only the key ties them together.
        race(|i| keyed(bolt11(secret(i).1, i, 1000), "same-key", 7));
    }

    #[test]
    fn lookups() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let BeginOutgoing::Started(out) =
            store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k", 1), 100).unwrap()
        else {
            panic!()
        };
        let mut incoming = NewIncoming::new(PaymentKind::Bolt11, hash, 1000);
        incoming.preimage = Some(preimage);
        let inc = store.record_incoming(incoming, 105).unwrap().record().clone();

        assert_eq!(store.payment_by_id(out.id).unwrap().as_ref(), Some(&out));
        assert_eq!(store.payment_by_id(999).unwrap(), None);
        assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap().as_ref(), Some(&out));
        assert_eq!(store.payment_by_hash(Direction::Outgoing, &hash).unwrap().as_ref(), Some(&out));
        assert_eq!(store.payment_by_hash(Direction::Incoming, &hash).unwrap().as_ref(), Some(&inc));
        assert_eq!(store.payment_by_hash(Direction::Incoming, &[0; 32]).unwrap(), None);
        assert_eq!(
            store.payment_by_idempotency_key(Direction::Outgoing, "k", None).unwrap().as_ref(),
            Some(&out)
        );
        assert_eq!(store.payment_by_idempotency_key(Direction::Incoming, "k", None).unwrap(), None);

        // Most recent by hash among non-unique kinds.
        let mut ks = NewOutgoing::new(PaymentKind::Bolt12, Some([5; 32]), [5; 32], 1);
        store.begin_outgoing(ks.clone(), 200).unwrap();
        store.fail_outgoing(&[5; 32], FailureCode::Other, None, true, 201).unwrap();
        ks.payment_id = [6; 32];
        let BeginOutgoing::Started(newer) = store.begin_outgoing(ks, 300).unwrap() else {
            panic!()
        };
        assert_eq!(store.payment_by_hash(Direction::Outgoing, &[5; 32]).unwrap(), Some(newer));
    }

    #[test]
    fn list_filters_and_pagination() {
        let (_d, store) = store();
        // 12 outgoing payments, created at 100, 110, ..., two per timestamp from 150 on;
        // every third failed, every fourth complete.
        let mut created = Vec::new();
        for i in 0u8..12 {
            let (preimage, hash) = secret(i + 1);
            let kind = if i % 2 == 0 { PaymentKind::Bolt11 } else { PaymentKind::Keysend };
            let t = if i < 5 { 100 + 10 * u64::from(i) } else { 150 + 10 * u64::from((i - 5) / 2) };
            let mut intent = NewOutgoing::new(kind, Some(hash), [i + 1; 32], 1000);
            intent.destination = Some(DEST.into());
            let rec = store.begin_outgoing(intent, t).unwrap().record().unwrap().clone();
            if i % 3 == 0 {
                store.fail_outgoing(&[i + 1; 32], FailureCode::Other, None, true, t + 1).unwrap();
            } else if i % 4 == 1 {
                store.complete_outgoing(&[i + 1; 32], &preimage, None, None, None, t + 1).unwrap();
            }
            created.push(store.payment_by_id(rec.id).unwrap().unwrap());
        }
        let (p, h) = secret(100);
        let mut inc = NewIncoming::new(PaymentKind::Bolt11, h, 5);
        inc.preimage = Some(p);
        let incoming = store.record_incoming(inc, 155).unwrap().record().clone();

        let ids = |f: PaymentFilter| -> Vec<i64> {
            store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
        };
        let mut all: Vec<&PaymentRecord> = created.iter().chain([&incoming]).collect();
        all.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        let all_ids: Vec<i64> = all.iter().map(|r| r.id).collect();
        assert_eq!(ids(PaymentFilter::default()), all_ids);

        let expect = |pred: &dyn Fn(&PaymentRecord) -> bool| -> Vec<i64> {
            all.iter().filter(|r| pred(r)).map(|r| r.id).collect()
        };
        assert_eq!(
            ids(PaymentFilter { direction: Some(Direction::Incoming), ..Default::default() }),
            [incoming.id]
        );
        for status in [PaymentStatus::Pending, PaymentStatus::Complete, PaymentStatus::Failed] {
            let got = ids(PaymentFilter {
                direction: Some(Direction::Outgoing),
                status: Some(status),
                ..Default::default()
            });
            let want = expect(&|r| r.status == status && r.direction == Direction::Outgoing);
            assert!(!want.is_empty());
            assert_eq!(got, want, "{status}");
        }
        assert_eq!(
            ids(PaymentFilter { kind: Some(PaymentKind::Keysend), ..Default::default() }),
            expect(&|r| r.kind == PaymentKind::Keysend)
        );
        assert_eq!(
            ids(PaymentFilter {
                created_after: Some(120),
                created_before: Some(160),
                ..Default::default()
            }),
            expect(&|r| (120..160).contains(&r.created_at))
        );

        // Offset pagination and cursor pagination both walk the whole list exactly once.
        let mut by_offset = Vec::new();
        for page in 0.. {
            let got =
                ids(PaymentFilter { limit: Some(5), offset: Some(page * 5), ..Default::default() });
            if got.is_empty() {
                break;
            }
            assert!(got.len() <= 5);
            by_offset.extend(got);
        }
        assert_eq!(by_offset, all_ids);
        let mut by_cursor = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_payments(&PaymentFilter { limit: Some(4), cursor, ..Default::default() })
                .unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(last.cursor());
            by_cursor.extend(page.iter().map(|r| r.id));
        }
        assert_eq!(by_cursor, all_ids);
        // Cursor with a filter.
        let first = store
            .list_payments(&PaymentFilter {
                direction: Some(Direction::Outgoing),
                limit: Some(3),
                ..Default::default()
            })
            .unwrap();
        let rest = ids(PaymentFilter {
            direction: Some(Direction::Outgoing),
            cursor: Some(first[2].cursor()),
            ..Default::default()
        });
        let want: Vec<i64> = expect(&|r| r.direction == Direction::Outgoing).split_off(3);
        assert_eq!(rest, want);

        // pending_outgoing is oldest first.
        let pending: Vec<i64> =
            store.pending_outgoing().unwrap().into_iter().map(|r| r.id).collect();
        let mut want =
            expect(&|r| r.status == PaymentStatus::Pending && r.direction == Direction::Outgoing);
        want.reverse();
        assert_eq!(pending, want);
    }

    #[test]
    fn update_metadata_validates_json() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let rec =
            store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap().record().unwrap().clone();
        let updated = store.update_metadata(rec.id, Some("{\"a\": 1}"), 150).unwrap().unwrap();
        assert_eq!(updated.metadata.as_deref(), Some("{\"a\": 1}"));
        assert_eq!(updated.updated_at, 150);
        let err = store.update_metadata(rec.id, Some("[1, 2]"), 160).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
        assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(updated));
        let cleared = store.update_metadata(rec.id, None, 170).unwrap().unwrap();
        assert_eq!(cleared.metadata, None);
        assert_eq!(store.update_metadata(999, None, 170).unwrap(), None);
    }

    #[test]
    fn merge_metadata_follows_rfc_7396() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        let rec =
            store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap().record().unwrap().clone();
        let first = store
            .merge_metadata(rec.id, r#"{"order": 42, "tags": {"a": 1, "b": 2}}"#, None, 110)
            .unwrap()
            .unwrap();
        let meta: serde_json::Value =
            serde_json::from_str(first.metadata.as_deref().unwrap()).unwrap();
        assert_eq!(meta, serde_json::json!({"order": 42, "tags": {"a": 1, "b": 2}}));
        let second = store
            .merge_metadata(
                rec.id,
                r#"{"order": null, "tags": {"b": 3, "c": [1]}, "x": "y"}"#,
                None,
                120,
            )
            .unwrap()
            .unwrap();
        let meta: serde_json::Value =
            serde_json::from_str(second.metadata.as_deref().unwrap()).unwrap();
        assert_eq!(meta, serde_json::json!({"tags": {"a": 1, "b": 3, "c": [1]}, "x": "y"}));
        assert_eq!(second.updated_at, 120);
        for bad in ["[1]", "null", "3", "{"] {
            let err = store.merge_metadata(rec.id, bad, None, 130).unwrap_err();
            assert!(matches!(err, StoreError::Invalid { .. }), "{bad}: {err:?}");
        }
        assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(second));
        assert_eq!(store.merge_metadata(999, "{}", None, 140).unwrap(), None);
    }

    #[test]
    fn list_payments_by_invoice_or_keysend_peer_pages_what_matches() {
        let (_d, store) = store();
        let mut ids = Vec::new();
        for i in 0..5u8 {
            let (_, hash) = secret(i + 1);
            let mut intent = bolt11(hash, i + 1, 1000);
            intent.invoice = Some(if i % 2 == 0 { "lnbcrt1even" } else { "lnbcrt1odd" }.into());
            if i == 4 {
                intent.kind = PaymentKind::Keysend;
                intent.invoice = None;
            }
            ids.push(
                store.begin_outgoing(intent, 100 + u64::from(i)).unwrap().record().unwrap().id,
            );
        }
        let list = |f: PaymentFilter| -> Vec<i64> {
            store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
        };
        let even = || PaymentFilter { invoice: Some("lnbcrt1even".into()), ..Default::default() };
        assert_eq!(list(even()), vec![ids[2], ids[0]], "newest first, keysend excluded");
        assert_eq!(list(PaymentFilter { limit: Some(1), offset: Some(1), ..even() }), vec![ids[0]]);
        let keysend = PaymentFilter { spontaneous_with: Some(DEST.into()), ..Default::default() };
        assert_eq!(list(keysend), vec![ids[4]]);
    }

    #[test]
    fn list_payments_by_hash_and_oldest_first() {
        let (_d, store) = store();
        let mut ids = Vec::new();
        for i in 0..4u8 {
            let (_, hash) = secret(i + 1);
            ids.push(
                store
                    .begin_outgoing(bolt11(hash, i + 1, 1000), 100 + u64::from(i))
                    .unwrap()
                    .record()
                    .unwrap()
                    .id,
            );
        }
        let list = |f: PaymentFilter| -> Vec<i64> {
            store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
        };
        assert_eq!(list(PaymentFilter { oldest_first: true, ..Default::default() }), ids);
        let first_two = store
            .list_payments(&PaymentFilter {
                oldest_first: true,
                limit: Some(2),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            list(PaymentFilter {
                oldest_first: true,
                cursor: Some(first_two[1].cursor()),
                ..Default::default()
            }),
            ids[2..]
        );
        let (_, h3) = secret(3);
        assert_eq!(list(PaymentFilter { payment_hash: Some(h3), ..Default::default() }), [ids[2]]);
        let (_, unknown) = secret(9);
        assert!(
            list(PaymentFilter { payment_hash: Some(unknown), ..Default::default() }).is_empty()
        );
    }

    #[test]
    fn record_incoming_is_idempotent_and_settles_the_receive() {
        let (_d, store) = store();
        let (preimage, hash) = secret(1);
        let mut receive = crate::NewReceive::new(hash);
        receive.invoice = Some("lnbcrt1ours".into());
        receive.description = Some("coffee".into());
        receive.preimage = Some(preimage);
        receive.expires_at = Some(4000);
        store.insert_receive(receive, 100).unwrap();

        let mut incoming = NewIncoming::new(PaymentKind::Bolt11, hash, 1500);
        incoming.preimage = Some(preimage);
        incoming.parts = Some(2);
        let first = store.record_incoming(incoming.clone(), 200).unwrap();
        let RecordIncoming::Recorded(rec) = &first else { panic!("{first:?}") };
        assert_eq!(rec.direction, Direction::Incoming);
        assert_eq!(rec.status, PaymentStatus::Complete);
        assert_eq!(rec.amount_msat, 1500);
        assert_eq!(rec.invoice.as_deref(), Some("lnbcrt1ours"));
        assert_eq!(rec.description.as_deref(), Some("coffee"));
        assert_eq!((rec.completed_at, rec.expires_at), (Some(200), Some(4000)));
        let settled = store.receive_by_hash(&hash).unwrap().unwrap();
        assert_eq!(settled.state, crate::ReceiveState::Settled);
        assert_eq!((settled.received_msat, settled.finished_at), (Some(1500), Some(200)));

        // Replay (LDK may replay PaymentClaimed): no second row, nothing changes.
        incoming.amount_msat = 1;
        let replay = store.record_incoming(incoming, 300).unwrap();
        assert_eq!(replay, RecordIncoming::Existing(rec.clone()));
        assert_eq!(count(&store), 1);
        assert_eq!(store.receive_by_hash(&hash).unwrap(), Some(settled));

        // Without a receive (keysend) it is recorded alone; a wrong preimage is refused.
        let (p2, h2) = secret(2);
        let mut keysend = NewIncoming::new(PaymentKind::Keysend, h2, 10);
        keysend.preimage = Some(preimage);
        assert!(matches!(
            store.record_incoming(keysend.clone(), 400).unwrap_err(),
            StoreError::Invalid { .. }
        ));
        keysend.preimage = Some(p2);
        keysend.custom_records = Some("{\"34349334\": \"6869\"}".into());
        assert!(matches!(
            store.record_incoming(keysend, 400).unwrap(),
            RecordIncoming::Recorded(_)
        ));
        assert_eq!(count(&store), 2);
    }

    #[test]
    fn schema_refuses_a_second_bolt11_row_for_a_hash() {
        // The last line of defence, under the typed API.
        let (_d, store) = store();
        let (_, hash) = secret(1);
        store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
        let insert = |kind: &str, id: u8| {
            store.read(|c| {
                c.execute(
                    "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                     amount_msat, created_at, updated_at) \
                     VALUES ('outgoing', ?1, 'failed', ?2, ?3, 1, 1, 1)",
                    params![kind, hash, [id; 32]],
                )
            })
        };
        assert!(insert("bolt11", 2).is_err());
        assert!(insert("bolt12", 3).is_err(), "failed needs a failure code");
        store
            .read(|c| {
                c.execute(
                    "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                     amount_msat, created_at, updated_at) \
                     VALUES ('outgoing', 'bolt12', 'pending', ?1, ?2, 1, 1, 1)",
                    params![hash, [4u8; 32]],
                )
            })
            .unwrap();
        // A complete outgoing payment without a preimage is refused.
        let err = store.read(|c| {
            c.execute("UPDATE payments SET status = 'complete' WHERE payment_id = ?1", [[4u8; 32]])
        });
        assert!(err.is_err());
    }

    #[test]
    fn records_serialize_with_hex_and_names() {
        let (_d, store) = store();
        let (_, hash) = secret(1);
        store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
        let failed = store
            .fail_outgoing(&[1; 32], FailureCode::RouteNotFound, Some("x"), true, 101)
            .unwrap()
            .unwrap();
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["direction"], "outgoing");
        assert_eq!(json["kind"], "bolt11");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["payment_hash"], to_hex(&hash));
        assert_eq!(json["payment_id"], "01".repeat(32));
        assert_eq!(json["preimage"], serde_json::Value::Null);
        assert_eq!(json["failure_code"], 205);
        assert_eq!(json["retryable"], true);
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (preimage, hash) = secret(1);
        let done = {
            let store = Store::open(dir.path()).unwrap();
            store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
            store.complete_outgoing(&[1; 32], &preimage, Some(1), None, None, 110).unwrap().unwrap()
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap(), Some(done.clone()));
        assert_eq!(
            store.begin_outgoing(bolt11(hash, 2, 1000), 120).unwrap(),
            BeginOutgoing::Existing(done)
        );
    }

    #[test]
    fn failure_codes_round_trip() {
        for code in [-1, 201, 203, 205, 206, 207, 210] {
            assert_eq!(FailureCode::from_code(code).unwrap().code() as i64, code);
        }
        assert_eq!(FailureCode::from_code(204), None);
    }
}
