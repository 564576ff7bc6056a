//! Receiving on a new node through an LSP (LSPS2, just-in-time channels), boltd against boltd
//! on regtest: P (a payer with a channel to the LSP), L (a boltd LSP, `lsps2_service`) and C
//! (a fresh node with no channel and no coins, `lsps = [L]`).
//!
//! - C's invoice for 100,000 sat goes through L (automatically: C cannot receive it), with L's
//!   fee (2,000 sat: its minimum, above 1 % of the amount) and validity in the answer; P pays
//!   it; L opens a channel to C just in time and forwards the payment minus its fee; C's
//!   receive is settled with the fee recorded, and a second payment uses the new channel.
//! - L refuses: an amount outside its limits is a 400 naming them (nothing bought), and a
//!   payment that arrives after its promise expired is failed back to P, no channel opened.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boltd_harness::{
    free_port, fund, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

/// L's offers are valid this long (the refusal waits it out).
const VALIDITY_SECS: u64 = 12;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn channels_with(node: &TestNode, peer: &TestNode) -> Result<Vec<Value>, HarnessError> {
    Ok(node
        .channels()?
        .into_iter()
        .filter(|c| c["peer_node_id"] == peer.node_id.as_str())
        .collect())
}

fn receive(node: &TestNode, hash: &Value) -> Value {
    node.get(&format!("/api/v1/lightning/receives/{}", hash.as_str().unwrap())).unwrap()
}

