//! Schema versioning and migrations.
//!
//! The schema version is stored in SQLite's `PRAGMA user_version`. `MIGRATIONS[i]` upgrades a
//! database from version `i` to version `i + 1`; all pending migrations and the version bump run
//! in one transaction, so a crash leaves the database either fully migrated or untouched.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tracing::info;

use crate::error::StoreError;

/// Version 1: LDK's key-value store.
const V1_KV: &str = "
CREATE TABLE kv (
	primary_namespace TEXT NOT NULL,
	secondary_namespace TEXT NOT NULL,
	key TEXT NOT NULL CHECK (key <> ''),
	value BLOB NOT NULL,
	PRIMARY KEY (primary_namespace, secondary_namespace, key)
) WITHOUT ROWID;
";

/// `MIGRATIONS[i]` migrates from schema version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1_KV];

/// The newest database schema version this code knows (and creates).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads the schema version (`PRAGMA user_version`).
pub(crate) fn read_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sqlite(path, e))?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("invalid schema version {v}"),
    })
}

/// Fails if the database's schema is newer than [`SCHEMA_VERSION`].
pub(crate) fn check_not_newer(found: u32, path: &Path) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies all pending migrations in one immediate transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
    // Re-read under the write lock: another connection may have migrated meanwhile.
    let from = read_version(&tx, path)?;
    check_not_newer(from, path)?;
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(migration).map_err(sql)?;
        info!(path = %path.display(), version = i + 1, "applied database migration");
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
    tx.commit().map_err(sql)?;
    info!(path = %path.display(), from, to = SCHEMA_VERSION, "database schema is up to date");
    Ok(())
}
