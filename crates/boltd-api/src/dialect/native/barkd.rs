//! barkd's Lightning dialect (seeds 000-002, barkd's OpenAPI spec) and boltd's extensions to
//! it: pay any destination (with a synchronous mode), receives, keysend, payment records, fee
//! quotes, the wallet's balance and readiness (`wallet/connected`) and BOLT12 offers. History,
//! metadata and the notifications' barkd form are in `history.rs`.
//!
//! Responses carry every field barkd's spec requires (Ark-only fields are empty lists or
//! zero), plus boltd's own.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::offer::{OfferInfo, OfferPayRequest, OfferRequest};
use boltd_engine::receive::InvoiceRequest as EngineInvoiceRequest;
use boltd_engine::PayResult;
use boltd_node::node::Balances;
use boltd_store::{PaymentRecord, PaymentStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::context::Ctx;
pub(crate) use crate::dialect::native::receive::ReceiveInfo;
use crate::error::{ApiError, ApiResult, Body, ErrorBody};
use crate::AppState;

/// The OpenAPI tag of barkd's dialect.
pub(crate) const TAG: &str = "barkd";

/// How long barkd's `pay` waits for the final result by default (`wait_secs`).
pub const DEFAULT_PAY_WAIT_SECS: u64 = 30;
/// The longest `wait_secs` accepted.
pub const MAX_PAY_WAIT_SECS: u64 = 600;

/// barkd's `LightningPayResponse`, with the payment's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = LightningPayResponse)]
pub struct PayResponse {
    /// `payment complete`, `payment pending` or `payment failed`.
    pub message: String,
    /// The payment record's id.
    pub id: i64,
    /// The payment hash (hex): poll `GET /api/v1/lightning/sends/{payment_hash}` with it.
    pub payment_hash: String,
    /// Where the payment stands.
    #[schema(value_type = PaymentStatus)]
    pub status: String,
    /// The preimage (hex), the proof of payment, once complete.
    pub preimage: Option<String>,
    /// What the payee gets, in sats (rounded down).
    pub amount_sat: u64,
    /// Routing fees in sats (rounded up).
    pub fee_sat: u64,
    /// Routing fees in msat.
    pub fee_msat: u64,
    /// How many parts (paths) the payment took.
    pub parts: u32,
    /// The payee's node id, when known.
    pub destination: Option<String>,
}

impl PayResponse {
    pub(crate) fn of(r: &PayResult) -> Self {
        let fee_msat = r.amount_sent_msat.saturating_sub(r.amount_msat);
        PayResponse {
            message: format!("payment {}", r.status),
            id: r.id,
            payment_hash: r.payment_hash.clone(),
            status: r.status.clone(),
            preimage: r.payment_preimage.clone(),
            amount_sat: r.amount_msat / 1000,
            fee_sat: fee_msat.div_ceil(1000),
            fee_msat,
            parts: r.parts,
            destination: r.destination.clone(),
        }
    }
}

/// barkd's `LightningPayRequest` (and `SendRequest` of `POST /api/v1/wallet/send`), with boltd's
/// synchronous mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LightningPayRequest)]
pub struct BarkPayRequest {
    /// What to pay: a BOLT11 invoice, a BOLT12 offer, a Lightning address, an LNURL, a BIP 21
    /// URI or a node id (keysend).
    pub destination: String,
    /// Amount in sats: required for destinations without an amount, else it must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_sat: Option<u64>,
    /// A comment for the payee (Lightning addresses and LNURL-pay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// How long the engine keeps retrying other routes, in seconds (default 60, at most 86400:
    /// one day; more is a 400 before anything is sent).
    #[schema(minimum = 1, maximum = 86_400)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_for_secs: Option<u64>,
    /// Synchronous mode: how long this request waits for the final result (default
    /// [`DEFAULT_PAY_WAIT_SECS`], at most [`MAX_PAY_WAIT_SECS`]; 0 returns right after
    /// sending). A payment still in flight then is answered `202 Accepted` with
    /// `status: pending`; it goes on, and `GET /api/v1/lightning/sends/{payment_hash}` tells
    /// its outcome.
    #[schema(maximum = 600)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_secs: Option<u64>,
}

/// Pay any destination: 200 with the final result, or 202 with `status: pending` when the
/// payment is still in flight after `wait_secs` (it goes on; see
/// `GET /api/v1/lightning/sends/{payment_hash}`). Takes an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/lightning/pay", tag = TAG, operation_id = "pay",
    security(("bearer" = ["payments:send"])),
    params(IdempotencyKey),
    request_body = BarkPayRequest,
    responses(
        (status = 200, description = "The payment completed or failed", body = PayResponse),
        (status = 202, description = "Still in flight after `wait_secs`", body = PayResponse),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ErrorBody),
        (status = 409, description = "The idempotency key was used for another request, or the invoice was paid differently", body = ErrorBody),
        (status = 422, description = "No route, too expensive, rejected by the destination, or failed", body = ErrorBody),
        (status = 503, description = "Channels busy: too many payments in flight for another HTLC now (nothing sent; retry)", body = ErrorBody),
        (status = 504, description = "Gave up retrying without a payment in flight", body = ErrorBody),
    ))]
