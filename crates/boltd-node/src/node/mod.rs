//! The node: LDK's channel manager, chain monitor, peer manager, gossip, onion messenger and
//! sweeper, composed with the BDK wallet, bitcoind and the SQLite store.
//!
//! Split by seam: [`Node`] and its lifecycle here, the start-up sequence in `start.rs`, peers
//! in `peers.rs`, channels and the graph in `channels.rs`, the on-chain wallet and balances in
//! `onchain.rs`.
//!
//! # Start-up
//! 1. Lock the data directory (one daemon per directory).
//! 2. Read the seed and the store. Only "not found" for both makes a new node; anything that
//!    exists but cannot be read stops the start with a message saying what and where.
//! 3. Check bitcoind (reachable, right chain).
//! 4. Open the continuous backup (`backup_dir`, see [`crate::backup`]): refuse a data
//!    directory older than its backup, else bring the backup up to date.
//! 5. Read channel monitors, the channel manager, graph, scorer and sweeper (in a recovery from
//!    a stale backup, a new manager and only the stale monitors whose channel closed on chain:
//!    see [`crate::recovery`]); replay the blocks they missed; hand the monitors to the chain
//!    monitor.
//! 6. Start the background processor (events, persistence, timers), the HTLC forwarder when
//!    `htlc_forward_delay_ms` is set, the block poller, the wallet sync, the P2P listener and the
//!    reconnection loop.
//!
//! # Shutdown
//! [`Node::stop`] stops the background processor (which persists the channel manager, graph and
//! scorer), disconnects peers, stops every task and persists the wallet.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use bitcoin::BlockHash;
use boltd_store::{DataDirLock, Store};
use lightning::chain::{BestBlock, Listen};
use lightning::ln::channel_state::ChannelShutdownState;
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use lightning::ln::types::ChannelId;
use lightning::routing::gossip::NodeAlias;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, KeysManager, NodeSigner};
use lightning::util::config::UserConfig;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_KEY, OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning_background_processor::{BackgroundProcessor, GossipSync};
use lightning_block_sync::init::validate_best_block_header;
use lightning_block_sync::poll::ChainPoller;
use lightning_block_sync::rpc::RpcClient;
use lightning_block_sync::{SpvClient, UnboundedCache};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::chain::{check_bitcoind, BitcoindAuth, Broadcaster, FeeEstimates, FEE_REFRESH_INTERVAL};
use crate::error::{NodeError, NodeResult};
use crate::events::{ClaimKnownPreimages, NodeEventHandler, PaymentEvents};
use crate::failstop::{FailStop, FatalKind};
use crate::keys::Seed;
use crate::logger::LdkLogger;
use crate::persist::{BackgroundStore, GatedManager, GatedPersister, ManagerGate};
use crate::types::*;
use crate::wallet::{OnchainBalance, OnchainWallet, Utxo, WalletTransaction};
use boltd_config::Config;
use boltd_routing::{GossipWatch, GraphView, RoutingEngine};

mod channels;
mod closed;
mod onchain;
mod peers;
mod runtime;
mod splice;
mod splice_record;
mod start;
mod store_open;

pub use channels::{scid_string, ChannelInfo, GraphChannel, GraphChannelPolicy, CHANNEL_STATES};
pub use closed::{ClosedChannel, PendingClaim, Sweep};
pub use onchain::Balances;
pub use peers::PeerInfo;
pub use splice::{SpliceIn, SpliceOut};
pub(crate) use splice_record::Splices;
pub use splice_record::{ChannelSplice, SpliceDirection, SpliceState, NEGOTIATION_SECS};
pub use store_open::{role, Role};

/// KV namespace of the addresses of peers we have channels with (for reconnection).
const PEERS_NAMESPACE: &str = "boltd_peers";
/// KV namespace of boltd's own small values.
pub(crate) const BOLTD_NAMESPACE: &str = "boltd";
/// Key (in [`BOLTD_NAMESPACE`]) of the height the wallet was created at.
pub(crate) const WALLET_BIRTHDAY_KEY: &str = "wallet_birthday_height";

