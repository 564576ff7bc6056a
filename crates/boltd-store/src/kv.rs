//! LDK's key-value store on the store's database (`kv` table).

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore, KVSTORE_NAMESPACE_KEY_ALPHABET,
    KVSTORE_NAMESPACE_KEY_MAX_LEN,
};

use crate::db::{params, Conn, OptionalExtension};
use crate::error::TxError;
use crate::Store;

const SQL_READ: &str = "SELECT value FROM kv \
	WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3";
pub(crate) const SQL_WRITE: &str =
    "INSERT INTO kv (primary_namespace, secondary_namespace, key, value) \
	VALUES (?1, ?2, ?3, ?4) \
	ON CONFLICT (primary_namespace, secondary_namespace, key) DO UPDATE SET value = excluded.value";
pub(crate) const SQL_REMOVE: &str =
    "DELETE FROM kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3";
const SQL_LIST: &str =
    "SELECT key FROM kv WHERE primary_namespace = ?1 AND secondary_namespace = ?2";
const SQL_LIST_ALL: &str = "SELECT primary_namespace, secondary_namespace, key FROM kv";

/// Checks namespaces and key against [`KVStoreSync`]'s rules. `key` is `None` for `list`.
pub(crate) fn validate(
    primary: &str,
    secondary: &str,
    key: Option<&str>,
    op: &str,
) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    let check = |what: &str, s: &str| -> io::Result<()> {
        if s.len() > KVSTORE_NAMESPACE_KEY_MAX_LEN {
            return invalid(format!(
                "{op}: {what} is {} characters long, at most {KVSTORE_NAMESPACE_KEY_MAX_LEN} \
				 are allowed",
                s.len()
            ));
        }
        if !s.chars().all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c)) {
            return invalid(format!(
                "{op}: {what} {s:?} contains characters outside [A-Za-z0-9_-]"
            ));
        }
        Ok(())
    };
    check("primary namespace", primary)?;
    check("secondary namespace", secondary)?;
    if primary.is_empty() && !secondary.is_empty() {
        return invalid(format!(
            "{op}: secondary namespace {secondary:?} given with an empty primary namespace"
        ));
    }
    if let Some(key) = key {
        if key.is_empty() {
            return invalid(format!("{op}: empty key in {primary:?}/{secondary:?}"));
        }
        check("key", key)?;
    }
    Ok(())
}

impl Store {
    /// A failed SQLite statement of one of LDK's key-value operations, reported to the fatal
    /// handler when it is a persistence failure.
    fn kv_error(
        &self,
        op: &str,
        primary: &str,
        secondary: &str,
        key: &str,
        e: crate::db::Error,
    ) -> io::Error {
        let what = format!("{op} {primary:?}/{secondary:?}/{key:?}");
        self.check_fatal_sqlite(&what, &e);
        io::Error::new(io::ErrorKind::Other, format!("{what} failed: {e}"))
    }

    /// A key-value write or removal on PostgreSQL: its own transaction, so that it checks and
    /// renews the node's lease like every other write.
    fn kv_transaction(
        &self,
        op: &str,
        primary: &str,
        secondary: &str,
        key: &str,
        f: impl FnOnce(&Conn) -> crate::db::Result<usize>,
    ) -> io::Result<()> {
        self.transaction(|tx| f(tx).map_err(TxError::from)).map(|_| ()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::Other,
                format!("{op} {primary:?}/{secondary:?}/{key:?} failed: {e}"),
            )
        })
    }

    /// A key-value write that committed but could not be made durable (a failed or earlier
    /// failed flush): always fatal.
    fn kv_flush_error(
        &self,
        op: &str,
        primary: &str,
        secondary: &str,
        key: &str,
        e: std::io::Error,
    ) -> io::Error {
        let what = format!("{op} {primary:?}/{secondary:?}/{key:?} is not durable: {e}");
        self.report_fatal(&format!("{what} ({})", self.path.display()));
        io::Error::new(io::ErrorKind::Other, what)
    }
}

/// LDK's keys whose value is a cache: the scorer (which the background processor rewrites after
/// every payment) and the network graph. A crash that loses the latest version only leaves an
/// older one, which LDK reads as it does any stale copy, so their writes return once committed
/// and become durable with the next flush; everything else (channel monitors and manager, the
/// sweeper, boltd's own keys) waits for its flush.
fn is_cache(primary: &str, secondary: &str, key: &str) -> bool {
    use lightning::util::persist::{
        NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
    };
    (primary, secondary, key)
        == (
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        )
        || (primary, secondary, key)
            == (
                NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
                NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
                NETWORK_GRAPH_PERSISTENCE_KEY,
            )
}

