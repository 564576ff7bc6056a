//! Payment engine tests on real nodes and a real regtest chain: Core Lightning's `pay`
//! contract, idempotency, keysend with custom records, multi-keysend, hold invoices and
//! description hashes. Topology: A - B - C (A pays C through B).

use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, line_of_three, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

struct Lab {
    btc: Bitcoind,
    a: TestNode,
    b: TestNode,
    c: TestNode,
    _dir: tempfile::TempDir,
}

fn lab() -> Result<Lab, HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 0)?;
    Ok(Lab { btc, a, b, c, _dir: dir })
}

fn spendable_msat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
}

fn invoice(n: &TestNode, body: Value) -> Value {
    n.post("/api/v1/lightning/receives/invoice", body).unwrap()
}

fn cln_pay(n: &TestNode, body: Value) -> Result<Value, boltd_harness::ApiFailure> {
    n.post("/v1/pay", body)
}

fn history(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

#[test]
fn core_lightning_pay_contract() -> Result<(), HarnessError> {
    let Lab { btc: _btc, a, b, c, _dir } = lab()?;

    // maxfee below B's forwarding fee: 206 before any HTLC leaves.
    let inv = invoice(&c, json!({ "amount_sat": 10_000, "description": "fees" }));
    let bolt11 = inv["invoice"].as_str().unwrap().to_string();
    let before = spendable_msat(&a);
    let err = cln_pay(&a, json!({ "bolt11": bolt11, "maxfee": 1 })).unwrap_err();
    assert_eq!(err.body["code"], 206, "{err}");
    assert!(err.body["data"]["fee"].as_u64().unwrap() > 1, "{err}");
    assert_eq!(spendable_msat(&a), before, "no HTLC may leave on 206");
    let failed = history(&a, "outgoing");
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(failed[0]["failure_code"], 206);

    // maxfee with maxfeepercent is a parameter error.
    let err =
        cln_pay(&a, json!({ "bolt11": bolt11, "maxfee": 5000, "maxfeepercent": 1.0 })).unwrap_err();
    assert_eq!(err.body["code"], -32602, "{err}");
    // An amount for an invoice that fixes one is a parameter error.
    let err = cln_pay(&a, json!({ "bolt11": bolt11, "amount_msat": "10000sat" })).unwrap_err();
    assert_eq!(err.body["code"], -32602, "{err}");

    // Excluding the only way (node B, or the B->C channel direction) leaves no route: 205.
    let err = cln_pay(&a, json!({ "bolt11": bolt11, "exclude": [b.node_id] })).unwrap_err();
    assert_eq!(err.body["code"], 205, "{err}");
    let bc = b.wait_channel_state(&c, "ready")?;
    let scid = bc["short_channel_id"].as_str().unwrap();
    let dir = if b.node_id < c.node_id { 0 } else { 1 };
    let err =
        cln_pay(&a, json!({ "bolt11": bolt11, "exclude": [format!("{scid}/{dir}")] })).unwrap_err();
    assert_eq!(err.body["code"], 205, "{err}");
    // Excluding the other direction of that channel does not matter.
    let ok = cln_pay(
        &a,
        json!({ "bolt11": bolt11, "exclude": [format!("{scid}/{}", 1 - dir)], "label": "first" }),
    )
    .unwrap();
    assert_eq!(ok["status"], "complete", "{ok}");
    assert_eq!(ok["amount_msat"], 10_000_000);
    assert!(ok["amount_sent_msat"].as_u64().unwrap() > 10_000_000, "{ok}");
    assert!(ok["parts"].as_u64().unwrap() >= 1);
    assert_eq!(ok["destination"], c.node_id.as_str());
    let preimage = hex::decode(ok["payment_preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        ok["payment_hash"].as_str().unwrap()
    );

    // Paying again returns the first success at once, and moves nothing.
    let after = spendable_msat(&a);
    let again = cln_pay(&a, json!({ "bolt11": bolt11 })).unwrap();
    assert_eq!(again["payment_preimage"], ok["payment_preimage"]);
    // The same record (Core Lightning's `pay` has no record id): the same start time.
    assert_eq!(again["created_at"], ok["created_at"]);
    assert_eq!(spendable_msat(&a), after);

    // An expired invoice: 207 with now and expiry.
    let short = invoice(&c, json!({ "amount_sat": 1_000, "expiry_secs": 1 }));
    std::thread::sleep(Duration::from_secs(2));
    let err = cln_pay(&a, json!({ "bolt11": short["invoice"] })).unwrap_err();
    assert_eq!(err.body["code"], 207, "{err}");
    assert!(
        err.body["data"]["now"].as_u64().unwrap() >= err.body["data"]["expiry"].as_u64().unwrap()
    );

    // An any-amount invoice paid once, then with a different amount: 201.
    let any = invoice(&c, json!({ "description": "any amount" }));
    let paid = cln_pay(&a, json!({ "bolt11": any["invoice"], "amount_msat": 5_000_000 })).unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    let err =
        cln_pay(&a, json!({ "bolt11": any["invoice"], "amount_msat": "6000sat" })).unwrap_err();
    assert_eq!(err.body["code"], 201, "{err}");

    // Description-hash invoices need the matching description.
    let hash = hex::encode(sha256::Hash::hash(b"a coffee").to_byte_array());
    let dh = invoice(&c, json!({ "amount_sat": 2_000, "description_hash": hash }));
    let err = cln_pay(&a, json!({ "bolt11": dh["invoice"] })).unwrap_err();
    assert_eq!(err.body["code"], -32602, "missing description: {err}");
    let err = cln_pay(&a, json!({ "bolt11": dh["invoice"], "description": "a tea" })).unwrap_err();
    assert_eq!(err.body["code"], -32602, "wrong description: {err}");
    let ok = cln_pay(&a, json!({ "bolt11": dh["invoice"], "description": "a coffee" })).unwrap();
    assert_eq!(ok["status"], "complete", "{ok}");

    // 20 concurrent pays of one invoice: one payment, every caller sees it complete.
    let inv = invoice(&c, json!({ "amount_sat": 7_000, "description": "rush" }));
    let bolt11 = inv["invoice"].as_str().unwrap().to_string();
    let hash = inv["payment_hash"].as_str().unwrap().to_string();
    let before = spendable_msat(&a);
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| cln_pay(&a, json!({ "bolt11": bolt11 })).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert_eq!(r["payment_preimage"], results[0]["payment_preimage"], "{r}");
        assert_eq!(r["created_at"], results[0]["created_at"]);
    }
    let fee = results[0]["amount_sent_msat"].as_u64().unwrap() - 7_000_000;
    assert_eq!(before - spendable_msat(&a), 7_000_000 + fee, "money moved once");
    let received: Vec<_> = history(&c, "incoming")
        .into_iter()
        .filter(|p| p["payment_hash"] == hash.as_str())
        .collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["amount_msat"], 7_000_000);

    // Client idempotency keys (barkd dialect): same key and body replays; other body: 409.
    let inv = invoice(&c, json!({ "amount_sat": 3_000 }));
    let body = json!({ "destination": inv["invoice"] });
    let first = a.post_with_key("/api/v1/lightning/pay", body.clone(), "order-42").unwrap();
    let second = a.post_with_key("/api/v1/lightning/pay", body, "order-42").unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["status"], "complete");
    let other = invoice(&c, json!({ "amount_sat": 4_000 }));
    let err = a
        .post_with_key(
            "/api/v1/lightning/pay",
            json!({ "destination": other["invoice"] }),
            "order-42",
        )
        .unwrap_err();
    assert_eq!(err.status, 409, "{err}");
    Ok(())
}

