//! barkd's history (boltd's native dialect): payments as barkd's `Movement`s
//! (`GET /api/v1/history`, with barkd's `type`/`value` filter; the deprecated
//! `/api/v1/wallet/history`), boltd's own payment records (`GET /api/v1/payments`), app
//! metadata on a payment, and the notifications' JSON: barkd's `WalletNotification`s
//! (`movement-created`/`movement-updated`) with boltd's event fields. This file holds the one
//! rendering of a `Movement`, used by the history, the long-poll, the WebSocket and native
//! webhooks.

use axum::extract::{Path, Query, State};
use axum::Json;
use boltd_store::{Direction, EventRecord, EventType, PaymentRecord, PaymentStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::context::Ctx;
use crate::dialect::native::barkd::TAG;
use crate::error::{ApiError, ApiResult, Body, ErrorBody};
use crate::time::rfc3339;
use crate::AppState;

/// A payment record whose `metadata` is shown as the JSON object it holds (in the records of
/// `GET /api/v1/payments` it is that object's text).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct PaymentRecordWithMetadata(Value);

impl PartialSchema for PaymentRecordWithMetadata {
    fn schema() -> RefOr<Schema> {
        let mut schema = <PaymentRecord as PartialSchema>::schema();
        if let RefOr::T(Schema::Object(o)) = &mut schema {
            let metadata = ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::Object,
                    Type::Null,
                ]))
                .description(Some("The payment's metadata (a JSON object), or null"));
            o.properties.insert("metadata".into(), metadata.into());
            o.description =
                Some("A payment record, with its metadata as a JSON object (not as text)".into());
        }
        schema
    }
}

impl ToSchema for PaymentRecordWithMetadata {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <PaymentRecord as ToSchema>::schemas(schemas);
    }
}

/// barkd's metadata update: an RFC 7396 JSON Merge Patch (a JSON object, sent as
/// `application/merge-patch+json` or `application/json`) applied to the payment's metadata.
/// Returns the updated record.
#[utoipa::path(post, path = "/api/v1/history/{id}/metadata", tag = TAG,
    operation_id = "update_metadata",
    security(("bearer" = ["payments:send"])),
    params(("id" = i64, Path, minimum = 0, description = "The payment record's id")),
    request_body(description = "RFC 7396 JSON Merge Patch: `null` removes a member, objects merge",
        content((Object = "application/merge-patch+json"), (Object = "application/json"))),
    responses(
        (status = 200, description = "The updated record", body = PaymentRecordWithMetadata),
        (status = 400, description = "Not a record id, or the patch is not a JSON object", body = ErrorBody),
        (status = 404, description = "No such record", body = ErrorBody),
    ))]
pub(crate) async fn patch_metadata(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    Body(patch): Body<Value>,
) -> ApiResult<PaymentRecordWithMetadata> {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("`{id}` is not a payment record id")))?;
    let rec = engine.merge_metadata(id, &patch, ctx.owner).await?;
    let mut v = serde_json::to_value(&rec).map_err(|e| ApiError::internal(format!("{e}")))?;
    v["metadata"] = metadata_value(&rec);
    Ok(Json(PaymentRecordWithMetadata(v)))
}

/// The record's metadata as JSON (it is stored as JSON object text).
fn metadata_value(rec: &PaymentRecord) -> Value {
    rec.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null)
}

/// barkd's `MovementStatus`. boltd's payments fail, they are never `canceled`: a payment
/// that failed (nothing was paid; its reason is in `failure_reason`) is `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MovementStatus {
    /// In flight.
    Pending,
    /// Complete.
    Successful,
    /// Failed.
    Failed,
}

impl From<PaymentStatus> for MovementStatus {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => MovementStatus::Pending,
            PaymentStatus::Complete => MovementStatus::Successful,
            PaymentStatus::Failed => MovementStatus::Failed,
        }
    }
}

