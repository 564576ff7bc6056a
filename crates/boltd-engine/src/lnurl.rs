//! LNURL-pay (LUD-06) with comments (LUD-12) and Lightning addresses (LUD-16), both ways.
//!
//! **Paying** ([`Engine::pay_lnurl`]): resolve the destination to its pay parameters (one GET),
//! check the amount against `minSendable`/`maxSendable` and the comment against
//! `commentAllowed`, call the callback with `amount` (and `comment`), check the returned invoice
//! (its amount is the one asked for, its description hash is SHA-256 of the metadata, its network
//! is ours) and only then pay it through [`Engine::pay`], which records it (kind `bolt11`, the
//! destination as `label`, the LNURL request in `metadata`, the metadata as `description`) and
//! dedupes by payment hash and idempotency key.
//!
//! **Serving** ([`Engine::lnurlp_params`], [`Engine::lnurlp_callback`]) for the configured
//! `lnurl_names`: `/.well-known/lnurlp/<name>` answers the pay parameters, with the metadata
//! `[["text/plain","Payment to name@host"],["text/identifier","name@host"]]`, and its callback
//! `/.well-known/lnurlp/<name>/callback` issues invoices through [`Engine::create_invoice`] whose
//! description hash commits to that metadata. Both are public by nature (no authentication).
//!
//! **HTTP** goes through the engine's guarded client (`egress`): `https` with rustls and the
//! webpki roots, only to public addresses (checked after resolving the host, and the connection
//! made to the checked address only: the LNURL's host and the callback the service answers are
//! both checked, so a service cannot point boltd at a private network); loopback and plain
//! `http` (to loopback only) only on regtest with `lnurl_allow_http`. Redirects are not
//! followed (one could downgrade to `http` or change the host), responses are limited in size
//! and time.
//!
//! **Parsing**: `lnurl1…` strings (also in `lightning:` URIs and LUD-01 fallback links) are
//! parsed by `bitcoin_payment_instructions::PaymentInstructions::parse`, which decodes them and
//! applies LUD-01's URL rule (https, or http for onion and loopback hosts) to the LNURL and its
//! callback, through [`Resolver`], which makes the first request itself (the crate's
//! `HTTPHrnResolver` cannot be used: it fetches only `https`, first asks Google's DNS-over-HTTPS
//! for a BIP 353 record, and knows nothing of LUD-12 comments). Lightning addresses are parsed
//! here, per LUD-16: the crate's names are BIP 353's (LDK's `HumanReadableName`), which have no
//! port (needed for `name@127.0.0.1:<port>` on regtest) and no `+tag`. LUD-17 `lnurlp://` URLs are
//! accepted too.

use std::sync::Mutex;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::Network;
use bitcoin_payment_instructions::amount::Amount;
use bitcoin_payment_instructions::hrn_resolution::{
    HrnResolution, HrnResolutionFuture, HrnResolver, HumanReadableName, LNURLResolutionFuture,
};
use bitcoin_payment_instructions::{ParseError, PaymentInstructions};
use boltd_config::is_loopback_host;
use boltd_store::{Direction, PaymentRecord};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use serde_json::{json, Value};

use crate::egress::{Egress, EgressError};
use crate::error::PayError;
use crate::pay::{defaults, PayRequest, PayResult};
use crate::receive::InvoiceRequest;
use crate::{Engine, PayContext};

/// The smallest amount the hosted names accept (`minSendable`), in msat.
pub const MIN_SENDABLE_MSAT: u64 = 1_000;
/// The largest amount the hosted names accept (`maxSendable`), in msat: 0.1 BTC.
pub const MAX_SENDABLE_MSAT: u64 = 10_000_000_000;
/// The longest comment the hosted names accept (`commentAllowed`), in characters.
pub const COMMENT_ALLOWED: usize = 255;

/// How long one LNURL request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest LNURL response read (metadata may carry a 100 kB image in base64).
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// What an LNURL-pay service answers to the first request (LUD-06 step 3, LUD-12), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayParams {
    /// Where to ask for an invoice.
    pub callback: String,
    /// `minSendable`, in msat.
    pub min_sendable_msat: u64,
    /// `maxSendable`, in msat.
    pub max_sendable_msat: u64,
    /// The metadata, as the exact string the invoice's description hash commits to.
    pub metadata: String,
    /// The metadata's `text/plain` entry.
    pub description: String,
    /// `commentAllowed`: the longest comment accepted, in characters (0: none).
    pub comment_allowed: u64,
}

