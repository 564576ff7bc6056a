//! The wallet service: the relay tasks, the request handler and the notifier.
//!
//! A request (kind 23194) is checked in this order, and answered (kind 23195, encrypted as
//! the request was) in every case but the first: not signed by its author or not addressed to
//! this service (ignored); an `encryption` boltd does not speak (`UNSUPPORTED_ENCRYPTION`,
//! NIP-04); not decryptable (`OTHER`); expired (`OTHER`, not executed); no active connection
//! for its author (`UNAUTHORIZED`); then the method, through [`crate::methods::dispatch`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use boltd_engine::notify::Since;
use boltd_engine::Engine;
use boltd_store::{Direction, EventRecord, EventType, ReceiveState};
use nostr::{Event, EventBuilder, Keys, Kind, PublicKey, Tag};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

use crate::crypto::{Encryption, SUPPORTED_ENCRYPTIONS};
use crate::error::NwcError;
use crate::methods::{self, METHODS, NOTIFICATIONS};
use crate::relay::{stopped, RelayTask};
use crate::request::{self, error_json, result_json};
use crate::tx::{payment_tx, receive_tx};

/// Kind of a notification encrypted with NIP-44.
pub const NOTIFICATION_KIND_NIP44: u16 = 23197;
/// Kind of a notification encrypted with NIP-04.
pub const NOTIFICATION_KIND_NIP04: u16 = 23196;
/// Most requests handled at once; more are answered `RATE_LIMITED`.
pub const MAX_CONCURRENT_REQUESTS: usize = 32;
/// How often held hold invoices are looked for (`hold_invoice_accepted`).
const NOTIFY_POLL: Duration = Duration::from_secs(1);

struct Shared {
    engine: Arc<Engine>,
    keys: Keys,
    outbox: broadcast::Sender<Arc<Event>>,
    permits: Arc<Semaphore>,
}

/// The running service; [`NwcService::stop`] ends it.
pub struct NwcService {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    wallet: PublicKey,
}

/// The info event (kind 13194): the methods, `notifications`, and the encryptions, preferred
/// first.
pub fn info_event(keys: &Keys) -> Result<Event, String> {
    let mut caps: Vec<&str> = METHODS.to_vec();
    caps.push("notifications");
    let tags = [
        Tag::parse(["encryption", SUPPORTED_ENCRYPTIONS]).map_err(|e| e.to_string())?,
        Tag::parse(["notifications", &NOTIFICATIONS.join(" ")]).map_err(|e| e.to_string())?,
    ];
    EventBuilder::new(Kind::WalletConnectInfo, caps.join(" "))
        .tags(tags)
        .sign_with_keys(keys)
        .map_err(|e| e.to_string())
}

impl NwcService {
    /// Starts the service on `engine`'s configured `nwc_relays` with the service key in the
    /// data directory; `None` when no relay is configured.
    pub fn start(engine: Arc<Engine>) -> Result<Option<NwcService>, String> {
        let config = engine.node().config();
        if config.nwc_relays.is_empty() {
            return Ok(None);
        }
        let relays = config.nwc_relays.clone();
        let keys = crate::keys::load_or_create(&config.data_dir)
            .map_err(|e| format!("cannot read or create the NWC service key: {e}"))?;
        let info = info_event(&keys)?;
        let wallet = keys.public_key();
        let (stop, stop_rx) = watch::channel(false);
        let (inbox_tx, inbox_rx) = mpsc::channel(256);
        let (outbox, _) = broadcast::channel(1024);
        let since = Arc::new(AtomicU64::new(boltd_engine::ledger::now_secs().saturating_sub(10)));
        let shared = Arc::new(Shared {
            engine,
            keys,
            outbox: outbox.clone(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
        });
        let mut tasks = Vec::new();
        for url in relays {
            let task = RelayTask {
                url,
                wallet,
                info: info.clone(),
                inbox: inbox_tx.clone(),
                outbox: outbox.clone(),
                stop: stop_rx.clone(),
                since: Arc::clone(&since),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        tasks.push(tokio::spawn(handle_requests(Arc::clone(&shared), inbox_rx, stop_rx.clone())));
        tasks.push(tokio::spawn(notify(shared, stop_rx)));
        tracing::info!(wallet = %wallet.to_hex(), "NWC: wallet service started");
        Ok(Some(NwcService { stop, tasks, wallet }))
    }

    /// The wallet service's public key.
    pub fn wallet_pubkey(&self) -> PublicKey {
        self.wallet
    }

    /// Stops the relay connections, the handler and the notifier (requests in flight are
    /// dropped: their payments go on in the engine).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("NWC: a task did not stop within 5 s");
            }
        }
    }
}

