//! Fail-stop: the node never keeps running half alive.
//!
//! A node whose state can no longer be persisted, or whose background work has stopped, must
//! not go on answering: LDK's background processor handles events, persists the channel manager
//! and runs the timers that claim HTLCs on chain before they expire; if it is gone, the API would
//! still accept payments that nothing finishes. So the node stops the process, at once, when:
//!
//! - the store reports a persistence failure (disk full, I/O error, corrupt file, a failed flush
//!   of the WAL: see `boltd_store::Store::on_fatal`);
//! - a channel monitor or the channel manager cannot be written (`crate::persist`);
//! - a supervised part of the node ends while the node is not stopping: the background
//!   processor's thread, the block poller, the P2P listener, the wallet sync, ... ([`Watch`],
//!   [`FailStop::spawn`]).
//!
//! Stopping is one log line at `error` level starting with `fatal:` and saying what failed,
//! then the process exits with [`EXIT_STORAGE`] (persistence) or [`EXIT_INTERNAL`] (a part of
//! the node stopped). Nothing is acknowledged after the failure: the write that failed returns
//! its error to a caller whose answer never leaves the process. After a restart, SQLite
//! recovers the database to its last durable commit and LDK replays what it had not finished.
//! (In release builds a panic aborts the process too: `panic = "abort"` in the workspace's
//! release profile, and `boltd serve`'s panic hook logs it as one `fatal:` line first.)

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit code after a persistence failure (`EX_IOERR` of `sysexits.h`).
pub const EXIT_STORAGE: i32 = 74;
/// Exit code after a part of the node stopped unexpectedly, or a panic (`EX_SOFTWARE`).
pub const EXIT_INTERNAL: i32 = 70;

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalKind {
    /// Persistence: the store, a channel monitor or the channel manager could not be written.
    Storage,
    /// A supervised part of the node ended while the node was not stopping.
    Stopped,
}

impl FatalKind {
    /// The process's exit code for this failure.
    pub fn exit_code(self) -> i32 {
        match self {
            FatalKind::Storage => EXIT_STORAGE,
            FatalKind::Stopped => EXIT_INTERNAL,
        }
    }
}

type Handler = Box<dyn Fn(FatalKind, &str) + Send + Sync>;

struct Inner {
    /// The node is stopping on purpose: supervised parts may end.
    stopping: AtomicBool,
    /// A fatal failure was reported (only the first one is acted on).
    failed: AtomicBool,
    handler: Handler,
}

/// The node's fail-stop switch, shared by every part that can fail (cheap to clone).
#[derive(Clone)]
pub struct FailStop {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FailStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailStop")
            .field("stopping", &self.is_stopping())
            .field("failed", &self.has_failed())
            .finish()
    }
}

impl FailStop {
    /// Stops the process: what a daemon does (the default of [`crate::Node`]).
    pub fn exit_process() -> Self {
        Self::with_handler(|kind, _| std::process::exit(kind.exit_code()))
    }

