//! Channel monitor persistence, ordered with the channel manager's.
//!
//! # The rule: no monitor newer than the manager on disk
//! A channel's state lives in two places LDK persists separately: its `ChannelMonitor` (written
//! on every update, before LDK sends the message that depends on it) and the `ChannelManager`
//! (written by the background processor, some time later). If the process dies after a monitor
//! update is durable but before a manager that knows of it is, LDK finds at start-up a manager
//! older than the monitor ("A ChannelManager is stale compared to the current ChannelMonitor")
//! and force-closes the channel. A kill loop under load did exactly that.
//!
//! boltd closes that window with LDK's asynchronous monitor persistence:
//! 1. [`GatedPersister`] writes each monitor update durably (LDK's [`MonitorUpdatingPersister`]
//!    over the store: each update a small record, the full monitor every
//!    [`MAX_PENDING_UPDATES`] updates) and answers `InProgress`. LDK then holds the messages
//!    that depend on the update, and keeps the update in the manager's in-flight list.
//! 2. The background processor writes the manager. It takes it through [`GatedManager`], which
//!    notes which updates were registered before the manager was serialized: the manager keeps
//!    an update in flight from before it calls the monitor until completion, so the serialized
//!    manager knows every update registered before it was taken.
//! 3. Once that manager write is durable ([`BackgroundStore`]), [`ManagerGate`] reports those
//!    updates complete (`ChainMonitor::channel_monitor_updated`), and LDK sends the messages.
//!
//! So a manager on disk is never older than a monitor: after a crash LDK finds the update either
//! applied by the monitor or in the manager's in-flight list, which it replays. Monitor writes
//! from block connections (no update: the full monitor) do not concern the manager and are
//! reported complete at once. A write that fails is fatal (fail-stop, see [`crate::failstop`]).
//!
//! The cost is one manager write between a monitor update and the messages it releases; the
//! store's group commit shares the flush with concurrent writers.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use boltd_store::Store;
use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::io;
use lightning::ln::channelmanager::AChannelManager;
use lightning::ln::types::ChannelId;
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::persist::{
    KVStoreSync, MonitorName, MonitorUpdatingPersister, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};

use crate::chain::{Broadcaster, FeeEstimates};
use crate::failstop::{FailStop, FatalKind};
use crate::logger::LdkLogger;
use crate::types::{ChainMonitor, ChannelManager, MessageRouter, Router};

/// Updates stored per channel before the full monitor is rewritten: reading a monitor at
/// start-up replays at most this many updates. ldk-node uses the same.
pub const MAX_PENDING_UPDATES: u64 = 100;

/// LDK's update-writing persister over the store: every write is durable when it returns.
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

/// A monitor update written but not yet reported complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    channel_id: ChannelId,
    update_id: u64,
    /// Registration order (see [`ManagerGate`]).
    seq: u64,
}

#[derive(Debug, Default)]
struct GateState {
    pending: Vec<Pending>,
    /// The last registration's number.
    last_seq: u64,
    /// [`GateState::last_seq`] when the background processor last took the manager.
    taken_seq: u64,
}

/// Completes monitor updates once a channel manager that knows of them is durable (see the
/// module docs).
pub struct ManagerGate {
    state: Mutex<GateState>,
    chain_monitor: OnceLock<Weak<ChainMonitor>>,
}

impl std::fmt::Debug for ManagerGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerGate").field("state", &self.state).finish_non_exhaustive()
    }
}

