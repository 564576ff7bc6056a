//! boltd's HTTP API.
//!
//! Handlers are thin: parse, call one engine (or node) method, map the error. Errors have two
//! layers: the node's [`NodeError`](boltd_node::NodeError), the engine's
//! [`PayError`](boltd_engine::PayError) and [`AuthError`](boltd_engine::auth::AuthError), and the
//! API's [`ApiError`], with a stable machine `code`; the mappings are exhaustive matches.
//! Internal details are logged, not returned.
//!
//! One folder per dialect (`src/dialect/`), all over the same [`Engine`], each holding its wire
//! types, its presentation of the engine's neutral types, its error shape and mapping, and the
//! list of its operations:
//! - `dialect/native/`: barkd's REST API (`/api/v1/...`, seeds 000-002), boltd's native
//!   dialect, with boltd's additions: node administration, the on-chain wallet, notifications
//!   and webhooks, tokens and LNURL-pay hosting;
//! - `dialect/cln/`: Core Lightning's REST methods (`POST /v1/<method>`, seed 003 family);
//! - `dialect/alby/`: Alby's Wallet API (`/payments/...`, `/invoices...`, `/balance`,
//!   `/decode/...`, `/webhook_endpoints`, seed 004).
//!
//! Every request goes through [`edge`] (bodies must be JSON; without authentication, only
//! loopback `Host`s and no browser `Origin`), [`auth`] (bearer tokens and the route table of
//! required scopes, [`routes()`]) and [`cors`] (cross-origin requests denied unless the origin
//! is allowed).
//!
//! # One declaration per operation
//!
//! An operation is declared once, on its handler:
//!
//! ```text
//! #[utoipa::path(post, path = "/v1/pay", tag = TAG, operation_id = "cln_pay",
//!     security(("bearer" = ["payments:send"])),
//!     request_body = ClnPayParams,
//!     responses((status = 201, description = "Paid", body = ClnPaid), ...))]
//! pub(crate) async fn cln_pay(...) -> ... { ... }
//! ```
//!
//! and registered with one line in its dialect's `routes()` (`dialect/cln/mod.rs`:
//! `.routes(routes!(pay::cln_pay))`). From that come
//! the router (method, path, handler), the OpenAPI 3.1 document ([`openapi()`], served at
//! `/openapi.json`, checked in as [`OPENAPI_FILE`]) and the route table of the auth middleware
//! ([`routes()`], derived from each operation's `security(...)`: `security(())` public,
//! `security(("bearer" = []))` any valid token, `security(("bearer" = ["<scope>"]))` a token
//! with that scope or `node:admin`). An operation that declares no security, another scheme, an
//! unknown scope or several scopes stops the daemon at start-up and fails every test: a route is
//! never public by omission. README.md's route table is checked against [`routes()`] by a test.

#![deny(missing_docs)]

mod auth;
mod context;
mod cors;
mod dialect;
mod edge;
mod error;
mod openapi;
mod standby;
mod time;
pub mod types;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use boltd_engine::Engine;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{access_for, routes, Access, AuthMode, Route};
pub use context::MAX_IDEMPOTENCY_KEY_LEN;
pub use error::{ApiError, ERROR_CODES};
pub use openapi::{openapi, openapi_json, OPENAPI_FILE};
pub use standby::{serve_standby, standby_router};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler gets: the engine.
pub(crate) type AppState = Arc<Engine>;

/// Every route, with its OpenAPI operation: the router, the document and the route table of
/// required scopes are built from these lists, one per dialect (`routes!` takes each handler's
/// method and path from its `#[utoipa::path]`, [`auth::routes`] the access from that
/// attribute's `security`), so they cannot disagree. Add a route to its dialect's `routes()`
/// with a `#[utoipa::path]` (and its `security(...)`) on its handler; nothing else. Never use `.route(...)`: a route added that
/// way is missing from the document and needs `node:admin`. [`router_with`] puts
/// authentication around all of them.
fn api() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(openapi::ping))
        .routes(routes!(openapi::readyz))
        .routes(routes!(openapi::document));
    let api = dialect::native::routes(api);
    let api = dialect::cln::routes(api);
    dialect::alby::routes(api)
}

/// The routes, without the layers.
fn handlers() -> Router<AppState> {
    api().split_for_parts().0
}

/// The operations as their `#[utoipa::path]`s declare them, before [`openapi()`] completes
/// them: what the route table of [`routes()`] is derived from.
pub(crate) fn declared_document() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The API's router over a running engine, with token authentication.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, AuthMode::Tokens)
}

/// The API's router over a running engine: every route behind the
/// authentication of `auth` (a route layer, so it sees the matched route and runs before any
/// body is read), then the CORS policy of the node's `api_cors_origins`, and the edge guards
/// (JSON bodies; loopback `Host` and no `Origin` without authentication) around everything.
pub fn router_with(engine: Arc<Engine>, auth: AuthMode) -> Router {
    engine.set_notification_renderer(dialect::native::history::notification);
    engine.set_webhook_renderer(webhook_renderer(&engine));
    let auth_state = auth::AuthState { engine: Arc::clone(&engine), mode: auth };
    let cors = cors::Cors::new(engine.node().config().api_cors_origins.clone());
    // Fail closed, at start-up: an operation that declares no access panics here (never public
    // by omission).
    let _ = auth::routes();
    handlers()
        .route_layer(axum::middleware::from_fn_with_state(auth_state, auth::authorize))
        .fallback(error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(error::shape_errors))
        .layer(axum::middleware::from_fn_with_state(cors, cors::cors))
        .layer(axum::middleware::from_fn_with_state(auth, edge::guard))
        .with_state(engine)
}

/// How webhook bodies look: each endpoint's body is rendered by the dialect that registered
/// it. Native endpoints (`/api/v1/webhooks`) get the same notification JSON as the long-poll
/// and the WebSocket (barkd's `WalletNotification`s, [`dialect::native::history::notification`]); Alby's
/// (`/webhook_endpoints`) get Alby's invoice object, exactly as `GET /invoices/{payment_hash}`
/// shows the payment ([`dialect::alby::invoice::webhook_invoice`]; the payer's comment of an incoming
/// payment is read from its receive, as that answer does).
fn webhook_renderer(engine: &Engine) -> boltd_engine::webhook::WebhookRenderer {
    let our_id = engine.node().node_id().to_string();
    let store = Arc::clone(engine.store());
    Arc::new(move |format, event| match format {
        boltd_store::WebhookFormat::Native => Ok(dialect::native::history::notification(event)),
        boltd_store::WebhookFormat::Alby => {
            dialect::alby::invoice::webhook_invoice(event, &our_id, |hash| {
                let hash = <[u8; 32]>::try_from(hex::decode(hash).map_err(|e| e.to_string())?)
                    .map_err(|_| format!("`{hash}` is not a payment hash"))?;
                let receive = store.receive_by_hash(&hash).map_err(|e| e.to_string())?;
                Ok(receive.and_then(|r| r.payer_note))
            })
        }
    })
}

/// Serves the API, with token authentication, on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, engine, AuthMode::Tokens, shutdown).await
}

/// Serves the API with the authentication of `auth` on `listener` until `shutdown` resolves.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    auth: AuthMode,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Answers go out at once rather than waiting on Nagle's algorithm for the client's delayed
    // acknowledgement of an earlier segment (up to 40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("setting TCP_NODELAY on an API connection failed: {e}");
        }
    });
    axum::serve(listener, router_with(engine, auth)).with_graceful_shutdown(shutdown).await
}

/// Binds the API's listen address; an error names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for the API on {addr}: {e}"))
    })
}
