//! The on-chain wallet as LDK's source of coins for fee bumps of anchor channels
//! ([`WalletSourceSync`]): when a force close needs its commitment pushed (CPFP through the
//! anchor output) or its HTLC transactions paid for, LDK's `BumpTransactionEventHandlerSync`
//! picks confirmed wallet coins, asks for a change script, and has the wallet sign its inputs
//! (LDK signs the anchor and HTLC inputs itself).

use bdk_wallet::chain::ChainPosition;
use bdk_wallet::{KeychainKind, SignOptions};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::{ScriptBuf, Transaction, WPubkeyHash};
use lightning::events::bump_transaction::sync::WalletSourceSync;
use lightning::events::bump_transaction::Utxo;

use super::OnchainWallet;

/// The wallet's P2WPKH (BIP 84) output as LDK's coin, with its satisfaction weight; `None` for
/// any other script (the wallet has none).
fn utxo_of(outpoint: bitcoin::OutPoint, txout: &bitcoin::TxOut) -> Option<Utxo> {
    let spk = &txout.script_pubkey;
    if !spk.is_p2wpkh() {
        return None;
    }
    let hash = WPubkeyHash::from_byte_array(spk.as_bytes()[2..22].try_into().ok()?);
    Some(Utxo::new_v0_p2wpkh(outpoint, txout.value, &hash))
}

impl WalletSourceSync for OnchainWallet {
    fn list_confirmed_utxos(&self) -> Result<Vec<Utxo>, ()> {
        let inner = self.inner.lock().unwrap();
        let all: Vec<_> = inner.wallet.list_unspent().collect();
        let coins: Vec<Utxo> = all
            .iter()
            .filter(|u| matches!(u.chain_position, ChainPosition::Confirmed { .. }))
            .filter_map(|u| utxo_of(u.outpoint, &u.txout))
            .collect();
        tracing::debug!(unspent = all.len(), coins = coins.len(), "coins for a fee bump");
        Ok(coins)
    }

    fn get_change_script(&self) -> Result<ScriptBuf, ()> {
        let mut inner = self.inner.lock().unwrap();
        let info = inner.wallet.reveal_next_address(KeychainKind::Internal);
        inner.persist().map_err(|e| tracing::error!("fee bump change address: {e}"))?;
        Ok(info.address.script_pubkey())
    }

    fn sign_psbt(&self, mut psbt: Psbt) -> Result<Transaction, ()> {
        let inner = self.inner.lock().unwrap();
        // LDK fills `witness_utxo` only; BDK does not trust it unless told to.
        let options = SignOptions { trust_witness_utxo: true, ..Default::default() };
        // BDK finalizes the wallet's own inputs; LDK's (the anchor, the HTLC outputs) stay
        // unsigned here and LDK signs them after.
        if let Err(e) = inner.wallet.sign(&mut psbt, options) {
            tracing::error!("signing a fee bump's wallet inputs failed: {e}");
            return Err(());
        }
        Ok(psbt.extract_tx_unchecked_fee_rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_p2wpkh_outputs_are_coins_with_their_weight() {
        let hash = WPubkeyHash::from_byte_array([7; 20]);
        let out = bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(50_000),
            script_pubkey: ScriptBuf::new_p2wpkh(&hash),
        };
        let op = bitcoin::OutPoint::null();
        let utxo = utxo_of(op, &out).expect("a P2WPKH coin");
        assert_eq!(utxo.output, out);
        assert_eq!(
            utxo.satisfaction_weight,
            Utxo::new_v0_p2wpkh(op, out.value, &hash).satisfaction_weight
        );
        let other = bitcoin::TxOut { script_pubkey: ScriptBuf::new_op_return([1]), ..out };
        assert!(utxo_of(op, &other).is_none());
    }
}
