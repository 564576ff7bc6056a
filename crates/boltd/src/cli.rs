//! The command-line client: commands that talk to a running daemon over its HTTP API.
//!
//! The daemon's URL and token come from `--url`/`--token`, `BOLTD_URL`/`BOLTD_TOKEN`, or a small
//! TOML file (`--cli-config`, default `$XDG_CONFIG_HOME/boltd/cli.toml`, keys `url` and `token`),
//! in that order; the URL defaults to the daemon's default listen address. Output is JSON on
//! stdout (or `--human` tables and `key: value` lines); a failure prints the API's error object
//! as JSON on stderr and exits with 1 (2 for usage errors).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boltd_client::types::{
    BarkInvoiceRequest, BarkPayRequest, CloseRequest, ConnectRequest, CreateOfferRequest,
    CreateTokenRequest, DisconnectRequest, KeysendRequest, OnchainDrainRequest, OnchainSendRequest,
    OpenRequest, SpliceInRequest, SpliceOutRequest,
};
use boltd_client::{Client, ClientError, Request};
use clap::{Args, Subcommand, ValueEnum};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The daemon's default API address (`api_listen`'s default).
const DEFAULT_URL: &str = "http://127.0.0.1:3000";
/// Timeout of calls that do not wait for a payment.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra time a payment call gets beyond its `retry_for` (the daemon's default is 60 s).
const PAY_TIMEOUT_MARGIN: Duration = Duration::from_secs(600);

/// How long a payment call may take: its retry window plus [`PAY_TIMEOUT_MARGIN`]. The daemon
/// refuses a window over [`boltd_engine::pay::defaults::MAX_RETRY_FOR_SECS`] (400); it is capped
/// here so the timeout (and the HTTP client's deadline from it) never overflows.
fn pay_timeout(retry_for_secs: u64) -> Duration {
    let secs = retry_for_secs.min(boltd_engine::pay::defaults::MAX_RETRY_FOR_SECS);
    Duration::from_secs(secs).saturating_add(PAY_TIMEOUT_MARGIN)
}

/// `retry_for` when the command does not give one (the daemon's default).
const DEFAULT_RETRY_FOR_SECS: u64 = 60;

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
    scopes: Vec<String>,
    /// The token stops working after this many seconds.
    #[arg(long, value_name = "SECS")]
    expires_in_secs: Option<u64>,
    /// Largest amount of one payment, fees excluded: msat, or with a unit (`1000sat`).
    #[arg(long, value_name = "AMOUNT")]
    max_payment: Option<String>,
    /// Budget for any 24 hours (amounts plus fees): msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    daily_budget: Option<String>,
    /// Budget for any 7 days.
    #[arg(long, value_name = "AMOUNT")]
    weekly_budget: Option<String>,
    /// Budget for any 30 days.
    #[arg(long, value_name = "AMOUNT")]
    monthly_budget: Option<String>,
}

