//! Core Lightning's dialect (seed 003 family), as its REST plugin serves it: `POST /v1/<method>`
//! with the method's parameters by name in a JSON object (an empty body is `{}`), its result
//! fields, and error objects `{code, message, data}`. Methods: `pay`, `keysend`, `invoice`,
//! `listinvoices`, `listpays`, `decode`, `getinfo`. Unknown parameters are refused (-32602),
//! as are the ones boltd does not implement, by name.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::decode::Decoded;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::pay::defaults;
use boltd_engine::receive::{receive_label, InvoiceRequest};
use boltd_engine::{PayError, PayRequest};
use boltd_node::deps::bitcoin::{address::NetworkUnchecked, Address};
use boltd_store::{Direction, PaymentFilter, PaymentKind, PaymentRecord, PaymentStatus};
use boltd_store::{ReceiveRecord, ReceiveState};
use serde_json::{json, Map, Value};

use crate::context::Ctx;
use crate::AppState;

/// Core Lightning's default `invoice` expiry: one week.
pub const DEFAULT_INVOICE_EXPIRY_SECS: u64 = 604_800;

/// A Core Lightning error object: `{code, message, data}`.
pub(crate) struct ClnError(PayError);

impl ClnError {
    fn invalid(msg: impl Into<String>) -> Self {
        ClnError(PayError::InvalidParams(msg.into()))
    }
}

impl From<PayError> for ClnError {
    fn from(e: PayError) -> Self {
        ClnError(e)
    }
}

impl IntoResponse for ClnError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            PayError::InvalidParams(_) | PayError::NotFound(_) => StatusCode::BAD_REQUEST,
            PayError::LabelExists(_) => StatusCode::CONFLICT,
            PayError::Unauthorized => StatusCode::UNAUTHORIZED,
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                StatusCode::FORBIDDEN
            }
            PayError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let body =
            json!({ "code": self.0.code(), "message": self.0.to_string(), "data": self.0.data() });
        (status, Json(body)).into_response()
    }
}

/// `amount_msat` as Core Lightning takes it: a number, or a string with a unit.
fn cln_amount(v: &Value) -> Result<Option<u64>, PayError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| PayError::InvalidParams("amount_msat must be a whole number".into())),
        Value::String(s) => {
            boltd_engine::amount::parse_msat(s).map(Some).map_err(PayError::InvalidParams)
        }
        _ => Err(PayError::InvalidParams("amount_msat must be a number or a string".into())),
    }
}

pub(crate) async fn cln_pay(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ClnError> {
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
    let mut req: PayRequest = serde_json::from_value(v)
        .map_err(|e| ClnError(PayError::InvalidParams(format!("invalid parameters: {e}"))))?;
    req.amount_msat = amount;
    let r = engine.pay(req, ctx, None).await.map_err(ClnError)?;
    serde_json::to_value(&r).map(Json).map_err(|e| ClnError(PayError::Other(e.to_string())))
}

/// A method's named parameters.
struct Params(Map<String, Value>);

impl Params {
    /// The JSON object of the body (empty body: no parameters); refuses unknown names and
    /// the `unsupported` ones (when not null), naming them.
    fn parse(body: &Bytes, known: &[&str], unsupported: &[&str]) -> Result<Self, ClnError> {
        let trimmed = body.iter().all(u8::is_ascii_whitespace);
        let v: Value = if trimmed {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ClnError::invalid(format!("the body is not JSON: {e}")))?
        };
        let Value::Object(map) = v else {
            return Err(ClnError::invalid("parameters must be a JSON object (by name)"));
        };
        for (k, v) in &map {
            if unsupported.contains(&k.as_str()) {
                if !v.is_null() {
                    return Err(ClnError::invalid(format!("`{k}` is not supported by boltd")));
                }
            } else if !known.contains(&k.as_str()) {
                return Err(ClnError::invalid(format!("unknown parameter `{k}`")));
            }
        }
        Ok(Params(map))
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    /// A string parameter (numbers are taken as their text, as Core Lightning does for
    /// labels).
    fn string(&self, k: &str) -> Result<Option<String>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ClnError::invalid(format!("`{k}` must be a string"))),
        }
    }

    fn required_string(&self, k: &str) -> Result<String, ClnError> {
        self.string(k)?
            .ok_or_else(|| ClnError::invalid(format!("missing required parameter `{k}`")))
    }

    fn u64(&self, k: &str) -> Result<Option<u64>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => {
                v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).map(Some).ok_or_else(
                    || ClnError::invalid(format!("`{k}` must be a non-negative integer")),
                )
            }
        }
    }

    fn f64(&self, k: &str) -> Result<Option<f64>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(Some)
                .ok_or_else(|| ClnError::invalid(format!("`{k}` must be a number"))),
        }
    }

    fn bool(&self, k: &str) -> Result<bool, ClnError> {
        match self.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ClnError::invalid(format!("`{k}` must be true or false"))),
        }
    }

    /// An amount in Core Lightning's syntax (number of msat, or a string with a unit).
    fn msat(&self, k: &str) -> Result<Option<u64>, ClnError> {
        cln_amount(self.get(k).unwrap_or(&Value::Null))
            .map_err(|e| ClnError::invalid(format!("`{k}`: {e}")))
    }
}

