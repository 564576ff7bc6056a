//! The store's error type.

use std::path::{Path, PathBuf};

/// Why the store or the data-directory lock could not be used.
///
/// Messages are meant for operators: they name the file or directory involved and never
/// contain stored values (keys material, preimages, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the data-directory lock.
    #[error("data directory {} is in use by another boltd{}", path.display(), pid_suffix(*pid))]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The process id recorded in the lock file by the holder, if it could be read.
        pid: Option<u32>,
    },
    /// The database file exists but is not a readable SQLite database. It was left untouched.
    #[error(
		"database {} is not a readable boltd database ({reason}); it was left untouched, \
		 restore it from a backup or move it aside",
		path.display()
	)]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database was written by a newer boltd whose schema this code does not know. It was
    /// left untouched.
    #[error(
		"database {} has schema version {found}, but this boltd only knows versions up to \
		 {supported}; it was written by a newer boltd and was left untouched",
		path.display()
	)]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this code knows.
        supported: u32,
    },
    /// A file-system operation failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database (SQLite or PostgreSQL) reported an error, or lost the node's lease.
    #[error("database error on {}: {source}", path.display())]
    Database {
        /// The database file, or the PostgreSQL server and database (`postgres://host:port/db`,
        /// never the password).
        path: PathBuf,
        /// The underlying error.
        source: crate::db::Error,
    },
    /// A caller passed a value the store refuses to record (a malformed JSON object, a
    /// preimage that does not match the payment hash, ...). Nothing was written.
    #[error("refused to record invalid data: {reason}")]
    Invalid {
        /// What is wrong, without the values themselves.
        reason: String,
    },
}

fn pid_suffix(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!(" (pid {pid})"),
        None => String::new(),
    }
}

impl StoreError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        StoreError::Invalid { reason: reason.into() }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { path: path.to_path_buf(), source }
    }

    /// Classifies a database error: SQLite's "not a database" and "corrupt" become
    /// [`StoreError::Corrupt`], everything else [`StoreError::Database`].
    pub(crate) fn sqlite(path: &Path, source: impl Into<crate::db::Error>) -> Self {
        use rusqlite::ErrorCode;
        let source = source.into();
        if let crate::db::Error::Sqlite(e) = &source {
            if let Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =
                e.sqlite_error_code()
            {
                return StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() };
            }
        }
        StoreError::Database { path: path.to_path_buf(), source }
    }
}

/// The error of the body of a [`Store::transaction`](crate::Store): SQLite errors convert with
/// `?` and are tagged with the database path afterwards; anything else is a [`StoreError`].
#[derive(Debug)]
pub(crate) enum TxError {
    Sql(crate::db::Error),
    Store(StoreError),
}

impl From<crate::db::Error> for TxError {
    fn from(e: crate::db::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e.into())
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl TxError {
    pub(crate) fn into_store_error(self, path: &Path) -> StoreError {
        match self {
            TxError::Sql(e) => StoreError::sqlite(path, e),
            TxError::Store(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_message_names_dir_and_pid() {
        let e = StoreError::Locked { path: PathBuf::from("/x"), pid: Some(123) };
        assert_eq!(e.to_string(), "data directory /x is in use by another boltd (pid 123)");
        let e = StoreError::Locked { path: PathBuf::from("/x"), pid: None };
        assert_eq!(e.to_string(), "data directory /x is in use by another boltd");
    }
}
