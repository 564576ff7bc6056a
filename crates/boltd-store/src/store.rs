//! The store's database connection: opening SQLite (PostgreSQL: `postgres.rs`), the
//! connection's lock, transactions and reads, and durability (group commit).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tracing::{info, warn};

use crate::db::{Backend, Conn};
use crate::durability::{Durability, SyncStats};
use crate::error::{StoreError, TxError};
use crate::events::EventSignal;
use crate::fatal::FatalHook;
use crate::schema;

/// The name of the database file inside the data directory.
pub const DB_FILE_NAME: &str = "boltd.sqlite";

/// How long a connection waits for another connection's write lock before failing with
/// `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// boltd's SQLite database (`boltd.sqlite` in the data directory) and LDK's key-value store.
///
/// The database runs in WAL mode, and every write is durable when the call returns, exactly as
/// with `synchronous=FULL`; concurrent writers share their disk flushes (group commit, see
/// [`Store::sync`]), and writes made inside [`Store::deferring_sync`] return before theirs. LDK's
/// data lives in the `kv` table (`primary_namespace, secondary_namespace, key, value`).
///
/// `Store` implements both [`KVStoreSync`] and [`KVStore`]; since both have methods named
/// `read`/`write`/`remove`/`list`, call them fully qualified (`KVStoreSync::read(&store, ..)`)
/// when both traits are in scope.
///
/// The store does not lock the data directory itself: hold a [`DataDirLock`] for as long as
/// the store is open.
///
/// [`DataDirLock`]: crate::DataDirLock
pub struct Store {
    pub(crate) path: PathBuf,
    pub(crate) conn: Mutex<Conn>,
    pub(crate) durability: Durability,
    /// Who is told about appended events (see [`Store::on_events`]).
    pub(crate) events: EventSignal,
    /// Who is told when persistence fails for good (see [`Store::on_fatal`]).
    pub(crate) fatal: FatalHook,
    /// The node's lease, on a shared database (see the `lease` module).
    pub(crate) lease: Option<crate::lease::Lease>,
    /// API tokens as last read (see [`Store::token_by_id`]).
    pub(crate) tokens: crate::token_cache::TokenCache,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("sync", &self.durability.stats())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens `<data_dir>/boltd.sqlite`, creating the directory and the database if needed, and
    /// applies pending schema migrations (in one transaction).
    ///
    /// Fails with [`StoreError::Corrupt`] if the file is not a SQLite database, and with
    /// [`StoreError::SchemaTooNew`] if it was written by a newer boltd; in both cases the file
    /// is left untouched.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        #[cfg(test)]
        if let Some(store) = crate::postgres::test_store_for(data_dir)? {
            return Ok(store);
        }
        Self::open_sqlite(data_dir)
    }

    /// Opens `<data_dir>/boltd.sqlite` (what [`Store::open`] does; in this crate's tests,
    /// `open` may open a PostgreSQL database instead, see `postgres::test_store_for`).
    pub fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
        let path = data_dir.join(DB_FILE_NAME);
        let existed = path.try_exists().map_err(|e| StoreError::io(&path, e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&path, flags).map_err(|e| StoreError::sqlite(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StoreError::sqlite(&path, e))?;

        // Validate before changing anything: reading the schema fails with SQLITE_NOTADB on a
        // file that is not a database, and nothing has been written at that point.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let version = schema::read_version(&conn, &path)?;
        schema::check_not_newer(version, &path)?;

        let wal = configure(&conn, &path)?;
        if wal {
            // Commits on this connection do not flush the WAL themselves; writers wait for a
            // shared flush instead (`Durability`), which keeps `synchronous=FULL`'s guarantee.
            // Without WAL (a file system SQLite cannot share memory on), every commit stays a
            // `synchronous=FULL` one and there is nothing to wait for.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| StoreError::sqlite(&path, e))?;
        }
        if version < schema::SCHEMA_VERSION {
            schema::migrate(&mut conn, &path)?;
        }
        let durability = Durability::new(&path, wal);
        let store = Store {
            path,
            conn: Mutex::new(Conn::new(Backend::Sqlite(conn))),
            durability,
            events: EventSignal::default(),
            fatal: FatalHook::default(),
            lease: None,
            tokens: Default::default(),
        };
        // The schema (and the WAL file SQLite created for it) is durable before the store is used.
        store.durability.committed();
        store.sync()?;
        if !existed {
            sync_dir(data_dir)?;
            info!(path = %store.path.display(), "created database");
        }
        Ok(store)
    }

    /// Whether `<data_dir>/boltd.sqlite` exists (it may still be unreadable).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(DB_FILE_NAME).is_file()
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a new connection to the same database file with the same settings (WAL,
    /// `synchronous=FULL`, `foreign_keys=ON`, busy timeout). It does not run migrations; the
    /// node uses it for the on-chain wallet's own tables.
    pub fn open_connection(&self) -> Result<Connection, StoreError> {
        if self.is_postgres() {
            return Err(StoreError::invalid(
                "a second SQLite connection is not available on a PostgreSQL store",
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StoreError::sqlite(&self.path, e))?;
        configure(&conn, &self.path)?;
        Ok(conn)
    }

    /// The connection. A panic while it was held cannot leave it mid-transaction (KV
    /// operations are single autocommit statements, and [`Store::transaction`] rolls back when
    /// its guard is dropped during unwinding), so a poisoned lock is recovered; an open
    /// transaction found there anyway is rolled back.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            let conn = PoisonError::into_inner(poisoned);
            let open = match &conn.backend {
                Backend::Sqlite(c) => !c.is_autocommit(),
                // PostgreSQL only warns when no transaction is open.
                Backend::Postgres(_) => true,
            };
            if open {
                warn!(path = %self.path.display(), "rolling back a transaction left open by a panic");
                let _ = conn.execute_batch("ROLLBACK");
            }
            conn
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the store's connection and commits it.
    ///
    /// `BEGIN IMMEDIATE` takes SQLite's write lock before the first read, so a check made in
    /// `f` (does this key or hash exist?) still holds when `f` writes: no other connection, in
    /// this process or another, can write in between. The store's own mutex serializes the
    /// threads sharing this connection. If `f` fails, or the commit does, everything is rolled
    /// back and nothing was written; when this returns `Ok`, the writes are durable (unless
    /// called inside [`Store::deferring_sync`]).
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&Conn) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        // Events appended by `f` are announced only once committed; the connection's lock
        // keeps other transactions of this store from mixing theirs in.
        self.events.clear_pending();
        let began = std::time::Instant::now();
        let begin = match conn.backend {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        };
        conn.execute_batch(begin)
            .map_err(|e| self.check_fatal(StoreError::sqlite(&self.path, e)))?;
        // Rolls back unless committed, also when `f` panics.
        let open = OpenTx(&conn);
        let value =
            match self.check_lease(&conn, began).map_err(TxError::from).and_then(|()| f(&conn)) {
                Ok(v) => v,
                Err(e) => {
                    self.events.clear_pending();
                    drop(open);
                    return Err(self.check_fatal(e.into_store_error(&self.path)));
                }
            };
        std::mem::forget(open);
        if let Err(e) = conn.execute_batch("COMMIT") {
            self.events.clear_pending();
            // SQLite keeps the transaction open when a commit fails; PostgreSQL has ended it.
            let _ = conn.execute_batch("ROLLBACK");
            return Err(self.check_fatal(StoreError::sqlite(&self.path, e)));
        }
        let ticket = self.durability.committed();
        let appended = self.events.take_pending();
        drop(conn);
        // Durable before anyone is told (listeners read the events through `read`, which
        // flushes deferred commits first anyway).
        self.wait_durable(ticket, false)
            .map_err(|e| self.check_fatal(StoreError::io(&self.path, e)))?;
        if let Some(seq) = appended {
            self.events.announce(seq);
        }
        Ok(value)
    }

    /// Waits until the commit `ticket` is durable, unless this thread defers (or `lazy`).
    pub(crate) fn wait_durable(&self, ticket: u64, lazy: bool) -> std::io::Result<()> {
        if lazy || Durability::deferred() {
            // Fails fast once a flush has failed, like every other write.
            return self.durability.check();
        }
        self.durability.wait(ticket)
    }

    /// Waits until every write made so far on the store's connection is durable. Concurrent
    /// callers share one `fdatasync` of the WAL (group commit); returns at once when a flush
    /// since the last write already covered it. Fails, for good, after a failed flush (the
    /// daemon must restart).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.sync_to(self.last_commit())
    }

    /// The ticket of the latest commit on the store's connection (for [`Store::sync_to`]).
    pub fn last_commit(&self) -> u64 {
        self.durability.last()
    }

    /// Waits until the commit `ticket` (from [`Store::last_commit`]) and every one before it
    /// are durable; see [`Store::sync`].
    pub fn sync_to(&self, ticket: u64) -> Result<(), StoreError> {
        self.durability.wait(ticket).map_err(|e| self.check_fatal(StoreError::io(&self.path, e)))
    }

    /// Runs `f`; the writes it makes on this thread (through any store) return once committed,
    /// without waiting for the disk. Each becomes durable with the next write that waits (or
    /// [`Store::sync`]): the WAL is one append-only file, so a flush covers every commit before
    /// it.
    ///
    /// Only for writes whose durability a later synced write already guarantees before anything
    /// depends on them. boltd uses it for the records it makes from LDK's events: LDK removes a
    /// handled event from the channel manager, and the background processor persists the
    /// channel manager (a synced write) right after handling, so a crash before that flush
    /// replays the event and the idempotent record is made again; a preimage recorded as
    /// revealed only leaves the node after LDK's synced monitor update that carries it. Reads
    /// inside `f` see the writes at once; reads on other threads (or after `f`) flush first
    /// the commits they could see (see `read`), so nothing leaves the store undurable.
    pub fn deferring_sync<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        Durability::defer(|| f(self))
    }

    /// Commits and flushes so far (how well the group commit batches).
    pub fn sync_stats(&self) -> SyncStats {
        self.durability.stats()
    }

    /// Runs `f` on the store's connection, outside a transaction: for reads (for the on-chain
    /// rows of the [`onchain`](crate::onchain) module; writes go through [`Store::write_with`]).
    pub fn read_with<T>(
        &self,
        f: impl FnOnce(&Conn) -> crate::db::Result<T>,
    ) -> Result<T, StoreError> {
        self.read(f)
    }

    /// Runs `f` in one write transaction of the store (on PostgreSQL, one that checks and
    /// renews the node's lease): for the on-chain wallet's rows and change sets.
    pub fn write_with<T>(
        &self,
        f: impl FnOnce(&Conn) -> crate::db::Result<T>,
    ) -> Result<T, StoreError> {
        self.transaction(|c| f(c).map_err(TxError::from))
    }

    /// Runs read-only queries on the store's connection (each statement sees a consistent
    /// snapshot; use [`Store::transaction`] for anything that writes).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Conn) -> crate::db::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        let value = f(&conn).map_err(|e| self.check_fatal(StoreError::sqlite(&self.path, e)))?;
        // Nothing leaves the store before it is durable: what was read may include commits made
        // inside `deferring_sync` (tickets are issued under the connection's lock, so `last`
        // covers every commit the read could see); flush them first, unless this thread is the
        // deferring one.
        let last = self.durability.last();
        drop(conn);
        if !Durability::deferred() {
            self.sync_to(last)?;
        }
        Ok(value)
    }
}

