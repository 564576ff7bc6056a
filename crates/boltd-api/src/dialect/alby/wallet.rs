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
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::receive::InvoiceRequest;
use boltd_engine::{PayError, PayRequest, PayResult};
use boltd_store::{Direction, PaymentCursor, PaymentFilter, PaymentRecord, PaymentStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{AlbyError, DEFAULT_ITEMS, MAX_ITEMS, TAG};
use crate::context::Ctx;
use crate::dialect::alby::invoice::{
    payment_invoice, receive_invoice, sats, AlbyInvoice, PaymentView,
};
use crate::dialect::alby::AlbyErrorBody;
use crate::error::ApiError;
use crate::AppState;

type AlbyResult = Result<Response, AlbyError>;

/// Alby's `amount` (sats) in msat, or bad arguments (8) above 21 million bitcoin.
fn sat_to_msat(amount_sat: u64) -> Result<u64, AlbyError> {
    boltd_engine::amount::sat_to_msat("amount", amount_sat).map_err(AlbyError::bad_arguments)
}

fn ok<T: Serialize>(v: T) -> AlbyResult {
    Ok(Json(v).into_response())
}

/// A JSON object body; fields in `unsupported` are refused by name (boltd cannot keep them).
fn object_body(
    body: Result<Json<Value>, JsonRejection>,
    unsupported: &[&str],
) -> Result<Value, AlbyError> {
    let Json(v) = body.map_err(|e| {
        let mut err = AlbyError::bad_arguments(e.body_text());
        // Oversized stays 413 (as documented); everything else unreadable is Alby's 400.
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            err.status = StatusCode::PAYLOAD_TOO_LARGE;
        }
        err
    })?;
    let Some(map) = v.as_object() else {
        return Err(AlbyError::bad_arguments("the body must be a JSON object"));
    };
    if let Some(k) = unsupported.iter().find(|k| map.get(**k).is_some_and(|v| !v.is_null())) {
        return Err(AlbyError::bad_arguments(format!("`{k}` is not supported by boltd")));
    }
    Ok(v)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AlbyError> {
    crate::error::from_value(v).map_err(|e| AlbyError::bad_arguments(format!("bad arguments: {e}")))
}

/// A payment result in Alby's shape (`amount` is what the payee got, `fee` rounded up to a
/// sat).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyPayment {
    /// What the payee got, in sats.
    amount: u64,
    /// The same, in msat.
    amount_msat: u64,
    /// Routing fees, in sats (rounded up).
    fee: u64,
    /// Routing fees, in msat.
    fee_msat: u64,
    /// The payment hash (hex).
    payment_hash: String,
    /// The preimage (hex), once complete.
    payment_preimage: Option<String>,
    /// Where the payment stands.
    #[schema(value_type = PaymentStatus)]
    status: String,
}

impl AlbyPayment {
    fn of(r: &PayResult) -> Self {
        let fee_msat = r.amount_sent_msat.saturating_sub(r.amount_msat);
        AlbyPayment {
            amount: sats(r.amount_msat),
            amount_msat: r.amount_msat,
            fee: fee_msat.div_ceil(1000),
            fee_msat,
            payment_hash: r.payment_hash.clone(),
            payment_preimage: r.payment_preimage.clone(),
            status: r.status.clone(),
        }
    }
}

/// 200, or 202 while the payment is still in flight.
fn payment_status(r: &PayResult) -> StatusCode {
    if r.status == PaymentStatus::Pending.as_str() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    }
}

/// An invoice payment, in Alby's shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyBolt11Payment {
    #[serde(flatten)]
    payment: AlbyPayment,
    /// The payee's node id.
    destination: Option<String>,
    /// The invoice paid.
    payment_request: String,
    /// The invoice's description (empty if it has none).
    description: String,
    /// The invoice's description hash (hex), if it commits to one.
    description_hash: Option<String>,
}

/// Pays a BOLT11 invoice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayBolt11 {
    /// The BOLT11 invoice.
    invoice: String,
    /// Sats, for an invoice without an amount (positive; must match a fixed amount; a number
    /// or a string of digits).
    #[serde(default, deserialize_with = "crate::wire::opt_uint_or_string")]
    #[schema(value_type = Option<crate::wire::UintOrString>, minimum = 1)]
    amount: Option<u64>,
}

/// Alby's errors of a payment.
const PAY_ERRORS: &str = "The payment failed (code 10, Alby's contract)";

