//! Channel monitor persistence, ordered with the channel manager's.
//!
//! # The rule: no monitor on disk newer than the manager on disk
//! A channel's state lives in two places LDK persists separately: its `ChannelMonitor` (on every
//! update, before LDK sends what depends on it) and the `ChannelManager` (from the background
//! processor, some time later). If the process dies after a monitor update is on disk but before
//! a manager that knows of it is, LDK finds at start-up a manager older than the monitor ("A
//! ChannelManager is stale compared to the current ChannelMonitor") and force-closes the
//! channel. A kill loop under load did exactly that.
//!
//! boltd writes a monitor update only together with a manager that knows of it, in one SQLite
//! transaction, using LDK's asynchronous monitor persistence:
//! 1. [`GatedPersister`] gives each update a registration number and has LDK's
//!    [`MonitorUpdatingPersister`] serialize it (each update a small record, the full monitor
//!    every [`MAX_PENDING_UPDATES`] updates) into [`MonitorStore`], which holds the writes back,
//!    and answers `InProgress`: LDK holds the messages that depend on the update and keeps it in
//!    the manager's in-flight list (it is there before the monitor is called).
//! 2. The background processor takes the manager through [`GatedManager`], which notes the last
//!    registration; its last take before a manager write is the one that serializes it, so that
//!    manager knows every update registered before.
//! 3. [`BackgroundStore`] writes that manager and the held-back writes of those updates in one
//!    transaction ([`boltd_store::Store::write_batch`]), then [`ManagerGate`] reports them
//!    complete (`ChainMonitor::channel_monitor_updated`), and LDK sends.
//!
//! After a crash, then, a monitor on disk has only updates a manager on disk knows: applied, or
//! in its in-flight list, which LDK replays at start-up; an update the manager never knew was
//! never written. Writes that concern no manager (the whole monitor after new blocks, archiving)
//! go to the store at once when no update is held back, else after the held-back ones. A write
//! that fails is fatal (fail-stop, see [`crate::failstop`]).
//!
//! The cost is that the messages an update releases wait for the next manager write; the store's
//! group commit shares its flush with concurrent writers.
//!
//! With a continuous backup (`backup_dir`, see [`crate::backup`]) every batch the gate writes
//! goes to the store, then to the backup, under the gate's write lock: the backup receives the
//! same batches in the same order, so the rule holds there too, and an update is reported
//! complete only once both have it.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use boltd_store::{KvOp, Store};
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

use crate::backup::Backup;
use crate::chain::{Broadcaster, FeeEstimates};
use crate::failstop::{FailStop, FatalKind};
use crate::logger::LdkLogger;
use crate::types::{ChainMonitor, ChannelManager, MessageRouter, Router};

/// Updates stored per channel before the full monitor is rewritten: reading a monitor at
/// start-up replays at most this many updates. ldk-node uses the same.
pub const MAX_PENDING_UPDATES: u64 = 100;

/// LDK's update-writing persister over [`MonitorStore`].
pub type MonitorPersister = MonitorUpdatingPersister<
    Arc<MonitorStore>,
    Arc<LdkLogger>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<Broadcaster>,
    Arc<FeeEstimates>,
>;

thread_local! {
    /// The registration the monitor writes made on this thread belong to (set by
    /// [`GatedPersister`] around its call into LDK's persister).
    static CALL_SEQ: Cell<Option<u64>> = const { Cell::new(None) };
}

fn with_call_seq<T>(seq: u64, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CALL_SEQ.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CALL_SEQ.with(|c| c.replace(Some(seq))));
    f()
}

/// A monitor update registered and not yet reported complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    channel_id: ChannelId,
    update_id: u64,
    /// Registration order.
    seq: u64,
    /// LDK's persister has handed over the update's writes.
    handed_over: bool,
}

#[derive(Debug, Default)]
struct GateState {
    /// The last registration's number.
    last_seq: u64,
    /// [`GateState::last_seq`] when the background processor last took the manager.
    taken_seq: u64,
    /// Every registration up to this one is known to the manager on disk.
    durable_seq: u64,
    /// Monitor writes held back, in order, with the registration they belong to.
    held: VecDeque<(u64, KvOp)>,
    /// Updates not yet reported complete.
    pending: Vec<Pending>,
    /// The highest update id registered per channel (to tell a whole-monitor write that
    /// carries an update nobody registered: one LDK's monitor refused and applied anyway).
    registered: HashMap<ChannelId, u64>,
}

