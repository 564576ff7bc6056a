//! Liquidity from and for other nodes: LSPS2 (bLIP-52) just-in-time channels, on LDK's
//! `lightning-liquidity`.
//!
//! One [`Liquidity`] per node holds LDK's liquidity manager, which speaks the LSPS messages as
//! the peer manager's custom message handler and keeps its state in the store's key-value
//! table (written before it answers a peer). Both roles can be on at once:
//! - the **client** (`lsps` configured, [`client`]): asks an LSP for its fee menu, buys the
//!   cheapest entry that fits the amount and `lsp_max_fee_msat`, and builds an invoice whose
//!   route hint is the LSP's intercept channel id. The LSP's channel is accepted with zero
//!   confirmations and lets the LSP take (skim) its fee from the payment; the payment layer
//!   checks the skimmed fee against the fee promised for that payment before claiming it.
//! - the **service** (`lsps2_service`, [`service`]): answers fee requests with the configured
//!   menu (each entry signed by a promise, an HMAC under a key derived from the seed), hands
//!   out intercept channel ids, and when a payment to one arrives within its promise's
//!   validity and limits, opens an unannounced zero-confirmation channel to the client and
//!   forwards the payment minus the fee. An HTLC for an intercept id it does not know, or whose
//!   promise expired before the channel was opened, is failed back at once.
//!
//! LDK's liquidity events are handled on their own thread ([`Liquidity::start_events`]).

pub mod client;
pub mod service;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::PublicKey;
use boltd_config::Config;
use boltd_store::Store;
use lightning::events::HTLCHandlingFailureType;
use lightning::ln::channelmanager::InterceptId;
use lightning::ln::types::ChannelId;
use lightning::sign::KeysManager;
use lightning::types::payment::PaymentHash;
use lightning_liquidity::events::LiquidityEvent;
use lightning_liquidity::lsps2::client::LSPS2ClientConfig;
use lightning_liquidity::lsps2::service::LSPS2ServiceConfig;
use lightning_liquidity::utils::time::DefaultTimeProvider;
use lightning_liquidity::{LiquidityClientConfig, LiquidityServiceConfig};

use crate::chain::Broadcaster;
use crate::error::{NodeError, NodeResult};
use crate::types::{ChainFilter, ChannelManager, LiquidityManager, PeerManager};
use crate::wallet::OnchainWallet;

/// How often the liquidity thread looks for LDK's liquidity events.
const EVENT_POLL: Duration = Duration::from_millis(20);

/// An LSP this node may receive through (`lsps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsp {
    /// Its node id.
    pub node_id: PublicKey,
    /// Its `host:port`.
    pub address: String,
}

/// The node's liquidity component: LDK's liquidity manager and boltd's side of both roles.
pub struct Liquidity {
    manager: Arc<LiquidityManager>,
    channel_manager: Arc<ChannelManager>,
    config: Config,
    lsps: Vec<Lsp>,
    /// The client's requests waiting for the LSP's answer.
    pending: Mutex<client::Pending>,
    /// The service's intercept channel ids (persisted; see [`service`]).
    scids: Mutex<HashMap<u64, service::ScidRecord>>,
    store: Arc<Store>,
    wallet: Arc<OnchainWallet>,
    peer_manager: OnceLock<Arc<PeerManager>>,
}

/// The key under which LSPS2 promises are signed: derived from the node's secret, so promises
/// survive restarts and no one else can make them.
fn promise_secret(keys: &KeysManager) -> [u8; 32] {
    let mut engine = sha256::Hash::engine();
    engine.input(b"boltd/lsps2/promise-secret/v1");
    engine.input(&keys.get_node_secret_key().secret_bytes());
    sha256::Hash::from_engine(engine).to_byte_array()
}

impl Liquidity {
    /// Builds the liquidity manager (reading its persisted state) for `config`'s roles.
    pub(crate) fn new(
        config: &Config,
        keys: &Arc<KeysManager>,
        channel_manager: &Arc<ChannelManager>,
        store: &Arc<Store>,
        broadcaster: &Arc<Broadcaster>,
        wallet: &Arc<OnchainWallet>,
    ) -> NodeResult<Liquidity> {
        let lsps = config
            .lsps
            .iter()
            .map(|s| {
                boltd_config::parse_lsp(s)
                    .map(|(node_id, address)| Lsp { node_id, address })
                    .map_err(NodeError::Config)
            })
            .collect::<NodeResult<Vec<_>>>()?;
        let service = config.lsps2_service.then(|| LiquidityServiceConfig {
            lsps2_service_config: Some(LSPS2ServiceConfig { promise_secret: promise_secret(keys) }),
            lsps5_service_config: None,
            advertise_service: false,
        });
        let client = LiquidityClientConfig {
            lsps1_client_config: None,
            lsps2_client_config: Some(LSPS2ClientConfig {}),
            lsps5_client_config: None,
        };
        let manager = LiquidityManager::new_with_custom_time_provider(
            Arc::clone(keys),
            Arc::clone(keys),
            Arc::clone(channel_manager),
            None::<ChainFilter>,
            None,
            Arc::clone(store),
            Arc::clone(broadcaster),
            service,
            Some(client),
            Arc::new(DefaultTimeProvider),
        )
        .map_err(|e| NodeError::UnreadableState {
            what: "liquidity (LSPS) state",
            path: store.path().to_path_buf(),
            reason: e.to_string(),
        })?;
        let scids = service::read_scids(store)?;
        Ok(Liquidity {
            manager: Arc::new(manager),
            channel_manager: Arc::clone(channel_manager),
            config: config.clone(),
            lsps,
            pending: Mutex::new(client::Pending::default()),
            scids: Mutex::new(scids),
            store: Arc::clone(store),
            wallet: Arc::clone(wallet),
            peer_manager: OnceLock::new(),
        })
    }

