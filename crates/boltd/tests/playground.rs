//! `boltd playground` end to end, through the real binary: the first start builds the network
//! (bitcoind, alice, bob, carol, funded, with channels and gossip) and writes `playground.json`;
//! payments cross two hops through both API dialects; SIGTERM stops everything with exit code 0;
//! a second start resumes the same nodes and channels quickly; a second process on the same data
//! directory, or on busy ports, is refused with a clear message; after a SIGKILL of the
//! playground (bitcoind dies with it) the next start comes back with the same network.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const FIRST_START_TIMEOUT: Duration = Duration::from_secs(300);
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `boltd playground` child process.
struct Playground {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr_path: PathBuf,
    dir: PathBuf,
}

impl Playground {
    fn start(dir: &Path, base_port: u16, run: &str) -> Playground {
        let stderr_path = dir.with_extension(format!("{run}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_boltd"))
            .arg("playground")
            .arg("--data-dir")
            .arg(dir)
            .args(["--base-port", &base_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start boltd playground");
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = Arc::clone(&stdout);
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        Playground { child, stdout, stderr_path, dir: dir.to_path_buf() }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until `playground.json` names this process (it is written once the network is
    /// ready) and returns it. Fails if the process exits first.
    fn wait_ready(&mut self, timeout: Duration) -> Value {
        let path = self.dir.join("playground.json");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "boltd playground exited ({status}) before it was ready:\n{}",
                    self.stderr()
                );
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if v["pid"] == self.child.id() {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "boltd playground not ready after {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs the process (no clean shutdown at all) and waits for it.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERMs the process and returns its exit code.
    fn terminate(&mut self) -> Option<i32> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "boltd playground still running 60 s after SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `boltd playground` to completion (for the commands that must fail at once).
fn run_to_end(dir: &Path, base_port: u16) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_boltd"))
        .arg("playground")
        .arg("--data-dir")
        .arg(dir)
        .args(["--base-port", &base_port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A base port whose 8 playground ports (base..base+2, +10..+12, +20, +21) are all free.
fn free_base_port() -> u16 {
    let offsets = [0u16, 1, 2, 10, 11, 12, 20, 21];
    let start = 20_000 + (std::process::id() % 500) as u16 * 50;
    for i in 0..400u16 {
        let base = 20_000 + (start - 20_000 + i * 50) % 25_000;
        let held: Result<Vec<_>, _> =
            offsets.iter().map(|o| TcpListener::bind(("127.0.0.1", base + o))).collect();
        if held.is_ok() {
            return base;
        }
    }
    panic!("no free block of ports found");
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build()
}

/// `GET path` on a node of playground.json, with its admin token.
fn get(node: &Value, path: &str) -> Value {
    let url = format!("{}{path}", node["api_url"].as_str().unwrap());
    match agent().get(&url).set("Authorization", &bearer(node)).call() {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!("GET {url}: HTTP {code}: {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// `POST path` on a node of playground.json, with its admin token.
fn post(node: &Value, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", node["api_url"].as_str().unwrap());
    match agent().post(&url).set("Authorization", &bearer(node)).send_json(body) {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!("POST {url}: HTTP {code}: {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("POST {url}: {e}"),
    }
}

fn bearer(node: &Value) -> String {
    format!("Bearer {}", node["token"].as_str().expect("every node has its admin token"))
}

fn node<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["nodes"].as_array().unwrap().iter().find(|n| n["name"] == name).unwrap()
}

/// Creates an invoice on `to` and pays it from `from` through `dialect` ("bark", "cln" or
/// "alby");
/// returns the payment hash once the receive is settled.
fn pay(state: &Value, from: &str, to: &str, amount_sat: u64, dialect: &str) -> String {
    let (payer, payee) = (node(state, from), node(state, to));
    let inv = post(
        payee,
        "/api/v1/lightning/receives/invoice",
        json!({ "amount_sat": amount_sat, "description": format!("{dialect} {from} -> {to}") }),
    );
    let bolt11 = inv["invoice"].as_str().unwrap();
    let hash = inv["payment_hash"].as_str().unwrap().to_string();
    let paid = match dialect {
        "bark" => post(payer, "/api/v1/lightning/pay", json!({ "destination": bolt11 })),
        "alby" => post(payer, "/payments/bolt11", json!({ "invoice": bolt11 })),
        "cln" => post(payer, "/v1/pay", json!({ "bolt11": bolt11 })),
        other => panic!("no dialect {other}"),
    };
    assert_eq!(paid["status"], "complete", "{dialect} pay {from} -> {to}: {paid}");
    assert_eq!(paid["payment_hash"], hash.as_str());
    let receive = get(payee, &format!("/api/v1/lightning/receives/{hash}"));
    assert_eq!(receive["state"], "settled", "{receive}");
    assert_eq!(receive["received_msat"], amount_sat * 1000, "{receive}");
    hash
}

fn node_ids(state: &Value) -> Vec<String> {
    ["alice", "bob", "carol"].iter().map(|n| node(state, n)["node_id"].to_string()).collect()
}

/// bitcoind's height, asked through its RPC with playground.json's credentials.
fn bitcoind_height(state: &Value) -> u64 {
    let b = &state["bitcoind"];
    let auth =
        format!("{}:{}", b["rpc_user"].as_str().unwrap(), b["rpc_password"].as_str().unwrap());
    let basic = format!("Basic {}", base64_encode(auth.as_bytes()));
    let body = json!({ "jsonrpc": "1.0", "id": "t", "method": "getblockcount", "params": [] });
    let r: Value = agent()
        .post(b["rpc_url"].as_str().unwrap())
        .set("Authorization", &basic)
        .send_json(body)
        .unwrap()
        .into_json()
        .unwrap();
    r["result"].as_u64().unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Waits until `cond` holds, up to `timeout`.
fn wait(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rpc_port_open(state: &Value) -> bool {
    let url = state["bitcoind"]["rpc_url"].as_str().unwrap();
    let addr = url.trim_start_matches("http://");
    TcpStream::connect(addr).is_ok()
}

#[test]
fn playground_starts_pays_stops_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pg");
    let base = free_base_port();

    // First start: the whole network, from nothing.
    let t0 = Instant::now();
    let mut pg = Playground::start(&dir, base, "first");
    let state = pg.wait_ready(FIRST_START_TIMEOUT);
    let first_start = t0.elapsed();

    // playground.json: every node with its fixed ports, its admin token, and bitcoind.
    assert_eq!(state["network"], "regtest");
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let n = node(&state, name);
        assert_eq!(n["api_url"], format!("http://127.0.0.1:{}", base + i as u16), "{n}");
        assert_eq!(n["p2p_addr"], format!("127.0.0.1:{}", base + 10 + i as u16), "{n}");
        let token = n["token"].as_str().unwrap();
        assert!(token.starts_with("boltd_"), "{n}");
        let file = Path::new(n["data_dir"].as_str().unwrap()).join("admin.token");
        assert_eq!(std::fs::read_to_string(file).unwrap().trim(), token, "{n}");
        // Without the token the API refuses.
        let url = format!("{}/api/v1/node/info", n["api_url"].as_str().unwrap());
        match agent().get(&url).call() {
            Err(ureq::Error::Status(401, _)) => {}
            other => panic!("{name} without a token: {other:?}"),
        }
        assert_eq!(n["node_id"].as_str().unwrap().len(), 66, "{n}");
        assert!(Path::new(n["data_dir"].as_str().unwrap()).is_dir(), "{n}");
        let info = get(n, "/api/v1/node/info");
        assert_eq!(info["node_id"], n["node_id"], "{info}");
        assert!(info["graph_channels"].as_u64().unwrap() >= 2, "{name} knows both channels");
    }
    let btc = &state["bitcoind"];
    assert_eq!(btc["rpc_url"], format!("http://127.0.0.1:{}", base + 20));
    assert!(btc["rpc_user"].is_string() && btc["rpc_password"].is_string(), "{btc}");
    // The summary on stdout: URLs and the curl examples.
    let summary = pg.stdout.lock().unwrap().clone();
    for needle in [
        format!("http://127.0.0.1:{base}"),
        format!("http://127.0.0.1:{}/api/v1/lightning/receives/invoice", base + 2),
        format!("http://127.0.0.1:{base}/api/v1/lightning/pay"),
        format!("http://127.0.0.1:{base}/v1/pay"),
        format!("http://127.0.0.1:{base}/payments/bolt11"),
        format!("http://127.0.0.1:{}/api/v1/lightning/receives/$HASH", base + 2),
        "Authorization: Bearer $ALICE_TOKEN".to_string(),
        format!("ALICE_TOKEN={}", node(&state, "alice")["token"].as_str().unwrap()),
    ] {
        assert!(summary.contains(&needle), "no `{needle}` in the summary:\n{summary}");
    }

    // alice pays carol across two hops, through each dialect.
    pay(&state, "alice", "carol", 1_000, "bark");
    pay(&state, "alice", "carol", 2_000, "cln");
    pay(&state, "alice", "carol", 3_000, "alby");

    // A second playground on the same data directory is refused, and so is one on busy ports.
    let (code, stderr) = run_to_end(&dir, base);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("already running (data dir"), "{stderr}");
    let (code, stderr) = run_to_end(&tmp.path().join("other"), base);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("port {base} on 127.0.0.1 (alice's API)")), "{stderr}");
    assert!(stderr.contains("--base-port"), "{stderr}");

    // SIGTERM: a clean shutdown of the nodes and bitcoind, exit code 0.
    assert_eq!(pg.terminate(), Some(0), "exit code after SIGTERM:\n{}", pg.stderr());
    assert!(pg.stderr().contains("stopping bitcoind"), "{}", pg.stderr());
    assert!(!rpc_port_open(&state), "bitcoind is stopped");
    drop(pg);

    // Second start: the same network, back quickly, without funding or new channels.
    let t1 = Instant::now();
    let mut pg = Playground::start(&dir, base, "resume");
    let resumed = pg.wait_ready(RESUME_TIMEOUT);
    let resume = t1.elapsed();
    assert_eq!(node_ids(&resumed), node_ids(&state), "the same nodes");
    for name in ["alice", "bob", "carol"] {
        assert_eq!(node(&resumed, name)["token"], node(&state, name)["token"], "{name}'s token");
    }
    assert!(pg.stderr().contains("resuming the existing network"), "{}", pg.stderr());
    assert!(!pg.stderr().contains("funding the wallets"), "{}", pg.stderr());
    for name in ["alice", "bob", "carol"] {
        let channels = get(node(&resumed, name), "/api/v1/node/channels");
        let channels = channels.as_array().unwrap();
        let expected = if name == "bob" { 2 } else { 1 };
        assert_eq!(channels.len(), expected, "{name}: {channels:?}");
        assert!(channels.iter().all(|c| c["state"] == "ready"), "{name}: {channels:?}");
    }
    // Payments work again, in both directions.
    pay(&resumed, "alice", "carol", 3_000, "cln");
    pay(&resumed, "carol", "alice", 4_000, "bark");

    // A crash: SIGKILL once the playground has mined blocks since this start and the nodes have
    // processed them (bitcoind, killed with it, would lose them without the fix: the nodes then
    // refused to start, "cannot replay blocks").
    let h0 = bitcoind_height(&resumed);
    wait("a block mined by the running playground", Duration::from_secs(30), || {
        bitcoind_height(&resumed) > h0
    });
    let h1 = bitcoind_height(&resumed);
    for name in ["alice", "bob", "carol"] {
        let n = node(&resumed, name);
        wait(&format!("{name} to process block {h1}"), Duration::from_secs(30), || {
            get(n, "/api/v1/node/info")["block_height"].as_u64().unwrap() >= h1
        });
    }
    pg.kill();
    wait("bitcoind to die with the playground", Duration::from_secs(10), || {
        !rpc_port_open(&resumed)
    });
    drop(pg);

    // The next start brings back the same network: nodes, tokens, channels, payments.
    let mut pg = Playground::start(&dir, base, "after-kill");
    let back = pg.wait_ready(RESUME_TIMEOUT);
    assert_eq!(node_ids(&back), node_ids(&state), "the same nodes after the crash");
    assert!(pg.stderr().contains("did not stop cleanly"), "{}", pg.stderr());
    assert!(bitcoind_height(&back) >= h1, "bitcoind kept (or recovered) block {h1}");
    for name in ["alice", "bob", "carol"] {
        assert_eq!(node(&back, name)["token"], node(&state, name)["token"], "{name}'s token");
        let channels = get(node(&back, name), "/api/v1/node/channels");
        let channels = channels.as_array().unwrap();
        let expected = if name == "bob" { 2 } else { 1 };
        assert_eq!(channels.len(), expected, "{name}: {channels:?}");
        assert!(channels.iter().all(|c| c["state"] == "ready"), "{name}: {channels:?}");
    }
    pay(&back, "alice", "carol", 5_000, "alby");

    assert_eq!(pg.terminate(), Some(0), "exit code after SIGTERM:\n{}", pg.stderr());
    eprintln!(
        "playground timings: first start {:.1} s, resume {:.1} s",
        first_start.as_secs_f64(),
        resume.as_secs_f64()
    );
}