impl GateState {
    /// Updates whose writes are on disk with a manager that knows of them.
    fn completable(&mut self) -> Vec<Pending> {
        let held: HashSet<u64> = self.held.iter().map(|(seq, _)| *seq).collect();
        let durable = self.durable_seq;
        let (done, rest): (Vec<_>, Vec<_>) = self
            .pending
            .iter()
            .partition(|p| p.seq <= durable && p.handed_over && !held.contains(&p.seq));
        self.pending = rest;
        done
    }
}

/// Orders monitor writes after the manager writes that know of them (see the module docs).
pub struct ManagerGate {
    state: Mutex<GateState>,
    /// Serializes the store writes the gate makes (manager batches and writes let through), so
    /// that they reach the disk in the order they were made.
    writing: Mutex<()>,
    store: Arc<Store>,
    /// The continuous backup, written after the store in every batch (see [`crate::backup`]).
    backup: Option<Arc<Backup>>,
    chain_monitor: OnceLock<Weak<ChainMonitor>>,
}

impl std::fmt::Debug for ManagerGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerGate").field("state", &self.state).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves the state consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn matches_key(op: &KvOp, primary: &str, secondary: &str, key: &str) -> bool {
    op.key() == (primary, secondary, key)
}

impl ManagerGate {
    /// A gate writing to `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self::with_backup(store, None)
    }

    /// A gate writing to `store`, then to `backup` when there is one.
    pub fn with_backup(store: Arc<Store>, backup: Option<Arc<Backup>>) -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            writing: Mutex::new(()),
            store,
            backup,
            chain_monitor: OnceLock::new(),
        }
    }

    /// Writes a batch to the store, then to the backup (the caller holds `writing`).
    fn write_batch(&self, ops: &[KvOp]) -> io::Result<()> {
        match &self.backup {
            Some(backup) => backup.write_batch(&self.store, ops),
            None => self.store.write_batch(ops),
        }
    }

    /// Writes `ops` at once, in order with the gate's other writes, to the store and the
    /// backup (for state the backup holds that is not a monitor's or the manager's: the
    /// sweeper's, the channel peers').
    pub fn write_now(&self, ops: &[KvOp]) -> io::Result<()> {
        let _writing = lock(&self.writing);
        self.write_batch(ops)
    }

    /// The continuous backup, when there is one.
    pub fn backup(&self) -> Option<&Arc<Backup>> {
        self.backup.as_ref()
    }

    /// Whether a write of this key must go through [`ManagerGate::write_now`] to reach the
    /// backup.
    pub fn backs_up(&self, primary: &str, secondary: &str, key: &str) -> bool {
        self.backup.is_some() && crate::backup::is_copied(primary, secondary, key)
    }

    /// The chain monitor to report completions to (set once it exists).
    pub fn set_chain_monitor(&self, chain_monitor: &Arc<ChainMonitor>) {
        let _ = self.chain_monitor.set(Arc::downgrade(chain_monitor));
    }

    /// Registers a monitor update about to be handed over; returns its number.
    fn register(&self, channel_id: ChannelId, update_id: u64) -> u64 {
        let mut s = lock(&self.state);
        s.last_seq += 1;
        let seq = s.last_seq;
        s.pending.push(Pending { channel_id, update_id, seq, handed_over: false });
        let highest = s.registered.entry(channel_id).or_default();
        *highest = (*highest).max(update_id);
        seq
    }

    /// The registration a whole-monitor write of `channel_id` at `latest_update_id` belongs
    /// to: the last one, which covers every update it carries; or, when it carries an update
    /// no registration covers (LDK applies an update its monitor refuses, then writes the whole
    /// monitor), a new one, so that it waits for a manager serialized after it (the manager
    /// pushed that update before calling the monitor).
    fn whole_monitor_seq(&self, channel_id: ChannelId, latest_update_id: u64) -> u64 {
        let mut s = lock(&self.state);
        let highest = s.registered.get(&channel_id).copied().unwrap_or(0);
        if latest_update_id > highest {
            s.last_seq += 1;
            s.registered.insert(channel_id, latest_update_id);
        }
        s.last_seq
    }

    /// LDK's persister handed over the writes of registration `seq`.
    fn handed_over(&self, seq: u64) {
        let mut s = lock(&self.state);
        if let Some(p) = s.pending.iter_mut().find(|p| p.seq == seq) {
            p.handed_over = true;
        }
    }

    /// The last registration (what a write that is not an update's belongs to: the monitor it
    /// writes contains at most the updates registered so far).
    fn last_seq(&self) -> u64 {
        lock(&self.state).last_seq
    }

    /// The background processor takes the manager (to serialize it, among other things).
    fn manager_taken(&self) {
        let mut s = lock(&self.state);
        s.taken_seq = s.last_seq;
    }

    /// A monitor write of registration `seq`: to the store at once when the manager on disk
    /// knows everything it contains and nothing is held back before it, else held back.
    fn write(&self, seq: u64, op: KvOp) -> io::Result<()> {
        let hold = |s: &mut GateState, op: KvOp| -> Option<KvOp> {
            if s.held.is_empty() && seq <= s.durable_seq {
                return Some(op);
            }
            s.held.push_back((seq, op));
            None
        };
        // Held back without waiting for a manager write in progress (LDK holds its locks here).
        let Some(op) = hold(&mut lock(&self.state), op) else { return Ok(()) };
        let _writing = lock(&self.writing);
        // Decided again: a manager write may have come in between.
        let Some(op) = hold(&mut lock(&self.state), op) else { return Ok(()) };
        self.write_batch(&[op])
    }

    /// Reads a key as it will be once the held-back writes are made.
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        // Not while a manager batch is on its way to disk (its writes are in neither place).
        let _writing = lock(&self.writing);
        {
            let s = lock(&self.state);
            let last = s.held.iter().rev().find(|(_, op)| matches_key(op, primary, secondary, key));
            match last {
                Some((_, KvOp::Write { value, .. })) => return Ok(value.clone()),
                Some((_, KvOp::Remove { .. })) => {
                    return Err(io::Error::new(io::ErrorKind::NotFound, format!("{key} removed")))
                }
                None => {}
            }
        }
        KVStoreSync::read(&*self.store, primary, secondary, key)
    }

    /// Lists keys as they will be once the held-back writes are made.
    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        let _writing = lock(&self.writing);
        let stored = KVStoreSync::list(&*self.store, primary, secondary)?;
        let mut keys: BTreeSet<String> = stored.into_iter().collect();
        let s = lock(&self.state);
        for (_, op) in &s.held {
            let (p, sub, key) = op.key();
            if (p, sub) != (primary, secondary) {
                continue;
            }
            match op {
                KvOp::Write { .. } => keys.insert(key.to_string()),
                KvOp::Remove { .. } => keys.remove(key),
            };
        }
        Ok(keys.into_iter().collect())
    }

    /// Writes the manager `bytes`, serialized after registration `covered`, together with the
    /// held-back writes of the registrations up to it, in one transaction; then reports the
    /// updates that are now on disk complete.
    fn write_manager(&self, covered: u64, bytes: Vec<u8>) -> io::Result<()> {
        {
            let _writing = lock(&self.writing);
            let mut batch = vec![KvOp::Write {
                primary: CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE.into(),
                secondary: CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE.into(),
                key: CHANNEL_MANAGER_PERSISTENCE_KEY.into(),
                value: bytes,
            }];
            {
                let mut s = lock(&self.state);
                // Only a prefix: the order of the writes is kept.
                while s.held.front().is_some_and(|(seq, _)| *seq <= covered) {
                    batch.extend(s.held.pop_front().map(|(_, op)| op));
                }
            }
            self.write_batch(&batch)?;
            let mut s = lock(&self.state);
            s.durable_seq = s.durable_seq.max(covered);
        }
        // Outside the gate's locks: LDK takes its own (a persister call may hold them and
        // wait for `writing`).
        self.complete_ready();
        Ok(())
    }

    /// Reports complete the updates whose writes are on disk with a manager that knows of them.
    fn complete_ready(&self) {
        let done = lock(&self.state).completable();
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

    /// Whether an update of `channel_id` is not yet reported complete.
    pub fn is_updating(&self, channel_id: &ChannelId) -> bool {
        lock(&self.state).pending.iter().any(|p| p.channel_id == *channel_id)
    }

    /// Monitor updates not yet reported complete, and monitor writes held back (for tests and
    /// diagnostics).
    pub fn pending(&self) -> (usize, usize) {
        let s = lock(&self.state);
        (s.pending.len(), s.held.len())
    }
}

