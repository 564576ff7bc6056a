//! Nostr Wallet Connect (NIP-47) end to end, with real parts only: an in-process relay on
//! loopback (`nostr-relay-builder`), the real `boltd` binary serving NWC on it (alice), two
//! in-process nodes (bob, the hop; carol, the peer that pays and is paid), and the real
//! `@getalby/sdk` `NWCClient` in Node.js (`tests/js/nwc_e2e.mjs`).
//!
//! Connections are made with the real CLI (`boltd nwc create|list|revoke`). The script runs
//! with NIP-44 (the SDK's choice) and with NIP-04: get_info, get_balance, make_invoice paid by
//! carol (`payment_received`), pay_invoice of carol's invoice across bob (`payment_sent`),
//! lookup_invoice, pay_keysend with a TLV record, hold invoices settled and canceled
//! (`hold_invoice_accepted`), list_transactions. Then the refusals (scope missing, budget
//! exhausted, revoked connection, unknown method, expired request, replayed request): each the
//! spec's error and nothing paid. Then LNbits 1.6.2's `NWCWallet` funding source (the real
//! class, `tests/lnbits/nwc_driver.py`): status, an invoice paid by carol and seen on its
//! paid-invoice stream, a payment. Then the relay is restarted while the service is connected:
//! the service reconnects and answers again. Payments made over NWC are checked in alice's
//! native and Alby histories.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};
use serde_json::{json, Value};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// Runs the script with `env`; its JSON output.
fn run_script(env: &[(&str, String)]) -> Value {
    let dir = js_dir();
    assert!(
        dir.join("node_modules/@getalby/sdk/package.json").exists()
            && dir.join("node_modules/ws/package.json").exists(),
        "@getalby/sdk and ws are not installed in {}: run `npm ci` there",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg("nwc_e2e.mjs").current_dir(&dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the NWC script failed ({}):\n{stderr}\n{stdout}", out.status);
    let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the NWC script printed no JSON ({e}):\n{stdout}\n{stderr}"));
    eprintln!("{}: {v:#}", v["mode"]);
    v
}

/// Runs `tests/lnbits/nwc_driver.py` with LNbits' venv (`target/lnbits-venv`); what it printed.
fn drive_lnbits(env: &[(&str, String)]) -> Value {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = repo.join("target/lnbits-venv/bin/python");
    let data = tempfile::tempdir().unwrap(); // LNbits makes its data folder on import
    let installed = Command::new(&py)
        .args(["-c", "import lnbits.wallets.nwc"])
        .current_dir(data.path())
        .env("LNBITS_DATA_FOLDER", data.path())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "LNbits is not installed in target/lnbits-venv: run `python3 -m venv target/lnbits-venv \
         && target/lnbits-venv/bin/pip install -r tests/lnbits/requirements.txt`"
    );
    let mut cmd = Command::new(&py);
    cmd.arg(repo.join("tests/lnbits/nwc_driver.py"))
        .current_dir(data.path())
        .env("LNBITS_DATA_FOLDER", data.path())
        .env("DEBUG", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("cannot run the LNbits venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the LNbits NWC driver failed:\n{stderr}\n{stdout}");
    let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the LNbits driver printed no JSON ({e}):\n{stdout}\n{stderr}"));
    eprintln!("lnbits: {v:#}");
    v
}

/// The real CLI against `node` with its admin token.
fn cli(node: &TestNode, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_boltd"))
        .args(args)
        .env("BOLTD_URL", &node.api_url)
        .env("BOLTD_TOKEN", node.admin_token())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boltd {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

fn start_relay(rt: &tokio::runtime::Runtime, port: u16) -> LocalRelay {
    let builder = RelayBuilder::default()
        .addr([127, 0, 0, 1].into())
        .port(port)
        .rate_limit(RateLimit { max_reqs: 10_000, notes_per_minute: 100_000 });
    rt.block_on(LocalRelay::run(builder)).expect("the relay starts")
}

fn payments(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

fn count_with_hash(list: &[Value], hash: &Value) -> usize {
    list.iter().filter(|p| p["payment_hash"] == *hash).count()
}

#[test]
fn nwc_clients_against_boltd_through_a_relay() -> Result<(), HarnessError> {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let relay_port = free_port()?;
    let relay = start_relay(&rt, relay_port);
    let relay_url = format!("ws://127.0.0.1:{relay_port}");

    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a = TestNode::spawn_with(
        "alice",
        &exe,
        &dir.path().join("a"),
        &chain,
        free_port()?,
        &["--nwc-relays", &relay_url],
    )?;
    let wallet = a.ready.as_ref().unwrap()["nwc_wallet_pubkey"].as_str().unwrap().to_string();
    assert_eq!(wallet.len(), 64);
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    let all = [&a, &b, &c];
    btc.mine(101)?;
    fund(&btc, &a, &[&b, &c])?;
    fund(&btc, &b, &[&a, &c])?;
    // Half of each channel pushed to the far side: payments go both ways across bob.
    open_channel(&btc, &a, &b, 2_000_000, 1_000_000_000, &all)?;
    open_channel(&btc, &b, &c, 2_000_000, 1_000_000_000, &all)?;
    a.wait_for_route(&c, 10_000)?;
    c.wait_for_route(&a, 10_000)?;
    mine_and_sync(&btc, 1, &all)?;

    // Connections through the real CLI.
    let app_scopes = "payments:send,invoices:create,invoices:read,transactions:read,balance:read";
    let app =
        cli(&a, &["nwc", "create", "app", "--scope", app_scopes, "--daily-budget", "1000000sat"]);
    let uri = app["uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with(&format!("nostr+walletconnect://{wallet}?relay=")), "{uri}");
    assert!(uri.contains("&secret="), "{uri}");
    let restricted = cli(&a, &["nwc", "create", "reader", "--scope", "invoices:read"]);
    let budget =
        cli(&a, &["nwc", "create", "small", "--scope", "payments:send", "--daily-budget", "4sat"]);
    let revoked = cli(&a, &["nwc", "create", "gone", "--scope", "payments:send,balance:read"]);
    let gone = revoked["client_pubkey"].as_str().unwrap();
    let r = cli(&a, &["nwc", "revoke", gone]);
    assert_eq!(r["token"]["active"], false, "{r}");
    let listed = cli(&a, &["nwc", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    assert!(!listed.to_string().contains("secret="), "a listing never shows a secret");
    // The connection's token is a token like any other (the token API lists and revokes it).
    let tokens = a.get("/api/v1/tokens").unwrap();
    assert!(tokens.as_array().unwrap().iter().any(|t| t["id"] == app["token"]["id"]));

    let peer_token = c.create_token(json!({
        "name": "peer", "scopes": ["payments:send", "invoices:create", "invoices:read"],
    }))?;
    let peer = |mode: &str| {
        vec![
            ("MODE", mode.to_string()),
            ("NWC_URI", uri.clone()),
            ("PEER_URL", c.api_url.clone()),
            ("PEER_TOKEN", peer_token.clone()),
            ("PEER_ID", c.node_id.clone()),
        ]
    };

    for mode in ["nip44", "nip04"] {
        let r = run_script(&peer(mode));
        let ctx = format!("{mode}: {r}");
        assert_eq!(r["encryption"], if mode == "nip44" { "nip44_v2" } else { "nip04" }, "{ctx}");
        assert_eq!(r["service"]["encryptions"], json!(["nip44_v2", "nip04"]), "{ctx}");
        assert_eq!(r["info"]["pubkey"], a.node_id.as_str(), "{ctx}");
        assert_eq!(r["info"]["network"], "regtest", "{ctx}");
        assert!(r["info"]["methods"].as_array().unwrap().contains(&json!("pay_invoice")), "{ctx}");
        assert!(r["balanceBefore"]["balance"].as_u64().unwrap() > 0, "{ctx}");
        // make_invoice paid by carol.
        let made_hash = r["made"]["payment_hash"].clone();
        assert_eq!(r["made"]["amount"], 50_000, "{ctx}");
        assert_eq!(r["peerPaid"]["status"], 200, "{ctx}");
        assert_eq!(r["received"]["notification"]["amount"], 50_000, "{ctx}");
        assert_eq!(r["lookedUp"]["state"], "settled", "{ctx}");
        assert_eq!(count_with_hash(&payments(&a, "incoming"), &made_hash), 1, "{ctx}");
        // pay_invoice of carol's invoice across bob.
        let paid_hash = r["peerInvoice"]["payment_hash"].clone();
        assert_eq!(r["paid"]["preimage"].as_str().unwrap().len(), 64, "{ctx}");
        assert_eq!(r["sent"]["notification"]["state"], "settled", "{ctx}");
        assert_eq!(r["lookedUpSent"]["type"], "outgoing", "{ctx}");
        assert_eq!(r["lookedUpSent"]["preimage"], r["paid"]["preimage"], "{ctx}");
        // Seen by every dialect: native history and the Alby dialect.
        let out = payments(&a, "outgoing");
        assert_eq!(count_with_hash(&out, &paid_hash), 1, "{ctx}");
        let nwc_payment = out.iter().find(|p| p["payment_hash"] == paid_hash).unwrap();
        assert_eq!(nwc_payment["token_id"], app["token"]["id"], "{ctx}");
        let alby = a.get(&format!("/invoices/{}", paid_hash.as_str().unwrap())).unwrap();
        assert_eq!(alby["settled"], true, "{ctx}: {alby}");
        let received = c.get(&format!("/invoices/{}", paid_hash.as_str().unwrap())).unwrap();
        assert_eq!(received["settled"], true, "{ctx}: carol got it: {received}");
        // Keysend.
        assert_eq!(r["keysend"]["preimage"].as_str().unwrap().len(), 64, "{ctx}");
        // Hold invoices.
        assert_eq!(r["holdState"], "accepted", "{ctx}");
        assert_eq!(r["holdPaid"]["status"], 200, "{ctx}");
        assert_eq!(r["holdAfter"]["state"], "settled", "{ctx}");
        assert_eq!(r["hold2After"]["state"], "failed", "{ctx}");
        assert_ne!(r["hold2Paid"]["status"], 200, "{ctx}: the canceled hold invoice was not paid");
        // list_transactions.
        let txs = r["transactions"]["transactions"].as_array().unwrap();
        assert!(
            txs.iter().any(|t| t["payment_hash"] == paid_hash && t["type"] == "outgoing"),
            "{ctx}"
        );
        assert!(
            txs.iter().any(|t| t["payment_hash"] == made_hash && t["type"] == "incoming"),
            "{ctx}"
        );
        let outgoing = r["outgoingOnly"]["transactions"].as_array().unwrap();
        assert_eq!(outgoing.len(), 2, "{ctx}");
        assert!(outgoing.iter().all(|t| t["type"] == "outgoing"), "{ctx}");
        // get_budget: the connection's daily budget, charged with what it paid.
        assert_eq!(r["budget"]["total_budget"], 1_000_000_000u64, "{ctx}");
        assert_eq!(r["budget"]["renewal_period"], "daily", "{ctx}");
        assert!(r["budget"]["used_budget"].as_u64().unwrap() >= 30_000 + 7_000, "{ctx}");
        let kinds: Vec<&str> =
            r["notifications"].as_array().unwrap().iter().map(|n| n[0].as_str().unwrap()).collect();
        for k in ["payment_received", "payment_sent", "hold_invoice_accepted"] {
            assert!(kinds.contains(&k), "{ctx}: no {k}");
        }
    }

    // The refusals: nothing paid.
    let mut env = peer("errors");
    env.push(("RESTRICTED_URI", restricted["uri"].as_str().unwrap().to_string()));
    env.push(("BUDGET_URI", budget["uri"].as_str().unwrap().to_string()));
    env.push(("REVOKED_URI", revoked["uri"].as_str().unwrap().to_string()));
    let r = run_script(&env);
    let ctx = format!("errors: {r}");
    assert_eq!(r["restricted"]["code"], "RESTRICTED", "{ctx}");
    let restricted_methods = json!(["lookup_invoice", "get_info", "get_budget"]);
    assert_eq!(r["restrictedInfo"]["methods"], restricted_methods, "{ctx}");
    assert_eq!(r["budget"]["code"], "QUOTA_EXCEEDED", "{ctx}");
    let small =
        a.get(&format!("/api/v1/tokens/{}", budget["token"]["id"].as_str().unwrap())).unwrap();
    assert_eq!(small["budgets"][0]["spent_msat"], 0, "{ctx}: nothing charged: {small}");
    assert_eq!(r["revoked"]["code"], "UNAUTHORIZED", "{ctx}");
    assert_eq!(r["unknownMethod"]["code"], "NOT_IMPLEMENTED", "{ctx}");
    let expired = &r["expired"]["answers"];
    assert_eq!(expired[0]["error"]["code"], "OTHER", "{ctx}");
    assert!(expired[0]["error"]["message"].as_str().unwrap().contains("expired"), "{ctx}");
    let unpaid = &r["invoice"]["payment_hash"];
    assert_eq!(count_with_hash(&payments(&a, "outgoing"), unpaid), 0, "{ctx}: nothing paid");
    let still = c.get(&format!("/invoices/{}", unpaid.as_str().unwrap())).unwrap();
    assert_eq!(still["settled"], false, "{ctx}: {still}");
    // The replayed request: answered (again, alike, if the relay delivered it twice), paid once.
    let replays = r["replayed"]["answers"].as_array().unwrap();
    assert!(!replays.is_empty(), "{ctx}");
    assert_eq!(replays[0]["result_type"], "pay_invoice", "{ctx}");
    let first = &replays[0]["result"]["preimage"];
    assert_eq!(first.as_str().unwrap().len(), 64, "{ctx}");
    for again in replays {
        assert_eq!(&again["result"]["preimage"], first, "{ctx}");
    }
    let replay_hash = &r["replayInvoice"]["payment_hash"];
    assert_eq!(count_with_hash(&payments(&a, "outgoing"), replay_hash), 1, "{ctx}: paid once");
    assert_eq!(count_with_hash(&payments(&c, "incoming"), replay_hash), 1, "{ctx}: received once");

    // Revoking a connection's token through the token API revokes the connection.
    let small_id = budget["token"]["id"].as_str().unwrap();
    a.delete(&format!("/api/v1/tokens/{small_id}")).unwrap();
    let listed = cli(&a, &["nwc", "list"]);
    let small = listed.as_array().unwrap().iter().find(|c| c["token"]["id"] == small_id).unwrap();
    assert_eq!(small["token"]["active"], false, "{listed}");

    // LNbits' NWC funding source, on a connection of its own.
    let lnbits = cli(&a, &["nwc", "create", "lnbits", "--scope", app_scopes]);
    let r = drive_lnbits(&[
        ("NWC_URI", lnbits["uri"].as_str().unwrap().to_string()),
        ("PEER_URL", c.api_url.clone()),
        ("PEER_TOKEN", peer_token.clone()),
        ("AMOUNT_OUT_SAT", "2000".into()),
        ("AMOUNT_IN_SAT", "3000".into()),
    ]);
    let ctx = format!("lnbits: {r}");
    assert_eq!(r["funding_source"], "NWCWallet", "{ctx}");
    assert_eq!(r["status"]["error_message"], Value::Null, "{ctx}");
    assert!(r["status"]["balance_msat"].as_u64().unwrap() > 0, "{ctx}");
    assert_eq!(r["x_invoice"]["ok"], true, "{ctx}");
    assert_eq!(r["streamed"], r["x_invoice"]["checking_id"], "{ctx}: the paid-invoice stream");
    assert_eq!(r["invoice_status"]["success"], true, "{ctx}");
    assert_eq!(r["pay"]["ok"], true, "{ctx}");
    assert_eq!(r["pay_status"]["success"], true, "{ctx}");
    let lnbits_hash = &r["peer_invoice"]["payment_hash"];
    let out = payments(&a, "outgoing");
    let p = out.iter().find(|p| p["payment_hash"] == *lnbits_hash).expect("LNbits' payment");
    assert_eq!(p["token_id"], lnbits["token"]["id"], "{ctx}");
    assert_eq!(r["pay"]["preimage"], p["preimage"], "{ctx}");

    // The relay restarts while the service is connected: it reconnects and answers again.
    relay.shutdown();
    drop(relay);
    std::thread::sleep(Duration::from_secs(1));
    let relay = start_relay(&rt, relay_port);
    let r = run_script(&peer("restart"));
    assert_eq!(r["after"]["ok"], true, "restart: {r}");
    assert!(r["after"]["value"]["made"]["invoice"].as_str().unwrap().starts_with("lnbcrt"), "{r}");
    relay.shutdown();
    Ok(())
}
