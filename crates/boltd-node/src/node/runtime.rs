//! The node's background work once it has started, each part supervised by the fail-stop switch
//! (see [`crate::failstop`]): a task that ends or panics while the node is not stopping stops
//! the process. [`Node::start_with_events`] spawns them with [`FailStop::spawn`] (tasks) or
//! hands each thread a [`FailStop::watch`]; [`Node::stop`] ends them. Besides LDK's background
//! processor (events, persistence, timers) and the HTTP-facing parts, these are:
//! - the broadcaster (`chain.rs`), the block poller ([`poll_blocks`]), fee estimates
//!   ([`refresh_fees`]);
//! - incoming peer connections ([`accept_peers`]) and reconnection to channel peers with our
//!   node announcement ([`reconnect_peers`]);
//! - threads: the wallet sync ([`sync_wallet`]), the routing view refresher
//!   ([`refresh_routing_view`]) and, when configured, the HTLC forwarder (`forwarder.rs`).

use super::*;
use crate::failstop::Watch;

/// The listeners LDK's chain data goes to.
pub(super) struct ChainListeners {
    pub(super) channel_manager: Arc<ChannelManager>,
    pub(super) chain_monitor: Arc<ChainMonitor>,
    pub(super) sweeper: Arc<Sweeper>,
    /// The height LDK has processed (the node's `ldk_height`).
    pub(super) height: Arc<AtomicU32>,
    /// Where the spends of channels' funding outputs are recorded (see `closed.rs`).
    pub(super) store: Arc<Store>,
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
        closed::record_funding_spends(&self.chain_monitor, &self.store, txdata, height);
        self.height.store(height, Ordering::Release);
    }

    fn blocks_disconnected(&self, fork_point: BestBlock) {
        self.channel_manager.blocks_disconnected(fork_point);
        self.chain_monitor.blocks_disconnected(fork_point);
        self.sweeper.blocks_disconnected(fork_point);
        if let Err(e) = self.store.forget_funding_spends_above(fork_point.height) {
            tracing::error!("forgetting the funding spends of disconnected blocks failed: {e}");
        }
        self.height.store(fork_point.height, Ordering::Release);
    }
}

/// Polls bitcoind for new blocks every `poll_every` and hands them to LDK's listeners.
pub(super) async fn poll_blocks(
    block_source: Arc<RpcClient>,
    network: bitcoin::Network,
    chain_tip: lightning_block_sync::poll::ValidatedBlockHeader,
    mut cache: UnboundedCache,
    listeners: ChainListeners,
    poll_every: Duration,
) {
    let poller = ChainPoller::new(block_source, network);
    let mut spv = SpvClient::new(chain_tip, poller, &mut cache, &listeners);
    loop {
        if let Err(e) = spv.poll_best_tip().await {
            tracing::warn!("polling bitcoind for blocks failed: {e:?}");
        }
        tokio::time::sleep(poll_every).await;
    }
}

/// Refreshes the fee estimates from bitcoind every [`FEE_REFRESH_INTERVAL`].
pub(super) async fn refresh_fees(fees: Arc<FeeEstimates>, auth: BitcoindAuth) {
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
}

/// Accepts incoming peer connections on `listener`.
pub(super) async fn accept_peers(listener: tokio::net::TcpListener, pm: Arc<PeerManager>) {
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
}

/// Every [`RECONNECT_INTERVAL`], reconnects to channel peers (and `also_wanted`) we are not
/// connected to, and
/// announces our node (alias and addresses of `announce`) every
/// [`NODE_ANNOUNCEMENT_INTERVAL`] while we have a public channel.
pub(super) async fn reconnect_peers(
    pm: Arc<PeerManager>,
    cm: Arc<ChannelManager>,
    store: Arc<Store>,
    announce: (String, Vec<String>),
    also_wanted: Vec<PublicKey>,
) {
    let (alias, addrs) = announce;
    let mut last_announcement: Option<tokio::time::Instant> = None;
    loop {
        reconnect_channel_peers(&pm, &cm, &store, &also_wanted).await;
        let has_public = cm.list_channels().iter().any(|c| c.is_announced && c.is_usable);
        let due = last_announcement.is_none_or(|t| t.elapsed() >= NODE_ANNOUNCEMENT_INTERVAL);
        if has_public && due {
            let addrs = addrs.iter().filter_map(|a| parse_socket_address(a)).collect();
            pm.broadcast_node_announcement([0; 3], node_alias(&alias), addrs);
            last_announcement = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(RECONNECT_INTERVAL).await;
    }
}

/// Starts the wallet sync on its own thread (blocking RPC and SQLite), every `interval` until
/// `stop`.
pub(super) fn sync_wallet(
    wallet: Arc<OnchainWallet>,
    birthday: u32,
    interval: Duration,
    stop: Arc<AtomicBool>,
    watch: Watch,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("boltd-wallet-sync".into()).spawn(move || {
        let _watch = watch;
        wallet.sync_loop(birthday, interval, &stop)
    })
}

/// Starts the refresher of boltd's routing view (kept fresh from the graph, and persisted) on
/// its own thread, until `stop`.
pub(super) fn refresh_routing_view(
    routing: Arc<RoutingEngine>,
    graph: Arc<Graph>,
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    watch: Watch,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("boltd-routing-view".into()).spawn(move || {
        let _watch = watch;
        routing.run_refresher(&graph, &stop, |view| persist_routing_view(&store, view))
    })
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
    also_wanted: &[PublicKey],
) {
    let mut wanted: Vec<PublicKey> =
        cm.list_channels().iter().map(|c| c.counterparty.node_id).collect();
    // The peers of stale channels a recovery waits to see closed (see `recovery`), and the
    // configured LSPs once used (their address is stored when first connected).
    wanted.extend_from_slice(also_wanted);
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
