//! A real `bitcoind -regtest` on loopback, one per [`Bitcoind`], in a throwaway data directory
//! ([`Bitcoind::start`]) or in a kept one with fixed ports and credentials
//! ([`Bitcoind::start_persistent`], for the playground).
//!
//! The binary is Bitcoin Core built without its wallet (see `scripts/bitcoind.sh`), so there are
//! no wallet RPCs: coins are made by mining to an address ([`Bitcoind::fund_address`]) and
//! transactions are built by the caller and broadcast with [`Bitcoind::send_raw_tx`].
//!
//! Everything here is blocking (RPC calls and polling sleep the calling thread); from async code
//! call it through `tokio::task::spawn_blocking` or accept that a runtime worker is blocked for
//! the (short) duration of a regtest RPC.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bdk_bitcoind_rpc::bitcoincore_rpc::{self, jsonrpc, RpcApi};
use bitcoin::opcodes::OP_TRUE;
use bitcoin::{Address, Amount, BlockHash, Network, ScriptBuf, Transaction, Txid};
use tempfile::TempDir;

use crate::process::{die_with_parent, spawn_from_keeper};
use crate::{wait_until, HarnessError};

/// The workspace root, where `scripts/bitcoind.sh` lives.
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// How long [`Bitcoind::start`] waits for the RPC server to answer.
const RPC_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Bitcoind::stop`] waits for a clean shutdown before `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-request timeout of the RPC client (mining many blocks can take a while on a busy machine).
const RPC_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times [`Bitcoind::start`] retries with fresh ports when one was taken meanwhile.
const START_ATTEMPTS: usize = 3;
/// Blocks a coinbase output needs on top of it before it can be spent.
const COINBASE_MATURITY: u32 = 100;

/// Returns the path of the `bitcoind` binary, finding or building it on first use.
///
/// Runs `bash <workspace>/scripts/bitcoind.sh` once per process and caches the outcome (success
/// or failure) in a [`OnceLock`]; concurrent callers wait for the first one. The script prefers
/// `$BITCOIND_EXE`, then `bitcoind` on `PATH`, then a cached build under
/// `${XDG_CACHE_HOME:-$HOME/.cache}/boltd/`, and otherwise builds Bitcoin Core (about 6 minutes
/// on 2 cores). Its stderr is inherited, so the build progress shows; its stdout is the path.
pub fn bitcoind_exe() -> Result<PathBuf, HarnessError> {
    static EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    EXE.get_or_init(find_or_build_bitcoind).clone().map_err(HarnessError::BitcoindExe)
}

fn find_or_build_bitcoind() -> Result<PathBuf, String> {
    let script = Path::new(WORKSPACE_ROOT).join("scripts").join("bitcoind.sh");
    let script = script.canonicalize().unwrap_or(script);
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run `bash {}`: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`bash {}` failed ({}); its messages are on stderr above",
            script.display(),
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).ok_or_else(|| {
        format!("`bash {}` succeeded but printed no path on stdout", script.display())
    })?;
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(format!(
            "`bash {}` printed {}, which is not a file",
            script.display(),
            path.display()
        ));
    }
    Ok(path)
}

/// The witness script `OP_TRUE`: anyone can spend a P2WSH output of it, with the witness
/// `[op_true_script()]` and no signature.
///
/// [`Bitcoind::mine`] pays its coinbases to the P2WSH of this script
/// ([`Bitcoind::mining_address`]), so tests can spend mined coins without any key.
pub fn op_true_script() -> ScriptBuf {
    ScriptBuf::builder().push_opcode(OP_TRUE).into_script()
}

