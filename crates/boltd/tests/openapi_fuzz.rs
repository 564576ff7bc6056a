//! A property-based fuzz of boltd's own OpenAPI document: schemathesis (from PyPI, installed by
//! `scripts/test.sh` into `target/schemathesis-venv`) reads `/openapi.json` from a node of a
//! regtest lab (two funded nodes with a channel, payments made, receives pending, a webhook
//! endpoint, a scoped token) and sends it generated requests, valid and invalid, to every
//! operation with the node's admin token. It must find no 5xx, no response that breaks the
//! document (schema, status code, content type, headers), no invalid input accepted, no route
//! that ignores authentication, and no internal error code.
//!
//! The fuzz may do whatever the document allows, with an admin token: pay, keysend, close
//! channels, connect to peers, send on chain, register webhooks. Nothing is excluded:
//! schemathesis feeds values from responses back into requests (node ids, offers, invoices,
//! channel ids), so it may really pay B, pay its own invoices or close the channel, and every
//! answer is still checked against the document. It runs in a network namespace of its own
//! (`unshare --net --map-root-user`, the test re-runs itself there) with only loopback: a
//! webhook URL, a peer address or a Lightning address it makes up cannot make the node send
//! anything off this machine. `tests/schemathesis/` keeps the run short and deterministic: the
//! long-poll gets `timeout_secs=0`, paying an offer a `retry_for` of at most 3 s, and Alby's
//! payment operations may answer 500 (Alby's contract for a failed payment, checked to be code
//! 10, never an internal error).
//!
//! `BOLTD_FUZZ_EXAMPLES` (default 12) sets the examples per operation, `BOLTD_FUZZ_SEED` the
//! seed (default fixed, for a reproducible run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use boltd_harness::{
    fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::json;

/// Set in the re-run inside the network namespace.
const INSIDE_ENV: &str = "BOLTD_FUZZ_NETNS";
const TEST_NAME: &str = "schemathesis_finds_no_server_error_and_no_contract_violation";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schemathesis_bin() -> PathBuf {
    let bin = repo_root().join("target/schemathesis-venv/bin/st");
    assert!(
        bin.exists(),
        "schemathesis is not installed at {}: run scripts/test.sh, or\n  python3 -m venv \
         target/schemathesis-venv && target/schemathesis-venv/bin/pip install -r \
         tests/schemathesis/requirements.txt",
        bin.display()
    );
    bin
}

/// Brings the loopback interface of this (new) network namespace up.
fn loopback_up() {
    // SAFETY: plain ioctls on a socket this function owns, with a zeroed `ifreq` naming `lo`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let got = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req);
        assert!(got >= 0, "SIOCGIFFLAGS lo: {}", std::io::Error::last_os_error());
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        let set = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req);
        assert!(set >= 0, "SIOCSIFFLAGS lo: {}", std::io::Error::last_os_error());
        libc::close(fd);
    }
}