/// barkd's `Movement`: a payment as a change of the wallet's balance (amounts in sats), with
/// boltd's additions (`payment_hash`, `offchain_fee_msat`, `failure_reason`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Movement {
    /// The payment record's id.
    id: i64,
    /// Where it stands.
    status: MovementStatus,
    /// What made it.
    subsystem: MovementSubsystem,
    /// The payment's app metadata (a JSON object, see `POST /api/v1/history/{id}/metadata`)
    /// with the Lightning subsystem's own members set over it: `payment_hash` and, once known,
    /// `preimage` (hex).
    #[schema(value_type = Object)]
    metadata: Map<String, Value>,
    /// The expected change of the balance (negative: outgoing), without fees.
    intended_balance_sat: i64,
    /// The actual change, fees included: 0 until the payment completes.
    effective_balance_sat: i64,
    /// Routing fees (outgoing), in sats (rounded up).
    #[schema(minimum = 0)]
    offchain_fee_sat: i64,
    /// Routing fees (outgoing), in msat (boltd's addition: the exact value).
    offchain_fee_msat: u64,
    /// Where an outgoing payment went.
    sent_to: Vec<MovementDestination>,
    /// What an incoming payment paid.
    received_on: Vec<MovementDestination>,
    /// Ark only: always empty.
    input_vtxos: Vec<String>,
    /// Ark only: always empty.
    output_vtxos: Vec<String>,
    /// Ark only: always empty.
    exited_vtxos: Vec<String>,
    /// When it was created, last updated and completed.
    time: MovementTimestamp,
    /// The payment hash (hex), when known.
    payment_hash: Option<String>,
    /// Why it failed (failed payments only).
    failure_reason: Option<String>,
}

/// barkd's `MovementSubsystem`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovementSubsystem {
    /// `boltd.lightning_send` or `boltd.lightning_receive`.
    name: &'static str,
    /// How the payment was requested (`bolt11`, `bolt12`, `keysend`, `lnurl`).
    kind: String,
}

/// barkd's `MovementDestination`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovementDestination {
    /// The invoice, offer or node.
    destination: PaymentMethod,
    /// The amount, in sats.
    #[schema(minimum = 0)]
    amount_sat: i64,
}

/// barkd's `PaymentMethod`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PaymentMethod {
    /// The kind of destination.
    #[serde(rename = "type")]
    kind: PaymentMethodType,
    /// The invoice, offer or node id.
    value: String,
}

/// The kinds of barkd's `PaymentMethod` that boltd uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentMethodType {
    /// A BOLT11 invoice.
    Invoice,
    /// A BOLT12 offer.
    Offer,
    /// Anything else (a node id, for keysend).
    Custom,
}

impl PaymentMethodType {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "invoice" => Some(Self::Invoice),
            "offer" => Some(Self::Offer),
            "custom" => Some(Self::Custom),
            _ => None,
        }
    }
}

/// barkd's `MovementTimestamp` (RFC 3339).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovementTimestamp {
    /// When it was created.
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last changed.
    #[schema(format = DateTime)]
    updated_at: String,
    /// When it completed, if it has.
    #[schema(format = DateTime)]
    completed_at: Option<String>,
}

/// What a `Movement` is made of: a payment record, or the record an event carries (the JSON
/// the store serialized it to).
struct PaymentView {
    id: i64,
    outgoing: bool,
    kind: String,
    status: PaymentStatus,
    amount_msat: u64,
    fee_msat: u64,
    invoice: Option<String>,
    destination: Option<String>,
    metadata: Option<String>,
    payment_hash: Option<String>,
    preimage: Option<String>,
    failure_reason: Option<String>,
    created_at: u64,
    updated_at: u64,
    completed_at: Option<u64>,
}