fn ok(v: Value) -> Result<Json<Value>, ClnError> {
    Ok(Json(v))
}

/// Core Lightning's `keysend`: `destination`, `amount_msat`, `label`, `maxfeepercent`,
/// `retry_for`, `maxdelay`, `exemptfee`, `maxfee`, `extratlvs` (type to hex value); the result
/// is `pay`'s. `routehints` is not supported.
pub(crate) async fn cln_keysend(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
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
    let fee_limit = boltd_node::router::fee_limit_msat(
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
    let r = engine.keysend(req, ctx).await?;
    serde_json::to_value(&r).map(Json).map_err(|e| ClnError(PayError::Other(e.to_string())))
}

/// Core Lightning's `invoice`: required `amount_msat` (or `"any"`), `label` (unique: a second
/// invoice with it is error 900) and `description`; `expiry` (default a week), `deschashonly`.
/// `fallbacks`, `preimage`, `exposeprivatechannels` and `cltv` are not supported.
pub(crate) async fn cln_invoice(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
    let Ctx(ctx) = ctx.map_err(|e| ClnError::invalid(e.message))?;
    let p = Params::parse(
        &body,
        &["amount_msat", "label", "description", "expiry", "deschashonly"],
        &["fallbacks", "preimage", "exposeprivatechannels", "cltv"],
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
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx.idempotency_key).await?;
    let bolt11 = rec.invoice.clone().unwrap_or_default();
    let decoded = engine.decode_bolt11(&bolt11)?;
    ok(json!({
        "bolt11": bolt11,
        "payment_hash": hex::encode(rec.payment_hash),
        "payment_secret": decoded.payment_secret,
        "expires_at": rec.expires_at,
        "created_index": rec.id,
    }))
}

/// Core Lightning's invoice status of a receive: `paid`, `expired` (past its expiry with
/// nothing arrived, or a canceled hold invoice: it can no longer be paid) or `unpaid`.
fn invoice_status(r: &ReceiveRecord) -> &'static str {
    let now = boltd_engine::ledger::now_secs();
    match r.state {
        ReceiveState::Settled => "paid",
        ReceiveState::Expired | ReceiveState::Canceled => "expired",
        ReceiveState::Created if r.expires_at.is_some_and(|e| e <= now) => "expired",
        ReceiveState::Created | ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => {
            "unpaid"
        }
    }
}

/// A receive in `listinvoices`' shape; `state` is boltd's own receive state. The preimage is
/// shown only once paid.
fn invoice_json(r: &ReceiveRecord) -> Value {
    let paid = r.state == ReceiveState::Settled;
    let mut v = json!({
        "payment_hash": hex::encode(r.payment_hash),
        "status": invoice_status(r),
        "state": r.state.as_str(),
        "expires_at": r.expires_at,
        "created_index": r.id,
        "bolt11": r.invoice,
    });
    let o = v.as_object_mut().expect("an object");
    if let Some(label) = receive_label(r) {
        o.insert("label".into(), json!(label));
    }
    if let Some(a) = r.amount_msat {
        o.insert("amount_msat".into(), json!(a));
    }
    if let Some(d) = &r.description {
        o.insert("description".into(), json!(d));
    }
    if let Some(h) = r.description_hash {
        o.insert("description_hash".into(), json!(hex::encode(h)));
    }
    if paid {
        o.insert("amount_received_msat".into(), json!(r.received_msat));
        o.insert("paid_at".into(), json!(r.finished_at));
        o.insert("payment_preimage".into(), json!(r.preimage.map(hex::encode)));
    }
    v
}

