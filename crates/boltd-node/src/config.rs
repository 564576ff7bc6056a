//! boltd's configuration: a TOML file, `BOLTD_*` environment variables and command-line flags.
//!
//! Every key can be set in three places. For each key separately, a command-line flag overrides
//! the environment, which overrides the file; keys set nowhere take their default. The keys, their
//! environment variables, flags and defaults are listed in one table in `docs/CONFIG.md` (a unit
//! test keeps that table and [`ConfigFile`] in step).
//!
//! * The file is read only when `--config <path>` or `BOLTD_CONFIG` names one (the flag wins);
//!   there is no implicit default file. A named file that does not exist is an error.
//! * Unknown keys in the file are errors, and so are unknown `BOLTD_*` environment variables,
//!   except the ones in [`NON_CONFIG_ENV_VARS`]. A typo is reported, never silently ignored.
//! * `network` has no default: it must be set in one of the three places.
//!
//! [`Config::load`] does all of the above and returns a [`Config`] whose fields are all concrete.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bitcoin::Network;
use serde::{Deserialize, Deserializer};

/// Environment variables that start with `BOLTD_` but are not configuration keys, so
/// [`ConfigFile::from_env`] skips them instead of rejecting them: `BOLTD_CONFIG` (the path of the
/// config file, like `--config`), `BOLTD_URL` / `BOLTD_TOKEN` (read by the command-line client) and
/// `BOLTD_LOG` (a full log filter, e.g. `info,ldk=trace`, that overrides `log_level`).
pub const NON_CONFIG_ENV_VARS: &[&str] = &["BOLTD_CONFIG", "BOLTD_URL", "BOLTD_TOKEN", "BOLTD_LOG"];

/// The maximum length of [`Config::alias`] in bytes (the size of the alias field in BOLT 7's
/// `node_announcement`).
pub const MAX_ALIAS_BYTES: usize = 32;

/// The accepted values of `log_level`.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// The largest accepted `htlc_forward_delay_ms`: HTLCs waiting longer hold up payments for
/// nothing (LDK's own randomized delay stays below 200 ms).
pub const MAX_HTLC_FORWARD_DELAY_MS: u64 = 10_000;

/// LDK's minimum fee rate (1 sat/vB rounded up); `fee_rate_fallback_sat_per_kwu` may not be lower.
const MIN_FEE_RATE_SAT_PER_KWU: u32 = 253;

const ENV_PREFIX: &str = "BOLTD_";
const CONFIG_ENV_VAR: &str = "BOLTD_CONFIG";
const REDACTED: &str = "<redacted>";
const NETWORKS_EXPECTED: &str = "bitcoin (or mainnet), testnet, testnet4, signet, regtest";

/// The resolved configuration: every layer merged, defaults applied and validated.
///
/// `Debug` prints `<redacted>` instead of the bitcoind RPC password.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The Bitcoin network. Required: it has no default.
    pub network: Network,
    /// Where the node keeps its seed, wallet and channel state. Default `$HOME/.boltd/<network>`,
    /// with the network spelled `bitcoin`, `testnet`, `testnet4`, `signet` or `regtest`.
    pub data_dir: PathBuf,
    /// The address the Lightning peer-to-peer listener binds. Default `0.0.0.0:9735`.
    pub p2p_listen: SocketAddr,
    /// The `host:port` addresses announced to the network. Default none.
    pub announce_addrs: Vec<String>,
    /// The node alias announced to the network, at most [`MAX_ALIAS_BYTES`] bytes. Default empty.
    pub alias: String,
    /// The address the HTTP API binds. Default `127.0.0.1:3000`.
    pub api_listen: SocketAddr,
    /// Browser origins (`https://app.example.com`, or `*` for any) allowed to call the API
    /// across origins (CORS). Default none: browsers on other origins are denied. The
    /// LNURL-pay endpoints under `/.well-known/lnurlp/` are open to every origin regardless.
    pub api_cors_origins: Vec<String>,
    /// bitcoind's JSON-RPC URL (`http://host:port[/path]`). Default `http://127.0.0.1:<port>`
    /// with bitcoind's default RPC port for the network.
    pub bitcoind_rpc_url: String,
    /// bitcoind RPC user; set together with [`Config::bitcoind_rpc_password`], or not at all.
    pub bitcoind_rpc_user: Option<String>,
    /// bitcoind RPC password; set together with [`Config::bitcoind_rpc_user`], or not at all.
    pub bitcoind_rpc_password: Option<String>,
    /// bitcoind's cookie file. `None` exactly when user and password are set; when neither they
    /// nor a cookie are configured, bitcoind's default `$HOME/.bitcoin/<netdir>/.cookie`.
    pub bitcoind_rpc_cookie: Option<PathBuf>,
    /// How often bitcoind is polled for new blocks, in milliseconds. Default 1000.
    pub chain_poll_interval_ms: u64,
    /// How often the on-chain wallet is synced, in milliseconds. Default 2000.
    pub wallet_sync_interval_ms: u64,
    /// Fee rate used for a target `estimatesmartfee` never gave an estimate for since the start
    /// (a failed refresh keeps the last estimate), in sat per 1000 weight units.
    /// Default 253 on regtest, 1000 elsewhere; at least 253.
    pub fee_rate_fallback_sat_per_kwu: u32,
    /// Log verbosity: one of [`LOG_LEVELS`], lower-case. Default `info`.
    pub log_level: String,
    /// Whether channels opened by peers are accepted. Default true.
    pub accept_inbound_channels: bool,
    /// Lightning-address names served at `/.well-known/lnurlp/<name>` (LUD-16), each made of
    /// `a-z0-9-_.`. Default none.
    pub lnurl_names: Vec<String>,
    /// The base URL (`https://host[:port][/path]`, no trailing slash) at which others reach this
    /// API, used to build LNURL-pay callback URLs. Default unset: then (regtest with
    /// [`Config::lnurl_allow_http`] only) callbacks are built from the request's `Host` header
    /// as `http://<host>`.
    pub lnurl_public_url: Option<String>,
    /// Allows plain-`http` LNURL to loopback hosts (paying and serving). Only allowed on regtest.
    /// Default false.
    pub lnurl_allow_http: bool,
    /// How long HTLCs to forward or receive wait before they are processed, in milliseconds, so
    /// that several are handled in one batch. `None` (the default): LDK's randomized delay
    /// (log-normal, about 50 ms on average, at most 200 ms), which also blurs the timing a
    /// neighbour could use to guess where a payment started or ends. `Some(0)`: as soon as an
    /// HTLC is irrevocably committed.
    pub htlc_forward_delay_ms: Option<u64>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("network", &self.network)
            .field("data_dir", &self.data_dir)
            .field("p2p_listen", &self.p2p_listen)
            .field("announce_addrs", &self.announce_addrs)
            .field("alias", &self.alias)
            .field("api_listen", &self.api_listen)
            .field("api_cors_origins", &self.api_cors_origins)
            .field("bitcoind_rpc_url", &self.bitcoind_rpc_url)
            .field("bitcoind_rpc_user", &self.bitcoind_rpc_user)
            .field("bitcoind_rpc_password", &self.bitcoind_rpc_password.as_ref().map(|_| REDACTED))
            .field("bitcoind_rpc_cookie", &self.bitcoind_rpc_cookie)
            .field("chain_poll_interval_ms", &self.chain_poll_interval_ms)
            .field("wallet_sync_interval_ms", &self.wallet_sync_interval_ms)
            .field("fee_rate_fallback_sat_per_kwu", &self.fee_rate_fallback_sat_per_kwu)
            .field("log_level", &self.log_level)
            .field("accept_inbound_channels", &self.accept_inbound_channels)
            .field("lnurl_names", &self.lnurl_names)
            .field("lnurl_public_url", &self.lnurl_public_url)
            .field("lnurl_allow_http", &self.lnurl_allow_http)
            .field("htlc_forward_delay_ms", &self.htlc_forward_delay_ms)
            .finish()
    }
}

