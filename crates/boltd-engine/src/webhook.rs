//! Webhooks: endpoints, signatures and the delivery worker.
//!
//! # Bodies
//!
//! The engine does not know any dialect's shapes: a delivery's body is rendered by the dialect
//! that registered its endpoint, through the [`WebhookRenderer`] the API installs
//! ([`Engine::set_webhook_renderer`]), given the endpoint's [`WebhookFormat`]: native
//! endpoints get the notification JSON of the long-poll and the WebSocket, Alby's endpoints
//! Alby's invoice object. The engine adds the headers and signs the body.
//!
//! # Delivery
//!
//! Every event appended to the log gets one durable delivery row per matching endpoint, in the
//! event's own transaction (see `boltd_store`'s `webhooks` module). The worker (a tokio task the
//! engine starts and stops) POSTs due deliveries:
//!
//! * **Targets**: only public addresses, checked after resolving the endpoint's host, and the
//!   connection made to the checked address only (the engine's guarded client, `egress`):
//!   private, link-local and other special addresses are refused at every attempt (an IP
//!   literal or `localhost` already when the endpoint is registered); loopback only on regtest
//!   (tests, the playground). A refused attempt is recorded with its reason, like a failure.
//! * **Timeouts**: every request has [`REQUEST_TIMEOUT`]; redirects are not followed; at most
//!   [`MAX_RESPONSE_BYTES`] of an answer are read.
//! * **Isolation**: at most [`MAX_IN_FLIGHT_PER_ENDPOINT`] requests per endpoint and
//!   [`MAX_IN_FLIGHT`] in all run at once, each in its own task; an endpoint's backlog never
//!   hides another endpoint's deliveries. Payments never wait for webhooks: they only append
//!   rows.
//! * **Retries**: a 2xx answer delivers. Anything else (another status, a timeout, a refused
//!   connection) is retried after 1 s, doubling up to 10 min ([`FIRST_RETRY_DELAY`],
//!   [`MAX_RETRY_DELAY`]); once the next attempt would come more than 24 h
//!   ([`GIVE_UP_AFTER`]) after the event, the delivery is `failed`. Every attempt is recorded.
//! * **Restarts**: an attempt takes a lease on its delivery (its next attempt time moves past
//!   the request's timeout) before it starts; if the process dies before the outcome is
//!   recorded, the delivery is due again when the lease ends. Delivery is therefore **at least
//!   once**: receivers deduplicate by the event id (`X-Boltd-Event-Seq`, `svix-id`).
//! * **Order**: deliveries to an endpoint are attempted oldest first, but retries mean they
//!   can arrive out of order; use `seq` to order them.
//!
//! # Signatures
//!
//! Secrets are `whsec_` followed by 32 random bytes in base64, returned once at creation.
//!
//! * boltd's format: `X-Boltd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//!   `"<t>.<body>"`, keyed with the secret string as given (all of `whsec_...`), as Stripe does.
//!   Also `X-Boltd-Event-Seq`, `X-Boltd-Event-Type`, `X-Boltd-Delivery-Id`.
//! * Alby's (Svix's): `svix-id: msg_<seq>`, `svix-timestamp: <unix seconds>`,
//!   `svix-signature: v1,<base64 HMAC-SHA256>` over `"<svix-id>.<svix-timestamp>.<body>"`,
//!   keyed with the base64-decoded part after `whsec_`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use boltd_store::{
    AttemptOutcome, DeliveryFilter, DeliveryRecord, DeliveryState, DueDelivery, EventRecord,
    EventType, NewWebhook, NextAttempt, Store, WebhookFormat, WebhookRecord,
};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::egress::{Egress, EgressError};
use crate::error::NotifyError;
use crate::ledger::now_secs;
use crate::notify::parse_event_types;
use crate::Engine;

