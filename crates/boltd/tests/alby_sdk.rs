//! The real `@getalby/sdk` against boltd's Alby dialect: three regtest nodes (A - B - C), then
//! `tests/js/alby_e2e.mjs` (Node.js) uses the SDK's `Client` with `base_url` pointed at A (the
//! payer) and C (the payee) for createInvoice, decodeInvoice, sendPayment, getInvoice, keysend
//! (single and multi), accountBalance, incomingInvoices and outgoingInvoices. Its printed
//! results are checked here against the nodes' real state. The SDK comes from
//! `tests/js/node_modules` (`npm ci` there; `scripts/test.sh` does it).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, line_of_three, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// Runs the SDK script; fails with a clear message when Node.js or the SDK is missing.
fn run_sdk_script(env: &[(&str, String)]) -> Value {
    let dir = js_dir();
    assert!(
        dir.join("node_modules/@getalby/sdk/package.json").exists(),
        "@getalby/sdk is not installed in {}: run `npm ci` there (scripts/test.sh does)",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg("alby_e2e.mjs").current_dir(&dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20 is needed for this test): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK script failed ({}):\n{stderr}\n{stdout}", out.status);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the SDK script printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

fn history(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

fn incoming_with(n: &TestNode, hash: &Value) -> Result<Value, HarnessError> {
    wait_until(
        &format!("{} to record {hash}", n.name),
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok(history(n, "incoming").into_iter().find(|p| p["payment_hash"] == *hash)),
    )
}

fn preimage_matches(preimage: &Value, hash: &Value) -> bool {
    let p = hex::decode(preimage.as_str().unwrap_or_default()).unwrap_or_default();
    hex::encode(sha256::Hash::hash(&p).to_byte_array()) == hash.as_str().unwrap_or_default()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap()
}

#[test]
fn alby_sdk_against_boltd() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 0)?;

    // An app's token: every scope the SDK's calls need, and not `node:admin`.
    let app_token = |n: &TestNode| {
        let scopes = [
            "payments:send",
            "invoices:create",
            "invoices:read",
            "transactions:read",
            "balance:read",
        ];
        n.create_token(serde_json::json!({ "name": "alby-sdk", "scopes": scopes }))
    };
    let r = run_sdk_script(&[
        ("PAYER_URL", a.api_url.clone()),
        ("PAYEE_URL", c.api_url.clone()),
        ("PAYEE_ID", c.node_id.clone()),
        ("HOP_ID", b.node_id.clone()),
        ("PAYER_TOKEN", app_token(&a)?),
        ("PAYEE_TOKEN", app_token(&c)?),
    ]);

    // createInvoice on C.
    let created = &r["created"];
    let hash = created["payment_hash"].clone();
    assert_eq!(created["amount"], 1234, "{created}");
    assert_eq!(created["state"], "CREATED");
    assert_eq!(created["settled"], false);
    assert_eq!(created["memo"], "alby sdk e2e");
    assert_eq!(created["preimage"], Value::Null, "no preimage of an unpaid invoice");
    let receive = c.get(&format!("/api/v1/lightning/receives/{}", hash.as_str().unwrap())).unwrap();
    assert_eq!(receive["invoice"], created["payment_request"], "C recorded the invoice");

    // decodeInvoice on A.
    let decoded = &r["decoded"];
    assert_eq!(decoded["payment_hash"], hash, "{decoded}");
    assert_eq!(decoded["msatoshi"], 1_234_000);
    assert_eq!(decoded["amount"], 1234);
    assert_eq!(decoded["payee"], c.node_id.as_str());
    assert_eq!(decoded["description"], "alby sdk e2e");
    assert_eq!(decoded["currency"], "bcrt");

    // sendPayment from A: C really got it, with this preimage.
    let paid = &r["paid"];
    assert_eq!(paid["payment_hash"], hash, "{paid}");
    assert!(preimage_matches(&paid["payment_preimage"], &hash), "{paid}");
    assert_eq!(paid["amount"], 1234);
    assert_eq!(paid["destination"], c.node_id.as_str());
    assert_eq!(paid["payment_request"], created["payment_request"]);
    let got = incoming_with(&c, &hash)?;
    assert_eq!(got["amount_msat"], 1_234_000);
    assert_eq!(got["preimage"], paid["payment_preimage"]);
    let fee_msat = paid["fee_msat"].as_u64().unwrap();
    assert_eq!(paid["fee"].as_u64().unwrap(), fee_msat.div_ceil(1000));
    let sent = a.get(&format!("/api/v1/lightning/sends/{}", hash.as_str().unwrap())).unwrap();
    assert_eq!(sent["fee_msat"], fee_msat, "{sent}");

    // getInvoice on C: settled, with the preimage the payer got.
    let fetched = &r["fetched"];
    assert_eq!(fetched["settled"], true, "{fetched}");
    assert_eq!(fetched["state"], "SETTLED");
    assert_eq!(fetched["type"], "incoming");
    assert_eq!(fetched["preimage"], paid["payment_preimage"]);
    assert_eq!(fetched["amount"], 1234);

    // keysend with custom records across two hops: intact at C.
    // What the script's JSON.stringify made of the boostagram (key order as written there).
    let boost = r#"{"podcast":"boltd","action":"boost","value_msat_total":21000}"#;
    let ks = &r["keysend"];
    assert!(preimage_matches(&ks["payment_preimage"], &ks["payment_hash"]), "{ks}");
    assert_eq!(ks["amount"], 21);
    assert_eq!(ks["description"], "boost from the sdk");
    assert_eq!(ks["custom_records"]["696969"], "hello boltd");
    let got = incoming_with(&c, &ks["payment_hash"])?;
    assert_eq!(got["kind"], "keysend");
    assert_eq!(got["amount_msat"], 21_000);
    let records: Value = serde_json::from_str(got["custom_records"].as_str().unwrap()).unwrap();
    assert_eq!(records["696969"], hex::encode("hello boltd"));
    assert_eq!(records["7629169"], hex::encode(boost));
    let out = a
        .get(&format!("/api/v1/lightning/sends/{}", ks["payment_hash"].as_str().unwrap()))
        .unwrap();
    assert_eq!(out["description"], "boost from the sdk", "the memo is kept with A's payment");

    // Multi-keysend: the bad destination fails alone; the others are paid.
    let multi = &r["multi"];
    assert_eq!(multi["ok"], true, "one paid, so 200: {multi}");
    let items = multi["value"]["keysends"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{multi}");
    assert!(preimage_matches(
        &items[0]["keysend"]["payment_preimage"],
        &items[0]["keysend"]["payment_hash"]
    ));
    assert_eq!(items[0]["keysend"]["amount"], 5);
    assert_eq!(items[1]["error"]["error"], true, "{multi}");
    assert_eq!(items[1]["error"]["code"], 8);
    assert!(items[1]["error"]["message"].as_str().unwrap().contains("not-a-node-id"));
    assert_eq!(items[1]["keysend"]["destination"], "not-a-node-id");
    assert!(preimage_matches(
        &items[2]["keysend"]["payment_preimage"],
        &items[2]["keysend"]["payment_hash"]
    ));
    let split = incoming_with(&c, &items[0]["keysend"]["payment_hash"])?;
    assert_eq!(split["amount_msat"], 5_000);
    let hop = incoming_with(&b, &items[2]["keysend"]["payment_hash"])?;
    assert_eq!(hop["amount_msat"], 7_000);

    // accountBalance: what the channels can send, as boltd's own balance says (nothing is in
    // flight any more). C's is what it received minus its channel reserve, so possibly 0.
    for (node, bal) in [(&a, &r["payerBalance"]), (&c, &r["payeeBalance"])] {
        let native = node.get("/api/v1/wallet/balance").unwrap();
        let spendable = native["lightning_spendable_msat"].as_u64().unwrap();
        assert_eq!(bal["balance"].as_u64().unwrap(), spendable / 1000, "{}: {bal}", node.name);
        assert_eq!(bal["unit"], "sat");
    }
    assert!(r["payerBalance"]["balance"].as_u64().unwrap() > 0);

    // incomingInvoices on C: the invoice and both keysends, newest first, records in base64.
    let incoming = r["incoming"].as_array().unwrap();
    let find = |list: &[Value], h: &Value| list.iter().find(|i| i["payment_hash"] == *h).cloned();
    let inv = find(incoming, &hash).expect("the paid invoice is listed");
    assert_eq!(inv["settled"], true);
    assert_eq!(inv["amount"], 1234);
    let ksi = find(incoming, &ks["payment_hash"]).expect("the keysend is listed");
    assert_eq!(ksi["keysend"], true);
    assert_eq!(b64(&ksi["custom_records"]["696969"]), b"hello boltd");
    assert_eq!(b64(&ksi["custom_records"]["7629169"]), boost.as_bytes());
    assert_eq!(ksi["boostagram"]["podcast"], "boltd");
    assert!(find(incoming, &items[0]["keysend"]["payment_hash"]).is_some());
    let native: Vec<Value> = history(&c, "incoming");
    assert_eq!(incoming.len(), native.len(), "every payment C received, and only those");
    let dates: Vec<u64> = incoming.iter().map(|i| i["creation_date"].as_u64().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first: {dates:?}");
    let page2 = r["incomingPage2"].as_array().unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["payment_hash"], incoming[1]["payment_hash"]);

    // outgoingInvoices on A: the payment and the keysends it made.
    let outgoing = r["outgoing"].as_array().unwrap();
    let out = find(outgoing, &hash).expect("the payment is listed");
    assert_eq!(out["type"], "outgoing");
    assert_eq!(out["preimage"], paid["payment_preimage"]);
    assert_eq!(out["destination_pubkey"], c.node_id.as_str());
    assert!(find(outgoing, &ks["payment_hash"]).is_some());
    assert!(find(outgoing, &items[2]["keysend"]["payment_hash"]).is_some());

    // Errors in Alby's shape.
    assert_eq!(r["badInvoice"]["status"], 400, "{}", r["badInvoice"]);
    assert_eq!(r["badInvoice"]["error"]["error"], true);
    assert_eq!(r["badInvoice"]["error"]["code"], 8);
    assert!(r["badInvoice"]["error"]["message"].as_str().unwrap().contains("bolt11"));
    assert_eq!(r["unknownInvoice"]["status"], 404, "{}", r["unknownInvoice"]);
    assert_eq!(r["unknownInvoice"]["error"]["code"], 8);

    // Bad input outside the SDK's own checks: refused, named, nothing sent.
    let before = a.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].clone();
    let err = a
        .post(
            "/payments/keysend/multi",
            json!({ "keysends": [
            { "destination": c.node_id, "amount": 5 },
            { "destination": c.node_id },
        ] }),
        )
        .unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(8)), "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("keysends[1]"), "{err}");
    let err = c.post("/invoices", json!({ "amount": 10, "comment": "hi" })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("comment"), "{err}");
    let err =
        a.post("/payments/keysend", json!({ "destination": c.node_id, "amount": 0 })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let err = a.get("/invoices/incoming?items=1000").unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let err = a.get("/invoices/incoming?q[sinse]=x").unwrap_err();
    assert!(err.body["message"].as_str().unwrap().contains("q[sinse]"), "{err}");
    let err = a.get("/invoices/not-a-hash").unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(8)), "{err}");
    assert_eq!(
        a.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"],
        before,
        "nothing sent on bad input"
    );
    let err = a.get("/decode/bolt11/lnbcrt1garbage").unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(8)), "{err}");
    let fixed = c.post("/invoices", json!({ "amount": 10, "memo": "fixed" })).unwrap();
    let err = a
        .post("/payments/bolt11", json!({ "invoice": fixed["payment_request"], "amount": 11 }))
        .unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(8)), "{err}");
    let any = c.post("/invoices", json!({ "amount": 0, "description": "any amount" })).unwrap();
    let err = a.post("/payments/bolt11", json!({ "invoice": any["payment_request"] })).unwrap_err();
    assert!(err.body["message"].as_str().unwrap().contains("amount"), "{err}");
    assert_eq!(a.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"], before);
    let paid_any = a
        .post("/payments/bolt11", json!({ "invoice": any["payment_request"], "amount": 3 }))
        .unwrap();
    assert_eq!(paid_any["amount"], 3, "{paid_any}");
    assert!(preimage_matches(&paid_any["payment_preimage"], &any["payment_hash"]));
    Ok(())
}
