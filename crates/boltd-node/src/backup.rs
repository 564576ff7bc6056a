//! Continuous backup of the channel state to a second directory (`backup_dir`).
//!
//! # What and when
//! The backup directory holds a database of the same format as the data directory's
//! (`boltd.sqlite`, only its `kv` table used) and a copy of the seed (`seed.mnemonic`, mode
//! 0600). Every write of the channel state goes to the data directory's database first, then to
//! the backup's, in the same order and in batches of the same shape, each one transaction in
//! both, and before LDK hears that a monitor update is complete:
//!
//! - the channel monitors and their updates, and the channel manager (through the
//!   [`crate::persist::ManagerGate`], whose batches carry a manager together with the monitor
//!   updates it knows of: the rule "no monitor newer than the manager" holds in the backup as
//!   it does in the data directory);
//! - the output sweeper's state, the channel peers' addresses and the wallet's birthday.
//!
//! Not copied: the network graph, the scorer and the routing view (rebuilt from gossip), the
//! on-chain wallet's tables (rebuilt from the seed by a rescan from its birthday), and boltd's
//! records (payments, invoices, tokens, events: they are in the exported archive, see
//! [`crate::archive`]).
//!
//! # Failures
//! In `fail_stop` mode a failed backup write is a failed write: the node stops (see
//! [`crate::failstop`]), the update it carried was never reported complete. In `best_effort`
//! mode the node logs it, keeps running and marks the backup behind; the next write that
//! succeeds copies the whole channel state again in one transaction.
//!
//! # Which copy is newer
//! Each batch also writes a sequence number (`boltd_backup/sequence`), in the same transaction,
//! to both databases. At start-up, a backup whose number is higher than the data directory's
//! means the data directory is older than its backup (a data directory put back from an old
//! copy): starting from it could broadcast revoked state, so the node refuses to start. Else the
//! backup is brought up to date with one full copy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use boltd_store::{KvOp, Store};
use lightning::io;
use lightning::util::persist::{
    KVStoreSync, MigratableKVStore as _, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};

use crate::error::{NodeError, NodeResult};
use crate::keys::Seed;

/// KV namespace of the backup's bookkeeping.
pub const BACKUP_NAMESPACE: &str = "boltd_backup";
/// Key (in [`BACKUP_NAMESPACE`]) of the sequence number of the last batch written to both.
pub const SEQUENCE_KEY: &str = "sequence";

/// Keys of boltd's own namespace that are not copied (rebuilt at start-up).
const NOT_COPIED_BOLTD_KEYS: [&str; 1] = ["routing_view"];

/// What a failed backup write does (`backup_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMode {
    /// The node stops, as after a failed write to the data directory.
    FailStop,
    /// The node logs it and copies everything again at the next write that succeeds.
    BestEffort,
}

impl BackupMode {
    /// Parses `fail_stop` or `best_effort` (the configuration has checked it already).
    pub fn parse(mode: &str) -> NodeResult<Self> {
        match mode {
            "fail_stop" => Ok(BackupMode::FailStop),
            "best_effort" => Ok(BackupMode::BestEffort),
            other => Err(NodeError::Config(format!("unknown backup_mode `{other}`"))),
        }
    }
}

/// The continuous backup's state, as `GET /api/v1/node/info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BackupStatus {
    /// The backup directory.
    pub dir: String,
    /// `fail_stop` or `best_effort`.
    pub mode: String,
    /// The backup missed a write and is behind the data directory until the next write that
    /// succeeds (best effort only): a restore from it now would be a stale one.
    pub behind: bool,
}

/// Whether a key is part of the channel state the backup holds.
pub fn is_copied(primary: &str, secondary: &str, key: &str) -> bool {
    let graph = (
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
    );
    let scorer = (
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        SCORER_PERSISTENCE_KEY,
    );
    let this = (primary, secondary, key);
    if this == graph || this == scorer || primary == BACKUP_NAMESPACE {
        return false;
    }
    !(primary == "boltd" && NOT_COPIED_BOLTD_KEYS.contains(&key))
}

#[derive(Debug, Default)]
struct State {
    /// The sequence number of the last batch written to the data directory.
    sequence: u64,
    /// The backup missed a write (best effort): copy everything at the next one.
    behind: bool,
}

