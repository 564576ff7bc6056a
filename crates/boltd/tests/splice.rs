//! Splicing on real nodes: A takes 200,000 sat out of its 1,000,000 sat channel to B, to its
//! own wallet, without closing it; the channel carries a payment while the splice confirms,
//! and afterwards its capacity is smaller by the amount and the splice's fee, and A's wallet
//! holds the amount. Then A adds 300,000 sat from its wallet (a splice-in): the capacity grows
//! by exactly that, the wallet pays it and the fee, and the channel still pays.

use std::time::Duration;

use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use serde_json::json;

/// The `splice` of channel `channel_id` in `node`'s channel record (`null` when none).
fn splice_of(node: &TestNode, channel_id: &str) -> Result<serde_json::Value, HarnessError> {
    let c = node.channels()?.into_iter().find(|c| c["channel_id"] == channel_id);
    Ok(c.map(|c| c["splice"].clone()).unwrap_or_default())
}

/// Waits for `node`'s on-chain wallet to hold at least `sat`, and returns what it holds.
fn wallet_reaches(node: &TestNode, sat: u64) -> Result<u64, HarnessError> {
    wait_until(
        "the wallet to hold the amount",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let now = node.onchain_total_sat()?;
            Ok((now >= sat).then_some(now))
        },
    )
}

/// Waits for the channel records of A and B to show a splice pending confirmation at the
/// same new funding outpoint, and returns A's.
fn wait_splice_shown(
    a: &TestNode,
    b: &TestNode,
    channel_id: &str,
) -> Result<serde_json::Value, HarnessError> {
    wait_until(
        "both channel records to show the splice",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let (on_a, on_b) = (splice_of(a, channel_id)?, splice_of(b, channel_id)?);
            let pending = |s: &serde_json::Value| s["state"] == "pending_confirmation";
            Ok((pending(&on_a)
                && pending(&on_b)
                && on_a["funding_outpoint"] == on_b["funding_outpoint"])
                .then_some(on_a))
        },
    )
}

#[test]
fn a_splice_out_takes_funds_from_a_channel_that_stays_open() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let both = [&a, &b];
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    fund(&btc, &b, &[&a])?;
    let ch = open_channel(&btc, &a, &b, 1_000_000, 0, &both)?;
    let channel_id = ch["channel_id"].as_str().unwrap().to_string();
    let before = a.onchain_total_sat()?;

    // More than the channel can send, and an unknown channel: refused, nothing spliced.
    let e = a
        .post(
            "/api/v1/node/channels/splice-out",
            json!({ "channel_id": channel_id, "amount_sat": 2_000_000 }),
        )
        .unwrap_err();
    assert_eq!(e.status, 400, "{e}");
    let e = a
        .post(
            "/api/v1/node/channels/splice-out",
            json!({ "channel_id": "00".repeat(32), "amount_sat": 1_000 }),
        )
        .unwrap_err();
    assert_eq!(e.status, 404, "{e}");

    let s = a.ok(
        "splice-out",
        a.post(
            "/api/v1/node/channels/splice-out",
            json!({ "channel_id": channel_id, "amount_sat": 200_000 }),
        ),
    )?;
    assert_eq!(s["amount_sat"], 200_000, "{s}");
    wait_until(
        "the splice transaction in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || Ok((!btc.get_raw_mempool()?.is_empty()).then_some(())),
    )?;
    // Both channel records show the splice until it locks: A's as its own splice-out to the
    // address it answered with, B's as the peer's; the mempool holds its transaction.
    let shown = wait_splice_shown(&a, &b, &channel_id)?;
    assert_eq!(shown["direction"], "out", "{shown}");
    assert_eq!(shown["amount_sat"], 200_000, "{shown}");
    assert_eq!(shown["address"], s["address"], "{shown}");
    let txid = shown["funding_outpoint"].as_str().unwrap().split(':').next().unwrap().to_string();
    assert!(
        btc.get_raw_mempool()?.iter().any(|t| t.to_string() == txid),
        "the shown outpoint's transaction is the one in the mempool"
    );
    assert_eq!(splice_of(&b, &channel_id)?["direction"], "peer");
    // A second splice of the channel meanwhile is refused, naming the pending one.
    let e = a
        .post(
            "/api/v1/node/channels/splice-in",
            json!({ "channel_id": channel_id, "amount_sat": 10_000 }),
        )
        .unwrap_err();
    assert_eq!(e.status, 400, "{e}");
    assert!(e.body.to_string().contains("waits for the confirmation"), "{e}");
    // The channel still pays while the splice is unconfirmed.
    let (invoice, _) = b.invoice(10_000, "during the splice")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");

    mine_and_sync(&btc, 6, &both)?;
    let capacity = wait_until(
        "the splice to lock",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let c = a.channels()?.into_iter().find(|c| c["channel_id"] == channel_id.as_str());
            let cap = c.and_then(|c| c["capacity_sat"].as_u64()).unwrap_or(1_000_000);
            Ok((cap < 1_000_000).then_some(cap))
        },
    )?;
    assert!((795_000..800_000).contains(&capacity), "capacity after the splice: {capacity}");
    eprintln!("capacity after the splice: {capacity} sat");
    // Locked: the records show no splice any more, and the channel runs on the new outpoint.
    wait_until(
        "the splice record to go",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            Ok((splice_of(&a, &channel_id)?.is_null() && splice_of(&b, &channel_id)?.is_null())
                .then_some(()))
        },
    )?;
    let c = a.channels()?.into_iter().find(|c| c["channel_id"] == channel_id.as_str()).unwrap();
    assert_eq!(c["funding_outpoint"], shown["funding_outpoint"], "{c}");
    let after = wallet_reaches(&a, before + 200_000)?;
    assert_eq!(after, before + 200_000, "exactly the amount came to the wallet");
    let on_b = b.channels()?;
    assert_eq!(on_b.len(), 1);
    assert_eq!(on_b[0]["capacity_sat"], capacity, "{on_b:?}");
    let (invoice, _) = b.invoice(20_000, "after the splice")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");

    // Splice-in: 300,000 sat from A's wallet.
    let e = a
        .post(
            "/api/v1/node/channels/splice-in",
            json!({ "channel_id": channel_id, "amount_sat": 1_000_000_000_000u64 }),
        )
        .unwrap_err();
    assert_eq!((e.status, e.body["code"].as_str()), (400, Some("insufficient_funds")), "{e}");
    let wallet_before = a.onchain_total_sat()?;
    let s = a.ok(
        "splice-in",
        a.post(
            "/api/v1/node/channels/splice-in",
            json!({ "channel_id": channel_id, "amount_sat": 300_000 }),
        ),
    )?;
    assert!(s["coins"].as_u64().unwrap() >= 1, "{s}");
    wait_until(
        "the splice-in in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || Ok((!btc.get_raw_mempool()?.is_empty()).then_some(())),
    )?;
    let shown = wait_splice_shown(&a, &b, &channel_id)?;
    assert_eq!(
        (shown["direction"].as_str(), shown["amount_sat"].as_u64()),
        (Some("in"), Some(300_000))
    );
    mine_and_sync(&btc, 6, &both)?;
    let grown = wait_until(
        "the splice-in to lock",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let c = a.channels()?.into_iter().find(|c| c["channel_id"] == channel_id.as_str());
            let cap = c.and_then(|c| c["capacity_sat"].as_u64()).unwrap_or(capacity);
            Ok((cap > capacity).then_some(cap))
        },
    )?;
    assert_eq!(grown, capacity + 300_000, "the channel grew by the amount");
    let wallet_after = wait_until(
        "A's wallet to settle",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let total = a.onchain_total_sat()?;
            Ok((a.onchain_confirmed_sat()? == total).then_some(total))
        },
    )?;
    let paid = wallet_before - wallet_after;
    assert!((300_000..302_000).contains(&paid), "the wallet paid the amount and a fee: {paid}");
    eprintln!("splice-in: capacity {grown} sat, the wallet paid {paid} sat");
    let (invoice, _) = b.invoice(30_000, "after the splice-in")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");
    Ok(())
}