impl PaymentView {
    fn of(rec: &PaymentRecord) -> Self {
        PaymentView {
            id: rec.id,
            outgoing: rec.direction == Direction::Outgoing,
            kind: rec.kind.as_str().to_string(),
            status: rec.status,
            amount_msat: rec.amount_msat,
            fee_msat: rec.fee_msat.unwrap_or(0),
            invoice: rec.invoice.clone(),
            destination: rec.destination.clone(),
            metadata: rec.metadata.clone(),
            payment_hash: rec.payment_hash.map(hex::encode),
            preimage: rec.preimage.map(hex::encode),
            failure_reason: rec.failure_reason.clone(),
            created_at: rec.created_at,
            updated_at: rec.updated_at,
            completed_at: rec.completed_at,
        }
    }

    /// The record of an event (as [`PaymentRecord`] serializes); `None` if it is not one.
    fn of_json(p: &Value) -> Option<Self> {
        let text = |k: &str| p[k].as_str().map(String::from);
        Some(PaymentView {
            id: p["id"].as_i64()?,
            outgoing: p["direction"].as_str()? == Direction::Outgoing.as_str(),
            kind: text("kind")?,
            status: PaymentStatus::parse(p["status"].as_str()?)?,
            amount_msat: p["amount_msat"].as_u64()?,
            fee_msat: p["fee_msat"].as_u64().unwrap_or(0),
            invoice: text("invoice"),
            destination: text("destination"),
            metadata: text("metadata"),
            payment_hash: text("payment_hash"),
            preimage: text("preimage"),
            failure_reason: text("failure_reason"),
            created_at: p["created_at"].as_u64()?,
            updated_at: p["updated_at"].as_u64()?,
            completed_at: p["completed_at"].as_u64(),
        })
    }
}

/// Sats as barkd's signed amounts (payee amounts rounded down, fees up); amounts are capped
/// at 21 million bitcoin by the engine, so this never saturates in practice.
fn signed_sat(msat: u64, round_up: bool) -> i64 {
    let sat = if round_up { msat.div_ceil(1000) } else { msat / 1000 };
    i64::try_from(sat).unwrap_or(i64::MAX)
}

/// A payment as one of barkd's `Movement`s. The balance changes only once a payment is
/// complete.
fn movement(p: &PaymentView) -> Movement {
    let amount_sat = signed_sat(p.amount_msat, false);
    let fee_sat = if p.outgoing { signed_sat(p.fee_msat, true) } else { 0 };
    let (intended, effective) = match (p.outgoing, p.status) {
        (true, PaymentStatus::Complete) => {
            (-amount_sat, amount_sat.checked_add(fee_sat).map_or(i64::MIN, |s| -s))
        }
        (true, _) => (-amount_sat, 0),
        (false, PaymentStatus::Complete) => (amount_sat, amount_sat),
        (false, _) => (amount_sat, 0),
    };
    let method = match &p.invoice {
        Some(i) if p.kind == "bolt12" && i.starts_with("lno") => {
            PaymentMethod { kind: PaymentMethodType::Offer, value: i.clone() }
        }
        Some(i) => PaymentMethod { kind: PaymentMethodType::Invoice, value: i.clone() },
        None => PaymentMethod {
            kind: PaymentMethodType::Custom,
            value: p.destination.clone().unwrap_or_default(),
        },
    };
    let dest = vec![MovementDestination { destination: method, amount_sat }];
    let (sent_to, received_on) = if p.outgoing { (dest, vec![]) } else { (vec![], dest) };
    let name = if p.outgoing { "boltd.lightning_send" } else { "boltd.lightning_receive" };
    let mut metadata = match p.metadata.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    };
    if let Some(h) = &p.payment_hash {
        metadata.insert("payment_hash".into(), h.clone().into());
    }
    if let Some(pre) = &p.preimage {
        metadata.insert("preimage".into(), pre.clone().into());
    }
    Movement {
        id: p.id,
        status: p.status.into(),
        subsystem: MovementSubsystem { name, kind: p.kind.clone() },
        metadata,
        intended_balance_sat: intended,
        effective_balance_sat: effective,
        offchain_fee_sat: fee_sat,
        offchain_fee_msat: if p.outgoing { p.fee_msat } else { 0 },
        sent_to,
        received_on,
        input_vtxos: vec![],
        output_vtxos: vec![],
        exited_vtxos: vec![],
        time: MovementTimestamp {
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            completed_at: p.completed_at.map(rfc3339),
        },
        payment_hash: p.payment_hash.clone(),
        failure_reason: p.failure_reason.clone(),
    }
}

