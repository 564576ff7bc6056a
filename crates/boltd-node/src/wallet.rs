//! The on-chain wallet: BDK with BIP84 descriptors from the node's seed, persisted in the node's
//! SQLite database (BDK's own `bdk_*` tables, through a second connection), synced from bitcoind
//! with `bdk_bitcoind_rpc`.
//!
//! Every change is persisted before it is shown or sent: a new address is stored before it is
//! returned, and a transaction we create is recorded as unconfirmed before it is broadcast, with
//! its send and the client's idempotency key (`wallet/sends.rs`): marked evicted if bitcoind refuses it,
//! kept when its answer is unknown (a timeout) until bitcoind's mempool and blocks settle it.

mod bump;
mod db;
mod sends;
mod splice;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bdk_bitcoind_rpc::bitcoincore_rpc::RpcApi;
use bdk_bitcoind_rpc::Emitter;
use bdk_wallet::chain::ChainPosition;
use bdk_wallet::error::CreateTxError;
use bdk_wallet::template::Bip84;
use bdk_wallet::{KeychainKind, PersistedWallet, SignOptions, Wallet};
use bitcoin::{Address, Amount, FeeRate, Network, ScriptBuf, Transaction, Txid};
use lightning::chain::chaininterface::ConfirmationTarget;
use lightning::sign::ChangeDestinationSourceSync;
use serde::{Deserialize, Serialize};

use crate::chain::{BitcoindAuth, FeeEstimates};
use crate::error::{NodeError, NodeResult};
use crate::failstop::{FailStop, FatalKind};
use crate::keys::Seed;
pub use db::{WalletDb, WalletDbError};
pub use sends::{OnchainSent, SendRequest, EVICTION_GRACE_SECS};

/// On-chain balances in satoshis.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = OnchainWalletBalance)]
pub struct OnchainBalance {
    /// Confirmed and spendable.
    pub confirmed_sat: u64,
    /// Unconfirmed outputs of our own transactions (change).
    pub trusted_pending_sat: u64,
    /// Unconfirmed outputs from others.
    pub untrusted_pending_sat: u64,
    /// Coinbase outputs not yet mature.
    pub immature_sat: u64,
}

/// One unspent output of the wallet.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = UtxoInfo)]
pub struct Utxo {
    /// `txid:vout`.
    pub outpoint: String,
    /// Value in satoshis.
    pub amount_sat: u64,
    /// Confirmation height, if confirmed.
    pub confirmation_height: Option<u32>,
    /// The output's scriptPubKey (hex).
    pub script_pubkey: String,
    /// The output's address, if its script has one.
    pub address: Option<String>,
}

/// One wallet transaction (with barkd's `WalletTxInfo` fields).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = WalletTxInfo)]
pub struct WalletTransaction {
    /// Transaction id.
    pub txid: String,
    /// What the wallet received in it, in satoshis.
    pub received_sat: u64,
    /// What the wallet spent in it, in satoshis.
    pub sent_sat: u64,
    /// Fee in satoshis, when all inputs are ours.
    pub fee_sat: Option<u64>,
    /// Confirmation height, if confirmed.
    pub confirmation_height: Option<u32>,
    /// The raw transaction (consensus hex).
    pub tx: String,
    /// `received_sat - sent_sat`: positive inbound, negative outbound.
    pub balance_change_sat: i64,
    /// The fee again, under barkd's name.
    pub onchain_fee_sat: Option<u64>,
    /// The block that confirmed it, if any.
    pub confirmation: Option<BlockRef>,
    /// Whether it is a CPFP child of an anchor output: never, boltd's channels have no anchors.
    pub is_cpfp: bool,
}

/// A block: height and hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlockRef {
    /// Height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
}

/// The highest fee rate an on-chain send accepts, in sat/vB: bitcoind's default `-maxfeerate`
/// (0.1 BTC/kvB), above which `sendrawtransaction` refuses the transaction anyway. Higher is a
/// 400 before anything is built (the fee arithmetic would overflow far above it).
pub const MAX_FEE_RATE_SAT_PER_VB: u64 = 10_000;