/// One layer of configuration (the file, the environment or the flags): the keys of [`Config`],
/// each optional. In the TOML file unknown keys are errors.
///
/// `Debug` prints `<redacted>` instead of the bitcoind RPC password.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// See [`Config::network`].
    #[serde(default, deserialize_with = "deserialize_network")]
    pub network: Option<Network>,
    /// See [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Config::p2p_listen`].
    pub p2p_listen: Option<SocketAddr>,
    /// See [`Config::announce_addrs`]; a TOML array of strings.
    pub announce_addrs: Option<Vec<String>>,
    /// See [`Config::alias`].
    pub alias: Option<String>,
    /// See [`Config::api_listen`].
    pub api_listen: Option<SocketAddr>,
    /// See [`Config::api_cors_origins`]; a TOML array of strings.
    pub api_cors_origins: Option<Vec<String>>,
    /// See [`Config::bitcoind_rpc_url`].
    pub bitcoind_rpc_url: Option<String>,
    /// See [`Config::bitcoind_rpc_user`].
    pub bitcoind_rpc_user: Option<String>,
    /// See [`Config::bitcoind_rpc_password`].
    pub bitcoind_rpc_password: Option<String>,
    /// See [`Config::bitcoind_rpc_cookie`].
    pub bitcoind_rpc_cookie: Option<PathBuf>,
    /// See [`Config::chain_poll_interval_ms`].
    pub chain_poll_interval_ms: Option<u64>,
    /// See [`Config::wallet_sync_interval_ms`].
    pub wallet_sync_interval_ms: Option<u64>,
    /// See [`Config::fee_rate_fallback_sat_per_kwu`].
    pub fee_rate_fallback_sat_per_kwu: Option<u32>,
    /// See [`Config::log_level`].
    pub log_level: Option<String>,
    /// See [`Config::accept_inbound_channels`].
    pub accept_inbound_channels: Option<bool>,
    /// See [`Config::lnurl_names`]; a TOML array of strings.
    pub lnurl_names: Option<Vec<String>>,
    /// See [`Config::lnurl_public_url`].
    pub lnurl_public_url: Option<String>,
    /// See [`Config::lnurl_allow_http`].
    pub lnurl_allow_http: Option<bool>,
    /// See [`Config::htlc_forward_delay_ms`].
    pub htlc_forward_delay_ms: Option<u64>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("network", &self.network)
            .field("data_dir", &self.data_dir)
            .field("p2p_listen", &self.p2p_listen)
            .field("announce_addrs", &self.announce_addrs)
            .field("alias", &self.alias)
            .field("api_listen", &self.api_listen)
            .field("api_cors_origins", &self.api_cors_origins)
            .field("bitcoind_rpc_url", &self.bitcoind_rpc_url)
            .field("bitcoind_rpc_user", &self.bitcoind_rpc_user)
            .field("bitcoind_rpc_password", &self.bitcoind_rpc_password.as_ref().map(|_| REDACTED))
            .field("bitcoind_rpc_cookie", &self.bitcoind_rpc_cookie)
            .field("chain_poll_interval_ms", &self.chain_poll_interval_ms)
            .field("wallet_sync_interval_ms", &self.wallet_sync_interval_ms)
            .field("fee_rate_fallback_sat_per_kwu", &self.fee_rate_fallback_sat_per_kwu)
            .field("log_level", &self.log_level)
            .field("accept_inbound_channels", &self.accept_inbound_channels)
            .field("lnurl_names", &self.lnurl_names)
            .field("lnurl_public_url", &self.lnurl_public_url)
            .field("lnurl_allow_http", &self.lnurl_allow_http)
            .field("htlc_forward_delay_ms", &self.htlc_forward_delay_ms)
            .finish()
    }
}

/// The configuration flags, to `#[command(flatten)]` into the daemon's clap parser.
///
/// The flags do not read the environment themselves (no clap `env`): [`Config::load`] reads the
/// environment as its own layer, so the order file < environment < flags holds for every key.
///
/// `Debug` prints `<redacted>` instead of the bitcoind RPC password.
#[derive(Clone, Default, PartialEq, Eq, clap::Args)]
// Without this, clap would use this doc comment as the about text of a command that has none.
#[command(about = None, long_about = None)]
pub struct ConfigArgs {
    /// Config file (TOML) to read. Overrides BOLTD_CONFIG; a named file must exist.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Bitcoin network: bitcoin (or mainnet), testnet, testnet4, signet or regtest. Required.
    #[arg(long, value_name = "NETWORK", value_parser = parse_network)]
    pub network: Option<Network>,
    /// Data directory [default: $HOME/.boltd/NETWORK, e.g. $HOME/.boltd/regtest].
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Lightning peer-to-peer listen address [default: 0.0.0.0:9735].
    #[arg(long, value_name = "ADDR")]
    pub p2p_listen: Option<SocketAddr>,
    /// Addresses (host:port) announced to the network; repeat the flag or separate with commas.
    #[arg(long, value_name = "HOST:PORT", value_delimiter = ',')]
    pub announce_addrs: Option<Vec<String>>,
    /// Node alias announced to the network, at most 32 bytes [default: empty].
    #[arg(long, value_name = "ALIAS")]
    pub alias: Option<String>,
    /// HTTP API listen address [default: 127.0.0.1:3000].
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<SocketAddr>,
    /// Browser origins allowed to call the API (CORS), e.g. https://app.example.com, or `*`;
    /// repeat the flag or separate with commas [default: none].
    #[arg(long, value_name = "ORIGIN", value_delimiter = ',')]
    pub api_cors_origins: Option<Vec<String>>,
    /// bitcoind JSON-RPC URL [default: http://127.0.0.1:<bitcoind's port for the network>].
    #[arg(long, value_name = "URL")]
    pub bitcoind_rpc_url: Option<String>,
    /// bitcoind RPC user (needs --bitcoind-rpc-password).
    #[arg(long, value_name = "USER")]
    pub bitcoind_rpc_user: Option<String>,
    /// bitcoind RPC password. Visible to other local users in the process list: prefer the
    /// config file, BOLTD_BITCOIND_RPC_PASSWORD or a cookie file.
    #[arg(long, value_name = "PASSWORD")]
    pub bitcoind_rpc_password: Option<String>,
    /// bitcoind cookie file, used when user and password are not set [default: bitcoind's, e.g.
    /// $HOME/.bitcoin/regtest/.cookie].
    #[arg(long, value_name = "PATH")]
    pub bitcoind_rpc_cookie: Option<PathBuf>,
    /// Block polling interval in milliseconds [default: 1000].
    #[arg(long, value_name = "MS")]
    pub chain_poll_interval_ms: Option<u64>,
    /// On-chain wallet sync interval in milliseconds [default: 2000].
    #[arg(long, value_name = "MS")]
    pub wallet_sync_interval_ms: Option<u64>,
    /// Fee rate (sat/kwu) used when estimatesmartfee has no estimate [default: 253 on regtest,
    /// 1000 elsewhere].
    #[arg(long, value_name = "SAT_PER_KWU")]
    pub fee_rate_fallback_sat_per_kwu: Option<u32>,
    /// Log level: error, warn, info, debug or trace [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Accept channels opened by peers: true or false [default: true].
    #[arg(long, value_name = "BOOL")]
    pub accept_inbound_channels: Option<bool>,
    /// Lightning-address names to serve (LUD-16); repeat the flag or separate with commas.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub lnurl_names: Option<Vec<String>>,
    /// Base URL at which others reach this API, for LNURL-pay callbacks (https://host[/path]).
    #[arg(long, value_name = "URL")]
    pub lnurl_public_url: Option<String>,
    /// Allow plain-http LNURL to loopback hosts: true or false; regtest only [default: false].
    #[arg(long, value_name = "BOOL")]
    pub lnurl_allow_http: Option<bool>,
    /// Delay before HTLCs to forward or receive are processed, in milliseconds; 0 = at once
    /// [default: LDK's randomized delay, about 50 ms on average].
    #[arg(long, value_name = "MS")]
    pub htlc_forward_delay_ms: Option<u64>,
}

impl fmt::Debug for ConfigArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigArgs")
            .field("config", &self.config)
            .field("flags", &self.to_layer())
            .finish()
    }
}

