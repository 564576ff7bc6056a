//! Closed channels: the store's record of each close (why, when, our balance then), with what
//! is still on its way back to the wallet: the claims LDK's monitor still waits on and the
//! sweeps of the outputs it handed over. The closing transaction is the one the chain listener
//! saw spend the channel's funding output ([`record_funding_spends`], as each block connects);
//! for blocks connected while the node was down (replayed at start-up without this listener)
//! the monitor's recent transactions are looked up when the list is read.

use bdk_bitcoind_rpc::bitcoincore_rpc::{self, RpcApi};
use bitcoin::{OutPoint, Txid};
use boltd_store::{CloseKind, ClosedChannelRecord};
use lightning::chain::channelmonitor::Balance;
use lightning::sign::SpendableOutputDescriptor;
use lightning::util::sweep::{OutputSpendStatus, TrackedSpendableOutput};

use super::*;

/// A closed channel, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClosedChannel {
    /// Channel id (hex).
    pub channel_id: String,
    /// The peer's node id, when known.
    pub counterparty_node_id: Option<String>,
    /// The channel's value in sat, when known.
    pub capacity_sat: Option<u64>,
    /// The funding outpoint (`txid:vout`), when it was funded.
    pub funding_txo: Option<String>,
    /// Why it closed: `cooperative`, `local_force_close`, `remote_force_close` or `abandoned`.
    pub close_kind: CloseKind,
    /// LDK's words for why.
    pub reason: String,
    /// Our balance in the channel when it closed (msat), when known.
    pub last_local_balance_msat: Option<u64>,
    /// When it closed (unix seconds).
    pub closed_at: u64,
    /// The transaction that spent the funding output, once seen confirmed.
    pub closing_txid: Option<String>,
    /// The height it confirmed at.
    pub closing_height: Option<u32>,
    /// Whether the peer broadcast a revoked state (a breach) that we are claiming.
    pub breach: bool,
    /// What LDK still waits to claim on chain for us, per output.
    pub pending_claims: Vec<PendingClaim>,
    /// Outputs handed to the sweeper, on their way to the wallet.
    pub sweeps: Vec<Sweep>,
    /// What is still on its way back (sat): pending claims and sweeps not yet confirmed.
    pub pending_sat: u64,
    /// Whether the funds are back: nothing left to claim and nothing left to sweep.
    pub settled: bool,
}

/// An amount LDK's monitor still waits on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingClaim {
    /// `awaiting_close_confirmation` (the closing transaction is not confirmed yet),
    /// `awaiting_confirmations` (claimable from `confirmation_height` on),
    /// `htlc_claimable_with_preimage`, `htlc_claimable_on_timeout`, `htlc_awaiting_preimage`
    /// or `revoked_output` (a breach's penalty).
    pub kind: &'static str,
    /// The amount (sat).
    pub amount_sat: u64,
    /// The height from which it can be spent, when known.
    pub confirmation_height: Option<u32>,
}

/// An output the sweeper sends to the wallet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sweep {
    /// The output's value (sat).
    pub amount_sat: u64,
    /// `pending_broadcast`, `broadcast` (awaiting its first confirmation), `confirming` (fewer
    /// than 6 confirmations) or `confirmed` (the funds are in the wallet; LDK keeps tracking
    /// the output for about four weeks of blocks).
    pub status: &'static str,
    /// The sweeping transaction, once broadcast.
    pub txid: Option<String>,
    /// The height the sweep confirmed at.
    pub confirmation_height: Option<u32>,
}