    /// LDK's liquidity manager (the peer manager's custom message handler).
    pub(crate) fn manager(&self) -> &Arc<LiquidityManager> {
        &self.manager
    }

    /// Gives the component the peer manager (built after it).
    pub(crate) fn set_peer_manager(&self, pm: Arc<PeerManager>) {
        let _ = self.peer_manager.set(pm);
    }

    /// The configured LSPs.
    pub fn lsps(&self) -> &[Lsp] {
        &self.lsps
    }

    /// Whether `node_id` is one of the configured LSPs (whose channels are accepted with zero
    /// confirmations and may skim their promised fee).
    pub fn is_lsp(&self, node_id: &PublicKey) -> bool {
        self.lsps.iter().any(|l| l.node_id == *node_id)
    }

    /// Whether this node serves LSPS2.
    pub fn is_service(&self) -> bool {
        self.config.lsps2_service
    }

    /// Handles LDK's liquidity events on a thread of their own until `stop`.
    pub(crate) fn start_events(
        self: &Arc<Self>,
        stop: Arc<AtomicBool>,
        watch: crate::failstop::Watch,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let this = Arc::clone(self);
        std::thread::Builder::new().name("boltd-liquidity".into()).spawn(move || {
            let _watch = watch;
            while !stop.load(Ordering::Acquire) {
                match this.manager.next_event() {
                    Some(event) => this.handle(event),
                    None => std::thread::sleep(EVENT_POLL),
                }
            }
        })
    }

    fn handle(&self, event: LiquidityEvent) {
        match event {
            LiquidityEvent::LSPS2Client(e) => self.client_event(e),
            LiquidityEvent::LSPS2Service(e) => self.service_event(e),
            other => tracing::debug!(?other, "liquidity event ignored"),
        }
    }

    /// `Event::HTLCIntercepted`: an HTLC for one of the service's intercept channel ids.
    pub(crate) fn htlc_intercepted(
        &self,
        intercept_scid: u64,
        intercept_id: InterceptId,
        expected_outbound_amount_msat: u64,
        payment_hash: PaymentHash,
    ) {
        if !self.is_service() || !self.accept_intercepted(intercept_scid, &payment_hash) {
            let _ = self.channel_manager.fail_intercepted_htlc(intercept_id);
            return;
        }
        if let Some(h) = self.manager.lsps2_service_handler() {
            if let Err(e) = h.htlc_intercepted(
                intercept_scid,
                intercept_id,
                expected_outbound_amount_msat,
                payment_hash,
            ) {
                tracing::warn!(%payment_hash, "LSPS2 refused an intercepted HTLC: {e:?}");
            }
        }
    }

    /// `Event::ChannelReady`: a just-in-time channel may now carry its payment.
    pub(crate) fn channel_ready(
        &self,
        user_channel_id: u128,
        channel_id: &ChannelId,
        peer: &PublicKey,
    ) {
        if let Some(h) = self.manager.lsps2_service_handler() {
            if let Err(e) = h.channel_ready(user_channel_id, channel_id, peer) {
                tracing::debug!(%channel_id, "LSPS2 channel_ready: {e:?}");
            }
        }
    }

    /// `Event::ChannelClosed`: a just-in-time channel that closes before it was ready (the
    /// client declined it, its funding failed) fails the payment it was for back at once,
    /// rather than at the HTLCs' expiry. Any other channel: nothing to do.
    pub(crate) fn channel_closed(&self, user_channel_id: u128, peer: &PublicKey) {
        if let Some(h) = self.manager.lsps2_service_handler() {
            if h.channel_open_failed(peer, user_channel_id).is_ok() {
                tracing::info!(%peer, "LSPS2: the just-in-time channel closed before it was ready; payment failed back");
            }
        }
    }

    /// `Event::HTLCHandlingFailed`.
    pub(crate) fn htlc_handling_failed(&self, failure_type: HTLCHandlingFailureType) {
        if let Some(h) = self.manager.lsps2_service_handler() {
            if let Err(e) = h.htlc_handling_failed(failure_type) {
                tracing::debug!("LSPS2 htlc_handling_failed: {e:?}");
            }
        }
    }

    /// `Event::PaymentForwarded` over `next_channel_id`, with the fee skimmed from it.
    pub(crate) fn payment_forwarded(
        &self,
        next_channel_id: Option<ChannelId>,
        skimmed_fee_msat: u64,
    ) {
        let (Some(channel_id), Some(h)) = (next_channel_id, self.manager.lsps2_service_handler())
        else {
            return;
        };
        if let Err(e) = h.payment_forwarded(channel_id, skimmed_fee_msat) {
            tracing::debug!(%channel_id, "LSPS2 payment_forwarded: {e:?}");
        }
    }
}
