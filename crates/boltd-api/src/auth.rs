//! Authentication and authorization of every request: the route table ([`ROUTES`]: which scope
//! each route needs), the middleware that checks the bearer token against it and puts the
//! [`Caller`] into the request's extensions (for the [`Ctx`](crate::context::Ctx) extractor),
//! and the 401/403 answers in each dialect's error shape.
//!
//! Fail closed: a route missing from the table needs `node:admin`; a token that cannot be
//! checked (storage error) is refused.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boltd_engine::auth::{AuthError, Caller, Scope};
use boltd_engine::error::cln_codes;

use crate::error::{AlbyErrorBody, ApiError, ClnErrorBody};
use crate::AppState;

/// Whether the API checks tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every route but the public ones needs a bearer token with the route's scope.
    Tokens,
    /// No authentication (`serve --insecure-no-auth`, loopback only): every caller may do
    /// everything, without spending limits.
    Disabled,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: anyone may call it.
    Public,
    /// A valid token, whatever its scopes.
    Authenticated,
    /// A valid token with this scope (or `node:admin`).
    Scope(Scope),
}

use Access::{Authenticated, Public, Scope as S};
use Scope::*;

/// Every route with the access it needs: (method, path as registered in the router, access).
/// A route that is not here needs `node:admin`. The README lists this table.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/ping", Public),
    ("GET", "/openapi.json", Public),
    ("GET", "/.well-known/lnurlp/{name}", Public),
    ("GET", "/.well-known/lnurlp/{name}/callback", Public),
    // Paying.
    ("POST", "/api/v1/lightning/pay", S(PaymentsSend)),
    ("POST", "/api/v1/wallet/send", S(PaymentsSend)),
    ("POST", "/api/v1/lightning/keysend", S(PaymentsSend)),
    ("POST", "/api/v1/lightning/keysend/multi", S(PaymentsSend)),
    ("POST", "/api/v1/lightning/offers/pay", S(PaymentsSend)),
    ("POST", "/v1/pay", S(PaymentsSend)),
    ("GET", "/api/v1/fees/lightning/pay", S(PaymentsSend)),
    // Receiving.
    ("POST", "/api/v1/lightning/receives/invoice", S(InvoicesCreate)),
    ("POST", "/api/v1/lightning/receives/settle", S(InvoicesCreate)),
    ("DELETE", "/api/v1/lightning/receives/{identifier}", S(InvoicesCreate)),
    ("POST", "/api/v1/lightning/offers", S(InvoicesCreate)),
    ("POST", "/api/v1/onchain/addresses/next", S(InvoicesCreate)),
    ("GET", "/api/v1/lightning/receives", S(InvoicesRead)),
    ("GET", "/api/v1/lightning/receives/{identifier}", S(InvoicesRead)),
    // Reading payments and balances.
    ("GET", "/api/v1/lightning/sends/{identifier}", S(TransactionsRead)),
    ("GET", "/api/v1/history", S(TransactionsRead)),
    ("GET", "/api/v1/payments", S(TransactionsRead)),
    ("GET", "/api/v1/onchain/transactions", S(TransactionsRead)),
    ("GET", "/api/v1/wallet/balance", S(BalanceRead)),
    ("GET", "/api/v1/wallet/connected", S(BalanceRead)),
    ("GET", "/api/v1/onchain/balance", S(BalanceRead)),
    ("GET", "/api/v1/onchain/utxos", S(BalanceRead)),
    // Reading the node.
    ("GET", "/api/v1/node/info", S(NodeRead)),
    ("GET", "/api/v1/node/peers", S(NodeRead)),
    ("GET", "/api/v1/node/channels", S(NodeRead)),
    ("GET", "/api/v1/node/graph/channels/{scid}", S(NodeRead)),
    ("GET", "/api/v1/bitcoin/tip", S(NodeRead)),
    // Administration: on-chain sends, peers, channels, tokens.
    ("POST", "/api/v1/onchain/send", S(NodeAdmin)),
    ("POST", "/api/v1/onchain/drain", S(NodeAdmin)),
    ("POST", "/api/v1/node/peers/connect", S(NodeAdmin)),
    ("POST", "/api/v1/node/peers/disconnect", S(NodeAdmin)),
    ("POST", "/api/v1/node/channels/open", S(NodeAdmin)),
    ("POST", "/api/v1/node/channels/close", S(NodeAdmin)),
    ("POST", "/api/v1/node/channels/config", S(NodeAdmin)),
    ("POST", "/api/v1/tokens", S(NodeAdmin)),
    ("GET", "/api/v1/tokens", S(NodeAdmin)),
    ("GET", "/api/v1/tokens/{id}", S(NodeAdmin)),
    ("DELETE", "/api/v1/tokens/{id}", S(NodeAdmin)),
    ("GET", "/api/v1/tokens/self", Authenticated),
    // Core Lightning's methods.
    ("POST", "/v1/keysend", S(PaymentsSend)),
    ("POST", "/v1/invoice", S(InvoicesCreate)),
    ("POST", "/v1/listinvoices", S(InvoicesRead)),
    ("POST", "/v1/waitanyinvoice", S(InvoicesRead)),
    ("POST", "/v1/listpays", S(TransactionsRead)),
    ("POST", "/v1/decode", Authenticated),
    ("POST", "/v1/getinfo", S(NodeRead)),
    ("POST", "/v1/listfunds", S(BalanceRead)),
    ("POST", "/v1/listpeerchannels", S(NodeRead)),
    ("POST", "/v1/waitinvoice", S(InvoicesRead)),
    ("POST", "/v1/delinvoice", S(InvoicesCreate)),
    ("POST", "/v1/listsendpays", S(TransactionsRead)),
    ("POST", "/v1/newaddr", S(InvoicesCreate)),
    ("POST", "/v1/withdraw", S(NodeAdmin)),
    ("POST", "/v1/signmessage", S(NodeAdmin)),
    ("POST", "/v1/checkmessage", Authenticated),
    ("POST", "/v1/xpay", S(PaymentsSend)),
    ("POST", "/v1/offer", S(InvoicesCreate)),
    ("POST", "/v1/fetchinvoice", S(PaymentsSend)),
    // Alby's Wallet API.
    ("POST", "/payments/bolt11", S(PaymentsSend)),
    ("POST", "/payments/keysend", S(PaymentsSend)),
    ("POST", "/payments/keysend/multi", S(PaymentsSend)),
    ("POST", "/invoices", S(InvoicesCreate)),
    ("GET", "/invoices", S(TransactionsRead)),
    ("GET", "/invoices/incoming", S(InvoicesRead)),
    ("GET", "/invoices/outgoing", S(TransactionsRead)),
    ("GET", "/invoices/{payment_hash}", S(InvoicesRead)),
    ("GET", "/balance", S(BalanceRead)),
    ("GET", "/decode/bolt11/{invoice}", Authenticated),
    ("POST", "/webhook_endpoints", S(NodeAdmin)),
    ("GET", "/webhook_endpoints/{id}", S(NodeAdmin)),
    ("DELETE", "/webhook_endpoints/{id}", S(NodeAdmin)),
    // barkd's remaining endpoints.
    ("POST", "/api/v1/history/{id}/metadata", S(PaymentsSend)),
    ("GET", "/api/v1/wallet/history", S(TransactionsRead)),
    ("GET", "/api/v1/wallet/movements", S(TransactionsRead)),
    ("GET", "/api/v1/fees/onchain", Authenticated),
    ("GET", "/api/v1/fees/lightning/receive", Authenticated),
    ("POST", "/api/v1/onchain/send-many", S(NodeAdmin)),
    ("POST", "/api/v1/onchain/sync", S(BalanceRead)),
    ("POST", "/api/v1/wallet/sync", S(BalanceRead)),
    ("POST", "/api/v1/message/sign", S(NodeAdmin)),
    ("POST", "/api/v1/message/verify", Authenticated),
    // Notifications: the WebSocket is authenticated by its single-use ticket (browsers cannot
    // send headers on a WebSocket), which needs `transactions:read`.
    ("GET", "/api/v1/notifications/wait", S(TransactionsRead)),
    ("GET", "/api/v1/notifications/ws/ticket", S(TransactionsRead)),
    ("GET", "/api/v1/notifications/ws", Public),
    ("POST", "/api/v1/webhooks", S(NodeAdmin)),
    ("GET", "/api/v1/webhooks", S(NodeAdmin)),
    ("GET", "/api/v1/webhooks/{id}", S(NodeAdmin)),
    ("DELETE", "/api/v1/webhooks/{id}", S(NodeAdmin)),
    ("GET", "/api/v1/webhooks/{id}/deliveries", S(NodeAdmin)),
];

