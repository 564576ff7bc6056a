//! Alby's Wallet API (seed 004; the shapes of `@getalby/sdk`'s `Client` and of lndhub.go's v2
//! API it grew from), at the root of the API: payments (`/payments/bolt11`,
//! `/payments/keysend`, `/payments/keysend/multi`), invoices (`/invoices`,
//! `/invoices/{payment_hash}`, `/invoices/incoming`, `/invoices/outgoing`), `/balance` and
//! `/decode/bolt11/{invoice}`.
//!
//! Amounts are in sats (`amount`, `fee`, `value`; boltd adds the exact `*_msat`). Errors are
//! Alby's `{code, error: true, message}`: code 8 bad arguments (400), 2 not enough balance or
//! an expired invoice (400), 10 the payment failed (500, Alby's contract), 6 internal (500).
//! Keysend `custom_records` are sent as the UTF-8 bytes of each value; received records are
//! shown base64-encoded, as Alby does.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::receive::InvoiceRequest;
use boltd_engine::{PayError, PayRequest, PayResult};
use boltd_store::{
    Direction, PaymentCursor, PaymentFilter, PaymentKind, PaymentRecord, PaymentStatus,
    ReceiveRecord, ReceiveState,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::context::Ctx;
use crate::error::ApiError;
use crate::time::rfc3339;
use crate::AppState;

/// Items per page of the invoice lists by default (Alby's).
pub const DEFAULT_ITEMS: u32 = 25;
/// Most items per page.
pub const MAX_ITEMS: u32 = 100;
/// The keysend record of a chat message (Alby's `keysend_message`).
const KEYSEND_MESSAGE_RECORD: &str = "34349334";
/// The Podcasting 2.0 boostagram record (Alby's `boostagram`).
const BOOSTAGRAM_RECORD: &str = "7629169";

/// An Alby error: `{code, error: true, message}` with an HTTP status.
#[derive(Debug)]
pub(crate) struct AlbyError {
    status: StatusCode,
    code: u16,
    message: String,
}

impl AlbyError {
    fn bad_arguments(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: 8, message: message.into() }
    }

    fn json(&self) -> Value {
        json!({ "code": self.code, "error": true, "message": self.message })
    }
}

impl IntoResponse for AlbyError {
    fn into_response(self) -> Response {
        (self.status, Json(self.json())).into_response()
    }
}

impl From<PayError> for AlbyError {
    fn from(e: PayError) -> Self {
        let (status, code) = match &e {
            PayError::InvalidParams(_) => (StatusCode::BAD_REQUEST, 8),
            PayError::IdempotencyConflict { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::WrongState(_)
            | PayError::LabelExists(_) => (StatusCode::CONFLICT, 8),
            PayError::NotFound(_) => (StatusCode::NOT_FOUND, 8),
            // Alby's (lndhub's) code 1 is "bad auth", as the authentication layer answers.
            PayError::Unauthorized => (StatusCode::UNAUTHORIZED, 1),
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                (StatusCode::FORBIDDEN, 1)
            }
            PayError::InsufficientBalance { .. } | PayError::InvoiceExpired { .. } => {
                (StatusCode::BAD_REQUEST, 2)
            }
            PayError::DestinationRejected { .. }
            | PayError::RouteNotFound { .. }
            | PayError::RouteTooExpensive { .. }
            | PayError::Timeout { .. }
            | PayError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, 10),
        };
        Self { status, code, message: e.to_string() }
    }
}

impl From<ApiError> for AlbyError {
    fn from(e: ApiError) -> Self {
        let code = if e.status.is_server_error() { 6 } else { 8 };
        Self { status: e.status, code, message: e.message }
    }
}

impl From<boltd_node::NodeError> for AlbyError {
    fn from(e: boltd_node::NodeError) -> Self {
        ApiError::from(e).into()
    }
}

type AlbyResult = Result<Response, AlbyError>;

fn ok(v: Value) -> AlbyResult {
    Ok(Json(v).into_response())
}