impl PayParams {
    /// Parses and checks a first response: `tag` is `payRequest`, `1 <= minSendable <=
    /// maxSendable`, and the metadata is a JSON array of arrays with exactly one `text/plain`
    /// entry. A `{"status":"ERROR","reason":...}` answer is an error with the reason.
    pub fn from_json(v: &Value) -> Result<PayParams, String> {
        service_error(v)?;
        if v.get("tag").and_then(Value::as_str) != Some("payRequest") {
            return Err("the LNURL is not a pay request (tag is not `payRequest`)".into());
        }
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("the pay request has no `{k}` string"))
        };
        let number = |k: &str| {
            v.get(k).and_then(Value::as_u64).ok_or_else(|| format!("the pay request has no `{k}`"))
        };
        let (callback, metadata) = (text("callback")?, text("metadata")?);
        let (min, max) = (number("minSendable")?, number("maxSendable")?);
        if min == 0 || min > max {
            return Err(format!(
                "the pay request accepts no amount (minSendable {min}, maxSendable {max})"
            ));
        }
        let comment_allowed = v.get("commentAllowed").and_then(Value::as_u64).unwrap_or(0);
        let description = metadata_description(&metadata)?;
        Ok(PayParams {
            callback,
            min_sendable_msat: min,
            max_sendable_msat: max,
            metadata,
            description,
            comment_allowed,
        })
    }

    /// Checks that `amount_msat` is within `[minSendable, maxSendable]`.
    pub fn check_amount(&self, amount_msat: u64) -> Result<(), String> {
        if (self.min_sendable_msat..=self.max_sendable_msat).contains(&amount_msat) {
            return Ok(());
        }
        Err(format!(
            "amount {amount_msat} msat is outside what the recipient accepts: {} to {} msat",
            self.min_sendable_msat, self.max_sendable_msat
        ))
    }

    /// Checks a comment against `commentAllowed` (LUD-12: a number of characters).
    pub fn check_comment(&self, comment: Option<&str>) -> Result<(), String> {
        let Some(c) = comment else { return Ok(()) };
        let len = c.chars().count() as u64;
        match self.comment_allowed {
            0 => Err("the recipient does not accept comments".into()),
            max if len > max => {
                Err(format!("the comment is {len} characters; the recipient accepts at most {max}"))
            }
            _ => Ok(()),
        }
    }
}

/// `{"status":"ERROR","reason":...}` as an error.
fn service_error(v: &Value) -> Result<(), String> {
    if v.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("ERROR")) {
        let reason = v.get("reason").and_then(Value::as_str).unwrap_or("no reason given");
        return Err(format!("the LNURL service refused: {reason}"));
    }
    Ok(())
}

/// The `text/plain` entry of LUD-06 metadata (an array of arrays whose first item is a type
/// string; the other items may be of any JSON type). Exactly one is required.
fn metadata_description(metadata: &str) -> Result<String, String> {
    let bad = || "the pay request's metadata is not a JSON array of [type, content] arrays";
    let entries: Vec<Vec<Value>> = serde_json::from_str(metadata).map_err(|_| bad())?;
    let mut plain = None;
    for e in &entries {
        let ty = e.first().and_then(Value::as_str).ok_or_else(bad)?;
        if ty == "text/plain" {
            let text = e.get(1).and_then(Value::as_str).ok_or_else(bad)?;
            if plain.replace(text.to_string()).is_some() {
                return Err("the pay request's metadata has two text/plain entries".into());
            }
        }
    }
    plain.ok_or_else(|| "the pay request's metadata has no text/plain entry".into())
}

