//! LNbits 1.6.2's funding sources for boltd's three dialects, the real classes from PyPI
//! (`BarkWallet`, `AlbyWallet`, `CLNRestWallet`), against a regtest network of boltd nodes:
//! A - B - C (A and B funded; B pushes to C so C can pay back). For each class,
//! `tests/lnbits/driver.py` makes LNbits' wallet on A (the funding source under test) and one on
//! C, and runs: status (A's balance), A pays an invoice of C's (final status with fee and
//! preimage), C pays an invoice of A's (seen on A's paid-invoice stream where the class has
//! one, and by its invoice status), A pays an invoice C canceled (failed), and, where the class
//! can only report a refusal as a failure, a payment over a token's per-payment maximum. The
//! driver prints what each call returned; everything is judged here, against the nodes' own
//! records.
//!
//! LNbits comes from `target/lnbits-venv` (`tests/lnbits/requirements.txt`, pinned;
//! `scripts/test.sh` installs it). Without it the test fails and says how to install it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{free_port, line_of_three, Bitcoind, ChainAccess, HarnessError, TestNode};
use serde_json::{json, Value};

/// What A pays C each run: more than B's channel reserve (1 % of the A - B channel), so that B
/// can forward C's payment back to A.
const AMOUNT_OUT_SAT: u64 = 60_000;
const AMOUNT_IN_SAT: u64 = 7_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python; fails with a clear message when LNbits is not installed.
fn python() -> PathBuf {
    let venv = repo().join("target/lnbits-venv");
    let py = venv.join("bin/python");
    let data = tempfile::tempdir().unwrap(); // LNbits makes its data folder on import
    let installed = Command::new(&py)
        .args(["-c", "import lnbits.wallets.bark, lnbits.wallets.alby, lnbits.wallets.clnrest"])
        .current_dir(data.path())
        .env("LNBITS_DATA_FOLDER", data.path())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        installed,
        "LNbits is not installed in {}: run `python3 -m venv {0} && {0}/bin/pip install -r \
         tests/lnbits/requirements.txt` (scripts/test.sh does)",
        venv.display()
    );
    py
}

