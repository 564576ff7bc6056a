//! Every configuration key, declared once. **To add a key, add one entry here** (and, if its
//! default is a value, a constant in `defaults.rs`); then regenerate docs/CONFIG.md with
//! `BOLTD_UPDATE_CONFIG_DOC=1 cargo test -p boltd-config --lib doc`.
//!
//! An entry is
//!
//! ```text
//! /// Meaning, in markdown: the field's rustdoc and the key's row in docs/CONFIG.md.
//! key: Type [=> TypeInConfig] [[secret]] {
//!     flag: "VALUE_NAME", "the flag's --help line",
//!     default: <a rule from rule.rs, with its checks from checks.rs>,
//! }
//! ```
//!
//! `key` is the TOML key and the field of [`crate::Config`] and [`crate::ConfigLayer`]; the
//! environment variable is `BOLTD_KEY` and the flag `--key` with `-` for `_`. `Type` is how
//! the layers spell the value (`value.rs`); `TypeInConfig`, if different, what the rule makes
//! of it (e.g. `Option<Type>` for a key that may stay unset). `[secret]` keys are printed
//! `<redacted>` by `Debug`. Keys are resolved in this order, so a rule may rely on the checks of
//! the keys above it.

use std::net::SocketAddr;
use std::path::PathBuf;

use bitcoin::Network;

use crate::checks;
use crate::defaults::{self, *};
use crate::rule::{custom, optional, or, or_else, required};

