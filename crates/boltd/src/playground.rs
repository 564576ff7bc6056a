//! `boltd playground`: a regtest Lightning network on this machine in one command.
//!
//! A persistent `bitcoind -regtest` (found or built once by `scripts/bitcoind.sh`, through
//! `boltd-harness`) and three boltd nodes, alice, bob and carol, running in this process, each an
//! [`Engine`] with its HTTP API on a fixed loopback port. The first start funds the three wallets
//! and opens alice → bob and bob → carol (1,000,000 sat each, 400,000 sat pushed to the other
//! side, so payments work in both directions and across two hops), then waits for gossip. It
//! writes `playground.json` (with each node's admin token) and prints the URLs and `curl`
//! examples (with `Authorization: Bearer`), then mines a block every 5 s
//! until SIGINT or SIGTERM, and stops the nodes and bitcoind cleanly.
//!
//! Everything lives in the data directory (`--data-dir`, by default
//! `$XDG_DATA_HOME/boltd/playground`, i.e. `~/.local/share/boltd/playground`):
//!
//! ```text
//! boltd.lock         one playground per data directory (holds the pid)
//! playground.json    written when the network is ready: nodes, URLs, bitcoind credentials
//! playground.log     the nodes' logs
//! bitcoind/          the regtest chain
//! bitcoind.running   while bitcoind runs (left by a crash: the next start reindexes)
//! alice/ bob/ carol/ the nodes' data directories
//! ```
//!
//! A later start finds `playground.json` and resumes the same network (no funding, no new
//! channels); `--reset` deletes the entries above and starts over. A first start that did not
//! finish (no `playground.json`) is started over automatically.
//!
//! A crash (`kill -9` of the playground) is survived: bitcoind dies with the playground (the
//! kernel kills it when the playground's process dies, `PR_SET_PDEATHSIG`); every block the
//! playground mines is written to disk at once (`gettxoutsetinfo` flushes bitcoind's block index
//! and chain state, which bitcoind otherwise keeps in memory for up to an hour and loses when it
//! is killed); and `bitcoind.running`, present while bitcoind runs, tells the next start that the
//! last one did not stop cleanly, so bitcoind starts with `-reindex` and recovers from its block
//! files any block it had not written yet (the nodes wait for the blocks they processed, and
//! say so in `playground.log`).
//!
//! Ports (`--base-port B`, default 3010): APIs on B, B+1, B+2; P2P on B+10, B+11, B+12; bitcoind
//! RPC on B+20 and P2P on B+21; all on 127.0.0.1.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boltd_config::{Config, ConfigLayer};
use boltd_engine::Engine;
use boltd_harness::{Bitcoind, HarnessError};
use boltd_node::deps::bitcoin::{Address, Network};
use boltd_node::NodeError;
use boltd_store::{DataDirLock, StoreError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The nodes, in port order.
const NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// The API port base when neither `--base-port` nor a saved `playground.json` gives one.
const DEFAULT_BASE_PORT: u16 = 3010;
/// The highest port the playground uses, relative to the base.
const LAST_PORT_OFFSET: u16 = 21;
/// Channel size and the part pushed to the other side.
const CHANNEL_SAT: u64 = 1_000_000;
const PUSH_MSAT: u64 = 400_000_000;
/// How often a block is mined while the playground runs.
const MINE_INTERVAL: Duration = Duration::from_secs(5);
/// How long one set-up step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a resume waits for the channels to be usable before it only warns.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
/// The file written when the network is ready.
const STATE_FILE: &str = "playground.json";
const LOG_FILE: &str = "playground.log";
const BITCOIND_DIR: &str = "bitcoind";
/// Present while the playground's bitcoind runs; removed after it stopped cleanly.
const RUNNING_MARKER: &str = "bitcoind.running";
const RPC_USER: &str = "playground";
/// What `--reset` (and a restart after an unfinished first start) deletes: only what the
/// playground itself creates, so a mistaken `--data-dir` cannot wipe anything else.
const OWNED_ENTRIES: [&str; 8] = [
    "playground.json",
    "playground.json.tmp",
    "playground.log",
    "bitcoind",
    "bitcoind.running",
    "alice",
    "bob",
    "carol",
];
const AUTH_NOTE: &str = "bearer tokens: every request but /ping needs `Authorization: Bearer \
                         <token>`; each node's admin token is its `token` (also in \
                         <data_dir>/admin.token)";

/// `boltd playground` options.
#[derive(clap::Args, Debug)]
pub struct PlaygroundArgs {
    /// Where the playground keeps its chain, nodes and playground.json [default:
    /// $XDG_DATA_HOME/boltd/playground, i.e. ~/.local/share/boltd/playground].
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// First of the ports used on 127.0.0.1: APIs on BASE..BASE+2, P2P on BASE+10..BASE+12,
    /// bitcoind RPC and P2P on BASE+20 and BASE+21 [default: the one saved in playground.json,
    /// else 3010].
    #[arg(long, value_name = "BASE")]
    pub base_port: Option<u16>,
    /// Delete the playground's chain and nodes and start over.
    #[arg(long)]
    pub reset: bool,
}

/// What `playground.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaygroundFile {
    /// Always `regtest`.
    pub network: String,
    /// The process that last made the playground ready (it is ready when this is its pid).
    pub pid: u32,
    /// The `--base-port` in use.
    pub base_port: u16,
    /// How the API authenticates.
    pub auth: String,
    /// alice, bob and carol.
    pub nodes: Vec<NodeEntry>,
    /// The regtest bitcoind.
    pub bitcoind: BitcoindEntry,
}