/// The access a route needs; `node:admin` for a route the table does not list.
pub fn access_for(method: &Method, path: &str) -> Access {
    // axum answers HEAD with the GET handler.
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
        .unwrap_or(Access::Scope(Scope::NodeAdmin))
}

/// The API dialect of a path, for the shape of 401/403 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// barkd's and boltd's native `{code, message}` with a string code.
    Native,
    /// Core Lightning's `{code, message}` with a numeric code (`/v1/...`).
    Cln,
    /// Alby's Wallet API `{code, error: true, message}` (its path roots).
    Alby,
}

/// Path roots of Alby's Wallet API.
const ALBY_ROOTS: [&str; 6] =
    ["/balance", "/decode", "/invoices", "/payments", "/user", "/webhook_endpoints"];

impl Dialect {
    pub(crate) fn of(path: &str) -> Dialect {
        if path.starts_with("/v1/") {
            return Dialect::Cln;
        }
        let root_of = |r: &str| {
            path.strip_prefix(r).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if ALBY_ROOTS.iter().any(|r| root_of(r)) {
            Dialect::Alby
        } else {
            Dialect::Native
        }
    }
}

/// The answer to a request that failed authentication or authorization, in `dialect`'s shape;
/// a 401 carries `WWW-Authenticate: Bearer`.
pub(crate) fn auth_failure(dialect: Dialect, e: AuthError) -> Response {
    let api = ApiError::from(e);
    let status = api.status;
    let mut res = match dialect {
        Dialect::Native => api.into_response(),
        Dialect::Cln => {
            let code = if status == StatusCode::UNAUTHORIZED {
                cln_codes::NOT_AUTHORIZED
            } else {
                cln_codes::NOT_PERMITTED
            };
            (status, Json(ClnErrorBody { code, message: api.message, data: None })).into_response()
        }
        // Alby's (lndhub's) code 1 is "bad auth".
        Dialect::Alby => {
            (status, Json(AlbyErrorBody { code: 1, error: true, message: api.message }))
                .into_response()
        }
    };
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"boltd\""));
    }
    res
}

