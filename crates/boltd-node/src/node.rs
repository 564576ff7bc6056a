//! The node: LDK's channel manager, chain monitor, peer manager, gossip, onion messenger and
//! sweeper, composed with the BDK wallet, bitcoind and the SQLite store.
//!
//! # Start-up
//! 1. Lock the data directory (one daemon per directory).
//! 2. Read the seed and the store. Only "not found" for both makes a new node; anything that
//!    exists but cannot be read stops the start with a message saying what and where.
//! 3. Check bitcoind (reachable, right chain).
//! 4. Read channel monitors, the channel manager, graph, scorer and sweeper; replay the blocks
//!    they missed; hand the monitors to the chain monitor.
//! 5. Start the background processor (events, persistence, timers), the HTLC forwarder when
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
use crate::routing::{GossipWatch, GraphView, RoutingEngine};
use crate::types::*;
use crate::wallet::{OnchainBalance, OnchainWallet, Utxo, WalletTransaction};
use boltd_config::Config;

/// KV namespace of the addresses of peers we have channels with (for reconnection).
const PEERS_NAMESPACE: &str = "boltd_peers";
/// KV namespace of boltd's own small values.
const BOLTD_NAMESPACE: &str = "boltd";
/// Key (in [`BOLTD_NAMESPACE`]) of the height the wallet was created at.
const WALLET_BIRTHDAY_KEY: &str = "wallet_birthday_height";

/// How long a cooperative close waits for the channel's monitor updates in progress.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// How often the node reconnects to channel peers that are offline.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// How often the node re-broadcasts its node announcement when it has public channels.
pub const NODE_ANNOUNCEMENT_INTERVAL: Duration = Duration::from_secs(3600);

/// Builds the payment layer from the node's store (see [`Node::start_with_events`]).
pub type EventsFactory = Box<dyn FnOnce(Arc<Store>) -> Arc<dyn PaymentEvents> + Send>;

/// A connected peer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerInfo {
    /// The peer's node id.
    pub node_id: String,
    /// The address of the connection, if known.
    pub address: Option<String>,
    /// Whether the peer connected to us.
    pub inbound: bool,
}

/// A channel, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    /// Channel id (hex).
    pub channel_id: String,
    /// The peer.
    pub peer_node_id: String,
    /// `opening`, `pending_confirmation`, `ready` (usable), `offline` (ready, peer away) or
    /// `closing` (shutting down cooperatively, until the closing transaction confirms).
    #[schema(schema_with = channel_state_schema)]
    pub state: &'static str,
    /// Short channel id once confirmed, as `BLOCKxTXxOUT`.
    pub short_channel_id: Option<String>,
    /// Funding outpoint `txid:vout`.
    pub funding_outpoint: Option<String>,
    /// Channel capacity.
    pub capacity_sat: u64,
    /// What we can send now.
    pub outbound_msat: u64,
    /// What we can receive now.
    pub inbound_msat: u64,
    /// Whether the channel is announced to the network.
    pub public: bool,
    /// Whether we opened it.
    pub outbound: bool,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations required before the channel is ready.
    pub confirmations_required: Option<u32>,
    /// HTLCs in the channel not yet fully resolved, in either direction (0 when the channel is
    /// at rest).
    pub pending_htlcs: usize,
}

/// Balances of the node.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balances {
    /// On-chain wallet.
    pub onchain: OnchainBalance,
    /// What we would get on chain for our channels now (claimable, in satoshis).
    pub lightning_sat: u64,
    /// What we can send over Lightning now, in msat.
    pub lightning_spendable_msat: u64,
}

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
}

/// The values of [`ChannelInfo::state`].
pub const CHANNEL_STATES: [&str; 5] =
    ["opening", "pending_confirmation", "ready", "offline", "closing"];

fn channel_state_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(CHANNEL_STATES))
        .description(Some(
            "`opening`, `pending_confirmation`, `ready` (usable), `offline` (ready, peer away) \
             or `closing` (shutting down cooperatively)",
        ))
        .build()
}

/// A channel of the network graph, as gossip announced it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GraphChannel {
    /// The channel, as `BLOCKxTXxOUT`.
    pub short_channel_id: String,
    /// One end's node id (the lesser key).
    pub node_one: String,
    /// The other end's node id.
    pub node_two: String,
    /// Node one's forwarding policy toward node two, once announced.
    pub one_to_two: Option<GraphChannelPolicy>,
    /// Node two's forwarding policy toward node one, once announced.
    pub two_to_one: Option<GraphChannelPolicy>,
}

/// One direction's forwarding policy in the network graph.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GraphChannelPolicy {
    /// Base fee, in msat.
    pub fee_base_msat: u32,
    /// Proportional fee, in millionths (ppm).
    pub fee_ppm: u32,
    /// CLTV expiry delta, in blocks.
    pub cltv_expiry_delta: u16,
    /// Whether the direction is enabled.
    pub enabled: bool,
}

