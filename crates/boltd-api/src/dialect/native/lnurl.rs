//! LNURL-pay hosting (LUD-06, LUD-12, LUD-16): `/.well-known/lnurlp/{name}` and its callback,
//! for the Lightning addresses this daemon hosts. Public (no token) and open to browser
//! wallets (CORS).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// The OpenAPI tag of LNURL-pay.
pub(crate) const TAG: &str = "lnurl";

/// LUD-06's pay parameters of a hosted name.
#[derive(ToSchema)]
#[allow(dead_code, non_snake_case)]
pub(crate) struct LnurlPayParams {
    /// Where to ask for an invoice.
    callback: String,
    /// Most a payer may send, in msat.
    maxSendable: u64,
    /// Least a payer may send, in msat.
    minSendable: u64,
    /// LUD-06 metadata: a JSON array of `[mime type, content]` pairs, as a string.
    metadata: String,
    /// Always `payRequest`.
    tag: String,
    /// Longest comment accepted (LUD-12), in characters.
    commentAllowed: u64,
}

/// LUD-06's callback answer: an invoice committing to the metadata.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct LnurlInvoice {
    /// The BOLT11 invoice.
    pr: String,
    /// Always empty.
    routes: Vec<String>,
}

/// LUD-06's error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct LnurlErrorBody {
    /// Always `ERROR`.
    status: String,
    /// Why.
    reason: String,
}

/// The callback's query (other parameters are ignored).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct LnurlCallbackQuery {
    /// The amount to pay, in msat.
    amount: Option<String>,
    /// A comment for the payee (LUD-12).
    comment: Option<String>,
}

/// An LNURL answer: the JSON body, or LUD-06's `{"status":"ERROR","reason":...}` with the
/// error's status; open to browser wallets (CORS).
fn lnurl_response(r: Result<Value, boltd_engine::lnurl::LnurlError>) -> Response {
    let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    match r {
        Ok(v) => (cors, Json(v)).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, cors, Json(e.body())).into_response()
        }
    }
}

fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok())
}

/// LUD-16 (public): the pay parameters of a Lightning address this node hosts.
#[utoipa::path(get, path = "/.well-known/lnurlp/{name}", tag = TAG, operation_id = "lnurlp_params",
    security(()),
    params(("name" = String, Path, description = "The name of the address (before the `@`)")),
    responses(
        (status = 200, description = "The pay parameters", body = LnurlPayParams),
        (status = 400, description = "The request's host cannot make a callback URL", body = LnurlErrorBody),
        (status = 404, description = "No such name here", body = LnurlErrorBody),
    ))]
pub(crate) async fn lnurlp_params(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    lnurl_response(engine.lnurlp_params(&name, host_header(&headers)))
}

/// LUD-06 callback (public): an invoice committing to the name's metadata. Other query
/// parameters are ignored.
#[utoipa::path(get, path = "/.well-known/lnurlp/{name}/callback", tag = TAG,
    operation_id = "lnurlp_callback",
    security(()),
    params(("name" = String, Path, description = "The name of the address"), LnurlCallbackQuery),
    responses(
        (status = 200, description = "The invoice", body = LnurlInvoice),
        (status = 400, description = "A missing or out-of-range amount, or a comment too long", body = LnurlErrorBody),
        (status = 404, description = "No such name here", body = LnurlErrorBody),
        (status = 500, description = "The node cannot make an invoice now", body = LnurlErrorBody),
    ))]
pub(crate) async fn lnurlp_callback(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let q = match q {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => {
            let reason = e.body_text();
            return lnurl_response(Err(boltd_engine::lnurl::LnurlError { status: 400, reason }));
        }
    };
    let amount = q.get("amount").map(String::as_str);
    let comment = q.get("comment").map(String::as_str);
    lnurl_response(engine.lnurlp_callback(&name, host_header(&headers), amount, comment).await)
}
