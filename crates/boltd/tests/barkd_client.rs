//! A client generated from barkd's own OpenAPI document (`tests/reference/barkd-openapi-0.8.0.json`, a copy of `../shared/reference/`)
//! drives boltd: `tests/barkd-client/generate.mjs` generates it at set-up with
//! `@hey-api/openapi-ts` (pinned in `tests/barkd-client/package-lock.json`, installed by
//! `scripts/test.sh` with `npm ci`) as a fetch SDK whose zod schemas validate every request and
//! every JSON answer against barkd's models (required fields, types, integers, enums,
//! date-times); `tests/barkd-client/driver.ts` calls every operation of the document that is not
//! Ark-only (the skipped ones are listed there with their reason, and it checks that none is
//! forgotten), parses the error bodies (404 `NotFoundError`, 400 `BadRequestError`) and the
//! WebSocket's messages (`WalletNotification`), and prints what it saw. Here it runs against A
//! of a regtest lab A - B - C (C pays A and is paid by it), and everything is judged against
//! the nodes' own records.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use boltd_harness::{free_port, line_of_three, Bitcoind, ChainAccess, HarnessError, TestNode};
use serde_json::Value;

const AMOUNT_OUT_SAT: u64 = 60_000;

/// barkd operations whose answers do not parse into barkd's models yet: none.
const STILL_OPEN: [&str; 0] = [];
const AMOUNT_IN_SAT: u64 = 7_000;

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/barkd-client")
}

/// Generates the client from barkd's document; fails clearly when the generator is missing.
fn generate() {
    let dir = client_dir();
    assert!(
        dir.join("node_modules/@hey-api/openapi-ts").is_dir(),
        "the barkd client generator is not installed: run `npm ci --prefix tests/barkd-client` \
         (scripts/test.sh does; needs Node.js 20.19 or newer)"
    );
    let out = Command::new("node")
        .arg("generate.mjs")
        .current_dir(&dir)
        .output()
        .expect("cannot run node (Node.js 20.19 or newer is needed)");
    assert!(
        out.status.success(),
        "generating the barkd client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn drive(env: &[(&str, String)]) -> Value {
    let mut cmd = Command::new("node");
    cmd.args(["--experimental-websocket", "--no-warnings", "--import", "tsx", "driver.ts"])
        .current_dir(client_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("cannot run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the barkd client driver failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the driver printed no JSON ({e}):\n{stdout}\n{stderr}"));
    eprintln!("driver ran in {:.1} s: {v:#}", started.elapsed().as_secs_f64());
    v
}

fn movement_with<'a>(history: &'a Value, side: &str, invoice: &Value) -> Option<&'a Value> {
    history.as_array()?.iter().find(|m| {
        m[side]
            .as_array()
            .is_some_and(|ds| ds.iter().any(|d| d["destination"]["value"] == *invoice))
    })
}