impl KVStoreSync for Store {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> io::Result<Vec<u8>> {
        validate(primary, secondary, Some(key), "read")?;
        let err = |e| self.kv_error("read", primary, secondary, key, e);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(SQL_READ).map_err(err)?;
        let value = stmt
            .query_row(params![primary, secondary, key], |row| row.get::<_, Vec<u8>>(0))
            .optional()
            .map_err(err)?;
        value.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("key {primary:?}/{secondary:?}/{key:?} not found"),
            )
        })
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> io::Result<()> {
        validate(primary, secondary, Some(key), "write")?;
        if self.is_postgres() {
            return self.kv_transaction("write", primary, secondary, key, |tx| {
                tx.execute(SQL_WRITE, params![primary, secondary, key, buf])
            });
        }
        let err = |e| self.kv_error("write", primary, secondary, key, e);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(SQL_WRITE).map_err(err)?;
        stmt.execute(params![primary, secondary, key, buf]).map_err(err)?;
        let ticket = self.durability.committed();
        drop(stmt);
        drop(conn);
        let cache = is_cache(primary, secondary, key);
        self.wait_durable(ticket, cache)
            .map_err(|e| self.kv_flush_error("write", primary, secondary, key, e))
    }

    /// Removes at once (reads no longer see the key); with `lazy`, returns without waiting for
    /// the disk (the removal becomes durable with the next synced write, as LDK allows).
    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> io::Result<()> {
        validate(primary, secondary, Some(key), "remove")?;
        if self.is_postgres() {
            return self.kv_transaction("remove", primary, secondary, key, |tx| {
                tx.execute(SQL_REMOVE, params![primary, secondary, key])
            });
        }
        let err = |e| self.kv_error("remove", primary, secondary, key, e);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(SQL_REMOVE).map_err(err)?;
        stmt.execute(params![primary, secondary, key]).map_err(err)?;
        let ticket = self.durability.committed();
        drop(stmt);
        drop(conn);
        self.wait_durable(ticket, lazy)
            .map_err(|e| self.kv_flush_error("remove", primary, secondary, key, e))
    }

    fn list(&self, primary: &str, secondary: &str) -> io::Result<Vec<String>> {
        validate(primary, secondary, None, "list")?;
        let err = |e| self.kv_error("list", primary, secondary, "", e);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(SQL_LIST).map_err(err)?;
        let keys = stmt
            .query_map(params![primary, secondary], |row| row.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(keys)
    }
}

impl MigratableKVStore for Store {
    fn list_all_keys(&self) -> io::Result<Vec<(String, String, String)>> {
        let err = |e| self.kv_error("list all keys", "", "", "", e);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(SQL_LIST_ALL).map_err(err)?;
        let keys = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(keys)
    }
}