/// The key-value store of LDK's monitor persister: writes go through the [`ManagerGate`].
pub struct MonitorStore {
    gate: Arc<ManagerGate>,
}

impl MonitorStore {
    /// Writes through `gate`.
    pub fn new(gate: Arc<ManagerGate>) -> Self {
        Self { gate }
    }

    fn seq(&self) -> u64 {
        CALL_SEQ.with(Cell::get).unwrap_or_else(|| self.gate.last_seq())
    }
}

impl KVStoreSync for MonitorStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        self.gate.read(primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        let op = KvOp::Write {
            primary: primary.into(),
            secondary: secondary.into(),
            key: key.into(),
            value: buf,
        };
        self.gate.write(self.seq(), op)
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, _lazy: bool) -> io::Result<()> {
        let op =
            KvOp::Remove { primary: primary.into(), secondary: secondary.into(), key: key.into() };
        self.gate.write(self.seq(), op)
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        self.gate.list(primary, secondary)
    }
}

/// The persister over `gate`.
pub fn monitor_persister(
    gate: Arc<ManagerGate>,
    logger: Arc<LdkLogger>,
    keys_manager: Arc<KeysManager>,
    broadcaster: Arc<Broadcaster>,
    fees: Arc<FeeEstimates>,
) -> MonitorPersister {
    MonitorUpdatingPersister::new(
        Arc::new(MonitorStore::new(gate)),
        logger,
        MAX_PENDING_UPDATES,
        Arc::clone(&keys_manager),
        keys_manager,
        broadcaster,
        fees,
    )
}

