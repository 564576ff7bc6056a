//! The outgoing payment's state machine on real nodes: a payment started while its channel
//! peer is away waits for it (and says so), then goes; Core Lightning's failure details are
//! persisted with the payment's parts and answered the same after a restart. Topology: A - B - C,
//! B a child process that is killed and restarted.

use std::path::PathBuf;
use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, line_of_three, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);

#[test]
fn payments_wait_for_their_peer_and_failures_outlive_a_restart() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a_port = free_port()?;
    let b_port = free_port()?;
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, a_port)?;
    let mut b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 500_000_000)?;

    // A payment started while A's only channel peer is down waits for it (its record says
    // so), rather than failing at once, and completes once the peer is back.
    b.kill()?;
    a.wait_channel_state(&b, "offline")?;
    let (invoice, hash) = c.invoice(7_000, "while bob is away")?;
    let client = a.client(Some(a.admin_token()));
    let body = json!({ "bolt11": invoice, "retry_for": 90 });
    let payer = std::thread::spawn(move || client.post("/v1/pay", body));
    let waiting =
        wait_until("A's payment to wait for its peer", Duration::from_secs(30), POLL, || {
            let r = a.get(&format!("/api/v1/lightning/sends/{hash}"));
            Ok(r.ok().filter(|r| r["stage"] == "waiting_for_peer"))
        })?;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    let paid = payer.join().unwrap().expect("the payment completes once the peer is back");
    assert_eq!(paid["status"], "complete", "{paid}");
    let rec = a.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
    assert_eq!((rec["status"].as_str(), &rec["stage"]), (Some("complete"), &Value::Null), "{rec}");

    // A payment the destination refuses: Core Lightning's failure details come from the
    // payment's recorded parts, so the same request (same idempotency key) gets the same answer
    // after a restart of the payer.
    let preimage = sha256::Hash::hash(b"refused").to_byte_array();
    let refused_hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let hold = c
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 3_000, "payment_hash": refused_hash }),
        )
        .unwrap();
    let req = json!({ "bolt11": hold["invoice"] });
    let first = std::thread::scope(|s| -> Result<_, HarnessError> {
        let client = a.client(Some(a.admin_token()));
        let r = req.clone();
        let payer = s.spawn(move || client.post_with_key("/v1/pay", r, "refused-once"));
        wait_until("the HTLCs to be held at C", Duration::from_secs(30), POLL, || {
            let r = c.get(&format!("/api/v1/lightning/receives/{refused_hash}")).unwrap();
            Ok((r["state"] == "htlcs_arrived").then_some(()))
        })?;
        c.delete(&format!("/api/v1/lightning/receives/{refused_hash}")).unwrap();
        Ok(payer.join().unwrap().expect_err("the destination refused it"))
    })?;
    assert_eq!(first.body["code"], 203, "{first}");
    let failures = first.body["data"]["failures"].as_array().cloned().unwrap_or_default();
    assert!(!failures.is_empty(), "the attempt's failure is reported: {first}");
    assert_eq!(failures.last().unwrap()["erring_node"], c.node_id.as_str(), "{first}");

    let mut a = a;
    a.stop()?;
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, a_port)?;
    let again = a.post_with_key("/v1/pay", req, "refused-once").unwrap_err();
    assert_eq!(again.body["code"], 203, "{again}");
    assert_eq!(again.body["data"]["failures"], first.body["data"]["failures"], "{again}");
    drop(b);
    Ok(())
}

/// A payment waiting for its channel peer when its payer is SIGKILLed keeps its `retry_for`:
/// the restarted payer resumes it (under a new send) and it completes once the peer is back;
/// the payee is paid once.
#[test]
fn a_waiting_payment_is_resumed_after_its_payer_is_killed() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a_port = free_port()?;
    let b_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe, &dir.path().join("a"), &chain, a_port)?;
    let mut b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 500_000_000)?;

    b.kill()?;
    a.wait_channel_state(&b, "offline")?;
    let (invoice, hash) = c.invoice(9_000, "resumed after a crash")?;
    let client = a.client(Some(a.admin_token()));
    let body = json!({ "bolt11": invoice, "retry_for": 180 });
    let payer = std::thread::spawn(move || client.post("/v1/pay", body));
    wait_until("A's payment to wait for its peer", Duration::from_secs(30), POLL, || {
        let r = a.get(&format!("/api/v1/lightning/sends/{hash}"));
        Ok(r.ok().filter(|r| r["stage"] == "waiting_for_peer"))
    })?;
    a.kill()?;
    assert!(payer.join().unwrap().is_err(), "the request died with its daemon");

    let b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    let a = TestNode::spawn("alice", &exe, &dir.path().join("a"), &chain, a_port)?;
    let done = wait_until("the resumed payment", Duration::from_secs(90), POLL, || {
        let r = a.get(&format!("/api/v1/lightning/sends/{hash}"));
        Ok(r.ok().filter(|r| r["status"] != "pending"))
    })?;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["attempts"], 2, "resumed under a second send: {done}");
    let paid = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert_eq!(paid["state"], "settled", "{paid}");
    assert_eq!(paid["received_msat"], 9_000_000, "paid once: {paid}");
    drop(b);
    Ok(())
}
