//! T4: storage faults. A's data directory runs out of room while it makes invoices, pays B and
//! is paid by B (a small tmpfs filled up; where mounting is refused, `RLIMIT_FSIZE` on the
//! daemon: see `boltd_harness::torture::storage`). Fail-stop is required: A exits non-zero
//! within [`FAIL_STOP_WITHIN`] of its first failed write with one clear log line, instead of
//! answering as a zombie; nothing it answered 2xx for is lost; once the fault is gone it starts
//! again cleanly and agrees with B about every payment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use boltd_harness::torture::run::at_rest;
use boltd_harness::torture::storage::{FaultyDir, Method};
use boltd_harness::torture::{check, say, Api};
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, ApiClient, ApiFailure, Bitcoind,
    ChainAccess, TestNode,
};
use serde_json::{json, Value};

use super::{exe, serial};

const TEST: &str = "storage_full";
/// The tmpfs A starts on, and its size once the fault is gone.
const TMPFS_BYTES: u64 = 64 << 20;
const HEALED_BYTES: u64 = 512 << 20;
/// `RLIMIT_FSIZE` (fallback): this much above the biggest file of A's data directory.
const RLIMIT_MARGIN: u64 = 256 << 10;
/// How long the load goes on after the fault, waiting for A to stop.
const FAULT_WINDOW: Duration = Duration::from_secs(30);
/// Fail-stop: the longest A may run on after the first request that failed on storage.
const FAIL_STOP_WITHIN: Duration = Duration::from_secs(3);
/// Words a clear log line about the fault has one of (case-insensitive).
const FAULT_WORDS: &[&str] =
    &["storage", "disk", "space", "full", "write", "file too large", "database", "persist"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A makes an invoice.
    Invoice,
    /// A pays an invoice of B.
    Pay,
    /// A makes an invoice and B pays it (`payer` is B's answer).
    Receive,
}

#[derive(Debug, Clone)]
struct Op {
    kind: Kind,
    at: Instant,
    hash: Option<String>,
    /// A's HTTP status (0: no answer) and the answer's status or error code.
    status: u16,
    answer: String,
    /// B's answer when B paid A's invoice.
    payer: Option<String>,
}

fn status_and_code(r: &Result<Value, ApiFailure>) -> (u16, String) {
    match r {
        Ok(v) => (200, v["status"].as_str().or(v["state"].as_str()).unwrap_or("ok").to_string()),
        Err(e) if e.status == 0 => (0, e.body.as_str().unwrap_or("").chars().take(80).collect()),
        Err(e) => (
            e.status,
            format!(
                "{} {}",
                e.body["code"].as_str().unwrap_or(""),
                e.body["message"].as_str().unwrap_or("")
            ),
        ),
    }
}

/// A storage failure as a client sees it: no answer, a 5xx, or a payment refused as a storage
/// error.
fn failed_on_storage(op: &Op) -> bool {
    op.status == 0 || op.status >= 500 || op.answer.contains("storage")
}

/// One kind of load on A until `stop`, every op recorded in `ops`.
fn load(kind: Kind, a: &ApiClient, b: &TestNode, stop: &AtomicBool, ops: &Mutex<Vec<Op>>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let invoice =
            |k: &str| json!({ "amount_sat": 1_000 + n, "description": format!("t4 {k} {n}") });
        let op = match kind {
            Kind::Invoice => {
                let r = a.post_with_key(
                    "/api/v1/lightning/receives/invoice",
                    invoice("invoice"),
                    &format!("t4-invoice-{n}"),
                );
                let (status, answer) = status_and_code(&r);
                let hash = r.ok().and_then(|v| v["payment_hash"].as_str().map(String::from));
                Op { kind, at: Instant::now(), hash, status, answer, payer: None }
            }
            Kind::Pay => {
                let Ok((bolt11, hash)) = b.invoice(1_000 + n as u64, "t4 pay") else { continue };
                let body = json!({ "destination": bolt11, "wait_secs": 10 });
                let r = a.post_with_key("/api/v1/lightning/pay", body, &format!("t4-pay-{n}"));
                let (status, answer) = status_and_code(&r);
                Op { kind, at: Instant::now(), hash: Some(hash), status, answer, payer: None }
            }
            Kind::Receive => {
                let r = a.post_with_key(
                    "/api/v1/lightning/receives/invoice",
                    invoice("receive"),
                    &format!("t4-receive-{n}"),
                );
                let (status, answer) = status_and_code(&r);
                let (hash, payer) = match r {
                    Ok(v) => {
                        let body = json!({ "destination": v["invoice"], "wait_secs": 10 });
                        let paid = b.post("/api/v1/lightning/pay", body);
                        (
                            v["payment_hash"].as_str().map(String::from),
                            Some(status_and_code(&paid).1),
                        )
                    }
                    Err(_) => (None, None),
                };
                Op { kind, at: Instant::now(), hash, status, answer, payer }
            }
        };
        let failed = op.status != 200;
        ops.lock().unwrap().push(op);
        std::thread::sleep(Duration::from_millis(if failed { 200 } else { 20 }));
    }
}