impl TokenArgs {
    fn request(self, name: String) -> Result<CreateTokenRequest, Failure> {
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
const PAY_PARAMS: [&str; 12] = [
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
    params: Vec<String>,
    /// The invoice.
    #[arg(long)]
    bolt11: Option<String>,
    /// Amount for an any-amount invoice: msat, or with a unit.
    #[arg(long = "amount_msat", alias = "amount-msat", value_name = "AMOUNT")]
    amount_msat: Option<String>,
    /// Label stored with the payment.
    #[arg(long)]
    label: Option<String>,
    /// Risk factor.
    #[arg(long)]
    riskfactor: Option<String>,
    /// Fee limit in percent of the amount.
    #[arg(long)]
    maxfeepercent: Option<String>,
    /// Seconds to keep retrying.
    #[arg(long = "retry_for", alias = "retry-for", value_name = "SECS")]
    retry_for: Option<String>,
    /// Maximum total CLTV delay in blocks.
    #[arg(long)]
    maxdelay: Option<String>,
    /// Fees up to this much are always allowed: msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    exemptfee: Option<String>,
    /// Invoice request id (recorded).
    #[arg(long)]
    localinvreqid: Option<String>,
    /// Channels (scid/direction) and nodes to avoid: JSON array or comma list.
    #[arg(long)]
    exclude: Option<String>,
    /// Absolute fee limit: msat, or with a unit.
    #[arg(long, value_name = "AMOUNT")]
    maxfee: Option<String>,
    /// The description, for description-hash invoices.
    #[arg(long)]
    description: Option<String>,
    /// Idempotency key: the same key replays the first result.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    /// The API's error object (`{code, message}` or `{code, message, data}`), exit 1.
    Api(Value),
    /// A client-side failure (connection, bad answer), exit 1.
    Client { code: &'static str, message: String },
    /// Bad arguments, exit 2.
    Usage(String),
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }
}

/// Runs a client command; prints its result or its error.
pub fn run(conn: Conn, command: ClientCommand) -> ExitCode {
    let human = conn.human;
    match execute(conn, command) {
        Ok(v) => {
            let text = if human { human_text(&v) } else { pretty(&v) };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            let (obj, code) = match f {
                Failure::Api(v) => (v, 1),
                Failure::Client { code, message } => (json!({"code": code, "message": message}), 1),
                Failure::Usage(message) => (json!({"code": "usage", "message": message}), 2),
            };
            if human {
                let message = obj.get("message").and_then(Value::as_str).unwrap_or("failed");
                eprintln!("boltd: {message} (code {})", scalar(&obj["code"]));
            } else {
                eprintln!("{obj}");
            }
            ExitCode::from(code)
        }
    }
}

/// Shell completions for the whole `boltd` command.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> ExitCode {
    clap_complete::generate(shell, &mut cmd, "boltd", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// What a command is: the API call it makes (or a local result).
fn execute(conn: Conn, command: ClientCommand) -> Result<Value, Failure> {
    // Commands that need no daemon.
    if let ClientCommand::Decode { string } = &command {
        return decode(string);
    }
    let cli = Cli::new(conn)?;
    let client = &cli.client;
    match command {
        ClientCommand::Decode { .. } => unreachable!(),
        ClientCommand::Tokens { action } => match action {
            TokensAction::Create { name, spec } => {
                cli.send(client.create_token(&spec.request(name)?))
            }
            TokensAction::List => cli.send(client.tokens()),
            TokensAction::Revoke { id } => cli.send(client.revoke_token(path_segment(&id)?)),
        },
        ClientCommand::Nwc { action } => match action {
            NwcAction::Create { name, spec } => {
                cli.send(client.create_nwc_connection(&spec.request(name)?))
            }
            NwcAction::List => cli.send(client.nwc_connections()),
            NwcAction::Revoke { client_pubkey } => {
                cli.send(client.revoke_nwc_connection(path_segment(&client_pubkey)?))
            }
        },
        ClientCommand::Pay(args) => {
            let body = pay_body(&args)?;
            let retry = body["retry_for"].as_u64().unwrap_or(DEFAULT_RETRY_FOR_SECS);
            let call = client.cln_pay(&body).idempotency_key(args.idempotency_key.as_deref());
            cli.pay(call, retry)
        }
        ClientCommand::Send { destination, amount_sat, comment, idempotency_key } => {
            let req = BarkPayRequest { destination, amount_sat, comment, ..Default::default() };
            let call = client.pay(&req).idempotency_key(idempotency_key.as_deref());
            cli.pay(call, DEFAULT_RETRY_FOR_SECS)
        }
        ClientCommand::Keysend {
            destination,
            amount,
            records,
            memo,
            maxfee,
            retry_for,
            idempotency_key,
        } => {
            let mut custom_records = BTreeMap::new();
            for r in &records {
                let (t, v) = r
                    .split_once('=')
                    .ok_or_else(|| Failure::usage(format!("--record `{r}`: use TYPE=TEXT")))?;
                custom_records.insert(t.trim().to_string(), v.to_string());
            }
            let maxfee_msat = maxfee.map(|m| msat("maxfee", &m)).transpose()?;
            let req = KeysendRequest {
                destination,
                amount_msat: msat("amount", &amount)?,
                custom_records,
                memo,
                maxfee_msat,
                retry_for,
                ..Default::default()
            };
            let call = client.keysend(&req).idempotency_key(idempotency_key.as_deref());
            cli.pay(call, retry_for.unwrap_or(DEFAULT_RETRY_FOR_SECS))
        }
        ClientCommand::Invoice {
            amount_sat,
            description,
            description_hash,
            expiry_secs,
            payment_hash,
            via_lsp,
            idempotency_key,
        } => {
            let req = BarkInvoiceRequest {
                amount_sat,
                description,
                description_hash,
                expiry_secs,
                payment_hash,
                via_lsp,
                token: None,
            };
            cli.send(client.create_invoice(&req).idempotency_key(idempotency_key.as_deref()))
        }
        ClientCommand::Offer { amount_sat, description, expiry_secs } => {
            let req = CreateOfferRequest {
                amount_sat,
                amount_msat: None,
                description: description.unwrap_or_default(),
                expiry_secs,
            };
            cli.send(client.create_offer(&req))
        }
        ClientCommand::Receives { id: None, .. } => cli.send(client.receives()),
        ClientCommand::Receives { id: Some(id), cancel } => {
            let id = path_segment(&id)?;
            cli.send(if cancel { client.cancel_receive(id) } else { client.receive(id) })
        }
        ClientCommand::Payments { direction, status, limit, offset } => {
            let direction = direction.map(value_name);
            let status = status.map(value_name);
            cli.send(client.payments(direction.as_deref(), status.as_deref(), limit, offset))
        }
        ClientCommand::Balance => cli.send(client.balance()),
        ClientCommand::Onchain { action } => match action {
            OnchainAction::Address => cli.send(client.onchain_address()),
            OnchainAction::Send { address, amount_sat, fee_rate, idempotency_key } => {
                let req = OnchainSendRequest {
                    destination: address,
                    amount_sat,
                    fee_rate_sat_per_vb: fee_rate,
                };
                cli.send(client.onchain_send(&req).idempotency_key(idempotency_key.as_deref()))
            }
            OnchainAction::Drain { address, fee_rate, idempotency_key } => {
                let req =
                    OnchainDrainRequest { destination: address, fee_rate_sat_per_vb: fee_rate };
                cli.send(client.onchain_drain(&req).idempotency_key(idempotency_key.as_deref()))
            }
            OnchainAction::Balance => cli.send(client.onchain_balance()),
            OnchainAction::Utxos => cli.send(client.utxos()),
            OnchainAction::Transactions => cli.send(client.transactions()),
        },
        ClientCommand::Peers { action } => match action.unwrap_or(PeersAction::List) {
            PeersAction::List => cli.send(client.peers()),
            PeersAction::Connect { node, address } => {
                let (node_id, address) = match (node.split_once('@'), address) {
                    (Some((id, addr)), None) => (id.to_string(), addr.to_string()),
                    (None, Some(addr)) => (node, addr),
                    (Some(_), Some(_)) => {
                        return Err(Failure::usage("give the address once: NODE_ID@HOST:PORT"))
                    }
                    (None, None) => {
                        return Err(Failure::usage(
                            "peers connect needs an address: NODE_ID@HOST:PORT",
                        ))
                    }
                };
                cli.send(client.connect_peer(&ConnectRequest { node_id, address }))
            }
            PeersAction::Disconnect { node_id } => {
                cli.send(client.disconnect_peer(&DisconnectRequest { node_id }))
            }
        },
        ClientCommand::Channels { action } => match action.unwrap_or(ChannelsAction::List) {
            ChannelsAction::List => cli.send(client.channels()),
            ChannelsAction::Closed => cli.send(client.closed_channels()),
            ChannelsAction::Open { node, amount_sat, push_msat, private } => {
                let (node_id, address) = match node.split_once('@') {
                    Some((id, addr)) => (id.to_string(), Some(addr.to_string())),
                    None => (node, None),
                };
                let req = OpenRequest {
                    node_id,
                    address,
                    amount_sat,
                    push_msat: push_msat.unwrap_or(0),
                    public: !private,
                };
                cli.send(client.open_channel(&req))
            }
            ChannelsAction::Close { channel_id, force } => {
                cli.send(client.close_channel(&CloseRequest { channel_id, force }))
            }
            ChannelsAction::SpliceIn { channel_id, amount_sat } => {
                cli.send(client.splice_in(&SpliceInRequest { channel_id, amount_sat }))
            }
            ChannelsAction::SpliceOut { channel_id, amount_sat, address } => {
                let req = SpliceOutRequest { channel_id, amount_sat, address };
                cli.send(client.splice_out(&req))
            }
        },
        ClientCommand::Info => cli.send(client.node_info()),
        ClientCommand::Backup { action: BackupAction::Export { out } } => {
            let bytes = client
                .export_backup()
                .timeout(BACKUP_TIMEOUT)
                .send_bytes()
                .map_err(|e| cli.failure(e))?;
            write_new_file(&out, &bytes).map_err(|e| Failure::Client {
                code: "io",
                message: format!("cannot write {}: {e}", out.display()),
            })?;
            Ok(json!({ "file": out.display().to_string(), "bytes": bytes.len() }))
        }
        ClientCommand::Backup { action: BackupAction::RecoverChannelFunds } => {
            cli.send(client.recover_channel_funds().timeout(BACKUP_TIMEOUT))
        }
    }
}

/// How long an archive export may take (a copy of the database).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(300);

/// Writes `bytes` to a new file (mode 0600), durably.
fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}

/// A path segment from user input (a payment hash, invoice, preimage or token id): only
/// characters that need no escaping.
fn path_segment(s: &str) -> Result<&str, Failure> {
    let s = s.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(s)
    } else {
        Err(Failure::usage(format!("`{s}` is not a payment hash, invoice, preimage or token id")))
    }
}

/// A Core Lightning amount (msat, or with a unit) in msat.
fn msat(name: &str, s: &str) -> Result<u64, Failure> {
    boltd_engine::amount::parse_msat(s.trim()).map_err(|e| Failure::usage(format!("{name}: {e}")))
}

/// `pay`'s JSON body for `POST /v1/pay`: positional and named parameters merged, typed.
fn pay_body(a: &PayArgs) -> Result<Value, Failure> {
    let named: [(&str, &Option<String>); 12] = [
        ("bolt11", &a.bolt11),
        ("amount_msat", &a.amount_msat),
        ("label", &a.label),
        ("riskfactor", &a.riskfactor),
        ("maxfeepercent", &a.maxfeepercent),
        ("retry_for", &a.retry_for),
        ("maxdelay", &a.maxdelay),
        ("exemptfee", &a.exemptfee),
        ("localinvreqid", &a.localinvreqid),
        ("exclude", &a.exclude),
        ("maxfee", &a.maxfee),
        ("description", &a.description),
    ];
    let mut values: Vec<Option<String>> = vec![None; PAY_PARAMS.len()];
    for (i, p) in a.params.iter().enumerate() {
        // Core Lightning's placeholder for a skipped positional parameter.
        if p != "null" {
            values[i] = Some(p.clone());
        }
    }
    for (i, (name, v)) in named.iter().enumerate() {
        if let Some(v) = v {
            if values[i].is_some() {
                return Err(Failure::usage(format!(
                    "`{name}` is given twice: as parameter {} and as --{name}",
                    i + 1
                )));
            }
            values[i] = Some(v.clone());
        }
    }
    let mut body = Map::new();
    for (name, v) in PAY_PARAMS.iter().zip(values) {
        let Some(v) = v else { continue };
        let json =
            match *name {
                "amount_msat" | "exemptfee" | "maxfee" => json!(msat(name, &v)?),
                "riskfactor" | "maxfeepercent" => {
                    let x: f64 =
                        v.trim().parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| {
                            Failure::usage(format!("{name}: `{v}` is not a number"))
                        })?;
                    json!(x)
                }
                "retry_for" => json!(v.trim().parse::<u64>().map_err(|_| Failure::usage(
                    format!("retry_for: `{v}` is not a whole number")
                ))?),
                "maxdelay" => json!(v.trim().parse::<u32>().map_err(|_| Failure::usage(
                    format!("maxdelay: `{v}` is not a block count")
                ))?),
                "exclude" => json!(parse_exclude(&v)?),
                _ => json!(v),
            };
        body.insert(name.to_string(), json);
    }
    if !body.contains_key("bolt11") {
        return Err(Failure::usage("pay needs a bolt11 invoice (first parameter or --bolt11)"));
    }
    Ok(Value::Object(body))
}