impl ManagerGate {
    fn new() -> Self {
        Self { state: Mutex::new(GateState::default()), chain_monitor: OnceLock::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // Nothing below can leave the state half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain monitor to report completions to (set once it exists).
    fn set_chain_monitor(&self, chain_monitor: &Arc<ChainMonitor>) {
        let _ = self.chain_monitor.set(Arc::downgrade(chain_monitor));
    }

    /// A monitor update is durable and waits for a manager write.
    fn register(&self, channel_id: ChannelId, update_id: u64) {
        let mut s = self.lock();
        s.last_seq += 1;
        let seq = s.last_seq;
        s.pending.push(Pending { channel_id, update_id, seq });
    }

    /// The background processor takes the manager (to serialize it, among other things).
    fn manager_taken(&self) {
        let mut s = self.lock();
        s.taken_seq = s.last_seq;
    }

    /// The registrations the manager now being written knows of: those made before it was
    /// last taken.
    fn covered(&self) -> u64 {
        self.lock().taken_seq
    }

    /// Takes the updates registered up to `covered` out of the pending list.
    fn take_through(&self, covered: u64) -> Vec<Pending> {
        let mut s = self.lock();
        let (done, rest): (Vec<_>, Vec<_>) = s.pending.iter().partition(|p| p.seq <= covered);
        s.pending = rest;
        done
    }

    /// A manager that knows of the updates registered up to `covered` is durable: report them
    /// complete.
    fn manager_durable(&self, covered: u64) {
        let done = self.take_through(covered);
        if done.is_empty() {
            return;
        }
        let Some(chain_monitor) = self.chain_monitor.get().and_then(Weak::upgrade) else {
            return;
        };
        for p in done {
            // A monitor archived meanwhile (its channel closed long ago) has nothing to resume.
            if let Err(e) = chain_monitor.channel_monitor_updated(p.channel_id, p.update_id) {
                tracing::debug!(channel_id = %p.channel_id, "monitor update completion: {e:?}");
            }
        }
    }

    /// Updates waiting for a manager write (for tests and diagnostics).
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }
}

/// The chain monitor's persister: durable writes, completed through the [`ManagerGate`].
pub struct GatedPersister {
    inner: MonitorPersister,
    gate: Arc<ManagerGate>,
    fail_stop: FailStop,
}

impl GatedPersister {
    /// Persists through `inner`, completing updates through a new gate; a failed write stops
    /// the node through `fail_stop`.
    pub fn new(inner: MonitorPersister, fail_stop: FailStop) -> Self {
        Self { inner, gate: Arc::new(ManagerGate::new()), fail_stop }
    }

    /// LDK's persister (start-up reads the monitors through it).
    pub fn inner(&self) -> &MonitorPersister {
        &self.inner
    }

    /// The gate, once the chain monitor that reports to it exists.
    pub fn gate_for(&self, chain_monitor: &Arc<ChainMonitor>) -> Arc<ManagerGate> {
        self.gate.set_chain_monitor(chain_monitor);
        Arc::clone(&self.gate)
    }

    /// What LDK hears of a write the manager is waiting for.
    fn gated(
        &self,
        written: ChannelMonitorUpdateStatus,
        channel_id: ChannelId,
        update_id: u64,
    ) -> ChannelMonitorUpdateStatus {
        match written {
            ChannelMonitorUpdateStatus::Completed | ChannelMonitorUpdateStatus::InProgress => {
                self.gate.register(channel_id, update_id);
                ChannelMonitorUpdateStatus::InProgress
            }
            ChannelMonitorUpdateStatus::UnrecoverableError => self.failed(channel_id),
        }
    }

    fn failed(&self, channel_id: ChannelId) -> ChannelMonitorUpdateStatus {
        self.fail_stop.fail(
            FatalKind::Storage,
            &format!("cannot persist the channel monitor of channel {channel_id}"),
        );
        ChannelMonitorUpdateStatus::UnrecoverableError
    }
}

impl Persist<InMemorySigner> for GatedPersister {
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        let written = self.inner.persist_new_channel(monitor_name, monitor);
        self.gated(written, monitor.channel_id(), monitor.get_latest_update_id())
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        let written = self.inner.update_persisted_channel(monitor_name, update, monitor);
        match update {
            Some(u) => self.gated(written, monitor.channel_id(), u.update_id),
            // The whole monitor after new blocks: no manager is waiting for it.
            None => match written {
                ChannelMonitorUpdateStatus::UnrecoverableError => self.failed(monitor.channel_id()),
                other => other,
            },
        }
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        Persist::<InMemorySigner>::archive_persisted_channel(&self.inner, monitor_name)
    }
}