/// Pays an invoice and waits for the result; 202 with `status: pending` if it is still in
/// flight when the retry window ends.
#[utoipa::path(post, path = "/payments/bolt11", tag = TAG, operation_id = "alby_pay_bolt11",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = PayBolt11,
    responses(
        (status = 200, description = "Paid (or failed after sending)", body = AlbyBolt11Payment),
        (status = 202, description = "Still in flight", body = AlbyBolt11Payment),
        (status = 400, description = "Bad arguments (8), or not enough balance or an expired invoice (2)", body = AlbyErrorBody),
        (status = 403, description = "Over the token's per-payment maximum or budget (1)", body = AlbyErrorBody),
        (status = 409, description = "The idempotency key was used for another request, or already paid (8)", body = AlbyErrorBody),
        (status = 500, description = PAY_ERRORS, body = AlbyErrorBody),
    ))]
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
        (None, Some(a)) => Some(sat_to_msat(a)?),
    };
    let req =
        PayRequest { bolt11: r.invoice.trim().to_string(), amount_msat, ..Default::default() };
    let res = engine.pay(req, ctx, None).await?;
    let body = AlbyBolt11Payment {
        payment: AlbyPayment::of(&res),
        destination: res.destination.clone(),
        payment_request: r.invoice.trim().to_string(),
        description: decoded.description.clone().unwrap_or_default(),
        description_hash: decoded.description_hash,
    };
    Ok((payment_status(&res), Json(body)).into_response())
}

/// A keysend.
#[derive(Deserialize, Clone, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlbyKeysend {
    /// Amount in sats (a number or a string of digits).
    #[serde(deserialize_with = "crate::wire::uint_or_string")]
    #[schema(value_type = crate::wire::UintOrString)]
    amount: u64,
    /// The payee's node id (hex).
    destination: String,
    /// A memo, stored with the payment.
    memo: Option<String>,
    /// Custom TLV records: type (decimal, 65536 or above) to value (UTF-8 text, sent as its
    /// bytes).
    custom_records: Option<BTreeMap<String, String>>,
    /// The SDK sends the records under this name too (lndhub.go's deprecated spelling).
    #[serde(rename = "customRecords")]
    custom_records_camel: Option<BTreeMap<String, String>>,
}

/// A keysend payment, in Alby's shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyKeysendPayment {
    #[serde(flatten)]
    payment: AlbyPayment,
    /// The memo (empty if none).
    description: String,
    /// Always empty.
    description_hash: String,
    /// The payee's node id.
    destination: String,
    /// The records sent.
    custom_records: BTreeMap<String, String>,
}

/// A keysend that was not paid: what it was for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyKeysendTarget {
    /// The payee's node id.
    destination: String,
    /// The records it would have sent.
    custom_records: BTreeMap<String, String>,
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
            amount_msat: sat_to_msat(self.amount)?,
            custom_records: self.records()?,
            memo: self.memo.clone(),
            ..Default::default()
        })
    }

    fn paid(&self, r: &PayResult) -> AlbyKeysendPayment {
        AlbyKeysendPayment {
            payment: AlbyPayment::of(r),
            description: self.memo.clone().unwrap_or_default(),
            description_hash: String::new(),
            destination: self.destination.clone(),
            custom_records: self.records().unwrap_or_default(),
        }
    }
}

/// A keysend: pays and waits for the result.
#[utoipa::path(post, path = "/payments/keysend", tag = TAG, operation_id = "alby_keysend",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = AlbyKeysend,
    responses(
        (status = 200, description = "Paid (or failed after sending)", body = AlbyKeysendPayment),
        (status = 202, description = "Still in flight", body = AlbyKeysendPayment),
        (status = 400, description = "Bad arguments (8), or not enough balance (2)", body = AlbyErrorBody),
        (status = 403, description = "Over the token's per-payment maximum or budget (1)", body = AlbyErrorBody),
        (status = 409, description = "The idempotency key was used for another request (8)", body = AlbyErrorBody),
        (status = 500, description = PAY_ERRORS, body = AlbyErrorBody),
    ))]
pub(crate) async fn keysend(
    State(engine): State<AppState>,
    ctx: Result<Ctx, ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> AlbyResult {
    let Ctx(ctx) = ctx?;
    let k: AlbyKeysend = parse(object_body(body, &[])?)?;
    let res = engine.keysend(k.request()?, ctx).await?;
    Ok((payment_status(&res), Json(k.paid(&res))).into_response())
}

/// Several keysends.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct AlbyMultiKeysendRequest {
    /// The keysends, paid in order.
    #[schema(min_items = 1)]
    keysends: Vec<AlbyKeysend>,
}

