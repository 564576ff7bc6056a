//! Outbound HTTP to places clients name (LNURL services and their callbacks, webhook
//! endpoints), guarded against server-side request forgery: a token must not make the daemon
//! reach what only the machine can reach.
//!
//! - **Public addresses only**: the host is resolved first (an IP literal as it is) and every
//!   address it resolves to is checked: loopback, private (RFC 1918, IPv6 unique local),
//!   link-local (169.254.0.0/16 with cloud metadata services, fe80::/10), shared (CGNAT),
//!   unspecified, multicast, broadcast, documentation, benchmarking and reserved ranges are
//!   refused, IPv4 embedded in IPv6 (mapped, NAT64, 6to4) by the IPv4 rules. One bad address
//!   refuses the host. Loopback is allowed only with [`Egress::allow_loopback`] (regtest
//!   opt-ins, for tests and the playground); the rest never.
//! - **Connect only to the vetted addresses**: the request's client is built with the host
//!   pinned to exactly those addresses (`resolve_to_addrs`), so a DNS answer that changes
//!   between the check and the connection (DNS rebinding) cannot take the request elsewhere.
//!   No proxy from the environment, no redirects (a redirect could name another host).
//! - **Limits**: the whole exchange (resolution, connection, request, answer) within the given
//!   time; the answer's body read up to a size, then abandoned.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// Where outbound requests may go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Egress {
    /// Loopback addresses too (regtest opt-ins only).
    pub(crate) allow_loopback: bool,
    /// Says how loopback could be allowed, for the refusal's message.
    pub(crate) loopback_hint: &'static str,
}

/// Why an outbound request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EgressError {
    /// The target is not allowed (the client's fault: a 4xx).
    Refused(String),
    /// The target could not be reached or answered badly.
    Failed(String),
}

impl std::fmt::Display for EgressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EgressError::Refused(m) | EgressError::Failed(m) => f.write_str(m),
        }
    }
}

/// An answer: status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) body: Vec<u8>,
}

/// Why an address is refused (`None`: a public address).
fn refused_kind(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => refused_v6(v6, allow_loopback),
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => {
            if allow_loopback {
                return None;
            }
            "loopback"
        }
        _ if a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if a == 100 && (64..128).contains(&b) => "shared (100.64.0.0/10)",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignment (192.0.0.0/24)",
        _ if ip.is_documentation() => "documentation",
        _ if a == 198 && (b == 18 || b == 19) => "benchmarking (198.18.0.0/15)",
        _ if ip.is_multicast() => "multicast",
        _ if a >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4, allow_loopback);
    }
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    Some(match () {
        _ if ip.is_loopback() => {
            if allow_loopback {
                return None;
            }
            "loopback"
        }
        _ if ip.is_unspecified() => "unspecified",
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: its rules apply.
        _ if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] => {
            return refused_v4(embedded(s[6], s[7]), false);
        }
        _ if s[0] == 0x2002 => return refused_v4(embedded(s[1], s[2]), false),
        // The deprecated IPv4-compatible form (::a.b.c.d).
        _ if s[..6] == [0; 6] => "IPv4-compatible (::/96)",
        _ if (s[0] & 0xfe00) == 0xfc00 => "private (unique local, fc00::/7)",
        _ if (s[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if (s[0] & 0xffc0) == 0xfec0 => "site-local",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "documentation",
        _ if s[0] == 0x0100 && s[1..4] == [0; 3] => "discard-only (100::/64)",
        _ if ip.is_multicast() => "multicast",
        _ => return None,
    })
}

impl Egress {
    fn check(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        match refused_kind(ip, self.allow_loopback) {
            None => Ok(()),
            Some(kind) => {
                let hint = if kind == "loopback" { self.loopback_hint } else { "" };
                let what = if host.trim_matches(['[', ']']) == ip.to_string() {
                    format!("{ip} is a {kind} address")
                } else {
                    format!("{host} resolves to {ip}, a {kind} address")
                };
                Err(EgressError::Refused(format!(
                    "{what}: boltd only reaches public addresses{hint}"
                )))
            }
        }
    }