/// An open transaction on the store's connection, rolled back when dropped (a failed body, or a
/// panic inside it).
struct OpenTx<'a>(&'a Conn);

impl Drop for OpenTx<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

/// Sets the per-connection pragmas; returns whether the database is in WAL mode.
fn configure(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(sql)?;
    let wal = mode.eq_ignore_ascii_case("wal");
    if !wal {
        warn!(path = %path.display(), mode, "database could not switch to WAL journal mode");
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
    // Only has an effect on macOS, where a plain fsync does not reach the disk platter.
    conn.pragma_update(None, "fullfsync", "ON").map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
    Ok(wal)
}

/// Makes a newly created file's directory entry durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lightning::util::persist::KVStoreSync;

    use super::*;

    #[test]
    fn open_creates_db_with_schema_and_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested").join("data");
        assert!(!Store::exists(&data_dir));
        let store = Store::open_sqlite(&data_dir).unwrap();
        assert!(Store::exists(&data_dir));
        assert_eq!(store.path(), data_dir.join(DB_FILE_NAME));

        let check = |conn: &Connection| {
            let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
            assert!(sync >= 1, "synchronous=NORMAL or FULL");
            let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
            assert_eq!(fk, 1);
            let busy: i64 = conn.pragma_query_value(None, "busy_timeout", |r| r.get(0)).unwrap();
            assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
            let v: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(v, schema::SCHEMA_VERSION);
        };
        check(store.conn().sqlite().unwrap());
        check(&store.open_connection().unwrap());
    }

    #[test]
    fn open_connection_shares_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        KVStoreSync::write(&store, "ns", "", "k", b"v".to_vec()).unwrap();
        let conn = store.open_connection().unwrap();
        let v: Vec<u8> = conn
            .query_row(
                "SELECT value FROM kv WHERE primary_namespace = 'ns' AND key = 'k'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(v, b"v");
        conn.execute_batch("CREATE TABLE other (x INTEGER)").unwrap();
        drop(conn);
        drop(store);
        // Foreign tables do not disturb reopening.
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "ns", "", "k").unwrap(), b"v");
    }

    #[test]
    fn garbage_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let mut garbage = b"this is not a database, it is garbage".to_vec();
        garbage.extend((0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        std::fs::write(&path, &garbage).unwrap();
        for _ in 0..2 {
            let err = Store::open_sqlite(dir.path()).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("left untouched"), "{msg}");
            assert_eq!(std::fs::read(&path).unwrap(), garbage);
        }
        assert!(Store::exists(dir.path()));
        // No journal or WAL was created next to it either.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [DB_FILE_NAME]);
    }

    #[test]
    fn short_garbage_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        std::fs::write(&path, b"junk").unwrap();
        let err = Store::open_sqlite(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"junk");
    }

    #[test]
    fn empty_file_is_initialized() {
        // A zero-length file is an empty SQLite database (e.g. a crash right after creation).
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE_NAME), b"").unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        KVStoreSync::write(&store, "ns", "", "k", vec![1]).unwrap();
        assert_eq!(KVStoreSync::read(&store, "ns", "", "k").unwrap(), [1]);
    }

    #[test]
    fn future_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        {
            let store = Store::open_sqlite(dir.path()).unwrap();
            KVStoreSync::write(&store, "ns", "", "k", vec![9]).unwrap();
            let conn = store.open_connection().unwrap();
            conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1).unwrap();
        }
        let err = Store::open_sqlite(dir.path()).unwrap_err();
        match &err {
            StoreError::SchemaTooNew { path: p, found, supported } => {
                assert_eq!(p, &path);
                assert_eq!(*found, schema::SCHEMA_VERSION + 1);
                assert_eq!(*supported, schema::SCHEMA_VERSION);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
        // Still there, still at the future version, data intact.
        let conn = Connection::open(&path).unwrap();
        let v: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, schema::SCHEMA_VERSION + 1);
        let n: i64 = conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn concurrent_writes_from_two_connections() {
        // The store and a second connection (as the wallet uses) writing at the same time must
        // wait for each other (busy timeout) rather than fail.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_sqlite(dir.path()).unwrap());
        let conn = store.open_connection().unwrap();
        conn.execute_batch("CREATE TABLE w (x INTEGER)").unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0..100 {
                conn.execute("INSERT INTO w (x) VALUES (?1)", [i]).unwrap();
            }
        });
        for i in 0..100 {
            KVStoreSync::write(&*store, "ns", "", &format!("k{i}"), vec![i as u8]).unwrap();
        }
        writer.join().unwrap();
        assert_eq!(KVStoreSync::list(&*store, "ns", "").unwrap().len(), 100);
    }

    #[test]
    fn deferred_writes_are_visible_and_made_durable_by_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        let before = store.sync_stats();
        store.deferring_sync(|s| {
            for i in 0..10u8 {
                KVStoreSync::write(s, "ns", "", &format!("k{i}"), vec![i]).unwrap();
            }
            // Reads see them at once.
            assert_eq!(KVStoreSync::read(s, "ns", "", "k9").unwrap(), [9]);
        });
        let after = store.sync_stats();
        assert_eq!(after.commits, before.commits + 10);
        assert_eq!(after.syncs, before.syncs, "deferred writes do not flush");
        store.sync().unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 1, "one flush for ten");
        store.sync().unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 1, "nothing new to flush");
        // A plain write waits for its own flush; a lazy remove does not.
        KVStoreSync::write(&store, "ns", "", "plain", vec![1]).unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 2);
        KVStoreSync::remove(&store, "ns", "", "plain", true).unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 2);
        assert!(KVStoreSync::list(&store, "ns", "").unwrap().len() == 10);
        KVStoreSync::remove(&store, "ns", "", "k0", false).unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 3);
        drop(store);
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::list(&store, "ns", "").unwrap().len(), 9);
    }

    #[test]
    fn reads_flush_the_deferred_commits_they_could_see() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        let count = |s: &Store| {
            s.read(|c| {
                c.query_row("SELECT count(*) FROM kv WHERE primary_namespace = 'd'", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap()
        };
        let before = store.sync_stats();
        // Inside the deferring scope, reads see the writes without flushing them.
        let seen = store.deferring_sync(|s| {
            KVStoreSync::write(s, "d", "", "a", vec![1]).unwrap();
            KVStoreSync::write(s, "d", "", "b", vec![2]).unwrap();
            count(s)
        });
        assert_eq!(seen, 2);
        assert_eq!(store.sync_stats().syncs, before.syncs, "no flush inside the scope");
        // Outside it, a read flushes them (once) before it returns what it saw.
        assert_eq!(count(&store), 2);
        assert_eq!(store.sync_stats().syncs, before.syncs + 1);
        assert_eq!(count(&store), 2);
        assert_eq!(store.sync_stats().syncs, before.syncs + 1, "nothing new to flush");
        drop(store);
        assert_eq!(count(&Store::open_sqlite(dir.path()).unwrap()), 2);
    }

    #[test]
    fn synced_transactions_flush_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        let before = store.sync_stats();
        for i in 0..5 {
            store
                .transaction(|tx| {
                    tx.execute("INSERT INTO kv VALUES ('t', '', ?1, x'00')", [format!("k{i}")])?;
                    Ok(())
                })
                .unwrap();
        }
        let after = store.sync_stats();
        assert_eq!(after.commits, before.commits + 5);
        assert_eq!(after.syncs, before.syncs + 5, "one thread: one flush per commit");
        drop(store);
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::list(&store, "t", "").unwrap().len(), 5);
    }
}
