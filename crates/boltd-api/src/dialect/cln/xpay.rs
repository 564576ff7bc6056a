//! Core Lightning's newer payment and offer methods: `xpay` (a BOLT11 invoice, on the engine's
//! one pay path: recorded before sending, never paid twice), `offer` (a BOLT12 offer) and
//! `fetchinvoice` (refused: LDK requests an offer's invoice only to pay it).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use boltd_engine::offer::OfferRequest;
use boltd_engine::{PayError, PayRequest, PayResult};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::context::Ctx;
use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{rpc_error, ClnAmount, ClnError, Created, Params, TAG};
use crate::AppState;

/// `xpay`'s codes: payment failed for another reason (here: still pending when the wait
/// ended), already paid.
const OTHER_PAYMENT_ERROR: i32 = 209;
const ALREADY_PAID: i32 = 219;

/// Core Lightning's `xpay` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnXpayParams {
    /// The BOLT11 invoice (BOLT12 invoices are refused).
    invstring: String,
    /// Required exactly when the invoice has no amount.
    #[schema(value_type = Option<ClnAmount>)]
    amount_msat: Option<Value>,
    /// Absolute fee limit (default: 0.5 %, at least 5000 msat).
    #[schema(value_type = Option<ClnAmount>)]
    maxfee: Option<Value>,
    /// Not supported by boltd (askrene layers): absent, null or empty.
    #[schema(value_type = Option<Vec<String>>, max_items = 0)]
    layers: Option<Value>,
    /// Seconds to keep retrying (default 60, at most 86400).
    #[schema(value_type = Option<crate::wire::UintOrString>, maximum = 86_400)]
    retry_for: Option<Value>,
    /// Not supported by boltd (paying part of an invoice): must be absent or null.
    #[schema(value_type = Option<()>)]
    partial_msat: Option<Value>,
    /// Maximum total CLTV delay in blocks (default 2016).
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    maxdelay: Option<Value>,
    /// Not supported (BOLT12 invoice requests only): must be absent or null.
    #[schema(value_type = Option<()>)]
    payer_note: Option<Value>,
    /// A label stored with the payment.
    label: Option<String>,
    /// Not supported by boltd (no local invoice requests): must be absent or null.
    #[schema(value_type = Option<()>)]
    localinvreqid: Option<Value>,
    /// Not supported: must be absent or null.
    #[schema(value_type = Option<()>)]
    dev_use_shadow: Option<Value>,
}

/// `xpay`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnXpaid {
    /// The proof of payment (hex).
    payment_preimage: String,
    /// Parts (paths) that failed on the way.
    failed_parts: u64,
    /// Parts that reached the payee (at least one).
    successful_parts: u64,
    /// What the payee got.
    amount_msat: u64,
    /// What left our channels, fees included.
    amount_sent_msat: u64,
}

/// A payment error in `xpay`'s codes (203 destination, 205 no route, 207 expired, 209 other,
/// 219 already paid); bad parameters and the token's refusals as every method's.
fn xpay_error(e: PayError) -> Response {
    let code = match &e {
        PayError::DestinationRejected { .. } => 203,
        PayError::RouteNotFound { .. }
        | PayError::InsufficientBalance { .. }
        | PayError::ChannelsBusy { .. }
        | PayError::RouteTooExpensive { .. } => 205,
        PayError::InvoiceExpired { .. } => 207,
        PayError::Timeout { .. } => OTHER_PAYMENT_ERROR,
        PayError::AlreadyPaid { .. } => ALREADY_PAID,
        _ => return ClnError::from(e).into_response(),
    };
    rpc_error(code, e.to_string(), super::error::data(&e))
}

