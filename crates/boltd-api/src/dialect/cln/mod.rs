//! Core Lightning's dialect (seed 003 family), as its REST plugin (clnrest) serves it:
//! `POST /v1/<method>` with the method's parameters by name in a JSON object (an empty body is
//! `{}`), its result fields with 201, and error objects `{code, message, data}`. The token comes
//! as `Authorization: Bearer` or in clnrest's `rune` header. Unknown parameters are refused
//! (-32602), as are the ones boltd does not implement, by name. Requests and answers are checked
//! against Core Lightning's own JSON schemas by `crates/boltd/tests/cln_schemas.rs`.
//!
//! This module holds what the methods share (the error, parameters, amounts, the 201 answer)
//! and [`routes`]; the methods are in [`pay`] (`pay`, `keysend`), [`invoices`] (`invoice`,
//! `waitinvoice`, `delinvoice`), [`info`] (`getinfo`), [`lists`] (`listinvoices`, `listpays`),
//! [`decode`], [`wallet`] (`listfunds`, `waitanyinvoice`), [`channels`] (`listpeerchannels`),
//! [`sendpays`] (`listsendpays`), [`onchain`] (`newaddr`, `withdraw`), [`sign`]
//! (`signmessage`, `checkmessage`) and [`xpay`] (`xpay`, `offer`, `fetchinvoice`).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::PayError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) mod channels;
mod error;
pub(crate) use error::{auth_failure, error_response, rpc_error, ClnError, ClnErrorBody};
pub(crate) mod decode;
pub(crate) mod info;
pub(crate) mod invoices;
pub(crate) mod lists;
pub(crate) mod onchain;
pub(crate) mod pay;
pub(crate) mod sendpays;
pub(crate) mod sign;
pub(crate) mod wallet;
pub(crate) mod xpay;

/// Core Lightning's methods, one line each (see the crate's documentation).
pub(crate) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(pay::cln_pay))
        .routes(routes!(pay::cln_keysend))
        .routes(routes!(invoices::cln_invoice))
        .routes(routes!(invoices::cln_waitinvoice))
        .routes(routes!(invoices::cln_delinvoice))
        .routes(routes!(info::cln_getinfo))
        .routes(routes!(lists::cln_listinvoices))
        .routes(routes!(lists::cln_listpays))
        .routes(routes!(decode::cln_decode))
        .routes(routes!(wallet::cln_listfunds))
        .routes(routes!(wallet::cln_waitanyinvoice))
        .routes(routes!(channels::cln_listpeerchannels))
        .routes(routes!(sendpays::cln_listsendpays))
        .routes(routes!(onchain::cln_newaddr))
        .routes(routes!(onchain::cln_withdraw))
        .routes(routes!(sign::cln_signmessage))
        .routes(routes!(sign::cln_checkmessage))
        .routes(routes!(xpay::cln_xpay))
        .routes(routes!(xpay::cln_offer))
        .routes(routes!(xpay::cln_fetchinvoice))
}

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
