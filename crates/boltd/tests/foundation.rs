//! Foundation tests: real bitcoind (regtest), real boltd nodes over TCP on loopback, the real
//! SQLite store. Node B runs as a child process of the real binary so it can be SIGKILLed.

use std::path::PathBuf;
use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use serde_json::json;

const BOLTD: &str = env!("CARGO_BIN_EXE_boltd");

fn exe() -> PathBuf {
    PathBuf::from(BOLTD)
}

fn lightning_spendable_msat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
}

fn lightning_claimable_sat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_sat"].as_u64().unwrap()
}

fn assert_preimage(paid: &serde_json::Value, hash_hex: &str) {
    assert_eq!(paid["status"], "complete", "payment should complete: {paid}");
    let preimage = hex::decode(paid["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(sha256::Hash::hash(&preimage).to_byte_array()), hash_hex);
}

/// A pays C across B; B is SIGKILLed and restarted; A pays C again; then A-B closes
/// cooperatively and B-C by force, and the funds come back on chain.
#[test]
fn three_nodes_pay_across_two_hops_survive_sigkill_and_close() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let b_port = free_port()?;
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let mut b = TestNode::spawn("bob", &exe(), &dir.path().join("b"), &chain, b_port)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    btc.mine(101)?;

    let funded_a = fund(&btc, &a, &[&b, &c])?;
    let funded_b = fund(&btc, &b, &[&a, &c])?;
    assert!(funded_a >= 1_000_000_000 && funded_b >= 1_000_000_000, "{funded_a} {funded_b}");

    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b, &c])?;
    open_channel(&btc, &b, &c, 1_000_000, 0, &[&a, &b, &c])?;
    a.wait_for_gossip(2)?;

    // A pays C across B.
    let a_before = lightning_spendable_msat(&a);
    let c_before = lightning_claimable_sat(&c);
    let (invoice, hash) = c.invoice(10_000, "two hops")?;
    let paid = a.pay(&invoice)?;
    assert_preimage(&paid, &hash);
    let fee_msat = paid["fee_msat"].as_u64().unwrap();
    assert!(fee_msat > 0, "a two-hop payment pays B a fee");
    wait_until(
        "C to see the payment received",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
            Ok((r["state"] == "settled").then_some(r))
        },
    )?;
    assert_eq!(a_before - lightning_spendable_msat(&a), 10_000_000 + fee_msat);
    // C's new balance is below its channel reserve: claimable, not yet spendable.
    assert_eq!(lightning_claimable_sat(&c) - c_before, 10_000);

    // Paying the same invoice again returns the first success and moves no money.
    let a_after = lightning_spendable_msat(&a);
    let again = a.pay(&invoice)?;
    assert_eq!(again["status"], "complete", "{again}");
    assert_eq!(again["preimage"], paid["preimage"]);
    assert_eq!(lightning_spendable_msat(&a), a_after, "a second payment must not be sent");
    // Bad input is refused before anything is sent.
    let err = c.post("/api/v1/lightning/pay", json!({ "destination": invoice })).unwrap_err();
    assert_eq!(err.status, 400, "paying our own invoice: {err}");
    let (fixed, _) = c.invoice(1_000, "fixed amount")?;
    let wrong = json!({ "destination": fixed, "amount_sat": 2_000 });
    let err = a.post("/api/v1/lightning/pay", wrong).unwrap_err();
    assert_eq!(err.status, 400, "amount contradicting the invoice: {err}");
    let err =
        a.post("/api/v1/lightning/pay", json!({ "destination": "lnbcrt1garbage" })).unwrap_err();
    assert_eq!(err.status, 400, "malformed invoice: {err}");

    // A second daemon on B's data directory is refused while B runs.
    let second = TestNode::spawn("bob-again", &exe(), &b.data_dir, &chain, free_port()?);
    let err =
        second.err().expect("a second daemon on the same data dir must be refused").to_string();
    assert!(err.contains("in use"), "{err}");

    // SIGKILL B right after the payments, without waiting for anything to settle, and restart
    // it on the same data directory and port: a channel monitor update is only ever written
    // together with a channel manager that knows of it (`boltd-node/src/persist.rs`), so the
    // restarted B finds managers and monitors that agree and no channel is force-closed.
    // (`torture.rs`'s kill loop does this under load, and `crash.rs` with a payment in flight.)
    b.kill()?;
    let b = TestNode::spawn("bob", &exe(), &dir.path().join("b"), &chain, b_port)?;
    if let Err(e) =
        a.wait_channel_state(&b, "ready").and_then(|_| c.wait_channel_state(&b, "ready"))
    {
        let log = std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
        let tail: Vec<_> = log
            .lines()
            .filter(|l| !l.contains("DEBUG"))
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!("{e}\nbob's log tail:\n{}", tail.join("\n"));
    }
    let (invoice, hash) = c.invoice(20_000, "after restart")?;
    assert_preimage(&a.pay(&invoice)?, &hash);

    // Close: A-B cooperatively, B-C by force (from B).
    let total_before: u64 = [&a, &b, &c].iter().map(|n| n.onchain_confirmed_sat().unwrap()).sum();
    let ab = a.wait_channel_state(&b, "ready")?;
    let bc = b.wait_channel_state(&c, "ready")?;
    a.post("/api/v1/node/channels/close", json!({ "channel_id": ab["channel_id"] })).unwrap();
    b.post("/api/v1/node/channels/close", json!({ "channel_id": bc["channel_id"], "force": true }))
        .unwrap();
    // B's own output of a force close waits out the CSV delay (144 blocks); sweeps follow.
    let nodes = [&a, &b, &c];
    for _ in 0..20 {
        mine_and_sync(&btc, 10, &nodes)?;
    }
    // Claimable balances reach zero once the closes are final; the sweeper then moves each
    // output into the wallet. Everything that was in the two channels (2,000,000 sat) comes
    // back, less on-chain fees.
    let gained = wait_until(
        "the channel funds to be swept back into the wallets",
        Duration::from_secs(240),
        Duration::from_millis(500),
        || {
            mine_and_sync(&btc, 1, &nodes)?;
            let total: u64 = nodes.iter().map(|n| n.onchain_confirmed_sat().unwrap()).sum();
            let gained = total.saturating_sub(total_before);
            Ok((gained > 2_000_000 - 50_000).then_some(gained))
        },
    )?;
    assert!(gained <= 2_000_000, "got back {gained} of 2,000,000 sat");
    for n in nodes {
        assert!(n.channels()?.is_empty(), "{} still lists channels", n.name);
        let left = n.get("/api/v1/wallet/balance").unwrap()["lightning_sat"].as_u64().unwrap();
        assert_eq!(left, 0, "{} still has Lightning funds", n.name);
    }

    // The closed channels stay listed, with why, the closing transaction (the one that spent
    // the funding output on chain), and nothing left on its way back; B's list survives a
    // restart.
    let closed = |n: &TestNode| n.get("/api/v1/node/channels/closed").unwrap();
    let find = |list: &serde_json::Value, id: &serde_json::Value| {
        list.as_array().unwrap().iter().find(|c| c["channel_id"] == *id).cloned()
    };
    let check = |n: &TestNode, ch: &serde_json::Value, kind: &str| {
        let list = wait_until(
            "the closed channel to be settled",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || {
                mine_and_sync(&btc, 1, &nodes)?;
                let list = closed(n);
                let c = find(&list, &ch["channel_id"]);
                Ok(c.filter(|c| c["settled"] == true).map(|_| list))
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}: {}", n.name, closed(n)));
        let c = find(&list, &ch["channel_id"]).unwrap();
        assert_eq!(c["close_kind"], kind, "{}: {c}", n.name);
        assert_eq!((c["pending_sat"].as_u64(), c["breach"].as_bool()), (Some(0), Some(false)));
        assert_eq!(c["capacity_sat"], 1_000_000, "{c}");
        // The closing transaction spends the funding output.
        let txid: bitcoin::Txid = c["closing_txid"].as_str().unwrap().parse().unwrap();
        let height = c["closing_height"].as_u64().unwrap();
        let hash = btc.client().get_block_hash(height).unwrap();
        let tx = btc.client().get_raw_transaction(&txid, Some(&hash)).unwrap();
        let funding = c["funding_txo"].as_str().unwrap();
        assert!(
            tx.input.iter().any(|i| i.previous_output.to_string() == funding),
            "{txid} does not spend {funding}"
        );
        c
    };
    let ab_at_a = check(&a, &ab, "cooperative");
    let ab_at_b = check(&b, &ab, "cooperative");
    assert_eq!(ab_at_a["closing_txid"], ab_at_b["closing_txid"], "one closing transaction");
    let bc_at_b = check(&b, &bc, "local_force_close");
    let bc_at_c = check(&c, &bc, "remote_force_close");
    assert_eq!(bc_at_b["closing_txid"], bc_at_c["closing_txid"]);
    assert!(bc_at_b["last_local_balance_msat"].as_u64().unwrap() > 0, "{bc_at_b}");
    let mut b = b;
    b.stop()?;
    let b = TestNode::spawn("bob", &exe(), &dir.path().join("b"), &chain, b_port)?;
    let after = closed(&b);
    assert_eq!(after.as_array().unwrap().len(), 2, "{after}");
    assert_eq!(find(&after, &bc["channel_id"]).unwrap()["closing_txid"], bc_at_b["closing_txid"]);
    Ok(())
}