/// How long a cooperative close waits for the channel's monitor updates in progress.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// How often the node reconnects to channel peers that are offline.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// How often the node re-broadcasts its node announcement when it has public channels.
pub const NODE_ANNOUNCEMENT_INTERVAL: Duration = Duration::from_secs(3600);

/// Builds the payment layer from the node's store (see [`Node::start_with_events`]).
pub type EventsFactory = Box<dyn FnOnce(Arc<Store>) -> Arc<dyn PaymentEvents> + Send>;

/// Node identity and sync state.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// Our node id.
    pub node_id: String,
    /// The network.
    pub network: String,
    /// Where we accept P2P connections.
    pub p2p_addr: String,
    /// Height LDK has processed.
    pub block_height: u32,
    /// Height the on-chain wallet has processed.
    pub wallet_height: u32,
    /// Number of channels.
    pub num_channels: usize,
    /// Number of connected peers.
    pub num_peers: usize,
    /// Channels and nodes in our network graph.
    pub graph_channels: usize,
    /// Nodes in our network graph.
    pub graph_nodes: usize,
    /// The continuous backup (`backup_dir`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::backup::BackupStatus>,
}

/// A running Lightning node.
///
/// Dropping it without [`Node::stop`] marks it stopping first, so that its parts ending with it
/// are not taken for failures (see [`crate::failstop`]).
pub struct Node {
    config: Config,
    store: Arc<Store>,
    keys_manager: Arc<KeysManager>,
    wallet: Arc<OnchainWallet>,
    fees: Arc<FeeEstimates>,
    chain_monitor: Arc<ChainMonitor>,
    channel_manager: Arc<ChannelManager>,
    sweeper: Arc<Sweeper>,
    graph: Arc<Graph>,
    router: Arc<Router>,
    peer_manager: Arc<PeerManager>,
    p2p_addr: SocketAddr,
    ldk_height: Arc<AtomicU32>,
    stop_flag: Arc<AtomicBool>,
    background: Mutex<Option<BackgroundProcessor>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    wallet_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    forwarder_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    routing: Arc<RoutingEngine>,
    routing_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    liquidity: Arc<crate::liquidity::Liquidity>,
    /// The record of each channel's splice until it locks.
    splices: Arc<Splices>,
    liquidity_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    fail_stop: FailStop,
    /// Monitor writes ordered with the manager's (see `persist`).
    gate: Arc<ManagerGate>,
    _lock: DataDirLock,
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn unreadable(what: &'static str, store: &Store, e: impl std::fmt::Display) -> NodeError {
    NodeError::UnreadableState { what, path: store.path().to_path_buf(), reason: e.to_string() }
}

fn kv_read(
    store: &Store,
    what: &'static str,
    ns: &str,
    sub: &str,
    key: &str,
) -> NodeResult<Option<Vec<u8>>> {
    match KVStoreSync::read(store, ns, sub, key) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(what, store, e)),
    }
}

/// Key (in [`BOLTD_NAMESPACE`]) of the persisted routing view.
const ROUTING_VIEW_KEY: &str = "routing_view";

/// boltd's routing engine at start: from the persisted view when there is a valid one (the
/// refresher then rebuilds it from LDK's graph in the background, and a small graph is rebuilt
/// by the first search), else built from the graph now. The view is a cache: a missing or
/// unreadable one only costs the build.
fn open_routing_engine(store: &Store, graph: &Graph) -> RoutingEngine {
    match KVStoreSync::read(store, BOLTD_NAMESPACE, "", ROUTING_VIEW_KEY) {
        Ok(bytes) => match GraphView::from_bytes(&bytes) {
            Ok(view) => return RoutingEngine::new(view),
            Err(e) => {
                tracing::warn!("rebuilding the routing view: the persisted one is unusable: {e}")
            }
        },
        Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("rebuilding the routing view: cannot read the persisted one: {e}"),
    }
    RoutingEngine::from_graph(graph)
}

