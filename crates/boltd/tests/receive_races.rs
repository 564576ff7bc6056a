//! The receive side ends in one truthful state, whatever races it: settle against cancel, held
//! HTLCs that reach their claim deadline, a second payment of a paid invoice. Topology: A - B -
//! C; C receives.

use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, line_of_three, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);
const WAIT: Duration = Duration::from_secs(60);

fn hold_invoice(c: &TestNode, tag: &str, amount_sat: u64) -> ([u8; 32], String, String) {
    let preimage = sha256::Hash::hash(format!("{tag} {:?}", std::time::Instant::now()).as_bytes())
        .to_byte_array();
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let inv = c
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": amount_sat, "payment_hash": hash }),
        )
        .unwrap();
    (preimage, hash, inv["invoice"].as_str().unwrap().to_string())
}

fn receive(c: &TestNode, hash: &str) -> Value {
    c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap()
}

fn wait_state(c: &TestNode, hash: &str, state: &str) -> Result<Value, HarnessError> {
    wait_until(&format!("receive {hash} to be {state}"), WAIT, POLL, || {
        let r = receive(c, hash);
        Ok((r["state"] == state).then_some(r))
    })
}

/// Starts paying `invoice` from `a` (Core Lightning's `pay`, which waits) on its own thread.
fn pay_in_background(
    a: &TestNode,
    invoice: &str,
) -> std::thread::JoinHandle<Result<Value, boltd_harness::ApiFailure>> {
    let client = a.client(Some(a.admin_token()));
    let body = json!({ "bolt11": invoice, "retry_for": 120 });
    std::thread::spawn(move || client.post("/v1/pay", body))
}

/// The notifications (the event log) that mention `hash`.
fn events(c: &TestNode, hash: &str) -> Vec<Value> {
    let log =
        c.get("/api/v1/notifications/wait?since=0&timeout_secs=0&limit=1000&types=all").unwrap();
    let all = log["notifications"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|n| n.to_string().contains(hash)).collect()
}

#[test]
fn receives_end_in_one_truthful_state() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 2_000_000, 500_000_000)?;

    // (a) Settle racing cancel, on several held payments: exactly one of the two wins; the
    // other is told 409; the receive, the payer and the event log all agree with the winner.
    for round in 0..4 {
        let (preimage, hash, invoice) = hold_invoice(&c, &format!("race {round}"), 2_000);
        let payer = pay_in_background(&a, &invoice);
        let held = wait_state(&c, &hash, "htlcs_arrived")?;
        assert!(held["claim_deadline_height"].as_u64().unwrap() > 0, "{held}");
        assert!(held["claim_deadline_at"].as_u64().unwrap() > 0, "{held}");
        let (settled, canceled) = std::thread::scope(|s| {
            let settle = s.spawn(|| {
                c.post(
                    "/api/v1/lightning/receives/settle",
                    json!({ "preimage": hex::encode(preimage) }),
                )
            });
            let cancel = s.spawn(|| c.delete(&format!("/api/v1/lightning/receives/{hash}")));
            (settle.join().unwrap(), cancel.join().unwrap())
        });
        match (&settled, &canceled) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => assert_eq!(e.status, 409, "{e}"),
            _ => panic!("exactly one of settle and cancel wins: {settled:?} / {canceled:?}"),
        }
        let paid = payer.join().unwrap();
        if settled.is_ok() {
            let r = wait_state(&c, &hash, "settled")?;
            assert_eq!(r["received_msat"], 2_000_000);
            assert_eq!(paid.unwrap()["status"], "complete");
        } else {
            let r = receive(&c, &hash);
            assert_eq!(
                (r["state"].as_str(), r["cancel_reason"].as_str()),
                (Some("canceled"), Some("canceled"))
            );
            assert!(paid.is_err(), "the payer's payment fails when the cancel wins");
        }
    }

    // (b) Held HTLCs that reach their claim deadline: the node fails them back and the receive
    // is canceled (`htlcs_expired`) with an event; a settle afterwards is a 409, not a 200 with
    // nothing claimed.
    let (preimage, hash, invoice) = hold_invoice(&c, "deadline", 3_000);
    let payer = pay_in_background(&a, &invoice);
    let held = wait_state(&c, &hash, "htlcs_arrived")?;
    let deadline = held["claim_deadline_height"].as_u64().unwrap() as u32;
    let height = btc.height()?;
    assert!(deadline > height, "the deadline {deadline} is ahead of {height}");
    while receive(&c, &hash)["state"] == "htlcs_arrived" {
        assert!(btc.height()? < deadline + 20, "HTLCs still held past the claim deadline");
        boltd_harness::mine_and_sync(&btc, 5, &[&a, &b, &c])?;
    }
    let r = wait_state(&c, &hash, "canceled")?;
    assert_eq!(r["cancel_reason"], "htlcs_expired", "{r}");
    let err = c
        .post("/api/v1/lightning/receives/settle", json!({ "preimage": hex::encode(preimage) }))
        .unwrap_err();
    assert_eq!(err.status, 409, "{err}");
    assert!(payer.join().unwrap().is_err(), "the payer's payment failed back");
    let evs = events(&c, &hash);
    assert_eq!(
        evs.iter().filter(|e| e["event_type"] == "invoice_canceled").count(),
        1,
        "one invoice_canceled event: {evs:?}"
    );
    // No channel closed over it.
    for n in [&a, &b, &c] {
        assert!(n.channels()?.iter().all(|ch| ch["state"] == "ready"), "{}", n.name);
    }

    // (c) A second payment of an invoice that is already paid is failed back, never claimed
    // unrecorded: C records one payment, and its balance moved once.
    let (inv, hash) = c.invoice(4_000, "paid once")?;
    let paid = a.pay(&inv)?;
    assert_eq!(paid["status"], "complete", "{paid}");
    wait_state(&c, &hash, "settled")?;
    let c_before = c.get("/api/v1/wallet/balance").unwrap()["lightning_sat"].as_u64().unwrap();
    let again = b.post("/v1/pay", json!({ "bolt11": inv }));
    assert!(again.is_err(), "B's payment of a paid invoice fails: {again:?}");
    let incoming = c.get("/api/v1/payments?direction=incoming").unwrap();
    let n = incoming.as_array().unwrap().iter().filter(|p| p["payment_hash"] == hash).count();
    assert_eq!(n, 1, "one incoming record: {incoming}");
    assert_eq!(receive(&c, &hash)["received_msat"], 4_000_000);
    let c_after = c.get("/api/v1/wallet/balance").unwrap()["lightning_sat"].as_u64().unwrap();
    assert_eq!(c_after, c_before, "nothing more was claimed");
    Ok(())
}
