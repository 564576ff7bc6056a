//! A `boltd serve` child process that any thread can SIGKILL, stop with SIGTERM and start again
//! on the same data directory and P2P port, while other threads call its API.
//!
//! Callers never hold the process: they take the current [`ApiClient`] ([`Daemon::api`]), which
//! is `None` while the daemon is down, and a call made through [`Daemon::get`] or
//! [`Daemon::post_with_key`] while it is down fails like a refused connection (status 0).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{ApiClient, ApiFailure, ChainAccess, HarnessError, TestNode};

/// How long one API request of a torture client may take before the client counts it as a
/// timeout (and retries).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A restartable `boltd serve` child process (see the module documentation).
pub struct Daemon {
    /// A name for messages ("A").
    pub name: String,
    /// Its data directory (its log is `<data_dir>.log`).
    pub data_dir: PathBuf,
    /// Its node id (hex).
    pub node_id: String,
    /// Its P2P port on 127.0.0.1 (the same after every restart).
    pub p2p_port: u16,
    exe: PathBuf,
    /// Arguments to `boltd serve` beyond the lab's, on every start.
    extra: Vec<String>,
    chain: ChainAccess,
    token: String,
    node: Mutex<Option<TestNode>>,
    api: RwLock<Option<ApiClient>>,
    starts: AtomicU32,
}

/// How a daemon ended after SIGTERM.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Its exit code (`None`: killed by a signal, or SIGKILLed after the timeout).
    pub code: Option<i32>,
    /// How long it took from SIGTERM to exit (or to the timeout).
    pub after: Duration,
    /// Set when it did not exit within the timeout (it was then SIGKILLed).
    pub timed_out: Option<String>,
}

impl Daemon {
    /// Starts `boltd serve` (the binary `exe`) on `data_dir` with its P2P port `p2p_port`.
    pub fn spawn(
        name: &str,
        exe: &Path,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
    ) -> Result<Daemon, HarnessError> {
        Self::spawn_with(name, exe, data_dir, chain, p2p_port, &[])
    }

    /// [`Daemon::spawn`] with `extra` arguments to `boltd serve`, kept for every restart.
    pub fn spawn_with(
        name: &str,
        exe: &Path,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
        extra: &[&str],
    ) -> Result<Daemon, HarnessError> {
        let node = TestNode::spawn_with(name, exe, data_dir, chain, p2p_port, extra)?;
        let d = Daemon {
            extra: extra.iter().map(|a| a.to_string()).collect(),
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            node_id: node.node_id.clone(),
            p2p_port,
            exe: exe.to_path_buf(),
            chain: chain.clone(),
            token: node.admin_token().to_string(),
            node: Mutex::new(None),
            api: RwLock::new(None),
            starts: AtomicU32::new(1),
        };
        d.install(node);
        Ok(d)
    }

    fn install(&self, node: TestNode) {
        let api = ApiClient::with_timeout(&node.api_url, Some(&self.token), REQUEST_TIMEOUT);
        *self.lock() = Some(node);
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = Some(api);
    }

    fn lock(&self) -> MutexGuard<'_, Option<TestNode>> {
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running node, for the lab's set-up helpers (`None` while it is down). Do not hold
    /// it while another thread may kill or start the daemon.
    pub fn node(&self) -> MutexGuard<'_, Option<TestNode>> {
        self.lock()
    }

    /// A client for its API as it runs now; `None` while it is down.
    pub fn api(&self) -> Option<ApiClient> {
        self.api.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether it runs.
    pub fn is_up(&self) -> bool {
        self.api().is_some()
    }

    /// How many times it was started (the first start included).
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// Its log file (stderr of every start, appended).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    fn down(&self) -> ApiFailure {
        ApiFailure { status: 0, body: json!(format!("{} is down", self.name)) }
    }

    /// `GET path` on the running daemon (status 0 while it is down).
    pub fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.api().ok_or_else(|| self.down())?.get(path)
    }

    /// `POST path` with a JSON body (status 0 while it is down).
    pub fn post(&self, path: &str, body: Value) -> Result<Value, ApiFailure> {
        self.api().ok_or_else(|| self.down())?.post(path, body)
    }

    /// `DELETE path` on the running daemon (status 0 while it is down).
    pub fn delete(&self, path: &str) -> Result<Value, ApiFailure> {
        self.api().ok_or_else(|| self.down())?.delete(path)
    }

    /// `POST path` with a JSON body and an `Idempotency-Key` (status 0 while it is down).
    pub fn post_with_key(&self, path: &str, body: Value, key: &str) -> Result<Value, ApiFailure> {
        self.api().ok_or_else(|| self.down())?.post_with_key(path, body, key)
    }

    /// SIGKILLs it (no clean shutdown) and waits until it is dead. Calls made from now on fail
    /// as if the connection were refused.
    pub fn kill(&self) -> Result<(), HarnessError> {
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = None;
        let mut node = self.lock();
        let result = match node.as_mut() {
            // A child that already exited (and was reaped) cannot be signalled: that is fine.
            Some(n) => n.kill().or_else(|e| match n.try_exit_status() {
                Ok(Some(_)) => Ok(()),
                _ => Err(e),
            }),
            None => Ok(()),
        };
        *node = None;
        result
    }

    /// Sends SIGTERM and waits at most `timeout` for it to exit (then SIGKILLs it).
    pub fn sigterm(&self, timeout: Duration) -> Result<Stopped, HarnessError> {
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = None;
        let mut node = self.lock();
        let Some(mut n) = node.take() else {
            return Err(HarnessError::Other(format!("{} is not running", self.name)));
        };
        let t0 = Instant::now();
        let stopped = match n.stop_within(timeout) {
            Ok(code) => Stopped { code, after: t0.elapsed(), timed_out: None },
            Err(e) => Stopped { code: None, after: t0.elapsed(), timed_out: Some(e.to_string()) },
        };
        Ok(stopped)
    }

    /// Starts it again on the same data directory and P2P port, and waits for its ready line.
    /// Returns how long that took.
    pub fn start(&self) -> Result<Duration, HarnessError> {
        let t0 = Instant::now();
        let mut guard = self.lock();
        if guard.is_some() {
            return Err(HarnessError::Other(format!("{} is already running", self.name)));
        }
        let node = TestNode::spawn_with(
            &self.name,
            &self.exe,
            &self.data_dir,
            &self.chain,
            self.p2p_port,
            &self.extra.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let api = ApiClient::with_timeout(&node.api_url, Some(&self.token), REQUEST_TIMEOUT);
        *guard = Some(node);
        drop(guard);
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = Some(api);
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(t0.elapsed())
    }

    /// The lines of its log that contain any of `needles` (case-insensitive).
    pub fn log_lines_with(&self, needles: &[&str]) -> Vec<String> {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
        log.lines()
            .filter(|l| {
                let l = l.to_lowercase();
                needles.iter().any(|n| l.contains(n))
            })
            .map(super::check::plain)
            .collect()
    }
}