pub(crate) async fn pay(
    engine: State<AppState>,
    ctx: Ctx,
    body: Body<BarkPayRequest>,
) -> Result<Response, ApiError> {
    pay_any(engine, ctx, body).await
}

/// barkd's `send`: the same as `POST /api/v1/lightning/pay` (boltd has no Ark or on-chain
/// destinations here: use `POST /api/v1/onchain/send` for those).
#[utoipa::path(post, path = "/api/v1/wallet/send", tag = TAG, operation_id = "send",
    security(("bearer" = ["payments:send"])),
    params(IdempotencyKey),
    request_body = BarkPayRequest,
    responses(
        (status = 200, description = "The payment completed or failed", body = PayResponse),
        (status = 202, description = "Still in flight after `wait_secs`", body = PayResponse),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ErrorBody),
        (status = 409, description = "The idempotency key was used for another request, or the invoice was paid differently", body = ErrorBody),
        (status = 422, description = "No route, too expensive, rejected by the destination, or failed", body = ErrorBody),
        (status = 503, description = "Channels busy: too many payments in flight for another HTLC now (nothing sent; retry)", body = ErrorBody),
        (status = 504, description = "Gave up retrying without a payment in flight", body = ErrorBody),
    ))]
pub(crate) async fn wallet_send(
    engine: State<AppState>,
    ctx: Ctx,
    body: Body<BarkPayRequest>,
) -> Result<Response, ApiError> {
    pay_any(engine, ctx, body).await
}

async fn pay_any(
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
    let amount_msat = r.amount_sat.map(|a| sat_to_msat("amount_sat", a)).transpose()?;
    let res = engine
        .send_with_retry(&r.destination, amount_msat, r.comment, r.retry_for_secs, ctx)
        .await?;
    let status = if res.status == PaymentStatus::Pending.as_str() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PayResponse::of(&res))).into_response())
}

/// `amount_sat` in msat, or a 400 naming `name` above 21 million bitcoin (never a silent
/// saturation).
fn sat_to_msat(name: &str, amount_sat: u64) -> Result<u64, ApiError> {
    boltd_engine::amount::sat_to_msat(name, amount_sat).map_err(ApiError::bad_request)
}

/// The optional `Idempotency-Key` header of requests that create payments or invoices.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IdempotencyKey {
    /// A client key (visible ASCII, 1 to 255 characters): the same key replays the first
    /// result; the same key with another request is a 409.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[\\x21-\\x7e]+$"
    )]
    idempotency_key: Option<String>,
}

/// barkd's `LightningSendInfo` state of a payment record.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SendState {
    /// Pending: HTLCs may be in flight.
    PaymentInitiated,
    /// Complete.
    Paid,
    /// Failed.
    Failed,
}

impl From<PaymentStatus> for SendState {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => SendState::PaymentInitiated,
            PaymentStatus::Complete => SendState::Paid,
            PaymentStatus::Failed => SendState::Failed,
        }
    }
}

/// A payment record with barkd's `LightningSendInfo` fields (`state`; `payment_hash`,
/// `invoice` and `preimage` are the record's own).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LightningSendInfo)]
pub(crate) struct SendInfo {
    #[serde(flatten)]
    record: PaymentRecord,
    /// barkd's name for where the payment stands.
    state: SendState,
}

