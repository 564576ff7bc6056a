//! Notifications end to end on real nodes and a real regtest chain: webhooks (signed, retried
//! after 503s, visible attempts, delivered after a SIGKILL and restart, Alby's format with Svix
//! signatures), the long-poll and the WebSocket (tickets single-use and expiring), and the
//! event log's channel, invoice and payment events.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bitcoin_hashes::{hmac, sha256, Hash, HashEngine};
use boltd_harness::{
    free_port, fund, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A tiny webhook receiver on loopback: answers 503 while down, 200 once up.
struct Receiver {
    url: String,
    up: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (u, l) = (Arc::clone(&up), Arc::clone(&log));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (u, l) = (Arc::clone(&u), Arc::clone(&l));
                std::thread::spawn(move || serve_one(stream, &u, &l));
            }
        });
        Receiver { url, up, log }
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        self.log.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn serve_one(mut stream: std::net::TcpStream, up: &AtomicBool, log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = if up.load(Ordering::SeqCst) { 200 } else { 503 };
    log.lock().unwrap().push(Received { path, headers, body, status });
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Service Unavailable" }
    );
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut e = hmac::HmacEngine::<sha256::Hash>::new(key);
    e.input(msg);
    hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array()
}

/// Verifies boltd's `X-Boltd-Signature: t=<t>,v1=<hex>` the way the README tells receivers to.
fn verify_native(r: &Received, secret: &str) {
    let sig = &r.headers["x-boltd-signature"];
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&r.body);
    assert_eq!(hex::encode(hmac_sha256(secret.as_bytes(), &signed)), v1, "bad signature on {r:?}");
    let wrong = hmac_sha256(b"whsec_wrong", &signed);
    assert_ne!(hex::encode(wrong), v1);
}

/// Verifies Svix's `svix-signature: v1,<base64>` over `id.timestamp.body`.
fn verify_svix(r: &Received, secret: &str) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed =
        format!("{}.{}.", r.headers["svix-id"], r.headers["svix-timestamp"]).into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &signed));
    assert_eq!(r.headers["svix-signature"], format!("v1,{expected}"), "bad Svix signature");
}

fn deliveries(n: &TestNode, id: &Value) -> Vec<Value> {
    n.get(&format!("/api/v1/webhooks/{id}/deliveries")).unwrap().as_array().unwrap().clone()
}

fn statuses(d: &Value) -> Vec<u64> {
    d["attempt_log"].as_array().unwrap().iter().map(|a| a["status"].as_u64().unwrap_or(0)).collect()
}