/// The chain monitor's persister: updates complete through the [`ManagerGate`].
pub struct GatedPersister {
    inner: MonitorPersister,
    gate: Arc<ManagerGate>,
    fail_stop: FailStop,
}

impl GatedPersister {
    /// Persists through `inner` (which writes into a [`MonitorStore`] of the same `gate`); a
    /// failed write stops the node through `fail_stop`.
    pub fn new(inner: MonitorPersister, gate: Arc<ManagerGate>, fail_stop: FailStop) -> Self {
        Self { inner, gate, fail_stop }
    }

    /// LDK's persister (start-up reads the monitors through it).
    pub fn inner(&self) -> &MonitorPersister {
        &self.inner
    }

    /// Hands an update over to LDK's persister under a new registration; LDK hears it is in
    /// progress.
    fn gated(
        &self,
        channel_id: ChannelId,
        update_id: u64,
        persist: impl FnOnce() -> ChannelMonitorUpdateStatus,
    ) -> ChannelMonitorUpdateStatus {
        let seq = self.gate.register(channel_id, update_id);
        match with_call_seq(seq, persist) {
            ChannelMonitorUpdateStatus::Completed | ChannelMonitorUpdateStatus::InProgress => {
                self.gate.handed_over(seq);
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
        self.gated(monitor.channel_id(), monitor.get_latest_update_id(), || {
            self.inner.persist_new_channel(monitor_name, monitor)
        })
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<InMemorySigner>,
    ) -> ChannelMonitorUpdateStatus {
        match update {
            Some(u) => self.gated(monitor.channel_id(), u.update_id, || {
                self.inner.update_persisted_channel(monitor_name, update, monitor)
            }),
            // The whole monitor after new blocks (or after an update the monitor refused): LDK
            // does not wait for it, and a copy lost in a crash only means replaying blocks. It is
            // written once a manager that knows every update it carries is.
            None => {
                let seq = self
                    .gate
                    .whole_monitor_seq(monitor.channel_id(), monitor.get_latest_update_id());
                match with_call_seq(seq, || {
                    self.inner.update_persisted_channel(monitor_name, None, monitor)
                }) {
                    ChannelMonitorUpdateStatus::UnrecoverableError => {
                        self.failed(monitor.channel_id())
                    }
                    other => other,
                }
            }
        }
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        let seq = self.gate.last_seq();
        with_call_seq(seq, || {
            Persist::<InMemorySigner>::archive_persisted_channel(&self.inner, monitor_name)
        })
    }
}

/// The channel manager as the background processor sees it: taking it tells the gate, and
/// reports complete what a write already made durable.
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

    /// The background processor takes the manager for everything it does (on its own thread,
    /// holding none of LDK's locks), serializing it included (`get_cm().encode()` right before
    /// the write): the last take before a manager write is the one that serialized it. Each
    /// take also reports complete the updates a manager write already made durable whose
    /// hand-over finished after that write (so they do not wait for the next one).
    fn get_cm(&self) -> &ChannelManager {
        self.gate.complete_ready();
        self.gate.manager_taken();
        &self.channel_manager
    }
}

/// The background processor's store (and the output sweeper's, which LDK's background
/// processor requires to be the same): the channel manager's writes go through the
/// [`ManagerGate`] with the monitor writes they cover; everything else goes to the store as it
/// is.
pub struct BackgroundStore {
    store: Arc<Store>,
    gate: Arc<ManagerGate>,
    fail_stop: FailStop,
}

impl BackgroundStore {
    /// Over `store`, with `gate`.
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
            if self.gate.backs_up(primary, secondary, key) {
                let op = KvOp::Write {
                    primary: primary.into(),
                    secondary: secondary.into(),
                    key: key.into(),
                    value: buf,
                };
                return self.gate.write_now(&[op]).inspect_err(|e| {
                    self.fail_stop.fail(FatalKind::Storage, &format!("cannot persist {key}: {e}"));
                });
            }
            return KVStoreSync::write(&*self.store, primary, secondary, key, buf);
        }
        let covered = lock(&self.gate.state).taken_seq;
        self.gate.write_manager(covered, buf).inspect_err(|e| {
            // Without a durable manager, held monitor updates can never complete.
            self.fail_stop
                .fail(FatalKind::Storage, &format!("cannot persist the channel manager: {e}"));
        })
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        if self.gate.backs_up(primary, secondary, key) {
            let op = KvOp::Remove {
                primary: primary.into(),
                secondary: secondary.into(),
                key: key.into(),
            };
            return self.gate.write_now(&[op]).inspect_err(|e| {
                self.fail_stop.fail(FatalKind::Storage, &format!("cannot remove {key}: {e}"));
            });
        }
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

