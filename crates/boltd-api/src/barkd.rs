//! barkd's Lightning dialect (seeds 000-002) and boltd's extensions to it: pay any destination,
//! receives, keysend, payment records, history, fee quotes and BOLT12 offers.

use axum::extract::{Path, State};
use axum::Json;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::offer::{OfferPayRequest, OfferRequest};
use boltd_engine::receive::InvoiceRequest as EngineInvoiceRequest;
use boltd_engine::PayResult;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::error::{to_json, ApiError, ApiResult, Body};
use crate::AppState;

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
}

pub(crate) async fn pay(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<BarkPayRequest>,
) -> ApiResult {
    let amount_msat = r.amount_sat.map(|a| a.saturating_mul(1000));
    let res = engine.send(&r.destination, amount_msat, r.comment, ctx).await?;
    Ok(Json(pay_json(&res)))
}

pub(crate) async fn send_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.outgoing_payment(&id).await?)
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
    };
    let rec = engine.create_invoice(req, ctx.idempotency_key).await?;
    to_json(rec)
}

pub(crate) async fn receive_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.receive(&id).await?)
}

pub(crate) async fn pending_receives(State(engine): State<AppState>) -> ApiResult {
    to_json(engine.pending_receives().await?)
}

pub(crate) async fn cancel_receive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(engine.cancel_receive(&id).await?)
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
    to_json(engine.settle_hold(&r.preimage).await?)
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
/// is sent).
pub(crate) async fn fee_quote(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<FeeQuoteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let quote =
        engine.quote_invoice(&q.destination, q.amount_sat.map(|a| a.saturating_mul(1000)))?;
    let mut v = serde_json::to_value(&quote).unwrap_or_default();
    v["fee_sat"] = json!(quote.fee_msat.div_ceil(1000));
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
