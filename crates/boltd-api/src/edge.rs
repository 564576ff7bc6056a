//! Guards at the edge of the API, before routing, against requests a web browser can be made
//! to send to a daemon on the same machine:
//!
//! - **Bodies are JSON**: a request with a body must say `Content-Type: application/json`
//!   or a JSON-based type (`application/*+json`, e.g. `application/merge-patch+json` for a
//!   metadata patch; parameters such as `charset` allowed), or it gets 415 in its dialect's
//!   shape. A page can
//!   send a cross-origin `text/plain`, form or multipart POST without a preflight; a JSON
//!   content type always needs one, which [`cors`](crate::cors) denies unless the origin is
//!   allowed. Requests without a body (a Core Lightning method without parameters, a GET) pass.
//! - **Without authentication** (`--insecure-no-auth`, [`AuthMode::Disabled`]): the `Host`
//!   must be a loopback name (`localhost`, `127.0.0.0/8`, `[::1]`, with any port), or the
//!   request gets 421 `host_not_allowed`: a page that rebinds its own DNS name to 127.0.0.1
//!   (DNS rebinding) sends its own name as `Host`. A request carrying an `Origin` (only browsers
//!   send one, and boltd serves no page of its own) gets 403 `cors_denied`: without tokens
//!   nothing else would stop a page's simple cross-origin request from running.
//!   (`api_cors_origins` cannot be set together with `--insecure-no-auth`: `boltd serve`
//!   refuses to start.)
//!
//! The LNURL-pay endpoints (public, GET, open to every origin) are left to their own rules.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthMode;
use crate::dialect::{error_response, Dialect};
use crate::error::ApiError;

/// Paths that keep their own rules (LNURL-pay: public, answered to every origin).
const OPEN_PREFIX: &str = "/.well-known/lnurlp/";

/// The edge middleware (outermost layer).
pub(crate) async fn guard(State(mode): State<AuthMode>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let dialect = Dialect::of(path);
    if mode == AuthMode::Disabled && !path.starts_with(OPEN_PREFIX) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(String::from)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        match host {
            Some(h) if is_loopback_authority(&h) => {}
            other => {
                let shown = other.map(|h| format!("`{}`", printable(&h))).unwrap_or("none".into());
                let message = format!(
                    "Host {shown} is not a loopback name: without authentication \
                     (--insecure-no-auth) the API answers only requests addressed to localhost, \
                     127.0.0.1 or [::1] (a guard against DNS rebinding)"
                );
                return refuse(
                    req,
                    dialect,
                    StatusCode::MISDIRECTED_REQUEST,
                    "host_not_allowed",
                    message,
                )
                .await;
            }
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let message = format!(
                "cross-origin requests (from `{}`) are refused without authentication \
                 (--insecure-no-auth): run with tokens to call the API from a browser",
                printable(&String::from_utf8_lossy(origin.as_bytes()))
            );
            return refuse(req, dialect, StatusCode::FORBIDDEN, "cors_denied", message).await;
        }
    }
    if has_body(req.headers()) {
        if let Some(got) = non_json_content_type(req.headers()) {
            let message = format!(
                "the request body must be JSON sent with `Content-Type: application/json`, not \
                 {got}"
            );
            return refuse(
                req,
                dialect,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            )
            .await;
        }
    }
    next.run(req).await
}

/// Refuses after reading what is left of the body (up to the body limit), so a client that
/// keeps its connection alive does not find it closed (see `auth::refuse`).
async fn refuse(
    req: Request,
    dialect: Dialect,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> Response {
    let _ = axum::body::to_bytes(req.into_body(), crate::MAX_BODY_BYTES).await;
    match dialect {
        Dialect::Native => ApiError { status, code, message }.into_response(),
        d => error_response(d, status, message),
    }
}

/// Whether the request announces a body: a non-zero `Content-Length`, or chunks.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().parse::<u64>().map_or(true, |n| n > 0))
}

/// `None` if the content type is `application/json` or `application/<name>+json` (any case,
/// with or without parameters; neither can be sent cross-origin without a preflight); else
/// how to name what was sent.
fn non_json_content_type(headers: &HeaderMap) -> Option<String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Some("no Content-Type".into());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    let json_based = essence
        .strip_prefix("application/")
        .and_then(|sub| sub.strip_suffix("+json"))
        .is_some_and(|name| !name.is_empty() && !name.contains(['/', ' ']));
    if essence == "application/json" || json_based {
        None
    } else {
        Some(format!("`{}`", printable(&text)))
    }
}

/// Whether a `Host` (or `:authority`) names this machine's loopback interface.
pub(crate) fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if after.is_empty() || valid_port(after) => v6,
            _ => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((h, port)) if valid_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => authority,
        },
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `:` followed by a port number.
fn valid_port(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

/// At most 100 characters of `s`, without control characters, for an error message.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_hosts() {
        for ok in ["localhost", "LOCALHOST:3000", "127.0.0.1", "127.0.0.1:3000", "127.1.2.3:80"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for ok in ["[::1]", "[::1]:3000"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example",
            "127.0.0.1.nip.io:3000",
            "10.0.0.1:3000",
            "0.0.0.0:3000",
            "[::2]:3000",
            "[::1]x",
            "127.0.0.1:x",
            "127.0.0.1:99999",
            "",
            "::1",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }

    #[test]
    fn json_content_types() {
        let ct = |v: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = v {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            }
            non_json_content_type(&h)
        };
        assert_eq!(ct(Some("application/json")), None);
        assert_eq!(ct(Some("Application/JSON; charset=utf-8")), None);
        assert_eq!(ct(Some("text/plain")).as_deref(), Some("`text/plain`"));
        assert_eq!(ct(Some("application/jsonx")).as_deref(), Some("`application/jsonx`"));
        assert_eq!(ct(Some("application/merge-patch+json")), None);
        assert_eq!(ct(Some("application/+json")).as_deref(), Some("`application/+json`"));
        assert_eq!(ct(Some("text/x+json")).as_deref(), Some("`text/x+json`"));
        assert_eq!(ct(None).as_deref(), Some("no Content-Type"));
    }

    #[test]
    fn bodies() {
        let h = |k: header::HeaderName, v: &str| {
            let mut h = HeaderMap::new();
            h.insert(k, HeaderValue::from_str(v).unwrap());
            has_body(&h)
        };
        assert!(!has_body(&HeaderMap::new()));
        assert!(!h(header::CONTENT_LENGTH, "0"));
        assert!(h(header::CONTENT_LENGTH, "2"));
        assert!(h(header::TRANSFER_ENCODING, "chunked"));
    }
}
