//! Per-token isolation on real nodes: an app's idempotency keys are its own, it cancels only
//! its own receives and patches only its own payments' metadata (admins: all), and a long-poll
//! or WebSocket ends within a short bounded time once its token is revoked.

use std::time::{Duration, Instant};

use boltd_harness::{free_port, ApiFailure, Bitcoind, ChainAccess, HarnessError, TestNode};
use serde_json::{json, Value};

fn refused(r: Result<Value, ApiFailure>) -> ApiFailure {
    match r {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(e) => e,
    }
}

fn token_id(token: &str) -> &str {
    token.split('_').nth(1).unwrap()
}

#[test]
fn tokens_see_their_own_records_and_streams_end_on_revocation() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let app = |name: &str| {
        a.create_token(json!({ "name": name,
            "scopes": ["payments:send", "invoices:create", "invoices:read", "transactions:read"] }))
    };
    let (one, two) = (app("one")?, app("two")?);
    let (c1, c2) = (a.client(Some(&one)), a.client(Some(&two)));
    let admin = a.client(Some(a.admin_token()));

    // Receives: only the token that created one (or an admin) cancels it.
    let invoice = |c: &boltd_harness::ApiClient| {
        c.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 1000 })).unwrap()
    };
    let mine = invoice(&c1);
    let path = format!("/api/v1/lightning/receives/{}", mine["payment_hash"].as_str().unwrap());
    let e = refused(c2.delete(&path));
    assert_eq!((e.status, e.body["code"].as_str()), (404, Some("not_found")), "{}", e.body);
    assert!(e.body["message"].as_str().unwrap().contains("this token"), "{}", e.body);
    assert_eq!(c1.get(&path).unwrap()["state"], "created", "untouched");
    assert_eq!(c1.delete(&path).unwrap()["state"], "canceled");
    let theirs = invoice(&c2);
    let path = format!("/api/v1/lightning/receives/{}", theirs["payment_hash"].as_str().unwrap());
    assert_eq!(admin.delete(&path).unwrap()["state"], "canceled", "admins cancel any");

    // A receive's idempotency key is per token too: the same key from another app is another
    // invoice; from the same app, the same invoice again (or a conflict for another request).
    let keyed = |c: &boltd_harness::ApiClient, amount_sat: u64| {
        let body = json!({ "amount_sat": amount_sat });
        c.post_with_key("/api/v1/lightning/receives/invoice", body, "invoice-1")
    };
    let (a1, b1) = (keyed(&c1, 1000).unwrap(), keyed(&c2, 1000).unwrap());
    assert_ne!(a1["payment_hash"], b1["payment_hash"], "two invoices: {a1} {b1}");
    assert_eq!(keyed(&c1, 1000).unwrap()["payment_hash"], a1["payment_hash"], "replayed");
    let e = refused(keyed(&c2, 2000));
    assert_eq!(e.body["code"], "idempotency_conflict", "the same token's key: {}", e.body);

    // Idempotency keys are per token: the same key from another app is its own payment, not a
    // conflict with (nor a replay of) the first app's. A has no channel: each payment is
    // recorded, then fails for want of balance.
    let bob_invoice = || {
        b.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 1000 })).unwrap()
            ["invoice"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pay = |c: &boltd_harness::ApiClient, inv: &str| {
        let body = json!({ "destination": inv, "wait_secs": 10 });
        c.post_with_key("/api/v1/lightning/pay", body, "order-1")
    };
    let (inv1, inv2) = (bob_invoice(), bob_invoice());
    let first = refused(pay(&c1, &inv1));
    assert_ne!(first.body["code"], "idempotency_conflict", "{}", first.body);
    let e = refused(pay(&c2, &inv2));
    assert_ne!(e.body["code"], "idempotency_conflict", "another token's key: {}", e.body);
    let e = refused(pay(&c1, &inv2));
    assert_eq!(e.body["code"], "idempotency_conflict", "the same token's key: {}", e.body);
    let hash_of = |inv: &str| {
        b.get(&format!("/api/v1/lightning/receives/{inv}")).unwrap()["payment_hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let rec1 = c1.get(&format!("/api/v1/lightning/sends/{}", hash_of(&inv1))).unwrap();
    let rec2 = c2.get(&format!("/api/v1/lightning/sends/{}", hash_of(&inv2))).unwrap();
    assert_ne!(rec1["id"], rec2["id"], "two payments: {rec1} {rec2}");

    // Metadata: only the token's own payments (admins: all).
    let meta = |id: &Value| format!("/api/v1/history/{id}/metadata");
    let e = refused(c2.post(&meta(&rec1["id"]), json!({ "note": "mine now" })));
    assert_eq!(e.status, 404, "{}", e.body);
    assert!(e.body["message"].as_str().unwrap().contains("this token"), "{}", e.body);
    assert_eq!(
        c1.post(&meta(&rec1["id"]), json!({ "note": "one" })).unwrap()["metadata"]["note"],
        "one"
    );
    assert_eq!(
        admin.post(&meta(&rec2["id"]), json!({ "by": "admin" })).unwrap()["metadata"]["by"],
        "admin"
    );

    // A long-poll ends, refused, about a second after its token is revoked.
    let reader = a.create_token(json!({ "name": "reader", "scopes": ["transactions:read"] }))?;
    let r = a.client(Some(&reader));
    let since = admin.get("/api/v1/notifications/wait?timeout_secs=0").unwrap()["cursor"].clone();
    let poll = std::thread::spawn(move || {
        let started = Instant::now();
        let res = r.get(&format!("/api/v1/notifications/wait?since={since}&timeout_secs=60"));
        (started.elapsed(), res)
    });
    std::thread::sleep(Duration::from_millis(500));
    admin.delete(&format!("/api/v1/tokens/{}", token_id(&reader))).unwrap();
    let (took, res) = poll.join().unwrap();
    let e = refused(res);
    assert_eq!(e.status, 401, "{}", e.body);
    assert!(took < Duration::from_secs(5), "the long-poll lasted {took:?} after the revocation");

    // A WebSocket is closed about a second after its token is revoked.
    let watcher = a.create_token(json!({ "name": "watcher", "scopes": ["transactions:read"] }))?;
    let ticket = ureq::get(&format!("{}/api/v1/notifications/ws/ticket", a.api_url))
        .set("Authorization", &format!("Bearer {watcher}"))
        .call()
        .unwrap()
        .into_json::<String>()
        .expect("the ticket is a JSON string");
    let url =
        format!("{}/api/v1/notifications/ws?ticket={ticket}", a.api_url.replace("http", "ws"));
    let (mut ws, _) = tungstenite::connect(url).expect("the ticket opens the socket");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    admin.delete(&format!("/api/v1/tokens/{}", token_id(&watcher))).unwrap();
    let revoked = Instant::now();
    let close = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(c)) => break c,
            Ok(_) => continue,
            Err(e) => panic!("no close frame within 10 s of the revocation: {e}"),
        }
    };
    assert!(revoked.elapsed() < Duration::from_secs(5), "closed after {:?}", revoked.elapsed());
    let close = close.expect("a close frame with a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("revoked"), "{close:?}");
    Ok(())
}
