//! boltd nodes for the lab: in-process ([`TestNode::start_in_process`]) or as child processes
//! of the real binary ([`TestNode::spawn`]), so a test can SIGKILL one and restart it on the same
//! data directory. Both are driven the same way, through the node's HTTP API, with token
//! authentication on: every request of a [`TestNode`] carries the node's admin token (from the
//! first start's `ready` line, or the `admin.token` file in its data directory after a restart).
//! [`TestNode::create_token`] makes scoped tokens and [`TestNode::client`] calls with one (or
//! none). The calls go through [`boltd_client::Client`] ([`TestNode::api`] is the typed one).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use boltd_config::{Config, ConfigLayer};
use boltd_engine::Engine;
use boltd_node::deps::bitcoin::{Address, Network};
use serde_json::{json, Value};

use crate::{wait_until, Bitcoind, HarnessError};

/// How long the helpers wait by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A failed API call: HTTP status and body.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    /// HTTP status (0 when the request did not reach the node).
    pub status: u16,
    /// The response body (JSON where the node answered).
    pub body: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

/// An HTTP client for one node's API, sending `Authorization: Bearer <token>` when it has a
/// token: [`boltd_client::Client`] (its JSON calls go through it), plus raw `ureq` requests for
/// tests that need to send what no client would.
#[derive(Clone)]
pub struct ApiClient {
    /// Base URL of the API.
    pub api_url: String,
    client: boltd_client::Client,
    agent: ureq::Agent,
}

impl From<boltd_client::ClientError> for ApiFailure {
    fn from(e: boltd_client::ClientError) -> Self {
        use boltd_client::ClientError;
        match e {
            ClientError::Api { status, body, .. } => ApiFailure { status, body },
            ClientError::Transport { message, .. } => {
                ApiFailure { status: 0, body: json!(message) }
            }
            other => ApiFailure { status: 0, body: json!(other.to_string()) },
        }
    }
}

impl ApiClient {
    /// A client for `api_url` with `token` (or none).
    pub fn new(api_url: &str, token: Option<&str>) -> ApiClient {
        Self::with_timeout(api_url, token, boltd_client::DEFAULT_TIMEOUT)
    }

    /// [`ApiClient::new`] whose requests give up after `timeout` (the default is 120 s).
    pub fn with_timeout(api_url: &str, token: Option<&str>, timeout: Duration) -> ApiClient {
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        let client = boltd_client::Client::new(api_url, token.map(String::from)).timeout(timeout);
        ApiClient { api_url: api_url.to_string(), client, agent }
    }

    /// The typed client it calls through.
    pub fn typed(&self) -> &boltd_client::Client {
        &self.client
    }

    /// The token it sends.
    pub fn token(&self) -> Option<&str> {
        self.client.token()
    }