    /// Calls `handler` once, on the first failure, after logging it (for tests, and for callers
    /// that stop otherwise).
    pub fn with_handler(handler: impl Fn(FatalKind, &str) + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                stopping: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                handler: Box::new(handler),
            }),
        }
    }

    /// Reports a fatal failure: logs `fatal: <what>` once and runs the handler (by default the
    /// process exits and this never returns). Later reports only log.
    pub fn fail(&self, kind: FatalKind, what: &str) {
        if self.inner.failed.swap(true, Ordering::AcqRel) {
            tracing::error!("after a fatal failure: {what}");
            return;
        }
        tracing::error!(
            exit_code = kind.exit_code(),
            "fatal: {what}; boltd stops now (restart it once the cause is fixed: nothing \
             acknowledged is lost)"
        );
        (self.inner.handler)(kind, what);
    }

    /// Whether a fatal failure was reported.
    pub fn has_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Acquire)
    }

    /// Marks the node as stopping on purpose: supervised parts that end from now on are not
    /// failures.
    pub fn set_stopping(&self) {
        self.inner.stopping.store(true, Ordering::Release);
    }

    /// Whether the node is stopping on purpose.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// A guard for a long-lived thread of the node (or what such a thread owns): when it is
    /// dropped while the node is not stopping (the thread returned, failed or panicked), the
    /// node fails. The node marks itself stopping before it stops or drops its parts.
    pub fn watch(&self, name: &'static str) -> Watch {
        Watch { fail_stop: self.clone(), name }
    }

    /// Spawns a long-lived task on the current Tokio runtime: if it ever returns, or panics,
    /// while the node is not stopping, the node fails. A task that is cancelled (aborted on a
    /// stop, or dropped with its runtime) is not a failure: that is how tasks end.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let fail_stop = self.clone();
        tokio::spawn(async move {
            let on_panic = PanicWatch { fail_stop: fail_stop.clone(), name };
            task.await;
            std::mem::forget(on_panic);
            if !fail_stop.is_stopping() {
                fail_stop.fail(FatalKind::Stopped, &format!("the node's {name} ended"));
            }
        })
    }
}

/// Fails the node when dropped during a panic (see [`FailStop::spawn`]).
struct PanicWatch {
    fail_stop: FailStop,
    name: &'static str,
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.fail_stop.is_stopping() {
            self.fail_stop.fail(FatalKind::Stopped, &format!("the node's {} panicked", self.name));
        }
    }
}

/// See [`FailStop::watch`].
pub struct Watch {
    fail_stop: FailStop,
    name: &'static str,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.fail_stop.is_stopping() {
            let how = if std::thread::panicking() { "panicked" } else { "ended" };
            self.fail_stop.fail(FatalKind::Stopped, &format!("the node's {} {how}", self.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<(FatalKind, String)>>>;

    fn recording() -> (FailStop, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let fs = FailStop::with_handler(move |k, w| s.lock().unwrap().push((k, w.to_string())));
        (fs, seen)
    }

    #[test]
    fn only_the_first_failure_runs_the_handler() {
        let (fs, seen) = recording();
        fs.fail(FatalKind::Storage, "disk full");
        fs.fail(FatalKind::Stopped, "later");
        assert!(fs.has_failed());
        assert_eq!(*seen.lock().unwrap(), vec![(FatalKind::Storage, "disk full".to_string())]);
        assert_eq!(FatalKind::Storage.exit_code(), 74);
        assert_eq!(FatalKind::Stopped.exit_code(), 70);
    }

    #[test]
    fn a_watched_part_that_ends_fails_the_node_unless_it_is_stopping() {
        let (fs, seen) = recording();
        drop(fs.watch("block poller"));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(seen.lock().unwrap()[0].1.contains("block poller ended"));

        let (fs, seen) = recording();
        let w = fs.watch("block poller");
        fs.set_stopping();
        drop(w);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn a_panicking_thread_under_watch_fails_the_node() {
        let (fs, seen) = recording();
        let w = fs.watch("background processor");
        let t = std::thread::spawn(move || {
            let _w = w;
            panic!("boom");
        });
        assert!(t.join().is_err());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].1.contains("background processor panicked"), "{seen:?}");
    }

    #[tokio::test]
    async fn a_spawned_task_that_returns_fails_the_node_an_aborted_one_on_stop_does_not() {
        let (fs, seen) = recording();
        fs.spawn("listener", async {}).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (fs, seen) = recording();
        let t = fs.spawn("listener", std::future::pending());
        t.abort();
        let _ = t.await;
        assert!(seen.lock().unwrap().is_empty(), "cancelled is not ended");

        let (fs, seen) = recording();
        let t = fs.spawn("listener", async { panic!("boom") });
        assert!(t.await.is_err());
        let seen = seen.lock().unwrap();
        assert!(seen[0].1.contains("listener panicked"), "{seen:?}");
    }
}