/// Checks the amounts of an on-chain send before anything is built: each positive, each and
/// their sum at most 21 million bitcoin (BDK adds them up with a panicking `Amount` addition).
fn check_amounts<'a>(amounts: impl IntoIterator<Item = (&'a str, u64)>) -> NodeResult<()> {
    let max = Amount::MAX_MONEY.to_sat();
    let mut total_sat: u64 = 0;
    for (address, amount_sat) in amounts {
        if amount_sat == 0 {
            return Err(NodeError::InvalidInput(format!(
                "the amount for `{address}` must be positive"
            )));
        }
        total_sat = total_sat.checked_add(amount_sat).filter(|t| *t <= max).ok_or_else(|| {
            NodeError::InvalidInput(format!(
                "amount_sat: at most {max} sat (21 million bitcoin) in all can be sent"
            ))
        })?;
    }
    Ok(())
}

/// A fee rate the caller gave, in sat/vB: 1 to [`MAX_FEE_RATE_SAT_PER_VB`].
fn explicit_fee_rate(sat_per_vb: u64) -> NodeResult<FeeRate> {
    if sat_per_vb == 0 {
        return Err(NodeError::InvalidInput("fee rate must be at least 1 sat/vB".into()));
    }
    FeeRate::from_sat_per_vb(sat_per_vb)
        .filter(|_| sat_per_vb <= MAX_FEE_RATE_SAT_PER_VB)
        .ok_or_else(|| {
            NodeError::InvalidInput(format!(
                "fee_rate_sat_per_vb {sat_per_vb} is too high: at most {MAX_FEE_RATE_SAT_PER_VB}"
            ))
        })
}

/// The smallest output a drain that keeps the anchor reserve sends (P2WPKH's dust limit).
const DUST_SAT: u64 = 294;

/// How long [`OnchainWallet::sync_now`] waits for the sync loop to finish a round.
pub const SYNC_NOW_TIMEOUT: Duration = Duration::from_secs(60);

/// Rounds of the sync loop, so a caller can wait for a round that started after its request.
#[derive(Debug, Default)]
struct SyncRounds {
    started: u64,
    finished: u64,
    /// The last finished round's error, if it failed.
    last_error: Option<String>,
}

struct Inner {
    wallet: PersistedWallet<WalletDb>,
    db: WalletDb,
    fail_stop: FailStop,
}

impl Inner {
    /// Writes the wallet's changes; a persistence failure (disk full, I/O error) stops the node.
    fn persist(&mut self) -> NodeResult<()> {
        self.wallet.persist(&mut self.db).map(|_| ()).map_err(|e| {
            if e.is_persistence_failure() {
                self.fail_stop.fail(FatalKind::Storage, &format!("cannot persist the wallet: {e}"));
            }
            NodeError::Wallet(format!("persisting wallet failed: {e}"))
        })
    }
}