/// Runs the driver for one funding source and returns what it printed.
fn drive(kind: &str, env: &[(&str, String)]) -> Value {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/lnbits/driver.py"))
        .arg(kind)
        .current_dir(data.path())
        .env("LNBITS_DATA_FOLDER", data.path())
        .env("DEBUG", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("cannot run the LNbits venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the {kind} driver failed ({}):\n{stderr}\n{stdout}", out.status);
    let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the {kind} driver printed no JSON ({e}):\n{stdout}\n{stderr}"));
    eprintln!("{kind}: driver ran in {:.1} s: {v:#}", started.elapsed().as_secs_f64());
    v
}

fn preimage_of(preimage: &Value, hash: &str) -> bool {
    let p = hex::decode(preimage.as_str().unwrap_or_default()).unwrap_or_default();
    !p.is_empty() && hex::encode(sha256::Hash::hash(&p).to_byte_array()) == hash
}

/// The node's own record of an outgoing payment.
fn sent(n: &TestNode, hash: &str) -> Value {
    n.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap()
}

/// An invoice of `n` that fails when paid: `n` canceled it.
fn canceled_invoice(n: &TestNode, what: &str) -> Result<String, HarnessError> {
    let (invoice, hash) = n.invoice(AMOUNT_OUT_SAT, what)?;
    n.delete(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    Ok(invoice)
}

/// What every driver run shows the same way: the status with the balance, A paying C (final,
/// with the fee and preimage A recorded), C paying A (A's receive settled).
fn check_common(kind: &str, r: &Value, a: &TestNode, c: &TestNode, balance_before_msat: u64) {
    assert_eq!(r["status"]["error_message"], Value::Null, "{kind}: status: {r}");
    let balance = r["status"]["balance_msat"].as_u64().unwrap();
    // LNbits' balance is whole sats (barkd's and Alby's are sats) or msat (clnrest).
    assert!(
        balance.abs_diff(balance_before_msat) < 1000 && balance > 0,
        "{kind}: status balance {balance} msat, A's spendable before the run {balance_before_msat}"
    );

    // A paid C's invoice.
    let inv = &r["y_invoice"];
    assert_eq!(inv["ok"], true, "{kind}: C's invoice: {r}");
    let hash = inv["checking_id"].as_str().unwrap();
    let rec = sent(a, hash);
    assert_eq!(rec["status"], "complete", "{kind}: A's record: {rec}");
    let pay = &r["pay"];
    assert_eq!(pay["ok"], true, "{kind}: pay_invoice: {pay}");
    assert_eq!(pay["checking_id"], hash, "{kind}: {pay}");
    assert_eq!(pay["preimage"], rec["preimage"], "{kind}: the preimage A recorded: {pay}");
    assert!(preimage_of(&pay["preimage"], hash), "{kind}: {pay}");
    let fee_msat = rec["fee_msat"].as_u64().unwrap();
    assert!(fee_msat > 0, "{kind}: a two-hop payment pays B a fee: {rec}");
    let st = &r["pay_status"];
    assert_eq!(st["success"], true, "{kind}: get_payment_status: {st}");
    assert_eq!(st["failed"], false, "{kind}: {st}");
    if kind != "alby" {
        // AlbyWallet's status has no fee or preimage (its pay answer has them, checked above).
        assert_eq!(st["preimage"], rec["preimage"], "{kind}: {st}");
        let shown = st["fee_msat"].as_u64().unwrap();
        // barkd's movements give the fee in whole sats (rounded up); clnrest in msat.
        let expected = if kind == "bark" { fee_msat.div_ceil(1000) * 1000 } else { fee_msat };
        assert_eq!(shown, expected, "{kind}: fee of {st}, A recorded {fee_msat} msat");
    }

    // C paid A's invoice; A's receive settled.
    let inv = &r["x_invoice"];
    assert_eq!(inv["ok"], true, "{kind}: A's invoice: {r}");
    let hash = inv["checking_id"].as_str().unwrap();
    let receive = a.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert_eq!(receive["invoice"], inv["payment_request"], "{kind}: {receive}");
    assert_eq!(receive["state"], "settled", "{kind}: {receive}");
    assert_eq!(receive["received_msat"], AMOUNT_IN_SAT * 1000, "{kind}: {receive}");
    assert_eq!(r["incoming_pay"]["ok"], true, "{kind}: C's payment: {r}");
    assert_eq!(sent(c, hash)["status"], "complete");
    let st = &r["invoice_status"];
    assert_eq!(st["success"], true, "{kind}: get_invoice_status: {st}");
}

/// A's record of the failing payment: failed.
fn check_failed_record(kind: &str, r: &Value, a: &TestNode) -> String {
    let failing = r["failing_pay"]["checking_id"].as_str().map(String::from);
    let hash = failing.unwrap_or_else(|| {
        // CLNRestWallet's failure answer carries no checking id: take it from A's records.
        let pays = a.get("/api/v1/payments?direction=outgoing&status=failed").unwrap();
        pays[0]["payment_hash"].as_str().unwrap().to_string()
    });
    let rec = sent(a, &hash);
    assert_eq!(rec["status"], "failed", "{kind}: A's record of the failing payment: {rec}");
    hash
}

/// The payment over the limited token's per-payment maximum: refused (403), reported failed.
fn check_refused(kind: &str, r: &Value) {
    let p = &r["limited_pay"];
    assert_eq!(p["ok"], false, "{kind}: a payment over the token's maximum: {p}");
    let msg = p["error_message"].as_str().unwrap_or_default();
    assert!(msg.contains("maximum") || msg.contains("limit"), "{kind}: {p}");
}

#[test]
fn lnbits_funding_sources_against_boltd() -> Result<(), HarnessError> {
    let py = python(); // before the lab: a missing venv fails at once
    drop(py);
    let started = Instant::now();
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 500_000_000)?;
    c.wait_for_route(&a, 1)?;
    eprintln!("lab ready in {:.1} s", started.elapsed().as_secs_f64());

    // An app's token, as an operator would give LNbits: no `node:admin`.
    let scopes =
        ["payments:send", "invoices:create", "invoices:read", "transactions:read", "balance:read"];
    let app_token = |n: &TestNode| n.create_token(json!({ "name": "lnbits", "scopes": scopes }));
    let (a_token, c_token) = (app_token(&a)?, app_token(&c)?);
    let limited = a.create_token(json!({
        "name": "lnbits-limited", "scopes": scopes, "max_payment_msat": 1_000_000,
    }))?;
    let spendable = |n: &TestNode| -> u64 {
        n.get("/api/v1/wallet/balance").unwrap()["spendable_sat"].as_u64().unwrap() * 1000
    };
    let env = |failing: String, limited: Option<&str>| {
        let mut e = vec![
            ("X_URL", a.api_url.clone()),
            ("X_TOKEN", a_token.clone()),
            ("Y_URL", c.api_url.clone()),
            ("Y_TOKEN", c_token.clone()),
            ("FAILING_INVOICE", failing),
            ("AMOUNT_OUT_SAT", AMOUNT_OUT_SAT.to_string()),
            ("AMOUNT_IN_SAT", AMOUNT_IN_SAT.to_string()),
            ("STREAM_TIMEOUT_SECS", "60".to_string()),
        ];
        if let Some(t) = limited {
            e.push(("X_LIMITED_TOKEN", t.to_string()));
        }
        e
    };

    // ---- BarkWallet (barkd's REST API) ----
    let before = spendable(&a);
    let r = drive("bark", &env(canceled_invoice(&c, "lnbits bark: canceled")?, Some(&limited)));
    assert_eq!(r["funding_source"], "BarkWallet");
    check_common("bark", &r, &a, &c, before);
    // The paid invoice came through its WebSocket (barkd's `movement-created`).
    assert_eq!(r["streamed"], r["x_invoice"]["checking_id"], "bark: stream: {r}");
    let hash = check_failed_record("bark", &r, &a);
    assert_eq!(r["failing_pay"]["checking_id"], hash.as_str());
    assert_ne!(r["failing_pay"]["ok"], true, "bark: {r}");
    let st = &r["failing_status"];
    assert_eq!(st["failed"], true, "bark: the failed payment's status: {st}");
    assert_eq!(st["success"], false, "bark: {st}");
    check_refused("bark", &r);

    // ---- AlbyWallet (Alby's Wallet API) ----
    let before = spendable(&a);
    let r = drive("alby", &env(canceled_invoice(&c, "lnbits alby: canceled")?, Some(&limited)));
    assert_eq!(r["funding_source"], "AlbyWallet");
    check_common("alby", &r, &a, &c, before);
    // LNbits takes Alby's `fee` (whole sats, rounded up) as msat, negated.
    let hash = r["pay"]["checking_id"].as_str().unwrap();
    let fee_sat = sent(&a, hash)["fee_msat"].as_u64().unwrap().div_ceil(1000);
    assert_eq!(r["pay"]["fee_msat"], -i64::try_from(fee_sat).unwrap(), "alby: {r}");
    // AlbyWallet has no way to read a failure from Alby's API (its status knows CREATED and
    // SETTLED only; a 500, Alby's failed payment, reads as pending): never a success, and
    // the record says failed. A refusal (403) is what it reports as failed.
    check_failed_record("alby", &r, &a);
    assert_ne!(r["failing_pay"]["ok"], true, "alby: {r}");
    assert_eq!(r["failing_status"]["success"], false, "alby: {r}");
    check_refused("alby", &r);

    // ---- CLNRestWallet (Core Lightning's REST, its token in the `rune` header) ----
    let channels = a.get("/api/v1/node/channels").unwrap();
    let outbound: u64 =
        channels.as_array().unwrap().iter().map(|c| c["outbound_msat"].as_u64().unwrap()).sum();
    let r = drive("clnrest", &env(canceled_invoice(&c, "lnbits clnrest: canceled")?, None));
    assert_eq!(r["funding_source"], "CLNRestWallet");
    // listfunds: Σ our_amount_msat, what A's channels can send.
    assert_eq!(r["status"]["balance_msat"], outbound, "clnrest: {r}");
    check_common("clnrest", &r, &a, &c, outbound);
    assert_eq!(
        r["pay"]["fee_msat"],
        sent(&a, r["pay"]["checking_id"].as_str().unwrap())["fee_msat"]
    );
    // The paid invoice came through `waitanyinvoice` (after the invoices A was paid before:
    // LNbits starts without a `lastpay_index`).
    assert_eq!(r["streamed"], r["x_invoice"]["checking_id"], "clnrest: stream: {r}");
    assert!(r["stream_seen"].as_array().unwrap().len() >= 2, "clnrest: earlier paid invoices: {r}");
    // CLNRestWallet made its invoice with its own preimage: A's receive was settled with it.
    let hash = r["x_invoice"]["checking_id"].as_str().unwrap();
    let receive = a.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert!(preimage_of(&receive["preimage"], hash), "clnrest: {receive}");
    let hash = check_failed_record("clnrest", &r, &a);
    assert_ne!(r["failing_pay"]["ok"], true, "clnrest: {r}");
    let st = &r["failing_status"];
    assert_eq!(st["failed"], true, "clnrest: the failed payment's status (listpays): {st}, {hash}");
    eprintln!("lnbits test done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
