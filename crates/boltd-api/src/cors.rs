//! Cross-origin requests (CORS): denied unless the browser's origin is in `api_cors_origins`.
//!
//! Without an allow-list entry a response carries no CORS headers, so browsers on other origins
//! cannot read it, and a preflight (`OPTIONS` with `Access-Control-Request-Method`) gets 403.
//! For an allowed origin, preflights are answered here (before routing and authentication:
//! browsers send no credentials in a preflight) and responses carry
//! `Access-Control-Allow-Origin` with that origin. The LNURL-pay endpoints answer every origin
//! themselves (`Access-Control-Allow-Origin: *`) and are left alone. Credentials (cookies) are
//! never allowed: the API authenticates with bearer tokens only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The request headers a browser may send across origins.
const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key";
const ALLOWED_METHODS: &str = "GET, POST, DELETE";
/// How long browsers may cache a preflight answer.
const MAX_AGE_SECS: &str = "600";
/// Paths that answer every origin themselves.
const OPEN_PREFIX: &str = "/.well-known/lnurlp/";

/// The allowed origins (`*` for any).
#[derive(Clone, Default)]
pub(crate) struct Cors {
    origins: Arc<Vec<String>>,
}

impl Cors {
    pub(crate) fn new(origins: Vec<String>) -> Cors {
        Cors { origins: Arc::new(origins) }
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// The CORS middleware (outermost layer).
pub(crate) async fn cors(State(cors): State<Cors>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(OPEN_PREFIX) {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(String::from);
    let Some(origin) = origin else { return cors.vary(next.run(req).await) };
    let allowed = cors.allows(&origin);
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        if !allowed {
            return ApiError {
                status: StatusCode::FORBIDDEN,
                code: "cors_denied",
                message: format!(
                    "cross-origin requests from {origin} are not allowed (api_cors_origins)"
                ),
            }
            .into_response();
        }
        let mut res = StatusCode::NO_CONTENT.into_response();
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        allow_origin(&mut res, &origin);
        return cors.vary(res);
    }
    let mut res = next.run(req).await;
    if allowed {
        allow_origin(&mut res, &origin);
    }
    cors.vary(res)
}

impl Cors {
    /// With an allow-list, answers depend on the `Origin` header: say so to caches.
    fn vary(&self, mut res: Response) -> Response {
        if !self.origins.is_empty() {
            res.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
        }
        res
    }
}

fn allow_origin(res: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        let c = Cors::new(vec!["https://app.example".into()]);
        assert!(c.allows("https://app.example"));
        assert!(!c.allows("https://app.example.evil"));
        assert!(!c.allows("http://app.example"));
        assert!(!Cors::default().allows("https://app.example"));
        assert!(Cors::new(vec!["*".into()]).allows("https://any.example"));
    }
}
