//! Access to bitcoind: blocks for LDK (through `lightning-block-sync`), fee estimates from
//! `estimatesmartfee`, and broadcasting through `sendrawtransaction`.
//!
//! # Fee estimation
//! Each LDK [`ConfirmationTarget`] maps to an `estimatesmartfee` call (table below), refreshed
//! every [`FEE_REFRESH_INTERVAL`]. Each `(blocks, mode)` keeps its last good estimate and when it
//! was obtained: when a refresh fails (bitcoind unreachable, an RPC error or timeout) or bitcoind
//! has no estimate for it any more, the last good estimate stays in use and a warning names the
//! estimates in use and their age ([`FeeEstimates::refresh`]). Only when bitcoind never gave an
//! estimate for it since the start (always the case on a fresh regtest chain) is the configured
//! fallback `fee_rate_fallback_sat_per_kwu` used, scaled per target as the table says. Never
//! below LDK's floor of 253 sat/kwu.
//!
//! | target | blocks | mode | fallback multiplier |
//! |---|---|---|---|
//! | MaximumFeeEstimate | 1 | CONSERVATIVE | 4 |
//! | UrgentOnChainSweep | 6 | CONSERVATIVE | 2 |
//! | MinAllowedAnchorChannelRemoteFee | 1008 | ECONOMICAL | 1 (then -250, floor 253) |
//! | MinAllowedNonAnchorChannelRemoteFee | 1008 | ECONOMICAL | 1 (then -250, floor 253) |
//! | AnchorChannelFee | 1008 | ECONOMICAL | 1 |
//! | NonAnchorChannelFee | 12 | ECONOMICAL | 1 |
//! | ChannelCloseMinimum | 144 | ECONOMICAL | 1 |
//! | OutputSpendingFee | 12 | ECONOMICAL | 1 |
//!
//! Apps get three more rates ([`FeeEstimates::onchain_fee_rates`], in sat/vB): fast (1 block,
//! CONSERVATIVE, fallback ×4), regular (3 blocks, ECONOMICAL, ×2) and slow (6 blocks,
//! ECONOMICAL, ×1), refreshed with the others.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use bdk_bitcoind_rpc::bitcoincore_rpc::{self, RpcApi};
use bitcoin::BlockHash;
use bitcoin::{Network, Transaction};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::Listen;
use lightning_block_sync::http::HttpEndpoint;
use lightning_block_sync::init::synchronize_listeners;
use lightning_block_sync::poll::ValidatedBlockHeader;
use lightning_block_sync::rpc::{RpcClient, RpcError};
use lightning_block_sync::UnboundedCache;
use tokio::sync::mpsc;

use crate::error::{NodeError, NodeResult};
use boltd_config::Config;

/// How often fee estimates are refreshed from bitcoind.
pub const FEE_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// LDK's minimum fee rate (1 sat/vB rounded up).
pub const FEERATE_FLOOR_SAT_PER_KWU: u32 = 253;

/// How to reach bitcoind's RPC interface.
#[derive(Clone)]
pub struct BitcoindAuth {
    url: String,
    host: String,
    port: u16,
    path: String,
    user_pass: Option<(String, String)>,
    cookie: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for BitcoindAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitcoindAuth").field("url", &self.url).finish_non_exhaustive()
    }
}

