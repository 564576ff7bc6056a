//! barkd's Lightning dialect (seeds 000-002, barkd's OpenAPI spec) and boltd's extensions to
//! it: pay any destination (with a synchronous mode), receives, keysend, payment records,
//! history (boltd's records and barkd's movements), metadata, fee quotes and BOLT12 offers.
//!
//! Responses carry every field barkd's spec requires (Ark-only fields are empty lists or
//! zero), plus boltd's own.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::offer::{OfferPayRequest, OfferRequest};
use boltd_engine::receive::InvoiceRequest as EngineInvoiceRequest;
use boltd_engine::PayResult;
use boltd_store::{Direction, PaymentKind, PaymentRecord, PaymentStatus, ReceiveRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::error::{to_json, ApiError, ApiResult, Body};
use crate::time::rfc3339;
use crate::AppState;

/// How long barkd's `pay` waits for the final result by default (`wait_secs`).
pub const DEFAULT_PAY_WAIT_SECS: u64 = 30;
/// The longest `wait_secs` accepted.
pub const MAX_PAY_WAIT_SECS: u64 = 600;

fn pay_json(r: &PayResult) -> Value {
    let fee_msat = r.amount_sent_msat.saturating_sub(r.amount_msat);
    json!({
        "message": format!("payment {}", r.status),
        "id": r.id,
        "payment_hash": r.payment_hash,
        "status": r.status,
        "preimage": r.payment_preimage,
        "amount_sat": r.amount_msat / 1000,
        "fee_sat": fee_msat.div_ceil(1000),
        "fee_msat": fee_msat,
        "parts": r.parts,
        "destination": r.destination,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BarkPayRequest {
    destination: String,
    amount_sat: Option<u64>,
    comment: Option<String>,
    /// How long the engine keeps retrying other routes (default 60 s).
    retry_for_secs: Option<u64>,
    /// Synchronous mode: how long this request waits for the final result (default
    /// [`DEFAULT_PAY_WAIT_SECS`], at most [`MAX_PAY_WAIT_SECS`]; 0 returns right after
    /// sending). A payment still in flight then is answered `202 Accepted` with
    /// `status: pending`; it goes on, and `GET /api/v1/lightning/sends/{payment_hash}` tells
    /// its outcome.
    wait_secs: Option<u64>,
}

/// barkd's `pay` (and `wallet/send`): 200 with the final result, or 202 with
/// `status: pending` when the payment is still in flight after `wait_secs`.
pub(crate) async fn pay(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<BarkPayRequest>,
) -> Result<Response, ApiError> {
    let wait_secs = r.wait_secs.unwrap_or(DEFAULT_PAY_WAIT_SECS);
    if wait_secs > MAX_PAY_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "wait_secs must be at most {MAX_PAY_WAIT_SECS}"
        )));
    }
    let ctx = ctx.with_wait(Some(Duration::from_secs(wait_secs)));
    let amount_msat = r.amount_sat.map(|a| a.saturating_mul(1000));
    let res = engine
        .send_with_retry(&r.destination, amount_msat, r.comment, r.retry_for_secs, ctx)
        .await?;
    let status = if res.status == PaymentStatus::Pending.as_str() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(pay_json(&res))).into_response())
}

/// barkd's `LightningSendInfo` state of a payment record.
fn send_state(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "payment-initiated",
        PaymentStatus::Complete => "paid",
        PaymentStatus::Failed => "failed",
    }
}

/// A payment record with barkd's `LightningSendInfo` fields (`state`; `payment_hash`,
/// `invoice` and `preimage` are the record's own).
fn send_json(rec: &PaymentRecord) -> ApiResult {
    let Json(mut v) = to_json(rec)?;
    v["state"] = json!(send_state(rec.status));
    Ok(Json(v))
}

/// A payment hash, or the payment hash of a BOLT11 invoice string.
fn hash_of(engine: &AppState, identifier: &str) -> Result<String, ApiError> {
    let id = identifier.trim();
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(id.to_ascii_lowercase());
    }
    Ok(engine.decode_bolt11(id)?.payment_hash)
}

/// barkd's `GET /api/v1/lightning/sends/{identifier}`: by payment hash or invoice.
pub(crate) async fn send_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let hash = hash_of(&engine, &id)?;
    send_json(&engine.outgoing_payment(&hash).await?)
}

