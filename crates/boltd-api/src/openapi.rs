//! The OpenAPI 3.1 document of the API, generated from the code: every handler's
//! `#[utoipa::path]` (its method, path, parameters, request body and responses), the request
//! and response types (`ToSchema`, from the very types that are serialized), and each
//! operation's security as its `#[utoipa::path]` declares it (`security(...)`: a bearer token
//! with the scope it needs, any valid token, or none for public routes; the middleware's route
//! table, [`routes()`](crate::routes), is derived from the same declarations). Added here from
//! that table: the errors every operation shares (401/403 in the dialect's error shape, 500 for
//! internal errors, and the answers to bodies and parameters that cannot be read) and the
//! "Needs ..." line of each description.
//!
//! The document is served at `GET /openapi.json` and checked in as [`OPENAPI_FILE`]; a test
//! keeps the two identical.

use std::sync::OnceLock;

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Schema, SchemaFormat,
};
use utoipa::openapi::security::{HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{OpenApi as _, ToSchema};

use crate::auth::{access_for, Access, BEARER};
use crate::dialect::alby::AlbyErrorBody;
use crate::dialect::cln::ClnErrorBody;
use crate::dialect::Dialect;
use crate::error::ErrorBody;

/// The checked-in copy of the document, relative to the repository's root.
pub const OPENAPI_FILE: &str = "docs/openapi.json";

/// The OpenAPI tag of the daemon's own endpoints.
const TAG: &str = "meta";

/// The document's fixed parts; the operations come from the router ([`crate::api`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "boltd",
        description = "boltd's HTTP API: a Lightning node and an on-chain wallet behind three \
            dialects over one payment engine: barkd's REST API (boltd's native dialect, \
            `/api/v1/...`), Core Lightning's methods (`/v1/...`) and Alby's Wallet API (at the \
            root). Every operation but the public ones needs `Authorization: Bearer <token>` \
            with the scope it names. Errors come in the dialect's shape: `Error` (native), \
            `ClnErrorBody` (Core Lightning), `AlbyErrorBody` (Alby), `LnurlErrorBody` (LNURL). \
            Amounts name their unit (`_sat`, `_msat`; Alby's `amount` and `fee` are sats).",
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "barkd", description = "barkd's REST API (boltd's native dialect): payments, \
            receives, history, fees, on-chain wallet, messages. Errors: `Error`."),
        (name = "node", description = "Node administration (boltd's native dialect): peers, \
            channels, graph. Errors: `Error`."),
        (name = "notifications", description = "The event log (long-poll, WebSocket) and \
            native webhooks. Errors: `Error`."),
        (name = "tokens", description = "API tokens. Errors: `Error`."),
        (name = "nwc", description = "Nostr Wallet Connect (NIP-47) connections: tokens \
            reached through relays. Errors: `Error`."),
        (name = "core-lightning", description = "Core Lightning's methods, parameters by name \
            in a JSON object. Errors: `ClnErrorBody`."),
        (name = "alby", description = "Alby's Wallet API. Errors: `AlbyErrorBody`."),
        (name = "lnurl", description = "LNURL-pay for the Lightning addresses this node hosts \
            (public). Errors: `LnurlErrorBody`."),
        (name = "meta", description = "Liveness and this document (public)."),
    ),
    components(schemas(ErrorBody, ClnErrorBody, AlbyErrorBody)),
)]
struct ApiDoc;

/// The document before the operations are added.
pub(crate) fn base() -> OpenApi {
    let mut doc = ApiDoc::openapi();
    // The version of the daemon, not of the utoipa crate (the derive's default).
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The API's OpenAPI 3.1 document.
pub fn openapi() -> OpenApi {
    let (_, doc) = crate::api().split_for_parts();
    finish(doc)
}

/// The document as served and checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut s = openapi().to_pretty_json().expect("the OpenAPI document serializes");
    s.push('\n');
    s
}

/// Adds what the route table says (security, 401/403) and the errors all operations share.
fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            utoipa::openapi::security::HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("boltd_<id>_<secret>")
                .description(Some(
                    "An API token (`boltd serve` writes the first admin token to \
                     `<data_dir>/admin.token`; `POST /api/v1/tokens` makes scoped ones)",
                ))
                .build(),
        ),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        let dialect = Dialect::of(path);
        // Core Lightning's methods take an empty body as no parameters (a missing required
        // one is then a 400 naming it).
        if dialect == Dialect::Cln {
            for op in [&mut item.post, &mut item.get].into_iter().flatten() {
                if let Some(body) = op.request_body.as_mut() {
                    body.required = None;
                }
            }
        }
        let ops = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, op) in ops {
            if let Some(op) = op.as_mut() {
                complete_operation(op, &method, path, dialect);
            }
        }
    }
    bound_unsigned(doc)
}

