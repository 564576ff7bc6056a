//! Core Lightning's list methods: `listinvoices` (receives as Core Lightning's invoices, with
//! the `pay_index` of paid ones) and `listpays` (outgoing payments), in exactly the members of
//! Core Lightning's schemas.

use axum::body::Bytes;
use axum::extract::State;
use boltd_engine::receive::receive_label;
use boltd_engine::PayError;
use boltd_store::{Direction, PaymentFilter, PaymentKind, PaymentRecord, PaymentStatus};
use boltd_store::{ReceiveRecord, ReceiveState};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{ClnError, ClnString, Created, Params, TAG};
use crate::AppState;

/// Core Lightning's invoice status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClnInvoiceStatus {
    /// Not paid yet.
    Unpaid,
    /// Paid.
    Paid,
    /// Can no longer be paid (expired, or a canceled hold invoice).
    Expired,
}

/// Core Lightning's invoice status of a receive: `paid`, `expired` (past its expiry with
/// nothing arrived, or a canceled hold invoice: it can no longer be paid) or `unpaid`.
pub(crate) fn invoice_status(r: &ReceiveRecord) -> ClnInvoiceStatus {
    let now = boltd_engine::ledger::now_secs();
    match r.state {
        ReceiveState::Settled => ClnInvoiceStatus::Paid,
        ReceiveState::Expired | ReceiveState::Canceled => ClnInvoiceStatus::Expired,
        ReceiveState::Created if r.expires_at.is_some_and(|e| e <= now) => {
            ClnInvoiceStatus::Expired
        }
        ReceiveState::Created | ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => {
            ClnInvoiceStatus::Unpaid
        }
    }
}

/// An invoice in `listinvoices`' shape (a canceled hold invoice is `expired`). The preimage is
/// shown only once paid.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnListedInvoice {
    /// The payment hash (hex).
    payment_hash: String,
    /// Core Lightning's status.
    pub(crate) status: ClnInvoiceStatus,
    /// When it expires (unix seconds).
    expires_at: Option<u64>,
    /// Its index in creation order.
    created_index: i64,
    /// The BOLT11 invoice.
    bolt11: Option<String>,
    /// Its label; receives made without one (through another dialect) show their payment
    /// hash.
    label: String,
    /// The amount requested (absent: any amount).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_msat: Option<u64>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Its index in payment order (paid invoices only; `waitanyinvoice`'s cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pay_index: Option<u64>,
    /// What arrived (paid invoices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    amount_received_msat: Option<Option<u64>>,
    /// When it was paid (unix seconds; paid invoices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    paid_at: Option<Option<u64>>,
    /// The preimage (hex; paid invoices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    payment_preimage: Option<Option<String>>,
}

/// A receive as Core Lightning's invoice; `pay_index` is its `payment_received` event's `seq`
/// (paid invoices).
pub(crate) fn invoice_item(r: &ReceiveRecord, pay_index: Option<u64>) -> ClnListedInvoice {
    let paid = r.state == ReceiveState::Settled;
    let hash = hex::encode(r.payment_hash);
    ClnListedInvoice {
        status: invoice_status(r),
        expires_at: r.expires_at,
        created_index: r.id,
        bolt11: r.invoice.clone(),
        label: receive_label(r).map_or_else(|| hash.clone(), String::from),
        payment_hash: hash,
        amount_msat: r.amount_msat,
        description: r.description.clone(),
        pay_index: pay_index.filter(|_| paid),
        amount_received_msat: paid.then_some(r.received_msat),
        paid_at: paid.then_some(r.finished_at),
        payment_preimage: paid.then(|| r.preimage.map(hex::encode)),
    }
}

/// The payments `listpays` and `listsendpays` select: `status`, and `bolt11` or `payment_hash`
/// (not both), checked.
pub(crate) fn pay_selection(
    engine: &AppState,
    p: &Params,
) -> Result<(Option<PaymentStatus>, Option<[u8; 32]>), ClnError> {
    let status = match p.text("status")? {
        None => None,
        Some(s) => Some(PaymentStatus::parse(&s).ok_or_else(|| {
            ClnError::invalid(format!("status `{s}`: use pending, complete or failed"))
        })?),
    };
    let hash = match (p.text("bolt11")?, p.text("payment_hash")?) {
        (Some(_), Some(_)) => {
            return Err(ClnError::invalid("give bolt11 or payment_hash, not both"))
        }
        (Some(b), None) => Some(engine.decode_bolt11(&b)?.payment_hash),
        (None, Some(h)) => Some(h),
        (None, None) => None,
    };
    let payment_hash = hash
        .map(|h| {
            hex::decode(&h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| ClnError::invalid(format!("`{h}` is not a payment hash")))
        })
        .transpose()?;
    Ok((status, payment_hash))
}