/// The outcomes of a multi-keysend, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyMultiKeysendResponse {
    /// One item per keysend of the request.
    keysends: Vec<AlbyMultiKeysendItem>,
}

/// One keysend's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AlbyMultiKeysendItem {
    /// Paid (or failed after sending).
    Paid {
        /// The payment.
        keysend: AlbyKeysendPayment,
    },
    /// Not paid.
    Failed {
        /// What it was for.
        keysend: AlbyKeysendTarget,
        /// Why it was not paid.
        error: AlbyErrorBody,
    },
}

/// A multi-keysend's error answer: the request refused as a whole (Alby's error), or none of
/// the keysends paid (every outcome, in request order).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum AlbyMultiKeysendError {
    /// Refused before anything was sent: bad arguments, authentication, internal.
    Refused(AlbyErrorBody),
    /// None paid: each keysend's outcome.
    Outcomes(AlbyMultiKeysendResponse),
}

/// Several keysends: every item is checked for shape first
/// (a malformed one refuses the whole batch, nothing sent); then each is paid on its own.
/// Results come in request order, `{keysend}` or `{keysend: {destination, custom_records},
/// error}`; the status is 200 when at least one was paid, else the first error's.
#[utoipa::path(post, path = "/payments/keysend/multi", tag = TAG, operation_id = "alby_keysend_multi",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = AlbyMultiKeysendRequest,
    responses(
        (status = 200, description = "At least one keysend was paid", body = AlbyMultiKeysendResponse),
        (status = 400, description = "Bad arguments (8), or none paid: the first error's status", body = AlbyMultiKeysendError),
        (status = 403, description = "None paid: the first was over the token's limits (or the token lacks the scope)", body = AlbyMultiKeysendError),
        (status = 409, description = "None paid: the first was a conflict", body = AlbyMultiKeysendError),
        (status = 500, description = "None paid: the first failed (code 10), or an internal error (6)", body = AlbyMultiKeysendError),
    ))]
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
        let k: AlbyKeysend = crate::error::from_value(item.clone())
            .map_err(|e| AlbyError::bad_arguments(format!("keysends[{i}]: {e}")))?;
        requests.push(
            k.request()
                .map_err(|e| AlbyError::bad_arguments(format!("keysends[{i}]: {}", e.message)))?,
        );
        keysends.push(k);
    }
    let results = engine
        .multi_keysend(requests, ctx)
        .await
        .map_err(|e| AlbyError::bad_arguments(e.to_string()))?;
    let mut first_error: Option<StatusCode> = None;
    let mut any_paid = false;
    let out: Vec<AlbyMultiKeysendItem> = results
        .into_iter()
        .zip(&keysends)
        .map(|(r, k)| match r {
            Ok(p) => {
                any_paid = true;
                AlbyMultiKeysendItem::Paid { keysend: k.paid(&p) }
            }
            Err(e) => {
                let e = AlbyError::from(e);
                first_error.get_or_insert(e.status);
                AlbyMultiKeysendItem::Failed {
                    keysend: AlbyKeysendTarget {
                        destination: k.destination.clone(),
                        custom_records: k.records().unwrap_or_default(),
                    },
                    error: e.body(),
                }
            }
        })
        .collect();
    let status = if any_paid { StatusCode::OK } else { first_error.unwrap_or(StatusCode::OK) };
    Ok((status, Json(AlbyMultiKeysendResponse { keysends: out })).into_response())
}

/// An invoice to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvoice {
    /// Sats (a number or a string of digits, as Alby takes it); 0 makes an any-amount invoice
    /// (as lndhub.go allows).
    #[serde(deserialize_with = "crate::wire::uint_or_string")]
    #[schema(value_type = crate::wire::UintOrString)]
    amount: u64,
    /// The description.
    description: Option<String>,
    /// SHA-256 (hex) of a description to commit to instead.
    description_hash: Option<String>,
    /// Alby: "same as description".
    memo: Option<String>,
    /// Only `btc`.
    currency: Option<String>,
    /// boltd: seconds until it expires (default 3600; a number or a string of digits).
    #[serde(default, deserialize_with = "crate::wire::opt_uint_or_string")]
    #[schema(value_type = Option<crate::wire::UintOrString>, maximum = 4_294_967_295_u64)]
    expiry: Option<u64>,
}