/// Stores the routing view (a cache: failures are logged, not fatal).
fn persist_routing_view(store: &Store, view: &GraphView) {
    if let Err(e) =
        KVStoreSync::write(store, BOLTD_NAMESPACE, "", ROUTING_VIEW_KEY, view.to_bytes())
    {
        tracing::warn!("cannot persist the routing view: {e}");
    }
}

/// LDK's configuration for boltd's channels.
pub fn user_config(config: &Config) -> UserConfig {
    let mut c = UserConfig::default();
    // Anchor channels: a force close is fee-bumped from the wallet (see `anchors`).
    c.channel_handshake_config.negotiate_anchors_zero_fee_htlc_tx = config.anchor_channels;
    // Let a peer open public or private channels to us, whatever our own default.
    c.channel_handshake_limits.force_announced_channel_preference = false;
    // Allow the whole channel to be in flight (payments as large as the channel).
    c.channel_handshake_config.max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    // Accept as many HTLCs in flight per channel as BOLT 2 allows (LDK's default is 50): a
    // payments daemon with many concurrent payments over one channel otherwise finds nothing
    // sendable once 50 are pending (benchmark B2 at K = 50). The funder's fee reserve for the
    // extra HTLC outputs is LDK's to check.
    c.channel_handshake_config.our_max_accepted_htlcs = 483;
    // Every inbound channel is accepted by hand (`Event::OpenChannelRequest`): LDK requires it
    // for anchor channels (to check the reserve), and it is where `accept_inbound_channels`
    // declines them.
    c.manually_accept_inbound_channels = true;
    // Splices a peer starts are accepted (see `splice`); LDK's default refuses them only to let
    // a node go back to LDK < 0.2, which boltd's state cannot anyway.
    c.reject_inbound_splices = false;
    if config.lsps2_service {
        // LSPS2: payments to the intercept channel ids handed out are held for the service
        // (see `liquidity`), and forwarded over the unannounced channels it opens.
        c.accept_intercept_htlcs = true;
        c.accept_forwards_to_priv_channels = true;
    }
    c
}

impl Drop for Node {
    fn drop(&mut self) {
        // Before the fields (the background processor, the threads' handles) go.
        self.fail_stop.set_stopping();
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

/// Marks the node stopping if start-up fails after its supervised parts started (they end with
/// the error, which is not a failure of theirs).
struct StopOnError(Option<FailStop>);

impl StopOnError {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnError {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            f.set_stopping();
        }
    }
}

impl Node {
    /// Starts the node described by `config`, claiming payments LDK knows the preimage of and
    /// recording nothing beyond the in-memory tracker. See [`Node::start_with_events`].
    pub async fn start(config: Config) -> NodeResult<Node> {
        Self::start_with_events(config, Box::new(|_| Arc::new(ClaimKnownPreimages))).await
    }

