//! A typed, blocking client for boltd's HTTP API.
//!
//! One [`Client`] per daemon (base URL and optional bearer token); one method per operation,
//! taking the API's own request types ([`boltd_api::types`]) and returning its response types
//! where they are public and `Deserialize` (else a [`serde_json::Value`]). A method returns a
//! [`Request`]: set an `Idempotency-Key` or a timeout on it, then [`Request::send`] it.
//!
//! ```no_run
//! use boltd_client::{types::KeysendRequest, Client};
//!
//! let client = Client::new("http://127.0.0.1:3000", Some("boltd_...".into()));
//! let info = client.node_info().send()?;
//! let req = KeysendRequest { destination: info.node_id, amount_msat: 1000, ..Default::default() };
//! let paid = client.keysend(&req).idempotency_key("k1").send()?;
//! println!("{} {:?}", paid.status, paid.preimage);
//! # Ok::<(), boltd_client::ClientError>(())
//! ```
//!
//! Every failure is one [`ClientError`]: the daemon's error answer (HTTP status and its error
//! body as JSON), a transport failure (the daemon could not be reached), or an answer that is
//! not what the operation returns.

#![deny(missing_docs)]

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use boltd_api::types;
use types::{
    Address, BarkInvoiceRequest, BarkPayRequest, CloseRequest, ConnectRequest, CreateOfferRequest,
    CreateTokenRequest, DisconnectRequest, KeysendRequest, NodeInfo, OfferInfo, OfferPayRequest,
    OnchainBalance, OnchainDrainRequest, OnchainSendRequest, OpenRequest, PayResponse, PeerInfo,
    SpliceInRequest, SpliceOutRequest, Utxo,
};