async fn handle_requests(
    shared: Arc<Shared>,
    mut inbox: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let ev = tokio::select! {
            ev = inbox.recv() => match ev { Some(ev) => ev, None => return },
            _ = stopped(&mut stop) => return,
        };
        let shared = Arc::clone(&shared);
        match Arc::clone(&shared.permits).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    handle(&shared, ev).await;
                    drop(permit);
                });
            }
            Err(_) => {
                if let Some((enc, method)) = peek(&shared, &ev) {
                    let e = NwcError::RateLimited("too many requests at once; retry".into());
                    respond(&shared, &ev, enc, error_json(&method, &e));
                }
            }
        }
    }
}

/// The encryption and method of a request addressed to this service, if it can be read.
fn peek(shared: &Shared, ev: &Event) -> Option<(Encryption, String)> {
    let enc = Encryption::negotiate(encryption_tag(ev)).ok()?;
    let text = enc.decrypt(shared.keys.secret_key(), &ev.pubkey, &ev.content).ok()?;
    Some((enc, request::method_of(&text)))
}

fn encryption_tag(ev: &Event) -> Option<&str> {
    request::tag_value(ev.tags.iter().map(|t| t.as_slice()), "encryption")
}

async fn handle(shared: &Shared, ev: Event) {
    if ev.kind != Kind::WalletConnectRequest || ev.verify().is_err() {
        return;
    }
    let tags = || ev.tags.iter().map(|t| t.as_slice());
    let wallet = shared.keys.public_key().to_hex();
    if request::tag_value(tags(), "p") != Some(wallet.as_str()) {
        return;
    }
    let enc = match Encryption::negotiate(encryption_tag(&ev)) {
        Ok(enc) => enc,
        Err(e) => return respond(shared, &ev, Encryption::Nip04, error_json("", &e)),
    };
    let text = match enc.decrypt(shared.keys.secret_key(), &ev.pubkey, &ev.content) {
        Ok(t) => t,
        Err(e) => return respond(shared, &ev, enc, error_json("", &e)),
    };
    let method = request::method_of(&text);
    let id = ev.id.to_hex();
    let answer = match execute(shared, &ev, &text).await {
        Ok(result) => result_json(&method, result),
        Err(e) => {
            tracing::info!(event = %id, method = %method, code = e.code(), "NWC: request refused: {e}");
            error_json(&method, &e)
        }
    };
    respond(shared, &ev, enc, answer);
}

async fn execute(shared: &Shared, ev: &Event, text: &str) -> Result<Value, NwcError> {
    let now = boltd_engine::ledger::now_secs();
    if request::is_expired(ev.tags.iter().map(|t| t.as_slice()), now) {
        return Err(NwcError::Other(
            "the request expired (its expiration tag); not executed".into(),
        ));
    }
    let client = ev.pubkey.to_hex();
    let store = Arc::clone(shared.engine.store());
    let conn = tokio::task::spawn_blocking(move || store.nwc_connection(&client))
        .await
        .map_err(|e| NwcError::Internal(format!("storage task failed: {e}")))?
        .map_err(|e| {
            tracing::error!("NWC: reading connections: {e}");
            NwcError::Internal("internal error; see the daemon's log".into())
        })?
        .ok_or(NwcError::Unauthorized)?;
    let caller = shared.engine.caller_of_token(&conn.token_id).await?;
    let req = request::parse_request(text)?;
    tracing::debug!(event = %ev.id.to_hex(), method = %req.method, "NWC: request");
    methods::dispatch(&shared.engine, &caller, &ev.id.to_hex(), &req.method, req.params).await
}

fn respond(shared: &Shared, request: &Event, enc: Encryption, answer: Value) {
    let sign = || -> Result<Event, String> {
        let content = enc
            .encrypt(shared.keys.secret_key(), &request.pubkey, &answer.to_string())
            .map_err(|e| e.to_string())?;
        let tags = [
            Tag::parse(["p".to_string(), request.pubkey.to_hex()]).map_err(|e| e.to_string())?,
            Tag::parse(["e".to_string(), request.id.to_hex()]).map_err(|e| e.to_string())?,
            Tag::parse(["encryption", enc.name()]).map_err(|e| e.to_string())?,
        ];
        EventBuilder::new(Kind::WalletConnectResponse, content)
            .tags(tags)
            .sign_with_keys(&shared.keys)
            .map_err(|e| e.to_string())
    };
    match sign() {
        Ok(ev) => {
            let _ = shared.outbox.send(Arc::new(ev));
        }
        Err(e) => tracing::error!("NWC: cannot build a response: {e}"),
    }
}

