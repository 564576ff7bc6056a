//! Alby's invoice object (`@getalby/sdk`'s `Invoice`): the one rendering of it, used by every
//! answer that has one (`POST /invoices`, `GET /invoices/{payment_hash}`, the invoice lists)
//! and by the bodies of Alby webhook deliveries.
//!
//! A payment's invoice is made from a [`PaymentView`]: a payment record, or the record a
//! payment event carries (the JSON the store serialized it to), as `native::history`'s
//! `PaymentView` does for barkd's `Movement`. So a webhook body is what
//! `GET /invoices/{payment_hash}` answers for the same payment, as of the event (a later
//! change of the record, e.g. its metadata, shows in `GET` only).

use std::collections::BTreeMap;

use base64::Engine as _;
use boltd_store::{
    Direction, EventRecord, EventType, PaymentKind, PaymentRecord, PaymentStatus, ReceiveRecord,
    ReceiveState,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::time::rfc3339;

/// The keysend record of a chat message (Alby's `keysend_message`).
const KEYSEND_MESSAGE_RECORD: &str = "34349334";
/// The Podcasting 2.0 boostagram record (Alby's `boostagram`).
const BOOSTAGRAM_RECORD: &str = "7629169";

/// Msat as Alby's sats (rounded down).
pub(crate) fn sats(msat: u64) -> u64 {
    msat / 1000
}

/// Which way an Alby invoice went.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AlbyInvoiceType {
    /// We were paid (or issued it).
    Incoming,
    /// We paid.
    Outgoing,
}

/// Alby's invoice state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum AlbyInvoiceState {
    /// Issued, nothing arrived.
    Created,
    /// HTLCs arrived (or the preimage is revealed), not settled yet.
    Accepted,
    /// Paid.
    Settled,
    /// Canceled.
    Canceled,
    /// Expired unpaid.
    Expired,
    /// An outgoing payment in flight.
    Pending,
    /// An outgoing payment that failed.
    Failed,
}

/// An invoice (or payment) in Alby's shape (`@getalby/sdk`'s `Invoice`, with boltd's
/// additions). Amounts in sats, with the exact `amount_msat`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyInvoice {
    /// Which way.
    #[serde(rename = "type")]
    kind: AlbyInvoiceType,
    /// The payment hash (hex).
    identifier: String,
    /// The payment hash (hex).
    payment_hash: String,
    /// The payment hash (hex), lndhub's name.
    r_hash_str: String,
    /// Amount, in sats.
    amount: u64,
    /// Amount, in sats (lndhub's name).
    value: u64,
    /// Amount, in msat.
    amount_msat: u64,
    /// Always `BTC`.
    currency: &'static str,
    /// Always empty: boltd keeps no fiat amounts.
    fiat_currency: &'static str,
    /// Always 0: boltd keeps no fiat amounts.
    fiat_in_cents: u64,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When it was created (unix seconds).
    creation_date: u64,
    /// When it expires (RFC 3339).
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// Seconds from creation to expiry.
    expiry: Option<u64>,
    /// The payer's comment (LNURL-pay's LUD-12 `comment`, or a BOLT12 payer note) on an
    /// invoice of ours (kept with the invoice); null on payments we made.
    comment: Option<String>,
    /// Always null: boltd keeps no payer names.
    #[schema(value_type = Option<String>)]
    payer_name: Option<String>,
    /// The BOLT11 invoice.
    payment_request: Option<String>,
    /// The description.
    memo: Option<String>,
    /// The description.
    description: Option<String>,
    /// The description hash (hex) of an invoice we issued that commits to one; else null.
    description_hash: Option<String>,
    /// The payee's node id.
    destination_pubkey: Option<String>,
    /// Routing fees in sats (payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fee: Option<u64>,
    /// Routing fees in msat (payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fee_msat: Option<u64>,
    /// Whether it is paid.
    settled: bool,
    /// When it was paid (RFC 3339).
    #[schema(format = DateTime)]
    settled_at: Option<String>,
    /// Where it stands.
    state: AlbyInvoiceState,
    /// The preimage (hex), once paid.
    preimage: Option<String>,
    /// Keysend records received: type to base64 value.
    custom_records: BTreeMap<String, String>,
    /// A keysend chat message (record 34349334), as text (payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    keysend_message: Option<Option<String>>,
    /// A Podcasting 2.0 boostagram (record 7629169), as JSON (payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    boostagram: Option<Option<Value>>,
    /// Whether it was a keysend.
    keysend: bool,
    /// The payment's metadata (a JSON object), or null.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Why a payment failed (payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    error_message: Option<Option<String>>,
    /// For an invoice made through an LSP (a just-in-time channel; boltd's addition): the LSP,
    /// the fee it promised to take from the payment, until when the promise held, and what it
    /// took.
    #[serde(skip_serializing_if = "Option::is_none")]
    lsp: Option<boltd_store::ReceiveLspRecord>,
}