/// How long a request may take by default (see [`Client::timeout`] and [`Request::timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting to the daemon may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error status; `body` is its error object (`{code, message}`
    /// in the native dialect, Core Lightning's or Alby's form on theirs), or the answer's text
    /// as a JSON string when it is not JSON.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Api {
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error body.
        body: Value,
    },
    /// The daemon could not be reached (connection refused, timeout, ...).
    #[error("{method} {url}: {message}")]
    Transport {
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A successful answer that could not be read, is not JSON, or is not what the operation
    /// returns.
    #[error("{method} {url}: {message}")]
    BadResponse {
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// The HTTP status of the answer.
        status: u16,
        /// What went wrong (`reading the answer: ...`, `the answer is not JSON: ...`, ...).
        message: String,
    },
    /// The request body could not be serialized.
    #[error("{method} {url}: the request body cannot be serialized: {message}")]
    Body {
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of an error answer ([`ClientError::Api`]).
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error body of an error answer ([`ClientError::Api`]).
    pub fn body(&self) -> Option<&Value> {
        match self {
            ClientError::Api { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The error's `code` in an error answer's body (a string in the native dialect, a number
    /// in Core Lightning's).
    pub fn code(&self) -> Option<&Value> {
        self.body().and_then(|b| b.get("code"))
    }
}

/// A client for one daemon's API. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    base_url: String,
    token: Option<String>,
    timeout: Duration,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client for the API at `base_url` (e.g. `http://127.0.0.1:3000`; a trailing `/` is
    /// dropped) sending `Authorization: Bearer <token>` when there is a token. Requests time
    /// out after [`DEFAULT_TIMEOUT`]; connections are kept alive and reused.
    pub fn new(base_url: impl Into<String>, token: Option<String>) -> Client {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .max_idle_connections_per_host(4)
            .build();
        Client { base_url, token, timeout: DEFAULT_TIMEOUT, agent }
    }

    /// This client with requests timing out after `timeout` (unless a request sets its own).
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token it sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A request to any operation: `method` (`GET`, `POST`, `DELETE`...) and `path` (with its
    /// query, if any), answered as `T`.
    pub fn request<T: DeserializeOwned>(&self, method: &'static str, path: &str) -> Request<'_, T> {
        Request {
            client: self,
            method,
            path: path.to_string(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            timeout: None,
            answer: PhantomData,
        }
    }

    /// `GET path`, answered as JSON.
    pub fn get(&self, path: &str) -> Request<'_, Value> {
        self.request("GET", path)
    }

    /// `POST path` with a JSON body, answered as JSON.
    pub fn post(&self, path: &str, body: &impl Serialize) -> Request<'_, Value> {
        self.request("POST", path).json(body)
    }

    /// `DELETE path`, answered as JSON.
    pub fn delete(&self, path: &str) -> Request<'_, Value> {
        self.request("DELETE", path)
    }

    // ---- payments ----

    /// Core Lightning's `pay` (`POST /v1/pay`): `params` as Core Lightning takes them
    /// (`bolt11`, `amount_msat`, `maxfee`, ...). Takes an idempotency key.
    pub fn cln_pay(&self, params: &Value) -> Request<'_, Value> {
        self.request("POST", "/v1/pay").json(params)
    }

    /// Pays any destination: invoice, offer, Lightning address... (`POST /api/v1/lightning/pay`,
    /// barkd's `LightningPayResponse`). Takes an idempotency key.
    pub fn pay(&self, req: &BarkPayRequest) -> Request<'_, PayResponse> {
        self.request("POST", "/api/v1/lightning/pay").json(req)
    }

    /// Pays a node without an invoice (`POST /api/v1/lightning/keysend`). Takes an idempotency
    /// key.
    pub fn keysend(&self, req: &KeysendRequest) -> Request<'_, PayResponse> {
        self.request("POST", "/api/v1/lightning/keysend").json(req)
    }

    /// Pays a BOLT12 offer (`POST /api/v1/lightning/offers/pay`). Takes an idempotency key.
    pub fn pay_offer(&self, req: &OfferPayRequest) -> Request<'_, PayResponse> {
        self.request("POST", "/api/v1/lightning/offers/pay").json(req)
    }

    /// A sent payment by payment hash (`GET /api/v1/lightning/sends/{payment_hash}`).
    pub fn send_status(&self, payment_hash: &str) -> Request<'_, Value> {
        self.get(&format!("/api/v1/lightning/sends/{}", segment(payment_hash)))
    }

    /// Payments in both directions, newest first (`GET /api/v1/payments`): only `direction`
    /// (`incoming`, `outgoing`) and `status` (`pending`, `complete`, `failed`) when given.
    pub fn payments(
        &self,
        direction: Option<&str>,
        status: Option<&str>,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Request<'_, Value> {
        self.get("/api/v1/payments")
            .query_opt("direction", direction)
            .query_opt("status", status)
            .query_opt("limit", limit)
            .query_opt("offset", offset)
    }

    // ---- receiving ----

    /// A BOLT11 invoice, or a hold invoice (`POST /api/v1/lightning/receives/invoice`). Takes
    /// an idempotency key.
    pub fn create_invoice(&self, req: &BarkInvoiceRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/lightning/receives/invoice").json(req)
    }

    /// A BOLT12 offer (`POST /api/v1/lightning/offers`).
    pub fn create_offer(&self, req: &CreateOfferRequest) -> Request<'_, OfferInfo> {
        self.request("POST", "/api/v1/lightning/offers").json(req)
    }

    /// Pending receives, oldest first (`GET /api/v1/lightning/receives`).
    pub fn receives(&self) -> Request<'_, Value> {
        self.get("/api/v1/lightning/receives")
    }

    /// One receive by payment hash, invoice or preimage
    /// (`GET /api/v1/lightning/receives/{id}`).
    pub fn receive(&self, id: &str) -> Request<'_, Value> {
        self.get(&format!("/api/v1/lightning/receives/{}", segment(id)))
    }

    /// Cancels a receive (`DELETE /api/v1/lightning/receives/{id}`).
    pub fn cancel_receive(&self, id: &str) -> Request<'_, Value> {
        self.delete(&format!("/api/v1/lightning/receives/{}", segment(id)))
    }

    // ---- balances and the on-chain wallet ----

    /// On-chain and Lightning balances (`GET /api/v1/wallet/balance`).
    pub fn balance(&self) -> Request<'_, Value> {
        self.get("/api/v1/wallet/balance")
    }

    /// A new receive address (`POST /api/v1/onchain/addresses/next`).
    pub fn onchain_address(&self) -> Request<'_, Address> {
        self.request("POST", "/api/v1/onchain/addresses/next").json(&serde_json::json!({}))
    }

    /// Sends an amount on chain (`POST /api/v1/onchain/send`). Takes an idempotency key.
    pub fn onchain_send(&self, req: &OnchainSendRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/onchain/send").json(req)
    }

    /// Sends the whole wallet on chain (`POST /api/v1/onchain/drain`). Takes an idempotency
    /// key.
    pub fn onchain_drain(&self, req: &OnchainDrainRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/onchain/drain").json(req)
    }

    /// The on-chain balance (`GET /api/v1/onchain/balance`).
    pub fn onchain_balance(&self) -> Request<'_, OnchainBalance> {
        self.request("GET", "/api/v1/onchain/balance")
    }

    /// The wallet's unspent outputs (`GET /api/v1/onchain/utxos`).
    pub fn utxos(&self) -> Request<'_, Vec<Utxo>> {
        self.request("GET", "/api/v1/onchain/utxos")
    }

    /// The wallet's transactions (`GET /api/v1/onchain/transactions`).
    pub fn transactions(&self) -> Request<'_, Value> {
        self.get("/api/v1/onchain/transactions")
    }

    // ---- the node ----

    /// The node: id, network, heights, counts (`GET /api/v1/node/info`).
    pub fn node_info(&self) -> Request<'_, NodeInfo> {
        self.request("GET", "/api/v1/node/info")
    }

    /// Connected peers (`GET /api/v1/node/peers`).
    pub fn peers(&self) -> Request<'_, Vec<PeerInfo>> {
        self.request("GET", "/api/v1/node/peers")
    }

    /// Connects to a peer (`POST /api/v1/node/peers/connect`).
    pub fn connect_peer(&self, req: &ConnectRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/peers/connect").json(req)
    }

    /// Disconnects a peer (`POST /api/v1/node/peers/disconnect`).
    pub fn disconnect_peer(&self, req: &DisconnectRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/peers/disconnect").json(req)
    }

    /// Channels and their balances (`GET /api/v1/node/channels`).
    pub fn channels(&self) -> Request<'_, Value> {
        self.get("/api/v1/node/channels")
    }

    /// Closed channels, with what is still on its way back (`GET /api/v1/node/channels/closed`).
    pub fn closed_channels(&self) -> Request<'_, Value> {
        self.get("/api/v1/node/channels/closed")
    }

    /// Opens a channel (`POST /api/v1/node/channels/open`).
    pub fn open_channel(&self, req: &OpenRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/channels/open").json(req)
    }

    /// Closes a channel (`POST /api/v1/node/channels/close`).
    pub fn close_channel(&self, req: &CloseRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/channels/close").json(req)
    }

    /// Takes funds out of a channel without closing it
    /// (`POST /api/v1/node/channels/splice-out`).
    pub fn splice_out(&self, req: &SpliceOutRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/channels/splice-out").json(req)
    }

    /// Adds wallet funds to a channel (`POST /api/v1/node/channels/splice-in`).
    pub fn splice_in(&self, req: &SpliceInRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/channels/splice-in").json(req)
    }

    // ---- tokens ----

    /// Creates an API token; the answer holds the token string (`POST /api/v1/tokens`).
    pub fn create_token(&self, req: &CreateTokenRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/tokens").json(req)
    }

    /// Every token, never their secrets (`GET /api/v1/tokens`).
    pub fn tokens(&self) -> Request<'_, Value> {
        self.get("/api/v1/tokens")
    }

    /// An encrypted backup archive of the node (`POST /api/v1/node/backup`); read it with
    /// [`Request::send_bytes`].
    pub fn export_backup(&self) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/backup")
    }

    /// Sweeps what peers' force closes paid to the seed's keys
    /// (`POST /api/v1/node/recover-channel-funds`).
    pub fn recover_channel_funds(&self) -> Request<'_, Value> {
        self.request("POST", "/api/v1/node/recover-channel-funds")
    }

    /// Revokes a token (`DELETE /api/v1/tokens/{id}`).
    pub fn revoke_token(&self, id: &str) -> Request<'_, Value> {
        self.delete(&format!("/api/v1/tokens/{}", segment(id)))
    }

    /// Creates a Nostr Wallet Connect connection with a token of `req`
    /// (`POST /api/v1/nwc/connections`): the answer's `uri` is shown this once.
    pub fn create_nwc_connection(&self, req: &CreateTokenRequest) -> Request<'_, Value> {
        self.request("POST", "/api/v1/nwc/connections").json(req)
    }

    /// Every Nostr Wallet Connect connection, never a secret (`GET /api/v1/nwc/connections`).
    pub fn nwc_connections(&self) -> Request<'_, Value> {
        self.get("/api/v1/nwc/connections")
    }

    /// Revokes a Nostr Wallet Connect connection by its client public key
    /// (`DELETE /api/v1/nwc/connections/{client_pubkey}`).
    pub fn revoke_nwc_connection(&self, client_pubkey: &str) -> Request<'_, Value> {
        self.delete(&format!("/api/v1/nwc/connections/{}", segment(client_pubkey)))
    }
}