/// A payment hash, or the payment hash of a BOLT11 invoice string.
fn hash_of(engine: &AppState, identifier: &str) -> Result<String, ApiError> {
    let id = identifier.trim();
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(id.to_ascii_lowercase());
    }
    Ok(engine.decode_bolt11(id)?.payment_hash)
}

/// An outgoing payment by payment hash or BOLT11 invoice, with barkd's `state`.
#[utoipa::path(get, path = "/api/v1/lightning/sends/{identifier}", tag = TAG,
    operation_id = "get_send_status",
    security(("bearer" = ["transactions:read"])),
    params(("identifier" = String, Path, description = "A payment hash (hex) or a BOLT11 invoice")),
    responses(
        (status = 200, description = "The payment record", body = SendInfo),
        (status = 400, description = "Neither a payment hash nor an invoice", body = ErrorBody),
        (status = 404, description = "No payment with that hash", body = ErrorBody),
    ))]
pub(crate) async fn send_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<SendInfo> {
    let hash = hash_of(&engine, &id)?;
    let record = engine.outgoing_payment(&hash).await?;
    Ok(Json(SendInfo { state: record.status.into(), record }))
}

/// barkd's `LightningInvoiceRequest`, with boltd's any-amount, description-hash, expiry and
/// hold invoices.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LightningInvoiceRequest)]
pub struct BarkInvoiceRequest {
    /// Amount in sats; absent: an any-amount invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_sat: Option<u64>,
    /// The description (memo) in the invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SHA-256 (hex) of a description to commit to instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_hash: Option<String>,
    /// Seconds until it expires (default 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_secs: Option<u32>,
    /// Hold invoice: the payment hash (hex) whose preimage the caller keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_hash: Option<String>,
    /// Through an LSP (LSPS2, a just-in-time channel): `true` always, `false` never; unset:
    /// when an LSP is configured and the node's usable channels cannot receive the amount.
    /// The answer's `lsp` says the fee the LSP will take and until when its promise holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_lsp: Option<bool>,
    /// barkd's Ark receive token: accepted and ignored (a Lightning node needs none).
    #[allow(dead_code)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A BOLT11 invoice; with `payment_hash`, a hold invoice (settle it with its preimage).
/// Takes an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/lightning/receives/invoice", tag = TAG,
    operation_id = "generate_invoice",
    security(("bearer" = ["invoices:create"])),
    params(IdempotencyKey),
    request_body = BarkInvoiceRequest,
    responses(
        (status = 200, description = "The new receive", body = ReceiveInfo),
        (status = 409, description = "The idempotency key was used for another request", body = ErrorBody),
        (status = 422, description = "The node could not make the invoice", body = ErrorBody),
    ))]
pub(crate) async fn create_invoice(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<BarkInvoiceRequest>,
) -> ApiResult<ReceiveInfo> {
    let req = EngineInvoiceRequest {
        amount_msat: r.amount_sat.map(|a| sat_to_msat("amount_sat", a)).transpose()?,
        description: r.description,
        description_hash: r.description_hash,
        expiry_secs: r.expiry_secs,
        payment_hash: r.payment_hash,
        via_lsp: r.via_lsp,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx).await?;
    let lsp = engine.receive_lsp(rec.payment_hash).await?;
    Ok(Json(ReceiveInfo::of(rec).with_lsp(lsp)))
}

/// A receive by payment hash, invoice or preimage.
#[utoipa::path(get, path = "/api/v1/lightning/receives/{identifier}", tag = TAG,
    operation_id = "get_receive_status",
    security(("bearer" = ["invoices:read"])),
    params(("identifier" = String, Path, description = "A payment hash, a BOLT11 invoice or a preimage (hex)")),
    responses(
        (status = 200, description = "The receive", body = ReceiveInfo),
        (status = 400, description = "Not a payment hash, invoice or preimage", body = ErrorBody),
        (status = 404, description = "No such receive", body = ErrorBody),
    ))]