impl AlbyInvoice {
    /// With the LSP the receive was made through, if any.
    pub(crate) fn with_lsp(mut self, lsp: Option<boltd_store::ReceiveLspRecord>) -> Self {
        self.lsp = lsp;
        self
    }
}

/// The fields every Alby invoice has, from unix times and amounts; the rest empty.
fn invoice_base(
    kind: AlbyInvoiceType,
    hash: &str,
    amount_msat: u64,
    created_at: u64,
    expires_at: Option<u64>,
) -> AlbyInvoice {
    AlbyInvoice {
        kind,
        identifier: hash.to_string(),
        payment_hash: hash.to_string(),
        r_hash_str: hash.to_string(),
        amount: sats(amount_msat),
        value: sats(amount_msat),
        amount_msat,
        currency: "BTC",
        fiat_currency: "",
        fiat_in_cents: 0,
        created_at: rfc3339(created_at),
        creation_date: created_at,
        expires_at: expires_at.map(rfc3339),
        expiry: expires_at.map(|e| e.saturating_sub(created_at)),
        comment: None,
        payer_name: None,
        payment_request: None,
        memo: None,
        description: None,
        description_hash: None,
        destination_pubkey: None,
        fee: None,
        fee_msat: None,
        settled: false,
        settled_at: None,
        state: AlbyInvoiceState::Created,
        preimage: None,
        custom_records: BTreeMap::new(),
        keysend_message: None,
        boostagram: None,
        keysend: false,
        metadata: None,
        error_message: None,
        lsp: None,
    }
}

/// Received custom records (JSON text, type to hex) as Alby shows them: type to base64.
fn records_base64(text: Option<&str>) -> BTreeMap<String, String> {
    let map: BTreeMap<String, String> =
        text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    map.into_iter()
        .filter_map(|(k, hex_value)| {
            let bytes = hex::decode(hex_value).ok()?;
            Some((k, base64::engine::general_purpose::STANDARD.encode(bytes)))
        })
        .collect()
}

/// A record's raw custom record value, as text.
fn record_text(text: Option<&str>, record: &str) -> Option<String> {
    let map: BTreeMap<String, String> = serde_json::from_str(text?).ok()?;
    String::from_utf8(hex::decode(map.get(record)?).ok()?).ok()
}

/// A receive (an invoice we issued, paid or not). The preimage only once settled.
pub(crate) fn receive_invoice(r: &ReceiveRecord, our_id: &str) -> AlbyInvoice {
    let hash = hex::encode(r.payment_hash);
    let settled = r.state == ReceiveState::Settled;
    let state = match r.state {
        ReceiveState::Created => AlbyInvoiceState::Created,
        ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => AlbyInvoiceState::Accepted,
        ReceiveState::Settled => AlbyInvoiceState::Settled,
        ReceiveState::Canceled => AlbyInvoiceState::Canceled,
        ReceiveState::Expired => AlbyInvoiceState::Expired,
    };
    let amount_msat = r.received_msat.or(r.amount_msat).unwrap_or(0);
    AlbyInvoice {
        payment_request: r.invoice.clone(),
        memo: r.description.clone(),
        description: r.description.clone(),
        description_hash: r.description_hash.map(hex::encode),
        destination_pubkey: Some(our_id.to_string()),
        settled,
        settled_at: r.finished_at.filter(|_| settled).map(rfc3339),
        state,
        preimage: r.preimage.filter(|_| settled).map(hex::encode),
        custom_records: records_base64(r.custom_records.as_deref()),
        keysend: false,
        metadata: None,
        comment: r.payer_note.clone(),
        ..invoice_base(AlbyInvoiceType::Incoming, &hash, amount_msat, r.created_at, r.expires_at)
    }
}

