//! Channel monitor persistence: LDK's [`MonitorUpdatingPersister`] (each update written as a
//! small record, the full monitor rewritten every [`MAX_PENDING_UPDATES`] updates) over the
//! SQLite store, with the disk flushes done in the background and shared.
//!
//! A channel monitor update must be durable before LDK acts on it (sends the commitment, the
//! revocation or the preimage it carries). Done synchronously, every update waits for its own
//! flush while holding the channel: one channel then moves at the disk's flush rate, whatever
//! the number of payments in flight, and the thread that made the update (a runtime worker or
//! the background processor claiming a payment) waits with it.
//!
//! Instead, [`MonitorPersister`] commits the update without waiting (the write is ordered in
//! SQLite's WAL), answers LDK [`ChannelMonitorUpdateStatus::InProgress`] (LDK holds back
//! everything that depends on the update, and may queue more updates meanwhile), and its
//! completion thread flushes the WAL once for every update committed so far (group commit, see
//! [`Store::sync_to`]), then tells the [`ChainMonitor`] each of those updates is complete
//! ([`ChainMonitor::channel_monitor_updated`]); LDK then releases the held messages. Nothing that
//! depends on an update leaves the node before its flush.
//!
//! New channels and chain-sync updates (no [`ChannelMonitorUpdate`]) are rare and stay
//! synchronous.
//!
//! [`ChannelMonitorUpdate`]: lightning::chain::channelmonitor::ChannelMonitorUpdate

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

use boltd_store::Store;
use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::ln::types::ChannelId;
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::persist::{MonitorName, MonitorUpdatingPersister};

use crate::chain::{Broadcaster, FeeEstimates};
use crate::logger::LdkLogger;
use crate::types::ChainMonitor;

/// Updates stored per channel before the full monitor is rewritten (and the updates removed):
/// a monitor grows with every commitment, so rewriting it on every update would cost more and
/// more; reading it at start-up replays at most this many updates. ldk-node uses the same.
pub const MAX_PENDING_UPDATES: u64 = 100;

/// LDK's update-writing persister over the store.
pub type UpdatingPersister = MonitorUpdatingPersister<
    Arc<Store>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<Broadcaster>,
    Arc<FeeEstimates>,
>;

struct Pending {
    channel_id: ChannelId,
    update_id: u64,
    /// The store's commit ticket of the update's write.
    ticket: u64,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    stop: bool,
}

/// Persists channel monitors; see the module documentation.
pub struct MonitorPersister {
    inner: UpdatingPersister,
    store: Arc<Store>,
    chain_monitor: OnceLock<Weak<ChainMonitor>>,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// A flush failed: the pending updates are not durable and never will be reported complete.
    failed: AtomicBool,
}

impl MonitorPersister {
    /// A persister over `store`. Until [`MonitorPersister::start`] it persists synchronously.
    pub fn new(
        store: Arc<Store>,
        logger: Arc<LdkLogger>,
        keys_manager: Arc<KeysManager>,
        broadcaster: Arc<Broadcaster>,
        fees: Arc<FeeEstimates>,
    ) -> MonitorPersister {
        let inner = MonitorUpdatingPersister::new(
            Arc::clone(&store),
            logger,
            MAX_PENDING_UPDATES,
            Arc::clone(&keys_manager),
            keys_manager,
            broadcaster,
            fees,
        );
        MonitorPersister {
            inner,
            store,
            chain_monitor: OnceLock::new(),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            failed: AtomicBool::new(false),
        }
    }

    /// LDK's persister (to read the monitors, with their updates, at start-up).
    pub fn updating_persister(&self) -> &UpdatingPersister {
        &self.inner
    }

    /// Starts the completion thread for `chain_monitor` (which owns this persister); from now on
    /// updates are persisted in the background.
    pub fn start(
        self: &Arc<Self>,
        chain_monitor: &Arc<ChainMonitor>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let _ = self.chain_monitor.set(Arc::downgrade(chain_monitor));
        let me = Arc::clone(self);
        std::thread::Builder::new().name("boltd-monitor-sync".into()).spawn(move || me.run())
    }

    /// Asks the completion thread to finish the updates queued so far and stop.
    pub fn stop(&self) {
        self.queue.lock().unwrap().stop = true;
        self.wake.notify_all();
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut q = self.queue.lock().unwrap();
                while q.pending.is_empty() && !q.stop {
                    q = self.wake.wait(q).unwrap();
                }
                if q.pending.is_empty() {
                    return;
                }
                std::mem::take(&mut q.pending)
            };
            let ticket = batch.iter().map(|p| p.ticket).max().unwrap_or(0);
            if let Err(e) = self.store.sync_to(ticket) {
                // Never report these complete: LDK keeps the channels paused (nothing that
                // depends on the updates leaves the node) until the daemon is restarted.
                tracing::error!(
                    "channel monitor updates could not be made durable ({e}); the channels \
                     are paused: restart boltd"
                );
                self.failed.store(true, Ordering::Release);
                return;
            }
            let Some(chain_monitor) = self.chain_monitor.get().and_then(Weak::upgrade) else {
                return;
            };
            for p in batch {
                if let Err(e) = chain_monitor.channel_monitor_updated(p.channel_id, p.update_id) {
                    tracing::error!(channel_id = %p.channel_id, "completing a monitor update: {e:?}");
                }
            }
        }
    }

    fn background(&self) -> bool {
        self.chain_monitor.get().is_some() && !self.failed.load(Ordering::Acquire)
    }
}

impl Persist<InMemorySigner> for MonitorPersister {
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        self.inner.persist_new_channel(monitor_name, monitor)
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        let Some(update) = update.filter(|_| self.background()) else {
            return self.inner.update_persisted_channel(monitor_name, update, monitor);
        };
        // Committed in WAL order now; flushed by the completion thread.
        let status = self.store.deferring_sync(|_| {
            self.inner.update_persisted_channel(monitor_name, Some(update), monitor)
        });
        if status != ChannelMonitorUpdateStatus::Completed {
            return status;
        }
        let pending = Pending {
            channel_id: monitor.channel_id(),
            update_id: update.update_id,
            ticket: self.store.last_commit(),
        };
        self.queue.lock().unwrap().pending.push(pending);
        self.wake.notify_one();
        ChannelMonitorUpdateStatus::InProgress
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        self.inner.archive_persisted_channel(monitor_name)
    }
}