/// The node's on-chain wallet.
pub struct OnchainWallet {
    inner: Mutex<Inner>,
    network: Network,
    fees: Arc<FeeEstimates>,
    auth: BitcoindAuth,
    synced_height: AtomicU32,
    sync_wanted: AtomicBool,
    rounds: Mutex<SyncRounds>,
    round_done: Condvar,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl OnchainWallet {
    /// Loads the wallet from `conn`, or creates it when the database holds none yet
    /// (`is_new_node`). A missing wallet in an existing node's database is an error.
    pub fn open(
        mut db: WalletDb,
        seed: &Seed,
        network: Network,
        fees: Arc<FeeEstimates>,
        auth: BitcoindAuth,
        is_new_node: bool,
        fail_stop: FailStop,
    ) -> NodeResult<Self> {
        let master = seed.wallet_master(network)?;
        let ext = Bip84(master, KeychainKind::External);
        let int = Bip84(master, KeychainKind::Internal);
        let loaded = Wallet::load()
            .descriptor(KeychainKind::External, Some(ext.clone()))
            .descriptor(KeychainKind::Internal, Some(int.clone()))
            .extract_keys()
            .check_network(network)
            .load_wallet(&mut db)
            .map_err(|e| NodeError::Wallet(format!("cannot load the wallet: {e}")))?;
        let wallet =
            match loaded {
                Some(w) => w,
                None if is_new_node => Wallet::create(ext, int)
                    .network(network)
                    .create_wallet(&mut db)
                    .map_err(|e| NodeError::Wallet(format!("cannot create the wallet: {e}")))?,
                None => return Err(NodeError::Wallet(
                    "the database holds channel state but no wallet; refusing to create a new one"
                        .into(),
                )),
            };
        let height = wallet.latest_checkpoint().height();
        Ok(Self {
            inner: Mutex::new(Inner { wallet, db, fail_stop }),
            network,
            fees,
            auth,
            synced_height: AtomicU32::new(height),
            sync_wanted: AtomicBool::new(false),
            rounds: Mutex::new(SyncRounds::default()),
            round_done: Condvar::new(),
        })
    }

    /// Creates the on-chain wallet in `conn`'s database if it holds none (a data directory
    /// restored from a continuous backup, which does not copy the wallet: the new wallet scans
    /// the chain from the node's wallet birthday at its first sync). Returns whether it did.
    pub fn create_if_missing(mut db: WalletDb, seed: &Seed, network: Network) -> NodeResult<bool> {
        let master = seed.wallet_master(network)?;
        let ext = Bip84(master, KeychainKind::External);
        let int = Bip84(master, KeychainKind::Internal);
        let loaded = Wallet::load()
            .descriptor(KeychainKind::External, Some(ext.clone()))
            .descriptor(KeychainKind::Internal, Some(int.clone()))
            .extract_keys()
            .check_network(network)
            .load_wallet(&mut db)
            .map_err(|e| NodeError::Wallet(format!("cannot load the wallet: {e}")))?;
        if loaded.is_some() {
            return Ok(false);
        }
        Wallet::create(ext, int)
            .network(network)
            .create_wallet(&mut db)
            .map_err(|e| NodeError::Wallet(format!("cannot create the wallet: {e}")))?;
        Ok(true)
    }

    /// Height of the last block the wallet has applied.
    pub fn synced_height(&self) -> u32 {
        self.synced_height.load(Ordering::Acquire)
    }

    /// Runs the sync loop on the current thread until `stop` is set: applies new blocks and the
    /// mempool, persisting after each round. `start_height` is where a new wallet starts scanning.
    pub fn sync_loop(&self, start_height: u32, interval: Duration, stop: &AtomicBool) {
        let client = match self.auth.blocking_client() {
            Ok(c) => Box::new(c),
            Err(e) => {
                tracing::error!("wallet sync cannot start: {e}");
                return;
            }
        };
        let (cp, unconfirmed): (_, Vec<Arc<Transaction>>) = {
            let inner = self.inner.lock().unwrap();
            let unconfirmed = inner
                .wallet
                .transactions()
                .filter(|t| !t.chain_position.is_confirmed())
                .map(|t| t.tx_node.tx.clone())
                .collect();
            (inner.wallet.latest_checkpoint(), unconfirmed)
        };
        let start = if cp.height() == 0 { start_height } else { 0 };
        let mut emitter = Emitter::new(&*client, cp, start, unconfirmed);
        while !stop.load(Ordering::Acquire) {
            self.sync_wanted.store(false, Ordering::Release);
            self.rounds.lock().unwrap().started += 1;
            let result = self.sync_round(&*client, &mut emitter);
            if let Err(e) = &result {
                tracing::warn!("wallet sync round failed (will retry): {e}");
            }
            {
                let mut rounds = self.rounds.lock().unwrap();
                rounds.finished += 1;
                rounds.last_error = result.err().map(|e| e.to_string());
            }
            self.round_done.notify_all();
            let mut slept = Duration::ZERO;
            while slept < interval
                && !stop.load(Ordering::Acquire)
                && !self.sync_wanted.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(50));
                slept += Duration::from_millis(50);
            }
        }
    }

    /// Asks the sync loop for a round now and waits (blocking, up to `timeout`) until a round
    /// that started after this call has finished. Returns the height the wallet has synced to,
    /// or that round's error.
    pub fn sync_now(&self, timeout: Duration) -> NodeResult<u32> {
        let deadline = std::time::Instant::now() + timeout;
        let mut rounds = self.rounds.lock().unwrap();
        // A round already running may have read the chain before this call: wait for the next.
        let after = rounds.started;
        self.sync_wanted.store(true, Ordering::Release);
        while rounds.finished <= after {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(NodeError::Chain(format!(
                    "the wallet did not finish a sync round within {} s",
                    timeout.as_secs()
                )));
            }
            rounds = self.round_done.wait_timeout(rounds, left).unwrap().0;
        }
        match &rounds.last_error {
            Some(e) => Err(NodeError::Chain(format!("wallet sync failed: {e}"))),
            None => Ok(self.synced_height()),
        }
    }

    fn sync_round<C: RpcApi>(&self, client: &C, emitter: &mut Emitter<&C>) -> NodeResult<()>
    where
        for<'a> &'a C: std::ops::Deref<Target = C>,
    {
        let err = |e: bdk_bitcoind_rpc::bitcoincore_rpc::Error| NodeError::Chain(e.to_string());
        let mut applied = false;
        while let Some(ev) = emitter.next_block().map_err(err)? {
            let height = ev.block_height();
            let mut inner = self.inner.lock().unwrap();
            inner
                .wallet
                .apply_block_connected_to(&ev.block, height, ev.connected_to())
                .map_err(|e| NodeError::Wallet(e.to_string()))?;
            applied = true;
            // Persist every 100 blocks during a long catch-up.
            if height % 100 == 0 {
                inner.persist()?;
            }
            drop(inner);
            self.synced_height.store(height, Ordering::Release);
        }
        let mempool = emitter.mempool().map_err(err)?;
        let in_mempool: std::collections::HashSet<Txid> =
            mempool.update.iter().map(|(tx, _)| tx.compute_txid()).collect();
        // Read after the mempool: if the wallet has this tip, the mempool read before it is
        // consistent with the blocks the wallet has.
        let tip = client.get_best_block_hash().map_err(err)?;
        let mut inner = self.inner.lock().unwrap();
        if applied || !mempool.update.is_empty() || !mempool.evicted.is_empty() {
            inner.wallet.apply_unconfirmed_txs(mempool.update);
            inner.wallet.apply_evicted_txs(mempool.evicted);
            inner.persist()?;
        }
        let at_tip = inner.wallet.latest_checkpoint().hash() == tip;
        self.settle_unsettled(&mut inner, &in_mempool, at_tip)?;
        let h = inner.wallet.latest_checkpoint().height();
        self.synced_height.store(h, Ordering::Release);
        Ok(())
    }

    /// Reveals, persists and returns a new receive address.
    pub fn new_address(&self) -> NodeResult<Address> {
        let mut inner = self.inner.lock().unwrap();
        let info = inner.wallet.reveal_next_address(KeychainKind::External);
        inner.persist()?;
        Ok(info.address)
    }

    /// Current balances.
    pub fn balance(&self) -> OnchainBalance {
        let b = self.inner.lock().unwrap().wallet.balance();
        OnchainBalance {
            confirmed_sat: b.confirmed.to_sat(),
            trusted_pending_sat: b.trusted_pending.to_sat(),
            untrusted_pending_sat: b.untrusted_pending.to_sat(),
            immature_sat: b.immature.to_sat(),
        }
    }

    /// Unspent outputs.
    pub fn list_utxos(&self) -> Vec<Utxo> {
        let inner = self.inner.lock().unwrap();
        inner
            .wallet
            .list_unspent()
            .map(|u| Utxo {
                outpoint: u.outpoint.to_string(),
                amount_sat: u.txout.value.to_sat(),
                confirmation_height: confirmation_height(&u.chain_position),
                script_pubkey: u.txout.script_pubkey.to_hex_string(),
                address: bitcoin::Address::from_script(&u.txout.script_pubkey, self.network)
                    .ok()
                    .map(|a| a.to_string()),
            })
            .collect()
    }

    /// Transactions touching the wallet, newest first.
    pub fn list_transactions(&self) -> Vec<WalletTransaction> {
        let inner = self.inner.lock().unwrap();
        let mut txs: Vec<_> = inner
            .wallet
            .transactions()
            .map(|t| {
                let (sent, received) = inner.wallet.sent_and_received(&t.tx_node.tx);
                let fee_sat = inner.wallet.calculate_fee(&t.tx_node.tx).ok().map(|a| a.to_sat());
                let confirmation = match &t.chain_position {
                    ChainPosition::Confirmed { anchor, .. } => Some(BlockRef {
                        height: anchor.block_id.height,
                        hash: anchor.block_id.hash.to_string(),
                    }),
                    ChainPosition::Unconfirmed { .. } => None,
                };
                WalletTransaction {
                    txid: t.tx_node.txid.to_string(),
                    received_sat: received.to_sat(),
                    sent_sat: sent.to_sat(),
                    fee_sat,
                    confirmation_height: confirmation_height(&t.chain_position),
                    tx: bitcoin::consensus::encode::serialize_hex(&*t.tx_node.tx),
                    balance_change_sat: received.to_sat() as i64 - sent.to_sat() as i64,
                    onchain_fee_sat: fee_sat,
                    confirmation,
                    is_cpfp: false,
                }
            })
            .collect();
        txs.sort_by_key(|t| std::cmp::Reverse(t.confirmation_height.unwrap_or(u32::MAX)));
        txs
    }

    /// `address` parsed, and checked to be for the wallet's network.
    pub(crate) fn parse_address(&self, address: &str) -> NodeResult<Address> {
        let unchecked: Address<bitcoin::address::NetworkUnchecked> = address
            .parse()
            .map_err(|e| NodeError::InvalidInput(format!("`{address}` is not an address: {e}")))?;
        unchecked.require_network(self.network).map_err(|_| {
            NodeError::InvalidInput(format!("address `{address}` is not for {}", self.network))
        })
    }

    /// Builds and signs a transaction paying `outputs` from `coins`, and applies it to the
    /// wallet as unconfirmed; the caller persists it. One that would leave the wallet with less
    /// than `reserve_sat` (the anchor channels' reserve) is refused before it is applied; a drain
    /// keeps the reserve (it sends everything else, the reserve staying as change).
    fn build_signed_to(
        &self,
        inner: &mut Inner,
        outputs: Outputs,
        fee_rate: FeeRate,
        coins: Coins,
        reserve_sat: u64,
    ) -> NodeResult<Transaction> {
        let outputs = match outputs {
            Outputs::Drain(script) if reserve_sat > 0 => {
                // What a drain would send, less the reserve and the fee of the change output
                // the reserve stays in (31 vB).
                let probe =
                    Self::build_signed(inner, Outputs::Drain(script.clone()), fee_rate, coins)?;
                let drained: u64 = probe.output.iter().map(|o| o.value.to_sat()).sum();
                let change_fee = fee_rate.fee_vb(31).map_or(0, |a| a.to_sat());
                let amount = drained
                    .checked_sub(reserve_sat.saturating_add(change_fee))
                    .filter(|a| *a >= DUST_SAT)
                    .ok_or(NodeError::InsufficientFunds {
                        needed_sat: reserve_sat.saturating_add(DUST_SAT),
                        available_sat: drained,
                        reserve_sat,
                    })?;
                Outputs::Pay(vec![(script, amount)])
            }
            outputs => outputs,
        };
        let tx = Self::build_signed(inner, outputs, fee_rate, coins)?;
        if reserve_sat > 0 {
            let (sent, received) = inner.wallet.sent_and_received(&tx);
            let balance = inner.wallet.balance();
            let spend = sent.to_sat().saturating_sub(received.to_sat());
            let spendable = balance.confirmed.to_sat() + balance.trusted_pending.to_sat();
            crate::anchors::check_spend(spendable, spend, reserve_sat)?;
        }
        // Staged, not persisted: the caller persists it (a send with its row, in one transaction).
        inner.wallet.apply_unconfirmed_txs([(tx.clone(), now_secs())]);
        Ok(tx)
    }

    /// Builds and signs a transaction paying `outputs` from `coins`, without applying it.
    fn build_signed(
        inner: &mut Inner,
        outputs: Outputs,
        fee_rate: FeeRate,
        coins: Coins,
    ) -> NodeResult<Transaction> {
        let mut builder = inner.wallet.build_tx();
        if coins == Coins::Confirmed {
            builder.exclude_unconfirmed();
        }
        match outputs {
            Outputs::Pay(recipients) => {
                for (script, amount_sat) in recipients {
                    if amount_sat == 0 {
                        return Err(NodeError::InvalidInput("amount must be positive".into()));
                    }
                    builder.add_recipient(script, Amount::from_sat(amount_sat));
                }
            }
            Outputs::Drain(script) => {
                builder.drain_wallet().drain_to(script);
            }
        }
        builder.fee_rate(fee_rate);
        let mut psbt = match builder.finish() {
            Ok(p) => p,
            Err(CreateTxError::CoinSelection(e)) => {
                return Err(NodeError::InsufficientFunds {
                    needed_sat: e.needed.to_sat(),
                    available_sat: e.available.to_sat(),
                    reserve_sat: 0,
                })
            }
            Err(CreateTxError::NoUtxosSelected) | Err(CreateTxError::NoRecipients) => {
                return Err(NodeError::InsufficientFunds {
                    needed_sat: 1,
                    available_sat: 0,
                    reserve_sat: 0,
                })
            }
            Err(e) => return Err(NodeError::Wallet(format!("cannot build transaction: {e}"))),
        };
        let finalized = inner
            .wallet
            .sign(&mut psbt, SignOptions::default())
            .map_err(|e| NodeError::Wallet(format!("signing failed: {e}")))?;
        if !finalized {
            return Err(NodeError::Wallet("transaction could not be fully signed".into()));
        }
        psbt.extract_tx().map_err(|e| NodeError::Wallet(e.to_string()))
    }

    fn fee_rate(&self, sat_per_vb: Option<u64>) -> NodeResult<FeeRate> {
        match sat_per_vb {
            Some(r) => explicit_fee_rate(r),
            None => Ok(FeeRate::from_sat_per_kwu(
                self.fees.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee) as u64,
            )),
        }
    }

    /// Builds and signs a channel funding transaction (LDK broadcasts it). Its inputs are
    /// recorded as spent before it is returned, so two fundings never share a coin.
    ///
    /// It spends confirmed coins only (what `open_channel` checks the balance against): LDK
    /// broadcasts a funding transaction once and never again, so one built on an unconfirmed
    /// output that then leaves the mempool (the sweeper replacing its sweep with a new fee, a
    /// reorg taking out a sweep whose lock time is in the future again) could never confirm,
    /// and its channel would wait for it forever.
    pub fn funding_transaction(
        &self,
        script: ScriptBuf,
        amount_sat: u64,
    ) -> NodeResult<Transaction> {
        let fee_rate = FeeRate::from_sat_per_kwu(
            self.fees.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee) as u64,
        );
        let mut inner = self.inner.lock().unwrap();
        let outputs = Outputs::Pay(vec![(script, amount_sat)]);
        let tx = self.build_signed_to(&mut inner, outputs, fee_rate, Coins::Confirmed, 0)?;
        inner.persist()?;
        Ok(tx)
    }

    /// Marks a transaction of ours as abandoned (e.g. a funding that LDK refused).
    pub fn abandon(&self, txid: Txid) -> NodeResult<()> {
        let mut inner = self.inner.lock().unwrap();
        inner.wallet.apply_evicted_txs([(txid, now_secs())]);
        inner.persist()
    }

    /// Persists any pending wallet change (called at shutdown).
    pub fn persist(&self) -> NodeResult<()> {
        self.inner.lock().unwrap().persist()
    }
}

