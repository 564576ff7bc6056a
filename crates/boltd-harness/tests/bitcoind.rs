//! Runs real `bitcoind -regtest` instances (built or found by `scripts/bitcoind.sh`).

use std::path::PathBuf;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, PrivateKey,
    Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{op_true_script, Bitcoind};

/// A regtest P2WPKH address of a fixed key.
fn test_address() -> Address {
    let secp = Secp256k1::new();
    let key = PrivateKey::new(SecretKey::from_slice(&[7u8; 32]).unwrap(), Network::Regtest);
    Address::p2wpkh(&CompressedPublicKey::from_private_key(&secp, &key).unwrap(), Network::Regtest)
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn gettxout(bitcoind: &Bitcoind, txid: &Txid, vout: u32) -> serde_json::Value {
    bitcoind.client().call("gettxout", &[serde_json::json!(txid), serde_json::json!(vout)]).unwrap()
}

#[test]
fn two_bitcoinds_mine_fund_spend_and_stop() {
    // Started from short-lived threads: they must survive those threads (PR_SET_PDEATHSIG).
    let (a, mut b) = std::thread::scope(|s| {
        let a = s.spawn(Bitcoind::start);
        let b = s.spawn(Bitcoind::start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let ports = [a.rpc_port(), a.p2p_port(), b.rpc_port(), b.p2p_port()];
    for (i, p) in ports.iter().enumerate() {
        assert!(!ports[i + 1..].contains(p), "ports not distinct: {ports:?}");
    }
    assert_ne!(a.rpc_url(), b.rpc_url());
    assert_ne!(a.rpc_password(), b.rpc_password());
    assert_ne!(a.datadir(), b.datadir());
    assert!(a.rpc_url().starts_with("http://127.0.0.1:"));

    // Mining on one chain does not touch the other.
    let hashes = a.mine(101).unwrap();
    assert_eq!(hashes.len(), 101);
    assert_eq!(a.height().unwrap(), 101);
    assert_eq!(b.height().unwrap(), 0);
    assert_eq!(a.client().get_best_block_hash().unwrap(), hashes[100]);

    // Funding: 2 blocks to the address, then 100 to mature them.
    let address = test_address();
    let funded = b.fund_address(&address, 2).unwrap();
    assert_eq!(funded, Amount::from_btc(100.0).unwrap());
    assert_eq!(b.height().unwrap(), 102);
    let block1 = b.client().get_block(&b.client().get_block_hash(1).unwrap()).unwrap();
    let coinbase = &block1.txdata[0];
    assert_eq!(coinbase.output[0].script_pubkey, address.script_pubkey());
    assert_eq!(coinbase.output[0].value, Amount::from_btc(50.0).unwrap());
    let utxo = gettxout(&b, &coinbase.compute_txid(), 0);
    assert_eq!(utxo["value"], serde_json::json!(50.0), "{utxo}");
    assert_eq!(utxo["confirmations"], serde_json::json!(102), "{utxo}");
    assert_eq!(utxo["coinbase"], serde_json::json!(true), "{utxo}");

    // Spend a mature OP_TRUE coinbase of `a` without any key, and see it in the mempool.
    let block1 = a.client().get_block(&hashes[0]).unwrap();
    let coinbase = &block1.txdata[0];
    let mining_spk = a.mining_address().script_pubkey();
    let vout = coinbase.output.iter().position(|o| o.script_pubkey == mining_spk).unwrap();
    let spend = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(coinbase.compute_txid(), vout as u32),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[op_true_script().into_bytes()]),
            ..Default::default()
        }],
        output: vec![TxOut {
            value: coinbase.output[vout].value - Amount::from_sat(1_000),
            script_pubkey: address.script_pubkey(),
        }],
    };
    let txid = a.send_raw_tx(&spend).unwrap();
    assert_eq!(txid, spend.compute_txid());
    a.wait_for_tx_in_mempool(&txid, Duration::from_secs(10)).unwrap();
    assert_eq!(a.get_raw_mempool().unwrap(), vec![txid]);
    // Not relayed to `b`: the instances are not connected.
    assert!(b.get_raw_mempool().unwrap().is_empty());
    a.mine(1).unwrap();
    assert!(a.get_raw_mempool().unwrap().is_empty());
    assert_eq!(gettxout(&a, &txid, 0)["confirmations"], serde_json::json!(1));

    // Rejections and timeouts explain themselves.
    let err = a.send_raw_tx(&spend).unwrap_err().to_string();
    assert!(err.contains("sendrawtransaction"), "{err}");
    let missing = Txid::all_zeros();
    let err = a.wait_for_tx_in_mempool(&missing, Duration::from_millis(200)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "timed out after 0.2s waiting for transaction {missing} to enter bitcoind's mempool"
        )
    );

    // Drop kills the process and deletes the data directory.
    let pid_a = a.pid().unwrap();
    let datadir_a: PathBuf = a.datadir().to_path_buf();
    assert!(alive(pid_a));
    drop(a);
    assert!(!alive(pid_a), "bitcoind {pid_a} still alive after drop");
    assert!(!datadir_a.exists());

    // stop() stops it, is idempotent, and drop afterwards is harmless.
    let pid_b = b.pid().unwrap();
    b.stop();
    assert_eq!(b.pid(), None);
    assert!(!alive(pid_b), "bitcoind {pid_b} still alive after stop");
    assert!(b.height().is_err());
    b.stop();
    drop(b);
}