/// An event as its notification: boltd's event JSON (`seq`, `event_type`, `created_at`,
/// `payment_hash`, `payment`/`receive`/`channel`) and, for payment events, barkd's
/// `WalletNotification`: `type` `movement-created` (a payment received) or `movement-updated`
/// (an outgoing payment reached its final state) with the `movement`. Other events (invoices
/// canceled or expired, channels) have no barkd form: their `type` is boltd's event type.
pub(crate) fn notification(event: &EventRecord) -> Value {
    let mut v = boltd_engine::notify::event_json(event);
    v["event_type"] = event.event_type.as_str().into();
    let kind = match event.event_type {
        EventType::PaymentReceived => Some("movement-created"),
        EventType::PaymentSent | EventType::PaymentFailed => Some("movement-updated"),
        EventType::InvoiceCanceled
        | EventType::InvoiceExpired
        | EventType::ChannelPending
        | EventType::ChannelReady
        | EventType::ChannelClosed => None,
    };
    let view = event.data.get("payment").and_then(PaymentView::of_json);
    if let (Some(kind), Some(view)) = (kind, view) {
        v["type"] = kind.into();
        v["movement"] = serde_json::to_value(movement(&view)).unwrap_or(Value::Null);
    }
    v
}

/// barkd's history query (`type` and `value` together), with boltd's filters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Only movements involving this kind of payment method (`invoice`, `offer`, `custom`);
    /// with `value`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only movements involving this payment method value (an invoice, offer or node id); with
    /// `type`.
    value: Option<String>,
    /// Only payments this way.
    #[param(value_type = Option<Direction>)]
    direction: Option<String>,
    /// Only payments in this state (boltd's names).
    #[param(value_type = Option<PaymentStatus>)]
    status: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Skip this many.
    offset: Option<u32>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// boltd's payment filter from the query's common part.
/// The most payments one page of the history holds.
const MAX_PAGE: u32 = 1000;

fn filter(
    direction: Option<&str>,
    status: Option<&str>,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Result<boltd_store::PaymentFilter, ApiError> {
    let direction = match direction {
        None => None,
        Some("incoming") => Some(Direction::Incoming),
        Some("outgoing") => Some(Direction::Outgoing),
        Some(d) => {
            return Err(ApiError::bad_request(format!("direction `{d}`: use incoming or outgoing")))
        }
    };
    let status = match status {
        None => None,
        Some(s) => Some(PaymentStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("status `{s}`: use pending, complete or failed"))
        })?),
    };
    Ok(boltd_store::PaymentFilter {
        direction,
        status,
        limit: Some(limit.unwrap_or(100).min(MAX_PAGE)),
        offset,
        ..Default::default()
    })
}

/// barkd's history: payments in both directions as `Movement`s, newest first. barkd's
/// `type` and `value` (together) keep the movements paying or paid through that payment
/// method; boltd's `direction`, `status`, `limit` and `offset` filter and page.
#[utoipa::path(get, path = "/api/v1/history", tag = TAG, operation_id = "list",
    security(("bearer" = ["transactions:read"])),
    params(HistoryQuery),
    responses(
        (status = 200, description = "The movements, newest first", body = Vec<Movement>),
        (status = 400, description = "Bad query (`type` without `value` or the reverse, an unknown type)", body = ErrorBody),
    ))]
