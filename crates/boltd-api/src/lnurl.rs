//! LNURL-pay hosting (LUD-06, LUD-12, LUD-16): `/.well-known/lnurlp/{name}` and its callback,
//! for the Lightning addresses this daemon hosts. Public (no token) and open to browser
//! wallets (CORS).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::AppState;

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

/// LUD-16 `GET /.well-known/lnurlp/{name}` (public): the pay parameters of a hosted name.
pub(crate) async fn lnurlp_params(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    lnurl_response(engine.lnurlp_params(&name, host_header(&headers)))
}

/// LUD-06 callback `GET /.well-known/lnurlp/{name}/callback?amount=<msat>[&comment=...]`
/// (public): an invoice committing to the name's metadata. Other query parameters are ignored.
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