/// `exclude`: a JSON array of strings, or a comma-separated list.
fn parse_exclude(s: &str) -> Result<Vec<String>, Failure> {
    let t = s.trim();
    if t.starts_with('[') {
        serde_json::from_str::<Vec<String>>(t)
            .map_err(|e| Failure::usage(format!("exclude: not a JSON array of strings: {e}")))
    } else {
        Ok(t.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect())
    }
}

/// The optional client config file.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CliFile {
    url: Option<String>,
    token: Option<String>,
}

fn default_cli_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("boltd").join("cli.toml"))
}

fn read_cli_file(conn: &Conn) -> Result<CliFile, Failure> {
    let (path, required) = match &conn.cli_config {
        Some(p) => (p.clone(), true),
        None => match default_cli_config() {
            Some(p) => (p, false),
            None => return Ok(CliFile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CliFile::default())
        }
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", path.display()))),
    };
    toml::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// The daemon's API client, and how its failures are shown.
struct Cli {
    client: Client,
}

impl Cli {
    fn new(conn: Conn) -> Result<Cli, Failure> {
        let file = read_cli_file(&conn)?;
        let set = |v: Option<String>| v.filter(|x| !x.trim().is_empty());
        let url = set(conn.url).or(set(file.url)).unwrap_or_else(|| DEFAULT_URL.to_string());
        let url = url.trim().trim_end_matches('/').to_string();
        let base = if url.contains("://") { url } else { format!("http://{url}") };
        if !base.starts_with("http://") {
            return Err(Failure::usage(format!(
                "--url {base}: only http:// is supported (the API listens on loopback)"
            )));
        }
        let token = set(conn.token).or(set(file.token));
        Ok(Cli { client: Client::new(base, token).timeout(CALL_TIMEOUT) })
    }

    /// Sends a call; its answer as JSON.
    fn send<T: Serialize + DeserializeOwned>(
        &self,
        call: Request<'_, T>,
    ) -> Result<Value, Failure> {
        let answer = call.send().map_err(|e| self.failure(e))?;
        serde_json::to_value(answer)
            .map_err(|e| Failure::Client { code: "bad_response", message: e.to_string() })
    }

    /// Sends a payment call: a timeout beyond its retries, and progress on a terminal.
    fn pay<T: Serialize + DeserializeOwned>(
        &self,
        call: Request<'_, T>,
        retry_for_secs: u64,
    ) -> Result<Value, Failure> {
        let _progress = Progress::start("paying");
        self.send(call.timeout(pay_timeout(retry_for_secs)))
    }

    fn failure(&self, e: ClientError) -> Failure {
        match e {
            ClientError::Api { method, url, status, body } => {
                if body.get("code").is_some() && body.get("message").is_some() {
                    return Failure::Api(body);
                }
                let text = match &body {
                    Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                Failure::Api(json!({
                    "code": format!("http_{status}"),
                    "message": format!("{method} {url}: HTTP {status}: {text}"),
                }))
            }
            ClientError::Transport { message, .. } => Failure::Client {
                code: "connection_failed",
                message: format!(
                    "cannot reach the daemon at {} ({message}); set --url or BOLTD_URL",
                    self.client.base_url()
                ),
            },
            ClientError::BadResponse { method, url, message, .. } => Failure::Client {
                code: "bad_response",
                message: format!("{method} {url}: {message}"),
            },
            e @ ClientError::Body { .. } => {
                Failure::Client { code: "bad_request", message: e.to_string() }
            }
        }
    }
}

/// A spinner with the elapsed time on stderr while a payment is in flight, only when both
/// stdout and stderr are terminals (quiet when piped).
struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(label: &'static str) -> Option<Progress> {
        if !(std::io::stdout().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let frames = ['|', '/', '-', '\\'];
            let t0 = Instant::now();
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r{} {label}... {}s ",
                    frames[i % frames.len()],
                    t0.elapsed().as_secs()
                );
                let _ = err.flush();
                drop(err);
                i += 1;
                std::thread::sleep(Duration::from_millis(120));
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        });
        Some(Progress { stop, thread: Some(thread) })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- decode ----

/// Decodes a BOLT11 invoice or a BOLT12 offer locally.
fn decode(s: &str) -> Result<Value, Failure> {
    use boltd_node::deps::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};

    let s = s.trim();
    let s = s
        .strip_prefix("lightning:")
        .or_else(|| s.strip_prefix("LIGHTNING:"))
        .unwrap_or(s)
        .to_ascii_lowercase();
    if s.starts_with("lno1") {
        return decode_offer(&s);
    }
    let inv: Bolt11Invoice = s.parse().map_err(|e| Failure::Client {
        code: "invalid_input",
        message: format!("not a BOLT11 invoice or BOLT12 offer: {e}"),
    })?;
    let mut out = Map::new();
    out.insert("type".into(), json!("bolt11"));
    out.insert("network".into(), json!(inv.network().to_string()));
    out.insert("amount_msat".into(), json!(inv.amount_milli_satoshis()));
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => {
            out.insert("description".into(), json!(d.to_string()));
        }
        Bolt11InvoiceDescriptionRef::Hash(h) => {
            out.insert("description_hash".into(), json!(h.0.to_string()));
        }
    }
    out.insert("payee".into(), json!(inv.get_payee_pub_key().to_string()));
    out.insert("payment_hash".into(), json!(inv.payment_hash().to_string()));
    let created = inv.duration_since_epoch().as_secs();
    let expiry = inv.expiry_time().as_secs();
    out.insert("created_at".into(), json!(created));
    out.insert("expiry_secs".into(), json!(expiry));
    out.insert("expires_at".into(), json!(created.saturating_add(expiry)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    out.insert("expired".into(), json!(now >= created.saturating_add(expiry)));
    out.insert("min_final_cltv_expiry_delta".into(), json!(inv.min_final_cltv_expiry_delta()));
    out.insert("route_hints".into(), json!(inv.route_hints().len()));
    Ok(Value::Object(out))
}

fn decode_offer(s: &str) -> Result<Value, Failure> {
    use boltd_node::deps::bitcoin::Network;
    use boltd_node::deps::lightning::offers::offer::{Amount, Offer};

    let offer: Offer = s.parse().map_err(|e| Failure::Client {
        code: "invalid_input",
        message: format!("not a BOLT12 offer: {e:?}"),
    })?;
    let mut out = Map::new();
    out.insert("type".into(), json!("bolt12_offer"));
    out.insert("offer_id".into(), json!(hex::encode(offer.id().0)));
    let networks: Vec<String> = offer
        .chains()
        .into_iter()
        .map(|c| {
            Network::from_chain_hash(c).map(|n| n.to_string()).unwrap_or_else(|| c.to_string())
        })
        .collect();
    out.insert("networks".into(), json!(networks));
    match offer.amount() {
        Some(Amount::Bitcoin { amount_msats }) => {
            out.insert("amount_msat".into(), json!(amount_msats));
        }
        Some(Amount::Currency { iso4217_code, amount }) => {
            let code = String::from_utf8_lossy(iso4217_code.as_ref()).into_owned();
            out.insert("amount".into(), json!({"currency": code, "amount": amount}));
        }
        None => {
            out.insert("amount_msat".into(), Value::Null);
        }
    }
    out.insert("description".into(), json!(offer.description().map(|d| d.to_string())));
    out.insert("issuer".into(), json!(offer.issuer().map(|d| d.to_string())));
    out.insert(
        "issuer_signing_pubkey".into(),
        json!(offer.issuer_signing_pubkey().map(|k| k.to_string())),
    );
    out.insert("expires_at".into(), json!(offer.absolute_expiry().map(|d| d.as_secs())));
    out.insert("paths".into(), json!(offer.paths().len()));
    Ok(Value::Object(out))
}

// ---- output ----

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A scalar for a table cell or a `key: value` line.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => (if *b { "yes" } else { "no" }).into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Columns for the lists people read, recognised by a key only their items have.
fn columns_for(first: &Map<String, Value>) -> Vec<String> {
    let pick: &[&str] = if first.contains_key("peer_node_id") {
        &[
            "channel_id",
            "peer_node_id",
            "state",
            "short_channel_id",
            "capacity_sat",
            "outbound_msat",
            "inbound_msat",
            "public",
        ]
    } else if first.contains_key("direction") && first.contains_key("kind") {
        &[
            "id",
            "direction",
            "kind",
            "status",
            "amount_msat",
            "fee_msat",
            "payment_hash",
            "created_at",
        ]
    } else if first.contains_key("hold") && first.contains_key("state") {
        &[
            "id",
            "state",
            "amount_msat",
            "received_msat",
            "payment_hash",
            "expires_at",
            "description",
        ]
    } else if first.contains_key("scopes") && first.contains_key("active") {
        &["id", "name", "scopes", "active", "expires_at", "revoked_at", "max_payment_msat"]
    } else if first.contains_key("inbound") && first.contains_key("node_id") {
        &["node_id", "address", "inbound"]
    } else {
        &[]
    };
    if pick.is_empty() {
        // Any other list: its scalar fields.
        first
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, _)| k.clone())
            .collect()
    } else {
        pick.iter().map(|s| s.to_string()).collect()
    }
}

