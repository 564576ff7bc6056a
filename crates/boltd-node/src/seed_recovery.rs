//! Channel funds from the seed alone: what a peer's force close paid us.
//!
//! boltd's `KeysManager` uses LDK's v2 remote-key derivation: in every channel it opens or
//! accepts, our output of the peer's commitment transaction (static remote key, no anchors: a
//! P2WPKH output, spendable at once) pays to one of [`STATIC_PAYMENT_KEY_COUNT`] keys derived
//! from the seed alone. A node that lost its channel state (a seed-only restore) can therefore
//! get those funds back once the peers close: it scans bitcoind's UTXO set for the scripts
//! (`scantxoutset`) and sweeps what it finds to its wallet. What it cannot get back: our own
//! commitment's outputs (we can no longer broadcast it safely), HTLCs in flight, and anything of
//! a peer that never closes.

use bdk_bitcoind_rpc::bitcoincore_rpc::{self, json::ScanTxOutRequest, RpcApi};
use bitcoin::absolute::LockTime;
use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Witness,
};
use lightning::sign::STATIC_PAYMENT_KEY_COUNT;
use serde::Serialize;

use crate::error::{NodeError, NodeResult};

/// LDK's `KeysManager` derives its static payment keys from this child of its master key.
const STATIC_PAYMENT_KEY_INDEX: u32 = 8;

/// What a scan found and swept.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RecoveredFunds {
    /// Outputs to our static payment keys found unspent.
    pub outputs: usize,
    /// Their value (sat).
    pub amount_sat: u64,
    /// The sweep to the wallet, when there was something to sweep.
    pub txid: Option<String>,
    /// Its fee (sat).
    pub fee_sat: u64,
}

/// The static payment keys and their P2WPKH scripts (as `KeysManager` derives them from the
/// 32-byte LDK seed).
pub fn static_payment_keys(ldk_seed: &[u8; 32]) -> NodeResult<Vec<(ScriptBuf, SecretKey)>> {
    let secp = Secp256k1::new();
    let err = |e: bitcoin::bip32::Error| NodeError::Wallet(e.to_string());
    // LDK derives with `Network::Testnet` (the network does not change the keys).
    let master = Xpriv::new_master(Network::Testnet, ldk_seed).map_err(err)?;
    let base = master
        .derive_priv(
            &secp,
            &[ChildNumber::from_hardened_idx(STATIC_PAYMENT_KEY_INDEX).map_err(err)?],
        )
        .map_err(err)?;
    (0..u32::from(STATIC_PAYMENT_KEY_COUNT))
        .map(|i| {
            let key = base
                .derive_priv(&secp, &[ChildNumber::from_hardened_idx(i).map_err(err)?])
                .map_err(err)?
                .private_key;
            let pubkey = CompressedPublicKey(PublicKey::from_secret_key(&secp, &key));
            Ok((ScriptBuf::new_p2wpkh(&pubkey.wpubkey_hash()), key))
        })
        .collect()
}

/// Scans the UTXO set for outputs to `keys` and sweeps them to `destination` at
/// `fee_sat_per_kwu`, broadcasting through `client`.
pub fn sweep(
    client: &bitcoincore_rpc::Client,
    keys: &[(ScriptBuf, SecretKey)],
    destination: ScriptBuf,
    fee_sat_per_kwu: u32,
) -> NodeResult<RecoveredFunds> {
    let chain = |e: bitcoincore_rpc::Error| NodeError::Chain(format!("scantxoutset: {e}"));
    let requests: Vec<ScanTxOutRequest> = keys
        .iter()
        .map(|(spk, _)| ScanTxOutRequest::Single(format!("raw({})", spk.to_hex_string())))
        .collect();
    let found = client.scan_tx_out_set_blocking(&requests).map_err(chain)?;
    let mut report = RecoveredFunds { outputs: found.unspents.len(), ..Default::default() };
    if found.unspents.is_empty() {
        return Ok(report);
    }
    let total: Amount = found.unspents.iter().map(|u| u.amount).sum();
    report.amount_sat = total.to_sat();
    // P2WPKH inputs (~272 WU each), one P2WPKH output, the transaction's overhead.
    let weight = 44 + 124 + 272 * found.unspents.len() as u64;
    let fee = (weight * u64::from(fee_sat_per_kwu)).div_ceil(1000).max(weight.div_ceil(4));
    let Some(value) = total.to_sat().checked_sub(fee).filter(|v| *v > 546) else {
        return Err(NodeError::InsufficientFunds {
            needed_sat: fee + 546,
            available_sat: total.to_sat(),
            reserve_sat: 0,
        });
    };
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: found
            .unspents
            .iter()
            .map(|u| TxIn {
                previous_output: OutPoint::new(u.txid, u.vout),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                ..Default::default()
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(value), script_pubkey: destination }],
    };
    let secp = Secp256k1::new();
    let mut witnesses = Vec::with_capacity(found.unspents.len());
    {
        let mut cache = SighashCache::new(&tx);
        for (i, u) in found.unspents.iter().enumerate() {
            let key =
                keys.iter().find(|(spk, _)| *spk == u.script_pub_key).map(|(_, k)| *k).ok_or_else(
                    || NodeError::Wallet("scantxoutset answered a script we did not ask".into()),
                )?;
            let hash = cache
                .p2wpkh_signature_hash(i, &u.script_pub_key, u.amount, EcdsaSighashType::All)
                .map_err(|e| NodeError::Wallet(e.to_string()))?;
            let sig = secp.sign_ecdsa(&Message::from(hash), &key);
            let sig = bitcoin::ecdsa::Signature::sighash_all(sig);
            witnesses.push(Witness::p2wpkh(&sig, &PublicKey::from_secret_key(&secp, &key)));
        }
    }
    for (input, witness) in tx.input.iter_mut().zip(witnesses) {
        input.witness = witness;
    }
    let txid = client.send_raw_transaction(&tx).map_err(|e| NodeError::TransactionRejected {
        txid: tx.compute_txid().to_string(),
        reason: e.to_string(),
    })?;
    report.txid = Some(txid.to_string());
    report.fee_sat = fee;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_the_ones_ldk_pays_a_peers_force_close_to() {
        let seed = [7u8; 32];
        let ldk = lightning::sign::KeysManager::new(&seed, 1, 2, true)
            .possible_v2_counterparty_closed_balance_spks(&Secp256k1::new());
        let ours = static_payment_keys(&seed).unwrap();
        assert_eq!(ours.len(), usize::from(STATIC_PAYMENT_KEY_COUNT));
        for (i, (spk, _)) in ours.iter().enumerate() {
            // LDK lists, per key, the static-remote-key script then the anchors one.
            assert_eq!(*spk, ldk[2 * i], "key {i}");
        }
    }
}