/// A receive with barkd's `LightningReceiveInfo` fields: `amount_sat` (requested, else
/// received, else 0), `payment_preimage` (only once revealed), `settled_at` (RFC 3339), and
/// the Ark-only `htlc_vtxo_ids`/`htlc_vtxos` (empty). `state` keeps boltd's names.
fn receive_json(rec: &ReceiveRecord) -> ApiResult {
    let Json(mut v) = to_json(rec)?;
    let amount_msat = rec.amount_msat.or(rec.received_msat).unwrap_or(0);
    v["amount_sat"] = json!(amount_msat / 1000);
    v["payment_preimage"] = json!(rec.preimage.map(hex::encode));
    let settled = rec.state == boltd_store::ReceiveState::Settled;
    v["settled_at"] = json!(rec.finished_at.filter(|_| settled).map(rfc3339));
    v["htlc_vtxo_ids"] = json!([]);
    v["htlc_vtxos"] = json!([]);
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BarkInvoiceRequest {
    amount_sat: Option<u64>,
    description: Option<String>,
    description_hash: Option<String>,
    expiry_secs: Option<u32>,
    /// Hold invoice: the payment hash whose preimage the caller keeps.
    payment_hash: Option<String>,
    /// barkd's Ark receive token: accepted and ignored (a Lightning node needs none).
    #[allow(dead_code)]
    token: Option<String>,
}

pub(crate) async fn create_invoice(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<BarkInvoiceRequest>,
) -> ApiResult {
    let req = EngineInvoiceRequest {
        amount_msat: r.amount_sat.map(|a| a.saturating_mul(1000)),
        description: r.description,
        description_hash: r.description_hash,
        expiry_secs: r.expiry_secs,
        payment_hash: r.payment_hash,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx.idempotency_key).await?;
    receive_json(&rec)
}

pub(crate) async fn receive_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    receive_json(&engine.receive(&id).await?)
}

pub(crate) async fn pending_receives(State(engine): State<AppState>) -> ApiResult {
    let list: Result<Vec<Value>, ApiError> =
        engine.pending_receives().await?.iter().map(|r| receive_json(r).map(|Json(v)| v)).collect();
    Ok(Json(Value::Array(list?)))
}

