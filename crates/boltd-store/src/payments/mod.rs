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

mod ops;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_records;
