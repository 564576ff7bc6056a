//! Group commit: many commits, one `fdatasync`.
//!
//! The store's connection commits with `synchronous=NORMAL` (WAL mode): a commit writes its
//! frames to the write-ahead log and returns without waiting for the disk. A writer that needs
//! its commit durable then waits here: one thread at a time runs `fdatasync` on the WAL file,
//! which makes durable every commit made before it started, and everyone whose commit it covers
//! returns together. While one `fdatasync` runs, others commit; the next one covers them all.
//! So N concurrent writers pay about one disk flush, not N, and a commit that returns after its
//! wait is exactly as durable as a `synchronous=FULL` commit (which is one `fdatasync` of the
//! same WAL file at the end of the commit).
//!
//! Because the WAL is one append-only file, a commit that did not wait becomes durable with the
//! next one that does. [`Store::deferring_sync`](crate::Store::deferring_sync) uses that for
//! writes whose durability another, later, synced write already guarantees (see there).
//!
//! A failed `fdatasync` poisons the store: the kernel may have dropped the unwritten pages, and a
//! later `fdatasync` could succeed without them, so every later wait fails and boltd must be
//! restarted (SQLite then recovers the log to its last durable commit).

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

thread_local! {
    /// Set while [`crate::Store::deferring_sync`] runs on this thread.
    static DEFER: Cell<bool> = const { Cell::new(false) };
}

/// Counters of the group commit (see [`crate::Store::sync_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Commits made on the store's connection.
    pub commits: u64,
    /// `fdatasync` calls that made them durable.
    pub syncs: u64,
}

#[derive(Default)]
struct State {
    /// Tickets issued: commits made, in WAL order.
    committed: u64,
    /// Every commit up to this ticket is durable.
    synced: u64,
    /// One thread is running `fdatasync`.
    syncing: bool,
    /// A failed `fdatasync`: the store is poisoned.
    failed: Option<String>,
    syncs: u64,
}