pub(crate) async fn receive_status(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ReceiveInfo> {
    let rec = engine.receive(&id).await?;
    let lsp = engine.receive_lsp(rec.payment_hash).await?;
    Ok(Json(ReceiveInfo::of(rec).with_lsp(lsp)))
}

/// Pending receives (not yet settled, canceled or expired), oldest first.
#[utoipa::path(get, path = "/api/v1/lightning/receives", tag = TAG,
    operation_id = "list_receive_statuses",
    security(("bearer" = ["invoices:read"])),
    responses((status = 200, description = "The pending receives", body = Vec<ReceiveInfo>)))]
pub(crate) async fn pending_receives(
    State(engine): State<AppState>,
) -> ApiResult<Vec<ReceiveInfo>> {
    Ok(Json(engine.pending_receives().await?.into_iter().map(ReceiveInfo::of).collect()))
}

/// Cancels a receive that has not revealed its preimage (a hold invoice's HTLCs are failed
/// back).
#[utoipa::path(delete, path = "/api/v1/lightning/receives/{identifier}", tag = TAG,
    operation_id = "cancel_receive",
    security(("bearer" = ["invoices:create"])),
    params(("identifier" = String, Path, description = "A payment hash, a BOLT11 invoice or a preimage (hex)")),
    responses(
        (status = 200, description = "The canceled receive", body = ReceiveInfo),
        (status = 400, description = "Not a payment hash, invoice or preimage", body = ErrorBody),
        (status = 404, description = "No such receive", body = ErrorBody),
        (status = 409, description = "Too late: the preimage is revealed, or it is final", body = ErrorBody),
    ))]
pub(crate) async fn cancel_receive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> ApiResult<ReceiveInfo> {
    Ok(Json(ReceiveInfo::of(engine.cancel_receive(&id, ctx.owner.as_deref()).await?)))
}

/// Settles a hold invoice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettleRequest {
    /// The preimage (hex) of the hold invoice's payment hash.
    preimage: String,
}

/// Settles a hold invoice whose HTLCs have arrived, with its preimage.
#[utoipa::path(post, path = "/api/v1/lightning/receives/settle", tag = TAG,
    operation_id = "settle_receive",
    security(("bearer" = ["invoices:create"])),
    request_body = SettleRequest,
    responses(
        (status = 200, description = "The settling receive", body = ReceiveInfo),
        (status = 404, description = "No hold invoice with that preimage's hash", body = ErrorBody),
        (status = 409, description = "Nothing has arrived yet, or it is final", body = ErrorBody),
    ))]
pub(crate) async fn settle_hold(
    State(engine): State<AppState>,
    Body(r): Body<SettleRequest>,
) -> ApiResult<ReceiveInfo> {
    Ok(Json(ReceiveInfo::of(engine.settle_hold(&r.preimage).await?)))
}

/// A spontaneous payment (keysend) to a node, with custom TLV records. Takes an
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/lightning/keysend", tag = TAG, operation_id = "keysend",
    security(("bearer" = ["payments:send"])),
    params(IdempotencyKey),
    request_body = KeysendRequest,
    responses(
        (status = 200, description = "The payment's outcome", body = PayResponse),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ErrorBody),
        (status = 409, description = "The idempotency key was used for another request", body = ErrorBody),
        (status = 422, description = "No route, too expensive, rejected by the destination, or failed", body = ErrorBody),
        (status = 503, description = "Channels busy: too many payments in flight for another HTLC now (nothing sent; retry)", body = ErrorBody),
        (status = 504, description = "Gave up retrying without a payment in flight", body = ErrorBody),
    ))]
pub(crate) async fn keysend(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<KeysendRequest>,
) -> ApiResult<PayResponse> {
    let res = engine.keysend(r, ctx).await?;
    Ok(Json(PayResponse::of(&res)))
}

/// Several keysends, each paid on its own.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MultiKeysendRequest {
    /// The keysends, paid in order.
    keysends: Vec<KeysendRequest>,
}

/// The outcomes of a multi-keysend, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MultiKeysendResponse {
    /// One item per keysend of the request.
    keysends: Vec<MultiKeysendItem>,
}

/// One keysend's outcome: paid (or failed after sending), or refused with an error.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum MultiKeysendItem {
    /// The payment was made (its `status` tells the outcome).
    Sent {
        /// The payment.
        keysend: PayResponse,
    },
    /// The keysend was refused or failed.
    Refused {
        /// Why.
        error: ErrorBody,
    },
}