/// Which coins a transaction may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coins {
    /// Any the wallet has, unconfirmed ones included (on-chain sends: one whose input leaves
    /// the mempool is found `evicted`).
    Any,
    /// Confirmed ones only (channel fundings).
    Confirmed,
}

/// What a transaction pays: recipients with amounts, or everything to one script.
enum Outputs {
    Pay(Vec<(ScriptBuf, u64)>),
    Drain(ScriptBuf),
}

fn confirmation_height(
    pos: &ChainPosition<bdk_wallet::chain::ConfirmationBlockTime>,
) -> Option<u32> {
    match pos {
        ChainPosition::Confirmed { anchor, .. } => Some(anchor.block_id.height),
        ChainPosition::Unconfirmed { .. } => None,
    }
}

impl ChangeDestinationSourceSync for OnchainWallet {
    fn get_change_destination_script(&self) -> Result<ScriptBuf, ()> {
        let mut inner = self.inner.lock().unwrap();
        let info = inner.wallet.reveal_next_address(KeychainKind::Internal);
        inner.persist().map_err(|e| tracing::error!("{e}"))?;
        Ok(info.address.script_pubkey())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_fee_rates_out_of_range_are_refused_before_building() {
        let max = Amount::MAX_MONEY.to_sat();
        assert!(check_amounts([("a", 1), ("b", max - 1)]).is_ok());
        // Each fits, the sum does not (BDK's sum would panic); u64 overflow neither.
        for bad in [vec![("a", max), ("b", 1)], vec![("a", u64::MAX), ("b", u64::MAX)]] {
            match check_amounts(bad) {
                Err(NodeError::InvalidInput(m)) => assert!(m.contains("amount_sat"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(check_amounts([("a", 0)]), Err(NodeError::InvalidInput(_))));
        assert_eq!(explicit_fee_rate(2).unwrap(), FeeRate::from_sat_per_vb(2).unwrap());
        assert!(explicit_fee_rate(MAX_FEE_RATE_SAT_PER_VB).is_ok());
        for bad in [0, MAX_FEE_RATE_SAT_PER_VB + 1, u64::MAX / 250, u64::MAX] {
            assert!(matches!(explicit_fee_rate(bad), Err(NodeError::InvalidInput(_))), "{bad}");
        }
    }
}