#[test]
fn webhooks_are_signed_retried_and_delivered_after_a_restart() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b_port = free_port()?;
    let mut b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;

    let rx = Receiver::start();
    // Bad input is refused before anything is stored.
    let err = a.post("/api/v1/webhooks", json!({ "url": "ftp://x/y" })).unwrap_err();
    assert_eq!((err.status, err.body["code"].as_str()), (400, Some("invalid_input")), "{err}");
    let err = a
        .post("/api/v1/webhooks", json!({ "url": rx.url, "event_types": ["payment.sent"] }))
        .unwrap_err();
    assert!(err.body["message"].as_str().unwrap().contains("payment.sent"), "{err}");
    let err = b
        .post("/webhook_endpoints", json!({ "url": rx.url, "filter_types": ["invoice.nope"] }))
        .unwrap_err();
    assert_eq!((err.status, &err.body["error"], &err.body["code"]), (400, &json!(true), &json!(8)));
    assert_eq!(a.get("/api/v1/webhooks").unwrap(), json!([]));

    // A: native, outgoing payments only. B: native, everything; and Alby's incoming settled.
    let a_hook = a
        .post(
            "/api/v1/webhooks",
            json!({ "url": format!("{}/a", rx.url), "description": "alice",
                    "event_types": ["payment_sent", "payment_failed"] }),
        )
        .unwrap();
    let a_secret = a_hook["secret"].as_str().unwrap().to_string();
    assert!(a_secret.starts_with("whsec_"), "{a_hook}");
    assert_eq!(a_hook["event_types"], json!(["payment_sent", "payment_failed"]));
    let b_hook = b.post("/api/v1/webhooks", json!({ "url": format!("{}/b", rx.url) })).unwrap();
    let b_secret = b_hook["secret"].as_str().unwrap().to_string();
    let alby = b
        .post(
            "/webhook_endpoints",
            json!({ "url": format!("{}/alby", rx.url), "description": "shop",
                    "filter_types": ["invoice.incoming.settled"] }),
        )
        .unwrap();
    let alby_secret = alby["endpoint_secret"].as_str().unwrap().to_string();
    assert!(alby_secret.starts_with("whsec_"), "{alby}");
    assert!(alby["id"].is_string(), "{alby}");
    assert_eq!(alby["filter_types"], json!(["invoice.incoming.settled"]));
    assert_eq!(alby["description"], "shop");
    assert!(alby["created_at"].as_str().unwrap().ends_with('Z'), "{alby}");
    // The secret is shown once: listings never carry it.
    let listed = a.get("/api/v1/webhooks").unwrap();
    assert_eq!(listed[0]["id"], a_hook["id"]);
    assert!(!listed.to_string().contains(&a_secret), "{listed}");
    let got = b.get(&format!("/webhook_endpoints/{}", alby["id"].as_str().unwrap())).unwrap();
    assert!(got.get("endpoint_secret").is_none() && !got.to_string().contains(&alby_secret));

    // An Alby endpoint created and deleted through the Alby route gets nothing.
    let gone = b
        .post(
            "/webhook_endpoints",
            json!({ "url": format!("{}/gone", rx.url), "filter_types": ["invoice.incoming.settled"] }),
        )
        .unwrap();
    let gone_id = gone["id"].as_str().unwrap();
    let deleted = b.delete(&format!("/webhook_endpoints/{gone_id}")).unwrap();
    assert_eq!(deleted["id"], gone["id"]);
    assert!(deleted.get("endpoint_secret").is_none());
    let err = b.delete(&format!("/webhook_endpoints/{gone_id}")).unwrap_err();
    assert_eq!((err.status, &err.body["error"]), (404, &json!(true)), "{err}");
    // A native endpoint is not an Alby one.
    let err = b.delete(&format!("/webhook_endpoints/{}", b_hook["id"])).unwrap_err();
    assert_eq!(err.status, 404, "{err}");

    // A pays B while every endpoint answers 503.
    let (invoice, hash) = b.invoice(5_000, "webhooks")?;
    let paid = a.pay(&invoice)?;
    assert_eq!(paid["status"], "complete", "{paid}");
    wait_until("a 503 at each endpoint", WAIT, POLL, || {
        Ok(["/a", "/b", "/alby"].iter().all(|p| !rx.requests(p).is_empty()).then_some(()))
    })?;
    // The 503s are visible in the deliveries API, still pending.
    let a_d = wait_until("A's first attempt to be recorded", WAIT, POLL, || {
        let d = deliveries(&a, &a_hook["id"]);
        Ok((d.len() == 1 && d[0]["attempts"].as_u64() >= Some(1)).then_some(d))
    })?;
    assert_eq!(a_d[0]["state"], "pending", "{a_d:?}");
    assert_eq!(a_d[0]["event_type"], "payment_sent");
    assert_eq!(a_d[0]["last_status"], 503);
    assert_eq!(statuses(&a_d[0])[0], 503);
    let b_d = wait_until("B's first attempts to be recorded", WAIT, POLL, || {
        let d = deliveries(&b, &b_hook["id"]);
        Ok((d.len() == 1 && d[0]["attempts"].as_u64() >= Some(1)).then_some(d))
    })?;
    assert_eq!(
        (b_d[0]["state"].as_str(), b_d[0]["event_type"].as_str()),
        (Some("pending"), Some("payment_received"))
    );
    assert_eq!(b_d[0]["last_status"], 503);

    // SIGKILL B with its deliveries pending; the endpoints come back up meanwhile.
    b.kill()?;
    rx.up.store(true, Ordering::SeqCst);

    // A's retry succeeds: 503 then 200 in its attempt log.
    let a_done = wait_until("A's delivery to succeed", WAIT, POLL, || {
        let d = deliveries(&a, &a_hook["id"]);
        Ok((d[0]["state"] == "delivered").then_some(d))
    })?;
    let s = statuses(&a_done[0]);
    assert!(s.len() >= 2 && s[..s.len() - 1].iter().all(|&x| x == 503), "{s:?}");
    assert_eq!(*s.last().unwrap(), 200);
    let ok: Vec<Received> = rx.requests("/a").into_iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{ok:?}");
    verify_native(&ok[0], &a_secret);
    let body = ok[0].json();
    assert_eq!(body["event_type"], "payment_sent");
    assert_eq!(body["type"], "movement-updated", "barkd's WalletNotification type");
    assert_eq!(body["payment_hash"], hash.as_str());
    assert_eq!(body["payment"]["status"], "complete");
    assert_eq!(body["payment"]["preimage"], paid["preimage"]);
    assert_eq!(ok[0].headers["x-boltd-event-seq"], body["seq"].to_string());
    assert_eq!(ok[0].headers["x-boltd-event-type"], "payment_sent");

    // B restarts on the same data directory and delivers what was pending.
    let b = TestNode::spawn("bob", &exe, &dir.path().join("b"), &chain, b_port)?;
    let (native, alby_req) = wait_until("B's deliveries after the restart", WAIT, POLL, || {
        let n: Vec<_> = rx.requests("/b").into_iter().filter(|r| r.status == 200).collect();
        let a: Vec<_> = rx.requests("/alby").into_iter().filter(|r| r.status == 200).collect();
        Ok((!n.is_empty() && !a.is_empty()).then_some((n, a)))
    })?;
    assert_eq!(native.len(), 1, "{native:?}");
    verify_native(&native[0], &b_secret);
    let body = native[0].json();
    assert_eq!(body["event_type"], "payment_received");
    assert_eq!(body["type"], "movement-created", "barkd's WalletNotification type");
    assert_eq!(body["payment_hash"], hash.as_str());
    assert_eq!(body["payment"]["amount_msat"], 5_000_000);
    assert_eq!(body["movement"]["status"], "successful");
    assert_eq!(body["movement"]["effective_balance_sat"], 5_000);

    assert_eq!(alby_req.len(), 1, "{alby_req:?}");
    verify_svix(&alby_req[0], &alby_secret);
    let inv = alby_req[0].json();
    assert_eq!(inv["type"], "incoming");
    assert_eq!(inv["settled"], true);
    assert_eq!(inv["state"], "SETTLED");
    assert_eq!(inv["amount"], 5_000);
    assert_eq!(inv["payment_hash"], hash.as_str());
    assert_eq!(inv["payment_request"], invoice.as_str());
    assert_eq!(inv["memo"], "webhooks");
    assert_eq!(alby_req[0].headers["svix-id"], format!("msg_{}", body["seq"]));
    // One rendering of Alby's invoice: the body is what B's `GET /invoices/{payment_hash}`
    // answers for the same payment, member for member.
    let shown = b.get(&format!("/invoices/{hash}")).unwrap();
    assert_eq!(inv, shown, "the webhook body and GET /invoices/{{hash}} differ");
    assert_eq!((&inv["fiat_currency"], &inv["fiat_in_cents"]), (&json!(""), &json!(0)));
    // Nothing went to the deleted endpoint.
    assert!(rx.requests("/gone").is_empty());

    // B's deliveries API shows the 503s from before the crash and the 200 after.
    let b_done = wait_until("B's delivery to be recorded", WAIT, POLL, || {
        let d = deliveries(&b, &b_hook["id"]);
        Ok((d[0]["state"] == "delivered").then_some(d))
    })?;
    let s = statuses(&b_done[0]);
    assert!(s.len() >= 2 && s.contains(&503) && *s.last().unwrap() == 200, "{s:?}");
    // The restart replayed nothing into the log: one payment_received for the payment.
    let log = b.get("/api/v1/notifications/wait?since=0&timeout_secs=0").unwrap();
    let received: Vec<_> = log["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["event_type"] == "payment_received")
        .collect();
    assert_eq!(received.len(), 1, "{log}");
    Ok(())
}

