//! A channel is funded from confirmed coins only. LDK broadcasts a funding transaction once and
//! never again: one that spent an unconfirmed output which then left the mempool (a sweep the
//! sweeper replaced with a new fee, or one a reorg took out of the chain while its lock time
//! was in the future again) could never confirm, and its channel would wait for it forever
//! (found by the torture suite's reorg scenario, T8: "bad-txns-inputs-missingorspent" on the
//! funding broadcast, the channel pending for good). Real bitcoind, real nodes.

use std::time::Duration;

use bitcoin::{
    absolute, transaction, Address, Amount, OutPoint, Sequence, Transaction, TxIn, TxOut, Witness,
};
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{
    free_port, fund, mine_and_sync, op_true_script, wait_until, Bitcoind, ChainAccess,
    HarnessError, TestNode,
};
use serde_json::json;

/// Unconfirmed coins A gets, each big enough to fund the channel alone.
const UNCONFIRMED_COINS: usize = 20;
const COIN_SAT: u64 = 1_000_000;
const CHANNEL_SAT: u64 = 500_000;

/// A transaction in bitcoind's mempool paying `n` outputs of `COIN_SAT` to `to`, from the mature
/// coinbase of block 1 (paid to the mining address, spendable with `OP_TRUE`).
fn unconfirmed_coins(btc: &Bitcoind, to: &[Address]) -> Result<Transaction, HarnessError> {
    let hash = btc.client().get_block_hash(1).map_err(|e| HarnessError::rpc("getblockhash", e))?;
    let block = btc.client().get_block(&hash).map_err(|e| HarnessError::rpc("getblock", e))?;
    let coinbase = &block.txdata[0];
    let vout = coinbase
        .output
        .iter()
        .position(|o| o.script_pubkey == btc.mining_address().script_pubkey())
        .expect("block 1 pays the mining address");
    let paid = COIN_SAT * to.len() as u64;
    let mut output: Vec<TxOut> = to
        .iter()
        .map(|a| TxOut { value: Amount::from_sat(COIN_SAT), script_pubkey: a.script_pubkey() })
        .collect();
    output.push(TxOut {
        value: coinbase.output[vout].value - Amount::from_sat(paid + 10_000),
        script_pubkey: btc.mining_address().script_pubkey(),
    });
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(coinbase.compute_txid(), vout as u32),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[op_true_script().into_bytes()]),
            ..Default::default()
        }],
        output,
    };
    let txid = btc.send_raw_tx(&tx)?;
    btc.wait_for_tx_in_mempool(&txid, Duration::from_secs(10))?;
    Ok(tx)
}

#[test]
fn a_channel_is_funded_from_confirmed_coins_only() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    // One confirmed coin (50 BTC), and many unconfirmed ones that could each fund the channel:
    // a random draw among them all would almost never pick the confirmed one.
    fund(&btc, &a, &[&b])?;
    let addresses =
        (0..UNCONFIRMED_COINS).map(|_| a.new_address()).collect::<Result<Vec<_>, _>>()?;
    let pending = unconfirmed_coins(&btc, &addresses)?;
    let pending_txid = pending.compute_txid();
    let want = COIN_SAT * UNCONFIRMED_COINS as u64;
    wait_until(
        "A's wallet to see its unconfirmed coins",
        Duration::from_secs(30),
        ms(100),
        || {
            let b = a.ok("balance", a.get("/api/v1/onchain/balance"))?;
            Ok((b["untrusted_pending_sat"].as_u64() == Some(want)).then_some(()))
        },
    )?;

    a.connect(&b)?;
    let body = json!({ "node_id": b.node_id, "amount_sat": CHANNEL_SAT, "public": false });
    a.ok("open channel", a.post("/api/v1/node/channels/open", body))?;
    let channel = a.wait_channel_state(&b, "pending_confirmation")?;
    let outpoint: OutPoint = channel["funding_outpoint"].as_str().unwrap().parse().unwrap();
    btc.wait_for_tx_in_mempool(&outpoint.txid, Duration::from_secs(30))?;
    let funding = btc
        .client()
        .get_raw_transaction(&outpoint.txid, None)
        .map_err(|e| HarnessError::rpc("getrawtransaction", e))?;
    let inputs: Vec<OutPoint> = funding.input.iter().map(|i| i.previous_output).collect();
    assert!(
        inputs.iter().all(|i| i.txid != pending_txid),
        "the funding transaction {} spends {inputs:?}: unconfirmed coins of {pending_txid}",
        outpoint.txid
    );
    // And the channel opens.
    mine_and_sync(&btc, 6, &[&a, &b])?;
    a.wait_channel_state(&b, "ready")?;
    Ok(())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