fn spawn_a(dir: &std::path::Path, chain: &ChainAccess, port: u16, limit: Option<u64>) -> TestNode {
    let configure = limit.map(FaultyDir::limit_command);
    TestNode::spawn_configured("A", &exe(), dir, chain, port, &[], |cmd| {
        if let Some(f) = configure {
            f(cmd)
        }
    })
    .expect("A starts")
}

#[test]
fn storage_full() {
    let _serial = serial();
    let btc = Bitcoind::start().expect("bitcoind");
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let fault = FaultyDir::prepare(&a_dir, TMPFS_BYTES).expect("a data directory for A");
    say(TEST, format!("storage fault: {}", fault.describe()));
    let a_port = free_port().unwrap();
    let mut a = spawn_a(&a_dir, &chain, a_port, None);
    let b = TestNode::start_in_process("B", &dir.path().join("b"), &chain, free_port().unwrap())
        .expect("B starts");
    btc.mine(101).unwrap();
    fund(&btc, &a, &[&b]).unwrap();
    open_channel(&btc, &a, &b, 2_000_000, 1_000_000_000, &[&a, &b]).unwrap();
    a.wait_for_route(&b, 5_000).unwrap();
    b.wait_for_route(&a, 5_000).unwrap();
    mine_and_sync(&btc, 1, &[&a, &b]).unwrap();

    if fault.method() == Method::Rlimit {
        // The limit is set at start: stop A, then start it with the limit just above its files.
        assert_eq!(a.stop().unwrap(), Some(0), "A stops cleanly before the fault");
        let _ = std::fs::rename(a_dir.with_extension("log"), a_dir.with_extension("setup.log"));
        let limit = fault.biggest_file() + RLIMIT_MARGIN;
        say(TEST, format!("RLIMIT_FSIZE {limit} bytes"));
        a = spawn_a(&a_dir, &chain, a_port, Some(limit));
        wait_until(
            "A to reconnect to B",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || Ok(at_rest(&[&a as &dyn Api, &b])?.map(|_| ())),
        )
        .unwrap();
    }
    let log_before = std::fs::metadata(a_dir.with_extension("log")).map(|m| m.len()).unwrap_or(0);

    // Load, then the fault, then wait for A to stop.
    let api = ApiClient::with_timeout(&a.api_url, Some(a.admin_token()), Duration::from_secs(20));
    let stop = AtomicBool::new(false);
    let ops = Mutex::new(Vec::new());
    let (fault_at, exit) = std::thread::scope(|s| {
        for kind in [Kind::Invoice, Kind::Pay, Kind::Receive] {
            let (api, b, stop, ops) = (&api, &b, &stop, &ops);
            s.spawn(move || load(kind, api, b, stop, ops));
        }
        wait_until(
            "some load before the fault",
            Duration::from_secs(60),
            Duration::from_millis(50),
            || {
                Ok((ops.lock().unwrap().iter().filter(|o| o.status == 200).count() >= 9)
                    .then_some(()))
            },
        )
        .unwrap();
        let fault_at = Instant::now();
        let filled = fault.fill().expect("filling A's disk");
        say(TEST, format!("fault on: {filled} bytes of filler"));
        let exit = wait_until("A to exit", FAULT_WINDOW, Duration::from_millis(20), || {
            Ok(a.try_exit_status().unwrap().map(|s| (s, Instant::now())))
        });
        stop.store(true, Ordering::SeqCst);
        (fault_at, exit.ok())
    });
    let ops = ops.into_inner().unwrap();

    // Fail-stop.
    let mut v: Vec<String> = Vec::new();
    let after: Vec<&Op> = ops.iter().filter(|o| o.at >= fault_at).collect();
    let first_failure = after.iter().filter(|o| failed_on_storage(o)).map(|o| o.at).min();
    let acked_after = after.iter().filter(|o| o.status == 200).count();
    let since = |t: Instant| format!("{:.2} s", t.duration_since(fault_at).as_secs_f64());
    say(TEST, format!(
        "ops before the fault {} (2xx {}), after {} (2xx {acked_after}); first failed request at {}",
        ops.len() - after.len(),
        ops.iter().filter(|o| o.at < fault_at && o.status == 200).count(),
        after.len(),
        first_failure.map(since).unwrap_or_else(|| "none".into())
    ));
    let mut answers: Vec<String> =
        after.iter().map(|o| format!("{} {}", o.status, o.answer)).collect();
    answers.sort();
    answers.dedup();
    say(TEST, format!("answers after the fault: {answers:?}"));
    match exit {
        Some((status, at)) => {
            say(TEST, format!("A exited at {} ({status})", since(at)));
            if status.success() || status.code().is_none() {
                v.push(format!(
                    "A's exit on a failed write must be a non-zero exit code, was {status}"
                ));
            }
            if let Some(first) = first_failure.filter(|f| at > *f + FAIL_STOP_WITHIN) {
                v.push(format!(
                    "A exited {:.2} s after its first failed request (at most {FAIL_STOP_WITHIN:?})",
                    at.duration_since(first).as_secs_f64()
                ));
            }
            let log = std::fs::read(a_dir.with_extension("log")).unwrap_or_default();
            let tail =
                String::from_utf8_lossy(&log[(log_before as usize).min(log.len())..]).to_string();
            let clear = tail.lines().filter(|l| l.contains("ERROR")).find(|l| {
                let l = l.to_lowercase();
                FAULT_WORDS.iter().any(|w| l.contains(w))
            });
            match clear {
                Some(l) => say(TEST, format!("log: {}", check::plain(l))),
                None => v.push(format!(
                    "no ERROR line naming the storage fault in A's log after the fault: {tail:?}"
                )),
            }
        }
        None => {
            let log = std::fs::read(a_dir.with_extension("log")).unwrap_or_default();
            let tail =
                String::from_utf8_lossy(&log[(log_before as usize).min(log.len())..]).to_string();
            for l in tail.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).take(5) {
                say(TEST, format!("A's log after the fault: {}", check::plain(l)));
            }
            for l in tail.lines().filter(|l| l.contains("panicked")).take(3) {
                say(TEST, format!("A's log after the fault: {}", check::plain(l)));
            }
            let ping = api.get("/ping").map(|_| "answers /ping").unwrap_or("does not answer /ping");
            v.push(format!(
                "fail-stop: A still runs {FAULT_WINDOW:?} after its disk filled ({ping}); first \
                 failed request at {}, {acked_after} requests answered 2xx since",
                first_failure.map(since).unwrap_or_else(|| "none".into())
            ));
            a.kill().unwrap();
        }
    }

    // The fault gone, A starts again cleanly and has everything it acknowledged.
    fault.heal(HEALED_BYTES).expect("ending the fault");
    drop(a);
    let t0 = Instant::now();
    let a = spawn_a(&a_dir, &chain, a_port, None);
    say(TEST, format!("A up again in {:.1} s", t0.elapsed().as_secs_f64()));
    let nodes = [&a as &dyn Api, &b];
    if let Err(e) =
        wait_until("A and B to settle", Duration::from_secs(90), Duration::from_millis(250), || {
            at_rest(&nodes)
        })
    {
        v.push(format!("after the restart: {e}"));
    }
    durability(&a, &b, &ops, &mut v);
    for n in [&a, &b] {
        let chans = n.channels().unwrap_or_default();
        if chans.len() != 1 || chans[0]["state"] != "ready" {
            v.push(format!("{}: the A-B channel is not open and ready: {chans:?}", n.name));
        }
        let closed =
            n.get("/api/v1/notifications/wait?types=channel_closed&timeout_secs=0").unwrap();
        if closed["notifications"].as_array().is_some_and(|c| !c.is_empty()) {
            v.push(format!("{}: channel_closed in the event log: {closed}", n.name));
        }
    }
    let log = std::fs::read_to_string(a_dir.with_extension("log")).unwrap_or_default();
    let needles: Vec<String> = check::FORCE_CLOSE_LOG.iter().map(|n| n.to_lowercase()).collect();
    for l in log.lines().filter(|l| needles.iter().any(|n| l.to_lowercase().contains(n))).take(3) {
        v.push(format!("A's log: {}", check::plain(l)));
    }
    say(TEST, format!("{} violations", v.len()));
    let msg: String = v.iter().map(|x| format!("\n  - {x}")).collect();
    assert!(v.is_empty(), "{TEST} ({}): {} violations:{msg}", fault.describe(), v.len());
}