/// `start`/`index` (only `created`) and `limit`, as `listinvoices` and `listpays` take them.
fn paging(p: &Params) -> Result<(Option<u64>, Option<u32>), ClnError> {
    match p.string("index")?.as_deref() {
        None | Some("created") => {}
        Some(other) => {
            return Err(ClnError::invalid(format!("index `{other}` is not supported: use created")))
        }
    }
    let limit = p.u64("limit")?.map(|l| u32::try_from(l).unwrap_or(u32::MAX));
    Ok((p.u64("start")?, limit))
}

/// Core Lightning's `listinvoices`: by `label`, `invstring` or `payment_hash` (at most one),
/// or all in creation order from `start` (a `created_index`), at most `limit`.
pub(crate) async fn cln_listinvoices(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
    let p = Params::parse(
        &body,
        &["label", "invstring", "payment_hash", "index", "start", "limit"],
        &["offer_id"],
    )?;
    let (start, limit) = paging(&p)?;
    let label = p.string("label")?;
    let invstring = p.string("invstring")?;
    let hash = p.string("payment_hash")?;
    if [&label, &invstring, &hash].iter().filter(|x| x.is_some()).count() > 1 {
        return Err(ClnError::invalid("give at most one of label, invstring and payment_hash"));
    }
    let found = |r: Result<ReceiveRecord, PayError>| match r {
        Ok(r) => Ok(vec![r]),
        Err(PayError::NotFound(_)) => Ok(vec![]),
        Err(e) => Err(ClnError(e)),
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
        let after = start.map(|s| s.saturating_sub(1) as i64);
        engine.list_receives(after, limit).await?
    };
    let invoices: Vec<Value> = receives.iter().map(invoice_json).collect();
    ok(json!({ "invoices": invoices }))
}

/// An outgoing payment in `listpays`' shape.
fn pay_json(r: &PaymentRecord) -> Value {
    let mut v = json!({
        "created_index": r.id,
        "payment_hash": r.payment_hash.map(hex::encode),
        "status": r.status.as_str(),
        "destination": r.destination,
        "created_at": r.created_at,
        "amount_msat": r.amount_msat,
    });
    let o = v.as_object_mut().expect("an object");
    match (r.kind, &r.invoice) {
        (PaymentKind::Bolt12, Some(i)) => {
            o.insert("bolt12".into(), json!(i));
        }
        (_, Some(i)) => {
            o.insert("bolt11".into(), json!(i));
        }
        (_, None) => {}
    }
    if let Some(l) = &r.label {
        o.insert("label".into(), json!(l));
    }
    if let Some(d) = &r.description {
        o.insert("description".into(), json!(d));
    }
    if r.status == PaymentStatus::Complete {
        o.insert("completed_at".into(), json!(r.completed_at));
        o.insert("preimage".into(), json!(r.preimage.map(hex::encode)));
        o.insert(
            "amount_sent_msat".into(),
            json!(r.amount_sent_msat.unwrap_or(r.amount_msat + r.fee_msat.unwrap_or(0))),
        );
        o.insert("number_of_parts".into(), json!(r.parts.unwrap_or(1)));
    }
    if r.status == PaymentStatus::Failed {
        o.insert("failure_code".into(), json!(r.failure_code));
        o.insert("failure_reason".into(), json!(r.failure_reason));
    }
    v
}