/// Sends `notification` to `client`, once per encryption (kind 23197 NIP-44, 23196 NIP-04).
fn send_notification(shared: &Shared, client: &str, notification_type: &str, tx: Value) {
    let Ok(client) = PublicKey::from_hex(client) else { return };
    let body = json!({ "notification_type": notification_type, "notification": tx }).to_string();
    for (enc, kind) in [
        (Encryption::Nip44V2, NOTIFICATION_KIND_NIP44),
        (Encryption::Nip04, NOTIFICATION_KIND_NIP04),
    ] {
        let ev = enc.encrypt(shared.keys.secret_key(), &client, &body).ok().and_then(|content| {
            let p = Tag::parse(["p".to_string(), client.to_hex()]).ok()?;
            EventBuilder::new(Kind::from(kind), content).tag(p).sign_with_keys(&shared.keys).ok()
        });
        match ev {
            Some(ev) => {
                let _ = shared.outbox.send(Arc::new(ev));
            }
            None => tracing::error!("NWC: cannot build a notification"),
        }
    }
}

/// Active connections' client keys by token id.
async fn connections(shared: &Shared) -> HashMap<String, String> {
    let store = Arc::clone(shared.engine.store());
    let all = tokio::task::spawn_blocking(move || store.list_nwc_connections()).await;
    let mut out = HashMap::new();
    for c in all.ok().and_then(Result::ok).unwrap_or_default() {
        if shared.engine.caller_of_token(&c.token_id).await.is_ok() {
            out.insert(c.token_id, c.client_pubkey);
        }
    }
    out
}

/// Follows the engine's event log: `payment_sent` to the connection whose token made the
/// payment, `payment_received` to the one whose token made the invoice; and held hold
/// invoices (`hold_invoice_accepted`), looked for every second.
async fn notify(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let engine = Arc::clone(&shared.engine);
    let mut cursor = engine.last_event_seq().await.unwrap_or(0);
    let mut held: HashSet<[u8; 32]> = HashSet::new();
    let types = [EventType::PaymentSent, EventType::PaymentReceived];
    loop {
        let page = tokio::select! {
            p = engine.wait_events(Since::Seq(cursor), &types, 100, NOTIFY_POLL) => p,
            _ = stopped(&mut stop) => return,
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("NWC: reading events: {e}");
                tokio::time::sleep(NOTIFY_POLL).await;
                continue;
            }
        };
        cursor = page.cursor;
        let conns = connections(&shared).await;
        if conns.is_empty() {
            continue;
        }
        for e in &page.events {
            if let Some((client, kind, tx)) = payment_notification(&engine, &conns, e).await {
                send_notification(&shared, &client, kind, tx);
            }
        }
        let Ok(pending) = engine.pending_receives().await else { continue };
        held.retain(|h| pending.iter().any(|r| r.payment_hash == *h));
        for r in pending {
            if !r.hold || r.state != ReceiveState::HtlcsArrived || held.contains(&r.payment_hash) {
                continue;
            }
            let Some(client) = r.token_id.as_ref().and_then(|t| conns.get(t)) else { continue };
            held.insert(r.payment_hash);
            send_notification(&shared, client, "hold_invoice_accepted", receive_tx(&r));
        }
    }
}

async fn payment_notification(
    engine: &Engine,
    conns: &HashMap<String, String>,
    e: &EventRecord,
) -> Option<(String, &'static str, Value)> {
    let hash = hex::encode(e.payment_hash?);
    match e.event_type {
        EventType::PaymentSent => {
            let p = engine.payment_by_hash(Direction::Outgoing, &hash).await.ok()??;
            let client = conns.get(p.token_id.as_ref()?)?;
            Some((client.clone(), "payment_sent", payment_tx(&p, None)))
        }
        EventType::PaymentReceived => {
            let r = engine.receive(&hash).await.ok()?;
            let client = conns.get(r.token_id.as_ref()?)?;
            let p = engine.payment_by_hash(Direction::Incoming, &hash).await.ok()??;
            Some((client.clone(), "payment_received", payment_tx(&p, Some(&r))))
        }
        EventType::PaymentFailed
        | EventType::InvoiceCanceled
        | EventType::InvoiceExpired
        | EventType::ChannelPending
        | EventType::ChannelReady
        | EventType::ChannelClosed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_info_event_lists_methods_encryptions_and_notifications() {
        let keys = Keys::generate();
        let ev = info_event(&keys).unwrap();
        assert_eq!(ev.kind, Kind::WalletConnectInfo);
        ev.verify().unwrap();
        for m in METHODS {
            assert!(ev.content.split(' ').any(|c| c == m), "{m}");
        }
        assert!(ev.content.ends_with(" notifications"));
        let tags: Vec<&[String]> = ev.tags.iter().map(|t| t.as_slice()).collect();
        assert_eq!(request::tag_value(tags.iter().copied(), "encryption"), Some("nip44_v2 nip04"));
        assert_eq!(
            request::tag_value(tags.iter().copied(), "notifications"),
            Some("payment_received payment_sent hold_invoice_accepted")
        );
    }
}