    /// A raw request to `path` with the token, if any.
    pub fn request(&self, method: &str, path: &str) -> ureq::Request {
        let req = self.agent.request(method, &format!("{}{path}", self.api_url));
        match self.token() {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    /// The JSON answer of a raw request, or the status and body of a failure.
    pub fn handle(&self, res: Result<ureq::Response, ureq::Error>) -> Result<Value, ApiFailure> {
        match res {
            Ok(r) => r
                .into_json::<Value>()
                .map_err(|e| ApiFailure { status: 0, body: json!(e.to_string()) }),
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Err(ApiFailure { status: code, body })
            }
            Err(e) => Err(ApiFailure { status: 0, body: json!(e.to_string()) }),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        Ok(self.client.get(path).send()?)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: Value) -> Result<Value, ApiFailure> {
        Ok(self.client.post(path, &body).send()?)
    }

    /// `POST path` with a JSON body and an `Idempotency-Key` header.
    pub fn post_with_key(&self, path: &str, body: Value, key: &str) -> Result<Value, ApiFailure> {
        Ok(self.client.post(path, &body).idempotency_key(key).send()?)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, ApiFailure> {
        Ok(self.client.delete(path).send()?)
    }
}

enum Kind {
    InProcess {
        runtime: tokio::runtime::Runtime,
        node: Arc<Engine>,
        stop: tokio::sync::watch::Sender<bool>,
    },
    Child {
        child: Child,
    },
    Stopped,
}

/// A running boltd node in the lab.
pub struct TestNode {
    /// A name for messages ("alice").
    pub name: String,
    /// Base URL of its API.
    pub api_url: String,
    /// Its node id (hex).
    pub node_id: String,
    /// Its P2P address.
    pub p2p_addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The `ready` line of a child-process node (`None` in-process).
    pub ready: Option<Value>,
    kind: Kind,
    api: ApiClient,
}

/// Where to find bitcoind for a node.
#[derive(Debug, Clone)]
pub struct ChainAccess {
    /// RPC URL.
    pub rpc_url: String,
    /// RPC user.
    pub rpc_user: String,
    /// RPC password.
    pub rpc_password: String,
}

impl From<&Bitcoind> for ChainAccess {
    fn from(b: &Bitcoind) -> Self {
        Self {
            rpc_url: b.rpc_url(),
            rpc_user: b.rpc_user().to_string(),
            rpc_password: b.rpc_password().to_string(),
        }
    }
}

/// A free TCP port on loopback (bound, then released), chosen below Linux's ephemeral range
/// (32768+) so that outgoing connections cannot take it while a node that owns it restarts.
pub fn free_port() -> Result<u16, HarnessError> {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Spread concurrent test processes apart, then walk forward from there.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() as u64).wrapping_mul(2654435761) % 10_000;
    let _ = NEXT.compare_exchange(0, 20_000 + seed as u16, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..2_000 {
        let mut port = NEXT.fetch_add(1, Ordering::SeqCst);
        if !(20_000..32_000).contains(&port) {
            NEXT.store(20_001, Ordering::SeqCst);
            port = 20_000;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(HarnessError::Other("no free port between 20000 and 32000 on 127.0.0.1".into()))
}

/// The admin token of a node: the one its first start just made, or else the one in its data
/// directory's `admin.token`.
fn admin_token(name: &str, fresh: Option<String>, data_dir: &Path) -> Result<String, HarnessError> {
    if let Some(t) = fresh {
        return Ok(t);
    }
    boltd_engine::auth::read_admin_token_file(data_dir)
        .map_err(|e| HarnessError::io("reading the admin token file", e))?
        .ok_or_else(|| {
            HarnessError::Other(format!(
                "{name}: no admin token: not a first start, and no {} in {}",
                boltd_engine::auth::ADMIN_TOKEN_FILE,
                data_dir.display()
            ))
        })
}

/// A regtest configuration for a lab node.
pub fn regtest_config(data_dir: &Path, chain: &ChainAccess, p2p_port: u16) -> Config {
    regtest_config_with(data_dir, chain, p2p_port, |_| {})
}

/// [`regtest_config`] with `extra` applied to its keys first (e.g. to set `lnurl_names`).
pub fn regtest_config_with(
    data_dir: &Path,
    chain: &ChainAccess,
    p2p_port: u16,
    extra: impl FnOnce(&mut ConfigLayer),
) -> Config {
    let mut layer = ConfigLayer {
        network: Some(Network::Regtest),
        data_dir: Some(data_dir.to_path_buf()),
        p2p_listen: Some(SocketAddr::from(([127, 0, 0, 1], p2p_port))),
        api_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        bitcoind_rpc_url: Some(chain.rpc_url.clone()),
        bitcoind_rpc_user: Some(chain.rpc_user.clone()),
        bitcoind_rpc_password: Some(chain.rpc_password.clone()),
        chain_poll_interval_ms: Some(100),
        wallet_sync_interval_ms: Some(200),
        ..Default::default()
    };
    extra(&mut layer);
    Config::from_layer(layer, None).expect("lab config is valid")
}

impl TestNode {
    /// Starts a node inside this process (its own tokio runtime) with its API on loopback.
    pub fn start_in_process(
        name: &str,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
    ) -> Result<Self, HarnessError> {
        Self::start_in_process_with(name, data_dir, chain, p2p_port, |_| {})
    }

    /// [`TestNode::start_in_process`] with `extra` applied to the lab's configuration keys
    /// (e.g. `lnurl_names` and `lnurl_allow_http`).
    pub fn start_in_process_with(
        name: &str,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
        extra: impl FnOnce(&mut ConfigLayer),
    ) -> Result<Self, HarnessError> {
        let config = regtest_config_with(data_dir, chain, p2p_port, extra);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| HarnessError::io("starting a tokio runtime", e))?;
        let (node, listener) = runtime.block_on(async {
            let listener = boltd_api::bind("127.0.0.1:0".parse().unwrap())
                .await
                .map_err(|e| HarnessError::io("binding the API", e))?;
            let engine = Engine::start(config)
                .await
                .map_err(|e| HarnessError::Other(format!("{name}: {e}")))?;
            Ok::<_, HarnessError>((engine, listener))
        })?;
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        let fresh = runtime
            .block_on(node.bootstrap_admin_token())
            .map_err(|e| HarnessError::Other(format!("{name}: admin token: {e}")))?;
        let token = admin_token(name, fresh, data_dir)?;
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        runtime.spawn(boltd_api::serve(listener, Arc::clone(&node), async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        Ok(Self {
            name: name.into(),
            api: ApiClient::new(&api_url, Some(&token)),
            api_url,
            node_id: node.node().node_id().to_string(),
            p2p_addr: node.node().p2p_addr(),
            data_dir: data_dir.to_path_buf(),
            ready: None,
            kind: Kind::InProcess { runtime, node, stop },
        })
    }

    /// Starts the real `boltd` binary `exe` as a child process and waits for its ready line.
    pub fn spawn(
        name: &str,
        exe: &Path,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
    ) -> Result<Self, HarnessError> {
        Self::spawn_with(name, exe, data_dir, chain, p2p_port, &[])
    }

    /// [`TestNode::spawn`] with `extra` arguments after the lab's (e.g. `--insecure-no-auth`,
    /// or `--api-cors-origins`).
    pub fn spawn_with(
        name: &str,
        exe: &Path,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
        extra: &[&str],
    ) -> Result<Self, HarnessError> {
        Self::spawn_configured(name, exe, data_dir, chain, p2p_port, extra, |_| {})
    }

    /// [`TestNode::spawn_with`], with `configure` applied to the command last (e.g. a
    /// `pre_exec` that sets a resource limit on the child).
    ///
    /// The child is spawned from a thread that lives as long as the test process (as bitcoind
    /// is): it dies with the test process (`PR_SET_PDEATHSIG`, which fires when the spawning
    /// *thread* exits), and not with a short-lived test thread that happened to restart it.
    pub fn spawn_configured(
        name: &str,
        exe: &Path,
        data_dir: &Path,
        chain: &ChainAccess,
        p2p_port: u16,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Result<Self, HarnessError> {
        let mut cmd = Command::new(exe);
        // Any free port for the API, unless the test chose one.
        if !extra.contains(&"--api-listen") {
            cmd.env("BOLTD_API_LISTEN", "127.0.0.1:0");
        }
        cmd.arg("serve")
            .args(["--network", "regtest"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--p2p-listen", &format!("127.0.0.1:{p2p_port}")])
            .args(["--bitcoind-rpc-url", &chain.rpc_url])
            .args(["--bitcoind-rpc-user", &chain.rpc_user])
            .args(["--bitcoind-rpc-password", &chain.rpc_password])
            .args(["--chain-poll-interval-ms", "100", "--wallet-sync-interval-ms", "200"])
            .args(extra)
            .env_remove("BOLTD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data_dir.with_extension("log"))
                    .map_err(|e| HarnessError::io("opening the node's log file", e))?,
            ));
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            // Die with the test process, so no node outlives a crashed test.
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // The torture suite's settings are the test's, not the daemon's (which refuses unknown
        // BOLTD_* variables).
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("BOLTD_TORTURE") {
                cmd.env_remove(k);
            }
        }
        configure(&mut cmd);
        let mut child = crate::process::spawn_from_keeper(cmd)
            .map_err(|e| HarnessError::io(format!("starting {}", exe.display()), e))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(DEFAULT_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log =
                    std::fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default();
                let tail: Vec<_> = log.lines().rev().take(15).collect();
                return Err(HarnessError::Other(format!(
                    "{name}: boltd did not report ready (exit: {status:?}); log tail:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
        };
        let ready: Value = serde_json::from_str(&line)
            .map_err(|e| HarnessError::Other(format!("{name}: bad ready line `{line}`: {e}")))?;
        // The ready line says where the admin token is (never the token itself).
        let token = admin_token(name, None, data_dir)?;
        let api_url = ready["api_url"].as_str().unwrap_or_default().to_string();
        let p2p_addr = ready["p2p_addr"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|_| HarnessError::Other(format!("{name}: bad p2p_addr in `{line}`")))?;
        Ok(Self {
            name: name.into(),
            api: ApiClient::new(&api_url, Some(&token)),
            api_url,
            node_id: ready["node_id"].as_str().unwrap_or_default().to_string(),
            p2p_addr,
            data_dir: data_dir.to_path_buf(),
            ready: Some(ready),
            kind: Kind::Child { child },
        })
    }

    /// The in-process engine (and node), if this is one.
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        match &self.kind {
            Kind::InProcess { node, .. } => Some(node),
            _ => None,
        }
    }

    /// The child's process id, if this is a child process.
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Child { child } => Some(child.id()),
            _ => None,
        }
    }

    /// SIGKILLs a child-process node (no clean shutdown) and waits for it to die.
    pub fn kill(&mut self) -> Result<(), HarnessError> {
        if let Kind::Child { child } = &mut self.kind {
            child.kill().map_err(|e| HarnessError::io("killing the node", e))?;
            child.wait().map_err(|e| HarnessError::io("waiting for the node", e))?;
        }
        self.kind = Kind::Stopped;
        Ok(())
    }

    /// Stops the node cleanly (SIGTERM for a child) and waits; returns the child's exit code.
    pub fn stop(&mut self) -> Result<Option<i32>, HarnessError> {
        self.stop_within(DEFAULT_TIMEOUT)
    }

    /// Whether a child-process node has exited (without waiting), and how: `None` while it
    /// runs (or for a node that is not a child process).
    pub fn try_exit_status(&mut self) -> Result<Option<std::process::ExitStatus>, HarnessError> {
        match &mut self.kind {
            Kind::Child { child } => {
                child.try_wait().map_err(|e| HarnessError::io("checking on the node", e))
            }
            _ => Ok(None),
        }
    }

    /// [`TestNode::stop`], waiting at most `timeout` for a child to exit after SIGTERM (then it
    /// is SIGKILLed and the result is a timeout error).
    pub fn stop_within(&mut self, timeout: Duration) -> Result<Option<i32>, HarnessError> {
        match std::mem::replace(&mut self.kind, Kind::Stopped) {
            Kind::InProcess { runtime, node, stop } => {
                let _ = stop.send(true);
                runtime
                    .block_on(node.stop())
                    .map_err(|e| HarnessError::Other(format!("{}: stop failed: {e}", self.name)))?;
                drop(node);
                runtime.shutdown_timeout(Duration::from_secs(5));
                Ok(None)
            }
            Kind::Child { mut child } => {
                unsafe {
                    libc::kill(child.id() as i32, libc::SIGTERM);
                }
                let status = wait_until(
                    &format!("{} to exit after SIGTERM", self.name),
                    timeout,
                    Duration::from_millis(20),
                    || child.try_wait().map_err(|e| HarnessError::io("waiting for the node", e)),
                );
                match status {
                    Ok(s) => Ok(s.code()),
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        Err(e)
                    }
                }
            }
            Kind::Stopped => Ok(None),
        }
    }

    // ---- HTTP ----

    /// The node's admin token, which every request of this node carries.
    pub fn admin_token(&self) -> &str {
        self.api.token().unwrap_or_default()
    }

    /// The typed client (with the admin token) that this node's requests go through.
    pub fn api(&self) -> &boltd_client::Client {
        self.api.typed()
    }

    /// A client for this node's API with `token`, or without any token.
    pub fn client(&self, token: Option<&str>) -> ApiClient {
        ApiClient::new(&self.api_url, token)
    }

    /// Creates a token (`POST /api/v1/tokens` with the admin token; `spec` as the API takes it:
    /// `name`, `scopes`, limits...) and returns the token string.
    pub fn create_token(&self, spec: Value) -> Result<String, HarnessError> {
        let v = self.ok("create token", self.post("/api/v1/tokens", spec))?;
        v["token"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| HarnessError::Other(format!("{}: no token in {v}", self.name)))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.api.get(path)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: Value) -> Result<Value, ApiFailure> {
        self.api.post(path, body)
    }

    /// `POST path` with a JSON body and an `Idempotency-Key` header.
    pub fn post_with_key(&self, path: &str, body: Value, key: &str) -> Result<Value, ApiFailure> {
        self.api.post_with_key(path, body, key)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, ApiFailure> {
        self.api.delete(path)
    }

    /// Turns an API failure into a harness error naming the node and the step.
    pub fn ok<T>(&self, what: &str, r: Result<T, ApiFailure>) -> Result<T, HarnessError> {
        r.map_err(|e| HarnessError::Other(format!("{}: {what}: {e}", self.name)))
    }

    // ---- helpers ----

    /// Node info.
    pub fn info(&self) -> Result<Value, HarnessError> {
        self.ok("node info", self.get("/api/v1/node/info"))
    }

    /// A new wallet address.
    pub fn new_address(&self) -> Result<Address, HarnessError> {
        let v = self.ok("new address", self.post("/api/v1/onchain/addresses/next", json!({})))?;
        let s = v["address"].as_str().unwrap_or_default();
        s.parse::<Address<_>>()
            .map_err(|e| HarnessError::Other(format!("bad address {s}: {e}")))?
            .require_network(Network::Regtest)
            .map_err(|e| HarnessError::Other(e.to_string()))
    }

    /// Confirmed on-chain balance in sat.
    pub fn onchain_confirmed_sat(&self) -> Result<u64, HarnessError> {
        let v = self.ok("balance", self.get("/api/v1/onchain/balance"))?;
        Ok(v["confirmed_sat"].as_u64().unwrap_or(0))
    }

    /// Total on-chain balance (all states) in sat.
    pub fn onchain_total_sat(&self) -> Result<u64, HarnessError> {
        let v = self.ok("balance", self.get("/api/v1/onchain/balance"))?;
        Ok(v["total_sat"].as_u64().unwrap_or(0))
    }

    /// Channels as the API lists them.
    pub fn channels(&self) -> Result<Vec<Value>, HarnessError> {
        let v = self.ok("list channels", self.get("/api/v1/node/channels"))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Waits until LDK and the wallet have processed `height`.
    pub fn wait_synced(&self, height: u32) -> Result<(), HarnessError> {
        wait_until(
            &format!("{} to sync to height {height}", self.name),
            DEFAULT_TIMEOUT,
            POLL,
            || {
                let i = self.info()?;
                let ldk = i["block_height"].as_u64().unwrap_or(0);
                let wallet = i["wallet_height"].as_u64().unwrap_or(0);
                Ok((ldk >= height as u64 && wallet >= height as u64).then_some(()))
            },
        )
    }

    /// Waits until this node's graph knows at least `channels` channels.
    pub fn wait_for_gossip(&self, channels: usize) -> Result<(), HarnessError> {
        wait_until(
            &format!("{} to learn {channels} channels by gossip", self.name),
            DEFAULT_TIMEOUT,
            POLL,
            || {
                let i = self.info()?;
                Ok((i["graph_channels"].as_u64().unwrap_or(0) as usize >= channels).then_some(()))
            },
        )
    }

    /// Connects to `other`.
    pub fn connect(&self, other: &TestNode) -> Result<(), HarnessError> {
        let body = json!({ "node_id": other.node_id, "address": other.p2p_addr.to_string() });
        self.ok("connect", self.post("/api/v1/node/peers/connect", body)).map(|_| ())
    }

    /// Waits until a channel with `peer` is in `state` and returns it.
    pub fn wait_channel_state(&self, peer: &TestNode, state: &str) -> Result<Value, HarnessError> {
        let what = format!("{}'s channel with {} to be {state}", self.name, peer.name);
        wait_until(&what, DEFAULT_TIMEOUT, POLL, || {
            Ok(self
                .channels()?
                .into_iter()
                .find(|c| c["peer_node_id"] == peer.node_id.as_str() && c["state"] == state))
        })
    }

    /// Creates an invoice; returns (invoice, payment hash).
    pub fn invoice(
        &self,
        amount_sat: u64,
        description: &str,
    ) -> Result<(String, String), HarnessError> {
        let v = self.ok(
            "create invoice",
            self.post(
                "/api/v1/lightning/receives/invoice",
                json!({ "amount_sat": amount_sat, "description": description }),
            ),
        )?;
        Ok((
            v["invoice"].as_str().unwrap_or_default().into(),
            v["payment_hash"].as_str().unwrap_or_default().into(),
        ))
    }

    /// Pays an invoice through the barkd-dialect endpoint (which waits for the result) and
    /// returns the response body.
    pub fn pay(&self, invoice: &str) -> Result<Value, HarnessError> {
        self.ok("pay", self.post("/api/v1/lightning/pay", json!({ "destination": invoice })))
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Child { .. } => {
                let _ = self.kill();
            }
            Kind::InProcess { .. } => {
                let _ = self.stop();
            }
            Kind::Stopped => {}
        }
    }
}
