//! The wallet's part in a splice-in (see `node::splice`): the confirmed coins that pay for it,
//! the change script, and the signatures of those coins once LDK has built the transaction.
//!
//! The chosen coins are not locked while the splice is negotiated (seconds): an on-chain send
//! in that window could pick one too, and the second of the two transactions to reach
//! bitcoind would be refused. Once signed, the splice transaction is applied to the wallet as
//! unconfirmed, so its coins are spent for every later choice.

use bdk_wallet::chain::ChainPosition;
use bdk_wallet::{KeychainKind, SignOptions};
use bitcoin::psbt::Psbt;
use bitcoin::{ScriptBuf, Transaction};
use lightning::ln::funding::FundingTxInput;

use super::{now_secs, OnchainWallet};
use crate::error::{NodeError, NodeResult};

/// Weight of a splice transaction without the wallet's inputs (the shared input and output,
/// the change), rounded up: enough for the fee the coins must cover with a margin.
const SPLICE_BASE_WEIGHT: u64 = 1_200;
/// Weight of a P2WPKH input, rounded up.
const P2WPKH_INPUT_WEIGHT: u64 = 280;

impl OnchainWallet {
    /// Confirmed coins worth at least `amount_sat` and the splice's fee at `fee_rate_sat_per_kwu`
    /// (largest first), as LDK's splice inputs, and a change script.
    pub(crate) fn splice_inputs(
        &self,
        amount_sat: u64,
        fee_rate_sat_per_kwu: u32,
    ) -> NodeResult<(Vec<FundingTxInput>, ScriptBuf)> {
        let mut inner = self.inner.lock().unwrap();
        let mut coins: Vec<_> = inner
            .wallet
            .list_unspent()
            .filter(|u| matches!(u.chain_position, ChainPosition::Confirmed { .. }))
            .filter(|u| u.txout.script_pubkey.is_p2wpkh())
            .collect();
        coins.sort_by_key(|u| std::cmp::Reverse(u.txout.value));
        let (mut inputs, mut total, mut weight) = (Vec::new(), 0u64, SPLICE_BASE_WEIGHT);
        for coin in coins {
            let fee = weight.saturating_mul(u64::from(fee_rate_sat_per_kwu)).div_ceil(1000);
            if total >= amount_sat.saturating_add(fee) {
                break;
            }
            let tx = inner
                .wallet
                .get_tx(coin.outpoint.txid)
                .map(|t| (*t.tx_node.tx).clone())
                .ok_or_else(|| {
                    NodeError::Wallet(format!("coin {} has no transaction", coin.outpoint))
                })?;
            let input = FundingTxInput::new_p2wpkh(tx, coin.outpoint.vout)
                .map_err(|()| NodeError::Wallet(format!("coin {} is not P2WPKH", coin.outpoint)))?;
            inputs.push(input);
            total = total.saturating_add(coin.txout.value.to_sat());
            weight = weight.saturating_add(P2WPKH_INPUT_WEIGHT);
        }
        let fee = weight.saturating_mul(u64::from(fee_rate_sat_per_kwu)).div_ceil(1000);
        let needed = amount_sat.saturating_add(fee);
        if total < needed {
            return Err(NodeError::InsufficientFunds {
                needed_sat: needed,
                available_sat: total,
                reserve_sat: 0,
            });
        }
        let change = inner.wallet.reveal_next_address(KeychainKind::Internal).address;
        inner.persist()?;
        Ok((inputs, change.script_pubkey()))
    }

    /// Signs the wallet's inputs of a splice transaction LDK built (LDK signs the channel's
    /// shared input), and records it as an unconfirmed spend of those coins. A transaction
    /// with none of the wallet's coins is returned as it is.
    pub(crate) fn sign_splice(&self, unsigned: Transaction) -> NodeResult<Transaction> {
        let mut inner = self.inner.lock().unwrap();
        let mut psbt = Psbt::from_unsigned_tx(unsigned.clone())
            .map_err(|e| NodeError::Wallet(format!("splice transaction: {e}")))?;
        let mut ours = 0;
        for (i, txin) in unsigned.input.iter().enumerate() {
            if let Some(utxo) = inner.wallet.get_utxo(txin.previous_output) {
                psbt.inputs[i] = inner
                    .wallet
                    .get_psbt_input(utxo, None, true)
                    .map_err(|e| NodeError::Wallet(format!("splice input: {e}")))?;
                ours += 1;
            }
        }
        if ours == 0 {
            return Ok(unsigned);
        }
        let options = SignOptions { trust_witness_utxo: true, ..Default::default() };
        inner
            .wallet
            .sign(&mut psbt, options)
            .map_err(|e| NodeError::Wallet(format!("signing the splice's coins: {e}")))?;
        let tx = match psbt.extract_tx() {
            Ok(tx) => tx,
            // The shared input's value is not in the PSBT: expected.
            Err(bitcoin::psbt::ExtractTxError::MissingInputValue { tx }) => tx,
            Err(e) => return Err(NodeError::Wallet(format!("the signed splice: {e}"))),
        };
        inner.wallet.apply_unconfirmed_txs([(tx.clone(), now_secs())]);
        inner.persist()?;
        Ok(tx)
    }
}