/// A running `bitcoind -regtest`, listening on loopback only, with its data directory in a fresh
/// temporary directory ([`Bitcoind::start`]) or in a given one that is kept
/// ([`Bitcoind::start_persistent`]).
///
/// Each instance made by [`Bitcoind::start`] gets its own RPC and P2P ports (found by binding `127.0.0.1:0`) and a random RPC
/// user and password, so several can run at once, in one test or in parallel tests. Instances do
/// not connect to each other or to anything else (no DNS or fixed seeds).
///
/// The process is stopped by [`Bitcoind::stop`] or on drop (also while a test panics), and a
/// temporary data directory is then deleted (a persistent one is kept). A test can also stop it
/// cleanly and start it again on the same data directory, ports and credentials while other
/// threads use it ([`Bitcoind::shut_down`], [`Bitcoind::start_again`]; calls made meanwhile
/// fail like a refused connection). On Linux the process is also spawned with
/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`, so the kernel kills it if the test process dies without
/// running destructors (e.g. it is itself `SIGKILL`ed). Because that signal fires when the
/// *thread* that spawned the child exits, children are spawned from a dedicated thread that
/// lives as long as the process, so a `Bitcoind` may be created on one thread and used and
/// dropped on others.
pub struct Bitcoind {
    /// `None` while stopped.
    child: Mutex<Option<Child>>,
    pid: AtomicU32,
    /// The binary and the extra arguments it was started with (to start it again).
    exe: PathBuf,
    extra: Vec<String>,
    client: bitcoincore_rpc::Client,
    rpc_port: u16,
    p2p_port: u16,
    rpc_user: String,
    rpc_password: String,
    mining_address: Address,
    /// Declared last so it is deleted after the process has been stopped.
    datadir: DataDir,
}

/// Where a [`Bitcoind`] keeps its data.
enum DataDir {
    /// Deleted on drop ([`Bitcoind::start`]).
    Temp(TempDir),
    /// Kept ([`Bitcoind::start_persistent`]).
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }
}

/// Why one start attempt failed.
enum StartFailure {
    /// A port was taken between finding it free and bitcoind binding it: retry with others.
    PortTaken(String),
    /// Anything else.
    Fatal(HarnessError),
}

impl Bitcoind {
    /// Starts a fresh `bitcoind -regtest` and waits until its RPC answers `getblockchaininfo`.
    ///
    /// Finds the binary with [`bitcoind_exe`] (which may build it on first use). Fails if the
    /// process exits early or the RPC does not answer within 60 s; the error then includes the
    /// last RPC error and the tail of bitcoind's `debug.log`. If a port turns out to have been
    /// taken meanwhile, it retries with new ports (3 attempts).
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_on(free_port_pair)
    }

    /// [`Bitcoind::start`] on ports below Linux's ephemeral range ([`crate::free_port`]), so
    /// that no outgoing connection can take one of them while bitcoind is down: for tests that
    /// stop it and start it again on the same ports ([`Bitcoind::start_again`]).
    pub fn start_restartable() -> Result<Self, HarnessError> {
        Self::start_on(|| {
            let port = |_| io::Error::other("no free port below the ephemeral range");
            Ok((crate::free_port().map_err(port)?, crate::free_port().map_err(port)?))
        })
    }

    fn start_on(ports: fn() -> io::Result<(u16, u16)>) -> Result<Self, HarnessError> {
        let exe = bitcoind_exe()?;
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::start_once(&exe, ports) {
                Ok(bitcoind) => return Ok(bitcoind),
                Err(StartFailure::PortTaken(msg)) => {
                    tracing::debug!(attempt, "bitcoind could not bind its ports, retrying: {msg}");
                    last = msg;
                }
                Err(StartFailure::Fatal(e)) => return Err(e),
            }
        }
        Err(HarnessError::BitcoindStart(format!(
            "its ports were taken by someone else {START_ATTEMPTS} times in a row; last: {last}"
        )))
    }

    /// Starts `bitcoind -regtest` on the data directory `datadir` (created if missing, kept on
    /// stop and drop), with the RPC on `127.0.0.1:rpc_port`, P2P on `127.0.0.1:p2p_port` and the
    /// given credentials, and waits until its RPC answers. A chain already in `datadir` is
    /// resumed.
    ///
    /// Finds the binary with [`bitcoind_exe`] (which may build it on first use). Unlike
    /// [`Bitcoind::start`] it does not retry on other ports: a port in use, or a data directory
    /// that another bitcoind holds, is an error that says so.
    pub fn start_persistent(
        datadir: &Path,
        rpc_port: u16,
        p2p_port: u16,
        rpc_user: &str,
        rpc_password: &str,
    ) -> Result<Self, HarnessError> {
        Self::start_persistent_with(datadir, rpc_port, p2p_port, rpc_user, rpc_password, &[])
    }

    /// [`Bitcoind::start_persistent`] with `extra` arguments for bitcoind (e.g. `-reindex`).
    pub fn start_persistent_with(
        datadir: &Path,
        rpc_port: u16,
        p2p_port: u16,
        rpc_user: &str,
        rpc_password: &str,
        extra: &[&str],
    ) -> Result<Self, HarnessError> {
        let exe = bitcoind_exe()?;
        // bitcoind resolves a relative `-debuglogfile` against its datadir: use absolute paths.
        let datadir = &std::path::absolute(datadir).map_err(|e| {
            HarnessError::io(format!("resolving the data directory {}", datadir.display()), e)
        })?;
        std::fs::create_dir_all(datadir).map_err(|e| {
            HarnessError::io(
                format!("creating the bitcoind data directory {}", datadir.display()),
                e,
            )
        })?;
        let datadir = DataDir::Kept(datadir.to_path_buf());
        match Self::launch(&exe, datadir, rpc_port, p2p_port, rpc_user, rpc_password, extra) {
            Ok(bitcoind) => Ok(bitcoind),
            Err(StartFailure::PortTaken(msg)) => Err(HarnessError::BitcoindStart(format!(
                "port {rpc_port} (RPC) or {p2p_port} (P2P) on 127.0.0.1 is already in use; {msg}"
            ))),
            Err(StartFailure::Fatal(e)) => Err(e),
        }
    }

    fn start_once(exe: &Path, ports: fn() -> io::Result<(u16, u16)>) -> Result<Self, StartFailure> {
        let fatal = StartFailure::Fatal;
        let datadir = tempfile::Builder::new()
            .prefix("boltd-bitcoind-")
            .tempdir()
            .map_err(|e| fatal(HarnessError::io("creating a bitcoind data directory", e)))?;
        let (rpc_port, p2p_port) =
            ports().map_err(|e| fatal(HarnessError::io("finding free loopback ports", e)))?;
        let rpc_user = format!("harness-{}", random_hex(4));
        let rpc_password = random_hex(16);
        Self::launch(exe, DataDir::Temp(datadir), rpc_port, p2p_port, &rpc_user, &rpc_password, &[])
    }

    /// Spawns bitcoind on `datadir` with the given ports, credentials and `extra` arguments,
    /// and waits for its RPC.
    fn launch(
        exe: &Path,
        datadir: DataDir,
        rpc_port: u16,
        p2p_port: u16,
        rpc_user: &str,
        rpc_password: &str,
        extra: &[&str],
    ) -> Result<Self, StartFailure> {
        let rpc_url = format!("http://127.0.0.1:{rpc_port}");
        // From here on, dropping `bitcoind` stops the process.
        let bitcoind = Bitcoind {
            child: Mutex::new(None),
            pid: AtomicU32::new(0),
            exe: exe.to_path_buf(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            client: rpc_client(&rpc_url, rpc_user, rpc_password, RPC_REQUEST_TIMEOUT)
                .map_err(StartFailure::Fatal)?,
            rpc_port,
            p2p_port,
            rpc_user: rpc_user.to_string(),
            rpc_password: rpc_password.to_string(),
            mining_address: Address::p2wsh(&op_true_script(), Network::Regtest),
            datadir,
        };
        bitcoind.spawn()?;
        Ok(bitcoind)
    }

    /// Spawns the process on this instance's data directory, ports, credentials and arguments,
    /// and waits for its RPC.
    fn spawn(&self) -> Result<(), StartFailure> {
        let fatal = StartFailure::Fatal;
        let dir = self.datadir();
        let stderr = File::create(dir.join("stderr.log"))
            .map_err(|e| fatal(HarnessError::io("creating bitcoind's stderr.log", e)))?;
        let (rpc_port, p2p_port) = (self.rpc_port, self.p2p_port);

        let mut cmd = Command::new(&self.exe);
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", dir.display()))
            .arg("-server")
            .arg("-listen=1")
            .arg(format!("-bind=127.0.0.1:{p2p_port}"))
            .arg(format!("-port={p2p_port}"))
            .arg("-rpcbind=127.0.0.1")
            .arg("-rpcallowip=127.0.0.1")
            .arg(format!("-rpcport={rpc_port}"))
            .arg(format!("-rpcuser={}", self.rpc_user))
            .arg(format!("-rpcpassword={}", self.rpc_password))
            .arg("-fallbackfee=0.0002")
            .arg("-txindex=1")
            .arg("-printtoconsole=0")
            .arg(format!("-debuglogfile={}", dir.join("debug.log").display()))
            .arg("-blockfilterindex=0")
            .arg("-dnsseed=0")
            .arg("-fixedseeds=0")
            .arg("-discover=0")
            .arg("-listenonion=0")
            .arg("-rest=0")
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        die_with_parent(&mut cmd);

        let child = spawn_from_keeper(cmd).map_err(|e| {
            fatal(HarnessError::io(format!("spawning {} -regtest", self.exe.display()), e))
        })?;
        let pid = child.id();
        self.pid.store(pid, Ordering::SeqCst);
        *self.child() = Some(child);
        self.wait_for_rpc()?;
        tracing::debug!(pid, rpc_port, p2p_port, datadir = %dir.display(), "bitcoind started");
        Ok(())
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the RPC answers, or the process exits, or [`RPC_READY_TIMEOUT`] elapses.
    fn wait_for_rpc(&self) -> Result<(), StartFailure> {
        let our_log = self.debug_log_path();
        let rpc_port = self.rpc_port;
        let client = &self.client;
        let result = wait_until(
            "bitcoind's RPC to answer getblockchaininfo",
            RPC_READY_TIMEOUT,
            Duration::from_millis(100),
            || {
                let exited = self
                    .child()
                    .as_mut()
                    .ok_or_else(|| HarnessError::Other("bitcoind was stopped meanwhile".into()))?
                    .try_wait()
                    .map_err(|e| HarnessError::io("checking whether bitcoind is alive", e))?;
                if let Some(status) = exited {
                    return Ok(Some(Err(status)));
                }
                client
                    .call::<serde_json::Value>("getblockchaininfo", &[])
                    .map_err(|e| HarnessError::rpc("getblockchaininfo", e))?;
                // Another bitcoind with the same credentials may answer on this port (ours then
                // exits, unable to bind): only ours writes to our log file.
                let info = client
                    .call::<serde_json::Value>("getrpcinfo", &[])
                    .map_err(|e| HarnessError::rpc("getrpcinfo", e))?;
                let logpath = Path::new(info["logpath"].as_str().unwrap_or_default());
                if same_file(logpath, &our_log) {
                    Ok(Some(Ok(())))
                } else {
                    Err(HarnessError::Other(format!(
                        "another bitcoind answers on 127.0.0.1:{rpc_port} (its log is {})",
                        logpath.display()
                    )))
                }
            },
        );
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => {
                let stderr = self.stderr_text();
                let log = self.log_tail(30);
                let msg = format!(
                    "bitcoind exited ({status}) before its RPC answered; stderr: {stderr:?}; \
                     log tail:\n{log}"
                );
                if stderr.contains("Unable to bind")
                    || stderr.contains("Unable to start HTTP server")
                    || log.contains("Unable to bind")
                {
                    Err(StartFailure::PortTaken(msg))
                } else {
                    Err(StartFailure::Fatal(HarnessError::BitcoindStart(msg)))
                }
            }
            Err(HarnessError::Timeout { last_error, .. }) => {
                let stderr = self.stderr_text();
                let stderr =
                    if stderr.is_empty() { String::new() } else { format!(", stderr: {stderr:?}") };
                Err(StartFailure::Fatal(HarnessError::BitcoindStart(format!(
                    "bitcoind RPC did not answer within {} s; last error: {}{stderr}, log tail:\n{}",
                    RPC_READY_TIMEOUT.as_secs(),
                    last_error.as_deref().unwrap_or("none"),
                    self.log_tail(30)
                ))))
            }
            Err(e) => Err(StartFailure::Fatal(e)),
        }
    }

    /// The RPC URL, `http://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// The RPC port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The RPC user name (random per instance made by [`Bitcoind::start`]).
    pub fn rpc_user(&self) -> &str {
        &self.rpc_user
    }

    /// The RPC password (random per instance made by [`Bitcoind::start`]).
    pub fn rpc_password(&self) -> &str {
        &self.rpc_password
    }

    /// The P2P port on 127.0.0.1 (to connect a node that syncs blocks over P2P).
    pub fn p2p_port(&self) -> u16 {
        self.p2p_port
    }

    /// The data directory (`-datadir`); regtest files are in its `regtest/` subdirectory.
    /// Deleted when this `Bitcoind` is dropped, unless it was started with
    /// [`Bitcoind::start_persistent`].
    pub fn datadir(&self) -> &Path {
        self.datadir.path()
    }

    /// The path of bitcoind's debug log (`<datadir>/debug.log`).
    pub fn debug_log_path(&self) -> PathBuf {
        self.datadir().join("debug.log")
    }

    /// The last `lines` lines of bitcoind's debug log (empty if it cannot be read).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.debug_log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// What bitcoind wrote on its stderr (start-up errors go there), trimmed.
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.datadir().join("stderr.log"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The process id, or `None` once the process has been stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(|_| self.pid.load(Ordering::SeqCst))
    }

    /// The RPC client, authenticated; use it through [`RpcApi`] for anything not wrapped here.
    pub fn client(&self) -> &bitcoincore_rpc::Client {
        &self.client
    }

    /// The address [`Bitcoind::mine`] pays coinbases to: the regtest P2WSH of
    /// [`op_true_script`], the same for every instance. Its outputs can be spent by anyone with
    /// the witness `[op_true_script()]`.
    pub fn mining_address(&self) -> &Address {
        &self.mining_address
    }

    /// The current block height (`getblockcount`).
    pub fn height(&self) -> Result<u32, HarnessError> {
        let count =
            self.client.get_block_count().map_err(|e| HarnessError::rpc("getblockcount", e))?;
        u32::try_from(count)
            .map_err(|_| HarnessError::Other(format!("block height {count} does not fit in u32")))
    }

    /// Mines `n` blocks paying to [`Bitcoind::mining_address`]; returns their hashes in order.
    pub fn mine(&self, n: u32) -> Result<Vec<BlockHash>, HarnessError> {
        self.mine_to(&self.mining_address, n)
    }

    /// Mines `n` blocks whose coinbases pay to `address`; returns their hashes in order.
    ///
    /// Only the coinbases pay to `address`; they become spendable 100 blocks later (see
    /// [`Bitcoind::fund_address`]).
    pub fn mine_to(&self, address: &Address, n: u32) -> Result<Vec<BlockHash>, HarnessError> {
        self.client
            .generate_to_address(u64::from(n), address)
            .map_err(|e| HarnessError::rpc(format!("generatetoaddress {n} {address}"), e))
    }

    /// Gives `address` spendable coins: mines `blocks` blocks paying their coinbases to it, then
    /// 100 more (to [`Bitcoind::mining_address`]) so those coinbases mature.
    ///
    /// Returns the total now spendable by `address` from these blocks (50 BTC per block at low
    /// regtest heights; the subsidy halves every 150 blocks).
    pub fn fund_address(&self, address: &Address, blocks: u32) -> Result<Amount, HarnessError> {
        let hashes = self.mine_to(address, blocks)?;
        let script_pubkey = address.script_pubkey();
        let mut total = Amount::ZERO;
        for hash in &hashes {
            let block =
                self.client.get_block(hash).map_err(|e| HarnessError::rpc("getblock", e))?;
            let coinbase = block
                .txdata
                .first()
                .ok_or_else(|| HarnessError::Other(format!("block {hash} has no coinbase")))?;
            for output in coinbase.output.iter().filter(|o| o.script_pubkey == script_pubkey) {
                total += output.value;
            }
        }
        self.mine(COINBASE_MATURITY)?;
        Ok(total)
    }

    /// The txids in the mempool (`getrawmempool`).
    pub fn get_raw_mempool(&self) -> Result<Vec<Txid>, HarnessError> {
        self.client.get_raw_mempool().map_err(|e| HarnessError::rpc("getrawmempool", e))
    }

    /// Waits until `txid` is in the mempool (polling every 50 ms).
    pub fn wait_for_tx_in_mempool(
        &self,
        txid: &Txid,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        wait_until(
            &format!("transaction {txid} to enter bitcoind's mempool"),
            timeout,
            Duration::from_millis(50),
            || Ok(self.get_raw_mempool()?.contains(txid).then_some(())),
        )
    }

    /// Broadcasts `tx` (`sendrawtransaction`); the error carries bitcoind's reject reason.
    pub fn send_raw_tx(&self, tx: &Transaction) -> Result<Txid, HarnessError> {
        self.client
            .send_raw_transaction(tx)
            .map_err(|e| HarnessError::rpc(format!("sendrawtransaction {}", tx.compute_txid()), e))
    }

    /// Stops bitcoind: RPC `stop`, waits up to 10 s for the process to exit, then `SIGKILL`s it.
    /// Does nothing if it is already stopped. Called on drop. Returns whether it exited after
    /// `stop` (a clean shutdown: its chain state is written), `false` if it had to be killed or
    /// had exited already.
    pub fn stop(&mut self) -> bool {
        self.stop_process().is_ok()
    }

    /// Stops bitcoind cleanly (RPC `stop`: it writes its chain state to disk, then exits) so
    /// that [`Bitcoind::start_again`] resumes the same chain; other threads may go on using
    /// this instance (their calls fail like a refused connection until it is back). Returns how
    /// long it took to exit; an error if it was not running, or did not exit within 10 s of
    /// `stop` (it is then killed, and may lose its latest blocks).
    pub fn shut_down(&self) -> Result<Duration, HarnessError> {
        let t0 = Instant::now();
        self.stop_process().map(|()| t0.elapsed()).map_err(HarnessError::Other)
    }

    /// Starts bitcoind again after [`Bitcoind::shut_down`] (or [`Bitcoind::stop`]) on the same
    /// data directory, ports, credentials and arguments, and waits for its RPC. Returns how
    /// long that took. Use an instance made by [`Bitcoind::start_restartable`] (or with ports
    /// of the caller's choosing): a port in the ephemeral range may have been taken meanwhile.
    pub fn start_again(&self) -> Result<Duration, HarnessError> {
        let t0 = Instant::now();
        if self.child().is_some() {
            return Err(HarnessError::BitcoindStart("bitcoind is already running".into()));
        }
        match self.spawn() {
            Ok(()) => Ok(t0.elapsed()),
            Err(e) => {
                let _ = self.stop_process();
                Err(match e {
                    StartFailure::PortTaken(msg) => HarnessError::BitcoindStart(format!(
                        "port {} (RPC) or {} (P2P) is taken: {msg}",
                        self.rpc_port, self.p2p_port
                    )),
                    StartFailure::Fatal(e) => e,
                })
            }
        }
    }

    /// RPC `stop`, then up to 10 s for the process to exit, then `SIGKILL`. `Err` says why the
    /// stop was not clean (not running, killed).
    fn stop_process(&self) -> Result<(), String> {
        let Some(mut child) = self.child().take() else {
            return Err("bitcoind is not running".into());
        };
        let pid = child.id();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("bitcoind had exited already ({status})"));
        }
        // A short-timeout client, so a wedged bitcoind cannot hold us for the full RPC timeout.
        let url = self.rpc_url();
        let why = match rpc_client(&url, &self.rpc_user, &self.rpc_password, Duration::from_secs(5))
            .and_then(|c| c.stop().map_err(|e| HarnessError::rpc("stop", e)))
        {
            Ok(_) => {
                let deadline = Instant::now() + STOP_TIMEOUT;
                while Instant::now() < deadline {
                    match child.try_wait() {
                        Ok(Some(_)) => return Ok(()),
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                        Err(_) => break,
                    }
                }
                "bitcoind did not exit within 10 s of `stop`; killed it".to_string()
            }
            Err(e) => format!("{e}; killed bitcoind"),
        };
        tracing::warn!(pid, "{why}");
        if let Err(e) = child.kill() {
            tracing::warn!(pid, "could not kill bitcoind: {e}");
        }
        let _ = child.wait();
        Err(why)
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl fmt::Debug for Bitcoind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bitcoind")
            .field("pid", &self.pid())
            .field("rpc_url", &self.rpc_url())
            .field("p2p_port", &self.p2p_port)
            .field("datadir", &self.datadir())
            .finish_non_exhaustive()
    }
}