/// Several keysends in one request; each is paid on its own (one failing does not stop the
/// others).
#[utoipa::path(post, path = "/api/v1/lightning/keysend/multi", tag = TAG,
    operation_id = "keysend_multi",
    security(("bearer" = ["payments:send"])),
    params(IdempotencyKey),
    request_body = MultiKeysendRequest,
    responses(
        (status = 200, description = "Each keysend's outcome, in request order", body = MultiKeysendResponse),
        (status = 400, description = "An item is out of bounds (nothing sent)", body = ErrorBody),
    ))]
pub(crate) async fn multi_keysend(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<MultiKeysendRequest>,
) -> ApiResult<MultiKeysendResponse> {
    let results = engine.multi_keysend(r.keysends, ctx).await?;
    let keysends = results
        .into_iter()
        .map(|r| match r {
            Ok(p) => MultiKeysendItem::Sent { keysend: PayResponse::of(&p) },
            Err(e) => {
                let api = ApiError::from(e);
                MultiKeysendItem::Refused {
                    error: ErrorBody::new(api.status, api.code, api.message),
                }
            }
        })
        .collect();
    Ok(Json(MultiKeysendResponse { keysends }))
}

/// The fee quote's query: barkd's `amount_sat` alone (a worst-case estimate), or boltd's
/// `destination` (a route's fee).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeeQuoteQuery {
    /// A BOLT11 invoice: quote a route to it (boltd's addition).
    destination: Option<String>,
    /// Amount in sats: alone, barkd's estimate; with an invoice without an amount, what to pay.
    amount_sat: Option<u64>,
}

/// How a fee estimate was made.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FeeBasis {
    /// A route to the destination was computed: its fee.
    Route,
    /// Only an amount was given: the most a payment of it may cost, the fee limit boltd
    /// applies to it by default (Core Lightning's: 0.5 %, at least 5 sat). A payment made
    /// after this estimate never pays more.
    WorstCase,
}

/// barkd's `FeeEstimateResponse` (sats; the fee rounded up), with the quote's details.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LightningFeeEstimate {
    /// The fee, in sats (rounded up).
    fee_sat: u64,
    /// What the payee gets, in sats.
    net_amount_sat: u64,
    /// Amount plus fee, in sats.
    gross_amount_sat: u64,
    /// Ark only: always empty.
    vtxos_spent: Vec<String>,
    /// How the fee was estimated.
    basis: FeeBasis,
    /// Amount the payee would get, in msat.
    amount_msat: u64,
    /// The fee, in msat.
    fee_msat: u64,
    /// The fee limit that applies to the payment, in msat.
    fee_limit_msat: u64,
    /// Total CLTV delay of the route, in blocks (`route` only).
    delay_blocks: Option<u32>,
    /// Paths (parts) of the route (`route` only).
    parts: Option<u32>,
    /// Hops of the longest path (`route` only).
    hops: Option<u32>,
    /// Whether the route fits the default fee and delay limits (`route` only).
    within_limits: Option<bool>,
}

impl LightningFeeEstimate {
    fn of(basis: FeeBasis, amount_msat: u64, fee_msat: u64, fee_limit_msat: u64) -> Self {
        let fee_sat = fee_msat.div_ceil(1000);
        let net_amount_sat = amount_msat.div_ceil(1000);
        LightningFeeEstimate {
            fee_sat,
            net_amount_sat,
            gross_amount_sat: net_amount_sat.saturating_add(fee_sat),
            vtxos_spent: Vec::new(),
            basis,
            amount_msat,
            fee_msat,
            fee_limit_msat,
            delay_blocks: None,
            parts: None,
            hops: None,
            within_limits: None,
        }
    }
}

/// What paying would cost: with `destination` (a BOLT11 invoice), a route is computed and its
/// fee quoted (nothing is sent); with `amount_sat` alone (barkd's form), the worst case, the
/// fee limit a payment of that amount gets.
#[utoipa::path(get, path = "/api/v1/fees/lightning/pay", tag = TAG,
    operation_id = "lightning_send_fee",
    security(("bearer" = ["payments:send"])),
    params(FeeQuoteQuery),
    responses(
        (status = 200, description = "The fee", body = LightningFeeEstimate),
        (status = 400, description = "Neither `destination` nor `amount_sat`, or a bad amount", body = ErrorBody),
        (status = 422, description = "No route", body = ErrorBody),
    ))]