/// Creates an invoice, in Alby's invoice shape. Alby's `comment`, `metadata` and `payer_*`
/// are refused (boltd does not keep them with invoices).
#[utoipa::path(post, path = "/invoices", tag = TAG, operation_id = "alby_create_invoice",
    security(("bearer" = ["invoices:create"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = CreateInvoice,
    responses(
        (status = 200, description = "The invoice", body = AlbyInvoice),
        (status = 400, description = "Bad arguments (8)", body = AlbyErrorBody),
        (status = 409, description = "The idempotency key was used for another request (8)", body = AlbyErrorBody),
        (status = 500, description = "The node could not make the invoice (10)", body = AlbyErrorBody),
    ))]
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
        amount_msat: (r.amount > 0).then(|| sat_to_msat(r.amount)).transpose()?,
        description,
        description_hash: r.description_hash,
        expiry_secs: r
            .expiry
            .map(u32::try_from)
            .transpose()
            .map_err(|_| AlbyError::bad_arguments("expiry is too large"))?,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx).await?;
    let lsp = engine.receive_lsp(rec.payment_hash).await?;
    let invoice = receive_invoice(&rec, &engine.node().node_id().to_string()).with_lsp(lsp);
    Ok(Json(invoice).into_response())
}

/// A received payment, else an invoice we issued (paid or not), else a payment we made; 404
/// if none.
#[utoipa::path(get, path = "/invoices/{payment_hash}", tag = TAG, operation_id = "alby_get_invoice",
    security(("bearer" = ["invoices:read"])),
    params(("payment_hash" = String, Path, description = "The payment hash (hex)")),
    responses(
        (status = 200, description = "The invoice or payment", body = AlbyInvoice),
        (status = 400, description = "Not a payment hash (8)", body = AlbyErrorBody),
        (status = 404, description = "No invoice or payment with that hash (8)", body = AlbyErrorBody),
    ))]
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
        // The payer's comment is kept with the receive.
        let comment = engine.receive(&hash).await.ok().and_then(|r| r.payer_note);
        return ok(payment_invoice(&PaymentView::of(&p), &our_id, comment));
    }
    match engine.receive(&hash).await {
        Ok(r) if hex::encode(r.payment_hash) == hash => {
            let lsp = engine.receive_lsp(r.payment_hash).await?;
            return ok(receive_invoice(&r, &our_id).with_lsp(lsp));
        }
        Ok(_) | Err(PayError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match engine.payment_by_hash(Direction::Outgoing, &hash).await? {
        Some(p) => ok(payment_invoice(&PaymentView::of(&p), &our_id, None)),
        None => Err(PayError::NotFound(format!("no invoice or payment with hash {hash}")).into()),
    }
}

/// The invoice lists' query (unknown parameters are refused).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AlbyListQuery {
    /// The page, from 1 (default 1).
    page: Option<u64>,
    /// Items per page (default 25).
    #[param(minimum = 1, maximum = 100)]
    items: Option<u64>,
    /// Only invoices after this one (its payment hash).
    #[param(rename = "q[since]")]
    since: Option<String>,
    /// Only invoices before this one (its payment hash).
    #[param(rename = "q[before]")]
    before: Option<String>,
    /// Only invoices created after this time (unix seconds).
    #[param(rename = "q[created_at_gt]")]
    created_at_gt: Option<u64>,
    /// Only invoices created before this time (unix seconds).
    #[param(rename = "q[created_at_lt]")]
    created_at_lt: Option<u64>,
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
        filter.offset = Some((page - 1).saturating_mul(items).min(u64::from(u32::MAX)) as u32);
    }
    let records = engine.list_payments(filter).await?;
    let our_id = engine.node().node_id().to_string();
    let list: Vec<AlbyInvoice> = records
        .iter()
        .filter(|r| since_cursor.is_none_or(|c| (r.created_at, r.id) > (c.created_at, c.id)))
        .skip(if since_cursor.is_some() { (page - 1).saturating_mul(items) as usize } else { 0 })
        .take(items as usize)
        .map(|r| payment_invoice(&PaymentView::of(r), &our_id, None))
        .collect();
    Ok(Json(list).into_response())
}