impl BitcoindAuth {
    /// From the resolved configuration.
    pub fn from_config(config: &Config) -> NodeResult<Self> {
        let url = config.bitcoind_rpc_url.clone();
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| {
                NodeError::Config(format!("bitcoind_rpc_url `{url}` must start with http://"))
            })?
            .to_string();
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest.as_str(), "/".to_string()),
        };
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| NodeError::Config(format!("bitcoind_rpc_url `{url}` needs a port")))?;
        let port: u16 =
            port.parse().map_err(|_| NodeError::Config(format!("bad port in `{url}`")))?;
        let user_pass = match (&config.bitcoind_rpc_user, &config.bitcoind_rpc_password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Self {
            url,
            host: host.to_string(),
            port,
            path,
            user_pass,
            cookie: config.bitcoind_rpc_cookie.clone(),
        })
    }

    fn user_pass(&self) -> NodeResult<(String, String)> {
        if let Some(up) = &self.user_pass {
            return Ok(up.clone());
        }
        let cookie = self.cookie.as_ref().ok_or_else(|| {
            NodeError::Config(
                "bitcoind credentials: set user and password, or a cookie file".into(),
            )
        })?;
        let text = std::fs::read_to_string(cookie).map_err(|e| {
            NodeError::Chain(format!("cannot read cookie file {}: {e}", cookie.display()))
        })?;
        let (u, p) = text.trim().split_once(':').ok_or_else(|| {
            NodeError::Chain(format!("malformed cookie file {}", cookie.display()))
        })?;
        Ok((u.to_string(), p.to_string()))
    }

    /// A blocking JSON-RPC client (used off the async workers).
    pub fn blocking_client(&self) -> NodeResult<bitcoincore_rpc::Client> {
        let (u, p) = self.user_pass()?;
        bitcoincore_rpc::Client::new(&self.url, bitcoincore_rpc::Auth::UserPass(u, p))
            .map_err(|e| NodeError::Chain(e.to_string()))
    }

    /// The async client `lightning-block-sync` polls blocks with.
    pub fn block_source(&self) -> NodeResult<RpcClient> {
        let (u, p) = self.user_pass()?;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        let endpoint = HttpEndpoint::for_host(self.host.clone())
            .with_port(self.port)
            .with_path(self.path.clone());
        Ok(RpcClient::new(&creds, endpoint))
    }
}

/// Checks bitcoind answers and runs the expected chain. Called at start so that a wrong URL,
/// bad credentials or a network mismatch stop the daemon with a clear message.
pub fn check_bitcoind(client: &bitcoincore_rpc::Client, network: Network) -> NodeResult<u32> {
    let info = client
        .get_blockchain_info()
        .map_err(|e| NodeError::Chain(format!("getblockchaininfo failed: {e}")))?;
    if info.chain != network {
        return Err(NodeError::Config(format!(
            "bitcoind runs {} but boltd is configured for {}",
            info.chain, network
        )));
    }
    Ok(info.blocks as u32)
}

fn targets() -> [(ConfirmationTarget, u16, bool, u32); 8] {
    use ConfirmationTarget::*;
    [
        (MaximumFeeEstimate, 1, true, 4),
        (UrgentOnChainSweep, 6, true, 2),
        (MinAllowedAnchorChannelRemoteFee, 1008, false, 1),
        (MinAllowedNonAnchorChannelRemoteFee, 1008, false, 1),
        (AnchorChannelFee, 1008, false, 1),
        (NonAnchorChannelFee, 12, false, 1),
        (ChannelCloseMinimum, 144, false, 1),
        (OutputSpendingFee, 12, false, 1),
    ]
}

fn adjust(target: ConfirmationTarget, rate: u32) -> u32 {
    let rate = match target {
        ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
        | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => rate.saturating_sub(250),
        _ => rate,
    };
    rate.max(FEERATE_FLOOR_SAT_PER_KWU)
}

/// On-chain fee rates for apps (barkd's `GET /api/v1/fees/onchain`), in whole sat/vB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = OnchainFeeRatesResponse)]
pub struct OnchainFeeRates {
    /// About 1 block (`estimatesmartfee 1 CONSERVATIVE`).
    pub fast_sat_per_vb: u64,
    /// About 3 blocks (`estimatesmartfee 3 ECONOMICAL`).
    pub regular_sat_per_vb: u64,
    /// About 6 blocks (`estimatesmartfee 6 ECONOMICAL`).
    pub slow_sat_per_vb: u64,
    /// `bitcoind` when all three are bitcoind's estimates, `fallback` when any is derived from
    /// the configured fallback rate (bitcoind had no estimate, e.g. on a young regtest chain).
    #[schema(schema_with = fee_source_schema)]
    pub source: &'static str,
}

fn fee_source_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["bitcoind", "fallback"]))
        .description(Some("`bitcoind` (its estimates) or `fallback` (the configured rate)"))
        .build()
}

/// `(blocks, conservative, fallback multiplier)` of the fast, regular and slow app rates.
const APP_TARGETS: [(u16, bool, u32); 3] = [(1, true, 4), (3, false, 2), (6, false, 1)];

/// sat/kwu to whole sat/vB (rounded, at least 1): 1 vB is 4 weight units.
fn kwu_to_vb(sat_per_kwu: u32) -> u64 {
    ((u64::from(sat_per_kwu) * 4 + 500) / 1000).max(1)
}

