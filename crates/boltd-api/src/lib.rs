//! boltd's HTTP API.
//!
//! Handlers are thin: parse, call one engine (or node) method, map the error. Errors have two
//! layers: the node's [`NodeError`](boltd_node::NodeError), the engine's
//! [`PayError`](boltd_engine::PayError) and [`AuthError`](boltd_engine::auth::AuthError), and the
//! API's [`ApiError`], with a stable machine `code`; the mappings are exhaustive matches.
//! Internal details are logged, not returned.
//!
//! One module per dialect, all over the same [`Engine`]:
//! - [`barkd`]: barkd's REST API (`/api/v1/...`, seeds 000-002), boltd's native dialect;
//! - [`cln`]: Core Lightning's methods (`/v1/...`, seed 003 family);
//! - [`alby`]: Alby's Wallet API (`/payments/...`, `/invoices...`, `/balance`, `/decode/...`,
//!   seed 004);
//! - [`node`]: node administration and the on-chain wallet (`/api/v1/node/...`,
//!   `/api/v1/onchain/...`);
//! - [`lnurl`]: LNURL-pay hosting for Lightning addresses (public);
//! - [`notify`]: notifications (barkd's long-poll and WebSocket, with a cursor) and native
//!   webhook endpoints; [`alby_webhooks`]: Alby's webhook endpoints;
//! - [`tokens`]: API token management (`/api/v1/tokens`).
//!
//! Every request goes through [`auth`] (bearer tokens and the route table of required scopes,
//! [`ROUTES`]) and [`cors`] (cross-origin requests denied unless the origin is allowed).

#![deny(missing_docs)]

mod alby;
mod alby_webhooks;
mod auth;
mod barkd;
mod cln;
mod context;
mod cors;
mod error;
mod lnurl;
mod node;
mod notify;
mod time;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use boltd_engine::Engine;
use serde_json::json;

pub use auth::{access_for, Access, AuthMode, ROUTES};
pub use context::MAX_IDEMPOTENCY_KEY_LEN;
pub use error::ApiError;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler gets: the engine.
pub(crate) type AppState = Arc<Engine>;