fn ticket(n: &TestNode) -> String {
    ureq::get(&format!("{}/api/v1/notifications/ws/ticket", n.api_url))
        .set("Authorization", &format!("Bearer {}", n.admin_token()))
        .call()
        .unwrap()
        .into_json::<String>()
        .expect("the ticket is a JSON string, as barkd answers it")
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn ws_connect(n: &TestNode, query: &str) -> Result<Ws, u16> {
    let url = format!("{}/api/v1/notifications/ws?{query}", n.api_url.replace("http://", "ws://"));
    match tungstenite::connect(url) {
        Ok((ws, _)) => {
            if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
                s.set_read_timeout(Some(WAIT)).unwrap();
            }
            Ok(ws)
        }
        Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("WebSocket connect failed: {e}"),
    }
}

/// The next notification on the socket (pings are skipped).
fn next_notification(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a notification") {
            tungstenite::Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

fn types(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event_type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn long_poll_and_websocket_follow_the_event_log() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;

    // The channel's events are in B's log, in order.
    // barkd's clients get the payment events only (barkd has no notification for the others).
    let barkd = b.get("/api/v1/notifications/wait?since=0&timeout_secs=0").unwrap();
    assert_eq!(barkd["notifications"], json!([]), "{barkd}");
    let all = b.get("/api/v1/notifications/wait?since=0&timeout_secs=0&types=all").unwrap();
    assert_eq!(types(&all), ["channel_pending", "channel_ready"], "{all}");
    let n = &all["notifications"];
    assert_eq!(n[0]["channel"]["counterparty_node_id"], a.node_id.as_str());
    assert_eq!(n[1]["channel"]["capacity_sat"], 1_000_000);
    assert!(n[0]["seq"].as_u64() < n[1]["seq"].as_u64());
    let cursor = all["cursor"].as_u64().unwrap();
    assert_eq!(cursor, n[1]["seq"].as_u64().unwrap());

    // Bad parameters: 400 naming the problem.
    for (q, word) in [
        ("since=yesterday", "since"),
        ("types=nope", "nope"),
        ("timeout_secs=1000", "timeout_secs"),
    ] {
        let err = b.get(&format!("/api/v1/notifications/wait?{q}")).unwrap_err();
        assert_eq!(err.status, 400, "{q}: {err}");
        assert!(err.body["message"].as_str().unwrap().contains(word), "{q}: {err}");
    }

    // A waiter on the newest cursor blocks until the payment lands, then gets it.
    let url =
        format!("{}/api/v1/notifications/wait?since={cursor}&timeout_secs=60&types=all", b.api_url);
    let auth = format!("Bearer {}", b.admin_token());
    let waiter = std::thread::spawn(move || {
        ureq::get(&url).set("Authorization", &auth).call().unwrap().into_json::<Value>().unwrap()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(!waiter.is_finished(), "the long-poll returned before any event");
    let (invoice, hash) = b.invoice(2_000, "long-poll")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");
    let got = waiter.join().unwrap();
    assert_eq!(types(&got), ["payment_received"], "{got}");
    let received = &got["notifications"][0];
    assert_eq!(received["payment_hash"], hash.as_str());
    assert_eq!(received["payment"]["amount_msat"], 2_000_000);
    assert_eq!(received["movement"]["status"], "successful");
    assert!(got["cursor"].as_u64().unwrap() > cursor);
    assert_eq!(got["last_pushed_at"], received["created_at"]);

    // A `since` older than the newest returns at once with everything after it, in order.
    let again = b.get("/api/v1/notifications/wait?since=0&timeout_secs=60&types=all").unwrap();
    assert_eq!(types(&again), ["channel_pending", "channel_ready", "payment_received"]);
    let barkd = b.get("/api/v1/notifications/wait?since=0&timeout_secs=60").unwrap();
    assert_eq!(types(&barkd), ["payment_received"]);
    assert_eq!(barkd["notifications"][0]["type"], "movement-created", "{barkd}");
    let after = b.get(&format!("/api/v1/notifications/wait?since={cursor}")).unwrap();
    assert_eq!(types(&after), ["payment_received"]);
    // By type, and by time (barkd's since).
    let only = b.get("/api/v1/notifications/wait?since=0&types=payment_received").unwrap();
    assert_eq!(types(&only), ["payment_received"]);
    let future = "2999-01-01T00:00:00Z";
    let none = b.get(&format!("/api/v1/notifications/wait?since={future}&timeout_secs=1")).unwrap();
    assert_eq!(none["notifications"], json!([]));
    assert_eq!(none["last_pushed_at"], future);
    let past = b.get("/api/v1/notifications/wait?since=2000-01-01T00:00:00Z&types=all").unwrap();
    assert_eq!(types(&past).len(), 3, "{past}");

    // Invoice events: canceled (hold invoice), expired (the sweep), and the payer's failure.
    let cursor = got["cursor"].as_u64().unwrap();
    let preimage = [7u8; 32];
    let hold_hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let hold = b
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 1_000, "payment_hash": hold_hash }),
        )
        .unwrap();
    b.delete(&format!("/api/v1/lightning/receives/{hold_hash}")).unwrap();
    let short = b
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 1_000, "expiry_secs": 1 }),
        )
        .unwrap();
    let page = b
        .get(&format!(
            "/api/v1/notifications/wait?since={cursor}&types=invoice_canceled,invoice_expired&timeout_secs=60"
        ))
        .unwrap();
    assert_eq!(types(&page)[0], "invoice_canceled", "{page}");
    assert_eq!(page["notifications"][0]["payment_hash"], hold_hash.as_str());
    assert_eq!(page["notifications"][0]["receive"]["state"], "canceled");
    let expired = wait_until("the short invoice to expire", WAIT, POLL, || {
        let p = b
            .get(&format!(
                "/api/v1/notifications/wait?since={cursor}&types=invoice_expired&timeout_secs=5"
            ))
            .unwrap();
        Ok((!p["notifications"].as_array().unwrap().is_empty()).then_some(p))
    })?;
    assert_eq!(expired["notifications"][0]["payment_hash"], short["payment_hash"]);
    assert!(!expired.to_string().contains("\"preimage\""), "{expired}");
    // Paying the canceled invoice fails at B: A records payment_failed.
    let a_cursor = a.get("/api/v1/notifications/wait?since=0&timeout_secs=0").unwrap()["cursor"]
        .as_u64()
        .unwrap();
    assert!(a.pay(hold["invoice"].as_str().unwrap()).is_err());
    let failed = a
        .get(&format!(
            "/api/v1/notifications/wait?since={a_cursor}&types=payment_failed&timeout_secs=60"
        ))
        .unwrap();
    assert_eq!(failed["notifications"][0]["payment_hash"], hold_hash.as_str(), "{failed}");
    assert_eq!(failed["notifications"][0]["payment"]["status"], "failed");

    // WebSocket: a ticket opens it; the payment's event arrives.
    let t = ticket(&a);
    assert_eq!(t.len(), 64, "{t}");
    let mut ws = ws_connect(&a, &format!("ticket={t}")).expect("the ticket opens the socket");
    let (invoice, hash) = b.invoice(3_000, "websocket")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");
    let sent = next_notification(&mut ws);
    assert_eq!(sent["event_type"], "payment_sent", "{sent}");
    assert_eq!(sent["type"], "movement-updated", "{sent}");
    assert_eq!(sent["payment_hash"], hash.as_str());
    assert_eq!(sent["movement"]["status"], "successful");
    // The same ticket again: refused.
    assert_eq!(ws_connect(&a, &format!("ticket={t}")).err(), Some(401));
    // No ticket, an unknown one: refused.
    assert_eq!(ws_connect(&a, "").err(), Some(401));
    assert_eq!(ws_connect(&a, &format!("ticket={}", "0".repeat(64))).err(), Some(401));
    // An expired ticket: refused.
    a.engine().unwrap().set_ws_ticket_ttl(Duration::from_secs(1));
    let old = ticket(&a);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ws_connect(&a, &format!("ticket={old}")).err(), Some(401));
    // With `since`, the socket replays the log first, in order, then goes on live.
    a.engine().unwrap().set_ws_ticket_ttl(Duration::from_secs(60));
    let mut replay = ws_connect(&a, &format!("ticket={}&since=0&types=all", ticket(&a))).unwrap();
    let mut seen = Vec::new();
    while seen.last() != Some(&sent["seq"]) {
        seen.push(next_notification(&mut replay)["seq"].clone());
    }
    assert!(seen.windows(2).all(|w| w[0].as_u64() < w[1].as_u64()), "{seen:?}");
    assert!(seen.len() >= 4, "channel, failed and sent events: {seen:?}");
    let _ = ws.close(None);
    let _ = replay.close(None);
    Ok(())
}