/// Why the configuration could not be loaded. Messages name where the bad value came from (the
/// file and key, the environment variable or the flag) and never contain the RPC password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `network` was set nowhere.
    #[error("`network` is required: set it in the config file, BOLTD_NETWORK or --network")]
    MissingNetwork,
    /// The config file could not be read (a named file that does not exist included).
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The config file has a key boltd does not know.
    #[error(
        "unknown key `{key}` in {}; the keys are: {}",
        path.display(),
        ConfigFile::keys().join(", ")
    )]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// The config file is not valid TOML or a value has the wrong type.
    #[error("invalid config file {}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error, with the line and key.
        source: toml::de::Error,
    },
    /// A `BOLTD_*` environment variable that is neither a configuration key nor in
    /// [`NON_CONFIG_ENV_VARS`].
    #[error(
        "unknown environment variable {name}: boltd reads BOLTD_<KEY> for each configuration key \
         (see docs/CONFIG.md) plus {}",
        NON_CONFIG_ENV_VARS.join(", ")
    )]
    UnknownEnvVar {
        /// The variable's name.
        name: String,
    },
    /// A value is malformed or out of range.
    #[error("{setting}: {message}")]
    Invalid {
        /// Where the value was set: "`alias` in /etc/boltd.toml", "BOLTD_ALIAS" or "--alias".
        setting: String,
        /// What is wrong with it.
        message: String,
    },
    /// A default needs `$HOME`, which is not set.
    #[error(
        "`{key}` has no default because HOME is not set: set it in the config file, {} or --{}",
        env_var(key),
        key.replace('_', "-")
    )]
    NoHome {
        /// The key whose default lives under `$HOME`.
        key: &'static str,
    },
}

/// Where a key's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Env,
    Flag,
    /// Built in code ([`Config::from_layer`]).
    Code,
}

impl Source {
    /// How an operator sets `key` in this source, for error messages.
    fn setting(&self, key: &str) -> String {
        match self {
            Source::File(path) => format!("`{key}` in {}", path.display()),
            Source::Env => env_var(key),
            Source::Flag => format!("--{}", key.replace('_', "-")),
            Source::Code => format!("`{key}`"),
        }
    }
}

/// The environment variable of `key`.
fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

impl ConfigFile {
    /// The configuration keys, in declaration order (taken from the serde derive, so it cannot
    /// drift from the struct).
    pub fn keys() -> &'static [&'static str] {
        struct_fields::<ConfigFile>()
    }

    /// Parses a config file's contents; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|source| ConfigError::Toml { path: path.to_path_buf(), source })?;
        if let Some(key) = table.keys().find(|k| !Self::keys().contains(&k.as_str())) {
            return Err(ConfigError::UnknownKey { key: key.clone(), path: path.to_path_buf() });
        }
        // Parse the text again rather than the table so that errors carry line numbers.
        toml::from_str(text)
            .map_err(|source| ConfigError::Toml { path: path.to_path_buf(), source })
    }

    /// Reads and parses a config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::ReadFile { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, path)
    }

    /// The environment layer: `BOLTD_<KEY>` for each key (`BOLTD_NETWORK`, `BOLTD_DATA_DIR`...).
    ///
    /// Values are taken literally, except `BOLTD_ANNOUNCE_ADDRS`, `BOLTD_API_CORS_ORIGINS` and `BOLTD_LNURL_NAMES`
    /// (comma-separated, items trimmed, empty items dropped) and `BOLTD_ACCEPT_INBOUND_CHANNELS`
    /// and `BOLTD_LNURL_ALLOW_HTTP` (`true`/`false`/`1`/`0`).
    /// Variables not starting with `BOLTD_` and those in [`NON_CONFIG_ENV_VARS`] are ignored;
    /// any other `BOLTD_*` variable is an error.
    pub fn from_env(vars: impl Iterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut layer = ConfigFile::default();
        for (name, value) in vars {
            let Some(suffix) = name.strip_prefix(ENV_PREFIX) else { continue };
            if NON_CONFIG_ENV_VARS.contains(&name.as_str()) {
                continue;
            }
            let key = Self::keys()
                .iter()
                .find(|k| k.to_ascii_uppercase() == suffix)
                .ok_or_else(|| ConfigError::UnknownEnvVar { name: name.clone() })?;
            layer
                .set_from_str(key, &value)
                .map_err(|message| ConfigError::Invalid { setting: name.clone(), message })?;
        }
        Ok(layer)
    }

    /// Sets `key` from its environment-variable spelling.
    fn set_from_str(&mut self, key: &str, value: &str) -> Result<(), String> {
        let text = || Some(value.to_string());
        let path = || Some(PathBuf::from(value));
        let list = || {
            Some(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect(),
            )
        };
        let boolean = || match value {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expected true, false, 1 or 0, got `{value}`")),
        };
        match key {
            "network" => self.network = Some(parse_network(value)?),
            "data_dir" => self.data_dir = path(),
            "p2p_listen" => self.p2p_listen = Some(parse_socket_addr(value)?),
            "announce_addrs" => self.announce_addrs = list(),
            "alias" => self.alias = text(),
            "api_listen" => self.api_listen = Some(parse_socket_addr(value)?),
            "api_cors_origins" => self.api_cors_origins = list(),
            "bitcoind_rpc_url" => self.bitcoind_rpc_url = text(),
            "bitcoind_rpc_user" => self.bitcoind_rpc_user = text(),
            "bitcoind_rpc_password" => self.bitcoind_rpc_password = text(),
            "bitcoind_rpc_cookie" => self.bitcoind_rpc_cookie = path(),
            "chain_poll_interval_ms" => self.chain_poll_interval_ms = Some(parse_number(value)?),
            "wallet_sync_interval_ms" => self.wallet_sync_interval_ms = Some(parse_number(value)?),
            "fee_rate_fallback_sat_per_kwu" => {
                self.fee_rate_fallback_sat_per_kwu = Some(parse_number(value)?)
            }
            "log_level" => self.log_level = text(),
            "accept_inbound_channels" => self.accept_inbound_channels = Some(boolean()?),
            "lnurl_names" => self.lnurl_names = list(),
            "lnurl_public_url" => self.lnurl_public_url = text(),
            "lnurl_allow_http" => self.lnurl_allow_http = Some(boolean()?),
            "htlc_forward_delay_ms" => self.htlc_forward_delay_ms = Some(parse_number(value)?),
            // `keys()` and this match list the same fields; a unit test checks it.
            _ => return Err(format!("`{key}` cannot be set from the environment")),
        }
        Ok(())
    }
}

impl ConfigArgs {
    /// The flags as a configuration layer (everything but `--config`).
    pub fn to_layer(&self) -> ConfigFile {
        ConfigFile {
            network: self.network,
            data_dir: self.data_dir.clone(),
            p2p_listen: self.p2p_listen,
            announce_addrs: self.announce_addrs.as_ref().map(|addrs| {
                addrs.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).map(String::from).collect()
            }),
            alias: self.alias.clone(),
            api_listen: self.api_listen,
            api_cors_origins: self.api_cors_origins.as_ref().map(|origins| {
                origins
                    .iter()
                    .map(|o| o.trim())
                    .filter(|o| !o.is_empty())
                    .map(String::from)
                    .collect()
            }),
            bitcoind_rpc_url: self.bitcoind_rpc_url.clone(),
            bitcoind_rpc_user: self.bitcoind_rpc_user.clone(),
            bitcoind_rpc_password: self.bitcoind_rpc_password.clone(),
            bitcoind_rpc_cookie: self.bitcoind_rpc_cookie.clone(),
            chain_poll_interval_ms: self.chain_poll_interval_ms,
            wallet_sync_interval_ms: self.wallet_sync_interval_ms,
            fee_rate_fallback_sat_per_kwu: self.fee_rate_fallback_sat_per_kwu,
            log_level: self.log_level.clone(),
            accept_inbound_channels: self.accept_inbound_channels,
            lnurl_names: self.lnurl_names.as_ref().map(|names| {
                names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).map(String::from).collect()
            }),
            lnurl_public_url: self.lnurl_public_url.clone(),
            lnurl_allow_http: self.lnurl_allow_http,
            htlc_forward_delay_ms: self.htlc_forward_delay_ms,
        }
    }
}

/// Layers merged so far, with the source of each key that is set.
#[derive(Default)]
struct Merged {
    values: ConfigFile,
    sources: BTreeMap<&'static str, Source>,
}