/// On-chain sends: a send to an address arrives; a send beyond the balance is refused with a
/// clear error and nothing reaches the mempool.
#[test]
fn onchain_send_and_insufficient_funds() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    let funded = fund(&btc, &a, &[&b])?;

    let to = b.new_address()?;
    let too_much = json!({ "destination": to.to_string(), "amount_sat": funded + 1 });
    let err = a.post("/api/v1/onchain/send", too_much).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.body["code"], "insufficient_funds", "{err}");
    assert!(btc.get_raw_mempool()?.is_empty(), "nothing may be broadcast");

    let wrong_net =
        json!({ "destination": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "amount_sat": 1000 });
    let err = a.post("/api/v1/onchain/send", wrong_net).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("not for regtest"), "{err}");

    let sent = a
        .post(
            "/api/v1/onchain/send",
            json!({ "destination": to.to_string(), "amount_sat": 250_000 }),
        )
        .unwrap();
    let txid = sent["txid"].as_str().unwrap().to_string();
    assert!(btc.get_raw_mempool()?.iter().any(|t| t.to_string() == txid));
    mine_and_sync(&btc, 1, &[&a, &b])?;
    wait_until(
        "B to see 250,000 sat confirmed",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok((b.onchain_confirmed_sat()? == 250_000).then_some(())),
    )?;
    let left = a.onchain_total_sat()?;
    assert!(left < funded - 250_000 && left > funded - 260_000, "A kept {left} of {funded}");
    Ok(())
}