    fn gate() -> (tempfile::TempDir, Arc<ManagerGate>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (dir, Arc::new(ManagerGate::new(store)))
    }

    fn update(gate: &ManagerGate, channel: u8, update_id: u64, key: &str) -> u64 {
        let seq = gate.register(id(channel), update_id);
        with_call_seq(seq, || {
            let op = KvOp::Write {
                primary: "monitor_updates".into(),
                secondary: "".into(),
                key: key.into(),
                value: vec![channel],
            };
            gate.write(seq, op).unwrap();
        });
        gate.handed_over(seq);
        seq
    }

    fn on_disk(gate: &ManagerGate, key: &str) -> bool {
        KVStoreSync::read(&*gate.store, "monitor_updates", "", key).is_ok()
    }

    #[test]
    fn monitor_writes_reach_the_disk_only_with_a_manager_that_knows_of_them() {
        let (_dir, gate) = gate();
        update(&gate, 1, 5, "a5");
        update(&gate, 2, 9, "b9");
        gate.manager_taken();
        // Registered after the manager was serialized: not written with it.
        update(&gate, 1, 6, "a6");
        assert!(!on_disk(&gate, "a5"), "held back until a manager knows of it");
        assert_eq!(gate.read("monitor_updates", "", "a5").unwrap(), vec![1], "reads see it");
        assert_eq!(gate.list("monitor_updates", "").unwrap(), vec!["a5", "a6", "b9"]);
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![0xaa]).unwrap();
        assert!(on_disk(&gate, "a5") && on_disk(&gate, "b9"));
        assert!(!on_disk(&gate, "a6"), "the manager on disk does not know update 6");
        assert_eq!(gate.pending(), (1, 1));
        gate.manager_taken();
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![0xbb]).unwrap();
        assert!(on_disk(&gate, "a6"));
        assert_eq!(gate.pending(), (0, 0));
    }

    #[test]
    fn a_whole_monitor_carrying_an_unregistered_update_waits_for_a_later_manager() {
        let (_dir, gate) = gate();
        update(&gate, 4, 7, "d7");
        gate.manager_taken();
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![1]).unwrap();
        // At the registered update: covered by the manager on disk, written at once.
        let seq = gate.whole_monitor_seq(id(4), 7);
        assert!(seq <= lock(&gate.state).durable_seq);
        // Carrying update 8, which nobody registered: only with a manager taken after it.
        let seq = gate.whole_monitor_seq(id(4), 8);
        assert!(seq > lock(&gate.state).durable_seq);
        let op = KvOp::Write {
            primary: "monitors".into(),
            secondary: "".into(),
            key: "d".into(),
            value: vec![8],
        };
        gate.write(seq, op).unwrap();
        assert!(KVStoreSync::read(&*gate.store, "monitors", "", "d").is_err());
        gate.manager_taken();
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![2]).unwrap();
        assert!(KVStoreSync::read(&*gate.store, "monitors", "", "d").is_ok());
    }

    #[test]
    fn a_write_no_update_is_waiting_for_goes_to_disk_at_once_and_in_order() {
        let (_dir, gate) = gate();
        let op = |key: &str| KvOp::Write {
            primary: "monitors".into(),
            secondary: "".into(),
            key: key.into(),
            value: vec![1],
        };
        // Nothing registered: the manager on disk (none yet) knows everything it contains.
        gate.write(gate.last_seq(), op("m1")).unwrap();
        assert!(KVStoreSync::read(&*gate.store, "monitors", "", "m1").is_ok());
        // With an update held back, a later whole-monitor write waits behind it.
        update(&gate, 3, 1, "c1");
        gate.write(gate.last_seq(), op("m2")).unwrap();
        assert!(KVStoreSync::read(&*gate.store, "monitors", "", "m2").is_err());
        gate.manager_taken();
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![1]).unwrap();
        assert!(KVStoreSync::read(&*gate.store, "monitors", "", "m2").is_ok());
    }

    #[test]
    fn with_a_backup_a_manager_batch_reaches_both_or_completes_nothing() {
        use crate::backup::{Backup, BackupMode};
        let data = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::keys::Seed::create(data.path()).unwrap();
        let store = Arc::new(Store::open(data.path()).unwrap());
        let backup =
            Arc::new(Backup::open(dir.path(), BackupMode::FailStop, &store, data.path()).unwrap());
        let gate = ManagerGate::with_backup(Arc::clone(&store), Some(Arc::clone(&backup)));
        update(&gate, 1, 5, "a5");
        gate.manager_taken();
        backup.inject_failure(true);
        let covered = lock(&gate.state).taken_seq;
        assert!(gate.write_manager(covered, vec![0xaa]).is_err());
        assert_eq!(lock(&gate.state).durable_seq, 0, "nothing reported complete");
        assert_eq!(gate.pending().0, 1);
        backup.inject_failure(false);
        update(&gate, 1, 6, "a6");
        gate.manager_taken();
        let covered = lock(&gate.state).taken_seq;
        gate.write_manager(covered, vec![0xbb]).unwrap();
        let in_backup = |key: &str| KVStoreSync::read(&*backup.store(), "monitor_updates", "", key);
        assert_eq!(in_backup("a6").unwrap(), vec![1]);
        let manager = KVStoreSync::read(
            &*backup.store(),
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        );
        assert_eq!(manager.unwrap(), vec![0xbb]);
        assert_eq!(gate.pending(), (0, 0));
    }
}