/// Checks the invoice an LNURL callback returned (LUD-06 steps 6 and 7), before anything is
/// paid: it parses, is for `network`, asks for exactly `amount_msat`, and commits to
/// SHA-256(`metadata`) as its description hash.
pub fn check_invoice(
    pr: &str,
    amount_msat: u64,
    metadata: &str,
    network: Network,
) -> Result<Bolt11Invoice, String> {
    let invoice: Bolt11Invoice =
        pr.trim().parse().map_err(|e| format!("the LNURL service returned a bad invoice: {e}"))?;
    if invoice.network() != network {
        return Err(format!(
            "the LNURL service returned an invoice for {}, this node runs on {network}",
            invoice.network()
        ));
    }
    if invoice.amount_milli_satoshis() != Some(amount_msat) {
        return Err(format!(
            "the LNURL service returned an invoice for {} msat, not the {amount_msat} msat asked \
             for; not paying",
            invoice.amount_milli_satoshis().map_or("any amount".into(), |a| a.to_string())
        ));
    }
    match invoice.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) if h.0 == sha256::Hash::hash(metadata.as_bytes()) => {
            Ok(invoice)
        }
        Bolt11InvoiceDescriptionRef::Hash(_) => Err(
            "the LNURL service returned an invoice whose description hash is not the metadata's; \
             not paying"
                .into(),
        ),
        Bolt11InvoiceDescriptionRef::Direct(_) => {
            Err("the LNURL service returned an invoice without a description hash; not paying"
                .into())
        }
    }
}

/// A Lightning address (LUD-16): `user@host`, with an optional port (regtest, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightningAddress {
    /// The user name, lower-case: `a-z0-9-_.`, and `+` for tags.
    pub user: String,
    /// The host, lower-case, with its `:port` if one was given (IPv6 in brackets).
    pub host: String,
}

impl LightningAddress {
    /// Parses `user@host[:port]` (case-insensitive).
    pub fn parse(s: &str) -> Result<LightningAddress, String> {
        let s = s.trim().to_ascii_lowercase();
        let bad = |why: &str| format!("`{s}` is not a Lightning address: {why}");
        let (user, host) = s.split_once('@').ok_or_else(|| bad("no @"))?;
        let user_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.+".contains(&b);
        if user.is_empty() || !user.bytes().all(user_ok) {
            return Err(bad("the name may only use a-z, 0-9, -, _, . and +"));
        }
        let (name, port) = split_host_port(host).ok_or_else(|| bad("bad host or port"))?;
        let host_ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        let ipv6 = name.starts_with('[')
            && name.ends_with(']')
            && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        if name.is_empty() || !(ipv6 || name.bytes().all(host_ok)) || port == Some(0) {
            return Err(bad("bad host or port"));
        }
        Ok(LightningAddress { user: user.to_string(), host: host.to_string() })
    }

    /// The LUD-16 URL of its pay parameters: `https://host/.well-known/lnurlp/user`, or `http`
    /// when plain http is allowed and the host is loopback.
    fn url(&self, allow_http: bool) -> String {
        let (name, _) = split_host_port(&self.host).unwrap_or((&self.host, None));
        let scheme = if allow_http && is_loopback_host(name) { "http" } else { "https" };
        format!("{scheme}://{}/.well-known/lnurlp/{}", self.host, self.user)
    }
}

impl std::fmt::Display for LightningAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.host)
    }
}

/// `host[:port]` into the host (IPv6 keeps its brackets) and the port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match s.rfind(']') {
        Some(end) => (&s[..=end], s[end + 1..].strip_prefix(':')),
        None => match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

/// LNURL's HTTP client: `https`, or `http` to loopback hosts when `allow_http` (regtest with
/// `lnurl_allow_http`).
#[derive(Debug, Clone, Copy)]
struct Http {
    allow_http: bool,
}

impl Http {
    fn egress(&self) -> Egress {
        Egress {
            allow_loopback: self.allow_http,
            loopback_hint: " (loopback for LNURL needs regtest and lnurl_allow_http)",
        }
    }

    fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = bitreq::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http && is_loopback_host(parsed.base_url()) => Ok(()),
            "http" => Err(format!(
                "`{url}`: LNURL needs https (plain http only to a loopback host, on regtest, with \
                 lnurl_allow_http)"
            )),
            s => Err(format!("`{url}`: LNURL needs https, not {s}")),
        }
    }

    /// GETs `url` (with `params` added to its query) and returns the JSON answer; a
    /// `{"status":"ERROR"}` answer is an error with its reason.
    async fn get(&self, url: &str, params: &[(&str, &str)]) -> Result<Value, PayError> {
        self.check_url(url).map_err(PayError::InvalidParams)?;
        let mut full = reqwest::Url::parse(url)
            .map_err(|e| PayError::InvalidParams(format!("`{url}` is not a URL: {e}")))?;
        if !params.is_empty() {
            full.query_pairs_mut().extend_pairs(params);
        }
        let headers = [("Accept".to_string(), "application/json".to_string())];
        let res = self
            .egress()
            .send(
                reqwest::Method::GET,
                full.as_str(),
                &headers,
                None,
                HTTP_TIMEOUT,
                MAX_RESPONSE_BYTES,
            )
            .await
            .map_err(|e| match e {
                EgressError::Refused(m) => PayError::InvalidParams(format!("LNURL: {m}")),
                EgressError::Failed(m) => PayError::Other(format!("cannot fetch {url}: {m}")),
            })?;
        let status = res.status;
        if (300..400).contains(&status) {
            return Err(PayError::Other(format!(
                "{url} redirects; LNURL redirects are not followed"
            )));
        }
        match serde_json::from_slice::<Value>(&res.body) {
            Ok(v) => {
                service_error(&v).map_err(PayError::Other)?;
                if (200..300).contains(&status) {
                    Ok(v)
                } else {
                    Err(PayError::Other(format!("{url} answered HTTP {status}")))
                }
            }
            Err(_) if (200..300).contains(&status) => {
                Err(PayError::Other(format!("{url} did not answer JSON")))
            }
            Err(_) => Err(PayError::Other(format!("{url} answered HTTP {status}"))),
        }
    }

    async fn pay_params(&self, url: &str) -> Result<PayParams, PayError> {
        PayParams::from_json(&self.get(url, &[]).await?).map_err(PayError::Other)
    }
}

/// The [`HrnResolver`] through which `PaymentInstructions::parse` resolves `lnurl1…` strings:
/// it makes the first request with [`Http`] and keeps the whole answer, since the crate's
/// `HrnResolution::LNURLPay` has no room for `commentAllowed` and its errors are static strings.
/// It resolves nothing else: Lightning addresses are parsed by [`LightningAddress`], and the
/// callback is called by [`Engine::pay_lnurl`] (with the LUD-12 comment).
struct Resolver {
    http: Http,
    fetched: Mutex<Option<Result<PayParams, PayError>>>,
}

impl HrnResolver for Resolver {
    fn resolve_hrn<'a>(&'a self, _: &'a HumanReadableName) -> HrnResolutionFuture<'a> {
        Box::pin(async { Err("boltd resolves Lightning addresses itself") })
    }

    fn resolve_lnurl<'a>(&'a self, url: &'a str) -> HrnResolutionFuture<'a> {
        Box::pin(async move {
            let fetched = match self.http.check_url(url) {
                Ok(()) => self.http.pay_params(url).await,
                Err(e) => Err(PayError::InvalidParams(e)),
            };
            let resolution = match &fetched {
                Ok(p) => Ok(HrnResolution::LNURLPay {
                    min_value: Amount::from_milli_sats(p.min_sendable_msat)
                        .map_err(|()| "minSendable is more than 21M BTC")?,
                    max_value: Amount::from_milli_sats(p.max_sendable_msat).unwrap_or(Amount::MAX),
                    expected_description_hash: sha256::Hash::hash(p.metadata.as_bytes())
                        .to_byte_array(),
                    recipient_description: Some(p.description.clone()),
                    callback: p.callback.clone(),
                }),
                Err(_) => Err("the LNURL request failed"),
            };
            *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(fetched);
            resolution
        })
    }

    fn resolve_lnurl_to_invoice<'a>(
        &'a self,
        _: String,
        _: Amount,
        _: [u8; 32],
    ) -> LNURLResolutionFuture<'a> {
        Box::pin(async { Err("boltd calls the LNURL callback itself") })
    }
}

/// The destination without a `lightning:` prefix.
fn strip_scheme(s: &str) -> &str {
    let s = s.trim();
    match s.get(..10) {
        Some(p) if p.eq_ignore_ascii_case("lightning:") => &s[10..],
        _ => s,
    }
}