/// The continuous backup target (see the module docs).
pub struct Backup {
    dir: PathBuf,
    /// The backup's database; reopened before a catch-up (a failed flush makes a store fail
    /// for good).
    store: Mutex<Store>,
    mode: BackupMode,
    state: Mutex<State>,
    /// Fault injection: the next backup writes fail.
    #[cfg(test)]
    fail: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("dir", &self.dir)
            .field("mode", &self.mode)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sequence number stored in `store` (0 when none).
pub fn read_sequence(store: &Store) -> io::Result<u64> {
    match KVStoreSync::read(store, BACKUP_NAMESPACE, "", SEQUENCE_KEY) {
        Ok(bytes) => {
            let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "backup sequence is not 8 bytes")
            })?;
            Ok(u64::from_be_bytes(arr))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

fn sequence_op(sequence: u64) -> KvOp {
    KvOp::Write {
        primary: BACKUP_NAMESPACE.into(),
        secondary: String::new(),
        key: SEQUENCE_KEY.into(),
        value: sequence.to_be_bytes().to_vec(),
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::Other, e.to_string())
}

impl Backup {
    /// Opens (or creates) the backup in `dir` for the node whose data directory's database is
    /// `primary` and whose seed is in `data_dir`; copies the seed there if it is not, and brings
    /// the backup up to date. Refuses a backup of another node (another seed) and a backup newer
    /// than the data directory.
    pub fn open(
        dir: &Path,
        mode: BackupMode,
        primary: &Store,
        data_dir: &Path,
    ) -> NodeResult<Backup> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let seed_here = std::fs::read_to_string(Seed::path(data_dir))?;
        match std::fs::read_to_string(Seed::path(dir)) {
            Ok(there) if there.trim() == seed_here.trim() => {}
            Ok(_) => {
                return Err(NodeError::Config(format!(
                    "backup_dir {} holds the backup of another node (another seed)",
                    dir.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Seed::read(data_dir)?
                    .ok_or_else(|| NodeError::Config("the seed is missing".into()))?
                    .write_to(dir)?;
            }
            Err(e) => return Err(e.into()),
        }
        let store = Store::open(dir)?;
        let here = read_sequence(primary)?;
        let there = read_sequence(&store)?;
        if there > here {
            return Err(NodeError::Config(format!(
                "backup_dir {} holds newer channel state (write {there}) than the data directory \
                 (write {here}): the data directory is older than its backup and starting from it \
                 could broadcast revoked state. Restore from the backup (`boltd restore \
                 --from-backup-dir`) or, if the backup is the one to drop, move it away",
                dir.display()
            )));
        }
        let backup = Backup {
            dir: dir.to_path_buf(),
            store: Mutex::new(store),
            mode,
            state: Mutex::new(State { sequence: here, behind: true }),
            #[cfg(test)]
            fail: std::sync::atomic::AtomicBool::new(false),
        };
        let started = std::time::Instant::now();
        backup.copy_all(primary, here).map_err(NodeError::from)?;
        lock(&backup.state).behind = false;
        tracing::info!(
            backup_dir = %dir.display(),
            ?mode,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "continuous backup up to date"
        );
        Ok(backup)
    }

    /// The backup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The backup's state.
    pub fn status(&self) -> BackupStatus {
        let mode = match self.mode {
            BackupMode::FailStop => "fail_stop",
            BackupMode::BestEffort => "best_effort",
        };
        BackupStatus {
            dir: self.dir.display().to_string(),
            mode: mode.into(),
            behind: self.is_behind(),
        }
    }

    /// Whether the backup missed a write and is behind the data directory (best effort only).
    pub fn is_behind(&self) -> bool {
        lock(&self.state).behind
    }

    /// Writes `ops` to `primary`, then what of them the backup holds to the backup, each in one
    /// transaction with the next sequence number. The caller serializes the calls (the gate's
    /// write lock), so both databases see the batches in the same order. An error from the
    /// data directory is returned as it is; one from the backup in `fail_stop` mode too (the
    /// caller stops the node).
    pub fn write_batch(&self, primary: &Store, ops: &[KvOp]) -> io::Result<()> {
        let copied: Vec<KvOp> = ops
            .iter()
            .filter(|op| {
                let (p, s, k) = op.key();
                is_copied(p, s, k)
            })
            .cloned()
            .collect();
        if copied.is_empty() {
            return primary.write_batch(ops);
        }
        let mut state = lock(&self.state);
        let sequence = state.sequence + 1;
        let mut with_sequence = ops.to_vec();
        with_sequence.push(sequence_op(sequence));
        primary.write_batch(&with_sequence)?;
        state.sequence = sequence;
        let result = if state.behind {
            self.reopen().and_then(|()| self.copy_all(primary, sequence))
        } else {
            let mut copied = copied;
            copied.push(sequence_op(sequence));
            self.write_backup(&copied)
        };
        match (result, self.mode) {
            (Ok(()), _) => {
                if state.behind {
                    tracing::info!(backup_dir = %self.dir.display(), "continuous backup caught up");
                }
                state.behind = false;
                Ok(())
            }
            (Err(e), BackupMode::FailStop) => {
                Err(other(format!("backup write to {} failed: {e}", self.dir.display())))
            }
            (Err(e), BackupMode::BestEffort) => {
                if !state.behind {
                    tracing::error!(
                        backup_dir = %self.dir.display(),
                        "backup write failed (best effort: the node goes on, the backup is \
                         behind until a write succeeds): {e}"
                    );
                }
                state.behind = true;
                Ok(())
            }
        }
    }

    fn write_backup(&self, ops: &[KvOp]) -> io::Result<()> {
        #[cfg(test)]
        if self.fail.load(std::sync::atomic::Ordering::Acquire) {
            return Err(other("injected backup failure"));
        }
        lock(&self.store).write_batch(ops)
    }

    /// Opens the backup's database again (after a failure, before a catch-up).
    fn reopen(&self) -> io::Result<()> {
        let store = Store::open(&self.dir).map_err(other)?;
        *lock(&self.store) = store;
        Ok(())
    }

    /// Makes the backup hold exactly what the data directory holds of the channel state, in
    /// one transaction, with `sequence`.
    fn copy_all(&self, primary: &Store, sequence: u64) -> io::Result<()> {
        let wanted: BTreeSet<(String, String, String)> =
            primary.list_all_keys()?.into_iter().filter(|(p, s, k)| is_copied(p, s, k)).collect();
        let mut ops = Vec::with_capacity(wanted.len() + 1);
        let existing = lock(&self.store).list_all_keys()?;
        for (p, s, k) in existing {
            if is_copied(&p, &s, &k) && !wanted.contains(&(p.clone(), s.clone(), k.clone())) {
                ops.push(KvOp::Remove { primary: p, secondary: s, key: k });
            }
        }
        for (p, s, k) in wanted {
            let value = KVStoreSync::read(primary, &p, &s, &k)?;
            ops.push(KvOp::Write { primary: p, secondary: s, key: k, value });
        }
        ops.push(sequence_op(sequence));
        self.write_backup(&ops)
    }

    /// Makes the next backup writes fail (tests).
    #[cfg(test)]
    pub(crate) fn inject_failure(&self, fail: bool) {
        self.fail.store(fail, std::sync::atomic::Ordering::Release);
    }

    /// The backup's database (tests).
    #[cfg(test)]
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn write(p: &str, k: &str, v: u8) -> KvOp {
        KvOp::Write { primary: p.into(), secondary: String::new(), key: k.into(), value: vec![v] }
    }

    pub(crate) fn node_dirs() -> (tempfile::TempDir, tempfile::TempDir, Store) {
        let data = tempfile::tempdir().unwrap();
        let backup = tempfile::tempdir().unwrap();
        Seed::create(data.path()).unwrap();
        let primary = Store::open(data.path()).unwrap();
        (data, backup, primary)
    }

    fn read(store: &Store, p: &str, k: &str) -> Option<Vec<u8>> {
        KVStoreSync::read(store, p, "", k).ok()
    }

    #[test]
    fn batches_reach_both_with_the_same_sequence_and_the_seed_is_copied() {
        let (data, dir, primary) = node_dirs();
        KVStoreSync::write(&primary, "monitors", "", "old", vec![7]).unwrap();
        KVStoreSync::write(&primary, "", "", "network_graph", vec![1]).unwrap();
        KVStoreSync::write(&primary, "", "", "manager", vec![5]).unwrap();
        let b = Backup::open(dir.path(), BackupMode::FailStop, &primary, data.path()).unwrap();
        assert_eq!(read(&b.store(), "monitors", "old"), Some(vec![7]), "copied at open");
        assert_eq!(read(&b.store(), "", "network_graph"), None, "not copied");
        assert_eq!(read(&b.store(), "", "manager"), Some(vec![5]), "the manager is copied");
        b.write_batch(&primary, &[write("monitors", "a", 1), write("manager", "m", 2)]).unwrap();
        b.write_batch(&primary, &[write("", "network_graph", 3)]).unwrap();
        assert_eq!(read(&b.store(), "manager", "m"), Some(vec![2]));
        assert_eq!(read_sequence(&primary).unwrap(), 1);
        assert_eq!(read_sequence(&b.store()).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(Seed::path(dir.path())).unwrap(),
            std::fs::read_to_string(Seed::path(data.path())).unwrap()
        );
    }

    #[test]
    fn a_failed_backup_write_is_an_error_in_fail_stop_mode() {
        let (data, dir, primary) = node_dirs();
        let b = Backup::open(dir.path(), BackupMode::FailStop, &primary, data.path()).unwrap();
        b.inject_failure(true);
        let err = b.write_batch(&primary, &[write("monitors", "a", 1)]).unwrap_err();
        assert!(err.to_string().contains("backup write"), "{err}");
        // The data directory has it (it is written first); the update was never acknowledged,
        // and at the next start the backup is brought up to date.
        assert_eq!(read(&primary, "monitors", "a"), Some(vec![1]));
        drop(b);
        let b = Backup::open(dir.path(), BackupMode::FailStop, &primary, data.path()).unwrap();
        assert_eq!(read(&b.store(), "monitors", "a"), Some(vec![1]));
        assert_eq!(read_sequence(&b.store()).unwrap(), 1);
    }

    #[test]
    fn best_effort_goes_on_and_catches_up_with_one_full_copy() {
        let (data, dir, primary) = node_dirs();
        let b = Backup::open(dir.path(), BackupMode::BestEffort, &primary, data.path()).unwrap();
        b.write_batch(&primary, &[write("monitors", "gone", 1)]).unwrap();
        b.inject_failure(true);
        let remove = KvOp::Remove {
            primary: "monitors".into(),
            secondary: String::new(),
            key: "gone".into(),
        };
        b.write_batch(&primary, &[write("monitors", "a", 1), remove]).unwrap();
        b.write_batch(&primary, &[write("monitors", "b", 2)]).unwrap();
        assert!(b.is_behind());
        assert_eq!(read(&b.store(), "monitors", "a"), None);
        b.inject_failure(false);
        b.write_batch(&primary, &[write("monitors", "c", 3)]).unwrap();
        assert!(!b.is_behind());
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(read(&b.store(), "monitors", k), Some(vec![v]), "{k}");
        }
        assert_eq!(read(&b.store(), "monitors", "gone"), None, "removed in the missed batch");
        assert_eq!(read_sequence(&b.store()).unwrap(), 4);
    }

    #[test]
    fn a_data_directory_older_than_its_backup_or_another_nodes_backup_is_refused() {
        let (data, dir, primary) = node_dirs();
        let b = Backup::open(dir.path(), BackupMode::FailStop, &primary, data.path()).unwrap();
        b.write_batch(&primary, &[write("monitors", "a", 1)]).unwrap();
        drop(b);
        // The data directory put back to before that write.
        KVStoreSync::write(&primary, BACKUP_NAMESPACE, "", SEQUENCE_KEY, 0u64.to_be_bytes().into())
            .unwrap();
        let err =
            Backup::open(dir.path(), BackupMode::FailStop, &primary, data.path()).unwrap_err();
        assert!(err.to_string().contains("older than its backup"), "{err}");

        let (other_data, _, other_primary) = node_dirs();
        let err = Backup::open(dir.path(), BackupMode::FailStop, &other_primary, other_data.path())
            .unwrap_err();
        assert!(err.to_string().contains("another node"), "{err}");
    }
}