/// Every route. Add new routes here, in their own block, and their required scope to
/// [`ROUTES`] (a route missing there needs `node:admin`). [`router_with`] puts authentication
/// around all of them.
fn routes() -> Router<AppState> {
    Router::new()
        .route("/ping", get(|| async { Json(json!({ "message": "pong" })) }))
        .route("/api/v1/node/info", get(node::node_info))
        .route("/api/v1/node/peers", get(node::list_peers))
        .route("/api/v1/node/peers/connect", post(node::connect_peer))
        .route("/api/v1/node/peers/disconnect", post(node::disconnect_peer))
        .route("/api/v1/node/channels", get(node::list_channels))
        .route("/api/v1/node/channels/open", post(node::open_channel))
        .route("/api/v1/node/channels/close", post(node::close_channel))
        .route("/api/v1/node/channels/config", post(node::channel_config))
        .route("/api/v1/node/graph/channels/{scid}", get(node::graph_channel))
        .route("/api/v1/bitcoin/tip", get(node::tip))
        .route("/api/v1/wallet/balance", get(barkd::balance))
        .route("/api/v1/onchain/addresses/next", post(node::next_address))
        .route("/api/v1/onchain/balance", get(node::onchain_balance))
        .route("/api/v1/onchain/send", post(node::onchain_send))
        .route("/api/v1/onchain/drain", post(node::onchain_drain))
        .route("/api/v1/onchain/utxos", get(node::utxos))
        .route("/api/v1/onchain/transactions", get(node::transactions))
        .route("/api/v1/lightning/receives/invoice", post(barkd::create_invoice))
        .route("/api/v1/lightning/receives", get(barkd::pending_receives))
        .route(
            "/api/v1/lightning/receives/{identifier}",
            get(barkd::receive_status).delete(barkd::cancel_receive),
        )
        .route("/api/v1/lightning/receives/settle", post(barkd::settle_hold))
        .route("/api/v1/lightning/pay", post(barkd::pay))
        .route("/api/v1/wallet/send", post(barkd::pay))
        .route("/api/v1/lightning/keysend", post(barkd::keysend))
        .route("/api/v1/lightning/keysend/multi", post(barkd::multi_keysend))
        .route("/api/v1/lightning/sends/{identifier}", get(barkd::send_status))
        .route("/api/v1/fees/lightning/pay", get(barkd::fee_quote))
        .route("/api/v1/history", get(barkd::history))
        .route("/api/v1/lightning/offers", post(barkd::create_offer))
        .route("/api/v1/lightning/offers/pay", post(barkd::pay_offer))
        .route("/v1/pay", post(cln::cln_pay))
        // ---- dialects branch: CLN methods, Alby's Wallet API, barkd's remaining endpoints ----
        .route("/v1/keysend", post(cln::cln_keysend))
        .route("/v1/invoice", post(cln::cln_invoice))
        .route("/v1/listinvoices", post(cln::cln_listinvoices))
        .route("/v1/listpays", post(cln::cln_listpays))
        .route("/v1/decode", post(cln::cln_decode))
        .route("/v1/getinfo", post(cln::cln_getinfo))
        .route("/payments/bolt11", post(alby::pay_bolt11))
        .route("/payments/keysend", post(alby::keysend))
        .route("/payments/keysend/multi", post(alby::multi_keysend))
        .route("/invoices", get(alby::all_invoices).post(alby::create_invoice))
        .route("/invoices/incoming", get(alby::incoming))
        .route("/invoices/outgoing", get(alby::outgoing))
        .route("/invoices/{payment_hash}", get(alby::get_invoice))
        .route("/balance", get(alby::balance))
        .route("/decode/bolt11/{invoice}", get(alby::decode))
        .route("/api/v1/history/{id}/metadata", post(barkd::patch_metadata))
        .route("/api/v1/wallet/history", get(barkd::wallet_history))
        .route("/api/v1/fees/onchain", get(node::onchain_fee_rates))
        .route("/api/v1/fees/lightning/receive", get(barkd::receive_fee))
        .route("/api/v1/onchain/send-many", post(node::onchain_send_many))
        .route("/api/v1/onchain/sync", post(node::onchain_sync))
        .route("/api/v1/message/sign", post(node::sign_message))
        .route("/api/v1/message/verify", post(node::verify_message))
        // ---- end of the dialects branch's routes ----
        // Notifications and webhooks. Likely scopes: `transactions:read` for the long-poll and
        // the WebSocket ticket, `node:admin` for webhook endpoints (native and Alby). The
        // WebSocket itself is authenticated by its single-use ticket (browsers cannot send
        // headers on WebSockets): it needs no token.
        .route("/api/v1/notifications/wait", get(notify::wait))
        .route("/api/v1/notifications/ws/ticket", get(notify::ws_ticket))
        .route("/api/v1/notifications/ws", get(notify::ws))
        .route("/api/v1/webhooks", post(notify::create_webhook).get(notify::list_webhooks))
        .route("/api/v1/webhooks/{id}", get(notify::get_webhook).delete(notify::delete_webhook))
        .route("/api/v1/webhooks/{id}/deliveries", get(notify::deliveries))
        .route("/webhook_endpoints", post(alby_webhooks::create))
        .route("/webhook_endpoints/{id}", get(alby_webhooks::get).delete(alby_webhooks::delete))
        .route("/.well-known/lnurlp/{name}", get(lnurl::lnurlp_params))
        .route("/.well-known/lnurlp/{name}/callback", get(lnurl::lnurlp_callback))
        // API tokens.
        .route("/api/v1/tokens", post(tokens::create_token).get(tokens::list_tokens))
        .route("/api/v1/tokens/self", get(tokens::current_token))
        .route("/api/v1/tokens/{id}", get(tokens::get_token).delete(tokens::revoke_token))
}

/// The API's router over a running engine, with token authentication.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, AuthMode::Tokens)
}

/// The API's router over a running engine: every route behind the
/// authentication of `auth` (a route layer, so it sees the matched route and runs before any
/// body is read), then the CORS policy of the node's `api_cors_origins` around everything.
pub fn router_with(engine: Arc<Engine>, auth: AuthMode) -> Router {
    let auth_state = auth::AuthState { engine: Arc::clone(&engine), mode: auth };
    let cors = cors::Cors::new(engine.node().config().api_cors_origins.clone());
    routes()
        .route_layer(axum::middleware::from_fn_with_state(auth_state, auth::authorize))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: "no such path".into(),
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(cors, cors::cors))
        .with_state(engine)
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
    axum::serve(listener, router_with(engine, auth)).with_graceful_shutdown(shutdown).await
}

/// Binds the API's listen address; an error names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for the API on {addr}: {e}"))
    })
}
