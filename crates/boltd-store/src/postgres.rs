//! Opening the store on PostgreSQL.

#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing::info;

use crate::db::{Backend, Conn, PgConfig, PgConn};
use crate::durability::Durability;
use crate::error::StoreError;
use crate::events::EventSignal;
use crate::fatal::FatalHook;
use crate::Store;

impl Store {
    /// Opens the store on the PostgreSQL database `config` names: connects and creates or
    /// upgrades the schema. Every commit is durable when it returns (the server's
    /// `synchronous_commit`, on by default, decides what durable means: on, the server's WAL is
    /// flushed; with synchronous replication, a standby has it too).
    ///
    /// The store does not take the node's lease: call [`Store::acquire_lease`] before acting
    /// as the node.
    pub fn open_postgres(config: &PgConfig) -> Result<Store, StoreError> {
        let path = PathBuf::from(config.describe());
        let conn = PgConn::connect(config).map_err(|e| StoreError::sqlite(&path, e))?;
        let conn = Conn::new(Backend::Postgres(conn));
        crate::pg_schema::migrate(&conn, &path)?;
        info!(database = %path.display(), "opened the PostgreSQL store");
        Ok(Store {
            // Commits on PostgreSQL are durable when they return: nothing to wait for.
            durability: Durability::new(&path, false),
            path,
            conn: Mutex::new(conn),
            events: EventSignal::default(),
            fatal: FatalHook::default(),
            lease: None,
            tokens: Default::default(),
        })
    }

    /// Whether the store holds a node's state (LDK's key-value data, such as the wallet
    /// birthday, written at a node's first start).
    pub fn has_node_state(&self) -> Result<bool, StoreError> {
        self.read(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM kv)", [], |r| r.get(0)))
    }

    /// Whether the store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.conn().is_postgres()
    }
}

/// The tests' PostgreSQL: with `BOLTD_TEST_STORE=postgres`, [`Store::open`] in this crate's
/// tests opens a database of one cluster per test process instead of `<dir>/boltd.sqlite`, one
/// database per data directory (so a reopen finds its data), and the same suite runs on both
/// backends unchanged. Tests of SQLite's own behaviour (files, pragmas, the WAL, migrations of
/// old SQLite files) call [`Store::open_sqlite`].
#[cfg(test)]
pub(crate) fn test_store_for(data_dir: &Path) -> Result<Option<Store>, StoreError> {
    if std::env::var("BOLTD_TEST_STORE").as_deref() != Ok("postgres") {
        return Ok(None);
    }
    test_pg_store(data_dir).map(Some)
}

/// This test process's PostgreSQL cluster (started at first use, stopped when the process
/// exits however it exits).
#[cfg(test)]
pub(crate) fn test_cluster() -> &'static crate::pg_cluster::PgCluster {
    use std::sync::OnceLock;
    static CLUSTER: OnceLock<crate::pg_cluster::PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // The suite's speed matters more than surviving a power cut here.
        crate::pg_cluster::PgCluster::start(&["fsync=off"]).expect("start PostgreSQL")
    })
}

/// The test database of `data_dir` on [`test_cluster`], created at first use.
#[cfg(test)]
pub(crate) fn test_pg_config(data_dir: &Path) -> Result<PgConfig, StoreError> {
    static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let cluster = test_cluster();
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
    let canonical = data_dir.canonicalize().map_err(|e| StoreError::io(data_dir, e))?;
    let name = format!("t_{:016x}", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        canonical.hash(&mut h);
        h.finish()
    });
    let mut created = CREATED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !created.contains(&canonical) {
        cluster.create_database(&name).map_err(|e| StoreError::io(data_dir, e))?;
        created.push(canonical);
    }
    Ok(cluster.config(&name))
}

/// A PostgreSQL store for `data_dir`'s test database.
#[cfg(test)]
pub(crate) fn test_pg_store(data_dir: &Path) -> Result<Store, StoreError> {
    Store::open_postgres(&test_pg_config(data_dir)?)
}
