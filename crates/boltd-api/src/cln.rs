//! Core Lightning's dialect (seed 003 family), as its REST plugin serves it: `POST /v1/<method>`
//! with the method's parameters by name in a JSON object (an empty body is `{}`), its result
//! fields, and error objects `{code, message, data}`. Methods: `pay`, `keysend`, `invoice`,
//! `getinfo` (and `listinvoices`, `listpays` in `cln_lists.rs`, `decode` in `cln_decode.rs`,
//! `listfunds`, `waitanyinvoice` in `cln_wallet.rs`). The token comes as `Authorization: Bearer` or in clnrest's `rune` header. Unknown parameters are refused (-32602),
//! as are the ones boltd does not implement, by name.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::pay::defaults;
use boltd_engine::receive::InvoiceRequest;
use boltd_engine::{PayError, PayRequest, PayResult};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::context::Ctx;
use crate::error::ClnErrorBody;
use crate::AppState;

/// The OpenAPI tag of Core Lightning's dialect.
pub(crate) const TAG: &str = "core-lightning";

/// Core Lightning's default `invoice` expiry: one week.
pub const DEFAULT_INVOICE_EXPIRY_SECS: u64 = 604_800;

/// A method's result as clnrest answers it: 201 Created, the result object as the body.
pub(crate) struct Created<T>(pub(crate) T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

/// A Core Lightning error object: `{code, message, data}`, with clnrest's status: 500 for an
/// RPC error (a payment that failed, a label taken, a timeout...), as clnrest answers every
/// error of the method; boltd answers bad parameters (-32602) with 400 and the token's
/// refusals with 401/403 instead (nothing was attempted).
pub(crate) struct ClnError(PayError);

impl ClnError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
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
            PayError::Unauthorized => StatusCode::UNAUTHORIZED,
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                StatusCode::FORBIDDEN
            }
            // An RPC error: clnrest answers 500 with the error object, whatever the code.
            PayError::Other(_)
            | PayError::Storage
            | PayError::LabelExists(_)
            | PayError::IdempotencyConflict { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::DestinationRejected { .. }
            | PayError::RouteNotFound { .. }
            | PayError::InsufficientBalance { .. }
            | PayError::ChannelsBusy { .. }
            | PayError::RouteTooExpensive { .. }
            | PayError::InvoiceExpired { .. }
            | PayError::Timeout { .. }
            | PayError::WrongState(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let data = self.0.data();
        let body = ClnErrorBody {
            code: self.0.code(),
            message: self.0.to_string(),
            // Always present (null when there are no details), as Core Lightning's REST plugin.
            data: Some(data),
        };
        (status, Json(body)).into_response()
    }
}

/// A Core Lightning RPC error with a method's own code (905 unknown invoice, 903 expired...),
/// as clnrest answers it: 500 with `{code, message, data}` (`data` null when there are no
/// details).
pub(crate) fn rpc_error(code: i32, message: impl Into<String>, data: Value) -> Response {
    let body = ClnErrorBody { code, message: message.into(), data: Some(data) };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
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

/// Core Lightning's amount: a whole number of msat, or a string with a unit (`1000`,
/// `1000msat`, `1sat`, `0.001sat`, `0.0001btc`).
pub(crate) struct ClnAmount;

/// A string of Core Lightning's amount syntax.
const CLN_AMOUNT_PATTERN: &str =
    r"^\s*([0-9]+(msat)?|[0-9]+(\.[0-9]{3})?sat|[0-9]+\.[0-9]{1,11}btc)\s*$";

impl PartialSchema for ClnAmount {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(CLN_AMOUNT_PATTERN)))
            .description(Some(
                "An amount: msat as a number, or a string with a unit (`1000`, `1000msat`, \
                 `1sat`, `0.001sat`, `0.0001btc`)",
            ))
            .into()
    }
}

impl ToSchema for ClnAmount {}

/// A number, or a string of one (Core Lightning takes both).
pub(crate) struct ClnNumber;

impl PartialSchema for ClnNumber {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .into()
    }
}

impl ToSchema for ClnNumber {}

/// A string, or a number taken as its text (Core Lightning's labels).
pub(crate) struct ClnString;

impl PartialSchema for ClnString {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .into()
    }
}

impl ToSchema for ClnString {}

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
    params(crate::barkd::IdempotencyKey),
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
            let dialect = crate::auth::Dialect::Cln;
            return Ok(crate::error::dialect_error(dialect, e.status(), e.body_text()));
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

/// A method's named parameters.
pub(crate) struct Params(Map<String, Value>);