/// The bearer token of a request: [`AuthError::Missing`] without an `Authorization` header,
/// [`AuthError::Invalid`] with one that is not `Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Err(AuthError::Missing) };
    let value = value.to_str().map_err(|_| AuthError::Invalid)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Invalid);
    }
    Ok(token.trim())
}

/// The request's token: `Authorization: Bearer`, or on Core Lightning's paths, without that
/// header, clnrest's `rune` header (what its clients send their credentials in).
fn token(headers: &HeaderMap, dialect: Dialect) -> Result<&str, AuthError> {
    match bearer(headers) {
        Err(AuthError::Missing) if dialect == Dialect::Cln => {
            let Some(rune) = headers.get("rune") else { return Err(AuthError::Missing) };
            let rune = rune.to_str().map_err(|_| AuthError::Invalid)?.trim();
            if rune.is_empty() {
                return Err(AuthError::Invalid);
            }
            Ok(rune)
        }
        other => other,
    }
}

/// Refuses a request, after reading what is left of its body (up to the body limit): a
/// response sent over an unread body makes the server close the connection, which a client
/// that keeps connections alive finds broken on its next request.
async fn refuse(req: Request, dialect: Dialect, e: AuthError) -> Response {
    let _ = axum::body::to_bytes(req.into_body(), crate::MAX_BODY_BYTES).await;
    auth_failure(dialect, e)
}