#[test]
fn schemathesis_finds_no_server_error_and_no_contract_violation() -> Result<(), HarnessError> {
    if std::env::var_os(INSIDE_ENV).is_none() {
        // Fail early, before the namespace, if schemathesis is missing.
        schemathesis_bin();
        // Some containers forbid network namespaces altogether (seccomp). The lab only ever
        // listens on loopback, so the fuzz still runs, without the guarantee that a made-up
        // address cannot be reached: said loudly, not hidden.
        let isolated = Command::new("unshare")
            .args(["--net", "--map-root-user", "--", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !isolated {
            eprintln!(
                "WARNING: `unshare --net --map-root-user` is not allowed here: the fuzz runs \
                 without a network namespace of its own"
            );
            return fuzz_in_lab();
        }
        let exe = std::env::current_exe().expect("the test binary's path");
        let status = Command::new("unshare")
            .args(["--net", "--map-root-user", "--"])
            .arg(exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(INSIDE_ENV, "1")
            .status()
            .unwrap_or_else(|e| panic!("cannot run `unshare` (util-linux): {e}"));
        assert!(
            status.success(),
            "the fuzz failed inside its network namespace ({status}); its output is above. (If \
             `unshare --net --map-root-user` itself failed, this machine forbids unprivileged \
             user namespaces: run the test as root.)"
        );
        return Ok(());
    }
    loopback_up();
    fuzz_in_lab()
}

/// The lab: A and B funded, a channel A to B with B's side pushed, payments both ways, pending
/// receives on A (an invoice and a hold invoice), a webhook endpoint and a scoped token on A.
fn fuzz_in_lab() -> Result<(), HarnessError> {
    let started = Instant::now();
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    fund(&btc, &b, &[&a])?;
    open_channel(&btc, &a, &b, 1_000_000, 300_000_000, &[&a, &b])?;
    mine_and_sync(&btc, 1, &[&a, &b])?;

    // B invoices, A pays; A invoices, B pays; A keysends to B.
    let inv = b.post("/api/v1/lightning/receives/invoice", json!({"amount_sat": 2000})).unwrap();
    let paid = a
        .post("/api/v1/lightning/pay", json!({"destination": inv["invoice"], "wait_secs": 60}))
        .unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    let inv = a.post("/api/v1/lightning/receives/invoice", json!({"amount_sat": 1500})).unwrap();
    let paid = b
        .post("/api/v1/lightning/pay", json!({"destination": inv["invoice"], "wait_secs": 60}))
        .unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    let ks = a
        .post(
            "/api/v1/lightning/keysend",
            json!({"destination": b.node_id, "amount_msat": 1_000_000,
                   "custom_records": {"65537": "hello"}}),
        )
        .unwrap();
    assert_eq!(ks["status"], "complete", "{ks}");
    // Pending receives: an invoice and a hold invoice.
    a.post("/api/v1/lightning/receives/invoice", json!({"amount_sat": 777, "description": "fuzz"}))
        .unwrap();
    a.post(
        "/api/v1/lightning/receives/invoice",
        json!({"amount_sat": 888, "payment_hash": "11".repeat(32)}),
    )
    .unwrap();
    // A webhook endpoint on loopback (nobody listens: its deliveries retry) and a token.
    a.post("/api/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).unwrap();
    a.create_token(json!({"name": "shop", "scopes": ["invoices:create", "invoices:read"]}))?;
    // Everything above is in A's event log.
    wait_until(
        "A's history to list 3 payments",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let h = a.get("/api/v1/payments").unwrap();
            Ok((h.as_array().map_or(0, Vec::len) >= 3).then_some(()))
        },
    )?;
    eprintln!("[fuzz] lab ready in {} s", started.elapsed().as_secs());

    let out = run_schemathesis(&a);
    eprintln!("[fuzz] schemathesis done in {} s", started.elapsed().as_secs());

    // The node still answers, as itself.
    let info = a.get("/api/v1/node/info").unwrap();
    assert_eq!(info["node_id"], a.node_id.as_str());
    assert!(
        out.status.success(),
        "schemathesis found problems ({}); see its report above",
        out.status
    );
    Ok(())
}

/// Every check of schemathesis 4.32 (`--checks all`) but two, and boltd's own (the hooks):
/// - `positive_data_acceptance`: schema-valid is not valid: a string is not a signed invoice,
///   a node id is not a peer's;
/// - `max_response_time` (in `all`, 10 s by default): speed is never asserted in boltd's
///   tests (a payment may wait for its outcome).
const CHECKS: &[&str] = &[
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
    "alby_500_is_a_payment_failure",
    "no_internal_error_code",
];

fn free_port() -> Result<u16, HarnessError> {
    boltd_harness::free_port()
}

struct Outcome {
    status: std::process::ExitStatus,
}

fn run_schemathesis(a: &TestNode) -> Outcome {
    let root = repo_root();
    let examples = std::env::var("BOLTD_FUZZ_EXAMPLES").unwrap_or_else(|_| "12".into());
    let seed = std::env::var("BOLTD_FUZZ_SEED").unwrap_or_else(|_| "20250501".into());
    let report = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(schemathesis_bin());
    cmd.arg("--config-file")
        .arg(root.join("tests/schemathesis/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", a.api_url))
        .args(["--url", &a.api_url])
        .args(["-H", &format!("Authorization: Bearer {}", a.admin_token())])
        .args(["--checks", &CHECKS.join(",")])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", &seed])
        .args(["--workers", "1"])
        .args(["--request-timeout", "60"])
        .arg("--no-shrink")
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(report.path())
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", root.join("tests/schemathesis"))
        .env("NO_COLOR", "1")
        // Its cache (`.schemathesis/`) goes with the report, not into the repository.
        .current_dir(report.path());
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run schemathesis: {e}"));
    show_junit_summary(report.path());
    Outcome { status }
}

/// How many test cases each operation got, from the JUnit report (so a run that tested nothing
/// cannot pass unnoticed).
fn show_junit_summary(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(e.path()) {
            let cases = text.matches("<testcase").count();
            eprintln!("[fuzz] {}: {cases} operations reported", e.path().display());
            assert!(cases >= 60, "schemathesis tested only {cases} operations");
        }
    }
}