/// Resolves a Lightning address, an `lnurl1…` string or a LUD-17 `lnurlp://` URL to its pay
/// parameters (one GET).
async fn resolve(http: Http, network: Network, destination: &str) -> Result<PayParams, PayError> {
    let dest = strip_scheme(destination);
    let lower = dest.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("lnurlp://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (name, _) = split_host_port(host).unwrap_or((host, None));
        let scheme = if http.allow_http && is_loopback_host(name) { "http" } else { "https" };
        let url = format!("{scheme}://{}", &dest["lnurlp://".len()..]);
        http.check_url(&url).map_err(PayError::InvalidParams)?;
        return http.pay_params(&url).await;
    }
    if dest.contains('@') && !lower.contains("lnurl1") {
        let address = LightningAddress::parse(dest).map_err(PayError::InvalidParams)?;
        let url = address.url(http.allow_http);
        http.check_url(&url).map_err(PayError::InvalidParams)?;
        return http.pay_params(&url).await;
    }
    let resolver = Resolver { http, fetched: Mutex::new(None) };
    let parsed = PaymentInstructions::parse(dest, network, &resolver, false).await;
    let fetched = resolver.fetched.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (parsed, fetched) {
        (_, Some(Err(e))) => Err(e),
        (Ok(PaymentInstructions::ConfigurableAmount(_)), Some(Ok(params))) => Ok(params),
        (Err(ParseError::InvalidLnurl(e)), _) => {
            Err(PayError::InvalidParams(format!("`{dest}`: {e}")))
        }
        (Err(e), _) => Err(PayError::InvalidParams(format!(
            "`{dest}` is not a Lightning address or LNURL ({e:?})"
        ))),
        (Ok(_), _) => Err(PayError::InvalidParams(format!(
            "`{dest}` is not a Lightning address or LNURL-pay"
        ))),
    }
}

/// The LNURL request recorded in the payment's metadata, also to recognise a replay of it under
/// the same idempotency key (each callback call yields a new invoice, so [`Engine::pay`]'s own
/// request fingerprint would differ).
fn same_request(rec: &PaymentRecord, request: &Value) -> bool {
    let Some(meta) = rec.metadata.as_deref() else { return false };
    let Ok(meta) = serde_json::from_str::<Value>(meta) else { return false };
    ["destination", "amount_msat", "comment"].iter().all(|k| meta["lnurl"][*k] == request[*k])
}

/// A hosted-name (LNURL service) error: the HTTP status and the LUD-06 reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct LnurlError {
    /// HTTP status to answer with.
    pub status: u16,
    /// Why.
    pub reason: String,
}

impl LnurlError {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }

    /// The LUD-06 error body: `{"status":"ERROR","reason":...}`.
    pub fn body(&self) -> Value {
        json!({ "status": "ERROR", "reason": self.reason })
    }
}

/// The metadata of a hosted name: `text/plain` and the LUD-16 `text/identifier`, as the exact
/// string both the pay parameters and the invoices' description hash use.
pub fn hosted_metadata(name: &str, host: &str) -> String {
    json!([
        ["text/plain", format!("Payment to {name}@{host}")],
        ["text/identifier", format!("{name}@{host}")]
    ])
    .to_string()
}

impl Engine {
    fn lnurl_http(&self) -> Http {
        let c = self.node.config();
        Http { allow_http: c.network == Network::Regtest && c.lnurl_allow_http }
    }