pub(crate) async fn fee_quote(
    State(engine): State<AppState>,
    q: Result<axum::extract::Query<FeeQuoteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<LightningFeeEstimate> {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let amount_msat = q.amount_sat.map(|a| sat_to_msat("amount_sat", a)).transpose()?;
    let Some(destination) = q.destination else {
        let amount_msat = amount_msat
            .ok_or_else(|| ApiError::bad_request("give `amount_sat` (or a `destination`)"))?;
        let limit = boltd_engine::pay::default_fee_limit_msat(amount_msat);
        return Ok(Json(LightningFeeEstimate::of(FeeBasis::WorstCase, amount_msat, limit, limit)));
    };
    let quote = engine.quote_invoice(&destination, amount_msat)?;
    Ok(Json(LightningFeeEstimate {
        delay_blocks: Some(quote.delay_blocks),
        parts: Some(quote.parts),
        hops: Some(quote.hops),
        within_limits: Some(quote.within_limits),
        ..LightningFeeEstimate::of(
            FeeBasis::Route,
            quote.amount_msat,
            quote.fee_msat,
            quote.fee_limit_msat,
        )
    }))
}

/// barkd's `ConnectedResponse`, for a Lightning node: whether it can pay now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectedResponse {
    /// True when at least one channel is usable now (ready, its peer connected): the node can
    /// send. barkd's meaning (connected to its Ark server) has no counterpart in a node.
    connected: bool,
    /// Channels usable now.
    usable_channels: usize,
    /// Peers connected now.
    peers: usize,
}

/// barkd's readiness check, answered for the node itself: `connected` is true when a channel
/// is usable now.
#[utoipa::path(get, path = "/api/v1/wallet/connected", tag = TAG, operation_id = "connected",
    security(("bearer" = ["balance:read"])),
    responses((status = 200, description = "Whether the node can pay now", body = ConnectedResponse)))]
pub(crate) async fn connected(State(engine): State<AppState>) -> Json<ConnectedResponse> {
    let usable_channels = engine.node().usable_channels();
    Json(ConnectedResponse {
        connected: usable_channels > 0,
        usable_channels,
        peers: engine.node().list_peers().len(),
    })
}

/// The receive fee estimate's query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReceiveFeeQuery {
    /// The amount to receive, in sats.
    amount_sat: u64,
}

/// barkd's `FeeEstimateResponse`, with why the fee is what it is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeeEstimateResponse {
    /// The amount the payer pays, in sats.
    gross_amount_sat: u64,
    /// The fee, in sats: always 0.
    fee_sat: u64,
    /// What arrives, in sats.
    net_amount_sat: u64,
    /// Ark only: always empty.
    vtxos_spent: Vec<String>,
    /// Why.
    reason: String,
}

/// barkd's receive fee estimate. boltd receives straight into its own channels: there is no
/// service in between to pay, so the fee is always 0 (what it does need is inbound liquidity,
/// which this estimate does not check).
#[utoipa::path(get, path = "/api/v1/fees/lightning/receive", tag = TAG,
    operation_id = "lightning_receive_fee",
    security(("bearer" = [])),
    params(ReceiveFeeQuery),
    responses((status = 200, description = "The fee: 0", body = FeeEstimateResponse)))]
pub(crate) async fn receive_fee(
    q: Result<axum::extract::Query<ReceiveFeeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<FeeEstimateResponse> {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(FeeEstimateResponse {
        gross_amount_sat: q.amount_sat,
        fee_sat: 0,
        net_amount_sat: q.amount_sat,
        vtxos_spent: Vec::new(),
        reason: "boltd receives into its own channels: no service fee is charged".into(),
    }))
}