/// The asynchronous interface runs each operation synchronously, before returning, and hands
/// back an already-completed future.
///
/// SQLite writes are fast (one small statement plus a shared fsync) and durable when they
/// return, so there is nothing to gain from deferring them; doing the work up front also
/// trivially meets [`KVStore::write`]'s ordering requirement, because writes to a key complete in
/// call order.
impl KVStore for Store {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let res = KVStoreSync::read(self, primary, secondary, key);
        Box::pin(async move { res })
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let res = KVStoreSync::write(self, primary, secondary, key, buf);
        Box::pin(async move { res })
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let res = KVStoreSync::remove(self, primary, secondary, key, lazy);
        Box::pin(async move { res })
    }

    fn list(&self, primary: &str, secondary: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let res = KVStoreSync::list(self, primary, secondary);
        Box::pin(async move { res })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// The KV operations, so the same suite runs through the sync and the async trait.
    trait Kv {
        fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>>;
        fn write(&self, p: &str, s: &str, k: &str, v: &[u8]) -> io::Result<()>;
        fn remove(&self, p: &str, s: &str, k: &str) -> io::Result<()>;
        fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>>;
    }

    struct SyncKv<'a>(&'a Store);
    struct AsyncKv<'a>(&'a Store);

    impl Kv for SyncKv<'_> {
        fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
            KVStoreSync::read(self.0, p, s, k)
        }
        fn write(&self, p: &str, s: &str, k: &str, v: &[u8]) -> io::Result<()> {
            KVStoreSync::write(self.0, p, s, k, v.to_vec())
        }
        fn remove(&self, p: &str, s: &str, k: &str) -> io::Result<()> {
            KVStoreSync::remove(self.0, p, s, k, false)
        }
        fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
            KVStoreSync::list(self.0, p, s)
        }
    }

    /// Polls a future once; the store's futures are always ready.
    fn ready<T>(fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("store future was not ready"),
        }
    }

    impl Kv for AsyncKv<'_> {
        fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
            ready(KVStore::read(self.0, p, s, k))
        }
        fn write(&self, p: &str, s: &str, k: &str, v: &[u8]) -> io::Result<()> {
            ready(KVStore::write(self.0, p, s, k, v.to_vec()))
        }
        fn remove(&self, p: &str, s: &str, k: &str) -> io::Result<()> {
            ready(KVStore::remove(self.0, p, s, k, true))
        }
        fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
            ready(KVStore::list(self.0, p, s))
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn suite_round_trip(kv: &dyn Kv) {
        kv.write("", "", "manager", b"cm").unwrap();
        kv.write("monitors", "", "abc_1", b"m1").unwrap();
        kv.write("monitors", "", "abc_2", b"m2").unwrap();
        kv.write("monitor_updates", "abc_1", "1", b"u1").unwrap();
        assert_eq!(kv.read("", "", "manager").unwrap(), b"cm");
        assert_eq!(kv.read("monitors", "", "abc_2").unwrap(), b"m2");
        assert_eq!(kv.read("monitor_updates", "abc_1", "1").unwrap(), b"u1");
        assert_eq!(sorted(kv.list("monitors", "").unwrap()), ["abc_1", "abc_2"]);
        assert_eq!(kv.list("", "").unwrap(), ["manager"]);
        assert_eq!(kv.list("monitor_updates", "abc_1").unwrap(), ["1"]);

        // Upsert overwrites.
        kv.write("monitors", "", "abc_1", b"m1-new").unwrap();
        assert_eq!(kv.read("monitors", "", "abc_1").unwrap(), b"m1-new");
        assert_eq!(kv.list("monitors", "").unwrap().len(), 2);

        // Empty values are values.
        kv.write("monitors", "", "empty", b"").unwrap();
        assert_eq!(kv.read("monitors", "", "empty").unwrap(), b"");
        kv.remove("monitors", "", "empty").unwrap();

        kv.remove("monitors", "", "abc_1").unwrap();
        assert_eq!(kv.list("monitors", "").unwrap(), ["abc_2"]);
        assert_eq!(kv.read("monitors", "", "abc_1").unwrap_err().kind(), io::ErrorKind::NotFound);
        // Removing a missing key is fine.
        kv.remove("monitors", "", "abc_1").unwrap();
        kv.remove("nothing", "here", "x").unwrap();
        // Unknown namespaces list as empty.
        assert!(kv.list("unknown", "").unwrap().is_empty());
        assert!(kv.list("monitors", "unknown").unwrap().is_empty());
    }

    fn suite_not_found(kv: &dyn Kv) {
        let e = kv.read("monitors", "", "missing").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = kv.read("", "", "missing").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    fn suite_namespaces_are_isolated(kv: &dyn Kv) {
        kv.write("a", "", "k", b"1").unwrap();
        kv.write("a", "b", "k", b"2").unwrap();
        kv.write("b", "", "k", b"3").unwrap();
        kv.write("A", "", "k", b"4").unwrap();
        assert_eq!(kv.read("a", "", "k").unwrap(), b"1");
        assert_eq!(kv.read("a", "b", "k").unwrap(), b"2");
        assert_eq!(kv.read("b", "", "k").unwrap(), b"3");
        assert_eq!(kv.read("A", "", "k").unwrap(), b"4");
        kv.remove("a", "", "k").unwrap();
        assert_eq!(kv.read("a", "b", "k").unwrap(), b"2");
        assert_eq!(kv.list("a", "").unwrap(), Vec::<String>::new());
    }

    fn suite_validation(kv: &dyn Kv) {
        let invalid = |r: io::Result<()>| {
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        };
        let long = "a".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1);
        let max = "a".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
        // (primary, secondary, key) triples that must be refused by read/write/remove.
        let bad: &[(&str, &str, &str)] = &[
            ("ns", "", ""),
            ("", "", ""),
            ("", "sec", "k"),
            ("ns/x", "", "k"),
            ("ns", "s.x", "k"),
            ("ns", "", "k y"),
            ("ns", "", "é"),
            ("ns", "", "k\n"),
            ("ns", "", "../k"),
            (&long, "", "k"),
            ("ns", &long, "k"),
            ("ns", "", &long),
        ];
        for &(p, s, k) in bad {
            invalid(kv.write(p, s, k, b"v"));
            invalid(kv.read(p, s, k).map(|_| ()));
            invalid(kv.remove(p, s, k));
        }
        invalid(kv.list("", "sec").map(|_| ()));
        invalid(kv.list("ns/x", "").map(|_| ()));
        invalid(kv.list(&long, "").map(|_| ()));
        // Nothing was written by the refused calls.
        assert!(kv.list("ns", "").unwrap().is_empty());

        // The limits themselves are fine.
        kv.write(&max, &max, &max, b"v").unwrap();
        assert_eq!(kv.read(&max, &max, &max).unwrap(), b"v");
        kv.write("ns", "", KVSTORE_NAMESPACE_KEY_ALPHABET, b"v").unwrap();
        assert_eq!(kv.list("ns", "").unwrap(), [KVSTORE_NAMESPACE_KEY_ALPHABET]);
    }

    fn run_suite(kv: impl Fn(&Store) -> Box<dyn Kv + '_>) {
        let suites: &[fn(&dyn Kv)] =
            &[suite_round_trip, suite_not_found, suite_namespaces_are_isolated, suite_validation];
        for suite in suites {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            suite(&*kv(&store));
        }
    }

    #[test]
    fn kv_suite_sync() {
        run_suite(|s| Box::new(SyncKv(s)));
    }

    #[test]
    fn kv_suite_async() {
        run_suite(|s| Box::new(AsyncKv(s)));
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
    }

    #[test]
    fn data_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            KVStoreSync::write(&store, "", "", "manager", vec![1, 2, 3]).unwrap();
            KVStoreSync::write(&store, "monitors", "", "m", vec![4]).unwrap();
            KVStoreSync::write(&store, "gone", "", "g", vec![5]).unwrap();
            KVStoreSync::remove(&store, "gone", "", "g", true).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "", "", "manager").unwrap(), [1, 2, 3]);
        assert_eq!(KVStoreSync::read(&store, "monitors", "", "m").unwrap(), [4]);
        assert!(KVStoreSync::list(&store, "gone", "").unwrap().is_empty());
    }

    #[test]
    fn list_all_keys_returns_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.list_all_keys().unwrap().is_empty());
        KVStoreSync::write(&store, "", "", "manager", vec![1]).unwrap();
        KVStoreSync::write(&store, "monitors", "", "m", vec![2]).unwrap();
        KVStoreSync::write(&store, "monitor_updates", "m", "7", vec![3]).unwrap();
        let mut all = store.list_all_keys().unwrap();
        all.sort();
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            all,
            [t("", "", "manager"), t("monitor_updates", "m", "7"), t("monitors", "", "m")]
        );
    }

    #[test]
    fn concurrent_writes_all_land() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 50;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let before = store.sync_stats();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        let key = format!("t{t}_k{i}");
                        KVStoreSync::write(&*store, "conc", "", &key, key.as_bytes().to_vec())
                            .unwrap();
                        // Interleave reads and lists with the writes.
                        assert_eq!(
                            KVStoreSync::read(&*store, "conc", "", &key).unwrap(),
                            key.as_bytes()
                        );
                        KVStoreSync::list(&*store, "conc", "").unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let keys = KVStoreSync::list(&*store, "conc", "").unwrap();
        assert_eq!(keys.len(), THREADS * PER_THREAD);
        // Group commit: flushes are at most one per write (fewer when writers overlapped) ...
        let after = store.sync_stats();
        let writes = (THREADS * PER_THREAD) as u64;
        assert_eq!(after.commits - before.commits, writes);
        assert!(after.syncs - before.syncs <= writes, "{after:?}");
        // ... and every write returned durable: nothing is left to flush.
        store.sync().unwrap();
        assert_eq!(store.sync_stats().syncs, after.syncs, "every commit was already flushed");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        for t in 0..THREADS {
            for i in 0..PER_THREAD {
                let key = format!("t{t}_k{i}");
                assert_eq!(KVStoreSync::read(&store, "conc", "", &key).unwrap(), key.as_bytes());
            }
        }
    }

    #[test]
    fn only_cache_keys_skip_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        let before = store.sync_stats();
        KVStoreSync::write(&store, "", "", "scorer", vec![1]).unwrap();
        KVStoreSync::write(&store, "", "", "network_graph", vec![2]).unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs, "caches do not wait");
        KVStoreSync::write(&store, "", "", "manager", vec![3]).unwrap();
        assert_eq!(store.sync_stats().syncs, before.syncs + 1, "the manager waits (for all three)");
        KVStoreSync::write(&store, "monitors", "", "scorer", vec![4]).unwrap();
        assert_eq!(
            store.sync_stats().syncs,
            before.syncs + 2,
            "a key named like one elsewhere waits"
        );
        drop(store);
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "", "", "scorer").unwrap(), [1]);
    }
}