/// `start`/`index` (only `created`) and `limit`, as `listinvoices` and `listpays` take them.
fn paging(p: &Params) -> Result<(Option<u64>, Option<u32>), ClnError> {
    match p.text("index")?.as_deref() {
        None | Some("created") => {}
        Some(other) => {
            return Err(ClnError::invalid(format!("index `{other}` is not supported: use created")))
        }
    }
    let limit = p.u64("limit")?.map(|l| u32::try_from(l).unwrap_or(u32::MAX));
    Ok((p.u64("start")?, limit))
}

/// Core Lightning's `listinvoices` parameters (at most one of `label`, `invstring` and
/// `payment_hash`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnListInvoicesParams {
    /// The invoice with this label.
    #[schema(value_type = Option<ClnString>)]
    label: Option<Value>,
    /// The invoice with this BOLT11 string.
    invstring: Option<String>,
    /// The invoice with this payment hash (hex).
    payment_hash: Option<String>,
    /// Only `created`.
    index: Option<String>,
    /// The first `created_index` to list.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    start: Option<Value>,
    /// At most this many.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    limit: Option<Value>,
    /// Not supported by boltd: must be absent or null.
    #[schema(value_type = Option<()>)]
    offer_id: Option<Value>,
}

/// `listinvoices`' result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnInvoiceList {
    /// The invoices, in creation order.
    invoices: Vec<ClnListedInvoice>,
}

/// Core Lightning's `listinvoices`: by `label`, `invstring` or `payment_hash` (at most one),
/// or all in creation order from `start` (a `created_index`), at most `limit`.
#[utoipa::path(post, path = "/v1/listinvoices", tag = TAG, operation_id = "cln_listinvoices",
    security(("bearer" = ["invoices:read"])),
    request_body = ClnListInvoicesParams,
    responses(
        (status = 201, description = "The invoices", body = ClnInvoiceList),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_listinvoices(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnInvoiceList>, ClnError> {
    let p = Params::parse(
        &body,
        &["label", "invstring", "payment_hash", "index", "start", "limit"],
        &["offer_id"],
    )?;
    let (start, limit) = paging(&p)?;
    let label = p.string("label")?;
    let invstring = p.text("invstring")?;
    let hash = p.text("payment_hash")?;
    if [&label, &invstring, &hash].iter().filter(|x| x.is_some()).count() > 1 {
        return Err(ClnError::invalid("give at most one of label, invstring and payment_hash"));
    }
    let found = |r: Result<ReceiveRecord, PayError>| match r {
        Ok(r) => Ok(vec![r]),
        Err(PayError::NotFound(_)) => Ok(vec![]),
        Err(e) => Err(ClnError::from(e)),
    };
    let receives = if let Some(label) = label {
        engine.receive_by_label(&label).await?.into_iter().collect()
    } else if let Some(inv) = invstring {
        found(engine.receive(inv.trim()).await)?
    } else if let Some(h) = hash {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClnError::invalid(format!("`{h}` is not a payment hash")));
        }
        found(engine.receive(&h).await)?
            .into_iter()
            .filter(|r| hex::encode(r.payment_hash) == h.to_ascii_lowercase())
            .collect()
    } else {
        // Row ids are SQLite integers: a `start` past them all selects nothing (no wrapping).
        let after = start.map(|s| i64::try_from(s.saturating_sub(1)).unwrap_or(i64::MAX));
        engine.list_receives(after, limit).await?
    };
    let mut invoices = Vec::with_capacity(receives.len());
    for r in &receives {
        let pay_index = if r.state == ReceiveState::Settled {
            engine.received_seq(r.payment_hash).await.map_err(|e| PayError::Other(e.to_string()))?
        } else {
            None
        };
        invoices.push(invoice_item(r, pay_index));
    }
    Ok(Created(ClnInvoiceList { invoices }))
}