/// A restart during a splice resumes it: A (a child process) starts a splice-out, is killed
/// (SIGKILL) while the splice transaction waits in the mempool, and starts again on its data
/// directory; the splice confirms and locks on both sides, A's wallet holds the amount, and the
/// channel pays.
#[test]
fn a_restart_during_a_splice_resumes_it() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a_dir = dir.path().join("a");
    let a_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe, &a_dir, &chain, a_port)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    fund(&btc, &b, &[&a])?;
    let ch = open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;
    let channel_id = ch["channel_id"].as_str().unwrap().to_string();
    let before = a.onchain_total_sat()?;
    a.ok(
        "splice-out",
        a.post(
            "/api/v1/node/channels/splice-out",
            json!({ "channel_id": channel_id, "amount_sat": 200_000 }),
        ),
    )?;
    wait_until(
        "the splice transaction in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || Ok((!btc.get_raw_mempool()?.is_empty()).then_some(())),
    )?;
    let shown = wait_splice_shown(&a, &b, &channel_id)?;
    a.kill()?;
    let a = TestNode::spawn("alice", &exe, &a_dir, &chain, a_port)?;
    b.wait_channel_state(&a, "ready")?;
    // The record survived the restart as it was.
    assert_eq!(splice_of(&a, &channel_id)?, shown, "A's record after the restart");
    mine_and_sync(&btc, 6, &[&a, &b])?;
    let capacity = |node: &TestNode| -> Result<u64, HarnessError> {
        let c = node.channels()?.into_iter().find(|c| c["channel_id"] == channel_id.as_str());
        Ok(c.and_then(|c| c["capacity_sat"].as_u64()).unwrap_or(1_000_000))
    };
    let locked = wait_until(
        "the splice to lock after the restart",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let (on_a, on_b) = (capacity(&a)?, capacity(&b)?);
            Ok((on_a < 1_000_000 && on_a == on_b).then_some(on_a))
        },
    )?;
    assert!((795_000..800_000).contains(&locked), "capacity after the splice: {locked}");
    wait_until(
        "the splice record to go",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok(splice_of(&a, &channel_id)?.is_null().then_some(())),
    )?;
    let after = wallet_reaches(&a, before + 200_000)?;
    assert_eq!(after, before + 200_000, "exactly the amount came to the wallet");
    let (invoice, _) = b.invoice(20_000, "after the restart")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");
    Ok(())
}
