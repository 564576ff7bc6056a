//! The client's commands and their arguments (clap).

use std::path::PathBuf;

use boltd_client::types::CreateTokenRequest;
use clap::{Args, Subcommand, ValueEnum};

use super::{msat, Failure};

/// How to reach the daemon, and how to print. Global: accepted before or after the command.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// The daemon's API URL [default: `url` in the CLI config file, else http://127.0.0.1:3000]
    #[arg(long, global = true, value_name = "URL", env = "BOLTD_URL", help_heading = "Client")]
    pub url: Option<String>,
    /// API token, sent as `Authorization: Bearer <token>` [default: `token` in the CLI config
    /// file]
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "BOLTD_TOKEN",
        hide_env_values = true,
        help_heading = "Client"
    )]
    pub token: Option<String>,
    /// Client config file (TOML: `url`, `token`) [default: $XDG_CONFIG_HOME/boltd/cli.toml, read
    /// when it exists]
    #[arg(long, global = true, value_name = "PATH", help_heading = "Client")]
    pub cli_config: Option<PathBuf>,
    /// Print tables and `key: value` lines instead of JSON.
    #[arg(long, global = true, help_heading = "Client")]
    pub human: bool,
}

/// The client commands.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Pay a BOLT11 invoice with Core Lightning's `pay` (POST /v1/pay). Parameters by position in
    /// Core Lightning's order, or as --name=value.
    Pay(PayArgs),
    /// Pay any destination: BOLT11 invoice, BOLT12 offer, Lightning address (barkd's pay).
    Send {
        /// Invoice, offer or Lightning address.
        destination: String,
        /// Amount in sat, when the destination has none.
        amount_sat: Option<u64>,
        /// A comment for the recipient (Lightning addresses).
        #[arg(long)]
        comment: Option<String>,
        /// Idempotency key: the same key replays the first result.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Pay a node directly, without an invoice.
    Keysend {
        /// The payee's node id.
        destination: String,
        /// Amount: msat, or with a unit (`1000sat`, `0.001btc`).
        amount: String,
        /// Custom TLV record TYPE=TEXT (repeatable).
        #[arg(long = "record", value_name = "TYPE=TEXT")]
        records: Vec<String>,
        /// An internal memo stored with the payment.
        #[arg(long)]
        memo: Option<String>,
        /// Absolute fee limit: msat, or with a unit.
        #[arg(long)]
        maxfee: Option<String>,
        /// Seconds to keep retrying.
        #[arg(long)]
        retry_for: Option<u64>,
        /// Idempotency key: the same key replays the first result.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Create a BOLT11 invoice.
    Invoice {
        /// Amount in sat; none makes an any-amount invoice.
        amount_sat: Option<u64>,
        /// Description.
        #[arg(long, short)]
        description: Option<String>,
        /// SHA-256 of the description (hex), instead of the description.
        #[arg(long)]
        description_hash: Option<String>,
        /// Expiry in seconds.
        #[arg(long)]
        expiry_secs: Option<u32>,
        /// Make a hold invoice for this payment hash (you keep the preimage).
        #[arg(long)]
        payment_hash: Option<String>,
        /// Through an LSP (a just-in-time channel): true always, false never [default: when
        /// the channels cannot receive the amount and an LSP is configured].
        #[arg(long)]
        via_lsp: Option<bool>,
        /// Idempotency key: the same key replays the first result.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Create a BOLT12 offer.
    Offer {
        /// Amount in sat; none makes an any-amount offer.
        amount_sat: Option<u64>,
        /// Description.
        #[arg(long, short)]
        description: Option<String>,
        /// Expiry in seconds.
        #[arg(long)]
        expiry_secs: Option<u64>,
    },
    /// Decode a BOLT11 invoice or a BOLT12 offer (locally; no daemon needed).
    Decode {
        /// The invoice (`lnbc...`) or offer (`lno...`).
        string: String,
    },
    /// Pending receives (oldest first), or one receive by payment hash, invoice or preimage.
    Receives {
        /// Payment hash, invoice or preimage.
        id: Option<String>,
        /// Cancel this receive.
        #[arg(long, requires = "id")]
        cancel: bool,
    },
    /// Payments in both directions, newest first.
    #[command(visible_alias = "history")]
    Payments {
        /// Only incoming or outgoing.
        #[arg(long, value_enum)]
        direction: Option<Direction>,
        /// Only this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// At most this many (daemon default 100, at most 1000).
        #[arg(long)]
        limit: Option<u32>,
        /// Skip this many.
        #[arg(long)]
        offset: Option<u32>,
    },
    /// On-chain and Lightning balances.
    Balance,
    /// The on-chain wallet.
    Onchain {
        #[command(subcommand)]
        action: OnchainAction,
    },
    /// Peers: list (default), connect, disconnect.
    Peers {
        #[command(subcommand)]
        action: Option<PeersAction>,
    },
    /// Channels: list (default), open, close.
    Channels {
        #[command(subcommand)]
        action: Option<ChannelsAction>,
    },
    /// API tokens: create, list, revoke (needs an admin token).
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Nostr Wallet Connect connections: create, list, revoke (needs an admin token).
    Nwc {
        #[command(subcommand)]
        action: NwcAction,
    },
    /// The node: id, network, heights, counts.
    Info,
    /// Backups (needs an admin token): export an encrypted archive of the node.
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
}

/// `backup` actions.
#[derive(Subcommand, Debug)]
pub enum BackupAction {
    /// Write an encrypted archive of everything needed to restore the node but its seed
    /// (`boltd restore --archive FILE --seed-file SEED` restores it).
    Export {
        /// The file to write (created; refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// After a seed-only restore, once the peers have closed: sweep to the wallet what their
    /// force closes paid to the seed's keys.
    RecoverChannelFunds,
}

/// `payments --direction`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Direction {
    /// Received payments.
    Incoming,
    /// Sent payments.
    Outgoing,
}

/// `payments --status`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Status {
    /// In flight.
    Pending,
    /// Done.
    Complete,
    /// Failed.
    Failed,
}

/// `onchain ...`.
#[derive(Subcommand, Debug)]
pub enum OnchainAction {
    /// A new receive address.
    Address,
    /// Send an amount to an address.
    Send {
        /// Bitcoin address.
        address: String,
        /// Amount in sat.
        amount_sat: u64,
        /// Fee rate in sat/vB [default: the daemon's estimate].
        #[arg(long)]
        fee_rate: Option<u64>,
        /// Idempotency key: the same key returns the first send (never a second transaction).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Send the whole wallet to an address.
    Drain {
        /// Bitcoin address.
        address: String,
        /// Fee rate in sat/vB [default: the daemon's estimate].
        #[arg(long)]
        fee_rate: Option<u64>,
        /// Idempotency key: the same key returns the first send (never a second transaction).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// The on-chain balance.
    Balance,
    /// Unspent outputs.
    Utxos,
    /// Wallet transactions.
    Transactions,
}

/// `peers ...`.
#[derive(Subcommand, Debug)]
pub enum PeersAction {
    /// Connected peers.
    List,
    /// Connect to NODE_ID@HOST:PORT (or NODE_ID HOST:PORT).
    Connect {
        /// NODE_ID@HOST:PORT, or NODE_ID with the address next.
        node: String,
        /// HOST:PORT when not in the first argument.
        address: Option<String>,
    },
    /// Disconnect a peer.
    Disconnect {
        /// The peer's node id.
        node_id: String,
    },
}

/// `channels ...`.
#[derive(Subcommand, Debug)]
pub enum ChannelsAction {
    /// Closed channels: why, when, the closing transaction, what is still coming back.
    Closed,
    /// Channels and their balances.
    List,
    /// Open a channel to NODE_ID (or NODE_ID@HOST:PORT).
    Open {
        /// NODE_ID or NODE_ID@HOST:PORT.
        node: String,
        /// Channel size in sat.
        amount_sat: u64,
        /// Give the peer this much, in msat.
        #[arg(long)]
        push_msat: Option<u64>,
        /// Do not announce the channel.
        #[arg(long)]
        private: bool,
    },
    /// Close a channel (cooperatively, or --force).
    Close {
        /// The channel id (hex).
        channel_id: String,
        /// Force-close: broadcast the latest commitment.
        #[arg(long)]
        force: bool,
    },
    /// Add on-chain funds to a channel without closing it (splice-in).
    SpliceIn {
        /// The channel id (hex).
        channel_id: String,
        /// The amount to add, in sat (confirmed wallet coins pay it and the fee).
        amount_sat: u64,
    },
    /// Take funds out of a channel without closing it (splice-out).
    SpliceOut {
        /// The channel id (hex).
        channel_id: String,
        /// The amount to take out, in sat (the splice's fee comes from the channel on top).
        amount_sat: u64,
        /// Where to send it [default: a new address of the node's wallet].
        #[arg(long)]
        address: Option<String>,
    },
}

/// A token's scopes, expiry and spending limits (`tokens create`, `nwc create`).
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Scopes, repeated or comma-separated: payments:send, invoices:create, invoices:read,
    /// transactions:read, balance:read, node:read, node:admin.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', required = true)]
    pub(super) scopes: Vec<String>,
    /// The token stops working after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub(super) expires_in_secs: Option<u64>,
    /// Largest amount of one payment, fees excluded: msat, or with a unit (`1000sat`).
    #[arg(long, value_name = "AMOUNT")]
    pub(super) max_payment: Option<String>,
    /// Budget for any 24 hours (amounts plus fees): msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    pub(super) daily_budget: Option<String>,
    /// Budget for any 7 days.
    #[arg(long, value_name = "AMOUNT")]
    pub(super) weekly_budget: Option<String>,
    /// Budget for any 30 days.
    #[arg(long, value_name = "AMOUNT")]
    pub(super) monthly_budget: Option<String>,
}

impl TokenArgs {
    pub(super) fn request(self, name: String) -> Result<CreateTokenRequest, Failure> {
        let amount = |what: &str, v: Option<String>| v.map(|v| msat(what, &v)).transpose();
        Ok(CreateTokenRequest {
            name,
            scopes: self.scopes.iter().map(|s| s.trim().to_string()).collect(),
            expires_at: None,
            expires_in_secs: self.expires_in_secs,
            max_payment_msat: amount("max-payment", self.max_payment)?,
            budget_day_msat: amount("daily-budget", self.daily_budget)?,
            budget_week_msat: amount("weekly-budget", self.weekly_budget)?,
            budget_month_msat: amount("monthly-budget", self.monthly_budget)?,
        })
    }
}

/// `nwc ...`.
#[derive(Subcommand, Debug)]
pub enum NwcAction {
    /// Create a Nostr Wallet Connect connection (a token reached through the relays of
    /// `nwc_relays`); the answer's `uri` (nostr+walletconnect://...) is shown this once: paste
    /// it into the app.
    Create {
        /// A name for the connection (e.g. the app that uses it).
        name: String,
        #[command(flatten)]
        spec: TokenArgs,
    },
    /// Every connection (never a secret), with its token's scopes and budgets.
    List,
    /// Revoke a connection at once (its token): its requests are answered UNAUTHORIZED.
    Revoke {
        /// The connection's client public key (hex), as `nwc list` shows it.
        client_pubkey: String,
    },
}

/// `tokens ...`.
#[derive(Subcommand, Debug)]
pub enum TokensAction {
    /// Create a token; the answer holds the token string, shown this once.
    Create {
        /// A name for the token (e.g. the app that uses it).
        name: String,
        #[command(flatten)]
        spec: TokenArgs,
    },
    /// Every token (never their secrets), with what is left of their budgets.
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token's id (the part after `boltd_`, before the second `_`).
        id: String,
    },
}

/// Core Lightning's `pay` parameters, in its positional order.
pub(super) const PAY_PARAMS: [&str; 12] = [
    "bolt11",
    "amount_msat",
    "label",
    "riskfactor",
    "maxfeepercent",
    "retry_for",
    "maxdelay",
    "exemptfee",
    "localinvreqid",
    "exclude",
    "maxfee",
    "description",
];

/// `pay`'s arguments: positional in Core Lightning's order, or named.
#[derive(Args, Debug)]
#[command(after_help = "Positional order (Core Lightning's): bolt11 [amount_msat] [label] \
[riskfactor] [maxfeepercent] [retry_for] [maxdelay] [exemptfee] [localinvreqid] [exclude] [maxfee] \
[description]; `null` skips one. Amounts are msat or have a unit (1000sat, 0.001btc); exclude is \
a JSON array or a comma-separated list of scid/direction and node ids.")]
pub struct PayArgs {
    /// BOLT11 [AMOUNT_MSAT] [LABEL] [RISKFACTOR] ... (Core Lightning's order).
    #[arg(value_name = "PARAMS", num_args = 0..=12)]
    pub(super) params: Vec<String>,
    /// The invoice.
    #[arg(long)]
    pub(super) bolt11: Option<String>,
    /// Amount for an any-amount invoice: msat, or with a unit.
    #[arg(long = "amount_msat", alias = "amount-msat", value_name = "AMOUNT")]
    pub(super) amount_msat: Option<String>,
    /// Label stored with the payment.
    #[arg(long)]
    pub(super) label: Option<String>,
    /// Risk factor.
    #[arg(long)]
    pub(super) riskfactor: Option<String>,
    /// Fee limit in percent of the amount.
    #[arg(long)]
    pub(super) maxfeepercent: Option<String>,
    /// Seconds to keep retrying.
    #[arg(long = "retry_for", alias = "retry-for", value_name = "SECS")]
    pub(super) retry_for: Option<String>,
    /// Maximum total CLTV delay in blocks.
    #[arg(long)]
    pub(super) maxdelay: Option<String>,
    /// Fees up to this much are always allowed: msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    pub(super) exemptfee: Option<String>,
    /// Invoice request id (recorded).
    #[arg(long)]
    pub(super) localinvreqid: Option<String>,
    /// Channels (scid/direction) and nodes to avoid: JSON array or comma list.
    #[arg(long)]
    pub(super) exclude: Option<String>,
    /// Absolute fee limit: msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    pub(super) maxfee: Option<String>,
    /// The description, for description-hash invoices.
    #[arg(long)]
    pub(super) description: Option<String>,
    /// Idempotency key: the same key replays the first result.
    #[arg(long)]
    pub(super) idempotency_key: Option<String>,
}