/// How long one delivery request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The delay before the first retry; it doubles with each failed attempt.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// A delivery whose next attempt would come later than this after its event is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Most requests in flight to one endpoint.
pub const MAX_IN_FLIGHT_PER_ENDPOINT: u32 = 2;
/// Most requests in flight in all.
pub const MAX_IN_FLIGHT: usize = 32;
/// Longest accepted endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest accepted description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// The Alby filter types boltd delivers, and the events behind them.
pub const ALBY_FILTER_TYPES: [(&str, EventType); 2] = [
    ("invoice.incoming.settled", EventType::PaymentReceived),
    ("invoice.outgoing.settled", EventType::PaymentSent),
];
/// The largest response body read from an endpoint (the rest is an error).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How long a worker waits at most before looking for due deliveries again.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// A native webhook endpoint to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Where to POST (`http` or `https`).
    pub url: String,
    /// The owner's description.
    pub description: Option<String>,
    /// Event type names to deliver; empty: all.
    pub event_types: Vec<String>,
}

/// A created endpoint and its secret, which is shown this once.
pub struct CreatedWebhook {
    /// The endpoint.
    pub webhook: WebhookRecord,
    /// The signing secret (`whsec_...`).
    pub secret: String,
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What follows a failed attempt: the number of attempts made so far (at least 1), when the
/// delivery was created and now (unix ms).
pub fn after_failure(attempts: u32, created_at_ms: u64, now_ms: u64) -> NextAttempt {
    let doublings = attempts.saturating_sub(1).min(30);
    let delay = (FIRST_RETRY_DELAY.as_millis() as u64)
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY.as_millis() as u64);
    let at = now_ms.saturating_add(delay);
    if at > created_at_ms.saturating_add(GIVE_UP_AFTER.as_millis() as u64) {
        NextAttempt::GiveUp
    } else {
        NextAttempt::RetryAt(at)
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(key);
    for p in parts {
        engine.input(p);
    }
    hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

/// boltd's signature header value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
/// keyed with the whole secret string.
pub fn native_signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(mac))
}

/// Svix's signature header value: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
/// keyed with the base64-decoded part of the secret after `whsec_`.
pub fn svix_signature(
    secret: &str,
    msg_id: &str,
    timestamp: u64,
    body: &[u8],
) -> Result<String, NotifyError> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| NotifyError::Other("an Alby endpoint's secret is not base64".into()))?;
    let t = timestamp.to_string();
    let mac = hmac_sha256(&key, &[msg_id.as_bytes(), b".", t.as_bytes(), b".", body]);
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac)))
}

/// A delivery request: its body and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    /// The JSON body.
    pub body: Vec<u8>,
    /// The headers (name, value).
    pub headers: Vec<(String, String)>,
}

/// Renders a delivery's body: the event as the endpoint's format has it, or why that format
/// has no form of it (the attempt fails with that reason and is retried like any failure).
/// The dialect that registered endpoints of a format renders their bodies; the API installs
/// one renderer for every format ([`Engine::set_webhook_renderer`]). It is called off the
/// async workers (in `spawn_blocking`), so it may read the store.
pub type WebhookRenderer =
    Arc<dyn Fn(WebhookFormat, &EventRecord) -> Result<Value, String> + Send + Sync>;

/// Builds the request for a due delivery, signed at `timestamp` (unix seconds): the body is
/// what `render` makes of the event for the endpoint's format; the headers and signature are
/// the format's (boltd's or Svix's).
pub fn delivery_request(
    due: &DueDelivery,
    timestamp: u64,
    render: &WebhookRenderer,
) -> Result<DeliveryRequest, NotifyError> {
    let event = &due.event;
    let format = due.webhook.format;
    let body = render(format, event)
        .map_err(|why| NotifyError::Other(format!("cannot render {}: {why}", event.event_type)))?
        .to_string()
        .into_bytes();
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    match format {
        WebhookFormat::Native => headers.extend([
            ("X-Boltd-Event-Seq".into(), event.seq.to_string()),
            ("X-Boltd-Event-Type".into(), event.event_type.to_string()),
            ("X-Boltd-Delivery-Id".into(), due.delivery.id.to_string()),
            ("X-Boltd-Signature".into(), native_signature(&due.webhook.secret, timestamp, &body)),
        ]),
        WebhookFormat::Alby => {
            let id = format!("msg_{}", event.seq);
            let signature = svix_signature(&due.webhook.secret, &id, timestamp, &body)?;
            headers.extend([
                ("svix-id".into(), id),
                ("svix-timestamp".into(), timestamp.to_string()),
                ("svix-signature".into(), signature),
            ]);
        }
    }
    Ok(DeliveryRequest { body, headers })
}

