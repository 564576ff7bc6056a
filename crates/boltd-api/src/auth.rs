//! Authentication and authorization of every request: the route table ([`routes()`]: which
//! scope each route needs, derived from the `security(...)` each handler declares in its
//! `#[utoipa::path]`), the middleware that checks the bearer token against it and puts the
//! [`Caller`] into the request's extensions (for the [`Ctx`](crate::context::Ctx) extractor),
//! and the 401/403 answers in each dialect's error shape.
//!
//! Fail closed: an operation that declares no access (or one this API does not know) stops the
//! daemon at start-up and fails every test; a route missing from the table needs `node:admin`;
//! a token that cannot be checked (storage error) is refused.

use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use boltd_engine::auth::{AuthError, Caller, Scope};
use utoipa::openapi::path::Operation;
use utoipa::openapi::OpenApi;

use crate::dialect::{auth_failure, Dialect};
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

/// One operation of the API and the access it needs, as its `#[utoipa::path]` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case (`GET`, `POST`, `DELETE`).
    pub method: &'static str,
    /// The path as registered in the router (`/api/v1/tokens/{id}`).
    pub path: String,
    /// What it needs.
    pub access: Access,
}

/// The name of the bearer security scheme, the one scheme operations may declare.
pub(crate) const BEARER: &str = "bearer";

/// Every route with the access it needs, in the router's order: derived, once, from the
/// `security(...)` of each handler's `#[utoipa::path]` (the same declaration the router and the
/// OpenAPI document are built from). Panics, naming them, if an operation declares no security
/// or one this API does not know: a route is never public by omission.
pub fn routes() -> &'static [Route] {
    static TABLE: LazyLock<Vec<Route>> = LazyLock::new(|| {
        derive_routes(&crate::declared_document()).unwrap_or_else(|errors| {
            panic!("operations with a missing or malformed access:\n{}", errors.join("\n"))
        })
    });
    &TABLE
}

/// A path's operations, with their methods.
pub(crate) fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
}

