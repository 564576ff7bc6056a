//! A payer SIGKILLed while its payment is in flight: after a restart the payment ends complete
//! (never pending forever), it is paid once, and paying the invoice again moves nothing.

use std::path::PathBuf;
use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, line_of_three, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::json;

#[test]
fn payer_killed_mid_flight_completes_once_after_restart() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe, &dir.path().join("a"), &chain, a_port)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    line_of_three(&btc, [&a, &b, &c], 1_000_000, 0)?;

    // A hold invoice keeps the payment in flight until C releases the preimage.
    let preimage = sha256::Hash::hash(b"crash test preimage").to_byte_array();
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let inv = c
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 50_000, "payment_hash": hash }),
        )
        .unwrap();
    let bolt11 = inv["invoice"].as_str().unwrap().to_string();
    let spendable = |n: &TestNode| {
        n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
    };
    let a_before = spendable(&a);

    let url = format!("{}/v1/pay", a.api_url);
    let body = json!({ "bolt11": bolt11 });
    let token = a.admin_token().to_string();
    let payer = std::thread::spawn(move || ureq_post(&url, &token, body));
    wait_until(
        "the HTLCs to be held at C",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
            Ok((r["state"] == "htlcs_arrived").then_some(()))
        },
    )?;

    // SIGKILL the payer with its payment in flight; the receiver settles while it is down.
    a.kill()?;
    let _ = payer.join();
    c.post("/api/v1/lightning/receives/settle", json!({ "preimage": hex::encode(preimage) }))
        .unwrap();

    // Restart on the same data directory: the payment completes from the replayed state.
    let a = TestNode::spawn("alice", &exe, &dir.path().join("a"), &chain, a_port)?;
    let done = wait_until(
        "A's payment to complete after restart",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let r = a.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
            Ok((r["status"] != "pending").then_some(r))
        },
    )?;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["preimage"], hex::encode(preimage), "{done}");

    // Paid once: paying again returns the same payment and moves nothing.
    a.wait_channel_state(&b, "ready")?;
    let again = a.post("/v1/pay", json!({ "bolt11": bolt11 })).unwrap();
    assert_eq!(again["status"], "complete");
    assert_eq!(again["created_at"], done["created_at"], "the same record: {again} {done}");
    let fee = done["fee_msat"].as_u64().unwrap_or(0);
    wait_until(
        "A's balance to settle",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok((a_before - spendable(&a) == 50_000_000 + fee).then_some(())),
    )?;
    let outgoing = a.get("/api/v1/payments?direction=outgoing").unwrap();
    let n =
        outgoing.as_array().unwrap().iter().filter(|p| p["payment_hash"] == hash.as_str()).count();
    assert_eq!(n, 1, "one record for the payment: {outgoing}");
    Ok(())
}

fn ureq_post(url: &str, token: &str, body: serde_json::Value) -> Result<String, String> {
    let agent = ureq_agent();
    agent
        .post(url)
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|e| e.to_string())
}

fn ureq_agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build()
}