/// The listeners LDK's chain data goes to.
struct ChainListeners {
    channel_manager: Arc<ChannelManager>,
    chain_monitor: Arc<ChainMonitor>,
    sweeper: Arc<Sweeper>,
    height: Arc<AtomicU32>,
}

impl Listen for ChainListeners {
    fn filtered_block_connected(
        &self,
        header: &bitcoin::block::Header,
        txdata: &lightning::chain::transaction::TransactionData,
        height: u32,
    ) {
        self.channel_manager.filtered_block_connected(header, txdata, height);
        self.chain_monitor.filtered_block_connected(header, txdata, height);
        self.sweeper.filtered_block_connected(header, txdata, height);
        self.height.store(height, Ordering::Release);
    }

    fn blocks_disconnected(&self, fork_point: BestBlock) {
        self.channel_manager.blocks_disconnected(fork_point);
        self.chain_monitor.blocks_disconnected(fork_point);
        self.sweeper.blocks_disconnected(fork_point);
        self.height.store(fork_point.height, Ordering::Release);
    }
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
    // Anchor channels need a fee-bumping wallet; boltd uses static-remote-key channels for now.
    c.channel_handshake_config.negotiate_anchors_zero_fee_htlc_tx = false;
    // Let a peer open public or private channels to us, whatever our own default.
    c.channel_handshake_limits.force_announced_channel_preference = false;
    // Allow the whole channel to be in flight (payments as large as the channel).
    c.channel_handshake_config.max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    // Accept as many HTLCs in flight per channel as BOLT 2 allows (LDK's default is 50): a
    // payments daemon with many concurrent payments over one channel otherwise finds nothing
    // sendable once 50 are pending (benchmark B2 at K = 50). The funder's fee reserve for the
    // extra HTLC outputs is LDK's to check.
    c.channel_handshake_config.our_max_accepted_htlcs = 483;
    c.manually_accept_inbound_channels = !config.accept_inbound_channels;
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

/// How long a connection attempt that the peer closed waits for the peer's own connection to
/// us (both sides reconnecting at once: LDK keeps one of the two).
const PEER_RACE_WAIT: Duration = Duration::from_secs(2);

impl Node {
    /// Starts the node described by `config`, claiming payments LDK knows the preimage of and
    /// recording nothing beyond the in-memory tracker. See [`Node::start_with_events`].
    pub async fn start(config: Config) -> NodeResult<Node> {
        Self::start_with_events(config, Box::new(|_| Arc::new(ClaimKnownPreimages))).await
    }

