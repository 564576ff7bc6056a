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
    DisconnectRequest, KeysendRequest, OnchainDrainRequest, OnchainSendRequest, OpenRequest,
    SpliceInRequest, SpliceOutRequest,
};
use boltd_client::{Client, ClientError, Request};
use clap::ValueEnum;
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

mod commands;
mod render;

pub use commands::*;
use render::{decode, human_text, pretty, scalar};

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
}