fn claim(b: &Balance) -> PendingClaim {
    let (kind, confirmation_height) = match b {
        Balance::ClaimableOnChannelClose { .. } => ("awaiting_close_confirmation", None),
        Balance::ClaimableAwaitingConfirmations { confirmation_height, .. } => {
            ("awaiting_confirmations", Some(*confirmation_height))
        }
        Balance::ContentiousClaimable { .. } => ("htlc_claimable_with_preimage", None),
        Balance::MaybeTimeoutClaimableHTLC { claimable_height, .. } => {
            ("htlc_claimable_on_timeout", Some(*claimable_height))
        }
        Balance::MaybePreimageClaimableHTLC { .. } => ("htlc_awaiting_preimage", None),
        Balance::CounterpartyRevokedOutputClaimable { .. } => ("revoked_output", None),
    };
    PendingClaim { kind, amount_sat: b.claimable_amount_satoshis(), confirmation_height }
}

/// Confirmations after which a sweep is final (LDK's `ANTI_REORG_DELAY`).
const SWEEP_FINAL_CONFIRMATIONS: u32 = lightning::chain::channelmonitor::ANTI_REORG_DELAY;

fn sweep(o: &TrackedSpendableOutput, tip_height: u32) -> Sweep {
    let amount_sat = match &o.descriptor {
        SpendableOutputDescriptor::StaticOutput { output, .. } => output.value.to_sat(),
        SpendableOutputDescriptor::DelayedPaymentOutput(d) => d.output.value.to_sat(),
        SpendableOutputDescriptor::StaticPaymentOutput(d) => d.output.value.to_sat(),
    };
    let (status, txid, confirmation_height) = match &o.status {
        OutputSpendStatus::PendingInitialBroadcast { .. } => ("pending_broadcast", None, None),
        OutputSpendStatus::PendingFirstConfirmation { latest_spending_tx, .. } => {
            ("broadcast", Some(latest_spending_tx.compute_txid().to_string()), None)
        }
        OutputSpendStatus::PendingThresholdConfirmations {
            latest_spending_tx,
            confirmation_height,
            ..
        } => {
            let confirmations = tip_height.saturating_sub(*confirmation_height).saturating_add(1);
            let status =
                if confirmations >= SWEEP_FINAL_CONFIRMATIONS { "confirmed" } else { "confirming" };
            (
                status,
                Some(latest_spending_tx.compute_txid().to_string()),
                Some(*confirmation_height),
            )
        }
    };
    Sweep { amount_sat, status, txid, confirmation_height }
}

impl Node {
    /// The closed channels, the most recently closed first, with what is still on its way back
    /// to the wallet. Looks up (once) the closing transaction of those that do not have it yet.
    pub async fn closed_channels(&self) -> NodeResult<Vec<ClosedChannel>> {
        let store = Arc::clone(&self.store);
        let mut records = blocking(move || Ok(store.closed_channels()?)).await?;
        let unknown: Vec<_> =
            records.iter().filter(|r| r.closing_txid.is_none()).map(|r| r.channel_id).collect();
        if !unknown.is_empty() {
            self.find_closing_txs(&unknown).await?;
            let store = Arc::clone(&self.store);
            records = blocking(move || Ok(store.closed_channels()?)).await?;
        }
        let sweeps = self.sweeper.tracked_spendable_outputs();
        let tip_height = self.sweeper.current_best_block().height;
        Ok(records.into_iter().map(|r| self.closed_view(r, &sweeps, tip_height)).collect())
    }

