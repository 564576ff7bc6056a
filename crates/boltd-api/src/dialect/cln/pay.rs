//! Core Lightning's `pay` and `keysend`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::pay::defaults;
use boltd_engine::{PayError, PayRequest, PayResult};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::*;
use crate::context::Ctx;
use crate::AppState;

/// Core Lightning's `pay` parameters (amounts in msat, or strings with a unit).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnPayParams {
    /// The BOLT11 invoice.
    bolt11: String,
    /// Required exactly when the invoice has no amount.
    #[schema(value_type = Option<ClnAmount>)]
    amount_msat: Option<Value>,
    /// A label stored with the payment.
    label: Option<String>,
    /// Risk factor (default 10).
    riskfactor: Option<f64>,
    /// Fee limit in percent of the amount (default 0.5).
    maxfeepercent: Option<f64>,
    /// Seconds to keep retrying (default 60, at most 86400: one day; Core Lightning has no
    /// maximum, boltd refuses more with -32602 before anything is sent).
    #[schema(maximum = 86_400)]
    retry_for: Option<u64>,
    /// Maximum total CLTV delay in blocks (default 2016).
    maxdelay: Option<u32>,
    /// Fees up to this are always allowed (default 5000 msat).
    #[schema(value_type = Option<ClnAmount>)]
    exemptfee: Option<Value>,
    /// A local invoice request to link the payment to: not supported by boltd (it has no
    /// invoice requests of its own); a payment giving one is refused with -32602.
    localinvreqid: Option<String>,
    /// Channels (`scid/direction`) and nodes to avoid.
    exclude: Option<Vec<String>>,
    /// Absolute fee limit; excludes `maxfeepercent` and `exemptfee`.
    #[schema(value_type = Option<ClnAmount>)]
    maxfee: Option<Value>,
    /// The description, required for (and checked against) description-hash invoices.
    description: Option<String>,
}

/// `pay`'s and `keysend`'s result: exactly Core Lightning's members.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnPaid {
    /// Proof of payment (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_preimage: Option<String>,
    /// The payee's node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    /// The payment hash (hex).
    payment_hash: String,
    /// When the payment was started (unix seconds).
    created_at: u64,
    /// How many parts (paths) it took.
    parts: u32,
    /// What the payee gets.
    amount_msat: u64,
    /// What left our channels, fees included.
    amount_sent_msat: u64,
    /// Set when not all parts of a multi-part payment have completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning_partial_completion: Option<String>,
    /// `complete`, `pending` or `failed`.
    #[schema(value_type = boltd_store::PaymentStatus)]
    status: String,
}

impl From<PayResult> for ClnPaid {
    fn from(r: PayResult) -> Self {
        ClnPaid {
            payment_preimage: r.payment_preimage,
            destination: r.destination,
            payment_hash: r.payment_hash,
            created_at: r.created_at,
            parts: r.parts,
            amount_msat: r.amount_msat,
            amount_sent_msat: r.amount_sent_msat,
            warning_partial_completion: r.warning_partial_completion,
            status: r.status,
        }
    }
}

/// Status codes of Core Lightning's payment methods and what they mean.
const PAY_FAILED: &str = "The payment failed or was refused before sending: 201 already paid \
    differently, 203 permanent failure at the destination, 205 no route, 206 route too \
    expensive, 207 invoice expired, 210 stopped retrying";

/// Core Lightning's `pay`: all its parameters, its result, its error codes.
#[utoipa::path(post, path = "/v1/pay", tag = TAG, operation_id = "cln_pay",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = ClnPayParams,
    responses(
        (status = 201, description = "Paid", body = ClnPaid),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ClnErrorBody),
        (status = 500, description = PAY_FAILED, body = ClnErrorBody),
    ))]
pub(crate) async fn cln_pay(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ClnError> {
    if let Err(e) = &body {
        // Oversized stays 413, as for the other methods (their bodies are read as bytes).
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let dialect = crate::dialect::Dialect::Cln;
            return Ok(crate::dialect::error_response(dialect, e.status(), e.body_text()));
        }
    }
    let Ctx(ctx) = ctx.map_err(|e| {
        ClnError(if e.status == StatusCode::UNAUTHORIZED {
            PayError::Unauthorized
        } else {
            PayError::InvalidParams(e.message)
        })
    })?;
    let Json(mut v) = body.map_err(|e| ClnError(PayError::InvalidParams(e.body_text())))?;
    let amount = cln_amount(v.get("amount_msat").unwrap_or(&Value::Null)).map_err(ClnError)?;
    for k in ["maxfee", "exemptfee"] {
        if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
            let msat = cln_amount(x).map_err(ClnError)?;
            v[k] = json!(msat);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("amount_msat");
    }
    let mut req: PayRequest = crate::error::from_value(v)
        .map_err(|e| ClnError(PayError::InvalidParams(format!("invalid parameters: {e}"))))?;
    req.amount_msat = amount;
    let paid = engine.pay(req, ctx, None).await.map_err(ClnError)?;
    Ok(Created(ClnPaid::from(paid)).into_response())
}