/// Whether `a` and `b` name the same file (compared canonicalized when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// An RPC client for `url` with basic auth and the given per-request timeout.
fn rpc_client(
    url: &str,
    user: &str,
    password: &str,
    timeout: Duration,
) -> Result<bitcoincore_rpc::Client, HarnessError> {
    let transport = jsonrpc::simple_http::SimpleHttpTransport::builder()
        .url(url)
        .map_err(|e| HarnessError::Other(format!("invalid bitcoind RPC URL {url}: {e}")))?
        .auth(user, Some(password))
        .timeout(timeout)
        .build();
    Ok(bitcoincore_rpc::Client::from_jsonrpc(jsonrpc::Client::with_transport(transport)))
}

/// Two distinct free ports on 127.0.0.1, found by binding port 0 twice and releasing both.
fn free_port_pair() -> io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// `bytes` random bytes as lowercase hex, from `/dev/urandom` (or, failing that, std's
/// randomly seeded hasher).
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut buf = vec![0u8; bytes];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_err() {
        for chunk in buf.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let (a, b) = free_port_pair().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, 0);
    }

    #[test]
    fn random_hex_is_random() {
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(16));
    }

    #[test]
    fn persistent_bitcoind_keeps_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = dir.path().join("chain");
        let (rpc_port, p2p_port) = free_port_pair().unwrap();
        let btc = Bitcoind::start_persistent(&datadir, rpc_port, p2p_port, "u", "p").unwrap();
        assert_eq!((btc.rpc_port(), btc.rpc_user(), btc.rpc_password()), (rpc_port, "u", "p"));
        btc.mine(3).unwrap();
        drop(btc);
        assert!(datadir.join("regtest").is_dir(), "the data directory is kept");

        let mut btc = Bitcoind::start_persistent(&datadir, rpc_port, p2p_port, "u", "p").unwrap();
        assert_eq!(btc.height().unwrap(), 3, "the chain is resumed");
        // A second bitcoind on the same ports is refused with a message naming them.
        let other = dir.path().join("other");
        let err = Bitcoind::start_persistent(&other, rpc_port, p2p_port, "u", "p").unwrap_err();
        assert!(err.to_string().contains(&rpc_port.to_string()), "{err}");
        btc.stop();
        assert!(btc.pid().is_none());
    }

    #[test]
    fn mining_address_is_p2wsh_op_true() {
        let address = Address::p2wsh(&op_true_script(), Network::Regtest);
        assert!(address.to_string().starts_with("bcrt1q"));
        assert!(address.script_pubkey().is_p2wsh());
    }
}
