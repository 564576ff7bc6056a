//! BOLT12 offers on real nodes and a real regtest chain: creating fixed and any-amount offers,
//! paying them through the API (invoice request and invoice over onion messages, then the
//! payment), the payer note reaching the recipient's record, amount rules, idempotency keys,
//! the barkd `pay` endpoint with an offer, and both directions. Topology: A - B - C, so every
//! onion message and payment goes through B.

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
    // B pushes half of the B-C channel to C, so C can pay A back.
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 1_000_000_000)?;
    Ok(Lab { btc, a, b, c, _dir: dir })
}

fn spendable_msat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
}

fn create_offer(n: &TestNode, body: Value) -> Value {
    let offer = n.post("/api/v1/lightning/offers", body).unwrap();
    assert!(offer["offer"].as_str().unwrap().starts_with("lno1"), "{offer}");
    assert_eq!(offer["offer_id"].as_str().unwrap().len(), 64, "{offer}");
    offer
}

fn pay_offer(n: &TestNode, body: Value) -> Result<Value, boltd_harness::ApiFailure> {
    n.post("/api/v1/lightning/offers/pay", body)
}

fn history(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

/// Checks a completed payment's proof: sha256(preimage) is the payment hash.
fn assert_proof(paid: &Value) {
    assert_eq!(paid["status"], "complete", "{paid}");
    let preimage = hex::decode(paid["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        paid["payment_hash"].as_str().unwrap(),
        "{paid}"
    );
}

/// Waits for `n` to record the incoming payment with `payment_hash`.
fn incoming(n: &TestNode, payment_hash: &Value) -> Result<Value, HarnessError> {
    wait_until(
        &format!("{} to record the incoming payment {payment_hash}", n.name),
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok(history(n, "incoming").into_iter().find(|p| p["payment_hash"] == *payment_hash)),
    )
}

#[test]
fn offers_in_both_directions() -> Result<(), HarnessError> {
    // `RUST_LOG=ldk=trace` shows the onion messages (run with `--nocapture`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let Lab { btc: _btc, a, b: _b, c, _dir } = lab()?;

    // C's fixed-amount offer, paid by A with a payer note: complete, with a valid proof.
    let offer = create_offer(&c, json!({ "amount_sat": 10_000, "description": "coffee" }));
    assert_eq!(offer["amount_msat"], 10_000_000);
    assert_eq!(offer["description"], "coffee");
    let paid =
        pay_offer(&a, json!({ "offer": offer["offer"], "payer_note": "from alice" })).unwrap();
    assert_proof(&paid);
    assert_eq!(paid["amount_sat"], 10_000);
    assert!(paid["fee_msat"].as_u64().unwrap() > 0, "B charges a forwarding fee: {paid}");
    assert!(paid["parts"].as_u64().unwrap() >= 1, "{paid}");

    // C's record: kind bolt12, A's payer note as the description.
    let got = incoming(&c, &paid["payment_hash"])?;
    assert_eq!(got["kind"], "bolt12", "{got}");
    assert_eq!(got["status"], "complete", "{got}");
    assert_eq!(got["amount_msat"], 10_000_000, "{got}");
    assert_eq!(got["description"], "from alice", "{got}");
    assert_eq!(got["preimage"], paid["preimage"], "{got}");
    // A's record: kind bolt12, the hash learned on completion, the offer kept.
    let out = history(&a, "outgoing");
    let sent = out.iter().find(|p| p["id"] == paid["id"]).unwrap();
    assert_eq!(sent["kind"], "bolt12", "{sent}");
    assert_eq!(sent["payment_hash"], paid["payment_hash"], "{sent}");
    assert_eq!(sent["invoice"], offer["offer"], "{sent}");
    assert_eq!(sent["description"], "coffee", "{sent}");

    // Below the offer's amount: refused before anything is recorded or sent.
    let outgoing_before = history(&a, "outgoing").len();
    let err =
        pay_offer(&a, json!({ "offer": offer["offer"], "amount_msat": 9_999_999 })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.body["code"], "invalid_input", "{err}");

    // An any-amount offer: without an amount, 400 (nothing recorded); with one, paid.
    let any = create_offer(&c, json!({ "description": "tips" }));
    assert_eq!(any["amount_msat"], Value::Null);
    let err = pay_offer(&a, json!({ "offer": any["offer"] })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.body["code"], "invalid_input", "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("amount"), "{err}");
    assert_eq!(history(&a, "outgoing").len(), outgoing_before, "refusals record nothing");
    let tip = pay_offer(&a, json!({ "offer": any["offer"], "amount_msat": 5_000_000 })).unwrap();
    assert_proof(&tip);
    assert_eq!(tip["amount_sat"], 5_000);
    let got = incoming(&c, &tip["payment_hash"])?;
    assert_eq!(
        (got["kind"].as_str(), got["amount_msat"].as_u64()),
        (Some("bolt12"), Some(5_000_000))
    );
    assert_eq!(got["description"], Value::Null, "no payer note: {got}");

    // Idempotency key: the same key and body replay the first payment (nothing moves); the
    // same key with another body is a conflict.
    let body = json!({ "offer": any["offer"], "amount_msat": 2_000_000, "payer_note": "once" });
    let first = a.post_with_key("/api/v1/lightning/offers/pay", body.clone(), "tip-42").unwrap();
    assert_proof(&first);
    let after = spendable_msat(&a);
    let again = a.post_with_key("/api/v1/lightning/offers/pay", body, "tip-42").unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["preimage"], first["preimage"]);
    assert_eq!(spendable_msat(&a), after, "a replay moves no money");
    let once: Vec<_> =
        history(&c, "incoming").into_iter().filter(|p| p["description"] == "once").collect();
    assert_eq!(once.len(), 1, "{once:?}");
    let err = a
        .post_with_key(
            "/api/v1/lightning/offers/pay",
            json!({ "offer": any["offer"], "amount_msat": 3_000_000 }),
            "tip-42",
        )
        .unwrap_err();
    assert_eq!(err.status, 409, "{err}");

    // barkd's pay endpoint takes an offer as its destination (amount_sat for any-amount ones).
    let bark = a
        .post("/api/v1/lightning/pay", json!({ "destination": any["offer"], "amount_sat": 1_234 }))
        .unwrap();
    assert_proof(&bark);
    assert_eq!(bark["amount_sat"], 1_234);
    let err = a.post("/api/v1/lightning/pay", json!({ "destination": any["offer"] })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let fixed = a.post("/api/v1/lightning/pay", json!({ "destination": offer["offer"] })).unwrap();
    assert_proof(&fixed);
    assert_ne!(fixed["payment_hash"], paid["payment_hash"], "an offer is paid anew each time");

    // An expired offer is refused before anything is sent.
    let short =
        create_offer(&c, json!({ "amount_sat": 1_000, "description": "soon", "expiry_secs": 1 }));
    std::thread::sleep(Duration::from_secs(2));
    let err = pay_offer(&a, json!({ "offer": short["offer"] })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.body["code"], "invoice_expired", "{err}");
    // Garbage is a parameter error.
    let err = pay_offer(&a, json!({ "offer": "lno1notanoffer" })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");

    // The other direction: A's offer, paid by C.
    let refund = create_offer(&a, json!({ "amount_msat": 3_000_000, "description": "change" }));
    let back =
        pay_offer(&c, json!({ "offer": refund["offer"], "payer_note": "from carol" })).unwrap();
    assert_proof(&back);
    assert_eq!(back["amount_sat"], 3_000);
    let got = incoming(&a, &back["payment_hash"])?;
    assert_eq!(got["kind"], "bolt12", "{got}");
    assert_eq!(got["amount_msat"], 3_000_000, "{got}");
    assert_eq!(got["description"], "from carol", "{got}");
    Ok(())
}