    /// Starts the node described by `config`. `events` builds, from the opened store, the
    /// payment layer that receives LDK's payment events from the first one on (replayed events
    /// after a restart included). See the module docs for the sequence.
    pub async fn start_with_events(config: Config, events: EventsFactory) -> NodeResult<Node> {
        let network = config.network;
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let lock = DataDirLock::acquire(&data_dir)?;

        // Seed and store: only "not found" for both means a new node.
        let store_existed = Store::exists(&data_dir);
        let seed = match Seed::read(&data_dir)? {
            Some(s) => s,
            None if store_existed => {
                return Err(NodeError::UnreadableState {
                    what: "seed",
                    path: Seed::path(&data_dir),
                    reason: "missing, but the node's database exists; restore the seed file".into(),
                })
            }
            None => {
                tracing::info!("creating a new node in {}", data_dir.display());
                Seed::create(&data_dir)?
            }
        };
        let store = Arc::new(Store::open(&data_dir)?);
        // From here on, a persistence failure stops the process (see `failstop`).
        let fail_stop = FailStop::exit_process();
        {
            let fail_stop = fail_stop.clone();
            store.on_fatal(move |what| fail_stop.fail(FatalKind::Storage, what));
        }
        let payment_events = events(Arc::clone(&store));
        let logger = Arc::new(LdkLogger);

        // bitcoind.
        let auth = BitcoindAuth::from_config(&config)?;
        let fees = Arc::new(FeeEstimates::new(config.fee_rate_fallback_sat_per_kwu));
        {
            let auth = auth.clone();
            let fees = Arc::clone(&fees);
            tokio::task::spawn_blocking(move || -> NodeResult<()> {
                let client = auth.blocking_client()?;
                check_bitcoind(&client, network)?;
                fees.refresh(&client);
                Ok(())
            })
            .await
            .map_err(|e| NodeError::Chain(e.to_string()))??;
        }
        let block_source = Arc::new(auth.block_source()?);
        let tip = validate_best_block_header(&*block_source)
            .await
            .map_err(|e| NodeError::Chain(format!("cannot read the chain tip: {e:?}")))?;
        let (broadcaster, broadcast_rx) = Broadcaster::new();
        let broadcaster = Arc::new(broadcaster);

        // Keys.
        let ldk_seed = seed.ldk_seed(network)?;
        let t = now();
        let keys_manager =
            Arc::new(KeysManager::new(&ldk_seed, t.as_secs(), t.subsec_nanos(), true));

        // The channel manager's presence tells whether this node ever had Lightning state.
        let cm_bytes = kv_read(
            &store,
            "channel manager",
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )?;

        // Wallet.
        let birthday =
            match kv_read(&store, "wallet birthday", BOLTD_NAMESPACE, "", WALLET_BIRTHDAY_KEY)? {
                Some(b) => {
                    let s = String::from_utf8(b)
                        .map_err(|e| unreadable("wallet birthday", &store, e))?;
                    s.parse::<u32>().map_err(|e| unreadable("wallet birthday", &store, e))?
                }
                None => {
                    let h = tip.height;
                    KVStoreSync::write(
                        &*store,
                        BOLTD_NAMESPACE,
                        "",
                        WALLET_BIRTHDAY_KEY,
                        h.to_string().into_bytes(),
                    )?;
                    h
                }
            };
        let wallet = Arc::new(OnchainWallet::open(
            store.open_connection()?,
            &seed,
            network,
            Arc::clone(&fees),
            auth.clone(),
            cm_bytes.is_none(),
            fail_stop.clone(),
        )?);

        // Channel monitors (full monitors and the updates stored since).
        // Monitor writes are ordered with the channel manager's (see `persist`).
        let gate = Arc::new(ManagerGate::new(Arc::clone(&store)));
        let persister = Arc::new(GatedPersister::new(
            crate::persist::monitor_persister(
                Arc::clone(&gate),
                Arc::clone(&logger),
                Arc::clone(&keys_manager),
                Arc::clone(&broadcaster),
                Arc::clone(&fees),
            ),
            Arc::clone(&gate),
            fail_stop.clone(),
        ));
        let mut monitors = persister
            .inner()
            .read_all_channel_monitors_with_updates()
            .map_err(|e| unreadable("channel monitors", &store, e))?;
        let chain_monitor = Arc::new(ChainMonitor::new(
            None,
            Arc::clone(&broadcaster),
            Arc::clone(&logger),
            Arc::clone(&fees),
            Arc::clone(&persister),
            Arc::clone(&keys_manager),
            keys_manager.get_peer_storage_key(),
        ));
        gate.set_chain_monitor(&chain_monitor);
        let background_store = Arc::new(BackgroundStore::new(
            Arc::clone(&store),
            Arc::clone(&gate),
            fail_stop.clone(),
        ));

        // Graph and scorer.
        let graph = match kv_read(
            &store,
            "network graph",
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )? {
            Some(b) => Graph::read(&mut Cursor::new(b), Arc::clone(&logger))
                .map_err(|e| unreadable("network graph", &store, format!("{e:?}")))?,
            None => Graph::new(network, Arc::clone(&logger)),
        };
        let graph = Arc::new(graph);
        let routing = Arc::new(open_routing_engine(&store, &graph));
        let decay = ProbabilisticScoringDecayParameters::default();
        let scorer = match kv_read(
            &store,
            "scorer",
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        )? {
            Some(b) => ProbabilisticScorer::read(
                &mut Cursor::new(b),
                (decay, Arc::clone(&graph), Arc::clone(&logger)),
            )
            .map_err(|e| unreadable("scorer", &store, format!("{e:?}")))?,
            None => ProbabilisticScorer::new(decay, Arc::clone(&graph), Arc::clone(&logger)),
        };
        let scorer = Arc::new(RwLock::new(scorer));
        let router = Arc::new(Router::with_engine(
            Arc::clone(&graph),
            Arc::clone(&logger),
            Arc::clone(&keys_manager),
            Arc::clone(&scorer),
            ProbabilisticScoringFeeParameters::default(),
            Arc::clone(&routing),
        ));
        let message_router =
            Arc::new(MessageRouter::new(Arc::clone(&graph), Arc::clone(&keys_manager)));

        // Channel manager.
        let ucfg = user_config(&config);
        let restarting = cm_bytes.is_some();
        let (cm_block_hash, channel_manager) = match cm_bytes {
            Some(bytes) => {
                let read_args = ChannelManagerReadArgs::new(
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&fees),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&broadcaster),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    ucfg,
                    monitors.iter().map(|(_, m)| m).collect(),
                );
                <(BlockHash, ChannelManager)>::read(&mut Cursor::new(bytes), read_args)
                    .map_err(|e| unreadable("channel manager", &store, format!("{e:?}")))?
            }
            None => {
                let best_block = BestBlock::new(tip.header.block_hash(), tip.height);
                let cm = ChannelManager::new(
                    Arc::clone(&fees),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&broadcaster),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    ucfg,
                    ChainParameters { network, best_block },
                    t.as_secs() as u32,
                );
                (best_block.block_hash, cm)
            }
        };
        let channel_manager = Arc::new(channel_manager);

        // Sweeper.
        let sweeper = match kv_read(
            &store,
            "output sweeper",
            OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_KEY,
        )? {
            Some(b) => {
                let args = (
                    Arc::clone(&broadcaster),
                    Arc::clone(&fees),
                    None::<ChainFilter>,
                    Arc::clone(&keys_manager),
                    Arc::clone(&wallet),
                    Arc::clone(&background_store),
                    Arc::clone(&logger),
                );
                <(BestBlock, Sweeper)>::read(&mut Cursor::new(b), args)
                    .map_err(|e| unreadable("output sweeper", &store, format!("{e:?}")))?
            }
            None => {
                let best = channel_manager.current_best_block();
                let s = Sweeper::new(
                    best,
                    Arc::clone(&broadcaster),
                    Arc::clone(&fees),
                    None,
                    Arc::clone(&keys_manager),
                    Arc::clone(&wallet),
                    Arc::clone(&background_store),
                    Arc::clone(&logger),
                );
                (best, s)
            }
        };
        let (sweeper_best, sweeper) = sweeper;
        let sweeper = Arc::new(sweeper);

        // Replay the blocks the stored state missed. LDK's monitor listener owns the monitor, so
        // the monitors move into the listener tuples and out again afterwards.
        let mut cache = UnboundedCache::new();
        let mut monitor_listeners: Vec<_> = monitors
            .drain(..)
            .map(|(_, m)| {
                let hash = m.current_best_block().block_hash;
                (hash, (m, Arc::clone(&broadcaster), Arc::clone(&fees), Arc::clone(&logger)))
            })
            .collect();
        let chain_tip = if restarting {
            let mut listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))> =
                vec![(cm_block_hash, &*channel_manager as &(dyn Listen + Send + Sync))];
            listeners.push((sweeper_best.block_hash, &*sweeper as &(dyn Listen + Send + Sync)));
            for (hash, l) in monitor_listeners.iter() {
                listeners.push((*hash, l as &(dyn Listen + Send + Sync)));
            }
            // Each listener's block and its height, to say which ones bitcoind may have lost.
            let mut seen = vec![
                (cm_block_hash, channel_manager.current_best_block().height),
                (sweeper_best.block_hash, sweeper_best.height),
            ];
            seen.extend(
                monitor_listeners.iter().map(|(h, (m, ..))| (*h, m.current_best_block().height)),
            );
            crate::chain::replay_blocks(&block_source, network, &mut cache, listeners, &seen)
                .await?
        } else {
            tip
        };
        for (_, (monitor, ..)) in monitor_listeners.drain(..) {
            let channel_id = monitor.channel_id();
            // Already on disk (with the blocks replayed above, which replay again after a
            // crash): no need to write it again, which would slow down every start.
            chain_monitor.load_existing_monitor(channel_id, monitor).map_err(|_| {
                unreadable("channel monitor", &store, format!("channel {channel_id} rejected"))
            })?;
        }

        // P2P.
        let onion_messenger = Arc::new(OnionMessenger::new(
            Arc::clone(&keys_manager),
            Arc::clone(&keys_manager),
            Arc::clone(&logger),
            Arc::clone(&channel_manager),
            Arc::clone(&message_router),
            Arc::clone(&channel_manager),
            Arc::clone(&channel_manager),
            IgnoringMessageHandler {},
            IgnoringMessageHandler {},
        ));
        let gossip = Arc::new(P2PGossipSync::new(
            Arc::clone(&graph),
            None::<GossipUtxoLookup>,
            Arc::clone(&logger),
        ));
        let gossip_watch = Arc::new(GossipWatch::new(Arc::clone(&gossip), Arc::clone(&routing)));
        let peer_manager = Arc::new(PeerManager::new(
            MessageHandler {
                chan_handler: Arc::clone(&channel_manager),
                route_handler: gossip_watch,
                onion_message_handler: Arc::clone(&onion_messenger),
                custom_message_handler: IgnoringMessageHandler {},
                send_only_message_handler: Arc::clone(&chain_monitor),
            },
            t.as_secs() as u32,
            &keys_manager.get_secure_random_bytes(),
            Arc::clone(&logger),
            Arc::clone(&keys_manager),
        ));

        let listener = tokio::net::TcpListener::bind(config.p2p_listen).await.map_err(|e| {
            NodeError::Config(format!("cannot listen for peers on {}: {e}", config.p2p_listen))
        })?;
        let p2p_addr = listener.local_addr()?;

        // Background processor: events, persistence, timers.
        let handler = NodeEventHandler {
            channel_manager: Arc::clone(&channel_manager),
            wallet: Arc::clone(&wallet),
            sweeper: Arc::clone(&sweeper),
            router: Arc::clone(&router),
            listener: payment_events,
            routing: Arc::clone(&routing),
            peer_manager: std::sync::OnceLock::new(),
            _keys_manager: Arc::clone(&keys_manager),
            runtime: tokio::runtime::Handle::current(),
            _watch: fail_stop.watch("background processor"),
        };
        let _ = handler.peer_manager.set(Arc::clone(&peer_manager));
        // From here on an error drops running parts with the node: that is stopping, not failing.
        let on_error = StopOnError(Some(fail_stop.clone()));
        let background = BackgroundProcessor::start(
            Arc::clone(&background_store),
            handler,
            Arc::clone(&chain_monitor),
            Arc::new(GatedManager::new(Arc::clone(&channel_manager), Arc::clone(&gate))),
            Some(Arc::clone(&onion_messenger)),
            GossipSync::p2p(Arc::clone(&gossip)),
            Arc::clone(&peer_manager),
            None::<NoLiquidityManager>,
            Some(Arc::clone(&sweeper)),
            Arc::clone(&logger),
            Some(Arc::clone(&scorer)),
        );

        let stop_flag = Arc::new(AtomicBool::new(false));
        // HTLCs on the operator's delay instead of LDK's randomized one, when one is set.
        let forwarder_thread = config
            .htlc_forward_delay_ms
            .map(|ms| {
                crate::forwarder::start(
                    Arc::clone(&channel_manager),
                    Duration::from_millis(ms),
                    Arc::clone(&stop_flag),
                    fail_stop.watch("HTLC forwarder"),
                )
            })
            .transpose()?;

        // Keeps boltd's routing view fresh (and persisted) on its own thread.
        let routing_thread = {
            let routing = Arc::clone(&routing);
            let graph = Arc::clone(&graph);
            let stop = Arc::clone(&stop_flag);
            let store = Arc::clone(&store);
            let watch = fail_stop.watch("routing view refresher");
            std::thread::Builder::new().name("boltd-routing-view".into()).spawn(move || {
                let _watch = watch;
                routing.run_refresher(&graph, &stop, |view| persist_routing_view(&store, view))
            })?
        };
        let ldk_height = Arc::new(AtomicU32::new(chain_tip.height));
        let mut tasks = Vec::new();

        // Broadcasting.
        tasks.push(fail_stop.spawn("broadcaster", Broadcaster::run(broadcast_rx, auth.clone())));

        // Block polling for LDK.
        {
            let listeners = ChainListeners {
                channel_manager: Arc::clone(&channel_manager),
                chain_monitor: Arc::clone(&chain_monitor),
                sweeper: Arc::clone(&sweeper),
                height: Arc::clone(&ldk_height),
            };
            let poll_every = Duration::from_millis(config.chain_poll_interval_ms);
            let block_source: Arc<RpcClient> = Arc::clone(&block_source);
            tasks.push(fail_stop.spawn("block poller", async move {
                let poller = ChainPoller::new(block_source, network);
                let mut spv = SpvClient::new(chain_tip, poller, &mut cache, &listeners);
                loop {
                    if let Err(e) = spv.poll_best_tip().await {
                        tracing::warn!("polling bitcoind for blocks failed: {e:?}");
                    }
                    tokio::time::sleep(poll_every).await;
                }
            }));
        }

        // Fee estimates.
        {
            let fees = Arc::clone(&fees);
            let auth = auth.clone();
            tasks.push(fail_stop.spawn("fee estimator", async move {
                loop {
                    tokio::time::sleep(FEE_REFRESH_INTERVAL).await;
                    let fees = Arc::clone(&fees);
                    let auth = auth.clone();
                    let _ = tokio::task::spawn_blocking(move || match auth.blocking_client() {
                        Ok(c) => fees.refresh(&c),
                        Err(e) => tracing::warn!("fee refresh failed: {e}"),
                    })
                    .await;
                }
            }));
        }

        // Incoming peer connections.
        {
            let pm = Arc::clone(&peer_manager);
            tasks.push(fail_stop.spawn("P2P listener", async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            if let Some(conn) = crate::net::setup_inbound(Arc::clone(&pm), stream) {
                                tokio::spawn(conn);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("accepting a peer failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }

        // Reconnect to channel peers, and announce ourselves when we have public channels.
        {
            let pm = Arc::clone(&peer_manager);
            let cm = Arc::clone(&channel_manager);
            let store = Arc::clone(&store);
            let alias = config.alias.clone();
            let announce: Vec<_> = config.announce_addrs.clone();
            tasks.push(fail_stop.spawn("peer reconnection", async move {
                let mut last_announcement: Option<tokio::time::Instant> = None;
                loop {
                    reconnect_channel_peers(&pm, &cm, &store).await;
                    let has_public =
                        cm.list_channels().iter().any(|c| c.is_announced && c.is_usable);
                    let due =
                        last_announcement.is_none_or(|t| t.elapsed() >= NODE_ANNOUNCEMENT_INTERVAL);
                    if has_public && due {
                        let addrs =
                            announce.iter().filter_map(|a| parse_socket_address(a)).collect();
                        pm.broadcast_node_announcement([0; 3], node_alias(&alias), addrs);
                        last_announcement = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(RECONNECT_INTERVAL).await;
                }
            }));
        }

        // Wallet sync on its own thread (blocking RPC and SQLite).
        let wallet_thread = {
            let wallet = Arc::clone(&wallet);
            let stop = Arc::clone(&stop_flag);
            let interval = Duration::from_millis(config.wallet_sync_interval_ms);
            let watch = fail_stop.watch("wallet sync");
            std::thread::Builder::new().name("boltd-wallet-sync".into()).spawn(move || {
                let _watch = watch;
                wallet.sync_loop(birthday, interval, &stop)
            })?
        };

        on_error.disarm();
        tracing::info!(node_id = %channel_manager.get_our_node_id(), %p2p_addr, "node started");
        Ok(Node {
            config,
            store,
            keys_manager,
            wallet,
            fees,
            chain_monitor,
            channel_manager,
            graph,
            router,
            peer_manager,
            p2p_addr,
            ldk_height,
            stop_flag,
            background: Mutex::new(Some(background)),
            tasks: Mutex::new(tasks),
            wallet_thread: Mutex::new(Some(wallet_thread)),
            forwarder_thread: Mutex::new(forwarder_thread),
            routing,
            routing_thread: Mutex::new(Some(routing_thread)),
            fail_stop,
            gate,
            _lock: lock,
        })
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
        Ok(())
    }

    /// The node's fail-stop switch.
    pub fn fail_stop(&self) -> &FailStop {
        &self.fail_stop
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
        }
    }

    /// How many channels are usable now (ready, their peer connected).
    pub fn usable_channels(&self) -> usize {
        self.channel_manager.list_usable_channels().len()
    }

    // ---- peers ----

    /// Connects to a peer and waits for the handshake; remembers the address for reconnection.
    pub async fn connect_peer(&self, node_id: PublicKey, addr: &str) -> NodeResult<()> {
        let socket: SocketAddr = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| NodeError::InvalidInput(format!("bad peer address `{addr}`: {e}")))?
            .next()
            .ok_or_else(|| {
                NodeError::InvalidInput(format!("peer address `{addr}` resolves to nothing"))
            })?;
        if node_id == self.node_id() {
            return Err(NodeError::InvalidInput("cannot connect to ourselves".into()));
        }
        KVStoreSync::write(
            &*self.store,
            PEERS_NAMESPACE,
            "",
            &node_id.to_string(),
            socket.to_string().into_bytes(),
        )?;
        if self.peer_manager.peer_by_node_id(&node_id).is_some() {
            return Ok(());
        }
        let fut = crate::net::connect_outbound(Arc::clone(&self.peer_manager), node_id, socket)
            .await
            .ok_or_else(|| NodeError::Connection(format!("cannot reach {node_id} at {socket}")))?;
        let mut conn = Box::pin(fut);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.peer_manager.peer_by_node_id(&node_id).is_some() {
                tokio::spawn(conn);
                return Ok(());
            }
            tokio::select! {
                _ = &mut conn => {
                    // The peer may have connected to us meanwhile (its own reconnection): LDK
                    // keeps one connection per peer and drops the other. Connected is connected.
                    if self.wait_peer_connected(&node_id, PEER_RACE_WAIT).await {
                        return Ok(());
                    }
                    return Err(NodeError::Connection(format!(
                        "{node_id} at {socket} closed the connection"
                    )));
                }
                _ = tokio::time::sleep(Duration::from_millis(10)) => {},
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::Connection(format!(
                    "handshake with {node_id} at {socket} timed out"
                )));
            }
        }
    }

    /// Whether `node_id` is (or, within `wait`, becomes) a connected peer.
    async fn wait_peer_connected(&self, node_id: &PublicKey, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.peer_manager.peer_by_node_id(node_id).is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Disconnects a peer and forgets its address.
    pub fn disconnect_peer(&self, node_id: PublicKey) -> NodeResult<()> {
        KVStoreSync::remove(&*self.store, PEERS_NAMESPACE, "", &node_id.to_string(), false)?;
        self.peer_manager.disconnect_by_node_id(node_id);
        Ok(())
    }

    /// Connected peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        self.peer_manager
            .list_peers()
            .into_iter()
            .map(|p| PeerInfo {
                node_id: p.counterparty_node_id.to_string(),
                address: p.socket_address.map(|a| a.to_string()),
                inbound: p.is_inbound_connection,
            })
            .collect()
    }

    // ---- channels ----

    /// Opens a channel of `amount_sat` to a connected (or connectable, if `addr` is given) peer,
    /// pushing `push_msat` to it. Returns the temporary channel id; funding comes from the wallet.
    pub async fn open_channel(
        &self,
        node_id: PublicKey,
        addr: Option<&str>,
        amount_sat: u64,
        push_msat: u64,
        public: bool,
    ) -> NodeResult<String> {
        if amount_sat == 0 {
            return Err(NodeError::InvalidInput("channel amount must be positive".into()));
        }
        if push_msat > amount_sat.saturating_mul(1000) {
            return Err(NodeError::InvalidInput("push amount exceeds the channel amount".into()));
        }
        if let Some(addr) = addr {
            self.connect_peer(node_id, addr).await?;
        } else if self.peer_manager.peer_by_node_id(&node_id).is_none() {
            return Err(NodeError::InvalidInput(format!(
                "peer {node_id} is not connected; give its address"
            )));
        }
        let spendable = self.wallet.balance().confirmed_sat;
        if spendable < amount_sat {
            return Err(NodeError::InsufficientFunds {
                needed_sat: amount_sat,
                available_sat: spendable,
            });
        }
        let mut cfg = user_config(&self.config);
        cfg.channel_handshake_config.announce_for_forwarding = public;
        let user_channel_id: u128 = rand::random();
        let id = self
            .channel_manager
            .create_channel(node_id, amount_sat, push_msat, user_channel_id, None, Some(cfg))
            .map_err(|e| NodeError::Lightning(format!("{e:?}")))?;
        Ok(id.to_string())
    }

    /// Channels.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        self.channel_manager
            .list_channels()
            .into_iter()
            .map(|c| {
                let shutting_down = c
                    .channel_shutdown_state
                    .is_some_and(|s| s != ChannelShutdownState::NotShuttingDown);
                let state = if shutting_down {
                    "closing"
                } else if c.is_usable {
                    "ready"
                } else if c.is_channel_ready {
                    "offline"
                } else if c.funding_txo.is_some() {
                    "pending_confirmation"
                } else {
                    "opening"
                };
                ChannelInfo {
                    channel_id: c.channel_id.to_string(),
                    peer_node_id: c.counterparty.node_id.to_string(),
                    state,
                    short_channel_id: c.short_channel_id.map(scid_string),
                    funding_outpoint: c.funding_txo.map(|o| format!("{}:{}", o.txid, o.index)),
                    capacity_sat: c.channel_value_satoshis,
                    outbound_msat: c.outbound_capacity_msat,
                    inbound_msat: c.inbound_capacity_msat,
                    public: c.is_announced,
                    outbound: c.is_outbound,
                    confirmations: c.confirmations,
                    confirmations_required: c.confirmations_required,
                    pending_htlcs: c.pending_inbound_htlcs.len() + c.pending_outbound_htlcs.len(),
                }
            })
            .collect()
    }

    /// Closes a channel cooperatively, or by broadcasting our latest commitment when `force`.
    pub async fn close_channel(&self, channel_id: &str, force: bool) -> NodeResult<()> {
        let channel = self
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id.to_string() == channel_id)
            .ok_or_else(|| NodeError::NotFound(format!("channel {channel_id}")))?;
        let id: ChannelId = channel.channel_id;
        let peer = channel.counterparty.node_id;
        if force {
            return self
                .channel_manager
                .force_close_broadcasting_latest_txn(&id, &peer, "closed by the operator".into())
                .map_err(|e| NodeError::Lightning(format!("{e:?}")));
        }
        // LDK refuses to begin a cooperative close while a monitor update of the channel is in
        // progress; one completes with the next channel manager write (see `persist`), within
        // milliseconds, so a close right after a payment waits for it rather than failing.
        let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
        loop {
            if !self.gate.is_updating(&id) {
                match self.channel_manager.close_channel(&id, &peer) {
                    Ok(()) => return Ok(()),
                    // LDK may not have processed the completion yet.
                    Err(lightning::util::errors::APIError::ChannelUnavailable { .. })
                        if tokio::time::Instant::now() < deadline => {}
                    Err(e) => return Err(NodeError::Lightning(format!("{e:?}"))),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Lightning(
                    "the channel's state is still being written; try again".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sets our forwarding fees and CLTV delta on every channel (LDK then gossips the new
    /// channel updates).
    pub fn update_forwarding(
        &self,
        fee_base_msat: Option<u32>,
        fee_ppm: Option<u32>,
        cltv_expiry_delta: Option<u16>,
    ) -> NodeResult<usize> {
        let update = lightning::util::config::ChannelConfigUpdate {
            forwarding_fee_base_msat: fee_base_msat,
            forwarding_fee_proportional_millionths: fee_ppm,
            cltv_expiry_delta,
            ..Default::default()
        };
        let channels = self.channel_manager.list_channels();
        for c in &channels {
            self.channel_manager
                .update_partial_channel_config(&c.counterparty.node_id, &[c.channel_id], &update)
                .map_err(|e| NodeError::InvalidInput(format!("{e:?}")))?;
        }
        Ok(channels.len())
    }

    /// What our network graph knows of a channel (both directions' fees and CLTV deltas).
    pub fn graph_channel(&self, scid: u64) -> Option<GraphChannel> {
        let graph = self.graph.read_only();
        let info = graph.channel(scid)?;
        let dir = |u: &Option<lightning::routing::gossip::ChannelUpdateInfo>| {
            u.as_ref().map(|u| GraphChannelPolicy {
                fee_base_msat: u.fees.base_msat,
                fee_ppm: u.fees.proportional_millionths,
                cltv_expiry_delta: u.cltv_expiry_delta,
                enabled: u.enabled,
            })
        };
        Some(GraphChannel {
            short_channel_id: scid_string(scid),
            node_one: info.node_one.to_string(),
            node_two: info.node_two.to_string(),
            one_to_two: dir(&info.one_to_two),
            two_to_one: dir(&info.two_to_one),
        })
    }

    // ---- wallet ----

    /// A new on-chain receive address (persisted before it is returned).
    pub async fn new_address(&self) -> NodeResult<String> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.new_address().map(|a| a.to_string())).await
    }

    /// On-chain and Lightning balances.
    pub fn balances(&self) -> Balances {
        let lightning_sat = self
            .chain_monitor
            .get_claimable_balances(&[])
            .iter()
            .map(|b| b.claimable_amount_satoshis())
            .sum();
        let spendable = self
            .channel_manager
            .list_usable_channels()
            .iter()
            .map(|c| c.outbound_capacity_msat)
            .sum();
        Balances {
            onchain: self.wallet.balance(),
            lightning_sat,
            lightning_spendable_msat: spendable,
        }
    }

    /// Sends on chain as `req` says (a send, a drain or a send to many). With an idempotency
    /// `key`, the same request returns the first send and a different one is
    /// [`NodeError::IdempotencyConflict`]; see [`crate::wallet::SendRequest`].
    pub async fn send_onchain(
        &self,
        req: crate::wallet::SendRequest,
        key: Option<String>,
    ) -> NodeResult<crate::wallet::OnchainSent> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.send_request(&req, key.as_deref())).await
    }

    /// The signed transaction of an on-chain send recorded by [`Node::send_onchain`].
    pub async fn onchain_send_tx(
        &self,
        txid: bitcoin::Txid,
    ) -> NodeResult<Option<bitcoin::Transaction>> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.recorded_send_tx(&txid)).await
    }

    /// Syncs the on-chain wallet now (a round of the sync loop that starts after this call)
    /// and returns the height it has synced to.
    pub async fn sync_wallet(&self) -> NodeResult<u32> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.sync_now(crate::wallet::SYNC_NOW_TIMEOUT)).await
    }

    /// On-chain fee rates for apps (fast, regular, slow), from bitcoind's cached estimates.
    pub fn onchain_fee_rates(&self) -> crate::chain::OnchainFeeRates {
        self.fees.onchain_fee_rates()
    }

    /// Signs `message` with the node key, the way LND and Core Lightning's `signmessage` do:
    /// zbase32 of a recoverable signature over `sha256d("Lightning Signed Message:" + message)`.
    pub fn sign_message(&self, message: &[u8]) -> NodeResult<String> {
        self.keys_manager
            .sign_message(message)
            .map_err(|()| NodeError::Lightning("the node key could not sign".into()))
    }

    /// The node id that signed `message` with `signature` (zbase32, as [`Node::sign_message`]
    /// makes). Fails with [`NodeError::InvalidInput`] if the signature cannot be decoded; a
    /// signature of another message recovers another key.
    pub fn recover_signer(message: &[u8], signature: &str) -> NodeResult<PublicKey> {
        lightning::util::message_signing::recover_pk(message, signature.trim()).map_err(|_| {
            NodeError::InvalidInput(
                "signature is not a zbase32 recoverable signature (LND/Core Lightning format)"
                    .into(),
            )
        })
    }

    /// Unspent outputs.
    pub fn list_utxos(&self) -> Vec<Utxo> {
        self.wallet.list_utxos()
    }

    /// Wallet transactions.
    pub fn list_transactions(&self) -> Vec<WalletTransaction> {
        self.wallet.list_transactions()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> NodeResult<T> + Send + 'static,
) -> NodeResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))?
}