/// One node in `playground.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    /// alice, bob or carol.
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub api_url: String,
    /// The node's admin token (`node:admin`): send it as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The node id (hex).
    pub node_id: String,
    /// `127.0.0.1:<port>`.
    pub p2p_addr: String,
    /// The node's data directory.
    pub data_dir: PathBuf,
}

/// The bitcoind in `playground.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BitcoindEntry {
    /// `http://127.0.0.1:<port>`.
    pub rpc_url: String,
    /// RPC user.
    pub rpc_user: String,
    /// RPC password (random, made on the first start).
    pub rpc_password: String,
    /// `127.0.0.1:<port>`.
    pub p2p_addr: String,
    /// bitcoind's `-datadir`.
    pub data_dir: PathBuf,
}

/// Why the playground stopped before it was ready.
enum Halt {
    /// SIGINT or SIGTERM: a clean shutdown, not an error.
    Signal,
    /// An error, with the message for the user.
    Fail(String),
}

impl From<String> for Halt {
    fn from(s: String) -> Self {
        Halt::Fail(s)
    }
}

type Stop = watch::Receiver<bool>;

fn progress(msg: impl std::fmt::Display) {
    eprintln!("playground: {msg}");
}

/// Runs `boltd playground`.
pub fn run(args: PlaygroundArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("playground: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The ports, from the base.
#[derive(Debug, Clone, Copy)]
struct Ports {
    base: u16,
}

impl Ports {
    fn new(base: u16) -> Result<Self, String> {
        if base == 0 || base > u16::MAX - LAST_PORT_OFFSET {
            return Err(format!(
                "--base-port {base} is out of range: it must be between 1 and {}",
                u16::MAX - LAST_PORT_OFFSET
            ));
        }
        Ok(Ports { base })
    }
    fn api(self, i: usize) -> u16 {
        self.base + i as u16
    }
    fn p2p(self, i: usize) -> u16 {
        self.base + 10 + i as u16
    }
    fn rpc(self) -> u16 {
        self.base + 20
    }
    fn bitcoind_p2p(self) -> u16 {
        self.base + 21
    }
    fn all(self) -> Vec<(u16, String)> {
        let mut v = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            v.push((self.api(i), format!("{name}'s API")));
        }
        for (i, name) in NAMES.iter().enumerate() {
            v.push((self.p2p(i), format!("{name}'s P2P")));
        }
        v.push((self.rpc(), "bitcoind's RPC".into()));
        v.push((self.bitcoind_p2p(), "bitcoind's P2P".into()));
        v
    }
    /// Fails with a message naming the first port some other program holds.
    fn check_free(self) -> Result<(), String> {
        for (port, what) in self.all() {
            if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
                let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "is already in use by another program".to_string()
                } else {
                    format!("cannot be used: {e}")
                };
                let b = self.base;
                return Err(format!(
                    "port {port} on 127.0.0.1 ({what}) {why}. Stop that program or choose other \
                     ports with --base-port (the playground uses {b}-{}, {}-{}, {} and {})",
                    b + 2,
                    b + 10,
                    b + 12,
                    b + 20,
                    b + 21
                ));
            }
        }
        Ok(())
    }
}

/// `$XDG_DATA_HOME/boltd/playground`, else `$HOME/.local/share/boltd/playground`, else
/// `./playground`.
fn default_data_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = non_empty("XDG_DATA_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| non_empty("HOME").map(|h| h.join(".local").join("share")));
    match base {
        Some(b) => b.join("boltd").join("playground"),
        None => PathBuf::from("playground"),
    }
}

