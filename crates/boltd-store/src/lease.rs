//! The node's lease on a shared (PostgreSQL) database: at most one boltd acts as the node.
//!
//! Two processes signing for the same channels lose money, so on PostgreSQL the node acts only
//! while it holds the lease, a row of `boltd_lease`:
//!
//! * **holder and epoch**: a process takes the lease with a holder id of its own (random per
//!   start) and the next epoch. Taking it succeeds only when the row is free or expired by the
//!   *database's* clock (`now()`), never the node's.
//! * **every write checks and renews it, in the same transaction** ([`Store::check_lease`]): the
//!   transaction's first statement updates the row where holder, epoch and an unexpired expiry
//!   match, and sets the expiry `ttl` past the transaction's start. No match: the transaction
//!   fails with [`Error::LeaseLost`], nothing is written, and the store's fatal handler stops
//!   the process (fail-stop). The row stays locked until the commit, so a standby cannot take
//!   the lease while a write of the holder is in flight, and the epoch fences a paused holder:
//!   after a standby took over, every late write of the old holder fails.
//! * **a paused holder cannot block the others**: its session has
//!   `idle_in_transaction_session_timeout` = `ttl`, so a process stopped inside a transaction
//!   loses its connection (and the row lock) and its commit fails.
//! * **renewed without writes too**: a thread renews every `renew_every` (an empty write
//!   transaction); when a renewal fails, or none succeeded for `ttl` (measured from before the
//!   transaction began, so before the database's own start time), the store reports it fatal.
//!   Every write checks the local deadline first, so a holder that cannot reach the database
//!   stops acting before the database lets anyone else take over.
//! * **released on a clean stop** ([`Store::release_lease`]), so a standby takes over at once.
//!
//! Without a lease (SQLite, where the data directory's lock does this job, and the store's own
//! tests on PostgreSQL), writers on PostgreSQL still take a transaction-level advisory lock,
//! which serializes them like SQLite's `BEGIN IMMEDIATE`.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::db::{params, Conn, Error, OptionalExtension, Result};
use crate::error::StoreError;
use crate::Store;

/// The advisory lock that serializes the writers of a store without a lease.
const WRITE_LOCK: i64 = 0x626f_6c74_645f_7772; // "boltd_wr"

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// This process's holder id (random per start, plus something a human recognizes).
    pub holder: String,
    /// How long the lease lasts past a renewal (by the database's clock).
    pub ttl: Duration,
    /// How often the holder renews it, and a standby tries to take it.
    pub renew_every: Duration,
}

/// Who holds the lease, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The holder's id.
    pub holder: String,
    /// The lease's epoch (one more at every change of holder).
    pub epoch: u64,
    /// Whether it is unexpired now (by the database's clock).
    pub live: bool,
}

/// The lease this store holds.
#[derive(Debug)]
pub(crate) struct Lease {
    options: LeaseOptions,
    epoch: u64,
    /// When the last successful renewal's transaction began (before the database's `now()`).
    renewed: Mutex<Instant>,
    /// Writes refused because the lease was lost (for the operator and the tests).
    refused: std::sync::atomic::AtomicU64,
    /// Given up on a clean stop: a refused write is then not a failure.
    released: std::sync::atomic::AtomicBool,
}

impl Lease {
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.options.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

const SQL_RENEW: &str = "UPDATE boltd_lease \
    SET expires_at = now() + ?3 * interval '1 millisecond' \
    WHERE name = 'node' AND holder = ?1 AND epoch = ?2 AND expires_at > now()";

const SQL_TAKE: &str = "INSERT INTO boltd_lease (name, holder, epoch, acquired_at, expires_at) \
    VALUES ('node', ?1, 1, now(), now() + ?2 * interval '1 millisecond') \
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = boltd_lease.epoch + 1, \
    acquired_at = now(), expires_at = excluded.expires_at \
    WHERE boltd_lease.expires_at <= now() \
    RETURNING epoch";

impl Store {
    /// Checks and renews the lease in the transaction that is about to write; `began` is when
    /// the transaction began. Without a lease on PostgreSQL, takes the writers' advisory lock.
    pub(crate) fn check_lease(&self, conn: &Conn, began: Instant) -> Result<()> {
        if !conn.is_postgres() {
            return Ok(());
        }
        let Some(lease) = &self.lease else {
            return conn.query_row("SELECT pg_advisory_xact_lock(?1)", [WRITE_LOCK], |_| Ok(()));
        };
        let refuse = |why: String| {
            lease.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            warn!(holder = %lease.options.holder, epoch = lease.epoch, "write refused: {why}");
            Err(Error::LeaseLost(why))
        };
        let last = *lease.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= lease.options.ttl {
            return refuse(format!(
                "not renewed for {:?} (ttl {:?})",
                last.elapsed(),
                lease.options.ttl
            ));
        }
        let n =
            conn.execute(SQL_RENEW, params![lease.options.holder, lease.epoch, lease.ttl_ms()])?;
        if n != 1 {
            return refuse(format!("epoch {} is no longer this node's", lease.epoch));
        }
        let mut renewed = lease.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        *renewed = (*renewed).max(began);
        Ok(())
    }