/// The answer of a payment `pay` returned: complete, or still pending when the wait ended
/// (209, saying so: it has not failed; `listpays` shows how it ends).
fn xpaid(r: PayResult) -> Response {
    match r.payment_preimage {
        Some(preimage) if r.status == "complete" => Created(ClnXpaid {
            payment_preimage: preimage,
            failed_parts: u64::from(r.failed_parts),
            successful_parts: u64::from(r.parts.max(1)),
            amount_msat: r.amount_msat,
            amount_sent_msat: r.amount_sent_msat,
        })
        .into_response(),
        _ => rpc_error(
            OTHER_PAYMENT_ERROR,
            "the payment is still in flight after retry_for: it has not failed; look it up \
             with listpays (paying the same invoice again does not pay twice)",
            json!({ "status": r.status, "payment_hash": r.payment_hash }),
        ),
    }
}

/// Core Lightning's `xpay`: pays a BOLT11 invoice (`amount_msat` for one without an amount),
/// within `maxfee`, retrying for `retry_for` seconds, and answers the preimage with the parts
/// that failed and succeeded. `layers`, `partial_msat`, `payer_note`, `localinvreqid` are not
/// supported; BOLT12 invoices are refused.
#[utoipa::path(post, path = "/v1/xpay", tag = TAG, operation_id = "cln_xpay",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = ClnXpayParams,
    responses(
        (status = 201, description = "Paid", body = ClnXpaid),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ClnErrorBody),
        (status = 500, description = "203 refused at the destination, 205 no route, 207 expired, 209 stopped retrying or still in flight, 219 already paid", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_xpay(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let Ctx(ctx) = ctx.map_err(|e| ClnError::invalid(e.message))?;
    let p = Params::parse(
        &body,
        &["invstring", "amount_msat", "maxfee", "layers", "retry_for", "maxdelay", "label"],
        &["partial_msat", "payer_note", "localinvreqid", "dev_use_shadow"],
    )?;
    let invstring = p
        .text("invstring")?
        .ok_or_else(|| ClnError::invalid("missing required parameter `invstring`"))?;
    if invstring.trim().to_ascii_lowercase().starts_with("lni") {
        return Err(ClnError::invalid(
            "BOLT12 invoices are not supported by boltd's xpay: pay the offer with \
             POST /api/v1/lightning/offers/pay",
        ));
    }
    match p.get("layers") {
        None => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(_) => return Err(ClnError::invalid("layers are not supported by boltd")),
    }
    let maxfee = p.msat("maxfee")?;
    if let Some(f) = maxfee {
        boltd_engine::amount::at_most_supply("maxfee", f).map_err(ClnError::invalid)?;
    }
    let maxdelay = p.u64("maxdelay")?.map(u32::try_from).transpose();
    let maxdelay = maxdelay.map_err(|_| ClnError::invalid("maxdelay is too large"))?;
    let req = PayRequest {
        bolt11: invstring,
        amount_msat: p.msat("amount_msat")?,
        label: p.string("label")?,
        retry_for: p.u64("retry_for")?,
        maxdelay,
        maxfee,
        ..Default::default()
    };
    match engine.pay(req, ctx, None).await {
        Ok(r) => Ok(xpaid(r)),
        Err(e) => Ok(xpay_error(e)),
    }
}

/// Core Lightning's `offer` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnOfferParams {
    /// The amount, or `any` (currencies are refused).
    #[schema(value_type = ClnAmount)]
    amount: Value,
    /// The description (required with an amount).
    description: Option<String>,
    /// When it expires (unix seconds).
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    absolute_expiry: Option<Value>,
    /// Not supported by boltd (offers are not stored): must be absent or null.
    #[schema(value_type = Option<()>)]
    label: Option<Value>,
    /// Not supported: must be absent or null.
    #[schema(value_type = Option<()>)]
    issuer: Option<Value>,
    /// Not supported: must be absent or null.
    #[schema(value_type = Option<()>)]
    quantity_max: Option<Value>,
    /// Only false (offers are not single-use in boltd).
    single_use: Option<bool>,
}

/// `offer`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnOffer {
    /// The offer's id (hex).
    offer_id: String,
    /// Always true.
    active: bool,
    /// Always false.
    single_use: bool,
    /// The offer (`lno1...`).
    bolt12: String,
    /// False: a new offer.
    used: bool,
    /// True: every call makes a new offer.
    created: bool,
}

