//! The on-chain wallet through the node: addresses, balances, sends, sync, fee rates, message
//! signing, outputs and transactions.

use super::*;

/// Balances of the node.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balances {
    /// On-chain wallet.
    pub onchain: OnchainBalance,
    /// What we would get on chain for our channels now (claimable, in satoshis).
    pub lightning_sat: u64,
    /// What we can send over Lightning now, in msat.
    pub lightning_spendable_msat: u64,
    /// Of the on-chain balance, what is kept to fee-bump the force close of anchor channels
    /// (sends and channel opens leave it alone), in sat.
    pub anchor_reserve_sat: u64,
}

impl Node {
    /// A new on-chain receive address (persisted before it is returned).
    pub async fn new_address(&self) -> NodeResult<String> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.new_address().map(|a| a.to_string())).await
    }

    /// On-chain and Lightning balances.
    pub fn balances(&self) -> Balances {
        let lightning_sat = self
            .chain_monitor
            .get_claimable_balances(&[])
            .iter()
            .map(|b| b.claimable_amount_satoshis())
            .sum();
        let spendable = self
            .channel_manager
            .list_usable_channels()
            .iter()
            .map(|c| c.outbound_capacity_msat)
            .sum();
        Balances {
            onchain: self.wallet.balance(),
            lightning_sat,
            lightning_spendable_msat: spendable,
            anchor_reserve_sat: self.anchor_reserve_sat(),
        }
    }

    /// Sends on chain as `req` says (a send, a drain or a send to many). With an idempotency
    /// `key`, the same request returns the first send and a different one is
    /// [`NodeError::IdempotencyConflict`]; see [`crate::wallet::SendRequest`].
    pub async fn send_onchain(
        &self,
        req: crate::wallet::SendRequest,
        key: Option<String>,
    ) -> NodeResult<crate::wallet::OnchainSent> {
        let w = Arc::clone(&self.wallet);
        let reserve_sat = self.anchor_reserve_sat();
        blocking(move || w.send_request(&req, key.as_deref(), reserve_sat)).await
    }

    /// The signed transaction of an on-chain send recorded by [`Node::send_onchain`].
    pub async fn onchain_send_tx(
        &self,
        txid: bitcoin::Txid,
    ) -> NodeResult<Option<bitcoin::Transaction>> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.recorded_send_tx(&txid)).await
    }

    /// Syncs the on-chain wallet now (a round of the sync loop that starts after this call)
    /// and returns the height it has synced to.
    pub async fn sync_wallet(&self) -> NodeResult<u32> {
        let w = Arc::clone(&self.wallet);
        blocking(move || w.sync_now(crate::wallet::SYNC_NOW_TIMEOUT)).await
    }

    /// On-chain fee rates for apps (fast, regular, slow), from bitcoind's cached estimates.
    pub fn onchain_fee_rates(&self) -> crate::chain::OnchainFeeRates {
        self.fees.onchain_fee_rates()
    }

    /// Signs `message` with the node key, the way LND and Core Lightning's `signmessage` do:
    /// zbase32 of a recoverable signature over `sha256d("Lightning Signed Message:" + message)`.
    pub fn sign_message(&self, message: &[u8]) -> NodeResult<String> {
        self.keys_manager
            .sign_message(message)
            .map_err(|()| NodeError::Lightning("the node key could not sign".into()))
    }

    /// The node id that signed `message` with `signature` (zbase32, as [`Node::sign_message`]
    /// makes). Fails with [`NodeError::InvalidInput`] if the signature cannot be decoded; a
    /// signature of another message recovers another key.
    pub fn recover_signer(message: &[u8], signature: &str) -> NodeResult<PublicKey> {
        lightning::util::message_signing::recover_pk(message, signature.trim()).map_err(|_| {
            NodeError::InvalidInput(
                "signature is not a zbase32 recoverable signature (LND/Core Lightning format)"
                    .into(),
            )
        })
    }

    /// Unspent outputs.
    pub fn list_utxos(&self) -> Vec<Utxo> {
        self.wallet.list_utxos()
    }

    /// Wallet transactions.
    pub fn list_transactions(&self) -> Vec<WalletTransaction> {
        self.wallet.list_transactions()
    }
}

impl Node {
    /// Sweeps to the wallet what peers' force closes paid to the keys the seed alone derives
    /// (see [`crate::seed_recovery`]): after a seed-only restore, once the peers have closed.
    pub async fn recover_channel_funds(&self) -> NodeResult<crate::seed_recovery::RecoveredFunds> {
        let data_dir = self.config.data_dir.clone();
        let network = self.config.network;
        let auth = BitcoindAuth::from_config(&self.config)?;
        let wallet = Arc::clone(&self.wallet);
        let fee = self
            .fees
            .sat_per_kwu(lightning::chain::chaininterface::ConfirmationTarget::OutputSpendingFee);
        blocking(move || {
            let seed = Seed::read(&data_dir)?.ok_or_else(|| NodeError::UnreadableState {
                what: "seed",
                path: Seed::path(&data_dir),
                reason: "missing".into(),
            })?;
            let keys = crate::seed_recovery::static_payment_keys(&seed.ldk_seed(network)?)?;
            let destination = wallet.new_address()?.script_pubkey();
            crate::seed_recovery::sweep(&auth.blocking_client()?, &keys, destination, fee)
        })
        .await
    }
}