/// The route table of a document's operations, or what is wrong with their declarations.
pub(crate) fn derive_routes(doc: &OpenApi) -> Result<Vec<Route>, Vec<String>> {
    let mut table = Vec::new();
    let mut errors = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in operations(item) {
            match declared_access(op) {
                Ok(access) => table.push(Route { method, path: path.clone(), access }),
                Err(e) => errors.push(format!("{method} {path}: {e}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(errors)
    }
}

/// The access an operation declares: `security(())` public, `security(("bearer" = []))` any
/// valid token, `security(("bearer" = ["<scope>"]))` a token with that scope.
fn declared_access(op: &Operation) -> Result<Access, String> {
    const HOW: &str = "declare one of `security(())` (public), `security((\"bearer\" = []))` (any \
        valid token) or `security((\"bearer\" = [\"<scope>\"]))` in its #[utoipa::path]";
    let Some(requirements) = &op.security else {
        return Err(format!("no security declared; {HOW}"));
    };
    // utoipa's `SecurityRequirement` shows its content only serialized: `{"<scheme>": [scopes]}`.
    let requirements = serde_json::to_value(requirements).map_err(|e| e.to_string())?;
    let [requirement] = requirements.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(format!("not exactly one security requirement; {HOW}"));
    };
    let Some(requirement) = requirement.as_object() else {
        return Err(format!("a malformed security requirement; {HOW}"));
    };
    if requirement.is_empty() {
        return Ok(Access::Public);
    }
    let scopes = match requirement.get(BEARER).and_then(|s| s.as_array()) {
        Some(scopes) if requirement.len() == 1 => scopes,
        _ => return Err(format!("a security scheme other than `{BEARER}`; {HOW}")),
    };
    match scopes.as_slice() {
        [] => Ok(Access::Authenticated),
        [scope] => {
            let name = scope.as_str().unwrap_or_default();
            Scope::parse(name)
                .map(Access::Scope)
                .ok_or_else(|| format!("unknown scope {scope}; {HOW}"))
        }
        _ => Err(format!("more than one scope (a route needs one); {HOW}")),
    }
}

/// The access a route needs ([`routes`]); `node:admin` for a route the table does not list.
pub fn access_for(method: &Method, path: &str) -> Access {
    // axum answers HEAD with the GET handler.
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    routes()
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.access)
        .unwrap_or(Access::Scope(Scope::NodeAdmin))
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

/// Checks the request against [`routes()`]; on success the [`Caller`] goes into the request's
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
    use axum::http::{HeaderValue, StatusCode};
    use serde_json::json;

    #[test]
    fn the_route_table_is_well_formed() {
        let table = routes();
        assert!(table.len() >= 70, "{} routes", table.len());
        for (i, r) in table.iter().enumerate() {
            assert!(["GET", "POST", "DELETE"].contains(&r.method), "{} {}", r.method, r.path);
            assert!(r.path.starts_with('/'), "{}", r.path);
            assert!(
                !table[..i].iter().any(|r2| r2.method == r.method && r2.path == r.path),
                "{} {} is listed twice",
                r.method,
                r.path
            );
        }
        // Only these are public (the WebSocket is authenticated by its single-use ticket);
        // token management is for admins.
        let mut public: Vec<&str> =
            table.iter().filter(|r| r.access == Access::Public).map(|r| r.path.as_str()).collect();
        public.sort();
        assert_eq!(
            public,
            [
                "/.well-known/lnurlp/{name}",
                "/.well-known/lnurlp/{name}/callback",
                "/api/v1/notifications/ws",
                "/openapi.json",
                "/ping",
                "/readyz",
            ]
        );
        for Route { method: m, path: p, access: a } in table {
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

    /// What an operation may declare, and what it may not.
    #[test]
    fn declarations_are_read_strictly() {
        use utoipa::openapi::path::OperationBuilder;
        use utoipa::openapi::security::SecurityRequirement;
        let declared = |security: Option<Vec<SecurityRequirement>>| {
            declared_access(&OperationBuilder::new().securities(security).build())
        };
        let bearer = |scopes: &[&str]| SecurityRequirement::new(BEARER, scopes.to_vec());
        assert_eq!(declared(Some(vec![SecurityRequirement::default()])), Ok(Access::Public));
        assert_eq!(declared(Some(vec![bearer(&[])])), Ok(Access::Authenticated));
        assert_eq!(
            declared(Some(vec![bearer(&["invoices:read"])])),
            Ok(Access::Scope(Scope::InvoicesRead))
        );
        // Never public by omission, nor by a typo.
        assert!(declared(None).unwrap_err().contains("no security declared"));
        assert!(declared(Some(vec![])).is_err());
        assert!(declared(Some(vec![bearer(&["invoices:raed"])])).is_err());
        assert!(declared(Some(vec![bearer(&["invoices:read", "node:read"])])).is_err());
        assert!(
            declared(Some(vec![SecurityRequirement::new("basic", Vec::<String>::new())])).is_err()
        );
        assert!(declared(Some(vec![SecurityRequirement::default(), bearer(&[])])).is_err());
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
        // The README orders its rows for readers (by what they need); the set is the table's.
        let mut want: Vec<(String, String, String)> = routes()
            .iter()
            .map(|r| {
                let needs = match r.access {
                    Access::Public => "public".to_string(),
                    Access::Authenticated => "any valid token".to_string(),
                    Access::Scope(s) => s.as_str().to_string(),
                };
                (r.method.to_string(), r.path.clone(), needs)
            })
            .collect();
        let mut rows = rows;
        rows.sort();
        want.sort();
        let row = |(m, p, n): &(String, String, String)| {
            let needs = if n.contains(':') { format!("`{n}`") } else { n.clone() };
            format!("| {m} | `{p}` | {needs} |")
        };
        let missing: Vec<String> = want.iter().filter(|r| !rows.contains(r)).map(row).collect();
        let extra: Vec<String> = rows.iter().filter(|r| !want.contains(r)).map(row).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "README.md's route table differs from the operations' declarations (routes()).\n\
             Add:\n{}\nRemove:\n{}",
            missing.join("\n"),
            extra.join("\n")
        );
        assert!(rows.windows(2).all(|w| w[0] != w[1]), "README.md lists a route twice");
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