    /// Checks what can be checked without DNS (an IP literal, `localhost`): for refusing a
    /// target when it is registered. The addresses a name resolves to are checked at each
    /// request.
    pub(crate) fn check_literal(&self, url: &Url) -> Result<(), EgressError> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) if is_localhost(d) => {
                self.check(d, IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(EgressError::Refused(format!("`{url}` has no host"))),
        }
    }

    /// Resolves the URL's host and checks every address: the addresses to connect to.
    async fn vet(
        &self,
        url: &Url,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<SocketAddr>, EgressError> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EgressError::Refused(format!("`{url}` has no port")))?;
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                self.check(&ip.to_string(), IpAddr::V4(ip))?;
                return Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]);
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check(&ip.to_string(), IpAddr::V6(ip))?;
                return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]);
            }
            Some(url::Host::Domain(d)) => d.to_string(),
            None => return Err(EgressError::Refused(format!("`{url}` has no host"))),
        };
        let lookup = tokio::net::lookup_host((host.as_str(), port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Err(EgressError::Failed(format!("cannot resolve {host}: {e}"))),
            Err(_) => return Err(EgressError::Failed(format!("resolving {host} timed out"))),
        };
        if addrs.is_empty() {
            return Err(EgressError::Failed(format!("{host} has no address")));
        }
        for a in &addrs {
            self.check(&host, a.ip())?;
        }
        Ok(addrs)
    }

    /// Sends `method url` (with `headers` and `body`) to a vetted address, within `timeout`,
    /// and reads at most `max_bytes` of the answer. A redirect is an answer like any other
    /// (3xx): it is not followed.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Answer, EgressError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let parsed = Url::parse(url)
            .map_err(|e| EgressError::Refused(format!("`{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EgressError::Refused(format!("`{url}`: only http and https")));
        }
        let addrs = self.vet(&parsed, deadline).await?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if let Some(url::Host::Domain(d)) = parsed.host() {
            // The connection goes to these addresses and no others (no second resolution).
            builder = builder.resolve_to_addrs(d, &addrs);
        }
        let client = builder
            .build()
            .map_err(|e| EgressError::Failed(format!("cannot make an HTTP client: {e}")))?;
        let mut req = client.request(method, parsed);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let exchange = async {
            let mut res = req.send().await.map_err(|e| EgressError::Failed(describe(&e)))?;
            let status = res.status();
            let mut body = Vec::new();
            while let Some(chunk) =
                res.chunk().await.map_err(|e| EgressError::Failed(describe(&e)))?
            {
                if body.len() + chunk.len() > max_bytes {
                    return Err(EgressError::Failed(format!(
                        "the answer is larger than {max_bytes} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_string(),
                body,
            })
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(r) => r,
            Err(_) => Err(EgressError::Failed(format!("no answer within {} s", timeout.as_secs()))),
        }
    }
}

/// `localhost` or a name under it (RFC 6761: always loopback).
fn is_localhost(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// A request error with its causes (reqwest's own message says little).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str, loopback: bool) -> Option<&'static str> {
        refused_kind(ip.parse().unwrap(), loopback)
    }

    #[test]
    fn only_public_addresses_pass() {
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "2a00:1450::1", "100.128.0.1"] {
            assert_eq!(kind(public, false), None, "{public}");
        }
        for (ip, what) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("::ffff:192.168.1.1", "private"),
            ("64:ff9b::10.0.0.1", "private"),
            ("2002:c0a8:0101::1", "private"),
            ("fd00::1", "private (unique local, fc00::/7)"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("100.64.0.1", "shared (100.64.0.0/10)"),
            ("0.0.0.0", "unspecified (0.0.0.0/8)"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved (240.0.0.0/4)"),
            ("192.0.2.1", "documentation"),
            ("2001:db8::1", "documentation"),
            ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
            ("::7f00:1", "IPv4-compatible (::/96)"),
        ] {
            assert_eq!(kind(ip, false), Some(what), "{ip}");
        }
        // The opt-in lets loopback through, nothing else.
        assert_eq!(kind("127.0.0.1", true), None);
        assert_eq!(kind("::1", true), None);
        assert_eq!(kind("::ffff:127.0.0.1", true), None);
        assert_eq!(kind("10.0.0.1", true), Some("private"));
        assert_eq!(kind("169.254.169.254", true), Some("link-local"));
    }

    #[tokio::test]
    async fn refusals_name_the_problem_before_any_connection() {
        let strict = Egress { allow_loopback: false, loopback_hint: " (regtest opt-in)" };
        let send = |url: &'static str| async move {
            strict.send(reqwest::Method::GET, url, &[], None, Duration::from_secs(5), 1024).await
        };
        let e = send("https://127.0.0.1:1/x").await.unwrap_err();
        assert!(
            matches!(&e, EgressError::Refused(m) if m.contains("127.0.0.1 is a loopback address") && m.contains("regtest opt-in")),
            "{e}"
        );
        let e = send("http://[fe80::1]/x").await.unwrap_err();
        assert!(matches!(&e, EgressError::Refused(m) if m.contains("link-local")), "{e}");
        let e = send("https://localhost:1/x").await.unwrap_err();
        assert!(
            matches!(&e, EgressError::Refused(m) if m.contains("localhost resolves to")),
            "{e}"
        );
        let e = send("ftp://1.1.1.1/x").await.unwrap_err();
        assert!(matches!(e, EgressError::Refused(_)));
        let url = Url::parse("http://192.168.0.10/hook").unwrap();
        assert!(matches!(strict.check_literal(&url), Err(EgressError::Refused(_))));
        let url = Url::parse("https://example.com/hook").unwrap();
        assert_eq!(strict.check_literal(&url), Ok(()), "names are checked when resolved");
    }

    /// A loopback server (with the opt-in): the answer is read up to the limit, a redirect is
    /// returned as such, and a slow answer times out.
    #[tokio::test]
    async fn limits_apply_and_redirects_are_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let answer = if req.starts_with("GET /big") {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n{}",
                            "x".repeat(5000)
                        )
                    } else if req.starts_with("GET /redirect") {
                        "HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/\r\ncontent-length: 0\r\n\r\n".into()
                    } else if req.starts_with("GET /slow") {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    } else {
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".into()
                    };
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        let local = Egress { allow_loopback: true, loopback_hint: "" };
        let get = |path: &str, secs: u64| {
            let url = format!("http://localhost:{}{path}", addr.port());
            async move {
                local
                    .send(reqwest::Method::GET, &url, &[], None, Duration::from_secs(secs), 1024)
                    .await
            }
        };
        let ok = get("/ok", 5).await.unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, b"{}".as_slice()));
        let e = get("/big", 5).await.unwrap_err();
        assert!(e.to_string().contains("larger than 1024 bytes"), "{e}");
        assert_eq!(get("/redirect", 5).await.unwrap().status, 302);
        let e = get("/slow", 1).await.unwrap_err();
        assert!(matches!(e, EgressError::Failed(_)), "{e}");
    }
}