#[test]
fn a_fresh_node_receives_through_a_boltd_lsp() -> Result<(), HarnessError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("BOLTD_TEST_LOG").unwrap_or_else(|_| "off".into()))
        .with_test_writer()
        .try_init();
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let p = TestNode::start_in_process("payer", &dir.path().join("p"), &chain, free_port()?)?;
    let l =
        TestNode::start_in_process_with("lsp", &dir.path().join("l"), &chain, free_port()?, |c| {
            c.lsps2_service = Some(true);
            c.lsps2_service_offer_validity_secs = Some(VALIDITY_SECS);
        })?;
    let lsp = format!("{}@{}", l.node_id, l.p2p_addr);
    let c = TestNode::start_in_process_with(
        "client",
        &dir.path().join("c"),
        &chain,
        free_port()?,
        |c| {
            c.lsps = Some(vec![lsp]);
        },
    )?;
    let all = [&p, &l, &c];
    btc.mine(101)?;
    fund(&btc, &p, &[&l, &c])?;
    fund(&btc, &l, &[&p, &c])?;
    open_channel(&btc, &p, &l, 1_000_000, 0, &all)?;
    assert!(c.channels()?.is_empty(), "C starts with no channel");

    // The invoice through L: the fee and its validity are in the answer.
    let inv = c.ok(
        "invoice through the LSP",
        c.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 100_000 })),
    )?;
    let promised = &inv["lsp"];
    assert_eq!(promised["lsp_node_id"], l.node_id.as_str(), "{inv}");
    assert_eq!(promised["opening_fee_msat"], 2_000_000, "{inv}");
    let valid_until = promised["valid_until"].as_u64().unwrap();
    assert!(valid_until > now_secs() && valid_until <= now_secs() + VALIDITY_SECS, "{inv}");
    assert_eq!(promised["skimmed_fee_msat"], Value::Null, "{inv}");

    // P pays it: L opens the channel just in time, C settles 98,000 sat.
    let paid = p.pay(inv["invoice"].as_str().unwrap())?;
    assert_eq!(paid["status"], "complete", "{paid}");
    let settled = wait_until(
        "C's receive to settle",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let r = receive(&c, &inv["payment_hash"]);
            Ok((r["state"] == "settled").then_some(r))
        },
    )?;
    assert_eq!(settled["received_msat"], 98_000_000, "{settled}");
    assert_eq!(settled["lsp"]["skimmed_fee_msat"], 2_000_000, "{settled}");
    let jit = channels_with(&c, &l)?;
    assert_eq!(jit.len(), 1, "one channel from L: {jit:?}");
    // 98,000 sat forwarded, 10 % over-provisioned.
    assert_eq!(jit[0]["capacity_sat"], 107_800, "{:?}", jit[0]);
    assert_eq!(channels_with(&l, &c)?.len(), 1);

    // A second payment uses the new channel: no LSP, no fee, no new channel.
    let inv2 = c.ok(
        "second invoice",
        c.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 5_000 })),
    )?;
    assert!(inv2.get("lsp").is_none(), "the channel can receive 5,000 sat: {inv2}");
    let paid2 = p.pay(inv2["invoice"].as_str().unwrap())?;
    assert_eq!(paid2["status"], "complete", "{paid2}");
    let r2 = wait_until(
        "the second receive",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = receive(&c, &inv2["payment_hash"]);
            Ok((r["state"] == "settled").then_some(r))
        },
    )?;
    assert_eq!(r2["received_msat"], 5_000_000, "{r2}");
    assert_eq!(channels_with(&c, &l)?.len(), 1, "still the one channel");

    // Core Lightning's and Alby's invoice creation take the same automatic choice: 60,000 sat
    // is more than the channel can receive, so both invoices go through L.
    let cln = c
        .post(
            "/v1/invoice",
            json!({ "amount_msat": 60_000_000, "label": "via-cln", "description": "cln" }),
        )
        .unwrap();
    assert_eq!(receive(&c, &cln["payment_hash"])["lsp"]["opening_fee_msat"], 2_000_000, "{cln}");
    assert!(cln["bolt11"].as_str().unwrap().starts_with("lnbcrt600u"), "{cln}");
    let alby = c.post("/invoices", json!({ "amount": 60_000, "description": "alby" })).unwrap();
    let alby_lsp = &receive(&c, &alby["payment_hash"])["lsp"];
    assert_eq!(alby_lsp["lsp_node_id"], l.node_id.as_str(), "{alby}");
    // Alby's answer says the fee itself, as does its invoice lookup (Core Lightning's schema
    // has no room for it: its answer is Core Lightning's, the fee is on the receive).
    assert_eq!(alby["lsp"], *alby_lsp, "{alby}");
    let looked_up =
        c.get(&format!("/invoices/{}", alby["payment_hash"].as_str().unwrap())).unwrap();
    assert_eq!(looked_up["lsp"]["opening_fee_msat"], 2_000_000, "{looked_up}");
    assert!(cln.get("lsp").is_none(), "{cln}");

    // Outside L's limits (10,000 sat to 10,000,000 sat): refused, naming them.
    let e = c
        .post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 1_000, "via_lsp": true }))
        .unwrap_err();
    assert_eq!(e.status, 400, "{e}");
    let msg = e.body["message"].as_str().unwrap_or_default();
    assert!(msg.contains("outside its payment limits"), "{e}");

    // A payment after the promise expired: failed back to P, nothing opened.
    let late = c.ok(
        "late invoice",
        c.post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 50_000, "via_lsp": true }),
        ),
    )?;
    let until = late["lsp"]["valid_until"].as_u64().unwrap();
    while now_secs() <= until + 1 {
        std::thread::sleep(Duration::from_millis(250));
    }
    let sent = p.post(
        "/api/v1/lightning/pay",
        json!({ "destination": late["invoice"], "retry_for_secs": 5, "wait_secs": 0 }),
    );
    assert!(sent.is_ok(), "{sent:?}");
    let hash = late["payment_hash"].as_str().unwrap();
    // L fails every HTLC back at once; the payer tries again until it gives up.
    let failed = wait_until(
        "P's late payment to fail",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let s = p.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
            assert_ne!(s["status"], "complete", "{s}");
            Ok((s["status"] == "failed").then_some(s))
        },
    )?;
    assert_eq!(failed["preimage"], Value::Null, "{failed}");
    let r = receive(&c, &late["payment_hash"]);
    assert_eq!(r["state"], "created", "{r}");
    assert_eq!(r["lsp"]["skimmed_fee_msat"], Value::Null, "{r}");
    assert_eq!(channels_with(&c, &l)?.len(), 1, "no second channel opened");
    assert_eq!(channels_with(&l, &c)?.len(), 1);
    Ok(())
}