#[test]
fn keysend_multi_keysend_and_hold_invoices() -> Result<(), HarnessError> {
    let Lab { btc: _btc, a, b: _b, c, _dir } = lab()?;

    // Keysend with custom records across two hops: the records arrive intact.
    let boost = r#"{"podcast":"boltd","value_msat_total":21000}"#;
    let sent = a
        .post(
            "/api/v1/lightning/keysend",
            json!({ "destination": c.node_id, "amount_msat": 21_000, "memo": "boost",
                    "custom_records": { "7629169": boost, "696969": "hello" } }),
        )
        .unwrap();
    assert_eq!(sent["status"], "complete", "{sent}");
    let got = wait_until(
        "C to record the keysend",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            Ok(history(&c, "incoming")
                .into_iter()
                .find(|p| p["payment_hash"] == sent["payment_hash"]))
        },
    )?;
    assert_eq!(got["kind"], "keysend");
    assert_eq!(got["amount_msat"], 21_000);
    let records: Value = serde_json::from_str(got["custom_records"].as_str().unwrap()).unwrap();
    assert_eq!(records["7629169"], hex::encode(boost));
    assert_eq!(records["696969"], hex::encode("hello"));
    // Reserved record types are refused before sending.
    let err = a
        .post("/api/v1/lightning/keysend", json!({ "destination": c.node_id, "amount_msat": 1000, "custom_records": { "5": "x" } }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");

    // barkd's pay takes a node id (keysend) and a BIP 21 URI with a lightning parameter.
    let ks = a
        .post("/api/v1/lightning/pay", json!({ "destination": c.node_id, "amount_sat": 5 }))
        .unwrap();
    assert_eq!(ks["status"], "complete", "{ks}");
    let err = a.post("/api/v1/lightning/pay", json!({ "destination": c.node_id })).unwrap_err();
    assert_eq!(err.status, 400, "keysend needs an amount: {err}");
    let inv = invoice(&c, json!({ "amount_sat": 3 }));
    let uri = format!("bitcoin:?amount=0.00000003&lightning={}", inv["invoice"].as_str().unwrap());
    let bip21 = a.post("/api/v1/lightning/pay", json!({ "destination": uri })).unwrap();
    assert_eq!(bip21["status"], "complete", "{bip21}");
    assert_eq!(bip21["payment_hash"], inv["payment_hash"]);
    let err = a
        .post(
            "/api/v1/lightning/pay",
            json!({ "destination": "₿carol@example.com", "amount_sat": 1 }),
        )
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("BIP 353"), "{err}");

    // Multi-keysend: a bad destination fails alone; the others pay, in request order.
    let unknown = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    let multi = a
        .post(
            "/api/v1/lightning/keysend/multi",
            json!({ "keysends": [
                { "destination": c.node_id, "amount_msat": 1_000 },
                { "destination": unknown, "amount_msat": 1_000 },
                { "destination": c.node_id, "amount_msat": 2_000 },
            ] }),
        )
        .unwrap();
    let items = multi["keysends"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["keysend"]["status"], "complete", "{multi}");
    assert!(items[1]["error"]["message"].is_string(), "{multi}");
    assert_eq!(items[2]["keysend"]["status"], "complete", "{multi}");
    assert_eq!(items[2]["keysend"]["amount_sat"], 2);

    // Hold invoice, settled: A's payment completes only when C releases the preimage.
    let preimage: [u8; 32] = rand_bytes(1);
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let hold = invoice(&c, json!({ "amount_sat": 5_000, "payment_hash": hash }));
    assert_eq!(hold["hold"], true);
    std::thread::scope(|s| -> Result<(), HarnessError> {
        let payer =
            s.spawn(|| a.post("/api/v1/lightning/pay", json!({ "destination": hold["invoice"] })));
        wait_until(
            "the HTLCs to be held at C",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let r = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
                Ok((r["state"] == "htlcs_arrived").then_some(()))
            },
        )?;
        let pending = c.get("/api/v1/lightning/receives").unwrap();
        assert!(pending.as_array().unwrap().iter().any(|r| r["payment_hash"] == hash.as_str()));
        c.post("/api/v1/lightning/receives/settle", json!({ "preimage": hex::encode(preimage) }))
            .unwrap();
        let paid = payer.join().unwrap().unwrap();
        assert_eq!(paid["status"], "complete", "{paid}");
        assert_eq!(paid["preimage"], hex::encode(preimage));
        Ok(())
    })?;
    wait_until(
        "the hold receive to settle",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
            Ok((r["state"] == "settled").then_some(r))
        },
    )?;
    // Found by its preimage too; and a settled receive cannot be canceled.
    let by_preimage =
        c.get(&format!("/api/v1/lightning/receives/{}", hex::encode(preimage))).unwrap();
    assert_eq!(by_preimage["payment_hash"], hash.as_str());
    let err = c.delete(&format!("/api/v1/lightning/receives/{hash}")).unwrap_err();
    assert_eq!(err.status, 409, "{err}");

    // Hold invoice, canceled: A's payment fails and C never got the money.
    let preimage2: [u8; 32] = rand_bytes(2);
    let hash2 = hex::encode(sha256::Hash::hash(&preimage2).to_byte_array());
    let hold2 = invoice(&c, json!({ "amount_sat": 6_000, "payment_hash": hash2 }));
    std::thread::scope(|s| -> Result<(), HarnessError> {
        let payer =
            s.spawn(|| a.post("/api/v1/lightning/pay", json!({ "destination": hold2["invoice"] })));
        wait_until(
            "the second hold to arrive",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let r = c.get(&format!("/api/v1/lightning/receives/{hash2}")).unwrap();
                Ok((r["state"] == "htlcs_arrived").then_some(()))
            },
        )?;
        let canceled = c.delete(&format!("/api/v1/lightning/receives/{hash2}")).unwrap();
        assert_eq!(canceled["state"], "canceled");
        let res = payer.join().unwrap();
        let err = res.expect_err("a canceled hold invoice must fail the payment");
        assert_eq!(err.body["code"], "destination_rejected", "{err}");
        Ok(())
    })?;
    // retry_for bounds how long `pay` waits: a payment held at the destination comes back
    // as `pending` (not a false failure) soon after retry_for, and can be looked up later.
    let preimage3: [u8; 32] = rand_bytes(3);
    let hash3 = hex::encode(sha256::Hash::hash(&preimage3).to_byte_array());
    let hold3 = invoice(&c, json!({ "amount_sat": 1_000, "payment_hash": hash3 }));
    let started = std::time::Instant::now();
    let r = cln_pay(&a, json!({ "bolt11": hold3["invoice"], "retry_for": 2 })).unwrap();
    let waited = started.elapsed();
    assert_eq!(r["status"], "pending", "{r}");
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(30), "{waited:?}");
    let send = a.get(&format!("/api/v1/lightning/sends/{hash3}")).unwrap();
    assert_eq!(send["status"], "pending");
    c.delete(&format!("/api/v1/lightning/receives/{hash3}")).unwrap();
    wait_until(
        "the held payment to fail after cancel",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let s = a.get(&format!("/api/v1/lightning/sends/{hash3}")).unwrap();
            Ok((s["status"] == "failed").then_some(()))
        },
    )?;

    let out = history(&a, "outgoing");
    let rec = out.iter().find(|p| p["payment_hash"] == hash2.as_str()).unwrap();
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["failure_code"], 203);
    assert!(!history(&c, "incoming").iter().any(|p| p["payment_hash"] == hash2.as_str()));
    Ok(())
}

fn rand_bytes(tag: u8) -> [u8; 32] {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    sha256::Hash::hash(format!("{tag}-{t}").as_bytes()).to_byte_array()
}