pub(crate) async fn cancel_receive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    receive_json(&engine.cancel_receive(&id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettleRequest {
    preimage: String,
}

pub(crate) async fn settle_hold(
    State(engine): State<AppState>,
    Body(r): Body<SettleRequest>,
) -> ApiResult {
    receive_json(&engine.settle_hold(&r.preimage).await?)
}

pub(crate) async fn keysend(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<KeysendRequest>,
) -> ApiResult {
    let res = engine.keysend(r, ctx).await?;
    Ok(Json(pay_json(&res)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MultiKeysendRequest {
    keysends: Vec<KeysendRequest>,
}

pub(crate) async fn multi_keysend(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<MultiKeysendRequest>,
) -> ApiResult {
    let results = engine.multi_keysend(r.keysends, ctx).await;
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(p) => json!({ "keysend": pay_json(&p) }),
            Err(e) => {
                let api = ApiError::from(e);
                json!({ "error": { "code": api.code, "message": api.message } })
            }
        })
        .collect();
    Ok(Json(json!({ "keysends": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeeQuoteQuery {
    destination: String,
    amount_sat: Option<u64>,
}

/// barkd's fee quote: what paying `destination` would cost now (a route is computed; nothing
/// is sent), with barkd's `FeeEstimateResponse` fields.
pub(crate) async fn fee_quote(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<FeeQuoteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let quote =
        engine.quote_invoice(&q.destination, q.amount_sat.map(|a| a.saturating_mul(1000)))?;
    let mut v = serde_json::to_value(&quote).unwrap_or_default();
    let fee_sat = quote.fee_msat.div_ceil(1000);
    let net_sat = quote.amount_msat.div_ceil(1000);
    v["fee_sat"] = json!(fee_sat);
    v["net_amount_sat"] = json!(net_sat);
    v["gross_amount_sat"] = json!(net_sat + fee_sat);
    v["vtxos_spent"] = json!([]);
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiveFeeQuery {
    amount_sat: u64,
}

/// barkd's receive fee estimate. boltd receives straight into its own channels: there is no
/// service in between to pay, so the fee is always 0 (what it does need is inbound liquidity,
/// which this estimate does not check).
pub(crate) async fn receive_fee(
    q: Result<axum::extract::Query<ReceiveFeeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(json!({
        "gross_amount_sat": q.amount_sat,
        "fee_sat": 0,
        "net_amount_sat": q.amount_sat,
        "vtxos_spent": [],
        "reason": "boltd receives into its own channels: no service fee is charged",
    })))
}

/// barkd's `POST /api/v1/history/{id}/metadata`: an RFC 7396 JSON Merge Patch (a JSON object,
/// `application/merge-patch+json` or `application/json`) applied to the payment's metadata.
/// Returns the updated record.
pub(crate) async fn patch_metadata(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Body(patch): Body<Value>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("`{id}` is not a payment record id")))?;
    let rec = engine.merge_metadata(id, &patch).await?;
    let Json(mut v) = to_json(&rec)?;
    v["metadata"] = metadata_value(&rec);
    Ok(Json(v))
}

/// The record's metadata as JSON (it is stored as JSON object text).
fn metadata_value(rec: &PaymentRecord) -> Value {
    rec.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null)
}

/// barkd's movement status of a payment record.
fn movement_status(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Complete => "successful",
        PaymentStatus::Failed => "failed",
    }
}

/// A payment record as one of barkd's `Movement`s. Amounts in sats (payee amounts rounded
/// down, fees up); the balance changes only once a payment is complete.
fn movement(rec: &PaymentRecord) -> Value {
    let amount_sat = (rec.amount_msat / 1000) as i64;
    let fee_sat = rec.fee_msat.unwrap_or(0).div_ceil(1000) as i64;
    let outgoing = rec.direction == Direction::Outgoing;
    let (intended, effective) = match (outgoing, rec.status) {
        (true, PaymentStatus::Complete) => (-amount_sat, -(amount_sat + fee_sat)),
        (true, _) => (-amount_sat, 0),
        (false, PaymentStatus::Complete) => (amount_sat, amount_sat),
        (false, _) => (amount_sat, 0),
    };
    let method = match (&rec.invoice, rec.kind) {
        (Some(i), PaymentKind::Bolt12) if i.starts_with("lno") => {
            json!({"type": "offer", "value": i})
        }
        (Some(i), _) => json!({"type": "invoice", "value": i}),
        (None, _) => {
            json!({"type": "custom", "value": rec.destination.clone().unwrap_or_default()})
        }
    };
    let dest = json!([{ "destination": method, "amount_sat": amount_sat }]);
    let (sent_to, received_on) = if outgoing { (dest, json!([])) } else { (json!([]), dest) };
    let name = if outgoing { "boltd.lightning_send" } else { "boltd.lightning_receive" };
    json!({
        "id": rec.id,
        "status": movement_status(rec.status),
        "subsystem": { "name": name, "kind": rec.kind.as_str() },
        "metadata": metadata_value(rec),
        "intended_balance_sat": intended,
        "effective_balance_sat": effective,
        "offchain_fee_sat": if outgoing { fee_sat } else { 0 },
        "sent_to": sent_to,
        "received_on": received_on,
        "input_vtxos": [],
        "output_vtxos": [],
        "exited_vtxos": [],
        "time": {
            "created_at": rfc3339(rec.created_at),
            "updated_at": rfc3339(rec.updated_at),
            "completed_at": rec.completed_at.map(rfc3339),
        },
        "payment_hash": rec.payment_hash.map(hex::encode),
    })
}

/// barkd's `GET /api/v1/wallet/history`: every payment record as a `Movement`, newest first.
pub(crate) async fn wallet_history(State(engine): State<AppState>) -> ApiResult {
    let records = engine.list_payments(boltd_store::PaymentFilter::default()).await?;
    Ok(Json(Value::Array(records.iter().map(movement).collect())))
}

/// barkd's `GET /api/v1/wallet/balance`: boltd's balances plus barkd's `Balance` fields
/// (`spendable_sat` is what the channels can send now; the Ark-only ones are 0).
pub(crate) async fn balance(State(engine): State<AppState>) -> ApiResult {
    let b = engine.node().balances();
    let in_flight = engine.in_flight().await?;
    let Json(mut v) = to_json(&b)?;
    v["spendable_sat"] = json!(b.lightning_spendable_msat / 1000);
    v["pending_lightning_send_sat"] = json!(in_flight.sending_msat.div_ceil(1000));
    v["claimable_lightning_receive_sat"] = json!(in_flight.claiming_msat / 1000);
    for ark in [
        "needs_refresh_sat",
        "pending_in_round_sat",
        "pending_board_sat",
        "pending_arkoor_send_sat",
        "pending_offboard_sat",
        "pending_exit_sat",
    ] {
        v[ark] = json!(0);
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    direction: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Payments in both directions, newest first.
pub(crate) async fn history(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let direction = match q.direction.as_deref() {
        None => None,
        Some("incoming") => Some(boltd_store::Direction::Incoming),
        Some("outgoing") => Some(boltd_store::Direction::Outgoing),
        Some(d) => {
            return Err(ApiError::bad_request(format!("direction `{d}`: use incoming or outgoing")))
        }
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(boltd_store::PaymentStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("status `{s}`: use pending, complete or failed"))
        })?),
    };
    let filter = boltd_store::PaymentFilter {
        direction,
        status,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
        offset: q.offset,
        ..Default::default()
    };
    to_json(engine.list_payments(filter).await?)
}

// ---- BOLT12 offers ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOfferRequest {
    amount_sat: Option<u64>,
    amount_msat: Option<u64>,
    #[serde(default)]
    description: String,
    expiry_secs: Option<u64>,
}

/// Creates a BOLT12 offer (fixed amount, or any amount when none is given).
pub(crate) async fn create_offer(
    State(engine): State<AppState>,
    Body(r): Body<CreateOfferRequest>,
) -> ApiResult {
    let amount_msat = match (r.amount_sat, r.amount_msat) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give either amount_sat or amount_msat, not both"))
        }
        (Some(sat), None) => Some(sat.saturating_mul(1000)),
        (None, msat) => msat,
    };
    let req = OfferRequest { amount_msat, description: r.description, expiry_secs: r.expiry_secs };
    to_json(engine.create_offer(req).await?)
}

/// Pays a BOLT12 offer; honours the `Idempotency-Key` header.
pub(crate) async fn pay_offer(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<OfferPayRequest>,
) -> ApiResult {
    let res = engine.pay_offer(r, ctx).await?;
    Ok(Json(pay_json(&res)))
}