impl Merged {
    /// Lays `layer` over what is there: every key it sets wins.
    fn push(&mut self, layer: ConfigFile, source: Source) {
        // Destructured without `..`, so a new field that is not merged here fails to compile.
        let ConfigFile {
            network,
            data_dir,
            p2p_listen,
            announce_addrs,
            alias,
            api_listen,
            api_cors_origins,
            bitcoind_rpc_url,
            bitcoind_rpc_user,
            bitcoind_rpc_password,
            bitcoind_rpc_cookie,
            chain_poll_interval_ms,
            wallet_sync_interval_ms,
            fee_rate_fallback_sat_per_kwu,
            log_level,
            accept_inbound_channels,
            lnurl_names,
            lnurl_public_url,
            lnurl_allow_http,
            htlc_forward_delay_ms,
        } = layer;
        macro_rules! overlay {
            ($($key:ident),* $(,)?) => {$(
                if $key.is_some() {
                    self.values.$key = $key;
                    self.sources.insert(stringify!($key), source.clone());
                }
            )*};
        }
        overlay!(
            network,
            data_dir,
            p2p_listen,
            announce_addrs,
            alias,
            api_listen,
            api_cors_origins,
            bitcoind_rpc_url,
            bitcoind_rpc_user,
            bitcoind_rpc_password,
            bitcoind_rpc_cookie,
            chain_poll_interval_ms,
            wallet_sync_interval_ms,
            fee_rate_fallback_sat_per_kwu,
            log_level,
            accept_inbound_channels,
            lnurl_names,
            lnurl_public_url,
            lnurl_allow_http,
            htlc_forward_delay_ms,
        );
    }

    /// Where `key` was set, as an operator would write it.
    fn setting(&self, key: &str) -> String {
        match self.sources.get(key) {
            Some(source) => source.setting(key),
            None => format!("`{key}` (default)"),
        }
    }

    /// Checks the bitcoind credentials and returns the cookie file to use: none with a user and
    /// password, else the configured one or bitcoind's default for `network`.
    fn bitcoind_cookie(
        &self,
        network: Network,
        home: Option<&Path>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let v = &self.values;
        let (user, password) = (&v.bitcoind_rpc_user, &v.bitcoind_rpc_password);
        let both = "set both, or use a cookie file";
        match (user, password, &v.bitcoind_rpc_cookie) {
            (Some(_), None, _) => Err(self.invalid(
                "bitcoind_rpc_user",
                format!("is set but bitcoind_rpc_password is not; {both}"),
            )),
            (None, Some(_), _) => Err(self.invalid(
                "bitcoind_rpc_password",
                format!("is set but bitcoind_rpc_user is not; {both}"),
            )),
            (Some(_), Some(_), Some(_)) => {
                let cookie = self.setting("bitcoind_rpc_cookie");
                let message = format!(
                    "user and password are set, and so is a cookie file ({cookie}); use one or the \
                     other"
                );
                Err(self.invalid("bitcoind_rpc_user", message))
            }
            (Some(_), Some(_), None) => Ok(None),
            (None, None, Some(cookie)) if cookie.as_os_str().is_empty() => {
                Err(self.invalid("bitcoind_rpc_cookie", "must not be empty"))
            }
            (None, None, Some(cookie)) => Ok(Some(cookie.clone())),
            (None, None, None) => {
                let home = home.ok_or(ConfigError::NoHome { key: "bitcoind_rpc_cookie" })?;
                Ok(Some(home.join(".bitcoin").join(bitcoind_net_dir(network)).join(".cookie")))
            }
        }
    }

    /// Checks the LNURL keys: `lnurl_allow_http` only on regtest; names made of `a-z0-9-_.`
    /// (LUD-16), without duplicates; the public URL `https://host[:port][/path]` (`http` only
    /// with `lnurl_allow_http` and a loopback host), its trailing `/` dropped; hosted names need
    /// the public URL unless `lnurl_allow_http` lets callbacks follow the `Host` header.
    fn lnurl(&self, network: Network) -> Result<(Vec<String>, Option<String>, bool), ConfigError> {
        let v = &self.values;
        let allow_http = v.lnurl_allow_http.unwrap_or(false);
        if allow_http && network != Network::Regtest {
            return Err(self.invalid(
                "lnurl_allow_http",
                format!("plain-http LNURL is only allowed on regtest, not {network}"),
            ));
        }
        let names = v.lnurl_names.clone().unwrap_or_default();
        for (i, name) in names.iter().enumerate() {
            if !is_lnurl_name(name) {
                return Err(self.invalid(
                    "lnurl_names",
                    format!("`{name}` is not a Lightning-address name: use a-z, 0-9, -, _ and ."),
                ));
            }
            if names[..i].contains(name) {
                return Err(self.invalid("lnurl_names", format!("`{name}` is listed twice")));
            }
        }
        let public_url = match &v.lnurl_public_url {
            None => None,
            Some(url) => {
                let url = url.trim_end_matches('/');
                check_lnurl_public_url(url, allow_http)
                    .map_err(|m| self.invalid("lnurl_public_url", m))?;
                Some(url.to_string())
            }
        };
        if !names.is_empty() && public_url.is_none() && !allow_http {
            return Err(self.invalid(
                "lnurl_names",
                "needs lnurl_public_url, the https URL at which payers reach this API (on \
                 regtest, lnurl_allow_http builds callbacks from the request's Host header instead)",
            ));
        }
        Ok((names, public_url, allow_http))
    }

    /// A [`ConfigError::Invalid`] for `key`, naming where it was set.
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { setting: self.setting(key), message: message.into() }
    }
}

impl Config {
    /// Loads the configuration: the file named by `--config` (or else `BOLTD_CONFIG`), then the
    /// `BOLTD_*` variables of `env`, then the flags, each overriding the previous for the keys it
    /// sets; then defaults and validation.
    ///
    /// `env` is the process environment in production (`std::env::vars()`, which panics on a
    /// non-UTF-8 variable; filter `std::env::vars_os()` to avoid that). `HOME`, used by the
    /// defaults of `data_dir` and `bitcoind_rpc_cookie`, is read from it too.
    pub fn load(
        args: &ConfigArgs,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.collect();
        let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);

