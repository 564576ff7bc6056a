//! PostgreSQL with a standby (issue "beyond one machine"): one database, two `boltd serve`.
//!
//! On a real PostgreSQL (a throwaway cluster, `fsync` on) and a real regtest bitcoind: leader L
//! pays Q (its channel peer, on SQLite) for a client that sends every payment with an
//! idempotency key. A second node started with `--standby false` is refused; standby S answers
//! `/readyz` 503 while it waits. L is SIGKILLed in the middle of the payments: S takes over
//! within the lease's time to live plus its start-up, the client's retries (same keys, now to
//! S) see each payment once, Q is paid each invoice once, and no channel is force-closed. Then
//! L's data directory starts again as the standby, S is paused (SIGSTOP) past its lease, L
//! takes over, and S, resumed, writes nothing more: its first write is refused and it stops
//! (exit 74).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use boltd_harness::{
    free_port, fund, open_channel, wait_until, ApiClient, Bitcoind, ChainAccess, HarnessError,
    PgCluster, TestNode,
};
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);
const TTL_SECS: u64 = 4;
const PAYMENTS: usize = 16;
const AMOUNT_SAT: u64 = 1_000;

fn pg_args(url: &str) -> Vec<String> {
    ["--store-url", url, "--lease-ttl-secs", &TTL_SECS.to_string(), "--lease-renew-secs", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A second data directory for the same node: the seed and the admin token file (what an
/// operator copies to the standby's machine).
fn standby_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["seed.mnemonic", "admin.token"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
}

fn get(url: &str) -> (u16, Value) {
    match ureq::get(url).timeout(Duration::from_secs(5)).call() {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => (0, json!({ "transport": e.to_string() })),
    }
}

/// Pays `invoices` one after the other through whichever of `urls` answers, each with its own
/// idempotency key, retrying a payment (same key) until an answer comes back. Returns the
/// answers and when the first answer came from `urls[1]`.
fn client(
    urls: [String; 2],
    token: String,
    keys: &str,
    invoices: Vec<String>,
) -> (Vec<Value>, Option<Instant>) {
    let mut answers = Vec::new();
    let mut first_from_standby = None;
    for (i, invoice) in invoices.iter().enumerate() {
        let key = format!("{keys}-{i}");
        let started = Instant::now();
        'retry: loop {
            for (n, url) in urls.iter().enumerate() {
                let api = ApiClient::with_timeout(url, Some(&token), Duration::from_secs(60));
                let body = json!({ "destination": invoice });
                // Down, or a standby (503): try the other, then again.
                if let Ok(v) = api.post_with_key("/api/v1/lightning/pay", body, &key) {
                    if n == 1 && first_from_standby.is_none() {
                        first_from_standby = Some(Instant::now());
                    }
                    answers.push(v);
                    break 'retry;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(120), "payment {i} never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    (answers, first_from_standby)
}

/// A node on `dir` started as a standby in a thread (it reports ready only once it holds the
/// lease), its API on a port chosen here: returns the thread and the API's URL.
fn standby(
    name: &'static str,
    exe: &Path,
    dir: &Path,
    chain: &ChainAccess,
    args: &[&str],
) -> Result<(std::thread::JoinHandle<Result<TestNode, HarnessError>>, String), HarnessError> {
    let api = format!("127.0.0.1:{}", free_port()?);
    let (exe, dir, chain) = (exe.to_path_buf(), dir.to_path_buf(), chain.clone());
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["--api-listen".to_string(), api.clone()]);
    let p2p = free_port()?;
    let thread = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        TestNode::spawn_with(name, &exe, &dir, &chain, p2p, &args)
    });
    Ok((thread, format!("http://{api}")))
}

/// Waits until the node at `url` waits as a standby; returns its `/readyz` answer.
fn wait_standby(url: &str) -> Result<Value, HarnessError> {
    wait_until("the standby to answer /readyz", Duration::from_secs(30), POLL, || {
        let (code, v) = get(&format!("{url}/readyz"));
        Ok((code == 503 && v["role"] == "standby").then_some(v))
    })
}

/// How many of `hashes` `node` has settled.
fn settled(node: &TestNode, hashes: &[String]) -> usize {
    hashes
        .iter()
        .filter(|hash| {
            let r = node.get(&format!("/api/v1/lightning/receives/{hash}"));
            r.is_ok_and(|r| r["state"] == "settled")
        })
        .count()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child process of this test.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

#[test]
fn a_standby_takes_over_after_sigkill_and_a_paused_leader_is_fenced() -> Result<(), HarnessError> {
    let mut pg = PgCluster::start(&[]).expect("PostgreSQL");
    pg.create_database("boltd").expect("create database");
    let url = pg.url("boltd");
    let args = pg_args(&url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));

    let q = TestNode::start_in_process("quinn", &dir.path().join("q"), &chain, free_port()?)?;
    let l_dir = dir.path().join("l");
    let mut l = TestNode::spawn_with("leader", &exe, &l_dir, &chain, free_port()?, &args)?;
    let (code, ready) = get(&format!("{}/readyz", l.api_url));
    assert_eq!((code, &ready["role"], &ready["epoch"]), (200, &json!("leader"), &json!(1)));
    btc.mine(101)?;
    fund(&btc, &l, &[&q])?;
    open_channel(&btc, &l, &q, 2_000_000, 0, &[&l, &q])?;

    // Split brain: a second node on the same database that may not wait is refused.
    let refused_dir = dir.path().join("refused");
    standby_dir(&l_dir, &refused_dir);
    let out = Command::new(&exe)
        .args(["serve", "--network", "regtest", "--api-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&refused_dir)
        .args(["--p2p-listen", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--bitcoind-rpc-url", &chain.rpc_url, "--bitcoind-rpc-user", &chain.rpc_user])
        .args(["--bitcoind-rpc-password", &chain.rpc_password])
        .args(&args)
        .args(["--standby", "false"])
        .env_remove("BOLTD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second node started: {stderr}");
    assert!(stderr.contains("another node holds the lease"), "{stderr}");
    assert!(out.stdout.is_empty(), "it never reported ready");

    // Standby S, same seed: waits, answering /readyz with its role and nothing else.
    let s_dir = dir.path().join("s");
    standby_dir(&l_dir, &s_dir);
    let (standby_thread, s_url) = standby("standby", &exe, &s_dir, &chain, &args)?;
    let waiting = wait_standby(&s_url)?;
    assert_eq!(waiting["epoch"], 1, "{waiting}");
    let (code, v) = get(&format!("{s_url}/api/v1/node/info"));
    assert_eq!((code, v["code"].as_str()), (503, Some("standby")), "{v}");

    // Payments from L to Q for a client with idempotency keys; L is SIGKILLed in the middle.
    let mut invoices = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..PAYMENTS {
        let (invoice, hash) = q.invoice(AMOUNT_SAT, &format!("failover {i}"))?;
        invoices.push(invoice);
        hashes.push(hash);
    }
    let payer = {
        let urls = [l.api_url.clone(), s_url.clone()];
        let token = l.admin_token().to_string();
        std::thread::spawn(move || client(urls, token, "failover", invoices))
    };
    wait_until("a few payments before the kill", Duration::from_secs(60), POLL, || {
        Ok((settled(&q, &hashes) >= PAYMENTS / 4).then_some(()))
    })?;
    l.kill()?;
    let killed = Instant::now();
    let mut s = standby_thread.join().expect("standby thread")?;
    let serving = killed.elapsed();
    let (answers, first_from_s) = payer.join().expect("client thread");
    let first_payment = first_from_s.map(|t| t.duration_since(killed));
    eprintln!(
        "failover: kill to standby ready {:.1} s, to its first payment answered {:?}",
        serving.as_secs_f64(),
        first_payment.map(|d| format!("{:.1} s", d.as_secs_f64()))
    );
    assert!(
        serving < Duration::from_secs(TTL_SECS + 30),
        "standby took {serving:?} to serve after the kill"
    );
    let (code, ready) = get(&format!("{s_url}/readyz"));
    assert_eq!((code, &ready["role"], &ready["epoch"]), (200, &json!("leader"), &json!(2)));

    // Every payment once: complete for the client, paid once at Q, one record each at S.
    assert_eq!(answers.len(), PAYMENTS);
    for hash in &hashes {
        let v = wait_until("the payment to complete at S", Duration::from_secs(60), POLL, || {
            let v = s.get(&format!("/api/v1/lightning/sends/{hash}"));
            Ok(v.ok().filter(|v| v["status"] == "complete"))
        })?;
        assert!(v["preimage"].is_string(), "{v}");
    }
    wait_until("Q to settle every invoice", Duration::from_secs(60), POLL, || {
        Ok((settled(&q, &hashes) == PAYMENTS).then_some(()))
    })?;
    let incoming = q.ok("payments", q.get("/api/v1/payments?direction=incoming&limit=1000"))?;
    let text = incoming.to_string();
    for hash in &hashes {
        assert_eq!(text.matches(hash.as_str()).count(), 1, "{hash} in Q's history: {text}");
    }
    // No force-close: the channel is open on both sides, nothing in the closed list.
    q.wait_channel_state(&s, "ready")?;
    let closed = q.ok("closed", q.get("/api/v1/node/channels/closed"))?;
    assert_eq!(closed.as_array().map(Vec::len).unwrap_or(0), 0, "{closed}");

    // A paused leader is fenced: L's data directory comes back as the standby; S is paused
    // past its lease; L takes over; S, resumed, writes nothing and stops.
    let (back, l_url) = standby("leader-again", &exe, &l_dir, &chain, &args)?;
    wait_standby(&l_url)?;
    let s_pid = s.pid().expect("a child");
    signal(s_pid, libc::SIGSTOP);
    let mut l2 = back.join().expect("thread")?;
    let (code, ready) = get(&format!("{}/readyz", l2.api_url));
    assert_eq!((code, &ready["epoch"]), (200, &json!(3)));
    signal(s_pid, libc::SIGCONT);
    let status =
        wait_until("the resumed old leader to stop", Duration::from_secs(30), POLL, || {
            s.try_exit_status()
        })?;
    assert_eq!(status.code(), Some(74), "the fenced node stops as on a storage failure");
    let log = std::fs::read_to_string(s_dir.with_extension("log")).unwrap_or_default();
    let refused = log.matches("write refused").count();
    eprintln!("the resumed old leader's refused writes: {refused}");
    assert!(refused >= 1, "{log}");
    // Nothing is corrupted: the new leader pays again, over the same channel.
    let (invoice, _) = q.invoice(AMOUNT_SAT, "after the fence")?;
    let v = l2.ok("pay", l2.post("/api/v1/lightning/pay", json!({ "destination": invoice })))?;
    assert!(v.to_string().contains("complete") || v["preimage"].is_string(), "{v}");

    // The database restarts under load: the leader stops (fail-stop, it cannot confirm its
    // lease nor make anything durable), the standby waits out the outage and takes over, and
    // the client's payments each complete once.
    let (standby_thread, s_url) = standby("standby-again", &exe, &s_dir, &chain, &args)?;
    wait_standby(&s_url)?;
    let mut invoices = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..PAYMENTS / 2 {
        let (invoice, hash) = q.invoice(AMOUNT_SAT, &format!("restart {i}"))?;
        invoices.push(invoice);
        hashes.push(hash);
    }
    let payer = {
        let urls = [l2.api_url.clone(), s_url.clone()];
        let token = l.admin_token().to_string();
        std::thread::spawn(move || client(urls, token, "restart", invoices))
    };
    wait_until("a payment before the restart", Duration::from_secs(60), POLL, || {
        Ok((settled(&q, &hashes) >= 1).then_some(()))
    })?;
    pg.restart().expect("restart PostgreSQL");
    let status =
        wait_until("the leader to stop", Duration::from_secs(30), POLL, || l2.try_exit_status())?;
    assert_eq!(status.code(), Some(74), "the leader stops as on a storage failure");
    let s2 = standby_thread.join().expect("standby thread")?;
    let (answers, _) = payer.join().expect("client thread");
    assert_eq!(answers.len(), hashes.len());
    wait_until("Q to settle every invoice", Duration::from_secs(60), POLL, || {
        Ok((settled(&q, &hashes) == hashes.len()).then_some(()))
    })?;
    let incoming =
        q.ok("payments", q.get("/api/v1/payments?direction=incoming&limit=1000"))?.to_string();
    for hash in &hashes {
        assert_eq!(incoming.matches(hash.as_str()).count(), 1, "{hash}");
        let v = s2.ok("send", s2.get(&format!("/api/v1/lightning/sends/{hash}")))?;
        assert_eq!(v["status"], "complete", "{v}");
    }
    let closed = q.ok("closed", q.get("/api/v1/node/channels/closed"))?;
    assert_eq!(closed.as_array().map(Vec::len).unwrap_or(0), 0, "{closed}");
    Ok(())
}