/// A JSON object body; fields in `unsupported` are refused by name (boltd cannot keep them).
fn object_body(
    body: Result<Json<Value>, JsonRejection>,
    unsupported: &[&str],
) -> Result<Value, AlbyError> {
    let Json(v) = body.map_err(|e| AlbyError::bad_arguments(e.body_text()))?;
    let Some(map) = v.as_object() else {
        return Err(AlbyError::bad_arguments("the body must be a JSON object"));
    };
    if let Some(k) = unsupported.iter().find(|k| map.get(**k).is_some_and(|v| !v.is_null())) {
        return Err(AlbyError::bad_arguments(format!("`{k}` is not supported by boltd")));
    }
    Ok(v)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AlbyError> {
    serde_json::from_value(v).map_err(|e| AlbyError::bad_arguments(format!("bad arguments: {e}")))
}

fn sats(msat: u64) -> u64 {
    msat / 1000
}

/// A payment result in Alby's shape (`amount` is what the payee got, `fee` rounded up to a
/// sat); 202 with `status: pending` if the payment is still in flight.
fn payment_response(r: &PayResult, extra: Value) -> AlbyResult {
    let fee_msat = r.amount_sent_msat.saturating_sub(r.amount_msat);
    let mut v = json!({
        "amount": sats(r.amount_msat),
        "amount_msat": r.amount_msat,
        "fee": fee_msat.div_ceil(1000),
        "fee_msat": fee_msat,
        "destination": r.destination,
        "payment_hash": r.payment_hash,
        "payment_preimage": r.payment_preimage,
        "status": r.status,
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    let status = if r.status == PaymentStatus::Pending.as_str() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(v)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBolt11 {
    invoice: String,
    /// Sats, for an invoice without an amount.
    amount: Option<u64>,
}

/// `POST /payments/bolt11` `{invoice, amount?}`: pays and waits for the result.
pub(crate) async fn pay_bolt11(
    State(engine): State<AppState>,
    ctx: Result<Ctx, ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> AlbyResult {
    let Ctx(ctx) = ctx?;
    let r: PayBolt11 = parse(object_body(body, &[])?)?;
    let decoded = engine.decode_bolt11(&r.invoice)?;
    let amount_msat = match (decoded.amount_msat, r.amount) {
        (_, Some(0)) => return Err(AlbyError::bad_arguments("amount must be positive")),
        (Some(fixed), Some(a)) if fixed != a.saturating_mul(1000) => {
            return Err(AlbyError::bad_arguments(format!(
                "the invoice is for {fixed} msat; amount {a} sat differs"
            )))
        }
        (Some(_), _) => None,
        (None, None) => {
            return Err(AlbyError::bad_arguments("amount is required: the invoice has none"))
        }
        (None, Some(a)) => Some(a.saturating_mul(1000)),
    };
    let req =
        PayRequest { bolt11: r.invoice.trim().to_string(), amount_msat, ..Default::default() };
    let res = engine.pay(req, ctx, None).await?;
    let description = decoded.description.clone().unwrap_or_default();
    payment_response(
        &res,
        json!({
            "payment_request": r.invoice.trim(),
            "description": description,
            "description_hash": decoded.description_hash,
        }),
    )
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct AlbyKeysend {
    /// Sats.
    amount: u64,
    destination: String,
    memo: Option<String>,
    custom_records: Option<BTreeMap<String, String>>,
    /// The SDK sends the records under this name too (lndhub.go's deprecated spelling).
    #[serde(rename = "customRecords")]
    custom_records_camel: Option<BTreeMap<String, String>>,
}

impl AlbyKeysend {
    fn records(&self) -> Result<BTreeMap<String, String>, AlbyError> {
        match (&self.custom_records, &self.custom_records_camel) {
            (Some(a), Some(b)) if a != b => {
                Err(AlbyError::bad_arguments("custom_records and customRecords differ: give one"))
            }
            (Some(a), _) | (None, Some(a)) => Ok(a.clone()),
            (None, None) => Ok(BTreeMap::new()),
        }
    }

    fn request(&self) -> Result<KeysendRequest, AlbyError> {
        Ok(KeysendRequest {
            destination: self.destination.clone(),
            amount_msat: self.amount.saturating_mul(1000),
            custom_records: self.records()?,
            memo: self.memo.clone(),
            ..Default::default()
        })
    }

    fn extra(&self) -> Value {
        json!({
            "description": self.memo.clone().unwrap_or_default(),
            "description_hash": "",
            "destination": self.destination,
            "custom_records": self.records().unwrap_or_default(),
        })
    }
}

/// `POST /payments/keysend` `{amount, destination, memo?, custom_records?}`.
pub(crate) async fn keysend(
    State(engine): State<AppState>,
    ctx: Result<Ctx, ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> AlbyResult {
    let Ctx(ctx) = ctx?;
    let k: AlbyKeysend = parse(object_body(body, &[])?)?;
    let res = engine.keysend(k.request()?, ctx).await?;
    payment_response(&res, k.extra())
}

/// `POST /payments/keysend/multi` `{keysends: [...]}`: every item is checked for shape first
/// (a malformed one refuses the whole batch, nothing sent); then each is paid on its own.
/// Results come in request order, `{keysend}` or `{keysend: {destination, custom_records},
/// error}`; the status is 200 when at least one was paid, else the first error's.
pub(crate) async fn multi_keysend(
    State(engine): State<AppState>,
    ctx: Result<Ctx, ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> AlbyResult {
    let Ctx(ctx) = ctx?;
    let v = object_body(body, &[])?;
    let Some(items) = v.get("keysends").and_then(Value::as_array) else {
        return Err(AlbyError::bad_arguments("keysends must be an array"));
    };
    if v.as_object().is_some_and(|o| o.len() > 1) {
        return Err(AlbyError::bad_arguments("only `keysends` is expected"));
    }
    if items.is_empty() {
        return Err(AlbyError::bad_arguments("keysends is empty"));
    }
    let mut keysends = Vec::with_capacity(items.len());
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let k: AlbyKeysend = serde_json::from_value(item.clone())
            .map_err(|e| AlbyError::bad_arguments(format!("keysends[{i}]: {e}")))?;
        requests.push(
            k.request()
                .map_err(|e| AlbyError::bad_arguments(format!("keysends[{i}]: {}", e.message)))?,
        );
        keysends.push(k);
    }
    let results = engine.multi_keysend(requests, ctx).await;
    let mut first_error: Option<StatusCode> = None;
    let mut any_paid = false;
    let out: Vec<Value> = results
        .into_iter()
        .zip(&keysends)
        .map(|(r, k)| match r {
            Ok(p) => {
                any_paid = true;
                let fee_msat = p.amount_sent_msat.saturating_sub(p.amount_msat);
                let mut v = json!({
                    "amount": sats(p.amount_msat),
                    "amount_msat": p.amount_msat,
                    "fee": fee_msat.div_ceil(1000),
                    "fee_msat": fee_msat,
                    "payment_hash": p.payment_hash,
                    "payment_preimage": p.payment_preimage,
                    "status": p.status,
                });
                if let (Some(o), Value::Object(e)) = (v.as_object_mut(), k.extra()) {
                    o.extend(e);
                }
                json!({ "keysend": v })
            }
            Err(e) => {
                let e = AlbyError::from(e);
                first_error.get_or_insert(e.status);
                json!({
                    "keysend": { "destination": k.destination, "custom_records": k.records().unwrap_or_default() },
                    "error": e.json(),
                })
            }
        })
        .collect();
    let status = if any_paid { StatusCode::OK } else { first_error.unwrap_or(StatusCode::OK) };
    Ok((status, Json(json!({ "keysends": out }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInvoice {
    /// Sats; 0 makes an any-amount invoice (as lndhub.go allows).
    amount: u64,
    description: Option<String>,
    description_hash: Option<String>,
    /// Alby: "same as description".
    memo: Option<String>,
    currency: Option<String>,
    /// boltd: seconds until it expires (default 3600).
    expiry: Option<u32>,
}

/// `POST /invoices` `{amount, description?|memo?, description_hash?, currency?}`: the new
/// invoice, in Alby's invoice shape. Alby's `comment`, `metadata` and `payer_*` are refused
/// (boltd does not keep them with invoices).
pub(crate) async fn create_invoice(
    State(engine): State<AppState>,
    ctx: Result<Ctx, ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> AlbyResult {
    let Ctx(ctx) = ctx?;
    let v = object_body(
        body,
        &["comment", "metadata", "payer_name", "payer_email", "payer_pubkey", "fiat_amount"],
    )?;
    let r: CreateInvoice = parse(v)?;
    if let Some(c) = &r.currency {
        if !c.eq_ignore_ascii_case("btc") {
            return Err(AlbyError::bad_arguments(format!("currency `{c}`: only btc")));
        }
    }
    let description = match (r.description, r.memo) {
        (Some(d), Some(m)) if d != m => {
            return Err(AlbyError::bad_arguments("description and memo differ: give one"))
        }
        (d, m) => d.or(m),
    };
    let req = InvoiceRequest {
        amount_msat: (r.amount > 0).then(|| r.amount.saturating_mul(1000)),
        description,
        description_hash: r.description_hash,
        expiry_secs: r.expiry,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx.idempotency_key).await?;
    ok(receive_invoice(&rec, &engine.node().node_id().to_string()))
}

/// Received custom records (JSON text, type to hex) as Alby shows them: type to base64.
fn records_base64(text: Option<&str>) -> Map<String, Value> {
    let map: BTreeMap<String, String> =
        text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    map.into_iter()
        .filter_map(|(k, hex_value)| {
            let bytes = hex::decode(hex_value).ok()?;
            Some((k, json!(base64::engine::general_purpose::STANDARD.encode(bytes))))
        })
        .collect()
}

/// A record's raw custom record value, as text.
fn record_text(text: Option<&str>, record: &str) -> Option<String> {
    let map: BTreeMap<String, String> = serde_json::from_str(text?).ok()?;
    String::from_utf8(hex::decode(map.get(record)?).ok()?).ok()
}

/// Fields every Alby invoice has, from unix times and amounts.
fn invoice_base(
    kind: &str,
    hash: &str,
    amount_msat: u64,
    created_at: u64,
    expires_at: Option<u64>,
) -> Value {
    json!({
        "type": kind,
        "identifier": hash,
        "payment_hash": hash,
        "r_hash_str": hash,
        "amount": sats(amount_msat),
        "value": sats(amount_msat),
        "amount_msat": amount_msat,
        "currency": "BTC",
        "created_at": rfc3339(created_at),
        "creation_date": created_at,
        "expires_at": expires_at.map(rfc3339),
        "expiry": expires_at.map(|e| e.saturating_sub(created_at)),
        "comment": null,
        "payer_name": null,
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(o), Value::Object(e)) = (base.as_object_mut(), extra) {
        o.extend(e);
    }
    base
}

/// A receive (an invoice we issued, paid or not). The preimage only once settled.
fn receive_invoice(r: &ReceiveRecord, our_id: &str) -> Value {
    let hash = hex::encode(r.payment_hash);
    let settled = r.state == ReceiveState::Settled;
    let state = match r.state {
        ReceiveState::Created => "CREATED",
        ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => "ACCEPTED",
        ReceiveState::Settled => "SETTLED",
        ReceiveState::Canceled => "CANCELED",
        ReceiveState::Expired => "EXPIRED",
    };
    let amount_msat = r.received_msat.or(r.amount_msat).unwrap_or(0);
    merge(
        invoice_base("incoming", &hash, amount_msat, r.created_at, r.expires_at),
        json!({
            "payment_request": r.invoice,
            "memo": r.description,
            "description": r.description,
            "description_hash": r.description_hash.map(hex::encode),
            "destination_pubkey": our_id,
            "settled": settled,
            "settled_at": r.finished_at.filter(|_| settled).map(rfc3339),
            "state": state,
            "preimage": r.preimage.filter(|_| settled).map(hex::encode),
            "custom_records": records_base64(r.custom_records.as_deref()),
            "keysend": false,
            "metadata": null,
        }),
    )
}

/// A payment record (incoming: received; outgoing: paid, pending or failed).
fn payment_invoice(p: &PaymentRecord, our_id: &str) -> Value {
    let hash = p.payment_hash.map(hex::encode).unwrap_or_default();
    let settled = p.status == PaymentStatus::Complete;
    let incoming = p.direction == Direction::Incoming;
    let state = match p.status {
        PaymentStatus::Complete => "SETTLED",
        PaymentStatus::Pending => "PENDING",
        PaymentStatus::Failed => "FAILED",
    };
    let records = p.custom_records.as_deref();
    let boostagram = record_text(records, BOOSTAGRAM_RECORD)
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object);
    let fee_msat = p.fee_msat.unwrap_or(0);
    merge(
        invoice_base(
            if incoming { "incoming" } else { "outgoing" },
            &hash,
            p.amount_msat,
            p.created_at,
            p.expires_at,
        ),
        json!({
            "payment_request": p.invoice,
            "memo": p.description,
            "description": p.description,
            "destination_pubkey": if incoming { Some(our_id.to_string()) } else { p.destination.clone() },
            "fee": if incoming { 0 } else { fee_msat.div_ceil(1000) },
            "fee_msat": if incoming { 0 } else { fee_msat },
            "settled": settled,
            "settled_at": p.completed_at.filter(|_| settled).map(rfc3339),
            "state": state,
            "preimage": p.preimage.map(hex::encode),
            "custom_records": records_base64(records),
            "keysend_message": record_text(records, KEYSEND_MESSAGE_RECORD),
            "boostagram": boostagram,
            "keysend": p.kind == PaymentKind::Keysend,
            "metadata": p.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
            "error_message": p.failure_reason,
        }),
    )
}

/// `GET /invoices/{payment_hash}`: a received payment, else an invoice we issued (paid or
/// not), else a payment we made; 404 if none.
pub(crate) async fn get_invoice(
    State(engine): State<AppState>,
    Path(hash): Path<String>,
) -> AlbyResult {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AlbyError::bad_arguments(format!("`{hash}` is not a payment hash")));
    }
    let hash = hash.to_ascii_lowercase();
    let our_id = engine.node().node_id().to_string();
    if let Some(p) = engine.payment_by_hash(Direction::Incoming, &hash).await? {
        return ok(payment_invoice(&p, &our_id));
    }
    match engine.receive(&hash).await {
        Ok(r) if hex::encode(r.payment_hash) == hash => return ok(receive_invoice(&r, &our_id)),
        Ok(_) | Err(PayError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match engine.payment_by_hash(Direction::Outgoing, &hash).await? {
        Some(p) => ok(payment_invoice(&p, &our_id)),
        None => Err(PayError::NotFound(format!("no invoice or payment with hash {hash}")).into()),
    }
}

/// The invoice lists' query: `page` (from 1), `items`, and `q[since]`, `q[before]` (an
/// invoice identifier: its payment hash), `q[created_at_gt]`, `q[created_at_lt]` (unix).
async fn list(
    engine: &AppState,
    direction: Option<Direction>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    let Query(q) = q.map_err(|e| AlbyError::bad_arguments(e.body_text()))?;
    let num = |k: &str| -> Result<Option<u64>, AlbyError> {
        q.get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| AlbyError::bad_arguments(format!("`{k}` must be a number")))
            })
            .transpose()
    };
    for k in q.keys() {
        let known =
            ["page", "items", "q[since]", "q[before]", "q[created_at_gt]", "q[created_at_lt]"];
        if !known.contains(&k.as_str()) {
            return Err(AlbyError::bad_arguments(format!("unknown query parameter `{k}`")));
        }
    }
    let page = num("page")?.unwrap_or(1).max(1);
    let items = num("items")?.unwrap_or(u64::from(DEFAULT_ITEMS));
    if items == 0 || items > u64::from(MAX_ITEMS) {
        return Err(AlbyError::bad_arguments(format!("items must be 1 to {MAX_ITEMS}")));
    }
    let anchor = |k: &str| {
        let engine = engine.clone();
        let id = q.get(k).cloned();
        async move {
            let Some(id) = id else { return Ok::<_, AlbyError>(None) };
            let mut found = None;
            for d in [Direction::Incoming, Direction::Outgoing] {
                if direction.is_none_or(|x| x == d) {
                    if let Some(r) = engine.payment_by_hash(d, &id).await? {
                        found = Some(r);
                        break;
                    }
                }
            }
            found.map(Some).ok_or_else(|| AlbyError {
                status: StatusCode::NOT_FOUND,
                code: 8,
                message: format!("no invoice `{id}`"),
            })
        }
    };
    let since = anchor("q[since]").await?;
    let before = anchor("q[before]").await?;
    let mut filter = PaymentFilter {
        direction,
        status: Some(PaymentStatus::Complete),
        created_after: num("q[created_at_gt]")?.map(|t| t.saturating_add(1)),
        created_before: num("q[created_at_lt]")?,
        cursor: before.as_ref().map(PaymentRecord::cursor),
        ..Default::default()
    };
    if let Some(s) = &since {
        filter.created_after = Some(filter.created_after.unwrap_or(0).max(s.created_at));
    }
    let since_cursor: Option<PaymentCursor> = since.as_ref().map(PaymentRecord::cursor);
    if since_cursor.is_none() {
        filter.limit = Some(items as u32);
        filter.offset = Some(((page - 1) * items).min(u64::from(u32::MAX)) as u32);
    }
    let records = engine.list_payments(filter).await?;
    let our_id = engine.node().node_id().to_string();
    let list: Vec<Value> = records
        .iter()
        .filter(|r| since_cursor.is_none_or(|c| (r.created_at, r.id) > (c.created_at, c.id)))
        .skip(if since_cursor.is_some() { ((page - 1) * items) as usize } else { 0 })
        .take(items as usize)
        .map(|r| payment_invoice(r, &our_id))
        .collect();
    ok(Value::Array(list))
}

/// `GET /invoices/incoming`: payments received, newest first.
pub(crate) async fn incoming(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, Some(Direction::Incoming), q).await
}

/// `GET /invoices/outgoing`: payments made (complete), newest first.
pub(crate) async fn outgoing(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, Some(Direction::Outgoing), q).await
}

/// `GET /invoices`: both directions, newest first.
pub(crate) async fn all_invoices(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, None, q).await
}

/// `GET /balance`: what the channels can send now, in sats.
pub(crate) async fn balance(State(engine): State<AppState>) -> AlbyResult {
    let b = engine.node().balances();
    ok(json!({
        "balance": b.lightning_spendable_msat / 1000,
        "balance_msat": b.lightning_spendable_msat,
        "currency": "BTC",
        "unit": "sat",
    }))
}

/// `GET /decode/bolt11/{invoice}`: Alby's decoded invoice (with the payee's alias when our
/// graph knows it).
pub(crate) async fn decode(
    State(engine): State<AppState>,
    Path(invoice): Path<String>,
) -> AlbyResult {
    let d = engine.decode_bolt11(&invoice)?;
    let msat = d.amount_msat.unwrap_or(0);
    ok(json!({
        "currency": d.currency,
        "created_at": d.created_at,
        "expiry": d.expiry_secs,
        "expires_at": d.expires_at,
        "payee": d.payee,
        "payee_alias": d.payee_alias.unwrap_or_default(),
        "msatoshi": msat,
        "amount": msat / 1000,
        "description": d.description.unwrap_or_default(),
        "description_hash": d.description_hash,
        "payment_hash": d.payment_hash,
        "min_final_cltv_expiry": d.min_final_cltv_expiry,
    }))
}