/// `--human`: an aligned table for a list of objects, `key: value` lines otherwise.
fn human_text(v: &Value) -> String {
    match v {
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let cols = columns_for(items[0].as_object().expect("an object"));
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|it| cols.iter().map(|c| scalar(&it[c.as_str()])).collect())
                .collect();
            table(&cols, &rows)
        }
        Value::Object(_) | Value::Array(_) => {
            let mut lines = Vec::new();
            flatten("", v, &mut lines);
            let width = lines.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
            lines
                .iter()
                .map(|(k, v)| format!("{k}:{} {v}", " ".repeat(width - k.chars().count())))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => scalar(other),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&key(k), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), x, out);
            }
        }
        Value::Array(_) => out.push((prefix.to_string(), "(none)".into())),
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn table(cols: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(cols.iter().map(|c| c.to_uppercase()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_huge_retry_for_does_not_overflow_the_call_timeout() {
        assert_eq!(pay_timeout(60), Duration::from_secs(60) + PAY_TIMEOUT_MARGIN);
        let max = boltd_engine::pay::defaults::MAX_RETRY_FOR_SECS;
        assert_eq!(pay_timeout(u64::MAX), Duration::from_secs(max) + PAY_TIMEOUT_MARGIN);
        // The HTTP client adds the timeout to an Instant: it must stay representable.
        assert!(std::time::Instant::now().checked_add(pay_timeout(u64::MAX)).is_some());
    }

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        pay: PayArgs,
    }

    fn body(args: &[&str]) -> Result<Value, Failure> {
        let t = T::try_parse_from(std::iter::once("pay").chain(args.iter().copied())).unwrap();
        pay_body(&t.pay)
    }

    #[test]
    fn pay_positional_and_named_merge_and_type() {
        let v =
            body(&["lnbcrt1x", "1000sat", "lbl", "null", "1.5", "30", "--maxfee=2000"]).unwrap();
        assert_eq!(
            v,
            json!({"bolt11": "lnbcrt1x", "amount_msat": 1_000_000, "label": "lbl",
                   "maxfeepercent": 1.5, "retry_for": 30, "maxfee": 2000})
        );
        let v =
            body(&["--bolt11=lnbcrt1x", "--exclude=1x2x3/0, 02ab", "--retry_for", "5"]).unwrap();
        assert_eq!(v["exclude"], json!(["1x2x3/0", "02ab"]));
        assert_eq!(v["retry_for"], 5);
        let v = body(&["lnbcrt1x", "--exclude", r#"["1x2x3/1"]"#]).unwrap();
        assert_eq!(v["exclude"], json!(["1x2x3/1"]));
    }

    #[test]
    fn pay_usage_errors() {
        assert!(matches!(body(&[]), Err(Failure::Usage(_))));
        assert!(
            matches!(body(&["x", "--bolt11=y"]), Err(Failure::Usage(m)) if m.contains("twice"))
        );
        assert!(matches!(body(&["x", "lots"]), Err(Failure::Usage(_))));
        assert!(matches!(body(&["x", "--riskfactor=abc"]), Err(Failure::Usage(_))));
    }

    #[test]
    fn human_tables_and_lines() {
        let t = human_text(&json!([{"node_id": "02ab", "address": null, "inbound": true}]));
        assert_eq!(t, "NODE_ID  ADDRESS  INBOUND\n02ab     -        yes");
        let t = human_text(&json!({"a": 1, "onchain": {"confirmed_sat": 5}}));
        assert_eq!(t, "a:                     1\nonchain.confirmed_sat: 5");
    }
}