fn run_inner(args: PlaygroundArgs) -> Result<(), String> {
    let started = Instant::now();
    let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;

    // One playground per data directory: this comes before anything else, so a second start
    // says so rather than complaining about busy ports.
    let _lock = DataDirLock::acquire(&dir).map_err(|e| match e {
        StoreError::Locked { pid, .. } => already_running(&dir, pid),
        e => format!("cannot lock the data directory {}: {e}", dir.display()),
    })?;

    let state_path = dir.join(STATE_FILE);
    if args.reset {
        progress(format!("--reset: deleting the playground in {}", dir.display()));
        remove_owned(&dir)?;
    }
    let saved = load_state(&state_path)?;
    if saved.is_none() && [BITCOIND_DIR].iter().chain(&NAMES).any(|e| dir.join(e).exists()) {
        progress("an earlier first start did not finish; starting over");
        remove_owned(&dir)?;
    }
    if saved.is_some() {
        for name in NAMES {
            if !dir.join(name).join(boltd_store::DB_FILE_NAME).exists() {
                return Err(format!(
                    "{} exists but {name}'s data is missing from {}; start over with --reset",
                    state_path.display(),
                    dir.join(name).display()
                ));
            }
        }
    }

    let base = args.base_port.or(saved.as_ref().map(|s| s.base_port)).unwrap_or(DEFAULT_BASE_PORT);
    let ports = Ports::new(base)?;
    ports.check_free()?;
    init_logging(&dir.join(LOG_FILE))?;

    let password = match &saved {
        Some(s) => s.bitcoind.rpc_password.clone(),
        None => random_hex(16),
    };

    progress(
        "looking for bitcoind ($BITCOIND_EXE, PATH, or a cached build; otherwise it is built \
         once, which takes about 6 minutes on 2 cores)",
    );
    let exe = boltd_harness::bitcoind_exe().map_err(|e| e.to_string())?;
    progress(format!("bitcoind: {}", exe.display()));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let stop = rt.block_on(async { install_signal_handlers() })?;
    let ctx = Ctx { dir, ports, password, saved, started };
    rt.block_on(playground(ctx, stop))
}

fn already_running(dir: &Path, pid: Option<u32>) -> String {
    let by = pid.map(|p| format!(" by process {p}")).unwrap_or_default();
    let kill = pid.map(|p| format!(" (kill -TERM {p})")).unwrap_or_default();
    format!(
        "the playground is already running (data dir {} in use{by}). Stop it first{kill}, or \
         use another --data-dir",
        dir.display()
    )
}

fn remove_owned(dir: &Path) -> Result<(), String> {
    for entry in OWNED_ENTRIES {
        let p = dir.join(entry);
        let res = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else if p.exists() {
            std::fs::remove_file(&p)
        } else {
            continue;
        };
        res.map_err(|e| format!("cannot delete {}: {e}", p.display()))?;
    }
    Ok(())
}

fn load_state(path: &Path) -> Result<Option<PlaygroundFile>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}; start over with --reset", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn write_state(path: &Path, state: &PlaygroundFile) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(state).expect("serializable");
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The nodes' logs go to `playground.log` (`BOLTD_LOG` sets the filter); stderr keeps to the
/// playground's own progress lines.
fn init_logging(path: &Path) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    let filter = EnvFilter::try_from_env("BOLTD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,ldk=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Arc::new(file))
        .try_init();
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers: the first signal asks for a clean shutdown, a
/// second one exits at once.
fn install_signal_handlers() -> Result<Stop, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let err = |e| format!("cannot install signal handlers: {e}");
    let mut term = signal(SignalKind::terminate()).map_err(err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(err)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            if first {
                first = false;
                progress("stopping (again to exit at once)");
                let _ = tx.send(true);
            } else {
                eprintln!("playground: second signal: exiting without a clean shutdown");
                std::process::exit(130);
            }
        }
    });
    Ok(rx)
}

