//! The load generator's calls to boltd's native API, through [`boltd_client::Client`]: one
//! client (one keep-alive connection pool) per thread, daemon and token, so `K` workers hold
//! `K` connections to the daemon and do not reconnect for every request.

use std::cell::RefCell;
use std::collections::HashMap;

use boltd_client::types::{BarkInvoiceRequest, BarkPayRequest, PayResponse};
use boltd_client::Client;
use serde_json::Value;

thread_local! {
    static CLIENTS: RefCell<HashMap<(String, String), Client>> = RefCell::new(HashMap::new());
}

/// This thread's client for the API at `api_url` with `token`.
fn client(api_url: &str, token: &str) -> Client {
    CLIENTS.with(|c| {
        c.borrow_mut()
            .entry((api_url.to_string(), token.to_string()))
            .or_insert_with(|| Client::new(api_url, Some(token.to_string())))
            .clone()
    })
}

/// Pays `destination` (`POST /api/v1/lightning/pay`) and returns the answer.
pub fn pay(api_url: &str, token: &str, destination: &str) -> Result<PayResponse, String> {
    let req = BarkPayRequest { destination: destination.to_string(), ..Default::default() };
    client(api_url, token).pay(&req).send().map_err(|e| e.to_string())
}

/// Creates an invoice of `amount_sat` (`POST /api/v1/lightning/receives/invoice`).
pub fn create_invoice(
    api_url: &str,
    token: &str,
    amount_sat: u64,
    description: String,
) -> Result<Value, String> {
    let req = BarkInvoiceRequest {
        amount_sat: Some(amount_sat),
        description: Some(description),
        ..Default::default()
    };
    client(api_url, token).create_invoice(&req).send().map_err(|e| e.to_string())
}