/// Payments received, newest first.
#[utoipa::path(get, path = "/invoices/incoming", tag = TAG, operation_id = "alby_incoming_invoices",
    security(("bearer" = ["invoices:read"])),
    params(AlbyListQuery),
    responses(
        (status = 200, description = "The payments", body = Vec<AlbyInvoice>),
        (status = 400, description = "Bad arguments (8)", body = AlbyErrorBody),
        (status = 404, description = "No invoice `q[since]` or `q[before]` (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn incoming(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, Some(Direction::Incoming), q).await
}

/// Payments made (complete), newest first.
#[utoipa::path(get, path = "/invoices/outgoing", tag = TAG, operation_id = "alby_outgoing_invoices",
    security(("bearer" = ["transactions:read"])),
    params(AlbyListQuery),
    responses(
        (status = 200, description = "The payments", body = Vec<AlbyInvoice>),
        (status = 400, description = "Bad arguments (8)", body = AlbyErrorBody),
        (status = 404, description = "No invoice `q[since]` or `q[before]` (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn outgoing(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, Some(Direction::Outgoing), q).await
}

/// Payments in both directions (complete), newest first.
#[utoipa::path(get, path = "/invoices", tag = TAG, operation_id = "alby_invoices",
    security(("bearer" = ["transactions:read"])),
    params(AlbyListQuery),
    responses(
        (status = 200, description = "The payments", body = Vec<AlbyInvoice>),
        (status = 400, description = "Bad arguments (8)", body = AlbyErrorBody),
        (status = 404, description = "No invoice `q[since]` or `q[before]` (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn all_invoices(
    State(engine): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> AlbyResult {
    list(&engine, None, q).await
}

/// Alby's balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyBalance {
    /// What the channels can send now, in sats.
    balance: u64,
    /// The same, in msat.
    balance_msat: u64,
    /// Always `BTC`.
    currency: &'static str,
    /// Always `sat`.
    unit: &'static str,
}

/// What the channels can send now, in sats.
#[utoipa::path(get, path = "/balance", tag = TAG, operation_id = "alby_balance",
    security(("bearer" = ["balance:read"])),
    responses((status = 200, description = "The balance", body = AlbyBalance)))]
pub(crate) async fn balance(State(engine): State<AppState>) -> AlbyResult {
    let b = engine.node().balances();
    Ok(Json(AlbyBalance {
        balance: b.lightning_spendable_msat / 1000,
        balance_msat: b.lightning_spendable_msat,
        currency: "BTC",
        unit: "sat",
    })
    .into_response())
}

/// Alby's decoded invoice.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlbyDecodedInvoice {
    /// The currency prefix (`bc`, `tb`, `bcrt`, `tbs`).
    currency: String,
    /// When it was created (unix seconds).
    created_at: u64,
    /// Seconds until it expires.
    expiry: u64,
    /// When it expires (unix seconds).
    expires_at: u64,
    /// The payee's node id.
    payee: String,
    /// The payee's alias, when our graph knows it (else empty).
    payee_alias: String,
    /// The amount in msat (0: any amount).
    msatoshi: u64,
    /// The amount in sats (0: any amount).
    amount: u64,
    /// The description (empty if none).
    description: String,
    /// The description hash (hex), if it commits to one.
    description_hash: Option<String>,
    /// The payment hash (hex).
    payment_hash: String,
    /// The final CLTV delta the payee requires.
    min_final_cltv_expiry: u64,
}

/// Decodes a BOLT11 invoice (with the payee's alias when our graph knows it).
#[utoipa::path(get, path = "/decode/bolt11/{invoice}", tag = TAG, operation_id = "alby_decode_bolt11",
    security(("bearer" = [])),
    params(("invoice" = String, Path, description = "A BOLT11 invoice")),
    responses(
        (status = 200, description = "The decoded invoice", body = AlbyDecodedInvoice),
        (status = 400, description = "Not a valid invoice (8)", body = AlbyErrorBody),
    ))]
pub(crate) async fn decode(
    State(engine): State<AppState>,
    Path(invoice): Path<String>,
) -> AlbyResult {
    let d = engine.decode_bolt11(&invoice)?;
    let msat = d.amount_msat.unwrap_or(0);
    Ok(Json(AlbyDecodedInvoice {
        currency: d.currency,
        created_at: d.created_at,
        expiry: d.expiry_secs,
        expires_at: d.expires_at,
        payee: d.payee,
        payee_alias: d.payee_alias.unwrap_or_default(),
        msatoshi: msat,
        amount: msat / 1000,
        description: d.description.unwrap_or_default(),
        description_hash: d.description_hash,
        payment_hash: d.payment_hash,
        min_final_cltv_expiry: d.min_final_cltv_expiry,
    })
    .into_response())
}