/// Where fee estimates come from: bitcoind's `estimatesmartfee` (a trait, so tests can give
/// their own answers).
pub trait FeeSource {
    /// The fee rate to confirm within `blocks` (`conservative`: CONSERVATIVE mode, else
    /// ECONOMICAL), in sat/kwu: `Ok(Some)` an estimate, `Ok(None)` when bitcoind has none yet,
    /// `Err` when the call failed (unreachable, an RPC error, a timeout).
    fn estimate_sat_per_kwu(&self, blocks: u16, conservative: bool) -> Result<Option<u32>, String>;
}

impl FeeSource for bitcoincore_rpc::Client {
    fn estimate_sat_per_kwu(&self, blocks: u16, conservative: bool) -> Result<Option<u32>, String> {
        let mode = if conservative {
            bitcoincore_rpc::json::EstimateMode::Conservative
        } else {
            bitcoincore_rpc::json::EstimateMode::Economical
        };
        let answer = self.estimate_smart_fee(blocks, Some(mode)).map_err(|e| e.to_string())?;
        // BTC/kvB -> sat/kwu: sat per 1000 vbytes / 4.
        Ok(answer.fee_rate.map(|a| u32::try_from(a.to_sat() / 4).unwrap_or(u32::MAX)))
    }
}

/// One `estimatesmartfee` query: blocks and whether CONSERVATIVE.
type FeeQuery = (u16, bool);

/// The last good estimate of a query and when it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The rate, in sat/kwu (as bitcoind gave it, before per-target adjustments).
    pub sat_per_kwu: u32,
    /// When bitcoind gave it.
    pub obtained_at: Instant,
}

/// A query whose estimate a refresh could not renew: the last good one stays in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleEstimate {
    /// Its confirmation target in blocks.
    pub blocks: u16,
    /// CONSERVATIVE (else ECONOMICAL).
    pub conservative: bool,
    /// The estimate in use, and when it was obtained.
    pub estimate: Estimate,
    /// Why it was not renewed: bitcoind's error, or that it had no estimate.
    pub why: String,
}

/// Fee estimates for LDK and the wallet, cached and refreshed in the background.
#[derive(Debug)]
pub struct FeeEstimates {
    /// The last good estimate of each query; a query missing here never had one.
    last_good: RwLock<HashMap<FeeQuery, Estimate>>,
    fallback_sat_per_kwu: u32,
}

/// Every distinct query of [`targets`] and [`APP_TARGETS`], each asked once per refresh.
fn queries() -> Vec<FeeQuery> {
    let mut q: Vec<FeeQuery> = targets().iter().map(|t| (t.1, t.2)).collect();
    q.extend(APP_TARGETS.iter().map(|t| (t.0, t.1)));
    q.sort_unstable();
    q.dedup();
    q
}

impl FeeEstimates {
    /// Estimates that answer the fallback until the first refresh.
    pub fn new(fallback_sat_per_kwu: u32) -> Self {
        Self { last_good: RwLock::new(HashMap::new()), fallback_sat_per_kwu }
    }

    /// The last good estimate for `blocks` in the given mode, if bitcoind ever gave one.
    pub fn last_good(&self, blocks: u16, conservative: bool) -> Option<Estimate> {
        self.last_good.read().unwrap().get(&(blocks, conservative)).copied()
    }

    /// The cached fast, regular and slow rates for apps; where bitcoind never gave an estimate,
    /// the fallback rate scaled by 4, 2 and 1.
    pub fn onchain_fee_rates(&self) -> OnchainFeeRates {
        let last_good = self.last_good.read().unwrap();
        let cached: Vec<Option<u32>> =
            APP_TARGETS.iter().map(|t| last_good.get(&(t.0, t.1)).map(|e| e.sat_per_kwu)).collect();
        drop(last_good);
        let rate = |i: usize| {
            let kwu = cached[i]
                .unwrap_or_else(|| self.fallback_sat_per_kwu.saturating_mul(APP_TARGETS[i].2));
            kwu_to_vb(kwu.max(FEERATE_FLOOR_SAT_PER_KWU))
        };
        OnchainFeeRates {
            fast_sat_per_vb: rate(0),
            regular_sat_per_vb: rate(1),
            slow_sat_per_vb: rate(2),
            source: if cached.iter().all(Option::is_some) { "bitcoind" } else { "fallback" },
        }
    }