/// Gives every unsigned integer schema (`uint8` to `uint64`, utoipa's formats for Rust's
/// unsigned types) its maximum: what the type can hold is what the API accepts, and a client
/// (or a fuzzer) cannot know the bound from a format outside the OpenAPI registry.
fn bound_unsigned(mut doc: OpenApi) -> OpenApi {
    if let Some(c) = doc.components.as_mut() {
        c.schemas.values_mut().for_each(bound_schema);
    }
    for item in doc.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.post, &mut item.delete, &mut item.put, &mut item.patch];
        for op in ops.into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten() {
                p.schema.iter_mut().for_each(bound_schema);
            }
            if let Some(body) = op.request_body.as_mut() {
                body.content.values_mut().for_each(|c| c.schema.iter_mut().for_each(bound_schema));
            }
            for r in op.responses.responses.values_mut() {
                if let RefOr::T(r) = r {
                    r.content.values_mut().for_each(|c| c.schema.iter_mut().for_each(bound_schema));
                }
            }
        }
    }
    doc
}

fn bound_schema(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let bound = match &o.format {
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt8)) => {
                    Some(("uint8", u64::from(u8::MAX)))
                }
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt16)) => {
                    Some(("uint16", u64::from(u16::MAX)))
                }
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt32)) => {
                    Some(("uint32", u64::from(u32::MAX)))
                }
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt64)) => Some(("uint64", u64::MAX)),
                _ => None,
            };
            if let Some((format, max)) = bound {
                // utoipa 5.5 spells these `u-int64` and so on.
                o.format = Some(SchemaFormat::Custom(format.to_string()));
                if o.maximum.is_none() {
                    o.maximum = Some(utoipa::Number::UInt(max as usize));
                }
            }
            o.properties.values_mut().for_each(bound_schema);
            if let Some(AdditionalProperties::RefOr(r)) = o.additional_properties.as_deref_mut() {
                bound_schema(r);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                bound_schema(items);
            }
        }
        Schema::OneOf(o) => o.items.iter_mut().for_each(bound_schema),
        Schema::AllOf(o) => o.items.iter_mut().for_each(bound_schema),
        Schema::AnyOf(o) => o.items.iter_mut().for_each(bound_schema),
        _ => {}
    }
}

/// The error schema of a dialect.
fn error_schema(dialect: Dialect, path: &str) -> &'static str {
    if path.starts_with("/.well-known/lnurlp/") {
        return "LnurlErrorBody";
    }
    match dialect {
        Dialect::Native => "Error",
        Dialect::Cln => "ClnErrorBody",
        Dialect::Alby => "AlbyErrorBody",
    }
}

fn complete_operation(op: &mut Operation, method: &Method, path: &str, dialect: Dialect) {
    let schema = error_schema(dialect, path);
    let mut add = |status: StatusCode, description: &str| {
        let key = status.as_u16().to_string();
        op.responses.responses.entry(key).or_insert_with(|| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", content);
            RefOr::T(response.build())
        });
    };
    let access = access_for(method, path);
    let needs = match access {
        Access::Public => None,
        Access::Authenticated => Some("any valid token".to_string()),
        Access::Scope(s) => Some(format!("a token with the `{s}` scope (or `node:admin`)")),
    };
    if access != Access::Public {
        add(StatusCode::UNAUTHORIZED, "No token, or an invalid, expired or revoked one");
        if let Access::Scope(s) = access {
            add(StatusCode::FORBIDDEN, &format!("The token lacks the `{s}` scope"));
        }
        add(StatusCode::INTERNAL_SERVER_ERROR, "Internal error (details in the daemon's log)");
    }
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    if has_params || has_body {
        add(StatusCode::BAD_REQUEST, "Bad input: the message says what is wrong");
    }
    // Bodies: the edge guard refuses one not sent as JSON (every dialect); axum's JSON
    // extractor answers the others (in the native dialect; the others refuse every unreadable
    // body with 400).
    if has_body {
        add(StatusCode::PAYLOAD_TOO_LARGE, "The body is larger than 64 KiB");
        add(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body is not sent as `Content-Type: application/json`",
        );
        if dialect == Dialect::Native {
            add(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The body is JSON of the wrong shape (a missing field, a wrong type)",
            );
        }
    }
    if let Some(needs) = needs {
        // As declared: the scope is the requirement's one role (OpenAPI 3.1 allows role names
        // for schemes other than OAuth2's).
        let scopes = match access {
            Access::Scope(s) => vec![s.as_str()],
            _ => vec![],
        };
        op.security = Some(vec![SecurityRequirement::new(BEARER, scopes)]);
        let note = format!("Needs {needs}.");
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
            _ => note,
        });
    } else {
        // Declared `security(())`; with no document-wide requirement, none is the same.
        op.security = None;
        let note = "Public: needs no token.";
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
            _ => note.to_string(),
        });
    }
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Pong {
    /// `pong`.
    message: &'static str,
}

