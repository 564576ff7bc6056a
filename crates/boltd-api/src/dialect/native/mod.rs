//! barkd's REST API (seeds 000-002, barkd's OpenAPI document), boltd's native dialect, and
//! boltd's additions to it:
//! - [`barkd`]: pay any destination (with a synchronous mode), receives, keysend, payment
//!   records, fee quotes, the wallet's balance and readiness, BOLT12 offers;
//! - [`history`]: payments as barkd's `Movement`s, boltd's payment records, metadata, and the
//!   notifications' JSON (barkd's `WalletNotification`s);
//! - [`receive`]: barkd's receive objects and BIP 321 URIs;
//! - [`node`]: node administration and the on-chain wallet (`/api/v1/node/...`,
//!   `/api/v1/onchain/...`);
//! - [`notify`]: notifications (barkd's long-poll and WebSocket, with a cursor) and webhooks;
//! - [`tokens`]: API token management (`/api/v1/tokens`);
//! - [`nwc`]: Nostr Wallet Connect connections (`/api/v1/nwc/connections`), tokens reached
//!   through relays;
//! - [`lnurl`]: LNURL-pay hosting for Lightning addresses (public).
//!
//! Its error is [`ApiError`](crate::ApiError): `{code, message}` with a stable string code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{code_for_status, ErrorBody};
use crate::AppState;

pub(crate) mod barkd;
pub(crate) mod history;
pub(crate) mod lnurl;
pub(crate) mod node;
pub(crate) mod notify;
pub(crate) mod nwc;
pub(crate) mod receive;
pub(crate) mod tokens;

/// The native error of `status` with `message`, its code from the status.
pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody::new(status, code_for_status(status), message))).into_response()
}

/// The native dialect's operations, one line each (see the crate's documentation).
pub(crate) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api
        // The node and the on-chain wallet.
        .routes(routes!(node::node_info))
        .routes(routes!(node::list_peers))
        .routes(routes!(node::connect_peer))
        .routes(routes!(node::disconnect_peer))
        .routes(routes!(node::list_channels))
        .routes(routes!(node::list_closed_channels))
        .routes(routes!(node::open_channel))
        .routes(routes!(node::close_channel))
        .routes(routes!(node::splice_out))
        .routes(routes!(node::splice_in))
        .routes(routes!(node::channel_config))
        .routes(routes!(node::graph_channel))
        .routes(routes!(node::tip))
        .routes(routes!(node::next_address))
        .routes(routes!(node::onchain_balance))
        .routes(routes!(node::onchain_send))
        .routes(routes!(node::onchain_drain))
        .routes(routes!(node::utxos))
        .routes(routes!(node::transactions))
        .routes(routes!(node::onchain_fee_rates))
        .routes(routes!(node::onchain_send_many))
        .routes(routes!(node::onchain_sync))
        .routes(routes!(node::wallet_sync))
        .routes(routes!(node::sign_message))
        .routes(routes!(node::verify_message))
        .routes(routes!(node::export_backup))
        .routes(routes!(node::recover_channel_funds))
        // barkd's Lightning wallet.
        .routes(routes!(barkd::balance))
        .routes(routes!(barkd::create_invoice))
        .routes(routes!(barkd::pending_receives))
        .routes(routes!(barkd::receive_status, barkd::cancel_receive))
        .routes(routes!(barkd::settle_hold))
        .routes(routes!(barkd::pay))
        .routes(routes!(barkd::wallet_send))
        .routes(routes!(barkd::keysend))
        .routes(routes!(barkd::multi_keysend))
        .routes(routes!(barkd::send_status))
        .routes(routes!(barkd::fee_quote))
        .routes(routes!(barkd::receive_fee))
        .routes(routes!(barkd::connected))
        .routes(routes!(barkd::create_offer))
        .routes(routes!(barkd::pay_offer))
        .routes(routes!(receive::bip321))
        // History and payment records.
        .routes(routes!(history::history))
        .routes(routes!(history::payments))
        .routes(routes!(history::patch_metadata))
        .routes(routes!(history::wallet_history))
        .routes(routes!(history::wallet_movements))
        // Notifications and webhooks. The WebSocket itself is authenticated by its single-use
        // ticket (browsers cannot send headers on WebSockets): it needs no token.
        .routes(routes!(notify::wait))
        .routes(routes!(notify::ws_ticket))
        .routes(routes!(notify::ws))
        .routes(routes!(notify::create_webhook, notify::list_webhooks))
        .routes(routes!(notify::get_webhook, notify::delete_webhook))
        .routes(routes!(notify::deliveries))
        // LNURL-pay hosting (public).
        .routes(routes!(lnurl::lnurlp_params))
        .routes(routes!(lnurl::lnurlp_callback))
        // API tokens.
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::current_token))
        .routes(routes!(tokens::get_token, tokens::revoke_token))
        // Nostr Wallet Connect connections.
        .routes(routes!(nwc::create_connection, nwc::list_connections))
        .routes(routes!(nwc::revoke_connection))
}
