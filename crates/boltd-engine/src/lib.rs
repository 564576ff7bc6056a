//! boltd's payment engine: every API dialect calls it.
//!
//! It keeps one durable record per payment in either direction (in `boltd-store`), written
//! before anything is sent and updated from LDK's events by the [`ledger::Ledger`]:
//! - **Never twice**: an outgoing payment's intent row is written in the same SQLite
//!   transaction that checks for an existing payment with the same hash or client
//!   idempotency key; a duplicate gets the existing record, never a second set of HTLCs.
//! - **Final states stay final**: complete and failed never change (except a failed record
//!   that a later preimage proves complete, and an explicit retry of a failed invoice).
//! - **Restart**: pending payments LDK does not know (the intent was recorded, the send never
//!   reached LDK) are marked failed; the others finish through LDK's replayed events.
//!
//! It also owns notifications ([`notify`], [`webhook`]): the durable event log the store
//! appends with every payment, receive and channel state change, read by long-polls and
//! WebSockets with a cursor, and delivered to webhook endpoints by a background worker that
//! [`Engine::start`] starts and [`Engine::stop`] stops, with an expiry sweep for unpaid
//! receives.

#![deny(missing_docs)]

pub mod amount;
pub mod auth;
pub mod decode;
mod egress;
pub mod error;
pub mod keysend;
pub mod ledger;
pub mod lnurl;
pub mod notify;
pub mod offer;
pub mod pay;
pub mod payment;
pub mod receive;
pub mod receive_wait;
pub mod send;
pub mod webhook;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use boltd_node::{Config, Node, NodeError};
use boltd_store::{Store, StoreError};

use crate::payment::node::NodeLightning;
use crate::payment::outgoing::Payments;
use crate::payment::registry::Registry;

pub use boltd_node::{role as node_role, Role as NodeRole};
pub use error::{NotifyError, PayError, RoutingFailure};
pub use ledger::Ledger;
pub use pay::{PayRequest, PayResult};

/// What comes with a request to pay, besides the request itself: the client's idempotency
/// key and, with authentication, the API token that asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayContext {
    /// The client's idempotency key: the same key returns the first payment's result; the same
    /// key with a different request is [`PayError::IdempotencyConflict`].
    pub idempotency_key: Option<String>,
    /// How long the caller waits for a final result (synchronous mode). `None`: until the
    /// payment's retry window ends (Core Lightning's `pay`). A payment still in flight when the
    /// wait ends is returned as `pending` (never as a failure) and continues in the background.
    pub wait: Option<std::time::Duration>,
    /// The id of the API token that asks (`None` without authentication). It is recorded on the
    /// payment, and the token's spending limits (per-payment maximum, budgets) are checked
    /// against the store's current values in the transaction that records the intent:
    /// [`PayError::PaymentLimitExceeded`], [`PayError::BudgetExceeded`] or
    /// [`PayError::Unauthorized`] (revoked or expired meanwhile), with nothing sent.
    pub token_id: Option<String>,
    /// The token whose own records the caller may change ([`auth::Caller::owner`]): `None`
    /// for an admin or without authentication (every record).
    pub owner: Option<String>,
}

impl PayContext {
    /// A context with only an idempotency key (no token: no spending limits).
    pub fn with_key(idempotency_key: Option<String>) -> Self {
        Self { idempotency_key, ..Default::default() }
    }

    /// A context with an idempotency key and the caller's token.
    pub fn new(idempotency_key: Option<String>, token_id: Option<String>) -> Self {
        Self { idempotency_key, token_id, ..Default::default() }
    }

    /// This context with the caller's wait (see [`PayContext::wait`]).
    pub fn with_wait(mut self, wait: Option<std::time::Duration>) -> Self {
        self.wait = wait;
        self
    }

    /// How long to wait for a result: `full` (the payment's whole window), capped by the
    /// caller's wait.
    pub(crate) fn wait_for(&self, full: std::time::Duration) -> std::time::Duration {
        self.wait.map_or(full, |w| w.min(full))
    }