pub(crate) struct Durability {
    /// Whether commits skip their own flush (WAL mode); without WAL they are all synced.
    group: bool,
    wal_path: PathBuf,
    wal: Mutex<Option<File>>,
    state: Mutex<State>,
    synced: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing below leaves the counters half-updated when it panics.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Durability {
    /// For the database at `db_path` (its WAL is `<db_path>-wal`); `group`: the connection
    /// runs in WAL mode with `synchronous=NORMAL`, so writers wait here for their flush.
    pub(crate) fn new(db_path: &Path, group: bool) -> Durability {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        Durability {
            group,
            wal_path: PathBuf::from(wal),
            wal: Mutex::new(None),
            state: Mutex::new(State::default()),
            synced: Condvar::new(),
        }
    }

    /// Whether commits on this thread skip waiting (inside `deferring_sync`).
    pub(crate) fn deferred() -> bool {
        DEFER.with(Cell::get)
    }

    /// Runs `f` with this thread's commits not waiting for the disk.
    pub(crate) fn defer<T>(f: impl FnOnce() -> T) -> T {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                DEFER.with(|d| d.set(self.0));
            }
        }
        let _restore = Restore(DEFER.with(|d| d.replace(true)));
        f()
    }

    /// Records a commit and returns its ticket. Called while the connection is still held, so
    /// tickets follow the order of the commits in the WAL.
    pub(crate) fn committed(&self) -> u64 {
        let mut s = lock(&self.state);
        s.committed += 1;
        s.committed
    }

    /// The latest ticket issued.
    pub(crate) fn last(&self) -> u64 {
        lock(&self.state).committed
    }

    /// The counters.
    pub(crate) fn stats(&self) -> SyncStats {
        let s = lock(&self.state);
        SyncStats { commits: s.committed, syncs: s.syncs }
    }

    /// Fails if an earlier flush failed (the store is poisoned).
    pub(crate) fn check(&self) -> io::Result<()> {
        match &lock(&self.state).failed {
            Some(why) => Err(self.poisoned(why)),
            None => Ok(()),
        }
    }

    fn poisoned(&self, why: &str) -> io::Error {
        io::Error::other(format!(
            "an earlier fdatasync of {} failed ({why}): writes since may not be durable; \
             restart boltd",
            self.wal_path.display()
        ))
    }

    /// Waits until the commit with `ticket` (and every one before it) is durable.
    pub(crate) fn wait(&self, ticket: u64) -> io::Result<()> {
        if !self.group {
            return Ok(());
        }
        let mut s = lock(&self.state);
        loop {
            if let Some(why) = &s.failed {
                return Err(self.poisoned(why));
            }
            if s.synced >= ticket {
                return Ok(());
            }
            if s.syncing {
                s = self.synced.wait(s).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Lead: everything committed so far is in the WAL file, so one flush covers it.
            s.syncing = true;
            let target = s.committed;
            drop(s);
            let result = self.sync_wal();
            s = lock(&self.state);
            s.syncing = false;
            match result {
                Ok(()) => {
                    s.synced = s.synced.max(target);
                    s.syncs += 1;
                }
                Err(e) => {
                    tracing::error!(wal = %self.wal_path.display(), "fdatasync failed: {e}");
                    s.failed = Some(e.to_string());
                }
            }
            self.synced.notify_all();
        }
    }

    fn sync_wal(&self) -> io::Result<()> {
        let mut wal = lock(&self.wal);
        if wal.is_none() {
            // SQLite keeps the WAL file for as long as a connection is open (it only deletes it
            // when the last one closes), and the store's connection lives as long as this.
            *wal = Some(File::options().read(true).write(true).open(&self.wal_path)?);
        }
        wal.as_ref().expect("opened above").sync_data()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn one_flush_covers_every_earlier_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(dir.path().join("db-wal"), b"frames").unwrap();
        let d = Durability::new(&db, true);
        let tickets: Vec<u64> = (0..5).map(|_| d.committed()).collect();
        assert_eq!(tickets, [1, 2, 3, 4, 5]);
        d.wait(3).unwrap();
        // The flush started after ticket 5 was issued, so it covers all five.
        assert_eq!(d.stats(), SyncStats { commits: 5, syncs: 1 });
        d.wait(5).unwrap();
        d.wait(1).unwrap();
        assert_eq!(d.stats().syncs, 1, "nothing new to flush");
        d.committed();
        d.wait(6).unwrap();
        assert_eq!(d.stats(), SyncStats { commits: 6, syncs: 2 });
    }

    #[test]
    fn concurrent_waiters_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db-wal"), b"frames").unwrap();
        let d = Arc::new(Durability::new(&dir.path().join("db"), true));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let d = Arc::clone(&d);
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let t = d.committed();
                        d.wait(t).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = d.stats();
        assert_eq!(s.commits, 200);
        assert!(s.syncs >= 1 && s.syncs <= 200, "{s:?}");
    }

    #[test]
    fn a_failed_flush_poisons_for_good() {
        let dir = tempfile::tempdir().unwrap();
        // No WAL file: the flush cannot even open it.
        let d = Durability::new(&dir.path().join("db"), true);
        let t = d.committed();
        let first = d.wait(t).unwrap_err().to_string();
        assert!(first.contains("db-wal") && first.contains("restart boltd"), "{first}");
        // Even once the file exists, nothing is reported durable any more.
        std::fs::write(dir.path().join("db-wal"), b"frames").unwrap();
        assert!(d.wait(t).is_err());
        let t2 = d.committed();
        assert!(d.wait(t2).is_err());
        assert!(d.check().is_err(), "writes that do not wait fail too");
        assert_eq!(d.stats().syncs, 0);
    }

    #[test]
    fn without_wal_there_is_nothing_to_wait_for() {
        let dir = tempfile::tempdir().unwrap();
        let d = Durability::new(&dir.path().join("db"), false);
        let t = d.committed();
        d.wait(t).unwrap();
        assert_eq!(d.stats().syncs, 0);
    }

    #[test]
    fn deferral_is_scoped_to_the_thread_and_the_call() {
        assert!(!Durability::deferred());
        let inner = Durability::defer(|| {
            let other = std::thread::spawn(Durability::deferred).join().unwrap();
            (Durability::deferred(), Durability::defer(Durability::deferred), other)
        });
        assert_eq!(inner, (true, true, false));
        assert!(!Durability::deferred());
        let _ = std::panic::catch_unwind(|| Durability::defer(|| panic!("unwinds")));
        assert!(!Durability::deferred(), "restored after a panic too");
    }
}