    /// Queries bitcoind for every target (blocking; call off the async workers). A query that
    /// fails or has no estimate keeps its last good estimate; one warning line then names the
    /// estimates in use and their age (or that the fallback rate is in use).
    pub fn refresh(&self, source: &impl FeeSource) {
        let stale = self.refresh_at(source, Instant::now());
        if stale.is_empty() {
            return;
        }
        let now = Instant::now();
        let ages: Vec<String> = stale
            .iter()
            .map(|s| {
                let age = now.saturating_duration_since(s.estimate.obtained_at).as_secs();
                format!("{} blocks: {} sat/kwu from {age} s ago", s.blocks, s.estimate.sat_per_kwu)
            })
            .collect();
        tracing::warn!(
            "fee estimates are stale: bitcoind did not renew them ({}); using the last good \
             ones: {}",
            stale[0].why,
            ages.join(", ")
        );
    }

    /// [`Self::refresh`] at `now`: records every estimate bitcoind gives, and returns the
    /// queries that keep an older estimate. A query that never had one is served by the
    /// fallback: silently while bitcoind merely has no estimate (a young chain), with a warning
    /// when the call failed.
    pub(crate) fn refresh_at(&self, source: &impl FeeSource, now: Instant) -> Vec<StaleEstimate> {
        let mut stale = Vec::new();
        let mut failed_without_estimate: Option<String> = None;
        for (blocks, conservative) in queries() {
            let why = match source.estimate_sat_per_kwu(blocks, conservative) {
                Ok(Some(sat_per_kwu)) => {
                    let e = Estimate { sat_per_kwu, obtained_at: now };
                    self.last_good.write().unwrap().insert((blocks, conservative), e);
                    continue;
                }
                Ok(None) => "no estimate".to_string(),
                Err(e) => format!("estimatesmartfee failed: {e}"),
            };
            match self.last_good(blocks, conservative) {
                Some(estimate) => stale.push(StaleEstimate { blocks, conservative, estimate, why }),
                None if why != "no estimate" => {
                    failed_without_estimate.get_or_insert(why);
                }
                None => {}
            }
        }
        if let Some(why) = failed_without_estimate {
            tracing::warn!("fee estimation failed ({why}); the fallback rate is used");
        }
        stale
    }

    /// The fee rate for a target in sat per kilo-weight-unit: the last good estimate, or the
    /// scaled fallback if bitcoind never gave one.
    pub fn sat_per_kwu(&self, target: ConfirmationTarget) -> u32 {
        let Some((_, blocks, conservative, mult)) = targets().into_iter().find(|t| t.0 == target)
        else {
            return adjust(target, self.fallback_sat_per_kwu);
        };
        let rate = match self.last_good(blocks, conservative) {
            Some(e) => e.sat_per_kwu,
            None => self.fallback_sat_per_kwu.saturating_mul(mult),
        };
        adjust(target, rate)
    }
}

impl FeeEstimator for FeeEstimates {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        self.sat_per_kwu(target)
    }
}

/// How often the broadcaster sends again the transactions bitcoind could not be reached for.
pub const REBROADCAST_EVERY: Duration = Duration::from_secs(5);

/// Hands transactions to a background task that sends them with `sendrawtransaction`, so LDK
/// never blocks on bitcoind. A transaction bitcoind could not be reached for (no connection, a
/// timeout, bitcoind still starting) is kept and sent again every [`REBROADCAST_EVERY`] until
/// bitcoind answers: LDK broadcasts a channel's funding and its cooperative closing once and
/// never again (it rebroadcasts only its channel monitors' claims), so a dropped one would
/// leave the channel pending, or its closing out of the chain, for good.
#[derive(Debug)]
pub struct Broadcaster {
    queue: mpsc::UnboundedSender<Transaction>,
}

