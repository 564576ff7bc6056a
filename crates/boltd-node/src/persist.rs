//! Channel monitor persistence: LDK's [`MonitorUpdatingPersister`] over the SQLite store. Each
//! [`ChannelMonitorUpdate`] is written as its own small record, and the full monitor is
//! rewritten (and the stored updates removed) every [`MAX_PENDING_UPDATES`] updates; the plain
//! persister rewrote the whole monitor, which grows with every commitment, on every update.
//!
//! Every write is synchronous: it returns, and the update is reported
//! [`ChannelMonitorUpdateStatus::Completed`](lightning::chain::ChannelMonitorUpdateStatus), only
//! once its commit is flushed to disk (the store's group commit lets concurrent writers share
//! the flush). Monitors written by the plain persister are read as they are.
//!
//! [`ChannelMonitorUpdate`]: lightning::chain::channelmonitor::ChannelMonitorUpdate

use std::sync::Arc;

use boltd_store::Store;
use lightning::sign::KeysManager;
use lightning::util::persist::MonitorUpdatingPersister;

use crate::chain::{Broadcaster, FeeEstimates};
use crate::logger::LdkLogger;

/// Updates stored per channel before the full monitor is rewritten: reading a monitor at
/// start-up replays at most this many updates. ldk-node uses the same.
pub const MAX_PENDING_UPDATES: u64 = 100;

/// LDK's update-writing persister over the store (the chain monitor's persister).
pub type MonitorPersister = MonitorUpdatingPersister<
    Arc<Store>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<Broadcaster>,
    Arc<FeeEstimates>,
>;

/// The persister over `store`.
pub fn monitor_persister(
    store: Arc<Store>,
    logger: Arc<LdkLogger>,
    keys_manager: Arc<KeysManager>,
    broadcaster: Arc<Broadcaster>,
    fees: Arc<FeeEstimates>,
) -> MonitorPersister {
    MonitorUpdatingPersister::new(
        store,
        logger,
        MAX_PENDING_UPDATES,
        Arc::clone(&keys_manager),
        keys_manager,
        broadcaster,
        fees,
    )
}