#[test]
fn a_client_generated_from_barkds_document_drives_boltd() -> Result<(), HarnessError> {
    generate(); // before the lab: a missing generator fails at once
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

    let admin = |n: &TestNode| {
        n.create_token(serde_json::json!({"name": "barkd client", "scopes": ["node:admin"]}))
    };
    let (a_token, c_token) = (admin(&a)?, admin(&c)?);
    let r = drive(&[
        ("X_URL", a.api_url.clone()),
        ("X_TOKEN", a_token),
        ("Y_URL", c.api_url.clone()),
        ("Y_TOKEN", c_token),
        ("AMOUNT_IN_SAT", AMOUNT_IN_SAT.to_string()),
        ("AMOUNT_OUT_SAT", AMOUNT_OUT_SAT.to_string()),
    ]);

    // Every answer parsed into barkd's models, but for the non-conformances still open (each
    // must still fail, so that one fixed leaves this list); every operation called or skipped
    // for a reason.
    let mut failing: Vec<&str> =
        r["failures"].as_array().unwrap().iter().map(|f| f["op"].as_str().unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    failing.retain(|op| seen.insert(*op));
    assert_eq!(failing, STILL_OPEN, "answers that are not barkd's: {:#}", r["failures"]);
    assert_eq!(r["uncovered"], Value::Array(vec![]), "operations neither called nor skipped");
    let called = r["called"].as_array().unwrap();
    let skipped = r["skipped"].as_object().unwrap();
    assert_eq!(called.len() + skipped.len(), r["operations"].as_u64().unwrap() as usize);
    assert!(called.len() >= 30, "{} operations called: {called:?}", called.len());

    // The node: readiness, chain tip, balances.
    assert_eq!(r["connected"]["connected"], true, "{r}");
    let tip = r["tip"]["tip_height"].as_u64().unwrap();
    assert!(tip > 200, "tip {tip}");
    assert!(r["balance"]["spendable_sat"].as_u64().unwrap() > AMOUNT_OUT_SAT);

    // C paid A's invoice: A's receive settled with the amount.
    let hash = r["incoming_hash"].as_str().unwrap();
    let rec = a.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert_eq!(rec["state"], "settled", "{rec}");
    assert_eq!(rec["amount_sat"], AMOUNT_IN_SAT, "{rec}");
    assert_eq!(rec["invoice"], r["incoming_invoice"]);

    // A paid C's invoice: barkd's answers agree with A's record.
    let hash = r["outgoing_pay"]["payment_hash"].as_str().unwrap();
    let record = a.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
    assert_eq!(record["status"], "complete", "{record}");
    let send = &r["outgoing_send"];
    assert_eq!(send["state"], "paid", "{send}");
    assert_eq!(send["preimage"], record["preimage"], "{send}");
    assert_eq!(r["wallet_send"]["message"], "payment complete", "{r}");

    // Receives: the pending one listed, then canceled; unknown ones are barkd's 404.
    assert_eq!(r["pending_listed"], true);
    assert!(!r["receive_404"]["resources"].as_array().unwrap().is_empty(), "{r}");
    assert!(!r["send_404"]["resources"].as_array().unwrap().is_empty(), "{r}");

    // History: both payments as Movements, with their destinations, status and fee.
    let history = &r["history"];
    let out = movement_with(history, "sent_to", &r["outgoing_invoice"]).expect("the payment to C");
    assert_eq!(out["status"], "successful", "{out}");
    let fee_msat = record["fee_msat"].as_u64().unwrap();
    assert_eq!(out["offchain_fee_sat"], fee_msat.div_ceil(1000), "{out}");
    assert_eq!(out["sent_to"][0]["amount_sat"], AMOUNT_OUT_SAT, "{out}");
    let inc = movement_with(history, "received_on", &r["incoming_invoice"]).expect("C's payment");
    assert_eq!(inc["status"], "successful", "{inc}");
    assert_eq!(inc["effective_balance_sat"], AMOUNT_IN_SAT, "{inc}");
    assert_eq!(r["history_filtered"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["wallet_history"], history.as_array().unwrap().len());
    assert_eq!(r["movements"], history.as_array().unwrap().len());
    assert_eq!(r["metadata"]["order"], "barkd-client-42", "{r}");

    // Messages.
    assert_eq!(r["verified"]["valid"], true, "{r}");
    assert_eq!(r["verified_other"]["valid"], false, "{r}");

    // BIP 321: the invoice and the address in one URI; upper-case for QR codes.
    let uri = r["bip321"]["bip321"].as_str().unwrap_or_default();
    let bolt11 = r["bip321"]["bolt11"].as_str().unwrap_or_default();
    let address = r["bip321"]["onchain"].as_str().unwrap_or_default();
    assert!(uri.starts_with("bitcoin:") && uri.contains("amount=0.000025"), "{r}");
    assert!(!bolt11.is_empty() && uri.contains(&format!("lightning={bolt11}")), "{r}");
    assert!(!address.is_empty() && uri.contains(address), "{r}");
    assert!(uri.contains("label=boltd&message=barkd%20client"), "{r}");
    let upper = r["bip321_lightning_only"]["bip321"].as_str().unwrap_or_default();
    assert!(upper.starts_with("BITCOIN:?AMOUNT=0.00002&LIGHTNING=LNBCRT"), "{r}");
    assert_eq!(r["bip321_lightning_only"]["onchain"], Value::Null, "{r}");

    // Notifications: barkd's, on the long-poll and the WebSocket alike.
    let notes = r["notifications"].as_array().unwrap();
    assert!(notes.len() >= 2, "the payments' notifications: {r}");
    assert!(notes.iter().all(|n| n["type"].as_str().unwrap().starts_with("movement-")), "{r}");
    assert_eq!(r["ws_notifications"], r["notifications"], "{r}");

    // On chain: the sends and the drain went out.
    for k in ["onchain_send", "onchain_send_many", "onchain_drain"] {
        let txid = r[k]["txid"].as_str().unwrap_or_default();
        assert_eq!(txid.len(), 64, "{k}: {}", r[k]);
    }
    drop(b);
    Ok(())
}