/// Where webhook deliveries may go on `network`: public addresses; loopback on regtest only.
pub(crate) fn webhook_egress(network: bitcoin::Network) -> Egress {
    Egress {
        allow_loopback: network == bitcoin::Network::Regtest,
        loopback_hint: " (loopback endpoints only on regtest)",
    }
}

fn check_url(url: &str, egress: Egress) -> Result<(), NotifyError> {
    let bad = |why: &str| Err(NotifyError::InvalidParams(format!("url: {why}")));
    if url.is_empty() {
        return bad("required");
    }
    if url.len() > MAX_URL_LEN {
        return bad(&format!("longer than {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace");
    }
    let parsed = match bitreq::Url::parse(url) {
        Ok(u) => u,
        Err(_) => return bad("not a URL"),
    };
    if !matches!(parsed.scheme(), "http" | "https") || !url.contains("://") {
        return bad("must be an http:// or https:// URL");
    }
    if parsed.base_url().is_empty() {
        return bad("has no host");
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(_) => return bad("not a URL"),
    };
    if let Err(e) = egress.check_literal(&parsed) {
        return bad(&e.to_string());
    }
    Ok(())
}

fn check_description(d: &Option<String>) -> Result<(), NotifyError> {
    match d {
        Some(d) if d.len() > MAX_DESCRIPTION_LEN => Err(NotifyError::InvalidParams(format!(
            "description: longer than {MAX_DESCRIPTION_LEN} bytes"
        ))),
        _ => Ok(()),
    }
}

/// Maps Alby `filter_types` to event types; each must be one of [`ALBY_FILTER_TYPES`].
pub fn alby_event_types(filter_types: &[String]) -> Result<Vec<EventType>, NotifyError> {
    let known = || ALBY_FILTER_TYPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    if filter_types.is_empty() {
        return Err(NotifyError::InvalidParams(format!(
            "filter_types: name at least one of {}",
            known()
        )));
    }
    let mut out = Vec::new();
    for f in filter_types {
        let Some((_, t)) = ALBY_FILTER_TYPES.iter().find(|(n, _)| n == f) else {
            return Err(NotifyError::InvalidParams(format!(
                "filter_types: unknown type `{f}`; supported: {}",
                known()
            )));
        };
        if !out.contains(t) {
            out.push(*t);
        }
    }
    Ok(out)
}

impl Engine {
    /// Where webhook deliveries may go: public addresses; loopback on regtest only.
    pub(crate) fn webhook_egress(&self) -> Egress {
        webhook_egress(self.node.config().network)
    }

    /// Registers a native endpoint; it receives the events appended from now on.
    pub async fn create_webhook(&self, req: WebhookRequest) -> Result<CreatedWebhook, NotifyError> {
        check_url(&req.url, self.webhook_egress())?;
        check_description(&req.description)?;
        let event_types = parse_event_types(&req.event_types)?;
        let secret = new_secret();
        let new = NewWebhook {
            url: req.url,
            description: req.description,
            format: WebhookFormat::Native,
            event_types,
            filter_types: None,
            secret: secret.clone(),
        };
        let webhook = self.store_op(move |s| s.create_webhook(new, now_secs())).await?;
        tracing::info!(id = webhook.id, "webhook endpoint created");
        Ok(CreatedWebhook { webhook, secret })
    }

    /// Registers an endpoint in Alby's format (Alby's `filter_types`, Svix signatures).
    pub async fn create_alby_webhook(
        &self,
        url: String,
        description: Option<String>,
        filter_types: Vec<String>,
    ) -> Result<CreatedWebhook, NotifyError> {
        check_url(&url, self.webhook_egress())?;
        check_description(&description)?;
        let event_types = alby_event_types(&filter_types)?;
        let secret = new_secret();
        let new = NewWebhook {
            url,
            description,
            format: WebhookFormat::Alby,
            event_types,
            filter_types: Some(filter_types),
            secret: secret.clone(),
        };
        let webhook = self.store_op(move |s| s.create_webhook(new, now_secs())).await?;
        tracing::info!(id = webhook.id, "Alby webhook endpoint created");
        Ok(CreatedWebhook { webhook, secret })
    }

    /// Every endpoint (without secrets), oldest first.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRecord>, NotifyError> {
        self.store_op(|s| s.webhooks()).await
    }

    /// One endpoint.
    pub async fn webhook(&self, id: i64) -> Result<WebhookRecord, NotifyError> {
        self.store_op(move |s| s.webhook(id))
            .await?
            .ok_or_else(|| NotifyError::NotFound(format!("no webhook endpoint {id}")))
    }

    /// Deletes an endpoint and its deliveries (pending ones are not attempted any more).
    pub async fn delete_webhook(&self, id: i64) -> Result<WebhookRecord, NotifyError> {
        let w = self
            .store_op(move |s| s.delete_webhook(id))
            .await?
            .ok_or_else(|| NotifyError::NotFound(format!("no webhook endpoint {id}")))?;
        tracing::info!(id, "webhook endpoint deleted");
        Ok(w)
    }

    /// An endpoint's deliveries, newest first, with every attempt.
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        state: Option<DeliveryState>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, NotifyError> {
        self.webhook(id).await?;
        let filter = DeliveryFilter {
            webhook_id: Some(id),
            state,
            event_seq: None,
            before_id,
            limit: Some(limit.clamp(1, 1000)),
        };
        self.store_op(move |s| s.deliveries(&filter)).await
    }
}