    /// Stops the node cleanly: persists the channel manager, graph and scorer, disconnects
    /// peers, stops tasks and persists the wallet. Safe to call more than once.
    pub async fn stop(&self) -> NodeResult<()> {
        // Parts that end from now on are stopping, not failing.
        self.fail_stop.set_stopping();
        self.stop_flag.store(true, Ordering::Release);
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        self.peer_manager.disconnect_all_peers();
        let bg = self.background.lock().unwrap().take();
        if let Some(bg) = bg {
            tokio::task::spawn_blocking(move || bg.stop())
                .await
                .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))??;
        }
        let wt = self.wallet_thread.lock().unwrap().take();
        if let Some(wt) = wt {
            let _ = tokio::task::spawn_blocking(move || wt.join()).await;
        }
        let lt = self.liquidity_thread.lock().unwrap().take();
        if let Some(lt) = lt {
            let _ = tokio::task::spawn_blocking(move || lt.join()).await;
        }
        let ft = self.forwarder_thread.lock().unwrap().take();
        if let Some(ft) = ft {
            let _ = tokio::task::spawn_blocking(move || ft.join()).await;
        }
        self.routing.stop_refresher();
        let rt = self.routing_thread.lock().unwrap().take();
        if let Some(rt) = rt {
            let _ = tokio::task::spawn_blocking(move || rt.join()).await;
            let (store, view) = (Arc::clone(&self.store), self.routing.view());
            let _ = tokio::task::spawn_blocking(move || persist_routing_view(&store, &view)).await;
        }
        self.wallet.persist()?;
        // How well the group commit batched (synchronous=FULL would flush once per commit).
        let sync = self.store.sync_stats();
        tracing::info!(store_commits = sync.commits, store_flushes = sync.syncs, "node stopped");
        // On PostgreSQL, a standby may take over at once.
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.release_lease())
            .await
            .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))??;
        Ok(())
    }

    /// The node's fail-stop switch.
    pub fn fail_stop(&self) -> &FailStop {
        &self.fail_stop
    }

    /// An encrypted archive of everything needed to restore the node but its seed (see
    /// [`crate::archive`]); blocking (a copy of the database).
    pub fn export_backup(&self) -> NodeResult<Vec<u8>> {
        if self.store.is_postgres() {
            return Err(NodeError::InvalidInput(
                "archives copy the SQLite database; on PostgreSQL, back the database up with its \
                 own tools (pg_dump, base backups with WAL archiving)"
                    .into(),
            ));
        }
        let data_dir = &self.config.data_dir;
        let seed = Seed::read(data_dir)?.ok_or_else(|| NodeError::UnreadableState {
            what: "seed",
            path: Seed::path(data_dir),
            reason: "missing".into(),
        })?;
        let node_id = self.node_id().to_string();
        crate::archive::export(&self.store, data_dir, &seed, self.config.network, &node_id)
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.channel_manager.get_our_node_id()
    }

    /// The address we accept peers on (the real port when configured with port 0).
    pub fn p2p_addr(&self) -> SocketAddr {
        self.p2p_addr
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store (for the layers above the node).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The channel manager (for the payment engine).
    pub fn channel_manager(&self) -> &Arc<ChannelManager> {
        &self.channel_manager
    }

    /// The network graph.
    pub fn network_graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// The router (per-payment policies are registered here).
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The liquidity component (LSPS2 client and service).
    pub fn liquidity(&self) -> &Arc<crate::liquidity::Liquidity> {
        &self.liquidity
    }

    /// The keys manager.
    pub fn keys_manager(&self) -> &Arc<KeysManager> {
        &self.keys_manager
    }

    /// Identity and sync state.
    pub fn info(&self) -> NodeInfo {
        let graph = self.graph.read_only();
        NodeInfo {
            node_id: self.node_id().to_string(),
            network: self.config.network.to_string(),
            p2p_addr: self.p2p_addr.to_string(),
            block_height: self.ldk_height.load(Ordering::Acquire),
            wallet_height: self.wallet.synced_height(),
            num_channels: self.channel_manager.list_channels().len(),
            num_peers: self.peer_manager.list_peers().len(),
            graph_channels: graph.channels().len(),
            graph_nodes: graph.nodes().len(),
            backup: self.gate.backup().map(|b| b.status()),
        }
    }

    /// How many channels are usable now (ready, their peer connected).
    pub fn usable_channels(&self) -> usize {
        self.channel_manager.list_usable_channels().len()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> NodeResult<T> + Send + 'static,
) -> NodeResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))?
}

// Keep `Writeable` in scope for `encode` users in tests.
#[allow(unused)]
fn _encode_check(cm: &ChannelManager) -> Vec<u8> {
    cm.encode()
}
