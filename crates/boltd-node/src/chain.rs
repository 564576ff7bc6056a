//! Access to bitcoind: blocks for LDK (through `lightning-block-sync`), fee estimates from
//! `estimatesmartfee`, and broadcasting through `sendrawtransaction`.
//!
//! # Fee estimation
//! Each LDK [`ConfirmationTarget`] maps to an `estimatesmartfee` call (table below), refreshed
//! every [`FEE_REFRESH_INTERVAL`]. When bitcoind has no estimate (always the case on a fresh
//! regtest chain), the configured fallback `fee_rate_fallback_sat_per_kwu` is used, scaled per
//! target as the table says, and never below LDK's floor of 253 sat/kwu.
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
use std::time::Duration;

use base64::Engine;
use bdk_bitcoind_rpc::bitcoincore_rpc::{self, RpcApi};
use bitcoin::{Network, Transaction};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning_block_sync::http::HttpEndpoint;
use lightning_block_sync::rpc::RpcClient;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::error::{NodeError, NodeResult};

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

/// Fee estimates for LDK and the wallet, cached and refreshed in the background.
#[derive(Debug)]
pub struct FeeEstimates {
    rates: RwLock<HashMap<ConfirmationTarget, u32>>,
    /// The app rates' estimates (sat/kwu; `None` where bitcoind had none), by [`APP_TARGETS`].
    app_rates: RwLock<[Option<u32>; 3]>,
    fallback_sat_per_kwu: u32,
}

impl FeeEstimates {
    /// Estimates that answer the fallback until the first refresh.
    pub fn new(fallback_sat_per_kwu: u32) -> Self {
        Self {
            rates: RwLock::new(HashMap::new()),
            app_rates: RwLock::new([None; 3]),
            fallback_sat_per_kwu,
        }
    }

    /// The cached fast, regular and slow rates for apps; where bitcoind had no estimate, the
    /// fallback rate scaled by 4, 2 and 1.
    pub fn onchain_fee_rates(&self) -> OnchainFeeRates {
        let cached = *self.app_rates.read().unwrap();
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

    /// Queries bitcoind for every target (blocking; call off the async workers).
    pub fn refresh(&self, client: &bitcoincore_rpc::Client) {
        let mut new = HashMap::new();
        for (target, blocks, conservative, mult) in targets() {
            let mode = if conservative {
                bitcoincore_rpc::json::EstimateMode::Conservative
            } else {
                bitcoincore_rpc::json::EstimateMode::Economical
            };
            let estimate = client
                .estimate_smart_fee(blocks, Some(mode))
                .ok()
                .and_then(|r| r.fee_rate)
                // BTC/kvB -> sat/kwu: sat per 1000 vbytes / 4.
                .map(|amount| (amount.to_sat() / 4) as u32);
            let rate = estimate.unwrap_or(self.fallback_sat_per_kwu.saturating_mul(mult));
            new.insert(target, adjust(target, rate));
        }
        *self.rates.write().unwrap() = new;
        let mut app = [None; 3];
        for (slot, (blocks, conservative, _)) in app.iter_mut().zip(APP_TARGETS) {
            let mode = if conservative {
                bitcoincore_rpc::json::EstimateMode::Conservative
            } else {
                bitcoincore_rpc::json::EstimateMode::Economical
            };
            *slot = client
                .estimate_smart_fee(blocks, Some(mode))
                .ok()
                .and_then(|r| r.fee_rate)
                .map(|amount| (amount.to_sat() / 4) as u32);
        }
        *self.app_rates.write().unwrap() = app;
    }

    /// The fee rate for a target in sat per kilo-weight-unit.
    pub fn sat_per_kwu(&self, target: ConfirmationTarget) -> u32 {
        let cached = self.rates.read().unwrap().get(&target).copied();
        cached.unwrap_or_else(|| {
            let mult = targets().iter().find(|t| t.0 == target).map(|t| t.3).unwrap_or(1);
            adjust(target, self.fallback_sat_per_kwu.saturating_mul(mult))
        })
    }
}

impl FeeEstimator for FeeEstimates {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        self.sat_per_kwu(target)
    }
}

/// Hands transactions to a background task that sends them with `sendrawtransaction`, so LDK
/// never blocks on bitcoind. LDK rebroadcasts what does not confirm.
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

    /// Runs until the node stops: sends each queued transaction to bitcoind.
    pub async fn run(mut rx: mpsc::UnboundedReceiver<Transaction>, auth: BitcoindAuth) {
        while let Some(tx) = rx.recv().await {
            let auth = auth.clone();
            let txid = tx.compute_txid();
            let res = tokio::task::spawn_blocking(move || {
                auth.blocking_client()?
                    .send_raw_transaction(&tx)
                    .map_err(|e| NodeError::Chain(e.to_string()))
            })
            .await;
            match res {
                Ok(Ok(_)) => tracing::info!(%txid, "broadcast transaction"),
                Ok(Err(e)) => tracing::warn!(%txid, "broadcast failed (LDK retries): {e}"),
                Err(e) => tracing::warn!(%txid, "broadcast task failed: {e}"),
            }
        }
    }
}

impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            let _ = self.queue.send((*tx).clone());
        }
    }
}

/// Shared handle type.
pub type SharedFees = Arc<FeeEstimates>;

#[cfg(test)]
mod tests {
    use super::*;

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
        *f.app_rates.write().unwrap() = [Some(5000), Some(2500), Some(300)];
        let r = f.onchain_fee_rates();
        assert_eq!((r.fast_sat_per_vb, r.regular_sat_per_vb, r.slow_sat_per_vb), (20, 10, 1));
        assert_eq!(r.source, "bitcoind");
        assert_eq!(kwu_to_vb(0), 1);
        assert_eq!(kwu_to_vb(375), 2);
    }
}