/// Makes one attempt at a leased delivery and records it. Never panics on a bad endpoint.
async fn attempt(store: Arc<Store>, due: DueDelivery, egress: Egress, render: WebhookRenderer) {
    let id = due.delivery.id;
    let at_ms = now_ms();
    let started = Instant::now();
    // Rendering may read the store: off the async workers.
    let (due, request) = match tokio::task::spawn_blocking(move || {
        let request = delivery_request(&due, now_secs(), &render);
        (due, request)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => {
            // A panicked renderer: the lease brings the delivery back.
            tracing::error!(delivery = id, "rendering a webhook delivery failed: {e}");
            return;
        }
    };
    let (status, error) = match request {
        Err(e) => (None, Some(e.to_string())),
        Ok(req) => {
            let mut headers = req.headers;
            headers.push((
                "User-Agent".into(),
                concat!("boltd-webhooks/", env!("CARGO_PKG_VERSION")).into(),
            ));
            let sent = egress
                .send(
                    reqwest::Method::POST,
                    &due.webhook.url,
                    &headers,
                    Some(req.body),
                    REQUEST_TIMEOUT,
                    MAX_RESPONSE_BYTES,
                )
                .await;
            match sent {
                Ok(res) if (200..300).contains(&res.status) => (Some(res.status), None),
                Ok(res) if (300..400).contains(&res.status) => (
                    Some(res.status),
                    Some(format!(
                        "HTTP {} {}: the endpoint redirects; redirects are not followed",
                        res.status, res.reason
                    )),
                ),
                Ok(res) => (Some(res.status), Some(format!("HTTP {} {}", res.status, res.reason))),
                Err(EgressError::Refused(m)) => (None, Some(format!("refused: {m}"))),
                Err(EgressError::Failed(m)) => (None, Some(m)),
            }
        }
    };
    let outcome = AttemptOutcome {
        at_ms,
        duration_ms: started.elapsed().as_millis() as u64,
        status,
        error: error.clone(),
    };
    let attempts = due.delivery.attempts + 1;
    let next = if error.is_none() {
        NextAttempt::Delivered
    } else {
        after_failure(attempts, due.delivery.created_at_ms, now_ms())
    };
    match next {
        NextAttempt::Delivered => {
            tracing::debug!(delivery = id, webhook = due.webhook.id, "webhook delivered")
        }
        NextAttempt::RetryAt(at) => tracing::info!(
            delivery = id,
            webhook = due.webhook.id,
            attempts,
            retry_in_ms = at.saturating_sub(now_ms()),
            "webhook delivery failed: {}",
            error.as_deref().unwrap_or_default()
        ),
        NextAttempt::GiveUp => tracing::warn!(
            delivery = id,
            webhook = due.webhook.id,
            attempts,
            "webhook delivery given up: {}",
            error.as_deref().unwrap_or_default()
        ),
    }
    let recorded =
        tokio::task::spawn_blocking(move || store.record_attempt(id, &outcome, next)).await;
    match recorded {
        Ok(Ok(_)) => {}
        // The lease brings the delivery back; it will be attempted again.
        Ok(Err(e)) => tracing::error!(delivery = id, "recording a webhook attempt failed: {e}"),
        Err(e) => tracing::error!(delivery = id, "recording a webhook attempt failed: {e}"),
    }
}

/// The delivery worker: attempts due deliveries until `stop` turns true. Wakes up when events
/// are appended (`events`), when an attempt ends, and when the next retry is due. It starts
/// delivering once the API has installed its webhook renderer (`renderer`): a body is always
/// the registering dialect's rendering, never a stand-in.
pub(crate) async fn worker(
    egress: Egress,
    store: Arc<Store>,
    mut events: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
    mut renderer: watch::Receiver<Option<WebhookRenderer>>,
) {
    let render = tokio::select! {
        r = renderer.wait_for(Option::is_some) => match r.ok().and_then(|r| r.clone()) {
            Some(render) => render,
            None => return,
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    let mut tasks: JoinSet<i64> = JoinSet::new();
    let mut per_endpoint: HashMap<i64, u32> = HashMap::new();
    let lease = REQUEST_TIMEOUT + Duration::from_secs(5);
    loop {
        if *stop.borrow() {
            break;
        }
        let now = now_ms();
        let s = Arc::clone(&store);
        let due =
            tokio::task::spawn_blocking(move || s.due_deliveries(now, MAX_IN_FLIGHT_PER_ENDPOINT))
                .await;
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::error!("reading due webhook deliveries failed: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::error!("reading due webhook deliveries failed: {e}");
                Vec::new()
            }
        };
        for d in due {
            let w = d.webhook.id;
            let busy = per_endpoint.get(&w).copied().unwrap_or(0);
            if busy >= MAX_IN_FLIGHT_PER_ENDPOINT || tasks.len() >= MAX_IN_FLIGHT {
                continue;
            }
            let s = Arc::clone(&store);
            let id = d.delivery.id;
            let until = now.saturating_add(lease.as_millis() as u64);
            match tokio::task::spawn_blocking(move || s.lease_delivery(id, until)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => continue,
                Ok(Err(e)) => {
                    tracing::error!(delivery = id, "leasing a webhook delivery failed: {e}");
                    continue;
                }
                Err(e) => {
                    tracing::error!(delivery = id, "leasing a webhook delivery failed: {e}");
                    continue;
                }
            }
            *per_endpoint.entry(w).or_default() += 1;
            let s = Arc::clone(&store);
            let render = Arc::clone(&render);
            tasks.spawn(async move {
                attempt(s, d, egress, render).await;
                w
            });
        }
        let s = Arc::clone(&store);
        let next = tokio::task::spawn_blocking(move || s.next_delivery_due_ms(now))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let sleep = next
            .map(|t| Duration::from_millis(t.saturating_sub(now_ms())))
            .unwrap_or(IDLE_RECHECK)
            .min(IDLE_RECHECK);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            changed = events.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => finished(&mut per_endpoint, done),
            _ = stop.wait_for(|s| *s) => break,
        }
        while let Some(done) = tasks.try_join_next() {
            finished(&mut per_endpoint, done);
        }
    }
    // In-flight attempts are dropped; their leases bring them back after a restart.
    tasks.shutdown().await;
}

fn finished(per_endpoint: &mut HashMap<i64, u32>, done: Result<i64, tokio::task::JoinError>) {
    match done {
        Ok(w) => {
            if let Some(n) = per_endpoint.get_mut(&w) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_endpoint.remove(&w);
                }
            }
        }
        Err(e) => {
            // A panicked attempt: its endpoint's count cannot be told; start over counting.
            tracing::error!("a webhook attempt failed: {e}");
            per_endpoint.clear();
        }
    }
}

#[cfg(test)]
mod tests;
