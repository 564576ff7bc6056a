//! The concrete LDK types the node is composed of.

use std::sync::Arc;

use boltd_store::Store;
use lightning::chain::{chainmonitor, Filter};
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::routing::gossip;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::sweep::OutputSweeperSync;
use lightning_liquidity::utils::time::DefaultTimeProvider;
use lightning_net_tokio::SocketDescriptor;

use crate::chain::{Broadcaster, FeeEstimates};
use crate::logger::LdkLogger;
use crate::persist::{BackgroundStore, GatedPersister};
use crate::wallet::OnchainWallet;

/// A chain filter. boltd reads full blocks from bitcoind, so none is installed; the type exists
/// because LDK's generics ask for one.
pub type ChainFilter = Arc<dyn Filter + Send + Sync>;

/// Persists channel monitors through the SQLite store ([`GatedPersister`]: small update
/// records, each durable before it is reported complete, and reported complete only once a
/// channel manager that knows of it is durable too).
pub type ChainMonitor = chainmonitor::ChainMonitor<
    InMemorySigner,
    ChainFilter,
    Arc<Broadcaster>,
    Arc<FeeEstimates>,
    Arc<LdkLogger>,
    Arc<GatedPersister>,
    Arc<KeysManager>,
>;

pub use boltd_routing::types::{Graph, Scorer};

/// The router: boltd's route search ([`boltd_routing`]) with a per-payment policy
/// (exclusions, risk factor, randomization), LDK's for blinded payees; see
/// [`boltd_routing::router`].
pub type Router = boltd_routing::router::NodeRouter;

/// Routes onion messages (BOLT12): directly to peers, otherwise through the channel graph; see
/// [`crate::message_router`].
pub type MessageRouter = crate::message_router::NodeMessageRouter;

/// The channel manager.
pub type ChannelManager = lightning::ln::channelmanager::ChannelManager<
    Arc<ChainMonitor>,
    Arc<Broadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<FeeEstimates>,
    Arc<Router>,
    Arc<MessageRouter>,
    Arc<LdkLogger>,
>;

/// The onion messenger.
pub type OnionMessenger = lightning::onion_message::messenger::OnionMessenger<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<LdkLogger>,
    Arc<ChannelManager>,
    Arc<MessageRouter>,
    Arc<ChannelManager>,
    Arc<ChannelManager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
>;

/// Gossip lookups of funding outputs (not verified against the chain yet).
pub type GossipUtxoLookup = Arc<dyn UtxoLookup + Send + Sync>;

/// P2P gossip sync.
pub type P2PGossipSync = gossip::P2PGossipSync<Arc<Graph>, GossipUtxoLookup, Arc<LdkLogger>>;

/// P2P gossip sync, watched for graph changes by boltd's routing engine.
pub type GossipHandler = boltd_routing::GossipWatch<Arc<P2PGossipSync>>;

/// The peer manager.
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
    SocketDescriptor,
    Arc<ChannelManager>,
    Arc<GossipHandler>,
    Arc<OnionMessenger>,
    Arc<LdkLogger>,
    Arc<LiquidityManager>,
    Arc<KeysManager>,
    Arc<ChainMonitor>,
>;

/// Sweeps outputs of closed channels back into the wallet.
pub type Sweeper = OutputSweeperSync<
    Arc<Broadcaster>,
    Arc<OnchainWallet>,
    Arc<FeeEstimates>,
    ChainFilter,
    Arc<BackgroundStore>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
>;

/// LDK's liquidity manager (LSPS messages, LSPS2 client and service; see
/// [`crate::liquidity`]), its state in the store.
pub type LiquidityManager = lightning_liquidity::LiquidityManagerSync<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<ChannelManager>,
    ChainFilter,
    Arc<Store>,
    Arc<DefaultTimeProvider>,
    Arc<Broadcaster>,
>;

/// The on-chain wallet as the coin source of anchor fee bumps.
pub type BumpWallet =
    lightning::events::bump_transaction::sync::WalletSync<Arc<OnchainWallet>, Arc<LdkLogger>>;

/// LDK's handler of `Event::BumpTransaction` (anchor channels' force closes).
pub type BumpHandler = lightning::events::bump_transaction::sync::BumpTransactionEventHandlerSync<
    Arc<Broadcaster>,
    Arc<BumpWallet>,
    Arc<KeysManager>,
    Arc<LdkLogger>,
>;