/// The LSP's token keeps strangers out (P's wrong one is refused, naming the refusal), and its
/// promise survives its restart: C's invoice is bought, L stops and starts again (its intercept
/// id and LDK's LSPS2 state come back from its database), C reconnects to its LSP by itself,
/// and P's payment opens the channel as promised.
#[test]
fn a_promise_survives_the_lsps_restart() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let l_port = free_port()?;
    let start_l = || {
        TestNode::start_in_process_with("lsp", &dir.path().join("l"), &chain, l_port, |c| {
            c.lsps2_service = Some(true);
            c.lsps2_service_token = Some("members-only".into());
        })
    };
    let mut l = start_l()?;
    let lsp = format!("{}@{}", l.node_id, l.p2p_addr);
    let with_lsp = |token: &str| {
        let (lsp, token) = (lsp.clone(), token.to_string());
        move |c: &mut boltd_config::ConfigLayer| {
            c.lsps = Some(vec![lsp]);
            c.lsp_token = Some(token);
        }
    };
    let c = TestNode::start_in_process_with(
        "client",
        &dir.path().join("c"),
        &chain,
        free_port()?,
        with_lsp("members-only"),
    )?;
    // P asks L too, with a wrong token.
    let p = TestNode::start_in_process_with(
        "payer",
        &dir.path().join("p"),
        &chain,
        free_port()?,
        with_lsp("guess"),
    )?;
    btc.mine(101)?;
    fund(&btc, &p, &[&l, &c])?;
    fund(&btc, &l, &[&p, &c])?;
    open_channel(&btc, &p, &l, 1_000_000, 0, &[&p, &l, &c])?;
    let inv = c.ok(
        "invoice through the LSP",
        c.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 50_000 })),
    )?;
    assert_eq!(inv["lsp"]["opening_fee_msat"], 2_000_000, "{inv}");
    let e = p
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 50_000, "via_lsp": true }),
        )
        .unwrap_err();
    assert_eq!(e.status, 400, "{e}");
    let msg = e.body["message"].as_str().unwrap_or_default();
    assert!(msg.contains("refused the fee menu"), "{e}");

    l.stop()?;
    drop(l);
    let l = start_l()?;
    let c_id = c.node_id.clone();
    let p_id = p.node_id.clone();
    wait_until(
        "C and P to reconnect to L",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let peers = l.get("/api/v1/node/peers").unwrap();
            let ids: Vec<&str> =
                peers.as_array().unwrap().iter().filter_map(|x| x["node_id"].as_str()).collect();
            Ok((ids.contains(&c_id.as_str()) && ids.contains(&p_id.as_str())).then_some(()))
        },
    )?;
    wait_until(
        "P's channel to L usable again",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || Ok(p.channels()?.iter().any(|ch| ch["state"] == "ready").then_some(())),
    )?;
    let paid = p.pay(inv["invoice"].as_str().unwrap())?;
    assert_eq!(paid["status"], "complete", "{paid}");
    let r = wait_until(
        "C's receive to settle",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let r = receive(&c, &inv["payment_hash"]);
            Ok((r["state"] == "settled").then_some(r))
        },
    )?;
    assert_eq!(r["received_msat"], 48_000_000, "{r}");
    assert_eq!(r["lsp"]["skimmed_fee_msat"], 2_000_000, "{r}");
    assert_eq!(channels_with(&c, &l)?.len(), 1);
    Ok(())
}
