//! The defaults, in one table: a constant per key whose default is one value, a function per key
//! whose default depends on the network or on `$HOME`. The key declarations (`keys.rs`) refer to
//! these; docs/CONFIG.md's default column is rendered from them.
//!
//! Keys without a default here: `network` (required), `bitcoind_rpc_user`,
//! `bitcoind_rpc_password`, `lnurl_public_url` and `htlc_forward_delay_ms` (unset unless set).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use bitcoin::Network;

use crate::rule::{Cx, Fail};

/// `p2p_listen`: every IPv4 address, Lightning's port 9735.
pub const DEFAULT_P2P_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9735));

/// `api_listen`: loopback only, port 3000.
pub const DEFAULT_API_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3000));

/// `alias`: empty (no alias announced).
pub const DEFAULT_ALIAS: &str = "";

/// `chain_poll_interval_ms`: poll bitcoind for new blocks every second.
pub const DEFAULT_CHAIN_POLL_INTERVAL_MS: u64 = 1000;

/// `wallet_sync_interval_ms`: sync the on-chain wallet every two seconds.
pub const DEFAULT_WALLET_SYNC_INTERVAL_MS: u64 = 2000;

/// `fee_rate_fallback_sat_per_kwu` on regtest: LDK's minimum ([`MIN_FEE_RATE_SAT_PER_KWU`]).
pub const DEFAULT_FEE_RATE_FALLBACK_REGTEST: u32 = MIN_FEE_RATE_SAT_PER_KWU;

/// `fee_rate_fallback_sat_per_kwu` on every other network: 4 sat/vB.
pub const DEFAULT_FEE_RATE_FALLBACK: u32 = 1000;

/// `log_level`.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// `backup_mode`: a failed backup write stops the node.
pub const DEFAULT_BACKUP_MODE: &str = "fail_stop";

/// `lease_ttl_secs`: a standby takes over within 10 s of the node's last renewal.
pub const DEFAULT_LEASE_TTL_SECS: u64 = 10;

/// `lease_renew_secs`: three renewals per time to live.
pub const DEFAULT_LEASE_RENEW_SECS: u64 = 3;

/// `standby`: a second node on the same database waits.
pub const DEFAULT_STANDBY: bool = true;

/// `accept_inbound_channels`: channels opened by peers are accepted.
pub const DEFAULT_ACCEPT_INBOUND_CHANNELS: bool = true;

/// `anchor_channels`: new channels negotiate anchor outputs.
pub const DEFAULT_ANCHOR_CHANNELS: bool = true;

/// `anchor_reserve_per_channel_sat`: what ldk-node keeps per anchor channel (enough to bump a
/// commitment with a few HTLCs at high fee rates).
pub const DEFAULT_ANCHOR_RESERVE_PER_CHANNEL_SAT: u64 = 25_000;

/// `anchor_reserve_max_sat`: twenty channels' worth.
pub const DEFAULT_ANCHOR_RESERVE_MAX_SAT: u64 = 500_000;

/// `max_bump_fee_rate_sat_per_vb`: far above any fee rate seen so far, so that a bump is only
/// capped by an operator's choice, yet bounded.
pub const DEFAULT_MAX_BUMP_FEE_RATE_SAT_PER_VB: u64 = 1_000;

/// `lnurl_allow_http`: LNURL needs https and never reaches loopback hosts.
pub const DEFAULT_LNURL_ALLOW_HTTP: bool = false;

/// `lsp_max_fee_msat`: 10,000 sat.
pub const DEFAULT_LSP_MAX_FEE_MSAT: u64 = 10_000_000;

/// `lsps2_service`: off.
pub const DEFAULT_LSPS2_SERVICE: bool = false;

/// `lsps2_service_min_fee_msat`: 2,000 sat.
pub const DEFAULT_LSPS2_SERVICE_MIN_FEE_MSAT: u64 = 2_000_000;

/// `lsps2_service_fee_ppm`: 1 %.
pub const DEFAULT_LSPS2_SERVICE_FEE_PPM: u32 = 10_000;

/// `lsps2_service_min_payment_msat`: 10,000 sat.
pub const DEFAULT_LSPS2_SERVICE_MIN_PAYMENT_MSAT: u64 = 10_000_000;

/// `lsps2_service_max_payment_msat`: 10,000,000 sat (0.1 BTC).
pub const DEFAULT_LSPS2_SERVICE_MAX_PAYMENT_MSAT: u64 = 10_000_000_000;

/// `lsps2_service_offer_validity_secs`: ten minutes.
pub const DEFAULT_LSPS2_SERVICE_OFFER_VALIDITY_SECS: u64 = 600;

/// `lsps2_service_over_provisioning_ppm`: channels 10 % larger than the payment.
pub const DEFAULT_LSPS2_SERVICE_OVER_PROVISIONING_PPM: u32 = 100_000;

/// LDK's minimum fee rate (1 sat/vB rounded up); `fee_rate_fallback_sat_per_kwu` may not be lower.
pub const MIN_FEE_RATE_SAT_PER_KWU: u32 = 253;

/// `data_dir`: `$HOME/.boltd/<network>`, the network spelled `bitcoin`, `testnet`, `testnet4`,
/// `signet` or `regtest`.
pub fn data_dir(cx: &Cx<'_>) -> Result<PathBuf, Fail> {
    Ok(cx.home.ok_or(Fail::NoHome)?.join(".boltd").join(cx.network.to_string()))
}

/// `bitcoind_rpc_url`: bitcoind's default RPC port for the network, on loopback.
pub fn bitcoind_rpc_url(cx: &Cx<'_>) -> Result<String, Fail> {
    Ok(format!("http://127.0.0.1:{}", rpc_port(cx.network)))
}

/// `bitcoind_rpc_cookie` without user and password: bitcoind's own,
/// `$HOME/.bitcoin/<netdir>/.cookie`.
pub fn bitcoind_rpc_cookie(cx: &Cx<'_>) -> Result<PathBuf, Fail> {
    let home = cx.home.ok_or(Fail::NoHome)?;
    Ok(home.join(".bitcoin").join(bitcoind_net_dir(cx.network)).join(".cookie"))
}

/// `fee_rate_fallback_sat_per_kwu`: the minimum on regtest (where `estimatesmartfee` never has
/// an estimate on a fresh chain), 1000 elsewhere.
pub fn fee_rate_fallback(cx: &Cx<'_>) -> Result<u32, Fail> {
    Ok(match cx.network {
        Network::Regtest => DEFAULT_FEE_RATE_FALLBACK_REGTEST,
        _ => DEFAULT_FEE_RATE_FALLBACK,
    })
}

/// bitcoind's default RPC port.
pub fn rpc_port(network: Network) -> u16 {
    match network {
        Network::Bitcoin => 8332,
        Network::Testnet => 18332,
        Network::Testnet4 => 48332,
        Network::Signet => 38332,
        Network::Regtest => 18443,
    }
}

/// The subdirectory of bitcoind's data directory for `network` (empty for mainnet).
pub fn bitcoind_net_dir(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "",
        Network::Testnet => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}