pub(crate) async fn history(
    State(engine): State<AppState>,
    q: QueryResult<HistoryQuery>,
) -> ApiResult<Vec<Movement>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let method = match (q.kind.as_deref(), q.value) {
        (None, None) => None,
        (Some(t), Some(v)) => Some((
            PaymentMethodType::parse(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "type `{t}`: boltd's payments are `invoice`, `offer` or `custom`"
                ))
            })?,
            v,
        )),
        _ => return Err(ApiError::bad_request("give `type` and `value` together")),
    };
    // Node ids are recorded in lower case.
    let method = method.map(|(kind, v)| match kind {
        PaymentMethodType::Custom => (kind, v.to_ascii_lowercase()),
        _ => (kind, v),
    });
    let mut f = filter(q.direction.as_deref(), q.status.as_deref(), q.limit, q.offset)?;
    // In the query, so that `limit` and `offset` page what matches.
    match &method {
        Some((PaymentMethodType::Custom, v)) => f.spontaneous_with = Some(v.clone()),
        Some((PaymentMethodType::Offer, v)) => {
            f.invoice = Some(v.clone());
            f.kind = Some(boltd_store::PaymentKind::Bolt12);
        }
        Some((_, v)) => f.invoice = Some(v.clone()),
        None => {}
    }
    let movements = movements(&engine, f).await?.into_iter();
    // The movement's own method decides (an offer's payments record the offer as their
    // invoice): what the query found is checked against it.
    Ok(Json(match method {
        None => movements.collect(),
        Some((kind, value)) => movements
            .filter(|m| {
                m.sent_to
                    .iter()
                    .chain(&m.received_on)
                    .any(|d| d.destination.kind == kind && d.destination.value == value)
            })
            .collect(),
    }))
}

/// The payments `f` selects, as barkd's `Movement`s.
async fn movements(
    engine: &AppState,
    f: boltd_store::PaymentFilter,
) -> Result<Vec<Movement>, ApiError> {
    let records = engine.list_payments(f).await?;
    Ok(records.iter().map(|r| movement(&PaymentView::of(r))).collect())
}

/// barkd's deprecated wallet history: `GET /api/v1/history` without a query, the newest 1,000
/// (the most one page holds; page with `GET /api/v1/history`).
#[utoipa::path(get, path = "/api/v1/wallet/history", tag = TAG, operation_id = "history",
    security(("bearer" = ["transactions:read"])),
    responses((status = 200, description = "The newest 1,000 movements, newest first", body = Vec<Movement>)))]
pub(crate) async fn wallet_history(State(engine): State<AppState>) -> ApiResult<Vec<Movement>> {
    Ok(Json(movements(&engine, filter(None, None, Some(MAX_PAGE), None)?).await?))
}

/// barkd's wallet movements: the same as `GET /api/v1/history` without a query.
#[utoipa::path(get, path = "/api/v1/wallet/movements", tag = TAG, operation_id = "movements",
    security(("bearer" = ["transactions:read"])),
    responses((status = 200, description = "The movements, newest first", body = Vec<Movement>)))]
pub(crate) async fn wallet_movements(engine: State<AppState>) -> ApiResult<Vec<Movement>> {
    wallet_history(engine).await
}

/// The payment records' query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PaymentsQuery {
    /// Only payments this way.
    #[param(value_type = Option<Direction>)]
    direction: Option<String>,
    /// Only payments in this state.
    #[param(value_type = Option<PaymentStatus>)]
    status: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Skip this many.
    offset: Option<u32>,
}

/// boltd's payment records in both directions, newest first (barkd's `Movement` view of the
/// same payments: `GET /api/v1/history`).
#[utoipa::path(get, path = "/api/v1/payments", tag = TAG, operation_id = "list_payments",
    security(("bearer" = ["transactions:read"])),
    params(PaymentsQuery),
    responses(
        (status = 200, description = "The payment records", body = Vec<PaymentRecord>),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
pub(crate) async fn payments(
    State(engine): State<AppState>,
    q: QueryResult<PaymentsQuery>,
) -> ApiResult<Vec<PaymentRecord>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let f = filter(q.direction.as_deref(), q.status.as_deref(), q.limit, q.offset)?;
    Ok(Json(engine.list_payments(f).await?))
}
