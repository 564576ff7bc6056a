//! Core Lightning's invoice methods: `invoice` (creates one), and on one invoice, by its label,
//! `waitinvoice` (until it is paid or expires) and `delinvoice` (deletes it if its status is the
//! one given).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use boltd_engine::receive::InvoiceRequest;
use boltd_engine::receive_wait::LabeledWait;
use boltd_engine::PayError;
use boltd_store::{DeleteOutcome, ReceiveRecord, ReceiveState};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::lists::{invoice_item, invoice_status, ClnInvoiceStatus, ClnListedInvoice};
use super::*;
use crate::context::Ctx;
use crate::AppState;

/// Core Lightning's `INVOICE_EXPIRED_DURING_WAIT`.
const EXPIRED: i32 = 903;
/// Core Lightning's `INVOICE_NOT_FOUND`.
const NOT_FOUND: i32 = 905;
/// Core Lightning's `INVOICE_STATUS_UNEXPECTED`.
const STATUS_UNEXPECTED: i32 = 906;

fn other(e: impl std::fmt::Display) -> ClnError {
    ClnError::from(PayError::Other(e.to_string()))
}

/// The invoice in `listinvoices`' shape, with its `pay_index` once paid.
async fn listed(engine: &AppState, r: &ReceiveRecord) -> Result<ClnListedInvoice, ClnError> {
    let pay_index = if r.state == ReceiveState::Settled {
        engine.received_seq(r.payment_hash).await.map_err(other)?
    } else {
        None
    };
    Ok(invoice_item(r, pay_index))
}

/// Core Lightning's `waitinvoice` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnWaitInvoiceParams {
    /// The invoice's label.
    #[schema(value_type = ClnString)]
    label: Value,
}

/// Core Lightning's `waitinvoice`: the invoice with `label` once it is paid (at once if it
/// is); error 903 if it expires first (or has expired, or was canceled), -1 if there is no
/// such invoice (or it was deleted).
#[utoipa::path(post, path = "/v1/waitinvoice", tag = TAG, operation_id = "cln_waitinvoice",
    security(("bearer" = ["invoices:read"])),
    request_body = ClnWaitInvoiceParams,
    responses(
        (status = 201, description = "The paid invoice", body = ClnListedInvoice),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "Expired (903); no such invoice, or the node is stopping (-1)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_waitinvoice(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["label"], &[])?;
    let label = p.required_string("label")?;
    match engine.wait_labeled_receive(&label).await? {
        LabeledWait::Paid { receive, pay_index } => {
            Ok(Created(invoice_item(&receive, pay_index)).into_response())
        }
        LabeledWait::Ended(receive) => {
            let data = serde_json::to_value(invoice_item(&receive, None)).map_err(other)?;
            Ok(rpc_error(EXPIRED, "invoice expired during wait", data))
        }
        LabeledWait::Unknown => {
            Ok(rpc_error(-1, format!("Unknown invoice `{label}`"), Value::Null))
        }
    }
}

/// Core Lightning's `delinvoice` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnDelInvoiceParams {
    /// The invoice's label.
    #[schema(value_type = ClnString)]
    label: Value,
    /// The status it must have to be deleted.
    status: ClnInvoiceStatus,
    /// Not supported by boltd (removing only the description): must be absent, null or
    /// false.
    desconly: Option<bool>,
}

/// Core Lightning's `delinvoice`: deletes the invoice with `label` only if its status is
/// `status` (`paid`, `expired` or `unpaid`), and answers it as it was. Error 905 if there is
/// no such invoice, 906 (with `current_status` and `expected_status`) if its status differs.
/// An unpaid invoice is canceled as it is deleted (a payment that comes later is refused); an
/// invoice whose payment has arrived and is being claimed is never deleted (906, its status
/// `unpaid` while HTLCs are held). The label can be used again.
#[utoipa::path(post, path = "/v1/delinvoice", tag = TAG, operation_id = "cln_delinvoice",
    security(("bearer" = ["invoices:create"])),
    request_body = ClnDelInvoiceParams,
    responses(
        (status = 201, description = "The deleted invoice", body = ClnListedInvoice),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "No such invoice (905); its status differs, or a payment of it is arriving (906)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_delinvoice(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["label", "status", "desconly"], &[])?;
    let label = p.required_string("label")?;
    let status = p
        .text("status")?
        .ok_or_else(|| ClnError::invalid("missing required parameter `status`"))?;
    let (expected, states): (_, &'static [ReceiveState]) = match status.as_str() {
        "paid" => (ClnInvoiceStatus::Paid, &[ReceiveState::Settled]),
        "expired" => (ClnInvoiceStatus::Expired, &[ReceiveState::Expired, ReceiveState::Canceled]),
        "unpaid" => (ClnInvoiceStatus::Unpaid, &[ReceiveState::Created]),
        other => {
            return Err(ClnError::invalid(format!("status `{other}`: use paid, expired or unpaid")))
        }
    };
    if p.bool("desconly")? {
        return Err(ClnError::invalid(
            "desconly is not supported by boltd: an invoice is deleted whole",
        ));
    }
    match engine.delete_labeled_receive(&label, states).await? {
        DeleteOutcome::Deleted(r) => Ok(Created(listed(&engine, &r).await?).into_response()),
        DeleteOutcome::NotFound => {
            Ok(rpc_error(NOT_FOUND, format!("Unknown invoice `{label}`"), Value::Null))
        }
        DeleteOutcome::StateDiffers(r) | DeleteOutcome::HtlcsHeld(r) => {
            let current = invoice_status(&r);
            let held =
                matches!(r.state, ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed);
            let message = if held {
                "a payment of the invoice has arrived and is being claimed: it cannot be deleted"
                    .to_string()
            } else {
                let name = json!(current);
                format!("Invoice status is {} not {status}", name.as_str().unwrap_or_default())
            };
            let data = json!({ "current_status": current, "expected_status": expected });
            Ok(rpc_error(STATUS_UNEXPECTED, message, data))
        }
    }
}