    /// Who holds the lease, if anyone ever took it (on PostgreSQL).
    pub fn lease_state(&self) -> Result<Option<LeaseState>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT holder, epoch, expires_at > now() FROM boltd_lease WHERE name = 'node'",
                [],
                |r| Ok(LeaseState { holder: r.get(0)?, epoch: r.get(1)?, live: r.get(2)? }),
            )
            .optional()
        })
    }

    /// Tries once to take the lease; `Some(epoch)` when taken.
    fn try_take_lease(&self, options: &LeaseOptions) -> Result<Option<u64>, StoreError> {
        let ttl_ms = i64::try_from(options.ttl.as_millis()).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query_row(SQL_TAKE, params![options.holder, ttl_ms], |r| r.get::<_, u64>(0))
                .optional()
        })
    }

    /// Takes the lease, waiting while another process holds it: `waiting` is called with the
    /// current holder before each wait (a standby reports it); return `false` from it to stop
    /// waiting ([`StoreError::Locked`]). From then on every write checks and renews it.
    pub fn acquire_lease(
        &mut self,
        options: LeaseOptions,
        mut waiting: impl FnMut(&LeaseState) -> bool,
    ) -> Result<(), StoreError> {
        if !self.conn().is_postgres() {
            return Err(StoreError::invalid("a lease needs a PostgreSQL store"));
        }
        let idle = format!("SET idle_in_transaction_session_timeout = {}", options.ttl.as_millis());
        self.conn().execute_batch(&idle).map_err(|e| StoreError::sqlite(&self.path, e))?;
        loop {
            let began = Instant::now();
            if let Some(epoch) = self.try_take_lease(&options)? {
                info!(holder = %options.holder, epoch, "took the node's lease");
                self.lease = Some(Lease {
                    options,
                    epoch,
                    renewed: Mutex::new(began),
                    refused: Default::default(),
                    released: Default::default(),
                });
                return Ok(());
            }
            let state = self.lease_state()?;
            if let Some(state) = &state {
                if !waiting(state) {
                    return Err(StoreError::Locked { path: self.path.clone(), pid: None });
                }
            }
            std::thread::sleep(options.renew_every);
        }
    }

    /// The lease's epoch, when this store holds one.
    pub fn lease_epoch(&self) -> Option<u64> {
        self.lease.as_ref().map(|l| l.epoch)
    }

    /// Writes refused since the lease was lost.
    pub fn lease_refused_writes(&self) -> u64 {
        self.lease.as_ref().map_or(0, |l| l.refused.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether this store gave its lease up ([`Store::release_lease`]): its refused writes are
    /// then expected, not fatal.
    pub(crate) fn lease_released(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| l.released.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Renews the lease now (an empty write transaction).
    pub fn renew_lease(&self) -> Result<(), StoreError> {
        self.transaction(|_| Ok(()))
    }

    /// Gives the lease up (a clean stop): a standby can take it at once. After this, every
    /// write fails.
    pub fn release_lease(&self) -> Result<(), StoreError> {
        let Some(lease) = &self.lease else { return Ok(()) };
        self.read(|c| {
            c.execute(
                "UPDATE boltd_lease SET expires_at = now() \
                 WHERE name = 'node' AND holder = ?1 AND epoch = ?2",
                params![lease.options.holder, lease.epoch],
            )
        })?;
        lease.released.store(true, std::sync::atomic::Ordering::SeqCst);
        *lease.renewed.lock().unwrap_or_else(PoisonError::into_inner) =
            Instant::now() - lease.options.ttl.min(Duration::from_secs(3600));
        info!(holder = %lease.options.holder, epoch = lease.epoch, "released the node's lease");
        Ok(())
    }

    /// Starts the thread that renews the lease every `renew_every` while the store lives; a
    /// failed renewal is reported fatal by the transaction itself (the lease is lost or cannot
    /// be confirmed).
    pub fn start_lease_renewal(self: &Arc<Store>) {
        let Some(lease) = &self.lease else { return };
        let every = lease.options.renew_every;
        let weak: Weak<Store> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("lease".into()).spawn(move || loop {
            std::thread::sleep(every);
            let Some(store) = weak.upgrade() else { return };
            if store.lease_released() {
                return;
            }
            if let Err(e) = store.renew_lease() {
                warn!(error = %e, "renewing the node's lease failed");
                return;
            }
        });
        if let Err(e) = spawned {
            self.report_fatal(&format!("cannot start the lease renewal thread: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lightning::util::persist::KVStoreSync;

    use super::*;
    use crate::postgres::test_pg_config;

    fn options(holder: &str, ttl_ms: u64) -> LeaseOptions {
        LeaseOptions {
            holder: holder.into(),
            ttl: Duration::from_millis(ttl_ms),
            renew_every: Duration::from_millis(100),
        }
    }

    /// A store on `config` holding the lease as `holder`, counting its fatal reports.
    fn leader(
        config: &crate::db::PgConfig,
        holder: &str,
        ttl_ms: u64,
    ) -> (Store, Arc<AtomicUsize>) {
        let mut store = Store::open_postgres(config).unwrap();
        store.acquire_lease(options(holder, ttl_ms), |_| false).unwrap();
        let fatal = Arc::new(AtomicUsize::new(0));
        let f = Arc::clone(&fatal);
        store.on_fatal(move |_| {
            f.fetch_add(1, Ordering::SeqCst);
        });
        (store, fatal)
    }

    fn write(store: &Store, value: u8) -> Result<(), lightning::io::Error> {
        KVStoreSync::write(store, "", "", "manager", vec![value])
    }

    #[test]
    fn a_second_node_waits_while_the_lease_is_held_and_cannot_be_forced() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_pg_config(dir.path()).unwrap();
        let (a, _) = leader(&config, "a", 10_000);
        write(&a, 1).unwrap();
        let mut b = Store::open_postgres(&config).unwrap();
        let mut seen = Vec::new();
        let err = b
            .acquire_lease(options("b", 10_000), |state| {
                seen.push(state.clone());
                seen.len() < 3
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|s| s.holder == "a" && s.epoch == 1 && s.live), "{seen:?}");
        // Without the lease, b's writes are refused: it never took it.
        assert_eq!(b.lease_epoch(), None);
        write(&a, 2).unwrap();
        assert_eq!(KVStoreSync::read(&b, "", "", "manager").unwrap(), [2]);
    }

    #[test]
    fn an_expired_holder_is_fenced_by_the_next_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_pg_config(dir.path()).unwrap();
        let (a, a_fatal) = leader(&config, "a", 500);
        write(&a, 1).unwrap();
        // a stops renewing (paused); its lease expires by the database's clock.
        std::thread::sleep(Duration::from_millis(700));
        let (b, b_fatal) = leader(&config, "b", 10_000);
        assert_eq!(b.lease_epoch(), Some(2));
        // Every late write of a fails, and is reported fatal; nothing of a's lands.
        for v in [10, 11, 12] {
            let e = write(&a, v).unwrap_err();
            assert!(e.to_string().contains("lease"), "{e}");
        }
        assert_eq!(a.lease_refused_writes(), 3);
        assert!(a_fatal.load(Ordering::SeqCst) >= 3);
        write(&b, 20).unwrap();
        assert_eq!(KVStoreSync::read(&b, "", "", "manager").unwrap(), [20]);
        assert_eq!(b_fatal.load(Ordering::SeqCst), 0);
        // A payment-record transaction of a is refused too, not only LDK's writes.
        assert!(a.renew_lease().is_err());
    }

    #[test]
    fn a_holder_that_cannot_renew_in_time_stops_writing_before_the_database_expires_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_pg_config(dir.path()).unwrap();
        let (a, _) = leader(&config, "a", 300);
        std::thread::sleep(Duration::from_millis(350));
        // Refused by the local deadline, before asking the database.
        let e = a.renew_lease().unwrap_err();
        assert!(e.to_string().contains("not renewed"), "{e}");
    }

    #[test]
    fn renewal_keeps_the_lease_and_release_hands_it_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_pg_config(dir.path()).unwrap();
        let (a, a_fatal) = leader(&config, "a", 400);
        let a = Arc::new(a);
        a.start_lease_renewal();
        std::thread::sleep(Duration::from_millis(1_000));
        write(&a, 1).unwrap();
        assert_eq!(a_fatal.load(Ordering::SeqCst), 0);
        let state = a.lease_state().unwrap().unwrap();
        assert_eq!((state.holder.as_str(), state.epoch, state.live), ("a", 1, true));
        a.release_lease().unwrap();
        assert!(write(&a, 2).is_err());
        let started = Instant::now();
        let (b, _) = leader(&config, "b", 10_000);
        assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
        assert_eq!(b.lease_epoch(), Some(2));
    }

    #[test]
    fn a_holder_paused_inside_a_transaction_loses_its_connection_not_the_others_their_turn() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_pg_config(dir.path()).unwrap();
        let (a, _) = leader(&config, "a", 500);
        let a = Arc::new(a);
        let paused = {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                a.transaction(|tx| {
                    tx.execute("INSERT INTO kv VALUES ('', '', 'late', ?1)", params![vec![1u8]])?;
                    // Paused (SIGSTOP, a long GC, a stuck disk) while holding the lease row.
                    std::thread::sleep(Duration::from_millis(1_500));
                    Ok(())
                })
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        // The lease row is locked by a's open transaction; the server ends a's session after
        // `ttl` idle in it, and b takes over.
        let started = Instant::now();
        let mut b = Store::open_postgres(&config).unwrap();
        b.acquire_lease(options("b", 10_000), |_| started.elapsed() < Duration::from_secs(5))
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert_eq!(b.lease_epoch(), Some(2));
        assert!(paused.join().unwrap().is_err(), "a's commit after its session ended");
        assert!(KVStoreSync::read(&b, "", "", "late").is_err(), "nothing of a's landed");
    }
}