    fn closed_view(
        &self,
        r: ClosedChannelRecord,
        tracked: &[TrackedSpendableOutput],
        tip_height: u32,
    ) -> ClosedChannel {
        let id = ChannelId(r.channel_id);
        let balances = match self.chain_monitor.get_monitor(id) {
            Ok(m) => m.get_claimable_balances(),
            Err(()) => Vec::new(),
        };
        let pending_claims: Vec<_> = balances.iter().map(claim).collect();
        let sweeps: Vec<_> = tracked
            .iter()
            .filter(|o| o.channel_id == Some(id))
            .map(|o| sweep(o, tip_height))
            .collect();
        let unswept = sweeps.iter().filter(|s| s.status != "confirmed");
        let pending_sat = pending_claims
            .iter()
            .map(|c| c.amount_sat)
            .chain(unswept.clone().map(|s| s.amount_sat))
            .fold(0u64, u64::saturating_add);
        // An abandoned channel has nothing on chain: it is settled once recorded.
        let settled = pending_claims.is_empty()
            && unswept.count() == 0
            && (r.closing_txid.is_some() || r.kind == CloseKind::Abandoned);
        ClosedChannel {
            channel_id: hex::encode(r.channel_id),
            counterparty_node_id: r.counterparty_node_id,
            capacity_sat: r.capacity_sat,
            funding_txo: r.funding_txo,
            close_kind: r.kind,
            reason: r.reason,
            last_local_balance_msat: r.last_local_balance_msat,
            closed_at: r.closed_at,
            closing_txid: r.closing_txid,
            closing_height: r.closing_height,
            breach: balances
                .iter()
                .any(|b| matches!(b, Balance::CounterpartyRevokedOutputClaimable { .. })),
            pending_claims,
            sweeps,
            pending_sat,
            settled,
        }
    }

    /// For each channel of `channel_ids` whose monitor has seen a confirmed transaction spend
    /// its funding output, records that transaction as the closing one.
    async fn find_closing_txs(&self, channel_ids: &[[u8; 32]]) -> NodeResult<()> {
        let mut candidates = Vec::new();
        for id in channel_ids {
            let Ok(monitor) = self.chain_monitor.get_monitor(ChannelId(*id)) else { continue };
            let funding = monitor.get_funding_txo().into_bitcoin_outpoint();
            for (txid, height, hash) in monitor.get_relevant_txids() {
                if let (true, Some(hash)) = (txid != funding.txid, hash) {
                    candidates.push((*id, funding, txid, height, hash));
                }
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let auth = crate::chain::BitcoindAuth::from_config(&self.config)?;
        let store = Arc::clone(&self.store);
        blocking(move || {
            let client = auth.blocking_client()?;
            for (id, funding, txid, height, hash) in candidates {
                if spends(&client, txid, hash, funding)? {
                    store.record_funding_spend(&id, &txid.to_string(), height)?;
                }
            }
            Ok(())
        })
        .await
    }
}

/// Records every transaction of a connected block that spends the funding output of a channel
/// LDK monitors (the closing transaction of a closed or closing channel). Called by the chain
/// listener after LDK's parts have seen the block; a store failure is the store's fail-stop.
pub(super) fn record_funding_spends(
    chain_monitor: &ChainMonitor,
    store: &Store,
    txdata: &lightning::chain::transaction::TransactionData,
    height: u32,
) {
    if txdata.is_empty() {
        return;
    }
    let fundings: std::collections::HashMap<OutPoint, ChannelId> = chain_monitor
        .list_monitors()
        .into_iter()
        .filter_map(|id| {
            let m = chain_monitor.get_monitor(id).ok()?;
            let funding = m.get_funding_txo().into_bitcoin_outpoint();
            Some((funding, id))
        })
        .collect();
    if fundings.is_empty() {
        return;
    }
    for (_, tx) in txdata {
        for input in &tx.input {
            if let Some(id) = fundings.get(&input.previous_output) {
                let txid = tx.compute_txid().to_string();
                tracing::info!(channel_id = %id, %txid, height, "channel funding output spent");
                if let Err(e) = store.record_funding_spend(&id.0, &txid, height) {
                    tracing::error!("recording the closing transaction {txid} failed: {e}");
                }
            }
        }
    }
}

/// Whether the confirmed transaction `txid` (in block `hash`) spends `outpoint`.
fn spends(
    client: &bitcoincore_rpc::Client,
    txid: Txid,
    hash: BlockHash,
    outpoint: OutPoint,
) -> NodeResult<bool> {
    let tx = client
        .get_raw_transaction(&txid, Some(&hash))
        .map_err(|e| NodeError::Chain(format!("reading transaction {txid}: {e}")))?;
    Ok(tx.input.iter().any(|i| i.previous_output == outpoint))
}
