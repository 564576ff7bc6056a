//! Core Lightning's dialect (seed 003): `POST /v1/pay` with its parameter names, result fields
//! and error objects `{code, message, data}`.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::{PayError, PayRequest};
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::AppState;

/// A Core Lightning error object: `{code, message, data}`.
pub(crate) struct ClnError(PayError);

impl IntoResponse for ClnError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            PayError::InvalidParams(_) | PayError::NotFound(_) => StatusCode::BAD_REQUEST,
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