/// Liveness: answers while the daemon serves.
#[utoipa::path(get, path = "/ping", tag = TAG, operation_id = "ping",
    security(()),
    responses((status = 200, description = "Alive", body = Pong)))]
pub(crate) async fn ping() -> Json<Pong> {
    Json(Pong { message: "pong" })
}

/// Readiness, for load balancers: 200 while this process acts as the node (on PostgreSQL:
/// holds the lease), 503 while it starts or waits as a standby; the body says which.
#[utoipa::path(get, path = "/readyz", tag = TAG, operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "This process is the node and serves", body = Object),
        (status = 503, description = "Starting, or a standby (serves only /ping and /readyz)",
            body = Object)))]
pub(crate) async fn readyz() -> Response {
    let role = boltd_engine::node_role();
    let status = match role {
        boltd_engine::NodeRole::Leader { .. } => axum::http::StatusCode::OK,
        _ => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(role)).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = TAG, operation_id = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        content_type = "application/json", body = Object)))]
pub(crate) async fn document() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(openapi_json).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;
    use crate::routes;

    /// Set to regenerate the checked-in document.
    const UPDATE_ENV: &str = "BOLTD_UPDATE_OPENAPI";

    fn checked_in_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(OPENAPI_FILE)
    }

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let generated = openapi_json();
        let path = checked_in_path();
        if std::env::var_os(UPDATE_ENV).is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{OPENAPI_FILE} differs from the document the code generates; regenerate it with\n\n    \
             {UPDATE_ENV}=1 cargo test -p boltd-api --lib openapi\n\nand commit it"
        );
    }

    fn operations(doc: &OpenApi) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (m, _) in crate::auth::operations(item) {
                out.insert((m.to_string(), path.clone()));
            }
        }
        out
    }

    /// The router is built from the same list as the document (`api()`), the route table from
    /// the operations' declarations: every operation declares its access, and the served
    /// document says what the middleware enforces.
    #[test]
    fn every_operation_declares_its_access_and_the_document_says_it() {
        let declared = crate::declared_document();
        let table = crate::auth::derive_routes(&declared)
            .unwrap_or_else(|e| panic!("undeclared or malformed access:\n{}", e.join("\n")));
        assert_eq!(table, routes());
        let doc = openapi();
        let documented = operations(&doc);
        let tabled: BTreeSet<(String, String)> =
            table.iter().map(|r| (r.method.to_string(), r.path.clone())).collect();
        assert_eq!(documented, tabled);
        assert!(documented.len() >= 70, "{} operations", documented.len());
        let served: serde_json::Value = serde_json::to_value(&doc).unwrap();
        for r in &table {
            let op = &served["paths"][&r.path][r.method.to_lowercase()];
            let want = match r.access {
                Access::Public => serde_json::Value::Null,
                Access::Authenticated => serde_json::json!([{ BEARER: [] }]),
                Access::Scope(s) => serde_json::json!([{ BEARER: [s.as_str()] }]),
            };
            assert_eq!(op["security"], want, "{} {}", r.method, r.path);
        }
    }

    /// A handler declared with `#[utoipa::path]` but not registered in its dialect's `routes()` would be
    /// documented nowhere and served by nothing: every declaration in the sources is routed.
    #[test]
    fn every_declared_operation_is_registered() {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut declared = BTreeSet::new();
        let (mut files, mut dirs) = (Vec::new(), vec![src]);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert!(files.len() >= 30, "{} source files", files.len());
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines().filter(|l| l.starts_with("#[utoipa::path(")) {
                let rest = &line["#[utoipa::path(".len()..];
                let (method, rest) = rest.split_once(',').unwrap();
                let path = rest.split('"').nth(1).unwrap();
                declared.insert((method.trim().to_uppercase(), path.to_string()));
            }
        }
        let registered: BTreeSet<(String, String)> =
            routes().iter().map(|r| (r.method.to_string(), r.path.clone())).collect();
        assert_eq!(declared, registered);
    }
}