/// An outgoing payment in `listpays`' shape: the members Core Lightning's schema allows for its
/// status (a failed one has `amount_sent_msat` and no amount nor preimage).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnListedPay {
    /// Its index in creation order.
    created_index: i64,
    /// The payment hash (hex), when known.
    payment_hash: Option<String>,
    /// Where it stands.
    status: PaymentStatus,
    /// The payee's node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    /// When it was started (unix seconds).
    created_at: u64,
    /// What the payee gets (complete and pending payments).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_msat: Option<u64>,
    /// The BOLT11 invoice paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    bolt11: Option<String>,
    /// The BOLT12 invoice or offer paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    bolt12: Option<String>,
    /// The caller's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// When it completed (unix seconds; complete payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<u64>,
    /// The preimage (hex; complete payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    preimage: Option<String>,
    /// What left our channels, fees included (complete payments; for failed ones what the
    /// last attempt sent, 0 when nothing was sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_sent_msat: Option<u64>,
    /// Parts (HTLCs) it took (complete payments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    number_of_parts: Option<u32>,
}

fn pay_item(r: &PaymentRecord) -> ClnListedPay {
    let (bolt11, bolt12) = match (r.kind, &r.invoice) {
        (PaymentKind::Bolt12, Some(i)) => (None, Some(i.clone())),
        (_, Some(i)) => (Some(i.clone()), None),
        (_, None) => (None, None),
    };
    let complete = r.status == PaymentStatus::Complete;
    let failed = r.status == PaymentStatus::Failed;
    let amount_sent_msat = if complete {
        Some(r.amount_sent_msat.unwrap_or(r.amount_msat + r.fee_msat.unwrap_or(0)))
    } else if failed {
        Some(r.amount_sent_msat.unwrap_or(0))
    } else {
        None
    };
    ClnListedPay {
        created_index: r.id,
        payment_hash: r.payment_hash.map(hex::encode),
        status: r.status,
        destination: r.destination.clone(),
        created_at: r.created_at,
        amount_msat: (!failed).then_some(r.amount_msat),
        bolt11,
        bolt12,
        label: r.label.clone(),
        description: r.description.clone(),
        completed_at: if complete { r.completed_at } else { None },
        preimage: if complete { r.preimage.map(hex::encode) } else { None },
        amount_sent_msat,
        number_of_parts: complete.then(|| r.parts.unwrap_or(1)),
    }
}

/// Core Lightning's `listpays` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnListPaysParams {
    /// The payments of this BOLT11 invoice (or give `payment_hash`).
    bolt11: Option<String>,
    /// The payments with this payment hash (hex).
    payment_hash: Option<String>,
    /// Only payments in this state.
    status: Option<PaymentStatus>,
    /// Only `created`.
    index: Option<String>,
    /// The first `created_index` to list.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    start: Option<Value>,
    /// At most this many.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    limit: Option<Value>,
}

/// `listpays`' result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnPayList {
    /// The payments, oldest first.
    pays: Vec<ClnListedPay>,
}

/// Core Lightning's `listpays`: outgoing payments, oldest first, by `bolt11` or `payment_hash`
/// and `status` (`pending`, `complete`, `failed`), from `start`, at most `limit`.
#[utoipa::path(post, path = "/v1/listpays", tag = TAG, operation_id = "cln_listpays",
    security(("bearer" = ["transactions:read"])),
    request_body = ClnListPaysParams,
    responses(
        (status = 201, description = "The payments", body = ClnPayList),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_listpays(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnPayList>, ClnError> {
    let p = Params::parse(
        &body,
        &["bolt11", "payment_hash", "status", "index", "start", "limit"],
        &[],
    )?;
    let (start, limit) = paging(&p)?;
    let (status, payment_hash) = pay_selection(&engine, &p)?;
    let filter = PaymentFilter {
        direction: Some(Direction::Outgoing),
        status,
        payment_hash,
        oldest_first: true,
        // With `start`, the limit applies after skipping the earlier records.
        limit: if start.is_some() { None } else { limit },
        ..Default::default()
    };
    let records = engine.list_payments(filter).await?;
    let pays = records
        .iter()
        .filter(|r| start.is_none_or(|s| i64::try_from(s).is_ok_and(|s| r.id >= s)))
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .map(pay_item)
        .collect();
    Ok(Created(ClnPayList { pays }))
}