/// A node refuses to start on state it cannot read, and overwrites nothing.
#[test]
fn corrupted_state_is_refused_and_left_untouched() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe(), &data, &chain, port)?;
    a.stop()?;

    // 1. A corrupted channel manager inside a valid database.
    let db = data.join("boltd.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let n = conn
			.execute("UPDATE kv SET value = x'deadbeef' WHERE key = 'manager' AND primary_namespace = ''", [])
			.unwrap();
        assert_eq!(n, 1, "the channel manager must have been persisted at shutdown");
    }
    let before = std::fs::read(&db).unwrap();
    let err = TestNode::spawn("alice", &exe(), &data, &chain, port)
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("channel manager") && err.contains("cannot be read"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database must not be touched");

    // 2. A database file that is not SQLite at all.
    std::fs::write(&db, b"this is not a database").unwrap();
    let _ = std::fs::remove_file(data.join("boltd.sqlite-wal"));
    let _ = std::fs::remove_file(data.join("boltd.sqlite-shm"));
    let err = TestNode::spawn("alice", &exe(), &data, &chain, port)
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("boltd.sqlite"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b"this is not a database");

    // 3. A missing seed next to an existing database.
    std::fs::remove_file(data.join("seed.mnemonic")).unwrap();
    let err = TestNode::spawn("alice", &exe(), &data, &chain, port)
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("seed"), "{err}");
    Ok(())
}