/// The middleware state: the engine and the mode.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) engine: AppState,
    pub(crate) mode: AuthMode,
}

/// Checks the request against [`ROUTES`]; on success the [`Caller`] goes into the request's
/// extensions. Runs after routing (a route layer), so the matched path is known, and before
/// any extractor reads the body.
pub(crate) async fn authorize(
    State(s): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let dialect = Dialect::of(req.uri().path());
    let access = match req.extensions().get::<MatchedPath>() {
        Some(p) => access_for(req.method(), p.as_str()),
        None => Access::Scope(Scope::NodeAdmin),
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    let caller = match s.mode {
        AuthMode::Disabled => Caller::unrestricted(),
        AuthMode::Tokens => {
            let checked = match token(req.headers(), dialect) {
                Ok(token) => s.engine.authenticate(token).await,
                Err(e) => Err(e),
            };
            match checked {
                Ok(c) => c,
                Err(e) => return refuse(req, dialect, e).await,
            }
        }
    };
    if let Access::Scope(scope) = access {
        if let Err(e) = caller.require(scope) {
            tracing::debug!(
                token_id = caller.token_id.as_deref().unwrap_or("-"),
                path = %req.uri().path(),
                "refused: the token lacks the `{scope}` scope"
            );
            return refuse(req, dialect, e).await;
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_route_table_is_well_formed() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(["GET", "POST", "DELETE"].contains(m), "{m} {p}");
            assert!(p.starts_with('/'), "{p}");
            assert!(
                !ROUTES[..i].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} is listed twice"
            );
        }
        // Only these are public (the WebSocket is authenticated by its single-use ticket);
        // token management is for admins.
        let public: Vec<&str> =
            ROUTES.iter().filter(|r| r.2 == Access::Public).map(|r| r.1).collect();
        assert_eq!(
            public,
            [
                "/ping",
                "/openapi.json",
                "/.well-known/lnurlp/{name}",
                "/.well-known/lnurlp/{name}/callback",
                "/api/v1/notifications/ws"
            ]
        );
        for (m, p, a) in ROUTES {
            if p.starts_with("/api/v1/tokens") && *p != "/api/v1/tokens/self" {
                assert_eq!(*a, Access::Scope(Scope::NodeAdmin), "{m} {p}");
            }
            // Everything that spends on chain (send, send-many, drain); a sync spends nothing.
            let spends = p.starts_with("/api/v1/onchain/s") || p.starts_with("/api/v1/onchain/d");
            if spends && *p != "/api/v1/onchain/sync" {
                assert_eq!(*a, Access::Scope(Scope::NodeAdmin), "{m} {p}");
            }
        }
    }

    #[test]
    fn the_readme_lists_the_route_table() {
        const README: &str = include_str!("../../../README.md");
        let rows: Vec<(String, String, String)> = README
            .lines()
            .filter(|l| {
                l.starts_with("| GET |") || l.starts_with("| POST |") || l.starts_with("| DELETE |")
            })
            .map(|l| {
                let cells: Vec<String> = l
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .collect();
                (cells[0].clone(), cells[1].clone(), cells[2].clone())
            })
            .filter(|(_, _, needs)| {
                needs == "public" || needs == "any valid token" || Scope::parse(needs).is_some()
            })
            .collect();
        let want: Vec<(String, String, String)> = ROUTES
            .iter()
            .map(|(m, p, a)| {
                let needs = match a {
                    Access::Public => "public".to_string(),
                    Access::Authenticated => "any valid token".to_string(),
                    Access::Scope(s) => s.as_str().to_string(),
                };
                (m.to_string(), p.to_string(), needs)
            })
            .collect();
        assert_eq!(rows, want, "README.md's route table differs from ROUTES");
    }

    #[test]
    fn unlisted_routes_need_admin() {
        assert_eq!(access_for(&Method::GET, "/ping"), Access::Public);
        assert_eq!(access_for(&Method::HEAD, "/ping"), Access::Public);
        assert_eq!(access_for(&Method::POST, "/ping"), Access::Scope(Scope::NodeAdmin));
        assert_eq!(access_for(&Method::GET, "/api/v1/new-thing"), Access::Scope(Scope::NodeAdmin));
        assert_eq!(
            access_for(&Method::GET, "/api/v1/lightning/receives/{identifier}"),
            Access::Scope(Scope::InvoicesRead)
        );
        assert_eq!(
            access_for(&Method::DELETE, "/api/v1/lightning/receives/{identifier}"),
            Access::Scope(Scope::InvoicesCreate)
        );
        assert_eq!(access_for(&Method::POST, "/v1/pay"), Access::Scope(Scope::PaymentsSend));
    }

    #[test]
    fn dialects_by_path() {
        assert_eq!(Dialect::of("/v1/pay"), Dialect::Cln);
        assert_eq!(Dialect::of("/api/v1/lightning/pay"), Dialect::Native);
        assert_eq!(Dialect::of("/payments/bolt11"), Dialect::Alby);
        assert_eq!(Dialect::of("/balance"), Dialect::Alby);
        assert_eq!(Dialect::of("/balances"), Dialect::Native);
        assert_eq!(Dialect::of("/ping"), Dialect::Native);
    }

    #[test]
    fn bearer_header_parsing() {
        let h = |v: Option<&str>| {
            let mut m = HeaderMap::new();
            if let Some(v) = v {
                m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            bearer(&m).map(String::from)
        };
        assert_eq!(h(None), Err(AuthError::Missing));
        assert_eq!(h(Some("Bearer abc")), Ok("abc".into()));
        assert_eq!(h(Some("bearer  abc ")), Ok("abc".into()));
        assert_eq!(h(Some("Bearer ")), Err(AuthError::Invalid));
        assert_eq!(h(Some("Basic dXNlcjpwYXNz")), Err(AuthError::Invalid));
        assert_eq!(h(Some("abc")), Err(AuthError::Invalid));
        let rune = |auth: Option<&str>, rune: &str, d: Dialect| {
            let mut m = HeaderMap::new();
            if let Some(v) = auth {
                m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            m.insert("rune", HeaderValue::from_str(rune).unwrap());
            token(&m, d).map(String::from)
        };
        assert_eq!(rune(None, "abc", Dialect::Cln), Ok("abc".into()));
        assert_eq!(rune(None, " ", Dialect::Cln), Err(AuthError::Invalid));
        assert_eq!(rune(Some("Bearer xyz"), "abc", Dialect::Cln), Ok("xyz".into()));
        assert_eq!(rune(None, "abc", Dialect::Native), Err(AuthError::Missing));
        assert_eq!(rune(None, "abc", Dialect::Alby), Err(AuthError::Missing));
    }

    #[tokio::test]
    async fn failures_follow_the_dialect() {
        let body = |r: Response| async move {
            let status = r.status();
            let www = r.headers().get(header::WWW_AUTHENTICATE).cloned();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, www, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        };
        let (s, www, v) = body(auth_failure(Dialect::Native, AuthError::Invalid)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(www.is_some());
        assert_eq!(v, json!({ "code": "unauthorized", "message": "invalid token" }));
        let (s, www, v) =
            body(auth_failure(Dialect::Native, AuthError::MissingScope(Scope::PaymentsSend))).await;
        assert_eq!((s, www), (StatusCode::FORBIDDEN, None));
        assert_eq!(v["code"], "missing_scope");
        assert!(v["message"].as_str().unwrap().contains("payments:send"), "{v}");
        let (s, _, v) = body(auth_failure(Dialect::Cln, AuthError::Missing)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["code"], 1501);
        let (s, _, v) =
            body(auth_failure(Dialect::Cln, AuthError::MissingScope(Scope::PaymentsSend))).await;
        assert_eq!((s, v["code"].as_i64()), (StatusCode::FORBIDDEN, Some(1502)));
        let (s, _, v) = body(auth_failure(Dialect::Alby, AuthError::Invalid)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v, json!({ "code": 1, "error": true, "message": "invalid token" }));
    }
}