/// `bytes` random bytes as hex, from `/dev/urandom` (or std's randomly seeded hasher).
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut buf = vec![0u8; bytes];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_err() {
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(std::time::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos());
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

struct Ctx {
    dir: PathBuf,
    ports: Ports,
    password: String,
    saved: Option<PlaygroundFile>,
    started: Instant,
}

/// A node running in this process.
struct PgNode {
    name: &'static str,
    engine: Arc<Engine>,
    api_url: String,
    p2p_addr: SocketAddr,
    data_dir: PathBuf,
    /// The admin token.
    token: String,
    api_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl PgNode {
    fn node(&self) -> &boltd_node::Node {
        self.engine.node()
    }
}

/// What is running, so that every way out stops it.
struct Running {
    btc: Option<Arc<Bitcoind>>,
    /// [`RUNNING_MARKER`], once bitcoind runs: removed when it stops cleanly.
    marker: Option<PathBuf>,
    nodes: Vec<PgNode>,
    api_stop: watch::Sender<bool>,
}

impl Running {
    fn btc(&self) -> &Arc<Bitcoind> {
        self.btc.as_ref().expect("bitcoind runs")
    }

    /// Stops the APIs, then each node (`Engine::stop`), then bitcoind.
    async fn shutdown(mut self) {
        let _ = self.api_stop.send(true);
        for mut n in self.nodes.drain(..).rev() {
            if tokio::time::timeout(Duration::from_secs(5), &mut n.api_task).await.is_err() {
                n.api_task.abort();
            }
            progress(format!("stopping {}", n.name));
            if let Err(e) = n.engine.stop().await {
                progress(format!("{} did not stop cleanly: {e}", n.name));
            }
        }
        if let Some(btc) = self.btc.take() {
            progress("stopping bitcoind");
            match Arc::try_unwrap(btc) {
                Ok(mut b) => {
                    let clean = tokio::task::spawn_blocking(move || b.stop()).await;
                    // Its chain state is on disk: the next start needs no reindex.
                    if let (Ok(true), Some(marker)) = (clean, self.marker.take()) {
                        let _ = std::fs::remove_file(marker);
                    }
                }
                // Someone still holds it: it stops when the last holder drops it.
                Err(b) => drop(b),
            }
        }
    }
}

async fn playground(ctx: Ctx, mut stop: Stop) -> Result<(), String> {
    let (api_stop, _) = watch::channel(false);
    let mut running = Running { btc: None, marker: None, nodes: Vec::new(), api_stop };
    let result = run_network(&ctx, &mut running, &mut stop).await;
    match &result {
        Ok(()) | Err(Halt::Signal) => {}
        Err(Halt::Fail(_)) => progress("shutting down after an error"),
    }
    running.shutdown().await;
    match result {
        Ok(()) => {
            progress("stopped");
            Ok(())
        }
        Err(Halt::Signal) => {
            if ctx.saved.is_none() && !ctx.dir.join(STATE_FILE).exists() {
                progress("stopped before the first start finished; the next start starts over");
            } else {
                progress("stopped");
            }
            Ok(())
        }
        Err(Halt::Fail(e)) => Err(e),
    }
}

async fn run_network(ctx: &Ctx, r: &mut Running, stop: &mut Stop) -> Result<(), Halt> {
    let ports = ctx.ports;
    let btc_dir = ctx.dir.join(BITCOIND_DIR);
    progress(format!(
        "starting bitcoind -regtest (RPC 127.0.0.1:{}, P2P 127.0.0.1:{})",
        ports.rpc(),
        ports.bitcoind_p2p()
    ));
    let password = ctx.password.clone();
    let d = btc_dir.clone();
    let marker = ctx.dir.join(RUNNING_MARKER);
    // Left by a run that did not stop cleanly: bitcoind may have lost blocks it had not written
    // to its index; `-reindex` finds them again in its block files.
    let reindex = ctx.saved.is_some() && marker.exists();
    if reindex {
        progress(
            "the last run did not stop cleanly: bitcoind reindexes its blocks to recover any it \
             had not written (the nodes wait for it)",
        );
    }
    let extra: &'static [&'static str] = if reindex { &["-reindex"] } else { &[] };
    let btc = tokio::task::spawn_blocking(move || {
        Bitcoind::start_persistent_with(
            &d,
            ports.rpc(),
            ports.bitcoind_p2p(),
            RPC_USER,
            &password,
            extra,
        )
    })
    .await
    .map_err(|e| format!("bitcoind start task failed: {e}"))?
    .map_err(|e| e.to_string())?;
    r.btc = Some(Arc::new(btc));
    File::create(&marker)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    r.marker = Some(marker);
    check_stop(stop)?;

    for (i, name) in NAMES.iter().enumerate() {
        progress(format!("starting {name} (API http://127.0.0.1:{})", ports.api(i)));
        let node = start_node(ctx, i, name, &r.api_stop).await?;
        r.nodes.push(node);
        check_stop(stop)?;
    }

    if ctx.saved.is_some() {
        resume(r, stop).await?;
    } else {
        first_start(r, stop).await?;
    }

    let state = PlaygroundFile {
        network: "regtest".into(),
        pid: std::process::id(),
        base_port: ports.base,
        auth: AUTH_NOTE.into(),
        nodes: r
            .nodes
            .iter()
            .map(|n| NodeEntry {
                name: n.name.into(),
                api_url: n.api_url.clone(),
                token: Some(n.token.clone()),
                node_id: n.node().node_id().to_string(),
                p2p_addr: n.p2p_addr.to_string(),
                data_dir: n.data_dir.clone(),
            })
            .collect(),
        bitcoind: BitcoindEntry {
            rpc_url: r.btc().rpc_url(),
            rpc_user: RPC_USER.into(),
            rpc_password: ctx.password.clone(),
            p2p_addr: format!("127.0.0.1:{}", ports.bitcoind_p2p()),
            data_dir: btc_dir,
        },
    };
    write_state(&ctx.dir.join(STATE_FILE), &state)?;
    progress(format!("ready in {:.1} s", ctx.started.elapsed().as_secs_f64()));
    println!("{}", summary(&state, &ctx.dir));

    mine_until_stopped(r.btc(), stop).await;
    Ok(())
}

fn check_stop(stop: &Stop) -> Result<(), Halt> {
    if *stop.borrow() {
        Err(Halt::Signal)
    } else {
        Ok(())
    }
}

async fn start_node(
    ctx: &Ctx,
    i: usize,
    name: &'static str,
    api_stop: &watch::Sender<bool>,
) -> Result<PgNode, Halt> {
    let ports = ctx.ports;
    let data_dir = ctx.dir.join(name);
    let api_addr = SocketAddr::from(([127, 0, 0, 1], ports.api(i)));
    let p2p_addr = SocketAddr::from(([127, 0, 0, 1], ports.p2p(i)));
    let layer = ConfigLayer {
        network: Some(Network::Regtest),
        data_dir: Some(data_dir.clone()),
        p2p_listen: Some(p2p_addr),
        announce_addrs: Some(vec![p2p_addr.to_string()]),
        alias: Some(name.to_string()),
        api_listen: Some(api_addr),
        bitcoind_rpc_url: Some(format!("http://127.0.0.1:{}", ports.rpc())),
        bitcoind_rpc_user: Some(RPC_USER.into()),
        bitcoind_rpc_password: Some(ctx.password.clone()),
        chain_poll_interval_ms: Some(100),
        wallet_sync_interval_ms: Some(200),
        ..Default::default()
    };
    // The environment is left out on purpose: BOLTD_* settings are for `serve`.
    let config = Config::from_layer(layer, None).map_err(|e| format!("{name}: {e}"))?;
    let listener = boltd_api::bind(api_addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {} ({name}'s API) is already in use; choose another --base-port",
                api_addr.port()
            )
        } else {
            format!("{name}: {e}")
        }
    })?;
    let engine = Engine::start(config).await.map_err(|e| match e {
        NodeError::Store(StoreError::Locked { path, pid }) => already_running(&path, pid),
        e => format!("{name} could not start: {e}"),
    })?;
    // The first start makes the admin token; later starts read it back from its file, or from
    // the saved playground.json if the file was deleted.
    let fresh = engine
        .bootstrap_admin_token()
        .await
        .map_err(|e| format!("{name}: cannot create the admin token: {e}"))?;
    let saved = ctx.saved.as_ref().and_then(|s| s.nodes.iter().find(|n| n.name == name));
    let token = match fresh {
        Some(t) => t,
        None => boltd_engine::auth::read_admin_token_file(&data_dir)
            .map_err(|e| format!("{name}: cannot read its admin token file: {e}"))?
            .or_else(|| saved.and_then(|n| n.token.clone()))
            .ok_or_else(|| {
                format!(
                    "{name}: its admin token is lost ({} is missing); start over with --reset",
                    boltd_engine::auth::admin_token_path(&data_dir).display()
                )
            })?,
    };
    let mut rx = api_stop.subscribe();
    let api_task = tokio::spawn(boltd_api::serve(listener, Arc::clone(&engine), async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    Ok(PgNode {
        name,
        p2p_addr: engine.node().p2p_addr(),
        engine,
        api_url: format!("http://{api_addr}"),
        data_dir,
        token,
        api_task,
    })
}

/// Polls `f` until it gives a value, a signal arrives (`Halt::Signal`) or `timeout` elapses.
async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    stop: &mut Stop,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, Halt> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        check_stop(stop)?;
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let last = last_error.map(|e| format!("; last error: {e}")).unwrap_or_default();
            return Err(Halt::Fail(format!(
                "timed out after {} s waiting for {what}{last}",
                timeout.as_secs()
            )));
        }
        tokio::select! {
            _ = stop.changed() => {},
            _ = tokio::time::sleep(POLL) => {},
        }
    }
}