    /// Pays a Lightning address (`name@host`), an `lnurl1…` string or an `lnurlp://` URL:
    /// resolves it, checks `amount_msat` against the recipient's range and `comment` against
    /// `commentAllowed` (both [`PayError::InvalidParams`]), gets an invoice from the callback,
    /// checks its amount, description hash and network ([`PayError::Other`] if the service
    /// misbehaves), then pays it with [`Engine::pay`]'s defaults. The payment is recorded as a
    /// BOLT11 payment (`label`: the destination; `metadata`: `{"lnurl": {...}}`; `description`:
    /// the LNURL metadata). With `idempotency_key`, the same request (destination, amount,
    /// comment) returns the first payment without asking for another invoice; a different one
    /// is an [`PayError::IdempotencyConflict`].
    pub async fn pay_lnurl(
        &self,
        destination: &str,
        amount_msat: u64,
        comment: Option<String>,
        retry_for_secs: Option<u64>,
        ctx: PayContext,
    ) -> Result<PayResult, PayError> {
        if amount_msat == 0 {
            return Err(PayError::InvalidParams("amount must be positive".into()));
        }
        crate::amount::at_most_supply("amount_msat", amount_msat)
            .map_err(PayError::InvalidParams)?;
        // Checked before the service is asked for an invoice ([`Engine::pay`] checks it again).
        crate::pay::retry_window("retry_for_secs", retry_for_secs)?;
        let dest = strip_scheme(destination).to_string();
        let comment = comment.filter(|c| !c.is_empty());
        let request =
            json!({ "destination": dest, "amount_msat": amount_msat, "comment": comment });
        if let Some(key) = &ctx.idempotency_key {
            if let Some(done) = self.lnurl_replay(key, &request, &ctx).await? {
                return done;
            }
        }
        let network = self.node.config().network;
        let http = self.lnurl_http();
        let params = resolve(http, network, &dest).await?;
        params.check_amount(amount_msat).map_err(PayError::InvalidParams)?;
        params.check_comment(comment.as_deref()).map_err(PayError::InvalidParams)?;

        let amount = amount_msat.to_string();
        let mut query = vec![("amount", amount.as_str())];
        if let Some(c) = &comment {
            query.push(("comment", c.as_str()));
        }
        let answer = http.get(&params.callback, &query).await?;
        let pr = answer
            .get("pr")
            .and_then(Value::as_str)
            .ok_or_else(|| PayError::Other("the LNURL callback returned no invoice (`pr`)".into()))?
            .to_string();
        check_invoice(&pr, amount_msat, &params.metadata, network).map_err(PayError::Other)?;

        let mut recorded = request.clone();
        recorded["callback"] = params.callback.clone().into();
        recorded["text"] = params.description.clone().into();
        let metadata = json!({ "lnurl": recorded }).to_string();
        let req = PayRequest {
            bolt11: pr,
            label: Some(dest),
            description: Some(params.metadata),
            retry_for: retry_for_secs,
            ..Default::default()
        };
        match self.pay(req, ctx.clone(), Some(metadata)).await {
            // Two identical requests raced under one key, each with its own invoice: the first
            // one recorded is the payment.
            Err(PayError::IdempotencyConflict { payment_id }) => {
                let key = ctx.idempotency_key.clone().unwrap_or_default();
                match self.lnurl_replay(&key, &request, &ctx).await? {
                    Some(done) => done,
                    None => Err(PayError::IdempotencyConflict { payment_id }),
                }
            }
            other => other,
        }
    }

    /// The outcome of an earlier payment under `key`: the same LNURL request's result (awaited
    /// while pending), a conflict for a different request, `None` if the key is unused.
    async fn lnurl_replay(
        &self,
        key: &str,
        request: &Value,
        ctx: &PayContext,
    ) -> Result<Option<Result<PayResult, PayError>>, PayError> {
        let k = key.to_string();
        let token = ctx.token_id.clone();
        let Some(rec) = self
            .blocking(move |s| {
                s.payment_by_idempotency_key(Direction::Outgoing, &k, token.as_deref())
            })
            .await?
        else {
            return Ok(None);
        };
        if !same_request(&rec, request) {
            return Ok(Some(Err(PayError::IdempotencyConflict { payment_id: rec.id })));
        }
        let wait = crate::pay::result_window(Duration::from_secs(defaults::RETRY_FOR_SECS));
        Ok(Some(self.await_result(rec, wait).await))
    }

    /// A configured name (compared in lower case), or 404.
    fn hosted_name(&self, name: &str) -> Result<String, LnurlError> {
        let name = name.to_ascii_lowercase();
        if self.node.config().lnurl_names.contains(&name) {
            Ok(name)
        } else {
            Err(LnurlError::new(404, format!("no Lightning address `{name}` here")))
        }
    }

