//! `boltd restore`: building a data directory from a backup, the continuous one (`backup_dir`)
//! or an exported archive.
//!
//! The data directory must hold no node yet. The database is written first and the seed last,
//! so that a restore cut short leaves a directory the node refuses to start from ("seed missing,
//! but the node's database exists") rather than a new node. A continuous backup has no on-chain
//! wallet: a new one is made from the seed, and its first sync scans the chain from the node's
//! wallet birthday. An archive has everything but the seed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bitcoin::Network;
use boltd_store::{Store, DB_FILE_NAME};
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
};
use serde::Serialize;

use crate::archive::{self, ADMIN_TOKEN_FILE};
use crate::error::{NodeError, NodeResult};
use crate::keys::Seed;
use crate::wallet::OnchainWallet;

/// Where a restore reads from.
#[derive(Debug)]
pub enum RestoreSource<'a> {
    /// A continuous backup directory (`backup_dir`); its copy of the seed is used unless one is
    /// given.
    BackupDir(&'a Path),
    /// An exported archive's bytes; needs the seed.
    Archive(&'a [u8]),
    /// Nothing but the seed: a new node with the same keys whose on-chain wallet scans the
    /// chain from `rescan_from_height` (the wallet's coins come back; channels do not, see the
    /// README).
    SeedOnly {
        /// Where the wallet's first sync starts (at or before the node's first start).
        rescan_from_height: u32,
    },
}

/// What a restore made.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The data directory built.
    pub data_dir: PathBuf,
    /// Channel monitors restored (one per channel not yet archived).
    pub channel_monitors: usize,
    /// Whether a channel manager was restored (a node that ever had channels has one; a
    /// recovery drops it).
    pub channel_manager: bool,
    /// Whether a new on-chain wallet was made (it rescans from the wallet birthday).
    pub wallet_rescan: bool,
    /// When the archive was taken (seconds since the Unix epoch), for an archive.
    pub archive_created_at: Option<u64>,
    /// How long the restore took, in milliseconds.
    pub elapsed_ms: u64,
}

fn sqlite(e: rusqlite::Error) -> NodeError {
    NodeError::Io(std::io::Error::other(e))
}

/// Puts a database copy (`VACUUM INTO` makes it in rollback-journal mode) in WAL mode, as the
/// store expects of an existing database.
pub(crate) fn to_wal(db_path: &Path) -> NodeResult<()> {
    let conn =
        rusqlite::Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(sqlite)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %db_path.display(), mode, "the restored database is not in WAL mode");
    }
    Ok(())
}

fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> NodeResult<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let _ = mode;
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Builds `data_dir` (which must hold no node) from `source` for `network`. `seed` is required
/// for an archive; for a backup directory it defaults to the backup's copy and, if given, must
/// be the same. `recover`: the backup is known to be stale; restore for recovery only (see
/// [`crate::recovery`]).
pub fn restore(
    data_dir: &Path,
    network: Network,
    source: RestoreSource<'_>,
    seed: Option<Seed>,
    recover: bool,
) -> NodeResult<RestoreReport> {
    let started = Instant::now();
    if Store::exists(data_dir) || Seed::path(data_dir).exists() {
        return Err(NodeError::InvalidInput(format!(
            "{} already holds a node: restore into a new data directory",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let db_path = data_dir.join(DB_FILE_NAME);
    let mut archive_created_at = None;
    let seed = match source {
        RestoreSource::SeedOnly { rescan_from_height } => {
            let seed = seed.ok_or_else(|| {
                NodeError::InvalidInput("a seed-only restore needs the node's seed".into())
            })?;
            let store = Store::open(data_dir)?;
            KVStoreSync::write(
                &store,
                crate::node::BOLTD_NAMESPACE,
                "",
                crate::node::WALLET_BIRTHDAY_KEY,
                rescan_from_height.to_string().into_bytes(),
            )?;
            seed
        }
        RestoreSource::BackupDir(dir) => {
            let theirs = Seed::read(dir)?;
            let seed = match (seed, theirs) {
                (Some(given), Some(theirs)) => {
                    if given.ldk_seed(network)? != theirs.ldk_seed(network)? {
                        return Err(NodeError::InvalidInput(format!(
                            "the seed given is not the seed of the backup in {}",
                            dir.display()
                        )));
                    }
                    given
                }
                (Some(s), None) | (None, Some(s)) => s,
                (None, None) => {
                    return Err(NodeError::InvalidInput(format!(
                        "no seed in {}: give the node's seed file",
                        dir.display()
                    )))
                }
            };
            if !Store::exists(dir) {
                return Err(NodeError::InvalidInput(format!(
                    "{} holds no backup ({DB_FILE_NAME} is missing)",
                    dir.display()
                )));
            }
            // A consistent copy even if a node still writes to the backup.
            let conn = rusqlite::Connection::open_with_flags(
                dir.join(DB_FILE_NAME),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
            )
            .map_err(sqlite)?;
            let to = db_path.to_str().ok_or_else(|| {
                NodeError::InvalidInput("the data directory's path is not UTF-8".into())
            })?;
            conn.execute("VACUUM INTO ?1", [to]).map_err(sqlite)?;
            std::fs::File::open(&db_path)?.sync_all()?;
            seed
        }
        RestoreSource::Archive(bytes) => {
            let seed = seed.ok_or_else(|| {
                NodeError::InvalidInput("restoring an archive needs the node's seed".into())
            })?;
            let contents = archive::open(&seed, bytes)?;
            if contents.manifest.network != network.to_string() {
                return Err(NodeError::InvalidInput(format!(
                    "the archive is of a {} node, not {network}",
                    contents.manifest.network
                )));
            }
            archive_created_at = Some(contents.manifest.created_at);
            write_durably(&db_path, &contents.database, 0o600)?;
            if let Some(token) = &contents.admin_token {
                write_durably(&data_dir.join(ADMIN_TOKEN_FILE), token, 0o600)?;
            }
            seed
        }
    };
    to_wal(&db_path)?;
    let (channel_monitors, channel_manager, wallet_rescan) = {
        let store = std::sync::Arc::new(Store::open(data_dir)?);
        let monitors = KVStoreSync::list(
            &*store,
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
        )?
        .len();
        let manager = KVStoreSync::read(
            &*store,
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )
        .is_ok();
        let created = OnchainWallet::create_if_missing(
            crate::wallet::WalletDb::for_store(&store)?,
            &seed,
            network,
        )?;
        if recover {
            crate::recovery::mark(&store)?;
        }
        store.sync()?;
        (monitors, manager && !recover, created)
    };
    // Last: only now is this a node the daemon starts from.
    seed.write_to(data_dir)?;
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        channel_monitors,
        channel_manager,
        wallet_rescan,
        archive_created_at,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{Backup, BackupMode};

    fn node() -> (tempfile::TempDir, Seed, Store) {
        let dir = tempfile::tempdir().unwrap();
        let seed = Seed::create(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        KVStoreSync::write(
            &store,
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            "",
            "abcd_0",
            vec![1],
        )
        .unwrap();
        KVStoreSync::write(&store, "", "", "manager", vec![2]).unwrap();
        (dir, seed, store)
    }

    #[test]
    fn from_a_backup_directory_with_its_seed_and_a_new_wallet() {
        let (data, _seed, store) = node();
        let backup_dir = tempfile::tempdir().unwrap();
        drop(Backup::open(backup_dir.path(), BackupMode::FailStop, &store, data.path()).unwrap());
        let to = tempfile::tempdir().unwrap();
        let to = to.path().join("restored");
        let r = restore(
            &to,
            Network::Regtest,
            RestoreSource::BackupDir(backup_dir.path()),
            None,
            false,
        )
        .unwrap();
        assert_eq!((r.channel_monitors, r.channel_manager, r.wallet_rescan), (1, true, true));
        assert_eq!(
            std::fs::read_to_string(Seed::path(&to)).unwrap(),
            std::fs::read_to_string(Seed::path(data.path())).unwrap()
        );
        let err = restore(
            &to,
            Network::Regtest,
            RestoreSource::BackupDir(backup_dir.path()),
            None,
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("already holds a node"), "{err}");
    }

    #[test]
    fn from_an_archive_with_the_seed_only() {
        let (data, seed, store) = node();
        let bytes = archive::export(&store, data.path(), &seed, Network::Regtest, "02").unwrap();
        let to = tempfile::tempdir().unwrap();
        let err = restore(to.path(), Network::Regtest, RestoreSource::Archive(&bytes), None, false)
            .unwrap_err();
        assert!(err.to_string().contains("needs the node's seed"), "{err}");
        let err = restore(
            to.path(),
            Network::Bitcoin,
            RestoreSource::Archive(&bytes),
            Some(Seed::read(data.path()).unwrap().unwrap()),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not bitcoin"), "{err}");
        let to = to.path().join("restored");
        let r = restore(&to, Network::Regtest, RestoreSource::Archive(&bytes), Some(seed), false)
            .unwrap();
        assert_eq!((r.channel_monitors, r.channel_manager), (1, true));
        assert!(r.archive_created_at.is_some());
    }
}