/// What a payment's Alby invoice is made of: a payment record ([`PaymentView::of`]) or the
/// record an event carries ([`PaymentView::of_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentView {
    incoming: bool,
    keysend: bool,
    status: PaymentStatus,
    payment_hash: Option<String>,
    preimage: Option<String>,
    amount_msat: u64,
    fee_msat: u64,
    invoice: Option<String>,
    description: Option<String>,
    destination: Option<String>,
    metadata: Option<String>,
    custom_records: Option<String>,
    failure_reason: Option<String>,
    created_at: u64,
    completed_at: Option<u64>,
    expires_at: Option<u64>,
}

impl PaymentView {
    /// A payment record's.
    pub(crate) fn of(rec: &PaymentRecord) -> Self {
        PaymentView {
            incoming: rec.direction == Direction::Incoming,
            keysend: rec.kind == PaymentKind::Keysend,
            status: rec.status,
            payment_hash: rec.payment_hash.map(hex::encode),
            preimage: rec.preimage.map(hex::encode),
            amount_msat: rec.amount_msat,
            fee_msat: rec.fee_msat.unwrap_or(0),
            invoice: rec.invoice.clone(),
            description: rec.description.clone(),
            destination: rec.destination.clone(),
            metadata: rec.metadata.clone(),
            custom_records: rec.custom_records.clone(),
            failure_reason: rec.failure_reason.clone(),
            created_at: rec.created_at,
            completed_at: rec.completed_at,
            expires_at: rec.expires_at,
        }
    }

    /// The record of an event (as [`PaymentRecord`] serializes); `None` if it is not one.
    pub(crate) fn of_json(p: &Value) -> Option<Self> {
        let text = |k: &str| p[k].as_str().map(String::from);
        Some(PaymentView {
            incoming: Direction::parse(p["direction"].as_str()?)? == Direction::Incoming,
            keysend: PaymentKind::parse(p["kind"].as_str()?)? == PaymentKind::Keysend,
            status: PaymentStatus::parse(p["status"].as_str()?)?,
            payment_hash: text("payment_hash"),
            preimage: text("preimage"),
            amount_msat: p["amount_msat"].as_u64()?,
            fee_msat: p["fee_msat"].as_u64().unwrap_or(0),
            invoice: text("invoice"),
            description: text("description"),
            destination: text("destination"),
            metadata: text("metadata"),
            custom_records: text("custom_records"),
            failure_reason: text("failure_reason"),
            created_at: p["created_at"].as_u64()?,
            completed_at: p["completed_at"].as_u64(),
            expires_at: p["expires_at"].as_u64(),
        })
    }

    /// The payment hash (hex), when known.
    pub(crate) fn payment_hash(&self) -> Option<&str> {
        self.payment_hash.as_deref()
    }

    /// Whether we were paid.
    pub(crate) fn incoming(&self) -> bool {
        self.incoming
    }
}

/// A payment (incoming: received; outgoing: paid, pending or failed), with the payer's
/// `comment` on an incoming one (kept with its receive, not with the payment).
pub(crate) fn payment_invoice(
    p: &PaymentView,
    our_id: &str,
    comment: Option<String>,
) -> AlbyInvoice {
    let hash = p.payment_hash.clone().unwrap_or_default();
    let settled = p.status == PaymentStatus::Complete;
    let state = match p.status {
        PaymentStatus::Complete => AlbyInvoiceState::Settled,
        PaymentStatus::Pending => AlbyInvoiceState::Pending,
        PaymentStatus::Failed => AlbyInvoiceState::Failed,
    };
    let records = p.custom_records.as_deref();
    let boostagram = record_text(records, BOOSTAGRAM_RECORD)
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object);
    let kind = if p.incoming { AlbyInvoiceType::Incoming } else { AlbyInvoiceType::Outgoing };
    let fee_msat = if p.incoming { 0 } else { p.fee_msat };
    AlbyInvoice {
        payment_request: p.invoice.clone(),
        memo: p.description.clone(),
        description: p.description.clone(),
        destination_pubkey: if p.incoming {
            Some(our_id.to_string())
        } else {
            p.destination.clone()
        },
        comment: comment.filter(|_| p.incoming),
        fee: Some(fee_msat.div_ceil(1000)),
        fee_msat: Some(fee_msat),
        settled,
        settled_at: p.completed_at.filter(|_| settled).map(rfc3339),
        state,
        preimage: p.preimage.clone(),
        custom_records: records_base64(records),
        keysend_message: Some(record_text(records, KEYSEND_MESSAGE_RECORD)),
        boostagram: Some(boostagram),
        keysend: p.keysend,
        metadata: p.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
        error_message: Some(p.failure_reason.clone()),
        ..invoice_base(kind, &hash, p.amount_msat, p.created_at, p.expires_at)
    }
}