/// Mines `n` blocks (to an address nobody uses) and writes them to disk at once: bitcoind keeps
/// its block index and chain state in memory for up to an hour, and loses them if it is killed;
/// `gettxoutsetinfo` flushes both first. Returns the new height.
fn mine_durably(b: &Bitcoind, n: u32) -> Result<u32, HarnessError> {
    b.mine(n)?;
    flush_chain(b)?;
    b.height()
}

/// Makes bitcoind write its blocks, block index and chain state to disk (`gettxoutsetinfo`
/// forces a flush before it counts the UTXO set; `none`: no hash, cheap on a regtest chain).
fn flush_chain(b: &Bitcoind) -> Result<(), HarnessError> {
    use boltd_harness::bitcoincore_rpc::RpcApi;
    b.client()
        .call::<serde_json::Value>("gettxoutsetinfo", &[serde_json::json!("none")])
        .map(|_| ())
        .map_err(|e| HarnessError::rpc("gettxoutsetinfo", e))
}

/// Runs blocking bitcoind work off the async workers.
async fn chain<T: Send + 'static>(
    btc: &Arc<Bitcoind>,
    f: impl FnOnce(&Bitcoind) -> Result<T, HarnessError> + Send + 'static,
) -> Result<T, String> {
    let btc = Arc::clone(btc);
    tokio::task::spawn_blocking(move || f(&btc))
        .await
        .map_err(|e| format!("bitcoind task failed: {e}"))?
        .map_err(|e| e.to_string())
}