impl Broadcaster {
    /// The broadcaster and the receiving end its task drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Transaction>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { queue: tx }, rx)
    }

    /// Runs until the node stops: sends each queued transaction to bitcoind, and again those
    /// bitcoind could not be reached for (see [`Broadcaster`]).
    pub async fn run(mut rx: mpsc::UnboundedReceiver<Transaction>, auth: BitcoindAuth) {
        let mut unsent: Vec<(Transaction, u32)> = Vec::new();
        let mut retry = tokio::time::interval(REBROADCAST_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let batch = tokio::select! {
                tx = rx.recv() => match tx {
                    Some(tx) => vec![(tx, 0)],
                    None => return,
                },
                _ = retry.tick(), if !unsent.is_empty() => std::mem::take(&mut unsent),
            };
            for (tx, tries) in batch {
                if let Some(again) = Self::send(&auth, tx, tries).await {
                    let txid = again.0.compute_txid();
                    if !unsent.iter().any(|(t, _)| t.compute_txid() == txid) {
                        unsent.push(again);
                    }
                }
            }
        }
    }

    /// Sends `tx` (tried `tries` times before); returns it with the count when bitcoind could
    /// not be reached.
    async fn send(auth: &BitcoindAuth, tx: Transaction, tries: u32) -> Option<(Transaction, u32)> {
        let txid = tx.compute_txid();
        let auth = auth.clone();
        let (tx, res) = match tokio::task::spawn_blocking(move || {
            let res = auth.blocking_client().map_err(Unsent::Unreachable).and_then(|c| {
                c.send_raw_transaction(&tx).map(|_| ()).map_err(|e| {
                    if unreachable(&e) {
                        Unsent::Unreachable(NodeError::Chain(e.to_string()))
                    } else {
                        Unsent::Refused(e)
                    }
                })
            });
            (tx, res)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%txid, "broadcast task failed: {e}");
                return None;
            }
        };
        match res {
            Ok(()) if tries == 0 => tracing::info!(%txid, "broadcast transaction"),
            Ok(()) => tracing::info!(%txid, tries, "broadcast transaction, bitcoind is back"),
            Err(Unsent::Refused(e)) => {
                tracing::warn!(%txid, "bitcoind refused the transaction: {e}")
            }
            Err(Unsent::Unreachable(e)) => {
                if tries == 0 {
                    tracing::warn!(
                        %txid,
                        "bitcoind could not be reached to broadcast ({e}); sending it again every {} s",
                        REBROADCAST_EVERY.as_secs()
                    );
                }
                return Some((tx, tries + 1));
            }
        }
        None
    }
}

/// Why a broadcast did not happen.
enum Unsent {
    /// bitcoind answered: it does not take the transaction (invalid, a conflict, too low a fee,
    /// already known).
    Refused(bitcoincore_rpc::Error),
    /// bitcoind could not be asked (or is still starting): worth trying again.
    Unreachable(NodeError),
}

/// Whether a failed RPC call never reached a bitcoind that could judge it: no connection, a
/// timeout, an HTTP error, or bitcoind's "warming up" (RPC error -28).
fn unreachable(e: &bitcoincore_rpc::Error) -> bool {
    use bitcoincore_rpc::jsonrpc::Error as J;
    match e {
        bitcoincore_rpc::Error::JsonRpc(J::Rpc(r)) => r.code == RPC_IN_WARMUP,
        bitcoincore_rpc::Error::JsonRpc(J::Transport(_)) | bitcoincore_rpc::Error::Io(_) => true,
        _ => false,
    }
}

/// bitcoind's RPC error while it is starting (loading its block index, verifying blocks).
const RPC_IN_WARMUP: i32 = -28;

impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            let _ = self.queue.send((*tx).clone());
        }
    }
}

/// Shared handle type.
pub type SharedFees = Arc<FeeEstimates>;

/// How often a node whose bitcoind lacks blocks it has processed asks again.
pub const LOST_BLOCKS_RETRY: Duration = Duration::from_secs(2);

/// Whether bitcoind knows block `hash` (`Ok(false)`: its "Block not found", RPC error -5).
async fn knows_block(source: &RpcClient, hash: &BlockHash) -> Result<bool, String> {
    let hex = serde_json::json!(hash.to_string());
    match source.call_method::<serde_json::Value>("getblockheader", &[hex]).await {
        Ok(_) => Ok(true),
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<RpcError>()) {
            Some(r) if r.code == -5 => Ok(false),
            _ => Err(e.to_string()),
        },
    }
}

/// The blocks of `seen` (each stored state's best block and its height) that bitcoind does not
/// know, lowest first; `Err` if bitcoind could not be asked.
async fn lost_blocks(
    source: &RpcClient,
    seen: &[(BlockHash, u32)],
) -> Result<Vec<(BlockHash, u32)>, String> {
    let mut lost = Vec::new();
    for (hash, height) in seen {
        if !lost.iter().any(|(h, _)| h == hash) && !knows_block(source, hash).await? {
            lost.push((*hash, *height));
        }
    }
    lost.sort_by_key(|(_, h)| *h);
    Ok(lost)
}