/// The channel manager as the background processor sees it: taking it tells the gate.
pub struct GatedManager {
    channel_manager: Arc<ChannelManager>,
    gate: Arc<ManagerGate>,
}

impl GatedManager {
    /// `channel_manager`, reporting to `gate`.
    pub fn new(channel_manager: Arc<ChannelManager>, gate: Arc<ManagerGate>) -> Self {
        Self { channel_manager, gate }
    }
}

impl AChannelManager for GatedManager {
    type Watch = ChainMonitor;
    type M = Arc<ChainMonitor>;
    type Broadcaster = Broadcaster;
    type T = Arc<Broadcaster>;
    type EntropySource = KeysManager;
    type ES = Arc<KeysManager>;
    type NodeSigner = KeysManager;
    type NS = Arc<KeysManager>;
    type Signer = InMemorySigner;
    type SignerProvider = KeysManager;
    type SP = Arc<KeysManager>;
    type FeeEstimator = FeeEstimates;
    type F = Arc<FeeEstimates>;
    type Router = Router;
    type R = Arc<Router>;
    type MessageRouter = MessageRouter;
    type MR = Arc<MessageRouter>;
    type Logger = LdkLogger;
    type L = Arc<LdkLogger>;

    /// The background processor takes the manager for everything it does, serializing it
    /// included (`get_cm().encode()` right before the write): the last take before a manager
    /// write is the one that serialized it.
    fn get_cm(&self) -> &ChannelManager {
        self.gate.manager_taken();
        &self.channel_manager
    }
}

/// The background processor's store (and the output sweeper's, which LDK's background
/// processor requires to be the same): the channel manager's writes complete the monitor
/// updates they cover; everything else goes to the store as it is.
pub struct BackgroundStore {
    store: Arc<Store>,
    gate: Arc<ManagerGate>,
    fail_stop: FailStop,
}

impl BackgroundStore {
    /// Over `store`, completing through `gate`.
    pub fn new(store: Arc<Store>, gate: Arc<ManagerGate>, fail_stop: FailStop) -> Self {
        Self { store, gate, fail_stop }
    }
}

fn is_manager(primary: &str, secondary: &str, key: &str) -> bool {
    (primary, secondary, key)
        == (
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )
}

impl KVStoreSync for BackgroundStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&*self.store, primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        if !is_manager(primary, secondary, key) {
            return KVStoreSync::write(&*self.store, primary, secondary, key, buf);
        }
        let covered = self.gate.covered();
        if let Err(e) = KVStoreSync::write(&*self.store, primary, secondary, key, buf) {
            // Without a durable manager, held monitor updates can never complete.
            self.fail_stop
                .fail(FatalKind::Storage, &format!("cannot persist the channel manager: {e}"));
            return Err(e);
        }
        self.gate.manager_durable(covered);
        Ok(())
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(&*self.store, primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&*self.store, primary, secondary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChannelId {
        ChannelId([n; 32])
    }

    #[test]
    fn a_manager_write_covers_what_was_registered_before_it_was_taken() {
        let gate = ManagerGate::new();
        gate.register(id(1), 5);
        gate.register(id(2), 9);
        gate.manager_taken();
        // Registered after the manager was serialized: not covered by this write.
        gate.register(id(1), 6);
        let covered = gate.covered();
        assert_eq!(
            gate.take_through(covered)
                .iter()
                .map(|p| (p.channel_id, p.update_id))
                .collect::<Vec<_>>(),
            vec![(id(1), 5), (id(2), 9)]
        );
        assert_eq!(gate.pending(), 1);
        // The next write, taken after the last registration, covers it.
        gate.manager_taken();
        let covered = gate.covered();
        assert_eq!(gate.take_through(covered).len(), 1);
        assert_eq!(gate.pending(), 0);
    }

    #[test]
    fn a_write_whose_manager_was_taken_before_any_registration_covers_nothing() {
        let gate = ManagerGate::new();
        gate.manager_taken();
        let covered = gate.covered();
        gate.register(id(3), 1);
        assert!(gate.take_through(covered).is_empty());
        assert_eq!(gate.pending(), 1);
    }
}