async fn wait_synced(nodes: &[PgNode], height: u32, stop: &mut Stop) -> Result<(), Halt> {
    for n in nodes {
        wait_for(&format!("{} to sync to block {height}", n.name), STEP_TIMEOUT, stop, || {
            let i = n.node().info();
            Ok((i.block_height >= height && i.wallet_height >= height).then_some(()))
        })
        .await?;
    }
    Ok(())
}

/// The channel of `from` with `to`, if any.
fn channel_with(from: &PgNode, to: &PgNode) -> Option<boltd_node::node::ChannelInfo> {
    let id = to.node().node_id().to_string();
    from.node().list_channels().into_iter().find(|c| c.peer_node_id == id)
}

async fn first_start(r: &Running, stop: &mut Stop) -> Result<(), Halt> {
    let btc = r.btc();
    let nodes = &r.nodes;
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);

    progress("funding the wallets: a block to each of alice, bob and carol, 100 more to mature");
    let mut addrs = Vec::new();
    for n in nodes {
        let a = n.node().new_address().await.map_err(|e| format!("{}: {e}", n.name))?;
        let a = a
            .parse::<Address<_>>()
            .map_err(|e| format!("{}: bad address {a}: {e}", n.name))?
            .require_network(Network::Regtest)
            .map_err(|e| format!("{}: {e}", n.name))?;
        addrs.push(a);
    }
    let height = chain(btc, move |b| {
        for a in &addrs {
            b.mine_to(a, 1)?;
        }
        mine_durably(b, 100)
    })
    .await?;
    wait_synced(nodes, height, stop).await?;
    for n in nodes {
        wait_for(&format!("{}'s wallet to see its coins", n.name), STEP_TIMEOUT, stop, || {
            Ok((n.node().balances().onchain.confirmed_sat > 0).then_some(()))
        })
        .await?;
    }
    check_stop(stop)?;

    progress(format!(
        "opening channels alice -> bob and bob -> carol ({} sat each, {} sat pushed)",
        group(CHANNEL_SAT),
        group(PUSH_MSAT / 1000)
    ));
    for (from, to) in [(alice, bob), (bob, carol)] {
        from.node()
            .open_channel(
                to.node().node_id(),
                Some(&to.p2p_addr.to_string()),
                CHANNEL_SAT,
                PUSH_MSAT,
                true,
            )
            .await
            .map_err(|e| format!("{} could not open a channel to {}: {e}", from.name, to.name))?;
    }
    let txids: Vec<String> = wait_for("the funding transactions", STEP_TIMEOUT, stop, || {
        let ab = channel_with(alice, bob).and_then(|c| c.funding_outpoint);
        let bc = channel_with(bob, carol).and_then(|c| c.funding_outpoint);
        Ok(ab.zip(bc).map(|(a, b)| {
            [a, b].iter().map(|o| o.split(':').next().unwrap_or_default().to_string()).collect()
        }))
    })
    .await?;
    let b = Arc::clone(btc);
    wait_for("the funding transactions to reach the mempool", STEP_TIMEOUT, stop, || {
        let pool: Vec<String> =
            b.get_raw_mempool().map_err(|e| e.to_string())?.iter().map(|t| t.to_string()).collect();
        Ok(txids.iter().all(|t| pool.contains(t)).then_some(()))
    })
    .await?;
    let height = chain(btc, |b| mine_durably(b, 6)).await?;
    wait_synced(nodes, height, stop).await?;
    for (x, y) in [(alice, bob), (bob, alice), (bob, carol), (carol, bob)] {
        wait_for(
            &format!("{}'s channel with {} to be usable", x.name, y.name),
            STEP_TIMEOUT,
            stop,
            || Ok(channel_with(x, y).filter(|c| c.state == "ready").map(|_| ())),
        )
        .await?;
    }

    progress("waiting for gossip (alice, bob and carol to know both channels)");
    for n in nodes {
        wait_for(
            &format!("{} to learn both channels by gossip", n.name),
            STEP_TIMEOUT,
            stop,
            || Ok((n.node().info().graph_channels >= 2).then_some(())),
        )
        .await?;
    }
    Ok(())
}