/// Nothing A answered 2xx for is lost, and A and B agree about every payment.
fn durability(a: &TestNode, b: &TestNode, ops: &[Op], v: &mut Vec<String>) {
    for op in ops {
        let Some(hash) = op.hash.as_deref() else { continue };
        let acked = op.status == 200;
        match op.kind {
            Kind::Invoice | Kind::Receive => {
                let r = a.get(&format!("/api/v1/lightning/receives/{hash}"));
                if acked && r.is_err() {
                    v.push(format!(
                        "{:?} {hash}: A answered 2xx, the invoice is gone after the restart",
                        op.kind
                    ));
                }
                if op.kind == Kind::Receive && op.payer.is_some() {
                    // B's record now (its answer may have been `pending`).
                    let paid = b
                        .get(&format!("/api/v1/lightning/sends/{hash}"))
                        .map(|p| p["status"].clone());
                    let settled = r.as_ref().is_ok_and(|r| r["state"] == "settled");
                    if paid.as_ref().is_ok_and(|p| p == "complete") != settled {
                        let state = r.map(|r| r["state"].clone());
                        v.push(format!(
                            "receive {hash}: B's payment {paid:?}, A's receive {state:?}"
                        ));
                    }
                    if op.payer.as_deref() == Some("complete")
                        && !paid.is_ok_and(|p| p == "complete")
                    {
                        v.push(format!("receive {hash}: B was told complete, its record is not"));
                    }
                }
            }
            Kind::Pay => {
                let sent = a.get(&format!("/api/v1/lightning/sends/{hash}")).ok();
                let status = sent.as_ref().map(|s| s["status"].clone()).unwrap_or(Value::Null);
                if acked && sent.is_none() {
                    v.push(format!(
                        "pay {hash}: A answered 2xx ({}), no record after the restart",
                        op.answer
                    ));
                }
                if op.answer == "complete" && status != "complete" {
                    v.push(format!(
                        "pay {hash}: A answered complete, the record now says {status}"
                    ));
                }
                if op.status != 0
                    && op.status < 500
                    && op.answer != "complete"
                    && op.answer != "pending"
                    && status == "complete"
                {
                    v.push(format!(
                        "pay {hash}: A answered {} {}, the payment went through",
                        op.status, op.answer
                    ));
                }
                let received = b
                    .get(&format!("/api/v1/lightning/receives/{hash}"))
                    .is_ok_and(|r| r["state"] == "settled");
                if (status == "complete") != received {
                    v.push(format!("pay {hash}: A's record says {status}, B received: {received}"));
                }
            }
        }
    }
}