        let config_path = match (&args.config, lookup(CONFIG_ENV_VAR)) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) if path.is_empty() => {
                return Err(ConfigError::Invalid {
                    setting: CONFIG_ENV_VAR.into(),
                    message: "is empty; unset it or name a config file".into(),
                })
            }
            (None, Some(path)) => Some(PathBuf::from(path)),
            (None, None) => None,
        };

        let mut merged = Merged::default();
        if let Some(path) = config_path {
            merged.push(ConfigFile::read(&path)?, Source::File(path));
        }
        merged.push(ConfigFile::from_env(env.iter().cloned())?, Source::Env);
        merged.push(args.to_layer(), Source::Flag);

        let home = lookup("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        Self::resolve(merged, home.as_deref())
    }

    /// Applies defaults to a single, already merged layer and validates the result. For callers
    /// that build their configuration in code (tests, the harness). `home` stands for `$HOME` in
    /// the defaults.
    pub fn from_layer(layer: ConfigFile, home: Option<&Path>) -> Result<Config, ConfigError> {
        let mut merged = Merged::default();
        merged.push(layer, Source::Code);
        Self::resolve(merged, home)
    }

    fn resolve(merged: Merged, home: Option<&Path>) -> Result<Config, ConfigError> {
        let v = merged.values.clone();
        let network = v.network.ok_or(ConfigError::MissingNetwork)?;

        let data_dir = match v.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(merged.invalid("data_dir", "must not be empty"))
            }
            Some(dir) => dir,
            None => home
                .ok_or(ConfigError::NoHome { key: "data_dir" })?
                .join(".boltd")
                .join(network.to_string()),
        };

        let announce_addrs = v.announce_addrs.unwrap_or_default();
        if let Some(bad) = announce_addrs.iter().find(|a| !is_host_port(a)) {
            return Err(merged.invalid(
                "announce_addrs",
                format!("`{bad}` is not host:port (e.g. 203.0.113.5:9735 or example.com:9735)"),
            ));
        }

        let alias = v.alias.unwrap_or_default();
        if alias.len() > MAX_ALIAS_BYTES {
            return Err(merged.invalid(
                "alias",
                format!("`{alias}` is {} bytes; at most {MAX_ALIAS_BYTES} allowed", alias.len()),
            ));
        }

        let bitcoind_rpc_url = v
            .bitcoind_rpc_url
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", default_rpc_port(network)));
        check_rpc_url(&bitcoind_rpc_url).map_err(|m| merged.invalid("bitcoind_rpc_url", m))?;

        let bitcoind_rpc_cookie = merged.bitcoind_cookie(network, home)?;

        let chain_poll_interval_ms = v.chain_poll_interval_ms.unwrap_or(1000);
        if chain_poll_interval_ms == 0 {
            return Err(merged.invalid("chain_poll_interval_ms", "must be at least 1"));
        }
        let wallet_sync_interval_ms = v.wallet_sync_interval_ms.unwrap_or(2000);
        if wallet_sync_interval_ms == 0 {
            return Err(merged.invalid("wallet_sync_interval_ms", "must be at least 1"));
        }

        let fee_rate_fallback_sat_per_kwu = v
            .fee_rate_fallback_sat_per_kwu
            .unwrap_or(if network == Network::Regtest { 253 } else { 1000 });
        if fee_rate_fallback_sat_per_kwu < MIN_FEE_RATE_SAT_PER_KWU {
            return Err(merged.invalid(
                "fee_rate_fallback_sat_per_kwu",
                format!(
                    "{fee_rate_fallback_sat_per_kwu} is below LDK's minimum of \
                     {MIN_FEE_RATE_SAT_PER_KWU} sat/kwu"
                ),
            ));
        }

        let log_level = v.log_level.unwrap_or_else(|| "info".into()).to_ascii_lowercase();
        if !LOG_LEVELS.contains(&log_level.as_str()) {
            return Err(merged.invalid(
                "log_level",
                format!("unknown level `{log_level}`; expected one of {}", LOG_LEVELS.join(", ")),
            ));
        }

        let (lnurl_names, lnurl_public_url, lnurl_allow_http) = merged.lnurl(network)?;

        let htlc_forward_delay_ms = v.htlc_forward_delay_ms;
        if htlc_forward_delay_ms.is_some_and(|ms| ms > MAX_HTLC_FORWARD_DELAY_MS) {
            return Err(merged.invalid(
                "htlc_forward_delay_ms",
                format!("must be at most {MAX_HTLC_FORWARD_DELAY_MS} (HTLCs would wait too long)"),
            ));
        }

        let api_cors_origins = v.api_cors_origins.unwrap_or_default();
        for (i, origin) in api_cors_origins.iter().enumerate() {
            check_origin(origin).map_err(|m| merged.invalid("api_cors_origins", m))?;
            if api_cors_origins[..i].contains(origin) {
                return Err(
                    merged.invalid("api_cors_origins", format!("`{origin}` is listed twice"))
                );
            }
        }

        Ok(Config {
            network,
            data_dir,
            p2p_listen: v.p2p_listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 9735))),
            announce_addrs,
            alias,
            api_listen: v.api_listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000))),
            api_cors_origins,
            bitcoind_rpc_url,
            bitcoind_rpc_user: v.bitcoind_rpc_user,
            bitcoind_rpc_password: v.bitcoind_rpc_password,
            bitcoind_rpc_cookie,
            chain_poll_interval_ms,
            wallet_sync_interval_ms,
            fee_rate_fallback_sat_per_kwu,
            log_level,
            accept_inbound_channels: v.accept_inbound_channels.unwrap_or(true),
            lnurl_names,
            lnurl_public_url,
            lnurl_allow_http,
            htlc_forward_delay_ms,
        })
    }
}

/// bitcoind's default RPC port.
fn default_rpc_port(network: Network) -> u16 {
    match network {
        Network::Bitcoin => 8332,
        Network::Testnet => 18332,
        Network::Testnet4 => 48332,
        Network::Signet => 38332,
        Network::Regtest => 18443,
    }
}

/// The subdirectory of bitcoind's data directory for `network` (empty for mainnet).
fn bitcoind_net_dir(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "",
        Network::Testnet => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

fn parse_network(s: &str) -> Result<Network, String> {
    match s {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        _ => Err(format!("unknown network `{s}`; expected one of {NETWORKS_EXPECTED}")),
    }
}

fn deserialize_network<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Network>, D::Error> {
    let s = String::deserialize(d)?;
    parse_network(&s).map(Some).map_err(serde::de::Error::custom)
}

fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not an IP address and port (e.g. 127.0.0.1:3000)"))
}

fn parse_number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("`{s}` is not a whole number in range"))
}

/// `host:port` with a non-empty host and a valid port (IPv6 hosts in brackets).
fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// The URL shapes the bitcoind client accepts: `http://host:port` with an optional path.
fn check_rpc_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` must start with http:// (TLS is not supported)"))?;
    let host_port = rest.split('/').next().unwrap_or_default();
    if !is_host_port(host_port) {
        return Err(format!("`{url}` needs a host and a port, e.g. http://127.0.0.1:18443"));
    }
    Ok(())
}

/// A browser origin as browsers send it (`scheme://host[:port]`, lower case, no path), or `*`.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let (scheme, authority) = origin.split_once("://").ok_or_else(|| {
        format!("`{origin}` is not an origin: use scheme://host[:port], e.g. https://app.example.com, or *")
    })?;
    let ok_scheme = scheme == "https" || scheme == "http";
    let ok_authority = !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' '])
        && authority.bytes().all(|b| !b.is_ascii_uppercase());
    if !ok_scheme || !ok_authority {
        return Err(format!(
            "`{origin}` is not an origin: use http(s)://host[:port] in lower case, without a path \
             (e.g. https://app.example.com), or *"
        ));
    }
    Ok(())
}