async fn resume(r: &Running, stop: &mut Stop) -> Result<(), Halt> {
    let nodes = &r.nodes;
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);
    progress("resuming the existing network (no funding, no new channels)");
    let height = chain(r.btc(), |b| b.height()).await?;
    wait_synced(nodes, height, stop).await?;

    // The nodes reconnect to their channel peers by themselves, every 5 s; connecting now saves
    // that wait, and records the current addresses if --base-port changed.
    for (from, to) in [(alice, bob), (bob, carol)] {
        let mut tries = 0;
        loop {
            check_stop(stop)?;
            match from.node().connect_peer(to.node().node_id(), &to.p2p_addr.to_string()).await {
                Ok(()) => break,
                Err(e) if tries >= 20 => {
                    progress(format!(
                        "warning: {} could not connect to {}: {e}",
                        from.name, to.name
                    ));
                    break;
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    // Every channel whose funding is confirmed must become usable again.
    let mut waiting = None;
    for n in nodes {
        let res =
            wait_for(&format!("{}'s channels to be usable", n.name), RESUME_TIMEOUT, stop, || {
                Ok(n.node().list_channels().iter().all(|c| c.state != "offline").then_some(()))
            })
            .await;
        match res {
            Ok(()) => {}
            Err(Halt::Signal) => return Err(Halt::Signal),
            Err(Halt::Fail(e)) => waiting = Some(e),
        }
    }
    if let Some(e) = waiting {
        progress(format!("warning: {e}; carrying on"));
    }
    for n in nodes {
        let c = n.node().list_channels();
        let ready = c.iter().filter(|c| c.state == "ready").count();
        progress(format!("{}: {ready} of {} channels usable", n.name, c.len()));
    }
    Ok(())
}

/// Mines a block every [`MINE_INTERVAL`] (to an address nobody uses, written to disk at once)
/// until a signal arrives.
async fn mine_until_stopped(btc: &Arc<Bitcoind>, stop: &mut Stop) {
    let mut tick = tokio::time::interval(MINE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut failing = false;
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        match chain(btc, |b| mine_durably(b, 1)).await {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                progress(format!("warning: mining failed: {e}"));
            }
            Err(_) => {}
        }
    }
}

/// 1000000 → "1,000,000".
fn group(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|c| c.iter().collect()).collect();
    groups.join(",")
}

/// The text printed on stdout once the network is ready.
fn summary(state: &PlaygroundFile, dir: &Path) -> String {
    let node = |name: &str| state.nodes.iter().find(|n| n.name == name);
    let url = |name: &str| node(name).map(|n| n.api_url.clone()).unwrap_or_default();
    let token = |name: &str| node(name).and_then(|n| n.token.clone()).unwrap_or_default();
    let (alice, carol) = (url("alice"), url("carol"));
    let (alice_token, carol_token) = (token("alice"), token("carol"));
    let mut s = String::new();
    s += "boltd playground is running: a regtest network of three nodes, alice -> bob -> carol\n\n";
    for n in &state.nodes {
        s += &format!("  {:<6} API {}   node {}@{}\n", n.name, n.api_url, n.node_id, n.p2p_addr);
    }
    let b = &state.bitcoind;
    s += &format!(
        "  bitcoind RPC {} (user {}, password {})\n\n",
        b.rpc_url, b.rpc_user, b.rpc_password
    );
    s += &format!(
        "Channels: alice -> bob and bob -> carol, {} sat each with {} sat on the other side, so \
         payments work both ways.\nAuth: {AUTH_NOTE}.\nA block is mined every {} s. Details: {}\n\
         Logs: {}\n\n",
        group(CHANNEL_SAT),
        group(PUSH_MSAT / 1000),
        MINE_INTERVAL.as_secs(),
        dir.join(STATE_FILE).display(),
        dir.join(LOG_FILE).display()
    );
    s += &format!(
        r#"Try it (jq picks fields from the JSON answers; the tokens are the nodes' admin tokens):

  ALICE_TOKEN={alice_token}
  CAROL_TOKEN={carol_token}

  # carol creates an invoice for 1,000 sat
  INV=$(curl -s -X POST {carol}/api/v1/lightning/receives/invoice \
    -H "Authorization: Bearer $CAROL_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"amount_sat": 1000, "description": "coffee"}}')
  echo "$INV"; BOLT11=$(echo "$INV" | jq -r .invoice); HASH=$(echo "$INV" | jq -r .payment_hash)

  # alice pays it through bob (barkd dialect)
  curl -s -X POST {alice}/api/v1/lightning/pay -H "Authorization: Bearer $ALICE_TOKEN" \
    -H 'Content-Type: application/json' -d "{{\"destination\": \"$BOLT11\"}}"

  # carol looks up the receive
  curl -s {carol}/api/v1/lightning/receives/$HASH -H "Authorization: Bearer $CAROL_TOKEN"

  # the same with Core Lightning's pay, on a new invoice
  BOLT11=$(curl -s -X POST {carol}/api/v1/lightning/receives/invoice \
    -H "Authorization: Bearer $CAROL_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"amount_sat": 2000}}' | jq -r .invoice)
  curl -s -X POST {alice}/v1/pay -H "Authorization: Bearer $ALICE_TOKEN" \
    -H 'Content-Type: application/json' -d "{{\"bolt11\": \"$BOLT11\"}}"

  # and with Alby's Wallet API, on a third invoice
  BOLT11=$(curl -s -X POST {carol}/api/v1/lightning/receives/invoice \
    -H "Authorization: Bearer $CAROL_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"amount_sat": 3000}}' | jq -r .invoice)
  curl -s -X POST {alice}/payments/bolt11 -H "Authorization: Bearer $ALICE_TOKEN" \
    -H 'Content-Type: application/json' -d "{{\"invoice\": \"$BOLT11\"}}"

  # a token for a shop on carol: create invoices and read them, nothing else
  curl -s -X POST {carol}/api/v1/tokens -H "Authorization: Bearer $CAROL_TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{{"name": "shop", "scopes": ["invoices:create", "invoices:read"]}}'

  # the command line: BOLTD_URL={alice} BOLTD_TOKEN=$ALICE_TOKEN boltd balance

Ctrl-C stops everything; starting again resumes this network in seconds; --reset starts over."#
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_base() {
        let p = Ports::new(3010).unwrap();
        assert_eq!((p.api(0), p.api(2), p.p2p(0), p.p2p(2)), (3010, 3012, 3020, 3022));
        assert_eq!((p.rpc(), p.bitcoind_p2p()), (3030, 3031));
        assert_eq!(p.all().len(), 8);
        assert!(Ports::new(0).is_err());
        assert!(Ports::new(u16::MAX - 20).is_err());
        assert!(Ports::new(u16::MAX - 21).is_ok());
    }

    #[test]
    fn a_busy_port_is_named() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let Ok(p) = Ports::new(port.saturating_sub(20).max(1)) else { return };
        if p.rpc() != port {
            return;
        }
        let err = p.check_free().unwrap_err();
        assert!(err.contains(&format!("port {port}")), "{err}");
        assert!(err.contains("bitcoind's RPC") && err.contains("--base-port"), "{err}");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(400_000), "400,000");
        assert_eq!(group(999), "999");
    }

    #[test]
    fn state_file_round_trips() {
        let s = PlaygroundFile {
            network: "regtest".into(),
            pid: 1,
            base_port: 3010,
            auth: AUTH_NOTE.into(),
            nodes: vec![NodeEntry {
                name: "alice".into(),
                api_url: "http://127.0.0.1:3010".into(),
                token: Some("boltd_x".into()),
                node_id: "02ab".into(),
                p2p_addr: "127.0.0.1:3020".into(),
                data_dir: "/x/alice".into(),
            }],
            bitcoind: BitcoindEntry {
                rpc_url: "http://127.0.0.1:3030".into(),
                rpc_user: RPC_USER.into(),
                rpc_password: "pw".into(),
                p2p_addr: "127.0.0.1:3031".into(),
                data_dir: "/x/bitcoind".into(),
            },
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["nodes"][0]["token"], "boltd_x");
        let back: PlaygroundFile = serde_json::from_value(v).unwrap();
        assert_eq!(back.nodes[0].node_id, "02ab");
    }
}