/// Brings LDK's stored state (`listeners`, each at the block it last processed) to bitcoind's
/// tip with `lightning-block-sync`'s `synchronize_listeners`. `seen` pairs each listener's block
/// with its height.
///
/// When bitcoind does not know a block the node has processed (its chain lost blocks: it was
/// killed before writing them, or restored from an older copy), one warning names the heights and
/// bitcoind's tip, and the node waits, asking again every [`LOST_BLOCKS_RETRY`], until bitcoind
/// has them again (it resyncs them from peers, or `-reindex` recovers them from its block files),
/// then replays as usual. Any other failure is an error.
pub async fn replay_blocks<L: Listen + ?Sized>(
    source: &Arc<RpcClient>,
    network: Network,
    cache: &mut UnboundedCache,
    listeners: Vec<(BlockHash, &L)>,
    seen: &[(BlockHash, u32)],
) -> NodeResult<ValidatedBlockHeader> {
    let mut waited_for: Option<Vec<(BlockHash, u32)>> = None;
    loop {
        let result =
            synchronize_listeners(Arc::clone(source), network, cache, listeners.clone()).await;
        let error = match result {
            Ok(tip) => {
                if waited_for.is_some() {
                    tracing::info!(
                        height = tip.height,
                        "bitcoind has the blocks this node processed again; replayed up to its tip"
                    );
                }
                return Ok(tip);
            }
            Err(e) => e,
        };
        let lost = lost_blocks(source, seen).await.unwrap_or_default();
        if lost.is_empty() {
            return Err(NodeError::Chain(format!("cannot replay blocks: {error:?}")));
        }
        if waited_for.as_ref() != Some(&lost) {
            let tip = source
                .call_method::<serde_json::Value>("getblockcount", &[])
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .map_or_else(|| "unknown".to_string(), |h| h.to_string());
            let blocks: Vec<String> = lost.iter().map(|(h, n)| format!("{n} ({h})")).collect();
            tracing::warn!(
                "bitcoind lost blocks this node has processed: it does not know the block at \
                 height {}, and its chain ends at height {tip}; waiting for bitcoind to have them \
                 again (it resyncs them from its peers, or `bitcoind -reindex` recovers blocks \
                 still in its block files)",
                blocks.join(", ")
            );
            waited_for = Some(lost);
        }
        tokio::time::sleep(LOST_BLOCKS_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_is_tried_again_only_when_bitcoind_could_not_judge_it() {
        use bitcoincore_rpc::jsonrpc::error::{Error as J, RpcError};
        let rpc = |code| {
            bitcoincore_rpc::Error::JsonRpc(J::Rpc(RpcError {
                code,
                message: "from bitcoind".into(),
                data: None,
            }))
        };
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(unreachable(&bitcoincore_rpc::Error::JsonRpc(J::Transport(Box::new(refused)))));
        assert!(unreachable(&rpc(-28)), "warming up");
        for code in [-25, -26, -27] {
            assert!(!unreachable(&rpc(code)), "bitcoind refused it ({code})");
        }
    }

    #[test]
    fn fallback_is_scaled_and_floored() {
        let f = FeeEstimates::new(253);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 253);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MaximumFeeEstimate), 1012);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee), 253);
        let f = FeeEstimates::new(1000);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee), 750);
    }

    #[test]
    fn app_rates_fall_back_and_convert_to_sat_per_vb() {
        let f = FeeEstimates::new(253);
        let r = f.onchain_fee_rates();
        assert_eq!((r.fast_sat_per_vb, r.regular_sat_per_vb, r.slow_sat_per_vb), (4, 2, 1));
        assert_eq!(r.source, "fallback");
        let rates = Fake::per_blocks(&[(1, 5000), (3, 2500), (6, 300)]);
        assert!(f.refresh_at(&rates, Instant::now()).is_empty());
        let r = f.onchain_fee_rates();
        assert_eq!((r.fast_sat_per_vb, r.regular_sat_per_vb, r.slow_sat_per_vb), (20, 10, 1));
        assert_eq!(r.source, "bitcoind");
        assert_eq!(kwu_to_vb(0), 1);
        assert_eq!(kwu_to_vb(375), 2);
    }

    /// A fake `estimatesmartfee`: an answer per block count, else `other`.
    struct Fake {
        by_blocks: HashMap<u16, Result<Option<u32>, String>>,
        other: Result<Option<u32>, String>,
    }

    impl Fake {
        fn all(answer: Result<Option<u32>, String>) -> Self {
            Self { by_blocks: HashMap::new(), other: answer }
        }
        fn per_blocks(rates: &[(u16, u32)]) -> Self {
            let by_blocks = rates.iter().map(|(b, r)| (*b, Ok(Some(*r)))).collect();
            Self { by_blocks, other: Ok(Some(2000)) }
        }
    }

    impl FeeSource for Fake {
        fn estimate_sat_per_kwu(&self, blocks: u16, _: bool) -> Result<Option<u32>, String> {
            self.by_blocks.get(&blocks).cloned().unwrap_or_else(|| self.other.clone())
        }
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_good_estimates_with_their_age() {
        let f = FeeEstimates::new(1000);
        let t0 = Instant::now();
        assert!(f.refresh_at(&Fake::all(Ok(Some(2000))), t0).is_empty());
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 2000);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MaximumFeeEstimate), 2000);

        // bitcoind times out: not the fallback (1000, ×4 for the maximum), the last estimates.
        let t1 = t0 + Duration::from_secs(600);
        let stale = f.refresh_at(&Fake::all(Err("timeout".into())), t1);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 2000);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MaximumFeeEstimate), 2000);
        assert_eq!(f.onchain_fee_rates().source, "bitcoind");
        assert_eq!(stale.len(), queries().len(), "{stale:?}");
        for s in &stale {
            assert_eq!(s.estimate, Estimate { sat_per_kwu: 2000, obtained_at: t0 });
            assert!(s.why.contains("timeout"), "{s:?}");
        }
        assert_eq!(f.last_good(12, false).unwrap().obtained_at, t0, "the age is kept");

        // The real client's failure (nothing listens on the port) keeps them too.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let auth = bitcoincore_rpc::Auth::UserPass("u".into(), "p".into());
        let down = bitcoincore_rpc::Client::new(&format!("http://127.0.0.1:{port}"), auth).unwrap();
        f.refresh(&down);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 2000);
        assert_eq!(f.last_good(12, false).unwrap().obtained_at, t0);

        // bitcoind answers without an estimate: still the last good one.
        let stale = f.refresh_at(&Fake::all(Ok(None)), t1);
        assert_eq!(stale.len(), queries().len());
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::ChannelCloseMinimum), 2000);
    }

    #[test]
    fn each_target_keeps_its_own_estimate() {
        let f = FeeEstimates::new(1000);
        let t0 = Instant::now();
        f.refresh_at(&Fake::per_blocks(&[(1, 8000), (12, 3000)]), t0);
        // Later only the 1-block query fails: the others are renewed.
        let t1 = t0 + Duration::from_secs(60);
        let mut fake = Fake::per_blocks(&[(12, 4000)]);
        fake.by_blocks.insert(1, Err("connection refused".into()));
        let stale = f.refresh_at(&fake, t1);
        assert_eq!(stale.iter().map(|s| s.blocks).collect::<Vec<_>>(), vec![1]);
        assert!(stale.iter().all(|s| s.estimate.obtained_at == t0));
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MaximumFeeEstimate), 8000);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 4000);
        assert_eq!(f.last_good(12, false).unwrap().obtained_at, t1);
    }

    #[test]
    fn the_fallback_serves_only_targets_that_never_had_an_estimate() {
        let f = FeeEstimates::new(1000);
        let stale = f.refresh_at(&Fake::all(Err("connection refused".into())), Instant::now());
        assert!(stale.is_empty(), "nothing to keep: {stale:?}");
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::NonAnchorChannelFee), 1000);
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::MaximumFeeEstimate), 4000);
        assert_eq!(f.onchain_fee_rates().source, "fallback");
        // A young regtest chain: no estimate at all, the fallback too.
        f.refresh_at(&Fake::all(Ok(None)), Instant::now());
        assert_eq!(f.sat_per_kwu(ConfirmationTarget::UrgentOnChainSweep), 2000);
    }
}