/// barkd's `Balance` (in sats; `spendable_sat` is what the channels can send now, the Ark-only
/// fields are 0), with boltd's own balances.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Balance)]
pub(crate) struct BalanceResponse {
    #[serde(flatten)]
    balances: Balances,
    /// What the channels can send now, in sats.
    spendable_sat: u64,
    /// Outgoing payments in flight, in sats.
    pending_lightning_send_sat: u64,
    /// Receives whose preimage is revealed, not yet settled, in sats.
    claimable_lightning_receive_sat: u64,
    /// Ark only: always 0.
    needs_refresh_sat: u64,
    /// Ark only: always 0.
    pending_in_round_sat: u64,
    /// Ark only: always 0.
    pending_board_sat: u64,
    /// Ark only: always 0.
    pending_arkoor_send_sat: u64,
    /// Ark only: always 0.
    pending_offboard_sat: u64,
    /// Ark only: always 0.
    pending_exit_sat: u64,
}

/// barkd's wallet balance, with boltd's on-chain and Lightning balances.
#[utoipa::path(get, path = "/api/v1/wallet/balance", tag = TAG, operation_id = "balance",
    security(("bearer" = ["balance:read"])),
    responses((status = 200, description = "The balances", body = BalanceResponse)))]
pub(crate) async fn balance(State(engine): State<AppState>) -> ApiResult<BalanceResponse> {
    let balances = engine.node().balances();
    let in_flight = engine.in_flight().await?;
    Ok(Json(BalanceResponse {
        spendable_sat: balances.lightning_spendable_msat / 1000,
        pending_lightning_send_sat: in_flight.sending_msat.div_ceil(1000),
        claimable_lightning_receive_sat: in_flight.claiming_msat / 1000,
        needs_refresh_sat: 0,
        pending_in_round_sat: 0,
        pending_board_sat: 0,
        pending_arkoor_send_sat: 0,
        pending_offboard_sat: 0,
        pending_exit_sat: 0,
        balances,
    }))
}

// ---- BOLT12 offers ----

/// A BOLT12 offer to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOfferRequest {
    /// Amount in sats (or give `amount_msat`); neither: the payer chooses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_sat: Option<u64>,
    /// Amount in msat (or give `amount_sat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_msat: Option<u64>,
    /// Shown to the payer; required with an amount.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Seconds until it expires; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_secs: Option<u64>,
}

/// Creates a BOLT12 offer (fixed amount, or any amount when none is given).
#[utoipa::path(post, path = "/api/v1/lightning/offers", tag = TAG, operation_id = "create_offer",
    security(("bearer" = ["invoices:create"])),
    request_body = CreateOfferRequest,
    responses(
        (status = 200, description = "The offer", body = OfferInfo),
        (status = 422, description = "The node cannot make an offer now (no blinded path)", body = ErrorBody),
    ))]
pub(crate) async fn create_offer(
    State(engine): State<AppState>,
    Body(r): Body<CreateOfferRequest>,
) -> ApiResult<OfferInfo> {
    let amount_msat = match (r.amount_sat, r.amount_msat) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give either amount_sat or amount_msat, not both"))
        }
        (Some(sat), None) => Some(sat_to_msat("amount_sat", sat)?),
        (None, msat) => msat,
    };
    let req = OfferRequest { amount_msat, description: r.description, expiry_secs: r.expiry_secs };
    Ok(Json(engine.create_offer(req).await?))
}

/// Pays a BOLT12 offer; takes an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/lightning/offers/pay", tag = TAG, operation_id = "pay_offer",
    security(("bearer" = ["payments:send"])),
    params(IdempotencyKey),
    request_body = OfferPayRequest,
    responses(
        (status = 200, description = "The payment's outcome", body = PayResponse),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ErrorBody),
        (status = 409, description = "The idempotency key was used for another request", body = ErrorBody),
        (status = 422, description = "No route, no invoice from the issuer, or failed", body = ErrorBody),
        (status = 503, description = "Channels busy: too many payments in flight for another HTLC now (nothing sent; retry)", body = ErrorBody),
        (status = 504, description = "Gave up retrying without a payment in flight", body = ErrorBody),
    ))]
pub(crate) async fn pay_offer(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    Body(r): Body<OfferPayRequest>,
) -> ApiResult<PayResponse> {
    let res = engine.pay_offer(r, ctx).await?;
    Ok(Json(PayResponse::of(&res)))
}
