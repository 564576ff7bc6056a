//! Persistence failures that the process must not outlive (fail-stop).
//!
//! Not every failed write is fatal: a unique-key conflict or a value the store refuses leaves the
//! database as it was, and the caller answers it. But when SQLite reports the disk full, an I/O
//! error, a corrupt file, a file it cannot open or write, or when a flush of the WAL fails (the
//! store is then poisoned for good, see `durability.rs`), what the node holds in memory can no
//! longer be made durable. The store then calls the handler installed with [`Store::on_fatal`]
//! (once per store; the node's handler stops the process) and still returns the error, so that a
//! handler that returns (a test's) never turns a failed write into a success.

use std::sync::OnceLock;

use rusqlite::ErrorCode;

use crate::error::StoreError;
use crate::Store;

/// What the store calls on a fatal persistence failure, with a one-line description (the file
/// and the error; never stored values).
pub type FatalHandler = Box<dyn Fn(&str) + Send + Sync>;

/// The store's fatal handler, installed at most once.
#[derive(Default)]
pub(crate) struct FatalHook(OnceLock<FatalHandler>);

/// Whether a SQLite error means the database can no longer be written as it must: the disk,
/// the file or the process is failing, not the statement. (For connections of the same
/// database outside the store, such as the on-chain wallet's.)
pub fn is_persistence_failure(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NoLargeFileSupport
                | ErrorCode::OutOfMemory
                | ErrorCode::InternalMalfunction
        )
    )
}

/// Whether a database error of either backend means the store can no longer be written as it
/// must. PostgreSQL: a lost connection or server (the connection is gone, or the server is
/// shutting down or refusing connections), lack of resources (class 53: disk full, out of
/// memory), a system or internal error (classes 58 and XX: I/O error, corrupt data), a read-only
/// server (a replica), or the node's lease lost.
pub fn is_db_persistence_failure(e: &crate::db::Error) -> bool {
    match e {
        crate::db::Error::Sqlite(e) => is_persistence_failure(e),
        crate::db::Error::Postgres(e) => match e.as_db_error() {
            None => true,
            Some(db) => {
                let code = db.code().code();
                ["53", "58", "XX", "08", "57P"].iter().any(|class| code.starts_with(class))
                    || code == "25006"
            }
        },
        crate::db::Error::LeaseLost(_) => true,
        crate::db::Error::NoRows | crate::db::Error::Conversion { .. } => false,
    }
}

/// Whether a store error is a persistence failure (see the module docs). I/O errors come from
/// flushes of the WAL and from the file system; refusals, conflicts and "in use" are not.
pub(crate) fn is_fatal(e: &StoreError) -> bool {
    match e {
        StoreError::Io { .. } | StoreError::Corrupt { .. } => true,
        StoreError::Database { source, .. } => is_db_persistence_failure(source),
        StoreError::Locked { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Invalid { .. } => false,
    }
}

impl Store {
    /// Installs the handler called when persistence fails for good: the disk is full, SQLite
    /// reports an I/O error or a corrupt file, or a flush of the WAL failed. The handler gets a
    /// one-line description; the node's stops the process (fail-stop). Returns `false` when a
    /// handler was installed already (the first one stays).
    ///
    /// The failing call still returns its error after the handler returns.
    pub fn on_fatal(&self, handler: impl Fn(&str) + Send + Sync + 'static) -> bool {
        self.fatal.0.set(Box::new(handler)).is_ok()
    }

    /// Reports `e` to the fatal handler when it is a persistence failure; returns it.
    pub(crate) fn check_fatal(&self, e: StoreError) -> StoreError {
        if is_fatal(&e) && !self.lease_released() {
            self.report_fatal(&e.to_string());
        }
        e
    }

    /// Reports a SQLite error of one of LDK's key-value operations when it is fatal.
    pub(crate) fn check_fatal_sqlite(&self, op: &str, e: &crate::db::Error) {
        if is_db_persistence_failure(e) {
            self.report_fatal(&format!("{op} on {} failed: {e}", self.path().display()));
        }
    }

    pub(crate) fn report_fatal(&self, what: &str) {
        match self.fatal.0.get() {
            Some(handler) => handler(what),
            None => tracing::error!("persistence failed (no fail-stop handler installed): {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn disk_and_file_failures_are_fatal_statement_failures_are_not() {
        let sqlite = |code: i32| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        assert!(is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_FULL)));
        assert!(is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR)));
        assert!(is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR_FSYNC)));
        assert!(is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_CORRUPT)));
        assert!(is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_READONLY)));
        assert!(!is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)));
        assert!(!is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_BUSY)));
        assert!(!is_persistence_failure(&sqlite(rusqlite::ffi::SQLITE_TOOBIG)));
        assert!(!is_persistence_failure(&rusqlite::Error::QueryReturnedNoRows));
        assert!(!is_fatal(&StoreError::invalid("bad value")));
        let io = StoreError::io(std::path::Path::new("/x"), std::io::Error::other("EIO"));
        assert!(is_fatal(&io));
    }

    #[test]
    fn the_handler_hears_a_fatal_error_once_installed_and_the_error_is_still_returned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let h = Arc::clone(&heard);
        assert!(store.on_fatal(move |what| h.lock().unwrap().push(what.to_string())));
        assert!(!store.on_fatal(|_| {}), "the first handler stays");
        let refused = store.check_fatal(StoreError::invalid("bad value"));
        assert!(matches!(refused, StoreError::Invalid { .. }));
        assert!(heard.lock().unwrap().is_empty(), "a refusal is not fatal");
        let io = StoreError::io(dir.path(), std::io::Error::other("fdatasync: EIO"));
        let back = store.check_fatal(io);
        assert!(matches!(back, StoreError::Io { .. }));
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 1);
        assert!(heard[0].contains("fdatasync: EIO"), "{heard:?}");
    }
}