    /// The context of item `index` of a batch: the same caller, and the key `<key>/<index>`.
    pub fn item(&self, index: usize) -> Self {
        let mut c = self.clone();
        c.idempotency_key = self.idempotency_key.as_ref().map(|k| format!("{k}/{index}"));
        c
    }

    /// Writes the context into an outgoing payment's intent record.
    pub(crate) fn apply(&self, intent: &mut boltd_store::NewOutgoing) {
        intent.idempotency_key = self.idempotency_key.clone();
        intent.token_id = self.token_id.clone();
    }
}

/// Amounts in flight (see [`Engine::in_flight`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct InFlight {
    /// Outgoing payments still pending (what the payees are to receive).
    pub sending_msat: u64,
    /// Receives whose preimage is revealed, not yet recorded as settled.
    pub claiming_msat: u64,
}

/// An outgoing payment with its resolved parts (see [`Engine::list_payment_parts`]).
#[derive(Debug, Clone)]
pub struct PaymentParts {
    /// The payment.
    pub payment: boltd_store::PaymentRecord,
    /// Its resolved parts, in the order they resolved, each with the attempt (send) number it
    /// belongs to.
    pub parts: Vec<(boltd_store::PartRecord, u32)>,
}

/// A payment hash from hex, or a parameter error naming the string.
pub(crate) fn parse_hash(payment_hash_hex: &str) -> Result<[u8; 32], PayError> {
    hex::decode(payment_hash_hex).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
        PayError::InvalidParams(format!("`{payment_hash_hex}` is not a payment hash"))
    })
}

/// The payment engine over a running node.
pub struct Engine {
    node: Arc<Node>,
    /// The outgoing payments' state machine (see [`payment`]).
    payments: Payments,
    notify: Arc<notify::Notifications>,
    /// The webhook worker and the expiry sweep.
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stop_background: tokio::sync::watch::Sender<bool>,
    /// How notifications look (the API's dialect installs it; see
    /// [`Engine::set_notification_renderer`]).
    renderer: tokio::sync::watch::Sender<Option<notify::NotificationRenderer>>,
    /// How webhook bodies look, per endpoint format (the API installs it; see
    /// [`Engine::set_webhook_renderer`]). The webhook worker waits for it.
    webhook_renderer: tokio::sync::watch::Sender<Option<webhook::WebhookRenderer>>,
}

/// A store failure is [`PayError::Storage`] (500 `storage_error`, never a payment outcome),
/// except the store's refusal of malformed input, which writes nothing and names the problem
/// without stored values ([`PayError::InvalidParams`]).
impl From<StoreError> for PayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { reason } => PayError::InvalidParams(reason),
            e => PayError::storage(e),
        }
    }
}