/// A LUD-16 user name: non-empty, `a-z0-9-_.` only.
fn is_lnurl_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// Whether `host` (no port, IPv6 in brackets) is a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// `lnurl_public_url`: `https://host[:port][/path]`, or `http://` to a loopback host when plain
/// http is allowed; no query, fragment or user info.
fn check_lnurl_public_url(url: &str, allow_http: bool) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` must start with https:// (e.g. https://example.com)"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) || rest.contains(['?', '#'])
    {
        return Err(format!("`{url}` needs a host, and no user, query or fragment"));
    }
    let host = match authority.rfind(']') {
        Some(end) => &authority[..=end],
        None => authority.split(':').next().unwrap_or_default(),
    };
    match scheme {
        "https" => Ok(()),
        "http" if allow_http && is_loopback_host(host) => Ok(()),
        "http" => Err(format!(
            "`{url}`: plain http is only allowed for a loopback host on regtest with \
             lnurl_allow_http; use https"
        )),
        _ => Err(format!("`{url}` must start with https://")),
    }
}

/// The field names `T`'s serde derive declares, captured by a deserializer that records them and
/// stops.
fn struct_fields<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const DOC: &str = include_str!("../../../docs/CONFIG.md");

    #[test]
    fn the_readme_example_config_is_valid() {
        const README: &str = include_str!("../../../README.md");
        let start = README.find("```toml\n").expect("README has a TOML example") + 8;
        let text = &README[start..start + README[start..].find("```").unwrap()];
        let file = ConfigFile::from_toml(text, Path::new("README.md")).unwrap();
        let config = Config::from_layer(file, Some(Path::new("/home/u"))).unwrap();
        assert_eq!(config.network, Network::Signet);
        assert_eq!(config.data_dir, Path::new("/var/lib/boltd/signet"));
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    fn args(flags: &[&str]) -> ConfigArgs {
        Cli::try_parse_from(std::iter::once("boltd").chain(flags.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    fn env(vars: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        let mut all = vec![("HOME".to_string(), "/home/alice".to_string())];
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all.into_iter()
    }

    fn load(flags: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(&args(flags), env(vars))
    }

    fn regtest(flags: &[&str]) -> Config {
        let mut all = vec!["--network", "regtest"];
        all.extend_from_slice(flags);
        load(&all, &[]).unwrap()
    }

    fn write_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    /// Table rows of docs/CONFIG.md keyed by the first cell (backticks removed).
    fn doc_rows() -> BTreeMap<String, Vec<String>> {
        let strip = |c: &str| c.trim().trim_matches('`').to_string();
        DOC.lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| l.trim().trim_matches('|').split('|').map(strip).collect::<Vec<_>>())
            .filter(|cells| !cells[0].is_empty() && !cells[0].starts_with('-'))
            .map(|cells| (cells[0].clone(), cells))
            .collect()
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        // ConfigArgs' doc comment does not leak into the about text of the command.
        assert!(Cli::command().get_about().is_none());
        assert!(Cli::command().get_long_about().is_none());
    }

    #[test]
    fn keys_come_from_the_struct() {
        let keys = ConfigFile::keys();
        assert_eq!(keys.len(), 20);
        assert_eq!(keys[0], "network");
        assert!(keys.contains(&"accept_inbound_channels"));
        assert!(keys.contains(&"htlc_forward_delay_ms"));
    }

    #[test]
    fn flag_overrides_env_overrides_file() {
        let file = write_file("network = \"regtest\"\nalias = \"file\"\nlog_level = \"warn\"\n");
        let path = file.path().to_str().unwrap();

        let c = load(&["--config", path], &[]).unwrap();
        assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("file", "warn"));

        let c = load(&["--config", path], &[("BOLTD_ALIAS", "env")]).unwrap();
        assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("env", "warn"));

        let c = load(&["--config", path, "--alias", "flag"], &[("BOLTD_ALIAS", "env")]).unwrap();
        assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("flag", "warn"));

        // BOLTD_CONFIG names the file when --config does not.
        let c = load(&[], &[("BOLTD_CONFIG", path)]).unwrap();
        assert_eq!(c.alias, "file");
        assert_eq!(c.network, Network::Regtest);
    }

    #[test]
    fn config_flag_overrides_boltd_config() {
        let a = write_file("network = \"regtest\"\nalias = \"a\"\n");
        let b = write_file("network = \"regtest\"\nalias = \"b\"\n");
        let (a, b) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
        assert_eq!(load(&["--config", b], &[("BOLTD_CONFIG", a)]).unwrap().alias, "b");
    }

    #[test]
    fn missing_named_file_is_an_error() {
        let err = load(&["--config", "/nonexistent/boltd.toml"], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/boltd.toml"), "{err}");
        let err = load(&[], &[("BOLTD_CONFIG", "/nonexistent/boltd.toml")]).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    }

    #[test]
    fn network_is_required() {
        let err = load(&[], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingNetwork));
        assert_eq!(
            err.to_string(),
            "`network` is required: set it in the config file, BOLTD_NETWORK or --network"
        );
        assert!(matches!(
            Config::from_layer(ConfigFile::default(), None),
            Err(ConfigError::MissingNetwork)
        ));
    }

    #[test]
    fn network_names() {
        for (name, network) in [
            ("bitcoin", Network::Bitcoin),
            ("mainnet", Network::Bitcoin),
            ("testnet", Network::Testnet),
            ("testnet4", Network::Testnet4),
            ("signet", Network::Signet),
            ("regtest", Network::Regtest),
        ] {
            assert_eq!(load(&["--network", name], &[]).unwrap().network, network);
            assert_eq!(load(&[], &[("BOLTD_NETWORK", name)]).unwrap().network, network);
            let file = ConfigFile::from_toml(&format!("network = \"{name}\""), Path::new("f"));
            assert_eq!(file.unwrap().network, Some(network));
        }
        let err = load(&[], &[("BOLTD_NETWORK", "x")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "BOLTD_NETWORK: unknown network `x`; expected one of bitcoin (or mainnet), testnet, \
             testnet4, signet, regtest"
        );
        let err = Cli::try_parse_from(["boltd", "--network", "x"]).err().unwrap().to_string();
        assert!(err.contains("unknown network `x`"), "{err}");
        let err = ConfigFile::from_toml("network = \"x\"", Path::new("/etc/boltd.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/boltd.toml") && err.contains("unknown network `x`"), "{err}");
    }

    #[test]
    fn unknown_toml_key_is_an_error() {
        let err =
            ConfigFile::from_toml("network = \"regtest\"\nfoo = 1\n", Path::new("/etc/b.toml"))
                .unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "foo"), "{err:?}");
        assert!(err.to_string().starts_with("unknown key `foo` in /etc/b.toml"), "{err}");

        // A table is a key too.
        let err = ConfigFile::from_toml("[bitcoind]\nrpc_url = \"x\"\n", Path::new("b.toml"))
            .unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "bitcoind"));

        // Through load, with the real path.
        let file = write_file("network = \"regtest\"\nalais = \"typo\"\n");
        let err = load(&["--config", file.path().to_str().unwrap()], &[]).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "alais"));
    }

    #[test]
    fn toml_type_errors_name_file_and_line() {
        let err = ConfigFile::from_toml(
            "network = \"regtest\"\nchain_poll_interval_ms = \"fast\"\n",
            Path::new("/etc/boltd.toml"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Toml { .. }));
        assert!(msg.contains("/etc/boltd.toml") && msg.contains("line 2"), "{msg}");
        assert!(msg.contains("chain_poll_interval_ms"), "{msg}");
    }

    #[test]
    fn full_toml_file() {
        let text = r#"
            network = "signet"
            data_dir = "/var/lib/boltd"
            p2p_listen = "0.0.0.0:9736"
            announce_addrs = ["203.0.113.5:9736", "node.example.com:9736"]
            alias = "bolt"
            api_listen = "127.0.0.1:3001"
            bitcoind_rpc_url = "http://10.0.0.2:38332"
            bitcoind_rpc_user = "u"
            bitcoind_rpc_password = "p"
            chain_poll_interval_ms = 500
            wallet_sync_interval_ms = 5000
            fee_rate_fallback_sat_per_kwu = 2500
            log_level = "debug"
            accept_inbound_channels = false
        "#;
        let layer = ConfigFile::from_toml(text, Path::new("f")).unwrap();
        let c = Config::from_layer(layer, None).unwrap();
        assert_eq!(c.network, Network::Signet);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/boltd"));
        assert_eq!(c.announce_addrs, ["203.0.113.5:9736", "node.example.com:9736"]);
        assert_eq!(c.p2p_listen.port(), 9736);
        assert_eq!(c.bitcoind_rpc_cookie, None);
        assert_eq!(c.fee_rate_fallback_sat_per_kwu, 2500);
        assert!(!c.accept_inbound_channels);
    }

    #[test]
    fn unknown_boltd_env_var_is_an_error() {
        let err = load(&["--network", "regtest"], &[("BOLTD_NETWROK", "regtest")]).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownEnvVar { name } if name == "BOLTD_NETWROK"));
        assert!(err.to_string().starts_with("unknown environment variable BOLTD_NETWROK"));
        // Lower-case spelling of a key is not the key's variable.
        assert!(load(&["--network", "regtest"], &[("BOLTD_network", "regtest")]).is_err());
        // The allow-list and other prefixes are ignored.
        let c = load(
            &["--network", "regtest"],
            &[
                ("BOLTD_URL", "http://x"),
                ("BOLTD_TOKEN", "t"),
                ("BOLTD_LOG", "info,ldk=trace"),
                ("BOLTDX", "1"),
                ("PATH", "/bin"),
            ],
        )
        .unwrap();
        assert_eq!(c.network, Network::Regtest);
        assert!(load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_CONFIG", "")]).is_err());
    }

    #[test]
    fn every_key_has_an_env_var_and_a_flag() {
        let sample = |key: &str| match key {
            "network" => "regtest",
            "p2p_listen" | "api_listen" => "127.0.0.1:1",
            "announce_addrs" => "a:1, b:2,",
            "chain_poll_interval_ms" | "wallet_sync_interval_ms" | "htlc_forward_delay_ms" => "7",
            "fee_rate_fallback_sat_per_kwu" => "300",
            "accept_inbound_channels" | "lnurl_allow_http" => "false",
            "lnurl_names" => "carol, dave,",
            "api_cors_origins" => "https://a.example, http://127.0.0.1:8080",
            _ => "x",
        };
        let keys = ConfigFile::keys();
        let vars: Vec<(String, String)> =
            keys.iter().map(|k| (env_var(k), sample(k).to_string())).collect();
        let layer = ConfigFile::from_env(vars.into_iter()).unwrap();
        assert_eq!(layer.announce_addrs, Some(vec!["a:1".to_string(), "b:2".to_string()]));
        assert_eq!(layer.accept_inbound_channels, Some(false));
        assert_eq!(layer.lnurl_names, Some(vec!["carol".to_string(), "dave".to_string()]));

        let mut flags = Vec::new();
        for k in keys {
            flags.push(format!("--{}", k.replace('_', "-")));
            flags.push(sample(k).to_string());
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        // Every field set by both layers, to the same values.
        assert_eq!(args(&flags).to_layer(), layer);
        assert!(
            layer.bitcoind_rpc_password.is_some() && layer.fee_rate_fallback_sat_per_kwu.is_some()
        );
    }

    #[test]
    fn env_values_are_parsed() {
        let c = load(
            &[],
            &[
                ("BOLTD_NETWORK", "regtest"),
                ("BOLTD_P2P_LISTEN", "[::]:9735"),
                ("BOLTD_ANNOUNCE_ADDRS", "203.0.113.5:9735,[2001:db8::1]:9735"),
                ("BOLTD_CHAIN_POLL_INTERVAL_MS", "250"),
                ("BOLTD_ACCEPT_INBOUND_CHANNELS", "0"),
                ("BOLTD_LOG_LEVEL", "DEBUG"),
            ],
        )
        .unwrap();
        assert_eq!(c.p2p_listen, "[::]:9735".parse().unwrap());
        assert_eq!(c.announce_addrs, ["203.0.113.5:9735", "[2001:db8::1]:9735"]);
        assert_eq!(c.chain_poll_interval_ms, 250);
        assert!(!c.accept_inbound_channels);
        assert_eq!(c.log_level, "debug");

        let err = load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_API_LISTEN", "localhost")])
            .unwrap_err();
        assert!(err.to_string().starts_with("BOLTD_API_LISTEN: `localhost`"), "{err}");
        let err =
            load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_WALLET_SYNC_INTERVAL_MS", "-1")])
                .unwrap_err();
        assert!(err.to_string().starts_with("BOLTD_WALLET_SYNC_INTERVAL_MS:"), "{err}");
    }

    #[test]
    fn defaults() {
        let c = regtest(&[]);
        assert_eq!(c.data_dir, PathBuf::from("/home/alice/.boltd/regtest"));
        assert_eq!(c.p2p_listen, "0.0.0.0:9735".parse().unwrap());
        assert!(c.announce_addrs.is_empty());
        assert_eq!(c.alias, "");
        assert_eq!(c.api_listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.bitcoind_rpc_user, None);
        assert_eq!(c.bitcoind_rpc_password, None);
        assert_eq!(c.chain_poll_interval_ms, 1000);
        assert_eq!(c.wallet_sync_interval_ms, 2000);
        assert_eq!(c.log_level, "info");
        assert!(c.accept_inbound_channels);
        assert!(c.lnurl_names.is_empty());
        assert_eq!(c.lnurl_public_url, None);
        assert!(!c.lnurl_allow_http);
    }

    #[test]
    fn defaults_per_network() {
        for (name, port, net_dir, data_dir, fee) in [
            ("bitcoin", 8332, "", "bitcoin", 1000),
            ("mainnet", 8332, "", "bitcoin", 1000),
            ("testnet", 18332, "testnet3/", "testnet", 1000),
            ("testnet4", 48332, "testnet4/", "testnet4", 1000),
            ("signet", 38332, "signet/", "signet", 1000),
            ("regtest", 18443, "regtest/", "regtest", 253),
        ] {
            let c = load(&["--network", name], &[]).unwrap();
            assert_eq!(c.bitcoind_rpc_url, format!("http://127.0.0.1:{port}"));
            assert_eq!(
                c.bitcoind_rpc_cookie,
                Some(PathBuf::from(format!("/home/alice/.bitcoin/{net_dir}.cookie")))
            );
            assert_eq!(c.data_dir, PathBuf::from(format!("/home/alice/.boltd/{data_dir}")));
            assert_eq!(c.fee_rate_fallback_sat_per_kwu, fee);
        }
    }

    #[test]
    fn home_is_needed_only_for_defaults_under_it() {
        let layer = |dir: bool, cookie: bool| ConfigFile {
            network: Some(Network::Regtest),
            data_dir: dir.then(|| PathBuf::from("/d")),
            bitcoind_rpc_cookie: cookie.then(|| PathBuf::from("/c")),
            ..Default::default()
        };
        let err = Config::from_layer(layer(false, true), None).unwrap_err();
        assert!(matches!(err, ConfigError::NoHome { key: "data_dir" }));
        let err = Config::from_layer(layer(true, false), None).unwrap_err();
        assert!(matches!(err, ConfigError::NoHome { key: "bitcoind_rpc_cookie" }));
        assert!(err.to_string().contains("BOLTD_BITCOIND_RPC_COOKIE"), "{err}");
        assert!(Config::from_layer(layer(true, true), None).is_ok());
    }

    #[test]
    fn bitcoind_credentials() {
        let c = regtest(&["--bitcoind-rpc-user", "u", "--bitcoind-rpc-password", "p"]);
        assert_eq!(c.bitcoind_rpc_user.as_deref(), Some("u"));
        assert_eq!(c.bitcoind_rpc_password.as_deref(), Some("p"));
        assert_eq!(c.bitcoind_rpc_cookie, None);

        let c = regtest(&["--bitcoind-rpc-cookie", "/tmp/.cookie"]);
        assert_eq!(c.bitcoind_rpc_cookie, Some(PathBuf::from("/tmp/.cookie")));

        let err = load(&["--network", "regtest"], &[("BOLTD_BITCOIND_RPC_USER", "u")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "BOLTD_BITCOIND_RPC_USER: is set but bitcoind_rpc_password is not; set both, or use a \
             cookie file"
        );
        let err = load(&["--network", "regtest", "--bitcoind-rpc-password", "p"], &[]).unwrap_err();
        assert!(err.to_string().starts_with("--bitcoind-rpc-password: is set but"), "{err}");

        let file = write_file("network = \"regtest\"\nbitcoind_rpc_cookie = \"/c\"\n");
        let err = load(
            &["--config", file.path().to_str().unwrap(), "--bitcoind-rpc-user", "u"],
            &[("BOLTD_BITCOIND_RPC_PASSWORD", "secret")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("use one or the other") && err.contains("`bitcoind_rpc_cookie` in"));
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn rpc_url_shape() {
        regtest(&["--bitcoind-rpc-url", "http://bitcoind:18443/wallet/x"]);
        for bad in ["https://h:1", "http://h", "127.0.0.1:18443", "http://:1"] {
            let err = load(&["--network", "regtest", "--bitcoind-rpc-url", bad], &[]).unwrap_err();
            assert!(err.to_string().starts_with("--bitcoind-rpc-url: "), "{err}");
        }
    }

    #[test]
    fn alias_length() {
        let ok = "a".repeat(32);
        assert_eq!(regtest(&["--alias", &ok]).alias, ok);
        // 11 three-byte characters: 11 chars but 33 bytes.
        let long = "€".repeat(11);
        let err = load(&["--network", "regtest"], &[("BOLTD_ALIAS", &long)]).unwrap_err();
        assert!(err.to_string().starts_with("BOLTD_ALIAS: "), "{err}");
        assert!(err.to_string().contains("33 bytes; at most 32"), "{err}");
    }

    #[test]
    fn value_checks() {
        let bad = |flags: &[&str], start: &str| {
            let mut all = vec!["--network", "regtest"];
            all.extend_from_slice(flags);
            let err = load(&all, &[]).unwrap_err().to_string();
            assert!(err.starts_with(start), "{err}");
        };
        bad(&["--log-level", "verbose"], "--log-level: unknown level `verbose`");
        bad(&["--chain-poll-interval-ms", "0"], "--chain-poll-interval-ms: must be at least 1");
        bad(&["--wallet-sync-interval-ms", "0"], "--wallet-sync-interval-ms: must be at least 1");
        bad(&["--fee-rate-fallback-sat-per-kwu", "252"], "--fee-rate-fallback-sat-per-kwu: 252");
        bad(&["--announce-addrs", "example.com"], "--announce-addrs: `example.com`");
        // clap rejects an empty path flag itself; the environment can still give one.
        let err = load(&["--network", "regtest"], &[("BOLTD_DATA_DIR", "")]).unwrap_err();
        assert_eq!(err.to_string(), "BOLTD_DATA_DIR: must not be empty");
        assert_eq!(
            regtest(&["--fee-rate-fallback-sat-per-kwu", "253"]).fee_rate_fallback_sat_per_kwu,
            253
        );
    }

    #[test]
    fn announce_addrs_flag_forms() {
        let c = regtest(&["--announce-addrs", "a:1,b:2", "--announce-addrs", "c:3"]);
        assert_eq!(c.announce_addrs, ["a:1", "b:2", "c:3"]);
        // A flag with an empty value clears a list set by the file or the environment.
        let c = load(
            &["--network", "regtest", "--announce-addrs", ""],
            &[("BOLTD_ANNOUNCE_ADDRS", "a:1")],
        )
        .unwrap();
        assert!(c.announce_addrs.is_empty());
    }

    #[test]
    fn accept_inbound_channels_flag_takes_a_value() {
        assert!(!regtest(&["--accept-inbound-channels", "false"]).accept_inbound_channels);
        assert!(regtest(&["--accept-inbound-channels", "true"]).accept_inbound_channels);
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let a = args(&[
            "--network",
            "regtest",
            "--bitcoind-rpc-user",
            "u",
            "--bitcoind-rpc-password",
            "hunter2",
        ]);
        let c = Config::load(&a, env(&[])).unwrap();
        for debug in
            [format!("{c:?}"), format!("{c:#?}"), format!("{a:?}"), format!("{:?}", a.to_layer())]
        {
            assert!(!debug.contains("hunter2"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
        assert!(!format!("{:?}", regtest(&[])).contains("<redacted>"));
    }

    #[test]
    fn lnurl_keys() {
        let c = regtest(&[
            "--lnurl-names",
            "carol,dave",
            "--lnurl-public-url",
            "https://pay.example.com/boltd/",
        ]);
        assert_eq!(c.lnurl_names, ["carol", "dave"]);
        assert_eq!(c.lnurl_public_url.as_deref(), Some("https://pay.example.com/boltd"));
        assert!(!c.lnurl_allow_http);

        // Plain http: regtest only, loopback only, and only when allowed.
        let c = regtest(&["--lnurl-allow-http", "true", "--lnurl-names", "carol"]);
        assert!(c.lnurl_allow_http && c.lnurl_public_url.is_none());
        let c = load(
            &["--network", "regtest", "--lnurl-public-url", "http://127.0.0.1:3000"],
            &[("BOLTD_LNURL_ALLOW_HTTP", "1"), ("BOLTD_LNURL_NAMES", "carol")],
        )
        .unwrap();
        assert_eq!(c.lnurl_public_url.as_deref(), Some("http://127.0.0.1:3000"));
        let err = load(&["--network", "signet", "--lnurl-allow-http", "true"], &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("--lnurl-allow-http: plain-http LNURL is only allowed on"),
            "{err}"
        );

        let bad = |flags: &[&str], start: &str| {
            let mut all = vec!["--network", "regtest"];
            all.extend_from_slice(flags);
            let err = load(&all, &[]).unwrap_err().to_string();
            assert!(err.starts_with(start), "{err}");
        };
        bad(&["--lnurl-public-url", "http://127.0.0.1:3000"], "--lnurl-public-url: `http://");
        bad(
            &["--lnurl-allow-http", "true", "--lnurl-public-url", "http://example.com"],
            "--lnurl-public-url: `http://example.com`: plain http",
        );
        bad(&["--lnurl-public-url", "example.com"], "--lnurl-public-url: `example.com` must");
        bad(&["--lnurl-public-url", "https://x.com/?a=1"], "--lnurl-public-url: `https://x.com/?a");
        bad(&["--lnurl-names", "Carol"], "--lnurl-names: `Carol` is not a Lightning-address");
        bad(&["--lnurl-names", "a@b"], "--lnurl-names: `a@b` is not");
        bad(&["--lnurl-names", "carol,carol"], "--lnurl-names: `carol` is listed twice");
        // Names without a public URL (and without regtest's http fallback).
        bad(&["--lnurl-names", "carol"], "--lnurl-names: needs lnurl_public_url");

        let file = write_file(
            "network = \"regtest\"\nlnurl_names = [\"carol\"]\nlnurl_allow_http = true\n",
        );
        let c = load(&["--config", file.path().to_str().unwrap()], &[]).unwrap();
        assert_eq!(c.lnurl_names, ["carol"]);
        assert!(c.lnurl_allow_http);
    }

    #[test]
    fn cors_origins_are_checked() {
        let c = regtest(&["--api-cors-origins", "https://app.example.com,http://localhost:8080"]);
        assert_eq!(c.api_cors_origins, ["https://app.example.com", "http://localhost:8080"]);
        assert_eq!(regtest(&["--api-cors-origins", "*"]).api_cors_origins, ["*"]);
        for bad in ["app.example.com", "https://app.example.com/", "ftp://x", "https://APP.example"]
        {
            let err = load(&["--network", "regtest", "--api-cors-origins", bad], &[]).unwrap_err();
            assert!(err.to_string().starts_with("--api-cors-origins: `"), "{err}");
        }
        let err = load(&["--network", "regtest", "--api-cors-origins", "https://a,https://a"], &[])
            .unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn doc_table_lists_every_key() {
        let rows = doc_rows();
        let keys: Vec<&str> = ConfigFile::keys().to_vec();
        for key in &keys {
            let row = rows.get(*key).unwrap_or_else(|| panic!("docs/CONFIG.md lacks `{key}`"));
            assert_eq!(row.len(), 5, "row of `{key}` needs 5 cells: {row:?}");
            assert_eq!(row[1], env_var(key), "env var of `{key}`");
            assert_eq!(row[2], format!("--{}", key.replace('_', "-")), "flag of `{key}`");
        }
        let extra: Vec<&String> =
            rows.keys().filter(|k| *k != "key" && !keys.contains(&k.as_str())).collect();
        assert!(extra.is_empty(), "docs/CONFIG.md lists unknown keys {extra:?}");
        assert_eq!(DOC.matches("| key |").count(), 1, "one table");
    }

    #[test]
    fn doc_table_defaults_match_the_code() {
        let rows = doc_rows();
        let default = |key: &str| rows[key][3].clone();
        let c = regtest(&[]);
        assert_eq!(default("network"), "none (required)");
        assert_eq!(default("p2p_listen"), c.p2p_listen.to_string());
        assert_eq!(default("api_listen"), c.api_listen.to_string());
        assert_eq!(default("chain_poll_interval_ms"), c.chain_poll_interval_ms.to_string());
        assert_eq!(default("wallet_sync_interval_ms"), c.wallet_sync_interval_ms.to_string());
        assert_eq!(default("log_level"), c.log_level);
        assert_eq!(default("accept_inbound_channels"), c.accept_inbound_channels.to_string());
        assert_eq!(default("lnurl_allow_http"), c.lnurl_allow_http.to_string());
        assert_eq!(default("lnurl_names"), "empty");
        assert_eq!(default("api_cors_origins"), "empty");
        assert!(c.api_cors_origins.is_empty());
        assert_eq!(default("lnurl_public_url"), "unset");
        assert_eq!(c.htlc_forward_delay_ms, None);
        assert!(default("htlc_forward_delay_ms").starts_with("unset"));
        assert!(default("data_dir").contains("$HOME/.boltd/"));
        for network in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            let port = default_rpc_port(network).to_string();
            assert!(DOC.contains(&port), "docs/CONFIG.md lacks port {port}");
        }
        let fee = default("fee_rate_fallback_sat_per_kwu");
        assert!(fee.contains("253") && fee.contains("1000"), "{fee}");
    }

    #[test]
    fn htlc_forward_delay_is_bounded() {
        assert_eq!(regtest(&["--htlc-forward-delay-ms", "0"]).htlc_forward_delay_ms, Some(0));
        let c = load(&["--network", "regtest"], &[("BOLTD_HTLC_FORWARD_DELAY_MS", "25")]).unwrap();
        assert_eq!(c.htlc_forward_delay_ms, Some(25));
        let err = load(&["--network", "regtest", "--htlc-forward-delay-ms", "10001"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--htlc-forward-delay-ms: must be at most 10000"), "{err}");
    }
}