    /// The base URL of callbacks and the host of the addresses: from `lnurl_public_url`, or
    /// (regtest with `lnurl_allow_http`) `http://<Host header>` for a loopback host.
    fn lnurl_origin(&self, host_header: Option<&str>) -> Result<(String, String), LnurlError> {
        let c = self.node.config();
        if let Some(url) = &c.lnurl_public_url {
            let authority = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let host = authority.split('/').next().unwrap_or_default().to_ascii_lowercase();
            return Ok((url.clone(), host));
        }
        let host = host_header.unwrap_or_default().trim().to_ascii_lowercase();
        let name = split_host_port(&host).map(|(n, _)| n);
        if !self.lnurl_http().allow_http || !name.is_some_and(is_loopback_host) {
            return Err(LnurlError::new(
                400,
                "this node has no lnurl_public_url; without one it serves Lightning addresses \
                 only to loopback hosts on regtest",
            ));
        }
        Ok((format!("http://{host}"), host))
    }

    /// LUD-06's first answer for a hosted name: `callback`, `minSendable`, `maxSendable`,
    /// `metadata`, `tag` and LUD-12's `commentAllowed`. Unknown names are a 404 error.
    /// `host_header` is the request's `Host`, used only without `lnurl_public_url`.
    pub fn lnurlp_params(
        &self,
        name: &str,
        host_header: Option<&str>,
    ) -> Result<Value, LnurlError> {
        let name = self.hosted_name(name)?;
        let (base, host) = self.lnurl_origin(host_header)?;
        Ok(json!({
            "callback": format!("{base}/.well-known/lnurlp/{name}/callback"),
            "maxSendable": MAX_SENDABLE_MSAT,
            "minSendable": MIN_SENDABLE_MSAT,
            "metadata": hosted_metadata(&name, &host),
            "tag": "payRequest",
            "commentAllowed": COMMENT_ALLOWED,
        }))
    }

    /// LUD-06's callback for a hosted name: checks `amount` (msat, within the range) and
    /// `comment` (at most [`COMMENT_ALLOWED`] characters), creates an invoice for the amount
    /// whose description hash is SHA-256 of the name's metadata, and answers `{pr, routes: []}`.
    /// The comment is kept on the receive (its `payer_note`; Alby's invoices show it as
    /// `comment`).
    pub async fn lnurlp_callback(
        &self,
        name: &str,
        host_header: Option<&str>,
        amount: Option<&str>,
        comment: Option<&str>,
    ) -> Result<Value, LnurlError> {
        let name = self.hosted_name(name)?;
        let (_, host) = self.lnurl_origin(host_header)?;
        let amount_msat: u64 = amount
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| LnurlError::new(400, "`amount` (msat) is required"))?;
        if !(MIN_SENDABLE_MSAT..=MAX_SENDABLE_MSAT).contains(&amount_msat) {
            return Err(LnurlError::new(
                400,
                format!(
                    "amount {amount_msat} msat is outside {MIN_SENDABLE_MSAT} to \
                     {MAX_SENDABLE_MSAT} msat"
                ),
            ));
        }
        let comment = comment.filter(|c| !c.is_empty());
        if let Some(len) = comment.map(|c| c.chars().count()).filter(|l| *l > COMMENT_ALLOWED) {
            return Err(LnurlError::new(
                400,
                format!("the comment is {len} characters; at most {COMMENT_ALLOWED} are accepted"),
            ));
        }
        let metadata = hosted_metadata(&name, &host);
        let req = InvoiceRequest {
            amount_msat: Some(amount_msat),
            description_hash: Some(hex::encode(sha256::Hash::hash(metadata.as_bytes()))),
            payer_note: comment.map(str::to_string),
            ..Default::default()
        };
        let rec = self.create_invoice(req, PayContext::default()).await.map_err(|e| match e {
            PayError::InvalidParams(m) => LnurlError::new(400, m),
            e => {
                tracing::error!(name, "LNURL-pay invoice: {e}");
                LnurlError::new(500, "cannot create an invoice now")
            }
        })?;
        tracing::info!(
            name,
            amount_msat,
            payment_hash = hex::encode(rec.payment_hash),
            with_comment = comment.is_some(),
            "LNURL-pay invoice issued"
        );
        Ok(json!({ "pr": rec.invoice, "routes": [] }))
    }
}

#[cfg(test)]
mod tests;
