//! The checks the key declarations (`keys.rs`) apply: each takes the key's resolved value (and
//! the other keys, through [`Cx`]) and says what is wrong with it. The message follows the name
//! of the setting ("--alias: `…` is 40 bytes; at most 32 allowed").

// The checks are `fn(&O, &Cx)` for the key's type `O`, so `&Vec<String>` and `&String` it is.
#![allow(clippy::ptr_arg)]

use std::path::PathBuf;

use bitcoin::Network;

use crate::defaults::{self, MIN_FEE_RATE_SAT_PER_KWU};
use crate::rule::{Cx, Fail};
use crate::{LOG_LEVELS, MAX_ALIAS_BYTES, MAX_HTLC_FORWARD_DELAY_MS};

pub(crate) type Check<T> = Result<T, String>;

/// A path that is set must not be empty.
pub(crate) fn not_empty(path: &PathBuf, _: &Cx<'_>) -> Check<()> {
    if path.as_os_str().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(())
}

/// An interval of at least 1 ms.
pub(crate) fn at_least_1(ms: &u64, _: &Cx<'_>) -> Check<()> {
    if *ms == 0 {
        return Err("must be at least 1".into());
    }
    Ok(())
}

/// At most [`MAX_ALIAS_BYTES`] bytes of UTF-8.
pub(crate) fn alias(alias: &String, _: &Cx<'_>) -> Check<()> {
    if alias.len() > MAX_ALIAS_BYTES {
        return Err(format!(
            "`{alias}` is {} bytes; at most {MAX_ALIAS_BYTES} allowed",
            alias.len()
        ));
    }
    Ok(())
}

/// Every address is `host:port`.
pub(crate) fn announce_addrs(addrs: &Vec<String>, _: &Cx<'_>) -> Check<()> {
    if let Some(bad) = addrs.iter().find(|a| !is_host_port(a)) {
        return Err(format!(
            "`{bad}` is not host:port (e.g. 203.0.113.5:9735 or example.com:9735)"
        ));
    }
    Ok(())
}

/// Browser origins, each as browsers send it, none twice.
pub(crate) fn cors_origins(origins: &Vec<String>, _: &Cx<'_>) -> Check<()> {
    for (i, origin) in origins.iter().enumerate() {
        check_origin(origin)?;
        if origins[..i].contains(origin) {
            return Err(format!("`{origin}` is listed twice"));
        }
    }
    Ok(())
}

/// LSPs: `NODE_ID@HOST:PORT` (a compressed public key in hex), each listed once.
pub(crate) fn lsps(lsps: &Vec<String>, _: &Cx<'_>) -> Check<()> {
    for (i, lsp) in lsps.iter().enumerate() {
        parse_lsp(lsp)?;
        if lsps[..i].contains(lsp) {
            return Err(format!("`{lsp}` is listed twice"));
        }
    }
    Ok(())
}

/// An LSP's `NODE_ID@HOST:PORT`, split: the node id and the address.
pub fn parse_lsp(lsp: &str) -> Result<(bitcoin::secp256k1::PublicKey, String), String> {
    let (id, addr) =
        lsp.split_once('@').ok_or_else(|| format!("`{lsp}` is not NODE_ID@HOST:PORT"))?;
    let id = id
        .parse::<bitcoin::secp256k1::PublicKey>()
        .map_err(|_| format!("`{lsp}`: `{id}` is not a node id (66 hex characters)"))?;
    if !is_host_port(addr) {
        return Err(format!("`{lsp}`: `{addr}` is not host:port"));
    }
    Ok((id, addr.to_string()))
}

/// The LSPS2 service's payment limits are a range.
pub(crate) fn lsps2_max_payment(max: &u64, cx: &Cx<'_>) -> Check<()> {
    let min = cx
        .set()
        .lsps2_service_min_payment_msat
        .unwrap_or(defaults::DEFAULT_LSPS2_SERVICE_MIN_PAYMENT_MSAT);
    if *max < min {
        return Err(format!("{max} is below lsps2_service_min_payment_msat ({min})"));
    }
    Ok(())
}

