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
mod network;

use network::*;

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