/// Core Lightning's `listpays`: outgoing payments, oldest first, by `bolt11` or `payment_hash`
/// and `status` (`pending`, `complete`, `failed`), from `start`, at most `limit`.
pub(crate) async fn cln_listpays(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
    let p = Params::parse(
        &body,
        &["bolt11", "payment_hash", "status", "index", "start", "limit"],
        &[],
    )?;
    let (start, limit) = paging(&p)?;
    let status = match p.string("status")? {
        None => None,
        Some(s) => Some(PaymentStatus::parse(&s).ok_or_else(|| {
            ClnError::invalid(format!("status `{s}`: use pending, complete or failed"))
        })?),
    };
    let hash = match (p.string("bolt11")?, p.string("payment_hash")?) {
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
    let pays: Vec<Value> = records
        .iter()
        .filter(|r| start.is_none_or(|s| r.id >= s as i64))
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .map(pay_json)
        .collect();
    ok(json!({ "pays": pays }))
}

/// Core Lightning's `decode` of a BOLT11 invoice or BOLT12 offer (`string`).
pub(crate) async fn cln_decode(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
    let p = Params::parse(&body, &["string"], &[])?;
    let s = p.required_string("string")?;
    match engine.decode(&s)? {
        Decoded::Bolt11(d) => {
            let mut v = json!({
                "type": "bolt11 invoice",
                "valid": true,
                "currency": d.currency,
                "created_at": d.created_at,
                "expiry": d.expiry_secs,
                "payee": d.payee,
                "payment_hash": d.payment_hash,
                "payment_secret": d.payment_secret,
                "min_final_cltv_expiry": d.min_final_cltv_expiry,
                "signature": d.signature,
            });
            let o = v.as_object_mut().expect("an object");
            let mut opt = |k: &str, x: Option<Value>| {
                if let Some(x) = x {
                    o.insert(k.into(), x);
                }
            };
            opt("amount_msat", d.amount_msat.map(|a| json!(a)));
            opt("description", d.description.map(|x| json!(x)));
            opt("description_hash", d.description_hash.map(|x| json!(x)));
            opt("features", d.features.map(|x| json!(x)));
            opt("payment_metadata", d.payment_metadata.map(|x| json!(x)));
            if !d.fallbacks.is_empty() {
                let fallbacks: Vec<Value> = d
                    .fallbacks
                    .iter()
                    .map(|a| {
                        let kind = a
                            .parse::<Address<NetworkUnchecked>>()
                            .ok()
                            .and_then(|x| x.assume_checked().address_type())
                            .map(|t| t.to_string().to_ascii_uppercase());
                        json!({ "type": kind, "addr": a })
                    })
                    .collect();
                opt("fallbacks", Some(json!(fallbacks)));
            }
            if !d.routes.is_empty() {
                opt("routes", Some(json!(d.routes)));
            }
            ok(v)
        }
        Decoded::Offer(o) => {
            let mut v = json!({
                "type": "bolt12 offer",
                "valid": true,
                "offer_id": o.offer_id,
            });
            let m = v.as_object_mut().expect("an object");
            m.insert("offer_chains".into(), json!(o.networks));
            if let Some(a) = o.amount_msat {
                m.insert("offer_amount_msat".into(), json!(a));
            }
            if let Some((c, a)) = o.currency_amount {
                m.insert("offer_currency".into(), json!(c));
                m.insert("offer_amount".into(), json!(a));
            }
            for (k, x) in [
                ("offer_description", o.description),
                ("offer_issuer", o.issuer),
                ("offer_issuer_id", o.issuer_id),
            ] {
                if let Some(x) = x {
                    m.insert(k.into(), json!(x));
                }
            }
            if let Some(e) = o.absolute_expiry {
                m.insert("offer_absolute_expiry".into(), json!(e));
            }
            m.insert("offer_paths_count".into(), json!(o.paths));
            ok(v)
        }
    }
}

/// `host:port` as Core Lightning's address object.
fn address_json(a: &str) -> Value {
    match a.parse::<std::net::SocketAddr>() {
        Ok(std::net::SocketAddr::V4(s)) => {
            json!({ "type": "ipv4", "address": s.ip().to_string(), "port": s.port() })
        }
        Ok(std::net::SocketAddr::V6(s)) => {
            json!({ "type": "ipv6", "address": s.ip().to_string(), "port": s.port() })
        }
        Err(_) => match a.rsplit_once(':') {
            Some((host, port)) => {
                json!({ "type": "dns", "address": host, "port": port.parse::<u16>().ok() })
            }
            None => json!({ "type": "dns", "address": a }),
        },
    }
}

/// Core Lightning's `getinfo`. `fees_collected_msat` is absent: boltd does not record
/// forwarding fees yet.
pub(crate) async fn cln_getinfo(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ClnError> {
    Params::parse(&body, &[], &[])?;
    let node = engine.node();
    let info = node.info();
    let channels = node.list_channels();
    let count = |states: &[&str]| channels.iter().filter(|c| states.contains(&c.state)).count();
    let config = node.config();
    ok(json!({
        "id": info.node_id,
        "alias": config.alias,
        "color": "000000",
        "num_peers": info.num_peers,
        "num_pending_channels": count(&["opening", "pending_confirmation"]),
        "num_active_channels": count(&["ready"]),
        "num_inactive_channels": count(&["offline"]),
        "address": config.announce_addrs.iter().map(|a| address_json(a)).collect::<Vec<_>>(),
        "binding": [address_json(&info.p2p_addr)],
        "version": format!("boltd-{}", env!("CARGO_PKG_VERSION")),
        "blockheight": info.block_height,
        "network": info.network,
        "lightning-dir": config.data_dir,
    }))
}