impl Params {
    /// The JSON object of the body (empty body: no parameters); refuses unknown names and
    /// the `unsupported` ones (when not null), naming them.
    pub(crate) fn parse(
        body: &Bytes,
        known: &[&str],
        unsupported: &[&str],
    ) -> Result<Self, ClnError> {
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

    pub(crate) fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    /// A string parameter (numbers are taken as their text, as Core Lightning does for
    /// labels).
    pub(crate) fn string(&self, k: &str) -> Result<Option<String>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ClnError::invalid(format!("`{k}` must be a string"))),
        }
    }

    /// A parameter that only a string can be (an invoice, a hash, a keyword): a number is
    /// refused.
    pub(crate) fn text(&self, k: &str) -> Result<Option<String>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ClnError::invalid(format!("`{k}` must be a string"))),
        }
    }

    pub(crate) fn required_string(&self, k: &str) -> Result<String, ClnError> {
        self.string(k)?
            .ok_or_else(|| ClnError::invalid(format!("missing required parameter `{k}`")))
    }

    pub(crate) fn u64(&self, k: &str) -> Result<Option<u64>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => {
                v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).map(Some).ok_or_else(
                    || ClnError::invalid(format!("`{k}` must be a non-negative integer")),
                )
            }
        }
    }

    pub(crate) fn f64(&self, k: &str) -> Result<Option<f64>, ClnError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(Some)
                .ok_or_else(|| ClnError::invalid(format!("`{k}` must be a number"))),
        }
    }

    pub(crate) fn bool(&self, k: &str) -> Result<bool, ClnError> {
        match self.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ClnError::invalid(format!("`{k}` must be true or false"))),
        }
    }

    /// An amount in Core Lightning's syntax (number of msat, or a string with a unit).
    pub(crate) fn msat(&self, k: &str) -> Result<Option<u64>, ClnError> {
        cln_amount(self.get(k).unwrap_or(&Value::Null))
            .map_err(|e| ClnError::invalid(format!("`{k}`: {e}")))
    }
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
    params(crate::barkd::IdempotencyKey),
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
    Ok(Created(engine.keysend(req, ctx).await?.into()))
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
    params(crate::barkd::IdempotencyKey),
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

/// Core Lightning's address object.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnAddress {
    /// `ipv4`, `ipv6` or `dns`.
    #[serde(rename = "type")]
    kind: ClnAddressType,
    /// The IP address or host name.
    address: String,
    /// The port, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u16>)]
    port: Option<Option<u16>>,
}

/// The kind of a [`ClnAddress`].
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClnAddressType {
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A host name.
    Dns,
}

/// `host:port` as Core Lightning's address object.
fn address_json(a: &str) -> ClnAddress {
    match a.parse::<std::net::SocketAddr>() {
        Ok(std::net::SocketAddr::V4(s)) => ClnAddress {
            kind: ClnAddressType::Ipv4,
            address: s.ip().to_string(),
            port: Some(Some(s.port())),
        },
        Ok(std::net::SocketAddr::V6(s)) => ClnAddress {
            kind: ClnAddressType::Ipv6,
            address: s.ip().to_string(),
            port: Some(Some(s.port())),
        },
        Err(_) => match a.rsplit_once(':') {
            Some((host, port)) => ClnAddress {
                kind: ClnAddressType::Dns,
                address: host.to_string(),
                port: Some(port.parse::<u16>().ok()),
            },
            None => ClnAddress { kind: ClnAddressType::Dns, address: a.to_string(), port: None },
        },
    }
}

/// `getinfo` takes no parameters: an empty body or `{}`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClnNoParams {}

/// Core Lightning's `getinfo` result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnGetinfo {
    /// The node id.
    id: String,
    /// The node's alias.
    alias: String,
    /// The node's color (hex RGB).
    color: &'static str,
    /// Connected peers.
    num_peers: usize,
    /// Channels opening or awaiting confirmations.
    num_pending_channels: usize,
    /// Usable channels.
    num_active_channels: usize,
    /// Ready channels whose peer is away.
    num_inactive_channels: usize,
    /// Announced addresses.
    address: Vec<ClnAddress>,
    /// Where it listens for peers.
    binding: Vec<ClnAddress>,
    /// `boltd-<version>`.
    version: String,
    /// The height the node has processed.
    blockheight: u32,
    /// The network.
    network: String,
    /// The data directory.
    #[serde(rename = "lightning-dir")]
    lightning_dir: String,
    /// Forwarding fees earned: always 0, boltd does not record forwarding fees (the node only
    /// logs each forward's fee).
    fees_collected_msat: u64,
}

/// Core Lightning's `getinfo`. `fees_collected_msat` is always 0: boltd does not record
/// forwarding fees.
#[utoipa::path(post, path = "/v1/getinfo", tag = TAG, operation_id = "cln_getinfo",
    security(("bearer" = ["node:read"])),
    request_body(content = Option<ClnNoParams>, description = "No parameters: an empty body or `{}`"),
    responses(
        (status = 201, description = "The node", body = ClnGetinfo),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_getinfo(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnGetinfo>, ClnError> {
    Params::parse(&body, &[], &[])?;
    let node = engine.node();
    let info = node.info();
    let channels = node.list_channels();
    let count = |states: &[&str]| channels.iter().filter(|c| states.contains(&c.state)).count();
    let config = node.config();
    Ok(Created(ClnGetinfo {
        id: info.node_id,
        alias: config.alias.clone(),
        color: "000000",
        num_peers: info.num_peers,
        num_pending_channels: count(&["opening", "pending_confirmation"]),
        num_active_channels: count(&["ready"]),
        num_inactive_channels: count(&["offline"]),
        address: config.announce_addrs.iter().map(|a| address_json(a)).collect(),
        binding: vec![address_json(&info.p2p_addr)],
        version: format!("boltd-{}", env!("CARGO_PKG_VERSION")),
        blockheight: info.block_height,
        network: info.network,
        lightning_dir: config.data_dir.display().to_string(),
        // Not recorded by the node (it only logs `PaymentForwarded`'s fee): 0, as Core
        // Lightning's schema requires the member.
        fees_collected_msat: 0,
    }))
}