/// Core Lightning's `offer`: a new BOLT12 offer for `amount` (or `any`) with `description`,
/// expiring at `absolute_expiry`. Offers are stateless in LDK: nothing is stored, so `label`,
/// recurrence, `issuer`, `quantity_max` and `single_use` true are refused.
#[utoipa::path(post, path = "/v1/offer", tag = TAG, operation_id = "cln_offer",
    security(("bearer" = ["invoices:create"])),
    request_body = ClnOfferParams,
    responses(
        (status = 201, description = "The offer", body = ClnOffer),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "The node cannot make an offer now (no blinded path)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_offer(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnOffer>, ClnError> {
    let p = Params::parse(
        &body,
        &["amount", "description", "absolute_expiry", "single_use"],
        &[
            "label",
            "issuer",
            "quantity_max",
            "recurrence",
            "recurrence_base",
            "recurrence_paywindow",
            "recurrence_limit",
            "proportional_amount",
            "optional_recurrence",
            "fronting_nodes",
            "dev_paths",
        ],
    )?;
    let amount_msat = match p.get("amount") {
        None => return Err(ClnError::invalid("missing required parameter `amount`")),
        Some(Value::String(s)) if s == "any" => None,
        Some(Value::String(s))
            if s.trim().len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            return Err(ClnError::invalid("offers in a currency are not supported: give msat"))
        }
        Some(_) => p.msat("amount")?,
    };
    if p.bool("single_use")? {
        return Err(ClnError::invalid("single_use offers are not supported by boltd"));
    }
    let now = boltd_engine::ledger::now_secs();
    let expiry_secs = match p.u64("absolute_expiry")? {
        None => None,
        Some(t) if t <= now => {
            return Err(ClnError::invalid("absolute_expiry is in the past"));
        }
        Some(t) => Some(t - now),
    };
    let req = OfferRequest {
        amount_msat,
        description: p.string("description")?.unwrap_or_default(),
        expiry_secs,
    };
    let offer = engine.create_offer(req).await?;
    Ok(Created(ClnOffer {
        offer_id: offer.offer_id,
        active: true,
        single_use: false,
        bolt12: offer.offer,
        used: false,
        created: true,
    }))
}

/// Core Lightning's `fetchinvoice` parameters (checked, then refused).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnFetchInvoiceParams {
    /// The offer.
    offer: String,
    /// The amount, for an offer without one.
    #[schema(value_type = Option<ClnAmount>)]
    amount_msat: Option<Value>,
    /// A note for the issuer.
    payer_note: Option<String>,
    /// Seconds to wait.
    #[schema(value_type = Option<crate::dialect::cln::ClnNumber>)]
    timeout: Option<Value>,
}

/// JSON-RPC's "method not found", which Core Lightning answers for a command that is disabled.
const METHOD_DISABLED: i32 = -32601;

/// Core Lightning's `fetchinvoice`: not supported. The node (LDK) requests an offer's invoice
/// only to pay it; boltd cannot fetch one without paying. Always error -32601 (Core Lightning's
/// code for a disabled command) naming that, after the parameters are checked; pay an offer
/// with `POST /api/v1/lightning/offers/pay`.
#[utoipa::path(post, path = "/v1/fetchinvoice", tag = TAG, operation_id = "cln_fetchinvoice",
    security(("bearer" = ["payments:send"])),
    request_body = ClnFetchInvoiceParams,
    responses(
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "Not supported (-32601): boltd fetches an offer's invoice only to pay it", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_fetchinvoice(body: Bytes) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["offer", "amount_msat", "payer_note", "timeout"], &[])?;
    p.text("offer")?.ok_or_else(|| ClnError::invalid("missing required parameter `offer`"))?;
    p.msat("amount_msat")?;
    Ok(rpc_error(
        METHOD_DISABLED,
        "fetchinvoice is not supported by boltd: its node requests an offer's invoice only to pay \
         it; pay the offer with POST /api/v1/lightning/offers/pay",
        Value::Null,
    ))
}
