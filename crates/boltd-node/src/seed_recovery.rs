//! Channel funds from the seed alone: what a peer's force close paid us.
//!
//! boltd's `KeysManager` uses LDK's v2 remote-key derivation: in every channel it opens or
//! accepts, our output of the peer's commitment transaction pays to one of
//! [`STATIC_PAYMENT_KEY_COUNT`] keys derived from the seed alone: a P2WPKH output spendable at
//! once in a static-remote-key channel, a P2WSH output (`<key> OP_CHECKSIGVERIFY 1 OP_CSV`)
//! spendable after one confirmation in an anchor channel. Both are looked for. A node that lost its channel state (a seed-only restore) can therefore
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

/// How an output to a static payment key is spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentScript {
    /// A static-remote-key channel's output: P2WPKH.
    Wpkh,
    /// An anchor channel's output: P2WSH of this witness script (one block's CSV).
    AnchorWsh(ScriptBuf),
}

/// An output script our static payment keys can be paid to, with its key.
pub type PaymentKey = (ScriptBuf, SecretKey, PaymentScript);

/// The static payment keys and the scripts a peer's force close pays them with, static remote
/// key (P2WPKH) and anchors (P2WSH), as `KeysManager` derives them from the 32-byte LDK seed.
pub fn static_payment_keys(ldk_seed: &[u8; 32]) -> NodeResult<Vec<PaymentKey>> {
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
            let pubkey = PublicKey::from_secret_key(&secp, &key);
            let wpkh = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pubkey).wpubkey_hash());
            let witness_script =
                lightning::ln::chan_utils::get_to_countersigner_keyed_anchor_redeemscript(&pubkey);
            let wsh = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
            Ok([
                (wpkh, key, PaymentScript::Wpkh),
                (wsh, key, PaymentScript::AnchorWsh(witness_script)),
            ])
        })
        .collect::<NodeResult<Vec<_>>>()
        .map(|pairs| pairs.into_iter().flatten().collect())
}

/// Scans the UTXO set for outputs to `keys` and sweeps them to `destination` at
/// `fee_sat_per_kwu`, broadcasting through `client`.
pub fn sweep(
    client: &bitcoincore_rpc::Client,
    keys: &[PaymentKey],
    destination: ScriptBuf,
    fee_sat_per_kwu: u32,
) -> NodeResult<RecoveredFunds> {
    let chain = |e: bitcoincore_rpc::Error| NodeError::Chain(format!("scantxoutset: {e}"));
    let requests: Vec<ScanTxOutRequest> = keys
        .iter()
        .map(|(spk, ..)| ScanTxOutRequest::Single(format!("raw({})", spk.to_hex_string())))
        .collect();
    let found = client.scan_tx_out_set_blocking(&requests).map_err(chain)?;
    let mut report = RecoveredFunds { outputs: found.unspents.len(), ..Default::default() };
    if found.unspents.is_empty() {
        return Ok(report);
    }
    let total: Amount = found.unspents.iter().map(|u| u.amount).sum();
    report.amount_sat = total.to_sat();
    // Inputs (P2WPKH ~272 WU, anchors' P2WSH ~314 WU: 320 each), one P2WPKH output, the
    // transaction's overhead.
    let weight = 44 + 124 + 320 * found.unspents.len() as u64;
    let fee = (weight * u64::from(fee_sat_per_kwu)).div_ceil(1000).max(weight.div_ceil(4));
    let Some(value) = total.to_sat().checked_sub(fee).filter(|v| *v > 546) else {
        return Err(NodeError::InsufficientFunds {
            needed_sat: fee + 546,
            available_sat: total.to_sat(),
            reserve_sat: 0,
        });
    };
    let spent: Vec<(&PaymentKey, &bitcoincore_rpc::json::Utxo)> = found
        .unspents
        .iter()
        .map(|u| {
            keys.iter().find(|(spk, ..)| *spk == u.script_pub_key).map(|k| (k, u)).ok_or_else(
                || NodeError::Wallet("scantxoutset answered a script we did not ask".into()),
            )
        })
        .collect::<NodeResult<_>>()?;
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: spent
            .iter()
            .map(|((_, _, how), u)| TxIn {
                previous_output: OutPoint::new(u.txid, u.vout),
                // An anchor channel's output is spendable one block after its close (CSV 1).
                sequence: match how {
                    PaymentScript::Wpkh => Sequence::ENABLE_RBF_NO_LOCKTIME,
                    PaymentScript::AnchorWsh(_) => Sequence::from_height(1),
                },
                ..Default::default()
            })
            .collect(),
        output: vec![TxOut { value: Amount::from_sat(value), script_pubkey: destination }],
    };
    let secp = Secp256k1::new();
    let mut witnesses = Vec::with_capacity(spent.len());
    {
        let mut cache = SighashCache::new(&tx);
        let hash_err = |e: bitcoin::sighash::P2wpkhError| NodeError::Wallet(e.to_string());
        for (i, ((spk, key, how), u)) in spent.iter().enumerate() {
            let witness = match how {
                PaymentScript::Wpkh => {
                    let hash = cache
                        .p2wpkh_signature_hash(i, spk, u.amount, EcdsaSighashType::All)
                        .map_err(hash_err)?;
                    let sig = bitcoin::ecdsa::Signature::sighash_all(
                        secp.sign_ecdsa(&Message::from(hash), key),
                    );
                    Witness::p2wpkh(&sig, &PublicKey::from_secret_key(&secp, key))
                }
                PaymentScript::AnchorWsh(script) => {
                    let hash = cache
                        .p2wsh_signature_hash(i, script, u.amount, EcdsaSighashType::All)
                        .map_err(|e| NodeError::Wallet(e.to_string()))?;
                    let sig = bitcoin::ecdsa::Signature::sighash_all(
                        secp.sign_ecdsa(&Message::from(hash), key),
                    );
                    Witness::from_slice(&[sig.to_vec(), script.to_bytes()])
                }
            };
            witnesses.push(witness);
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
        assert_eq!(ours.len(), 2 * usize::from(STATIC_PAYMENT_KEY_COUNT));
        // LDK lists, per key, the static-remote-key script then the anchors one: so do we.
        for (i, (spk, ..)) in ours.iter().enumerate() {
            assert_eq!(*spk, ldk[i], "script {i}");
        }
    }
}
