//! Where the on-chain wallet persists.
//!
//! On SQLite, on a connection of its own to `boltd.sqlite`, in BDK's own tables. On PostgreSQL,
//! as BDK change sets (JSON) appended to `bdk_changesets` in transactions of the store, which
//! check and renew the node's lease like every other write: a standby that took over fences
//! the old node's wallet too. Either way, a send's row and the wallet's change set that spends
//! its inputs are written in one transaction (`record`).

use std::sync::Arc;

use bdk_wallet::chain::Merge;
use bdk_wallet::{ChangeSet, WalletPersister};
use boltd_store::db::{self, Backend, Conn};
use boltd_store::{onchain as rows, Store, StoreError};

/// The wallet's database.
pub enum WalletDb {
    /// A SQLite connection of its own.
    Sqlite(Box<Conn>),
    /// The PostgreSQL store.
    Postgres(Arc<Store>),
}

/// A failed read or write of the wallet's database.
#[derive(Debug, thiserror::Error)]
pub enum WalletDbError {
    /// SQLite, through BDK.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A statement of the store's rows.
    #[error(transparent)]
    Db(#[from] db::Error),
    /// The store (PostgreSQL).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored change set that does not parse.
    #[error("a stored wallet change set is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

impl WalletDbError {
    /// Whether the database can no longer be written as it must (the node stops).
    pub fn is_persistence_failure(&self) -> bool {
        match self {
            WalletDbError::Sqlite(e) => boltd_store::is_persistence_failure(e),
            WalletDbError::Db(e) => boltd_store::is_db_persistence_failure(e),
            WalletDbError::Store(StoreError::Database { source, .. }) => {
                boltd_store::is_db_persistence_failure(source)
            }
            WalletDbError::Store(StoreError::Io { .. } | StoreError::Corrupt { .. }) => true,
            WalletDbError::Store(_) | WalletDbError::Json(_) => false,
        }
    }
}

impl WalletDb {
    /// The wallet's database for `store`: a new SQLite connection, or the PostgreSQL store.
    pub fn for_store(store: &Arc<Store>) -> Result<WalletDb, StoreError> {
        if store.is_postgres() {
            return Ok(WalletDb::Postgres(Arc::clone(store)));
        }
        Ok(WalletDb::Sqlite(Box::new(Conn::new(Backend::Sqlite(store.open_connection()?)))))
    }

    /// Reads rows.
    pub fn read<T>(&self, f: impl FnOnce(&Conn) -> db::Result<T>) -> Result<T, WalletDbError> {
        match self {
            WalletDb::Sqlite(c) => Ok(f(c)?),
            WalletDb::Postgres(store) => Ok(store.read_with(f)?),
        }
    }

    /// Writes rows (one transaction).
    pub fn write<T>(&self, f: impl FnOnce(&Conn) -> db::Result<T>) -> Result<T, WalletDbError> {
        match self {
            WalletDb::Sqlite(c) => Ok(f(c)?),
            WalletDb::Postgres(store) => Ok(store.write_with(f)?),
        }
    }

    /// Writes the wallet's `changes` (if any) and what `f` writes in one transaction.
    pub fn record(
        &self,
        changes: Option<&ChangeSet>,
        f: impl FnOnce(&Conn) -> db::Result<()>,
    ) -> Result<(), WalletDbError> {
        match self {
            WalletDb::Sqlite(c) => {
                let Some(sqlite) = c.sqlite() else { unreachable!("a SQLite connection") };
                let tx = sqlite.unchecked_transaction()?;
                if let Some(changes) = changes {
                    changes.persist_to_sqlite(&tx)?;
                }
                // The same connection: inside the transaction.
                f(c)?;
                tx.commit()?;
                Ok(())
            }
            WalletDb::Postgres(store) => {
                let json =
                    changes.filter(|c| !c.is_empty()).map(serde_json::to_string).transpose()?;
                store.write_with(|c| {
                    if let Some(json) = &json {
                        rows::append_wallet_changeset(c, json)?;
                    }
                    f(c)
                })?;
                Ok(())
            }
        }
    }
}

impl WalletPersister for WalletDb {
    type Error = WalletDbError;

    fn initialize(db: &mut Self) -> Result<ChangeSet, WalletDbError> {
        match db {
            WalletDb::Sqlite(c) => {
                let Some(sqlite) = c.sqlite_mut() else { unreachable!("a SQLite connection") };
                Ok(<rusqlite::Connection as WalletPersister>::initialize(sqlite)?)
            }
            WalletDb::Postgres(store) => {
                let mut all = ChangeSet::default();
                for json in store.read_with(rows::wallet_changesets)? {
                    all.merge(serde_json::from_str(&json)?);
                }
                Ok(all)
            }
        }
    }

    fn persist(db: &mut Self, changeset: &ChangeSet) -> Result<(), WalletDbError> {
        match db {
            WalletDb::Sqlite(c) => {
                let Some(sqlite) = c.sqlite_mut() else { unreachable!("a SQLite connection") };
                Ok(<rusqlite::Connection as WalletPersister>::persist(sqlite, changeset)?)
            }
            WalletDb::Postgres(_) if changeset.is_empty() => Ok(()),
            WalletDb::Postgres(store) => {
                let json = serde_json::to_string(changeset)?;
                store.write_with(|c| rows::append_wallet_changeset(c, &json))?;
                Ok(())
            }
        }
    }
}
