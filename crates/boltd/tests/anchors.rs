//! Anchor channels on a regtest chain whose fee estimate is high: a force close with an HTLC in
//! flight is fee-bumped from the on-chain wallet (a CPFP child of the commitment, then the HTLC
//! timeout transaction paid for), everything confirms and resolves, and the balances reconcile.
//! The on-chain reserve for anchor channels is kept: a send that would eat into it is refused.
//! Real bitcoind, real nodes, the real store.

use std::time::Duration;

use bitcoin::{Amount, Transaction, Txid};
use bitcoin_hashes::{sha256, Hash};
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use serde_json::{json, Value};

/// A's fee estimate (bitcoind has none on regtest): 10 sat/vB for commitments, twice that for
/// urgent sweeps (`chain.rs`), so a force close needs a child paying the difference.
const A_FALLBACK_SAT_PER_KWU: u32 = 2_500;

fn tx(btc: &Bitcoind, txid: &Txid) -> Transaction {
    btc.client().get_raw_transaction(txid, None).unwrap()
}

/// The fee of a mempool transaction and its virtual size.
fn mempool_fee(btc: &Bitcoind, txid: &Txid) -> (Amount, u64) {
    let e: Value = btc.client().call("getmempoolentry", &[json!(txid.to_string())]).unwrap();
    let fee = Amount::from_btc(e["fees"]["base"].as_f64().unwrap()).unwrap();
    (fee, e["vsize"].as_u64().unwrap())
}