/// Core Lightning's `invoice` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnInvoiceParams {
    /// The amount, or `"any"`.
    #[schema(value_type = ClnAmount)]
    amount_msat: Value,
    /// A unique label (a second invoice with it is error 900).
    #[schema(value_type = ClnString)]
    label: Value,
    /// The description.
    #[schema(value_type = ClnString)]
    description: Value,
    /// Seconds until it expires (default a week).
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    expiry: Option<Value>,
    /// Commit to the description's SHA-256 instead of the description.
    deschashonly: Option<bool>,
    /// Not supported by boltd: must be absent or null.
    #[schema(value_type = Option<()>)]
    fallbacks: Option<Value>,
    /// The preimage (64 hex characters) to use instead of a new one: the invoice is for its
    /// SHA-256, and is settled with it when paid.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    preimage: Option<String>,
    /// Not supported by boltd: must be absent or null.
    #[schema(value_type = Option<()>)]
    exposeprivatechannels: Option<Value>,
    /// Not supported by boltd: must be absent or null.
    #[schema(value_type = Option<()>)]
    cltv: Option<Value>,
}

/// Core Lightning's `invoice` result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnInvoice {
    /// The BOLT11 invoice.
    bolt11: String,
    /// Its payment hash (hex).
    payment_hash: String,
    /// Its payment secret (hex).
    payment_secret: String,
    /// When it expires (unix seconds).
    expires_at: Option<u64>,
    /// Its index in creation order.
    created_index: i64,
}

/// Core Lightning's `invoice`: required `amount_msat` (or `"any"`), `label` (unique: a second
/// invoice with it is error 900) and `description`; `expiry` (default a week), `deschashonly`.
/// `preimage` (hex) makes the invoice for that preimage's hash, settled with it when paid.
/// `fallbacks`, `exposeprivatechannels` and `cltv` are not supported.
#[utoipa::path(post, path = "/v1/invoice", tag = TAG, operation_id = "cln_invoice",
    security(("bearer" = ["invoices:create"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = ClnInvoiceParams,
    responses(
        (status = 201, description = "The invoice", body = ClnInvoice),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "The label is taken (900), or the node could not make the invoice", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_invoice(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Created<ClnInvoice>, ClnError> {
    let Ctx(ctx) = ctx.map_err(|e| ClnError::invalid(e.message))?;
    let p = Params::parse(
        &body,
        &["amount_msat", "label", "description", "expiry", "deschashonly", "preimage"],
        &["fallbacks", "exposeprivatechannels", "cltv"],
    )?;
    let amount_msat = match p.get("amount_msat") {
        None => return Err(ClnError::invalid("missing required parameter `amount_msat`")),
        Some(Value::String(s)) if s == "any" => None,
        Some(_) => p.msat("amount_msat")?,
    };
    let label = p.required_string("label")?;
    let description = p.required_string("description")?;
    let expiry = p.u64("expiry")?.unwrap_or(DEFAULT_INVOICE_EXPIRY_SECS);
    let expiry_secs =
        u32::try_from(expiry).map_err(|_| ClnError::invalid("expiry is too large"))?;
    let req = InvoiceRequest {
        amount_msat,
        description: Some(description),
        expiry_secs: Some(expiry_secs),
        label: Some(label),
        description_hash_only: p.bool("deschashonly")?,
        preimage: p.text("preimage")?,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx).await?;
    let bolt11 = rec.invoice.clone().unwrap_or_default();
    let decoded = engine.decode_bolt11(&bolt11)?;
    Ok(Created(ClnInvoice {
        bolt11,
        payment_hash: hex::encode(rec.payment_hash),
        payment_secret: decoded.payment_secret,
        expires_at: rec.expires_at,
        created_index: rec.id,
    }))
}