/// Core Lightning's `keysend` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnKeysendParams {
    /// The payee's node id (hex).
    #[schema(value_type = ClnString)]
    destination: Value,
    /// The amount.
    #[schema(value_type = ClnAmount)]
    amount_msat: Value,
    /// A label stored with the payment.
    #[schema(value_type = Option<ClnString>)]
    label: Option<Value>,
    /// Fee limit in percent of the amount (default 0.5).
    #[schema(value_type = Option<ClnNumber>)]
    maxfeepercent: Option<Value>,
    /// Seconds to keep retrying (default 60, at most 86400: one day; more is refused with
    /// -32602 before anything is sent).
    #[schema(value_type = Option<crate::wire::UintOrString>, maximum = 86_400)]
    retry_for: Option<Value>,
    /// Maximum total CLTV delay in blocks (default 2016).
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    maxdelay: Option<Value>,
    /// Fees up to this are always allowed (default 5000 msat).
    #[schema(value_type = Option<ClnAmount>)]
    exemptfee: Option<Value>,
    /// Custom TLV records: type (decimal, 65536 or above) to value (hex).
    extratlvs: Option<std::collections::BTreeMap<String, String>>,
    /// Absolute fee limit; excludes `maxfeepercent` and `exemptfee`.
    #[schema(value_type = Option<ClnAmount>)]
    maxfee: Option<Value>,
    /// Not supported by boltd: must be absent or null.
    #[schema(value_type = Option<()>)]
    routehints: Option<Value>,
}

/// Core Lightning's `keysend`: `destination`, `amount_msat`, `label`, `maxfeepercent`,
/// `retry_for`, `maxdelay`, `exemptfee`, `maxfee`, `extratlvs` (type to hex value); the result
/// is `pay`'s. `routehints` is not supported.
#[utoipa::path(post, path = "/v1/keysend", tag = TAG, operation_id = "cln_keysend",
    security(("bearer" = ["payments:send"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = ClnKeysendParams,
    responses(
        (status = 201, description = "Paid", body = ClnPaid),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 403, description = "Over the token's per-payment maximum or budget", body = ClnErrorBody),
        (status = 500, description = PAY_FAILED, body = ClnErrorBody),
    ))]
pub(crate) async fn cln_keysend(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Created<ClnPaid>, ClnError> {
    let Ctx(ctx) = ctx.map_err(|e| ClnError::invalid(e.message))?;
    let p = Params::parse(
        &body,
        &[
            "destination",
            "amount_msat",
            "label",
            "maxfeepercent",
            "retry_for",
            "maxdelay",
            "exemptfee",
            "extratlvs",
            "maxfee",
        ],
        &["routehints"],
    )?;
    let destination = p.required_string("destination")?;
    let amount_msat = p
        .msat("amount_msat")?
        .ok_or_else(|| ClnError::invalid("missing required parameter `amount_msat`"))?;
    let maxfee = p.msat("maxfee")?;
    let pct = p.f64("maxfeepercent")?;
    let exemptfee = p.msat("exemptfee")?;
    if maxfee.is_some() && (pct.is_some() || exemptfee.is_some()) {
        return Err(ClnError::invalid(
            "maxfee cannot be given together with maxfeepercent or exemptfee",
        ));
    }
    let pct = pct.unwrap_or(defaults::MAXFEEPERCENT);
    if !(0.0..=100.0).contains(&pct) {
        return Err(ClnError::invalid("maxfeepercent must be between 0 and 100"));
    }
    // Named here: the engine only sees the fee limit computed from them.
    for (name, fee) in [("maxfee", maxfee), ("exemptfee", exemptfee)] {
        if let Some(f) = fee {
            boltd_engine::amount::at_most_supply(name, f).map_err(ClnError::invalid)?;
        }
    }
    let fee_limit = boltd_routing::policy::fee_limit_msat(
        amount_msat,
        pct,
        exemptfee.unwrap_or(defaults::EXEMPTFEE_MSAT),
        maxfee,
    );
    let mut records = BTreeMap::new();
    match p.get("extratlvs") {
        None => {}
        Some(Value::Object(m)) => {
            for (t, v) in m {
                let hex = v.as_str().ok_or_else(|| {
                    ClnError::invalid(format!("extratlvs: the value of {t} must be a hex string"))
                })?;
                records.insert(t.clone(), hex.to_string());
            }
        }
        Some(_) => return Err(ClnError::invalid("extratlvs must be an object of type: hex value")),
    }
    let maxdelay = p.u64("maxdelay")?.map(u32::try_from).transpose();
    let maxdelay = maxdelay.map_err(|_| ClnError::invalid("maxdelay is too large"))?;
    let req = KeysendRequest {
        destination,
        amount_msat,
        maxfee_msat: Some(fee_limit),
        retry_for: p.u64("retry_for")?,
        label: p.string("label")?,
        maxdelay,
        custom_records_hex: records,
        ..Default::default()
    };
    Ok(Created(engine.keysend(req, ctx).await?.into()))
}