declare_keys! {
    /// Bitcoin network: `bitcoin` (or `mainnet`), `testnet`, `testnet4`, `signet` or `regtest`.
    network: Network {
        flag: "NETWORK",
            "Bitcoin network: bitcoin (or mainnet), testnet, testnet4, signet or regtest. Required",
        default: required(),
    }

    /// Seed, wallet and channel state. `<network>` is spelled `bitcoin`, `testnet`, `testnet4`,
    /// `signet` or `regtest` (so `mainnet` uses `.boltd/bitcoin`).
    data_dir: PathBuf {
        flag: "PATH", "Data directory [default: $HOME/.boltd/NETWORK, e.g. $HOME/.boltd/regtest]",
        default: or_else("`$HOME/.boltd/<network>`", defaults::data_dir).check(checks::not_empty),
    }

    /// Continuous backup of the channel state: a second directory (typically another disk or a
    /// network mount) that receives, in the same order and before LDK hears they are complete,
    /// every channel monitor update and channel manager write, plus the sweeper's state, the
    /// wallet's birthday, the channel peers and a copy of the seed. `boltd restore
    /// --from-backup-dir` builds a data directory from it. It must not be the data directory.
    /// Unset: no continuous backup (exported archives still work).
    backup_dir: PathBuf => Option<PathBuf> {
        flag: "PATH",
            "Continuous channel-state backup directory (another disk) [default: none]",
        default: optional("unset: no continuous backup").check(checks::backup_dir),
    }

    /// What a failed write to `backup_dir` does: `fail_stop` stops the node like a failed write
    /// to the data directory (nothing is acknowledged that is not in both); `best_effort` logs
    /// it, keeps running, and copies the whole channel state again at the next write that
    /// succeeds (meanwhile the backup is behind).
    backup_mode: String {
        flag: "MODE", "What a failed backup write does: fail_stop or best_effort [default: fail_stop]",
        default: or(DEFAULT_BACKUP_MODE)
            .map(|mode: String| mode.to_ascii_lowercase())
            .check(checks::backup_mode),
    }

    /// Where the node's state lives. Unset: SQLite, `boltd.sqlite` in the data directory. A
    /// PostgreSQL connection URL (`postgres://user:password@host:port/dbname`): every record
    /// (LDK's channel state, payments, receives, tokens, events, webhooks, the on-chain
    /// wallet) lives in that database, and the node acts only while it holds the database's
    /// lease, so that two `boltd serve` on one database never both act as the node: the second
    /// waits as a standby (see `standby`). The seed stays in the data directory (copy it to the
    /// standby's). Cannot be set with `backup_dir` (use the database's own replication).
    store_url: String => Option<String> [secret] {
        flag: "URL",
            "PostgreSQL store, postgres://user:password@host:port/dbname [default: SQLite in the \
             data directory]",
        default: optional("unset: SQLite in the data directory").check(checks::store_url),
    }

    /// On PostgreSQL: how long the node's lease lasts past its last renewal, in seconds, by the
    /// database's clock. A standby takes over at most this long after the node stopped renewing
    /// it (killed, paused, cut off); a node that cannot renew it in this time stops.
    lease_ttl_secs: u64 {
        flag: "SECS", "Lease time to live on PostgreSQL, in seconds [default: 10]",
        default: or(DEFAULT_LEASE_TTL_SECS).check(checks::lease_ttl),
    }

    /// On PostgreSQL: how often the node renews its lease (every write renews it too), and how
    /// often a standby tries to take it, in seconds. Less than half of `lease_ttl_secs`.
    lease_renew_secs: u64 {
        flag: "SECS", "Lease renewal interval on PostgreSQL, in seconds [default: 3]",
        default: or(DEFAULT_LEASE_RENEW_SECS).check(checks::lease_renew),
    }

    /// On PostgreSQL, when another node holds the lease: `true` waits as a standby (answers
    /// `/ping` and `/readyz` with its role, serves nothing else) and takes over when the lease
    /// expires or is released; `false` refuses to start (exits with an error naming the holder).
    standby: bool {
        flag: "BOOL", "Wait as a standby while another node holds the lease: true or false \
            [default: true]",
        default: or(DEFAULT_STANDBY),
    }

    /// IP address and port the Lightning peer-to-peer listener binds.
    p2p_listen: SocketAddr {
        flag: "ADDR", "Lightning peer-to-peer listen address [default: 0.0.0.0:9735]",
        default: or(DEFAULT_P2P_LISTEN),
    }

    /// `host:port` addresses announced to the network. TOML: an array of strings; environment
    /// and flag: comma-separated (the flag may also be repeated).
    announce_addrs: Vec<String> {
        flag: "HOST:PORT",
            "Addresses (host:port) announced to the network; repeat the flag or separate with commas",
        default: or(Vec::new()).check(checks::announce_addrs),
    }

    /// Node alias announced to the network, at most 32 bytes (UTF-8).
    alias: String {
        flag: "ALIAS", "Node alias announced to the network, at most 32 bytes [default: empty]",
        default: or(DEFAULT_ALIAS).check(checks::alias),
    }

    /// IP address and port the HTTP API binds. Every route but `/ping` and
    /// `/.well-known/lnurlp/` needs a bearer token (see the README's security notes). A
    /// non-loopback address carries tokens in plain HTTP: put a TLS proxy in front.
    /// `serve --insecure-no-auth` (no tokens) is refused unless this is a loopback address.
    api_listen: SocketAddr {
        flag: "ADDR", "HTTP API listen address [default: 127.0.0.1:3000]",
        default: or(DEFAULT_API_LISTEN),
    }

    /// Browser origins allowed to call the API from another origin (CORS): `scheme://host[:port]`
    /// in lower case, exactly as browsers send `Origin`, or `*` for any. Empty: cross-origin
    /// browser requests are denied (no CORS headers; preflights get 403). Tokens are still
    /// required; cookies are never used. Cannot be set with `serve --insecure-no-auth` (boltd
    /// does not start). The LNURL-pay endpoints under `/.well-known/lnurlp/` are open to every
    /// origin regardless. Same list syntax as `announce_addrs`.
    api_cors_origins: Vec<String> {
        flag: "ORIGIN",
            "Browser origins allowed to call the API (CORS), e.g. https://app.example.com, or `*`; \
             repeat the flag or separate with commas [default: none]",
        default: or(Vec::new()).check(checks::cors_origins),
    }

    /// bitcoind JSON-RPC URL, `http://host:port` with an optional path (no TLS).
    bitcoind_rpc_url: String {
        flag: "URL",
            "bitcoind JSON-RPC URL [default: http://127.0.0.1:<bitcoind's port for the network>]",
        default: or_else(
            "`http://127.0.0.1:<port>`: 8332 bitcoin, 18332 testnet, 48332 testnet4, 38332 signet, \
             18443 regtest",
            defaults::bitcoind_rpc_url,
        )
        .check(checks::rpc_url),
    }

    /// bitcoind RPC user. Set together with `bitcoind_rpc_password`, or not at all.
    bitcoind_rpc_user: String => Option<String> {
        flag: "USER", "bitcoind RPC user (needs --bitcoind-rpc-password)",
        default: optional("unset").check(checks::rpc_user),
    }

    /// bitcoind RPC password. Never logged. A flag is visible in the process list: prefer the
    /// file (readable only by boltd's user), the environment or a cookie.
    bitcoind_rpc_password: String => Option<String> [secret] {
        flag: "PASSWORD",
            "bitcoind RPC password. Visible to other local users in the process list: prefer the \
             config file, BOLTD_BITCOIND_RPC_PASSWORD or a cookie file",
        default: optional("unset").check(checks::rpc_password),
    }

    /// bitcoind's cookie file. Use either user and password, or a cookie: setting both is an
    /// error.
    bitcoind_rpc_cookie: PathBuf => Option<PathBuf> {
        flag: "PATH",
            "bitcoind cookie file, used when user and password are not set [default: bitcoind's, \
             e.g. $HOME/.bitcoin/regtest/.cookie]",
        default: custom(
            "without user and password: `$HOME/.bitcoin/<netdir>/.cookie`, `<netdir>` being \
             nothing (bitcoin), `testnet3`, `testnet4`, `signet` or `regtest`",
            checks::rpc_cookie,
        ),
    }

    /// How often bitcoind is polled for new blocks, in milliseconds (at least 1).
    chain_poll_interval_ms: u64 {
        flag: "MS", "Block polling interval in milliseconds [default: 1000]",
        default: or(DEFAULT_CHAIN_POLL_INTERVAL_MS).check(checks::at_least_1),
    }

    /// How often the on-chain wallet is synced, in milliseconds (at least 1).
    wallet_sync_interval_ms: u64 {
        flag: "MS", "On-chain wallet sync interval in milliseconds [default: 2000]",
        default: or(DEFAULT_WALLET_SYNC_INTERVAL_MS).check(checks::at_least_1),
    }

    /// Fee rate in sat per 1000 weight units used when `estimatesmartfee` has no estimate
    /// (always so on a fresh regtest chain). At least 253, LDK's minimum.
    fee_rate_fallback_sat_per_kwu: u32 {
        flag: "SAT_PER_KWU",
            "Fee rate (sat/kwu) used when estimatesmartfee has no estimate [default: 253 on \
             regtest, 1000 elsewhere]",
        default: or_else("253 on regtest, 1000 elsewhere", defaults::fee_rate_fallback)
            .check(checks::fee_rate),
    }

    /// `error`, `warn`, `info`, `debug` or `trace` (case-insensitive). LDK's own records are
    /// shown from `warn` up; for more, set `BOLTD_LOG` to a full filter (it replaces
    /// `log_level`), e.g. `BOLTD_LOG=info,ldk=trace`.
    log_level: String {
        flag: "LEVEL", "Log level: error, warn, info, debug or trace [default: info]",
        default: or(DEFAULT_LOG_LEVEL).map(|level: String| level.to_ascii_lowercase()).check(checks::log_level),
    }

    /// Whether channels opened by peers are accepted. Flag: `--accept-inbound-channels false`;
    /// environment: `true`, `false`, `1` or `0`.
    accept_inbound_channels: bool {
        flag: "BOOL", "Accept channels opened by peers: true or false [default: true]",
        default: or(DEFAULT_ACCEPT_INBOUND_CHANNELS),
    }

    /// Whether new channels negotiate anchor outputs (`option_anchors_zero_fee_htlc_tx`), in
    /// both directions: a force close can then be fee-bumped from the on-chain wallet (CPFP of
    /// the commitment, HTLC transactions) when fees spike. Peers that do not support anchors
    /// still get static-remote-key channels. Needs an on-chain reserve
    /// (`anchor_reserve_per_channel_sat`).
    anchor_channels: bool {
        flag: "BOOL", "Negotiate anchor channels: true or false [default: true]",
        default: or(DEFAULT_ANCHOR_CHANNELS),
    }

    /// On-chain funds kept per anchor channel to fee-bump its force close, in sat: channel
    /// opens and on-chain sends that would leave less than the reserve are refused, and an
    /// inbound anchor channel that would raise the reserve above the wallet's balance is
    /// declined. The total is capped by `anchor_reserve_max_sat`.
    anchor_reserve_per_channel_sat: u64 {
        flag: "SAT", "On-chain reserve per anchor channel in sat [default: 25000]",
        default: or(DEFAULT_ANCHOR_RESERVE_PER_CHANNEL_SAT),
    }

    /// The most the anchor reserve can be, whatever the number of anchor channels, in sat.
    anchor_reserve_max_sat: u64 {
        flag: "SAT", "Cap of the total anchor reserve in sat [default: 500000]",
        default: or(DEFAULT_ANCHOR_RESERVE_MAX_SAT),
    }

    /// The highest fee rate a force close's fee bump pays, in sat/vB (at least 1): LDK asks for
    /// the rate the chain source estimates for an urgent sweep, never more than this.
    max_bump_fee_rate_sat_per_vb: u64 {
        flag: "SAT_PER_VB", "Ceiling of anchor fee bumps in sat/vB [default: 1000]",
        default: or(DEFAULT_MAX_BUMP_FEE_RATE_SAT_PER_VB).check(checks::at_least_1),
    }

    /// Lightning-address names (LUD-16) this node serves: `GET /.well-known/lnurlp/<name>`
    /// answers LNURL-pay (LUD-06, comments per LUD-12) and its callback
    /// `/.well-known/lnurlp/<name>/callback` issues invoices whose description hash commits to
    /// the metadata. Names use `a-z`, `0-9`, `-`, `_` and `.`. These two paths are public by
    /// nature: when exposing the node, proxy only `/.well-known/lnurlp/`. Same list syntax as
    /// `announce_addrs`. Needs `lnurl_public_url` (or, on regtest, `lnurl_allow_http`).
    lnurl_names: Vec<String> {
        flag: "NAME",
            "Lightning-address names to serve (LUD-16); repeat the flag or separate with commas",
        default: or(Vec::new()).check(checks::lnurl_names),
    }

    /// Base URL at which payers reach this API, `https://host[:port][/path]` (a trailing `/` is
    /// dropped): callbacks are `<url>/.well-known/lnurlp/<name>/callback` and the address is
    /// `<name>@<host[:port]>`. `http://` only for a loopback host with `lnurl_allow_http`. When
    /// unset (regtest with `lnurl_allow_http` only) both are built from the request's `Host`
    /// header, as `http://<Host>`.
    lnurl_public_url: String => Option<String> {
        flag: "URL",
            "Base URL at which others reach this API, for LNURL-pay callbacks (https://host[/path])",
        default: optional("unset")
            .map(|url: Option<String>| url.map(|u| u.trim_end_matches('/').to_string()))
            .check(checks::lnurl_public_url),
    }

    /// Allow LNURL to reach loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`), in plain
    /// `http` too, paying and serving; without it paying refuses loopback addresses (as it
    /// always refuses private and link-local ones, after resolving the host), and every host
    /// needs `https`. Only allowed on regtest: set on another network, boltd does not start.
    lnurl_allow_http: bool {
        flag: "BOOL",
            "Allow plain-http LNURL to loopback hosts: true or false; regtest only [default: false]",
        default: or(DEFAULT_LNURL_ALLOW_HTTP).check(checks::lnurl_allow_http),
    }

    /// Nostr relays on which boltd serves Nostr Wallet Connect (NIP-47): `wss://...` (or
    /// `ws://`). Empty: NWC is off. boltd connects out to them (no open port on the node),
    /// reconnecting with backoff; connections are made with `boltd nwc create` (see the README).
    /// Same list syntax as `announce_addrs`.
    nwc_relays: Vec<String> {
        flag: "URL",
            "Nostr relays to serve Nostr Wallet Connect on (wss://...); repeat the flag or separate \
             with commas [default: none, NWC off]",
        default: or(Vec::new()).check(checks::nwc_relays),
    }

    /// How long HTLCs to forward or to receive wait before they are processed, in milliseconds
    /// (at most 10000), so that those arriving together are handled in one batch. Unset: LDK's
    /// randomized delay (log-normal, about 50 ms on average, at most 200 ms), which also blurs
    /// the timing a neighbour could use to guess where a payment starts or ends. `0` processes
    /// them as soon as they are irrevocably committed (lowest latency; what the benchmarks B3
    /// use).
    htlc_forward_delay_ms: u64 => Option<u64> {
        flag: "MS",
            "Delay before HTLCs to forward or receive are processed, in milliseconds; 0 = at once \
             [default: LDK's randomized delay, about 50 ms on average]",
        default: optional("unset: LDK's randomized delay").check(checks::htlc_forward_delay),
    }

    /// Liquidity service providers (LSPS2, just-in-time channels) this node may receive
    /// through, each `NODE_ID@HOST:PORT`. An invoice that needs more inbound capacity than the
    /// node's usable channels have (or that asks for it, see the README's "Receiving on a new
    /// node") is created through the first LSP that answers with a fee within `lsp_max_fee_msat`:
    /// when it is paid, the LSP opens a channel to this node and forwards the payment minus its
    /// fee. Same list syntax as `announce_addrs`. Empty: invoices never go through an LSP.
    lsps: Vec<String> {
        flag: "NODE_ID@HOST:PORT",
            "LSPS2 liquidity providers to receive through (just-in-time channels); repeat the flag \
             or separate with commas [default: none]",
        default: or(Vec::new()).check(checks::lsps),
    }

    /// The token sent to the LSPs of `lsps` with every request (LSPS2 `token`), if they ask for
    /// one. Never logged.
    lsp_token: String => Option<String> [secret] {
        flag: "TOKEN", "Token sent to the LSPs of --lsps [default: none]",
        default: optional("unset: no token"),
    }

    /// The most an LSP may take for opening a just-in-time channel, in msat: a fee menu whose
    /// cheapest entry for the amount costs more is refused (the invoice is not created), and a
    /// payment from which the LSP skimmed more than the fee it promised is failed back.
    lsp_max_fee_msat: u64 {
        flag: "MSAT", "Highest LSPS2 channel-opening fee accepted, in msat [default: 10000000]",
        default: or(DEFAULT_LSP_MAX_FEE_MSAT),
    }

    /// Serve LSPS2 (just-in-time channels) to other nodes: answer their fee requests with the
    /// `lsps2_service_*` parameters (a promise signed with a key derived from the node's seed),
    /// and, when a payment for one of their invoices arrives, open an unannounced channel to
    /// them (a zero-confirmation one, funded from the on-chain wallet) and forward it minus the
    /// fee. Also intercepts HTLCs for the fake channel ids it hands out.
    lsps2_service: bool {
        flag: "BOOL", "Act as an LSPS2 liquidity provider: true or false [default: false]",
        default: or(DEFAULT_LSPS2_SERVICE),
    }

    /// The token clients of the LSPS2 service must send; unset: none needed. Never logged.
    lsps2_service_token: String => Option<String> [secret] {
        flag: "TOKEN", "Token LSPS2 clients must send [default: none needed]",
        default: optional("unset: no token needed"),
    }

    /// The LSPS2 service's smallest channel-opening fee, in msat (`min_fee_msat`).
    lsps2_service_min_fee_msat: u64 {
        flag: "MSAT", "LSPS2 service: minimum opening fee in msat [default: 2000000]",
        default: or(DEFAULT_LSPS2_SERVICE_MIN_FEE_MSAT),
    }

    /// The LSPS2 service's opening fee proportional to the payment, in millionths
    /// (`proportional`); the fee is the larger of this share and the minimum.
    lsps2_service_fee_ppm: u32 {
        flag: "PPM", "LSPS2 service: proportional opening fee in ppm [default: 10000]",
        default: or(DEFAULT_LSPS2_SERVICE_FEE_PPM),
    }

    /// The smallest payment the LSPS2 service opens a channel for, in msat.
    lsps2_service_min_payment_msat: u64 {
        flag: "MSAT", "LSPS2 service: smallest payment in msat [default: 10000000]",
        default: or(DEFAULT_LSPS2_SERVICE_MIN_PAYMENT_MSAT),
    }

    /// The largest payment the LSPS2 service opens a channel for, in msat (at least
    /// `lsps2_service_min_payment_msat`).
    lsps2_service_max_payment_msat: u64 {
        flag: "MSAT", "LSPS2 service: largest payment in msat [default: 10000000000]",
        default: or(DEFAULT_LSPS2_SERVICE_MAX_PAYMENT_MSAT).check(checks::lsps2_max_payment),
    }

    /// How long the LSPS2 service's fee offers are valid, in seconds (at least 1): a client
    /// must buy with an offer before it expires (`valid_until`).
    lsps2_service_offer_validity_secs: u64 {
        flag: "SECS", "LSPS2 service: validity of a fee offer in seconds [default: 600]",
        default: or(DEFAULT_LSPS2_SERVICE_OFFER_VALIDITY_SECS).check(checks::at_least_1),
    }

    /// How much larger than the forwarded payment the LSPS2 service makes a channel, in
    /// millionths of the payment: the extra is the client's inbound capacity for the payments
    /// that follow.
    lsps2_service_over_provisioning_ppm: u32 {
        flag: "PPM", "LSPS2 service: channel size above the payment, in ppm [default: 100000]",
        default: or(DEFAULT_LSPS2_SERVICE_OVER_PROVISIONING_PPM),
    }
}