/// Nostr relays: `wss://host[:port][/path]`, or `ws://` (plain, for a relay on this machine
/// or a private network), each listed once.
pub(crate) fn nwc_relays(relays: &Vec<String>, _: &Cx<'_>) -> Check<()> {
    for (i, relay) in relays.iter().enumerate() {
        let rest = relay
            .strip_prefix("wss://")
            .or_else(|| relay.strip_prefix("ws://"))
            .ok_or_else(|| format!("`{relay}` must start with wss:// (or ws://)"))?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || relay.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{relay}` needs a host, e.g. wss://relay.example.com"));
        }
        if relays[..i].contains(relay) {
            return Err(format!("`{relay}` is listed twice"));
        }
    }
    Ok(())
}

/// A PostgreSQL URL, and not with `backup_dir` (the continuous backup copies SQLite's state).
pub(crate) fn store_url(url: &Option<String>, cx: &Cx<'_>) -> Check<()> {
    let Some(url) = url else { return Ok(()) };
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("must be a PostgreSQL URL: postgres://user:password@host:port/dbname")?;
    if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("needs a host, e.g. postgres://boltd@127.0.0.1:5432/boltd".into());
    }
    if cx.set().backup_dir.is_some() {
        return Err("cannot be set with backup_dir: on PostgreSQL, replicate the database \
                    (see the README's \"Running on PostgreSQL with a standby\")"
            .into());
    }
    Ok(())
}

/// Between 2 s and a day.
pub(crate) fn lease_ttl(secs: &u64, _: &Cx<'_>) -> Check<()> {
    if !(2..=86_400).contains(secs) {
        return Err("must be between 2 and 86400 seconds".into());
    }
    Ok(())
}

/// At least 1 s and less than half of `lease_ttl_secs`, so one failed renewal is not yet a
/// lost lease.
pub(crate) fn lease_renew(secs: &u64, cx: &Cx<'_>) -> Check<()> {
    let ttl = cx.set().lease_ttl_secs.unwrap_or(crate::defaults::DEFAULT_LEASE_TTL_SECS);
    if *secs == 0 || secs.saturating_mul(2) >= ttl {
        return Err(format!("must be at least 1 and less than half of lease_ttl_secs ({ttl})"));
    }
    Ok(())
}

/// The URL shapes the bitcoind client accepts: `http://host:port` with an optional path.
pub(crate) fn rpc_url(url: &String, _: &Cx<'_>) -> Check<()> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` must start with http:// (TLS is not supported)"))?;
    let host_port = rest.split('/').next().unwrap_or_default();
    if !is_host_port(host_port) {
        return Err(format!("`{url}` needs a host and a port, e.g. http://127.0.0.1:18443"));
    }
    Ok(())
}

const BOTH: &str = "set both, or use a cookie file";

/// A user needs a password, and excludes a cookie file.
pub(crate) fn rpc_user(user: &Option<String>, cx: &Cx<'_>) -> Check<()> {
    let set = cx.set();
    match (user, &set.bitcoind_rpc_password, &set.bitcoind_rpc_cookie) {
        (Some(_), None, _) => Err(format!("is set but bitcoind_rpc_password is not; {BOTH}")),
        (Some(_), Some(_), Some(_)) => Err(format!(
            "user and password are set, and so is a cookie file ({}); use one or the other",
            cx.setting("bitcoind_rpc_cookie")
        )),
        _ => Ok(()),
    }
}

/// A password needs a user.
pub(crate) fn rpc_password(password: &Option<String>, cx: &Cx<'_>) -> Check<()> {
    if password.is_some() && cx.set().bitcoind_rpc_user.is_none() {
        return Err(format!("is set but bitcoind_rpc_user is not; {BOTH}"));
    }
    Ok(())
}

/// The cookie file: none with a user and password (checked by [`rpc_user`] and
/// [`rpc_password`], which come first), else the one set or bitcoind's default.
pub(crate) fn rpc_cookie(cookie: Option<PathBuf>, cx: &Cx<'_>) -> Result<Option<PathBuf>, Fail> {
    if cx.set().bitcoind_rpc_user.is_some() {
        return Ok(None);
    }
    match cookie {
        Some(path) if path.as_os_str().is_empty() => Err(Fail::Invalid("must not be empty".into())),
        Some(path) => Ok(Some(path)),
        None => defaults::bitcoind_rpc_cookie(cx).map(Some),
    }
}

/// At least LDK's minimum.
pub(crate) fn fee_rate(rate: &u32, _: &Cx<'_>) -> Check<()> {
    if *rate < MIN_FEE_RATE_SAT_PER_KWU {
        return Err(format!("{rate} is below LDK's minimum of {MIN_FEE_RATE_SAT_PER_KWU} sat/kwu"));
    }
    Ok(())
}

/// One of [`LOG_LEVELS`] (after lower-casing).
pub(crate) fn log_level(level: &String, _: &Cx<'_>) -> Check<()> {
    if !LOG_LEVELS.contains(&level.as_str()) {
        return Err(format!("unknown level `{level}`; expected one of {}", LOG_LEVELS.join(", ")));
    }
    Ok(())
}

/// The backup modes `backup_mode` accepts.
pub(crate) const BACKUP_MODES: [&str; 2] = ["fail_stop", "best_effort"];

pub(crate) fn backup_mode(mode: &String, _: &Cx<'_>) -> Check<()> {
    if !BACKUP_MODES.contains(&mode.as_str()) {
        return Err(format!("unknown mode `{mode}`; expected one of {}", BACKUP_MODES.join(", ")));
    }
    Ok(())
}

/// A backup directory that is not empty and not the data directory.
pub(crate) fn backup_dir(dir: &Option<PathBuf>, cx: &Cx<'_>) -> Check<()> {
    let Some(dir) = dir else { return Ok(()) };
    if dir.as_os_str().is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(data_dir) = &cx.set().data_dir {
        if dir == data_dir {
            return Err("must not be the data directory".into());
        }
    }
    Ok(())
}

/// Names made of `a-z0-9-_.` (LUD-16), none twice; hosted names need the public URL unless
/// `lnurl_allow_http` lets callbacks follow the `Host` header.
pub(crate) fn lnurl_names(names: &Vec<String>, cx: &Cx<'_>) -> Check<()> {
    for (i, name) in names.iter().enumerate() {
        if !is_lnurl_name(name) {
            return Err(format!(
                "`{name}` is not a Lightning-address name: use a-z, 0-9, -, _ and ."
            ));
        }
        if names[..i].contains(name) {
            return Err(format!("`{name}` is listed twice"));
        }
    }
    let set = cx.set();
    if !names.is_empty() && set.lnurl_public_url.is_none() && !set.lnurl_allow_http.unwrap_or(false)
    {
        return Err("needs lnurl_public_url, the https URL at which payers reach this API (on \
                    regtest, lnurl_allow_http builds callbacks from the request's Host header \
                    instead)"
            .into());
    }
    Ok(())
}

/// `https://host[:port][/path]`, or `http://` to a loopback host with `lnurl_allow_http`; no
/// query, fragment or user info. (Its trailing `/` is dropped before.)
pub(crate) fn lnurl_public_url(url: &Option<String>, cx: &Cx<'_>) -> Check<()> {
    match url {
        Some(url) => check_lnurl_public_url(url, cx.set().lnurl_allow_http.unwrap_or(false)),
        None => Ok(()),
    }
}

/// Only on regtest.
pub(crate) fn lnurl_allow_http(allow: &bool, cx: &Cx<'_>) -> Check<()> {
    if *allow && cx.network != Network::Regtest {
        return Err(format!("plain-http LNURL is only allowed on regtest, not {}", cx.network));
    }
    Ok(())
}

/// At most [`MAX_HTLC_FORWARD_DELAY_MS`].
pub(crate) fn htlc_forward_delay(ms: &Option<u64>, _: &Cx<'_>) -> Check<()> {
    if ms.is_some_and(|ms| ms > MAX_HTLC_FORWARD_DELAY_MS) {
        return Err(format!(
            "must be at most {MAX_HTLC_FORWARD_DELAY_MS} (HTLCs would wait too long)"
        ));
    }
    Ok(())
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

/// A browser origin as browsers send it (`scheme://host[:port]`, lower case, no path), or `*`.
fn check_origin(origin: &str) -> Check<()> {
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

fn check_lnurl_public_url(url: &str, allow_http: bool) -> Check<()> {
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