/// One request being built; [`Request::send`] sends it and reads its answer as `T`.
#[must_use = "a request does nothing until it is sent"]
pub struct Request<'c, T> {
    client: &'c Client,
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Result<Value, String>>,
    idempotency_key: Option<String>,
    timeout: Option<Duration>,
    answer: PhantomData<fn() -> T>,
}

impl<'c, T: DeserializeOwned> Request<'c, T> {
    /// With `body` as its JSON body.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).map_err(|e| e.to_string()));
        self
    }

    /// With an `Idempotency-Key` header (none for `None`).
    pub fn idempotency_key<'k>(mut self, key: impl Into<Option<&'k str>>) -> Self {
        self.idempotency_key = key.into().map(String::from);
        self
    }

    /// Giving up after `timeout` instead of the client's timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// With `name=value` in the query string.
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// With `name=value` in the query string when there is a value.
    pub fn query_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// The same request, answered as a plain JSON value.
    pub fn raw(self) -> Request<'c, Value> {
        Request {
            client: self.client,
            method: self.method,
            path: self.path,
            query: self.query,
            body: self.body,
            idempotency_key: self.idempotency_key,
            timeout: self.timeout,
            answer: PhantomData,
        }
    }

    /// The request's full URL.
    pub fn url(&self) -> String {
        let mut url = format!("{}{}", self.client.base_url, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            let sep = if i == 0 && !self.path.contains('?') { '?' } else { '&' };
            url.push(sep);
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }

    /// Sends it and reads the answer.
    pub fn send(self) -> Result<T, ClientError> {
        let (method, url, r) = self.call()?;
        let status = r.status();
        let bad = |message: String| ClientError::BadResponse {
            method,
            url: url.clone(),
            status,
            message,
        };
        let text = r.into_string().map_err(|e| bad(format!("reading the answer: {e}")))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("the answer is not JSON: {e}")))?;
        serde_json::from_value(v)
            .map_err(|e| bad(format!("the answer is not what was expected: {e}")))
    }

    /// Sends it and returns the answer's bytes as they are (a backup archive).
    pub fn send_bytes(self) -> Result<Vec<u8>, ClientError> {
        let (method, url, r) = self.call()?;
        let status = r.status();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).map_err(|e| {
            ClientError::BadResponse {
                method,
                url,
                status,
                message: format!("reading the answer: {e}"),
            }
        })?;
        Ok(bytes)
    }

    /// Sends it; a success status's response, or the error.
    fn call(self) -> Result<(&'static str, String, ureq::Response), ClientError> {
        let url = self.url();
        let method = self.method;
        let mut req = self
            .client
            .agent
            .request(method, &url)
            .timeout(self.timeout.unwrap_or(self.client.timeout));
        if let Some(t) = &self.client.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(k) = &self.idempotency_key {
            req = req.set("Idempotency-Key", k);
        }
        let res = match self.body {
            Some(Ok(b)) => req.send_json(b),
            Some(Err(message)) => return Err(ClientError::Body { method, url, message }),
            None => req.call(),
        };
        match res {
            Ok(r) => Ok((method, url, r)),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Err(ClientError::Api { method, url, status, body })
            }
            Err(e) => Err(ClientError::Transport { method, url, message: e.to_string() }),
        }
    }
}

/// RFC 3986's unreserved characters: all that is not percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes all but the unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// A path segment from a caller's value (an id, a hash, an invoice), percent-encoded.
fn segment(s: &str) -> String {
    encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments_and_queries() {
        let c = Client::new("http://127.0.0.1:1/", None);
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        let r = c.payments(Some("incoming"), None, Some(5), None);
        assert_eq!(r.url(), "http://127.0.0.1:1/api/v1/payments?direction=incoming&limit=5");
        assert_eq!(
            c.receive("ab/c d").url(),
            "http://127.0.0.1:1/api/v1/lightning/receives/ab%2Fc%20d"
        );
        assert_eq!(c.get("/x?a=1").query("b", "é").url(), "http://127.0.0.1:1/x?a=1&b=%C3%A9");
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let c = Client::new("http://127.0.0.1:1", Some("boltd_secret".into()));
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.token(), Some("boltd_secret"));
    }
}