#[test]
fn an_anchor_force_close_with_an_htlc_in_flight_is_bumped_and_resolves() -> Result<(), HarnessError>
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("BOLTD_TEST_LOG").unwrap_or_else(|_| "off".into()))
        .with_test_writer()
        .try_init();
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process_with(
        "alice",
        &dir.path().join("a"),
        &chain,
        free_port()?,
        |l| l.fee_rate_fallback_sat_per_kwu = Some(A_FALLBACK_SAT_PER_KWU),
    )?;
    let mut b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let both = [&a, &b];
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    // B accepts an anchor channel only with its reserve covered on chain.
    fund(&btc, &b, &[&a])?;
    let ab = open_channel(&btc, &a, &b, 1_000_000, 0, &both)?;
    assert_eq!(ab["anchors"], true, "anchor channels are the default: {ab}");
    assert_eq!(b.wait_channel_state(&a, "ready")?["anchors"], true);

    // The reserve: one anchor channel keeps 25,000 sat on chain. A drain sends everything else;
    // then any send would eat into it and is refused, naming it. The fee bump below has only
    // the reserve to spend.
    let balance = a.get("/api/v1/wallet/balance").unwrap();
    assert_eq!(balance["anchor_reserve_sat"], 25_000, "{balance}");
    let to = b.new_address()?.to_string();
    a.ok("drain", a.post("/api/v1/onchain/drain", json!({ "destination": to })))?;
    mine_and_sync(&btc, 1, &both)?;
    let left = wait_until(
        "the drain to confirm",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let sat = a.onchain_confirmed_sat()?;
            Ok((a.onchain_total_sat()? == sat).then_some(sat))
        },
    )?;
    assert!((25_000..26_000).contains(&left), "the drain kept the reserve: {left} sat left");
    let e = a
        .post("/api/v1/onchain/send", json!({ "destination": to, "amount_sat": 1_000 }))
        .unwrap_err();
    assert_eq!((e.status, e.body["code"].as_str()), (400, Some("insufficient_funds")), "{e}");
    assert!(e.body["message"].as_str().unwrap().contains("reserve"), "{e}");

    // An HTLC in flight: A pays B's hold invoice, B holds it.
    let preimage = [7u8; 32];
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let hold = b
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 50_000, "payment_hash": hash }),
        )
        .unwrap();
    let paying = a
        .post("/api/v1/lightning/pay", json!({ "destination": hold["invoice"], "wait_secs": 1 }))
        .unwrap();
    assert_eq!(paying["status"], "pending", "{paying}");
    wait_until(
        "the HTLC to be held at B",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = b.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
            Ok((r["state"] == "htlcs_arrived").then_some(()))
        },
    )?;
    let onchain_before = a.onchain_total_sat()?;

    // B goes away (were it there, it would broadcast its own commitment too, at its own lower
    // fee estimate, and either could confirm first). A force-closes: its commitment (at
    // 10 sat/vB) goes out with a child spending the anchor and a wallet coin, so that the
    // package pays the urgent rate.
    b.stop()?;
    let nodes = [&a];

    a.post("/api/v1/node/channels/close", json!({ "channel_id": ab["channel_id"], "force": true }))
        .unwrap();
    let funding: bitcoin::OutPoint = ab["funding_outpoint"].as_str().unwrap().parse().unwrap();
    let (commitment, child) = wait_until(
        "the commitment and its CPFP child in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let pool = btc.get_raw_mempool()?;
            let txs: Vec<_> = pool.iter().map(|t| tx(&btc, t)).collect();
            let Some(c) = txs.iter().find(|t| t.input.iter().any(|i| i.previous_output == funding))
            else {
                return Ok(None);
            };
            let cid = c.compute_txid();
            let child = txs.iter().find(|t| t.input.iter().any(|i| i.previous_output.txid == cid));
            Ok(child.map(|ch| (c.clone(), ch.clone())))
        },
    )?;
    let (commitment_fee, commitment_vsize) = mempool_fee(&btc, &commitment.compute_txid());
    let (child_fee, child_vsize) = mempool_fee(&btc, &child.compute_txid());
    let package_rate =
        (commitment_fee + child_fee).to_sat() as f64 / (commitment_vsize + child_vsize) as f64;
    let commitment_rate = commitment_fee.to_sat() as f64 / commitment_vsize as f64;
    println!(
        "anchor bump: commitment {commitment_rate:.1} sat/vB ({} sat), child {} sat, package \
         {package_rate:.1} sat/vB",
        commitment_fee.to_sat(),
        child_fee.to_sat()
    );
    assert!(child.input.len() >= 2, "the child spends the anchor and a wallet coin: {child:?}");
    // The urgent target is 20 sat/vB; LDK aims at it (a little under for its weight estimate).
    assert!(package_rate > commitment_rate * 1.5, "{package_rate} vs {commitment_rate}");
    mine_and_sync(&btc, 1, &nodes)?;
    assert!(btc.get_raw_mempool()?.is_empty(), "commitment and child confirmed together");

    // The HTLC times out on chain: A's HTLC-timeout transaction (paid for from the wallet too)
    // confirms, the payment fails, B's hold invoice is canceled; A's own output waits out its
    // CSV delay, then everything is swept back.
    let failed = wait_until(
        "A's payment to fail once its HTLC timed out on chain",
        Duration::from_secs(240),
        Duration::from_millis(200),
        || {
            mine_and_sync(&btc, 2, &nodes)?;
            let p = a.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
            Ok((p["status"] == "failed").then_some(p))
        },
    )?;
    assert_eq!(failed["status"], "failed", "{failed}");
    let closed = wait_until(
        "A's closed channel to be settled",
        Duration::from_secs(240),
        Duration::from_millis(200),
        || {
            mine_and_sync(&btc, 10, &nodes)?;
            let list = a.get("/api/v1/node/channels/closed").unwrap();
            let c: Value = list.as_array().unwrap().first().cloned().unwrap_or(Value::Null);
            Ok((c["settled"] == true).then_some(c))
        },
    )?;
    assert_eq!(closed["close_kind"], "local_force_close", "{closed}");
    assert_eq!(closed["closing_txid"], commitment.compute_txid().to_string(), "{closed}");
    // Everything comes back but fees: the channel's 1,000,000 sat, less the commitment's,
    // the child's, the HTLC transaction's and the sweeps' fees.
    let onchain_after = a.onchain_total_sat()?;
    let back = onchain_after as i64 - onchain_before as i64;
    println!("anchor force close: {back} sat of 1,000,000 back on chain");
    assert!((900_000..=1_000_000).contains(&back), "{back}");
    let balance = a.get("/api/v1/wallet/balance").unwrap();
    assert_eq!(
        (balance["lightning_sat"].as_u64(), balance["anchor_reserve_sat"].as_u64()),
        (Some(0), Some(0))
    );
    Ok(())
}