/// `BLOCKxTXxOUT` form of a short channel id.
pub fn scid_string(scid: u64) -> String {
    format!("{}x{}x{}", scid >> 40, (scid >> 16) & 0xff_ffff, scid & 0xffff)
}

fn node_alias(alias: &str) -> [u8; 32] {
    let mut a = [0u8; 32];
    let b = alias.as_bytes();
    let n = b.len().min(32);
    a[..n].copy_from_slice(&b[..n]);
    let _ = NodeAlias(a);
    a
}

fn parse_socket_address(s: &str) -> Option<lightning::ln::msgs::SocketAddress> {
    s.parse().ok()
}

async fn reconnect_channel_peers(
    pm: &Arc<PeerManager>,
    cm: &Arc<ChannelManager>,
    store: &Arc<Store>,
) {
    let mut wanted: Vec<PublicKey> =
        cm.list_channels().iter().map(|c| c.counterparty.node_id).collect();
    wanted.sort();
    wanted.dedup();
    for node_id in wanted {
        if pm.peer_by_node_id(&node_id).is_some() {
            continue;
        }
        let addr = match KVStoreSync::read(&**store, PEERS_NAMESPACE, "", &node_id.to_string()) {
            Ok(a) => a,
            Err(_) => continue,
        };
        let Some(addr) = String::from_utf8(addr).ok().and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            continue;
        };
        if let Some(f) = crate::net::connect_outbound(Arc::clone(pm), node_id, addr).await {
            tokio::spawn(f);
        }
    }
}

// Keep `Writeable` in scope for `encode` users in tests.
#[allow(unused)]
fn _encode_check(cm: &ChannelManager) -> Vec<u8> {
    cm.encode()
}