/// The body of an Alby webhook delivery: the invoice of a payment event's record
/// (`payment_received`: incoming, `payment_sent`: outgoing, the only events Alby's
/// `filter_types` name), as `GET /invoices/{payment_hash}` shows that payment. `comment`
/// finds the payer's comment of an incoming payment (by its payment hash, hex). Other events
/// have no Alby form.
pub(crate) fn webhook_invoice(
    event: &EventRecord,
    our_id: &str,
    comment: impl FnOnce(&str) -> Result<Option<String>, String>,
) -> Result<Value, String> {
    let no_form = || format!("{} has no Alby invoice", event.event_type);
    let incoming = match event.event_type {
        EventType::PaymentReceived => true,
        EventType::PaymentSent => false,
        _ => return Err(no_form()),
    };
    let view = event.data.get("payment").and_then(PaymentView::of_json).ok_or_else(no_form)?;
    if view.incoming() != incoming {
        return Err(no_form());
    }
    let comment = match view.payment_hash() {
        Some(hash) if incoming => comment(hash)?,
        _ => None,
    };
    serde_json::to_value(payment_invoice(&view, our_id, comment)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    const OUR_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

    /// A keysend boost received, with a chat message and a boostagram.
    fn received() -> PaymentRecord {
        PaymentRecord {
            id: 4,
            direction: Direction::Incoming,
            kind: PaymentKind::Keysend,
            status: PaymentStatus::Complete,
            stage: None,
            payment_hash: Some([0xab; 32]),
            payment_id: None,
            preimage: Some([0xcd; 32]),
            amount_msat: 21_000,
            fee_msat: None,
            amount_sent_msat: None,
            parts: Some(1),
            destination: None,
            invoice: None,
            description: Some("boost".into()),
            label: None,
            metadata: None,
            custom_records: Some(
                r#"{"34349334": "6869", "7629169": "7b2261223a317d"}"#.to_string(),
            ),
            idempotency_key: None,
            request_hash: None,
            failure_code: None,
            failure_reason: None,
            retryable: None,
            attempts: 1,
            created_at: 100,
            updated_at: 100,
            completed_at: Some(100),
            expires_at: None,
            token_id: None,
            fee_limit_msat: None,
        }
    }

    /// An invoice paid, with routing fees and app metadata.
    fn sent() -> PaymentRecord {
        PaymentRecord {
            direction: Direction::Outgoing,
            kind: PaymentKind::Bolt11,
            payment_hash: Some([0x12; 32]),
            preimage: Some([0x34; 32]),
            amount_msat: 5_000_000,
            fee_msat: Some(1_001),
            amount_sent_msat: Some(5_001_001),
            destination: Some(OUR_ID.replace("02", "03")),
            invoice: Some("lnbcrt50u1...".into()),
            description: Some("coffee".into()),
            metadata: Some(r#"{"order": 7}"#.into()),
            custom_records: None,
            created_at: 200,
            updated_at: 205,
            completed_at: Some(205),
            expires_at: Some(3800),
            ..received()
        }
    }

    /// The event the store appends with a record (`{"payment": record}`).
    fn event(event_type: EventType, rec: &PaymentRecord) -> EventRecord {
        let mut data = Map::new();
        data.insert("payment".into(), serde_json::to_value(rec).unwrap());
        EventRecord {
            seq: 9,
            event_type,
            created_at: rec.completed_at.unwrap_or(rec.created_at),
            payment_hash: rec.payment_hash,
            data,
        }
    }

    fn no_comment(_: &str) -> Result<Option<String>, String> {
        Ok(None)
    }

    #[test]
    fn alby_invoices_follow_the_sdk_type() {
        let inv =
            webhook_invoice(&event(EventType::PaymentReceived, &received()), OUR_ID, no_comment)
                .unwrap();
        assert_eq!(inv["type"], "incoming");
        assert_eq!(inv["amount"], 21);
        assert_eq!(inv["settled"], true);
        assert_eq!(inv["state"], "SETTLED");
        assert_eq!(inv["payment_hash"], "ab".repeat(32));
        assert_eq!(inv["r_hash_str"], "ab".repeat(32));
        assert_eq!(inv["preimage"], "cd".repeat(32));
        assert_eq!(inv["memo"], "boost");
        assert_eq!(inv["keysend_message"], "hi");
        assert_eq!(inv["custom_records"]["34349334"], "aGk=");
        assert_eq!(inv["boostagram"]["a"], 1);
        assert_eq!(inv["created_at"], "1970-01-01T00:01:40Z");
        // Every member `@getalby/sdk`'s `Invoice` type requires.
        for k in [
            "amount",
            "created_at",
            "creation_date",
            "currency",
            "custom_records",
            "description_hash",
            "expires_at",
            "expiry",
            "fiat_currency",
            "fiat_in_cents",
            "identifier",
            "memo",
            "payer_name",
            "payment_hash",
            "payment_request",
            "r_hash_str",
            "settled",
            "settled_at",
            "state",
            "type",
            "value",
        ] {
            assert!(inv.get(k).is_some(), "{k} missing: {inv}");
        }
        assert_eq!(inv["description_hash"], Value::Null);
        assert_eq!((&inv["fiat_currency"], &inv["fiat_in_cents"]), (&json!(""), &json!(0)));
        // Other events have no Alby invoice; nor does a record of the other direction.
        let mut other = event(EventType::PaymentReceived, &received());
        other.event_type = EventType::InvoiceCanceled;
        assert!(webhook_invoice(&other, OUR_ID, no_comment).is_err());
        let wrong_way = event(EventType::PaymentSent, &received());
        assert!(webhook_invoice(&wrong_way, OUR_ID, no_comment).is_err());
    }

    #[test]
    fn a_webhook_body_is_the_invoice_of_the_record() {
        // The record's view and the event's are the same, so are their invoices: a webhook
        // body is what `GET /invoices/{payment_hash}` makes of the same record.
        for (t, rec) in [(EventType::PaymentReceived, received()), (EventType::PaymentSent, sent())]
        {
            let e = event(t, &rec);
            let view = PaymentView::of(&rec);
            assert_eq!(PaymentView::of_json(&e.data["payment"]).as_ref(), Some(&view));
            let incoming = rec.direction == Direction::Incoming;
            let comment = incoming.then(|| "thanks!".to_string());
            let mut looked_up = None;
            let body = webhook_invoice(&e, OUR_ID, |h| {
                looked_up = Some(h.to_string());
                Ok(comment.clone())
            })
            .unwrap();
            let shown = serde_json::to_value(payment_invoice(&view, OUR_ID, comment)).unwrap();
            assert_eq!(body, shown, "{t}");
            // The comment is looked up for incoming payments only.
            assert_eq!(looked_up.is_some(), incoming, "{t}");
        }
        // The parts that differ by direction.
        let inv = webhook_invoice(&event(EventType::PaymentReceived, &received()), OUR_ID, |_| {
            Ok(Some("thanks!".into()))
        })
        .unwrap();
        assert_eq!(inv["comment"], "thanks!");
        assert_eq!(inv["destination_pubkey"], OUR_ID);
        assert_eq!((&inv["fee"], &inv["keysend"]), (&json!(0), &json!(true)));
        let inv =
            webhook_invoice(&event(EventType::PaymentSent, &sent()), OUR_ID, no_comment).unwrap();
        assert_eq!(inv["type"], "outgoing");
        assert_eq!(inv["comment"], Value::Null);
        assert_eq!((&inv["fee"], &inv["fee_msat"]), (&json!(2), &json!(1_001)));
        assert_eq!(inv["metadata"]["order"], 7);
        assert_eq!(inv["expiry"], 3600);
        assert_eq!(inv["destination_pubkey"], OUR_ID.replace("02", "03"));
        // A failed lookup fails the rendering (the delivery is retried), never a wrong body.
        let failed =
            webhook_invoice(&event(EventType::PaymentReceived, &received()), OUR_ID, |_| {
                Err("database is locked".into())
            });
        assert_eq!(failed.unwrap_err(), "database is locked");
    }
}