impl Engine {
    /// Starts the node with the engine's ledger receiving its payment events, reconciles
    /// pending payments with LDK, then starts the webhook worker, the expiry sweep, the waiters'
    /// wake-ups and the periodic reconciliation.
    pub async fn start(config: Config) -> Result<Arc<Engine>, NodeError> {
        let registry = Arc::new(Registry::default());
        let cell: Arc<OnceLock<Arc<Ledger>>> = Arc::new(OnceLock::new());
        let c = Arc::clone(&cell);
        let r = Arc::clone(&registry);
        let node = Node::start_with_events(
            config,
            Box::new(move |store| {
                let ledger = Arc::new(Ledger::new(store, r));
                let _ = c.set(Arc::clone(&ledger));
                ledger
            }),
        )
        .await?;
        let ledger = cell.get().cloned().expect("the node built the ledger");
        let store = Arc::clone(ledger.store());
        let notify = notify::Notifications::new(&store)
            .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))?;
        let (stop_background, stop_rx) = tokio::sync::watch::channel(false);
        let (renderer, _) = tokio::sync::watch::channel(None);
        let (webhook_renderer, webhook_renderer_rx) = tokio::sync::watch::channel(None);
        let node = Arc::new(node);
        let lightning = Arc::new(NodeLightning::new(Arc::clone(&node)));
        let payments = Payments::new(Arc::clone(&store), lightning, Arc::clone(&registry));
        let engine = Arc::new(Engine {
            node,
            payments,
            notify,
            background: Mutex::new(Vec::new()),
            stop_background,
            renderer,
            webhook_renderer,
        });
        engine
            .payments
            .reconcile()
            .await
            .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))?;
        let fail_stop = engine.node.fail_stop().clone();
        let tasks = vec![
            tokio::spawn(webhook::worker(
                webhook::webhook_egress(engine.node.config().network),
                Arc::clone(&store),
                engine.notify.subscribe(),
                stop_rx.clone(),
                webhook_renderer_rx,
            )),
            tokio::spawn(notify::expiry_sweep(Arc::clone(&store), stop_rx.clone())),
            fail_stop.spawn(
                "payment waiters",
                registry.run(Arc::clone(&store), engine.notify.subscribe(), stop_rx.clone()),
            ),
            fail_stop
                .spawn("payment reconciliation", reconcile_loop(engine.payments.clone(), stop_rx)),
        ];
        *engine.background.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(engine)
    }

    /// Installs how notifications look (the long-poll and the WebSocket; the API's dialect
    /// renders them). Until one is installed, they are the neutral [`notify::event_json`].
    pub fn set_notification_renderer(&self, render: notify::NotificationRenderer) {
        self.renderer.send_replace(Some(render));
    }

    /// Installs how webhook bodies look: for each endpoint format, the rendering of the
    /// dialect that registers endpoints of that format (see [`webhook::WebhookRenderer`]).
    /// Webhook deliveries wait until one is installed.
    pub fn set_webhook_renderer(&self, render: webhook::WebhookRenderer) {
        self.webhook_renderer.send_replace(Some(render));
    }

    /// An event as its notification JSON: the installed renderer's, else the neutral
    /// [`notify::event_json`].
    pub fn render_notification(&self, event: &boltd_store::EventRecord) -> serde_json::Value {
        match *self.renderer.borrow() {
            Some(render) => render(event),
            None => notify::event_json(event),
        }
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.payments.store
    }

    /// The latest outgoing payment with this payment hash (hex), with its real status and
    /// failure reason.
    pub async fn outgoing_payment(
        &self,
        payment_hash_hex: &str,
    ) -> Result<boltd_store::PaymentRecord, PayError> {
        let hash = parse_hash(payment_hash_hex)?;
        self.blocking(move |s| s.payment_by_hash(boltd_store::Direction::Outgoing, &hash))
            .await?
            .ok_or_else(|| PayError::NotFound(format!("no payment {payment_hash_hex}")))
    }

    /// The latest payment in `direction` with this payment hash (hex), if any.
    pub async fn payment_by_hash(
        &self,
        direction: boltd_store::Direction,
        payment_hash_hex: &str,
    ) -> Result<Option<boltd_store::PaymentRecord>, PayError> {
        let hash = parse_hash(payment_hash_hex)?;
        self.blocking(move |s| s.payment_by_hash(direction, &hash)).await
    }

    /// Merges `patch` into a payment's app metadata (RFC 7396 JSON Merge Patch: `null`
    /// removes a member, objects merge recursively). The patch must be a JSON object.
    ///
    /// With an `owner` token, only its own payments: those it made, and those received on its
    /// receives (another's is not found, as if it did not exist).
    pub async fn merge_metadata(
        &self,
        id: i64,
        patch: &serde_json::Value,
        owner: Option<String>,
    ) -> Result<boltd_store::PaymentRecord, PayError> {
        if !patch.is_object() {
            return Err(PayError::InvalidParams("the metadata patch must be a JSON object".into()));
        }
        let text = patch.to_string();
        let scoped = owner.is_some();
        self.blocking(move |s| s.merge_metadata(id, &text, owner.as_deref(), ledger::now_secs()))
            .await?
            .ok_or_else(|| {
                PayError::NotFound(if scoped {
                    format!("no payment {id} made or received by this token")
                } else {
                    format!("no payment {id}")
                })
            })
    }

    /// What is in flight: outgoing payments not final yet, and receives whose preimage is
    /// revealed but whose payment is not recorded as settled yet.
    pub async fn in_flight(&self) -> Result<InFlight, PayError> {
        self.blocking(|s| {
            let sends = s.list_payments(&boltd_store::PaymentFilter {
                direction: Some(boltd_store::Direction::Outgoing),
                status: Some(boltd_store::PaymentStatus::Pending),
                ..Default::default()
            })?;
            let receives = s.pending_receives()?;
            Ok(InFlight {
                sending_msat: sends.iter().map(|p| p.amount_msat).sum(),
                claiming_msat: receives
                    .iter()
                    .filter(|r| r.state == boltd_store::ReceiveState::PreimageRevealed)
                    .map(|r| r.received_msat.or(r.amount_msat).unwrap_or(0))
                    .sum(),
            })
        })
        .await
    }

    /// Payments in both directions, newest first, filtered and paginated.
    pub async fn list_payments(
        &self,
        filter: boltd_store::PaymentFilter,
    ) -> Result<Vec<boltd_store::PaymentRecord>, PayError> {
        self.blocking(move |s| s.list_payments(&filter)).await
    }

    /// Outgoing payments (oldest first, filtered as [`Engine::list_payments`]), each with its
    /// resolved parts and the attempt each part belongs to.
    pub async fn list_payment_parts(
        &self,
        filter: boltd_store::PaymentFilter,
    ) -> Result<Vec<PaymentParts>, PayError> {
        self.blocking(move |s| {
            let filter = boltd_store::PaymentFilter {
                direction: Some(boltd_store::Direction::Outgoing),
                oldest_first: true,
                ..filter
            };
            s.list_payments(&filter)?
                .into_iter()
                .map(|p| Ok((s.payment_parts_by_attempt(p.id)?, p)))
                .map(|r| r.map(|(parts, payment)| PaymentParts { payment, parts }))
                .collect()
        })
        .await
    }

    /// Stops the webhook worker and the expiry sweep (an attempt in flight is dropped and
    /// made again after a restart), then the node.
    pub async fn stop(&self) -> Result<(), NodeError> {
        // The engine's supervised tasks end now: stopping, not failing.
        self.node.fail_stop().set_stopping();
        let _ = self.stop_background.send(true);
        let tasks = std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("a background task did not stop within 5 s");
            }
        }
        self.node.stop().await
    }

    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, PayError> {
        self.payments.blocking(f).await
    }

    /// Reconciles pending payments with the node now (see [`payment`]); returns how many it
    /// failed.
    pub async fn reconcile(&self) -> Result<usize, PayError> {
        self.payments.reconcile().await
    }

    /// Payments waited for and payments driven right now (memory that must not grow).
    pub fn payments_in_memory(&self) -> (usize, usize) {
        self.payments.registry.sizes()
    }

    /// Where the time of a finished payment a caller waited for went, by payment hash (see
    /// [`payment::spans`]; the last [`payment::spans::KEEP`] payments).
    pub fn pay_spans(&self, payment_hash: &[u8; 32]) -> Option<payment::spans::PaySpans> {
        self.payments.registry.spans.get(payment_hash)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Its supervised tasks end with it: stopping, not failing (also when it is dropped
        // without `stop`, e.g. on an error right after start).
        self.node.fail_stop().set_stopping();
    }
}

/// Reconciles pending payments every [`payment::RECONCILE_INTERVAL`] (or at once when asked:
/// a payment to resume) until the engine stops.
async fn reconcile_loop(payments: Payments, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(payment::RECONCILE_INTERVAL) => {}
            _ = payments.registry.reconciliation_nudged() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = payments.reconcile().await {
            tracing::warn!("reconciling pending payments: {e}");
        }
    }
}
