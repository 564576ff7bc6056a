//! Tests of the webhooks: endpoints, signed deliveries, retries and their schedule.

use serde_json::{json, Map};

use super::*;

/// A stand-in for the API's renderer: the neutral JSON for native endpoints, the event's
/// type and format for Alby's; none for failed payments.
fn renderer() -> WebhookRenderer {
    Arc::new(|format, event: &EventRecord| match (format, event.event_type) {
        (_, EventType::PaymentFailed) => Err("no form".into()),
        (WebhookFormat::Native, _) => Ok(crate::notify::event_json(event)),
        (WebhookFormat::Alby, t) => Ok(json!({ "alby": t.as_str() })),
    })
}

#[test]
fn backoff_doubles_from_one_second_to_ten_minutes_then_gives_up_after_a_day() {
    let created = 1_000_000;
    let at = |attempts, now| match after_failure(attempts, created, now) {
        NextAttempt::RetryAt(t) => Some(t - now),
        NextAttempt::GiveUp => None,
        NextAttempt::Delivered => unreachable!(),
    };
    assert_eq!(at(1, created), Some(1_000));
    assert_eq!(at(2, created), Some(2_000));
    assert_eq!(at(3, created), Some(4_000));
    assert_eq!(at(10, created), Some(512_000));
    assert_eq!(at(11, created), Some(600_000));
    assert_eq!(at(500, created), Some(600_000));
    let day = GIVE_UP_AFTER.as_millis() as u64;
    assert_eq!(at(100, created + day - 600_000), Some(600_000));
    assert_eq!(at(100, created + day - 599_999), None);
}

#[test]
fn native_signatures_are_hmac_sha256_of_timestamp_and_body() {
    // Known answer, computed independently:
    // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test'
    let sig = native_signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
    assert_eq!(
        sig,
        "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    );
}

#[test]
fn svix_signatures_follow_svix() {
    // The example of Svix's documentation (checked with Python's hmac as well).
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let sig = svix_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).unwrap();
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

#[test]
fn secrets_are_random_and_svix_compatible() {
    let a = new_secret();
    let b = new_secret();
    assert_ne!(a, b);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(a.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(raw.len(), 32);
}

#[test]
fn urls_and_filters_are_checked() {
    let mainnet = webhook_egress(bitcoin::Network::Bitcoin);
    let regtest = webhook_egress(bitcoin::Network::Regtest);
    check_url("http://127.0.0.1:8080/hook", regtest).unwrap();
    check_url("https://example.com/hook?x=1", mainnet).unwrap();
    for bad in ["", "ftp://example.com/x", "example.com/x", "http://", "http://a b/"] {
        let err = check_url(bad, regtest).unwrap_err();
        assert!(matches!(err, NotifyError::InvalidParams(_)), "{bad}: {err}");
        assert!(err.to_string().starts_with("url:"), "{err}");
    }
    check_url(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN)), mainnet).unwrap_err();
    // Private, link-local and (off regtest) loopback targets are refused by name.
    for (bad, kind) in [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://192.168.1.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
    ] {
        let err = check_url(bad, mainnet).unwrap_err().to_string();
        assert!(err.contains(kind) && err.contains("public addresses"), "{bad}: {err}");
    }
    let err = check_url("http://10.0.0.1/hook", regtest).unwrap_err().to_string();
    assert!(err.contains("private"), "regtest allows loopback only: {err}");

    let f = |v: &[&str]| alby_event_types(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(f(&["invoice.incoming.settled"]).unwrap(), [EventType::PaymentReceived]);
    assert_eq!(
        f(&["invoice.outgoing.settled", "invoice.incoming.settled"]).unwrap(),
        [EventType::PaymentSent, EventType::PaymentReceived]
    );
    let err = f(&["invoice.incoming.created"]).unwrap_err().to_string();
    assert!(err.contains("invoice.incoming.created") && err.contains("supported"), "{err}");
    assert!(f(&[]).is_err());
}

fn received_event() -> EventRecord {
    let mut data = Map::new();
    data.insert(
        "payment".into(),
        json!({ "id": 4, "direction": "incoming", "kind": "keysend", "status": "complete",
                "payment_hash": "ab".repeat(32), "preimage": "cd".repeat(32),
                "amount_msat": 21_000, "description": "boost", "created_at": 100,
                "completed_at": 100, "expires_at": null, "invoice": null,
                "custom_records": "{\"34349334\": \"6869\", \"7629169\": \"7b2261223a317d\"}" }),
    );
    EventRecord {
        seq: 9,
        event_type: EventType::PaymentReceived,
        created_at: 100,
        payment_hash: Some([0xab; 32]),
        data,
    }
}

#[test]
fn requests_are_signed_per_format() {
    let webhook = |format| WebhookRecord {
        id: 2,
        url: "http://127.0.0.1:1/x".into(),
        description: None,
        format,
        event_types: vec![],
        filter_types: None,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        created_at: 1,
    };
    let delivery = DeliveryRecord {
        id: 5,
        webhook_id: 2,
        event_seq: 9,
        event_type: EventType::PaymentReceived,
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at_ms: Some(0),
        last_attempt_at_ms: None,
        last_status: None,
        last_error: None,
        created_at_ms: 0,
        finished_at_ms: None,
        attempt_log: vec![],
    };
    let header = |r: &DeliveryRequest, k: &str| {
        r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap()
    };
    let due = DueDelivery {
        delivery: delivery.clone(),
        webhook: webhook(WebhookFormat::Native),
        event: received_event(),
    };
    let r = delivery_request(&due, 1_700_000_000, &renderer()).unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["seq"], 9);
    assert_eq!(body["type"], "payment_received");
    assert_eq!(header(&r, "X-Boltd-Event-Seq"), "9");
    assert_eq!(header(&r, "X-Boltd-Delivery-Id"), "5");
    assert_eq!(
        header(&r, "X-Boltd-Signature"),
        native_signature(&due.webhook.secret, 1_700_000_000, &r.body)
    );

    let due =
        DueDelivery { delivery, webhook: webhook(WebhookFormat::Alby), event: received_event() };
    let r = delivery_request(&due, 1_700_000_000, &renderer()).unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, json!({ "alby": "payment_received" }), "the format's rendering");
    assert_eq!(header(&r, "svix-id"), "msg_9");
    assert_eq!(header(&r, "svix-timestamp"), "1700000000");
    assert_eq!(
        header(&r, "svix-signature"),
        svix_signature(&due.webhook.secret, "msg_9", 1_700_000_000, &r.body).unwrap()
    );
    assert!(!r.headers.iter().any(|(n, _)| n.starts_with("X-Boltd")), "{:?}", r.headers);

    // An event the renderer has no form of: the attempt fails with the reason.
    let mut due = due;
    due.event.event_type = EventType::PaymentFailed;
    let err = delivery_request(&due, 1_700_000_000, &renderer()).unwrap_err().to_string();
    assert!(err.contains("payment_failed") && err.contains("no form"), "{err}");
}

/// A loopback HTTP endpoint: answers each request with the next status of `script` (the
/// last one forever), or never answers if `script` is empty. Returns its URL and the
/// request bodies it received.
fn endpoint(script: Vec<u16>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            match script.get(n).or(script.last()) {
                Some(status) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
                None => held.push(stream),
            }
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_hold_up_another_which_is_retried_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let (hanging_url, hanging_seen) = endpoint(vec![]);
    let (flaky_url, flaky_seen) = endpoint(vec![503, 200]);
    let hook = |url: String| NewWebhook {
        url,
        description: None,
        format: WebhookFormat::Native,
        event_types: vec![],
        filter_types: None,
        secret: new_secret(),
    };
    let hanging = store.create_webhook(hook(hanging_url), 1).unwrap();
    let flaky = store.create_webhook(hook(flaky_url), 1).unwrap();
    for i in 0..3u8 {
        store
            .record_channel_event(
                boltd_store::NewChannelEvent {
                    event_type: EventType::ChannelReady,
                    channel_id: [i; 32],
                    channel: json!({ "n": i }),
                },
                now_secs(),
            )
            .unwrap();
    }
    let (events_tx, events_rx) = watch::channel(0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let egress = Egress { allow_loopback: true, loopback_hint: "" };
    let (_renderer_tx, renderer_rx) = watch::channel(Some(renderer()));
    let worker = tokio::spawn(worker(egress, Arc::clone(&store), events_rx, stop_rx, renderer_rx));

    let of = |id: i64| {
        store.deliveries(&DeliveryFilter { webhook_id: Some(id), ..Default::default() }).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = of(flaky.id);
        if d.iter().all(|d| d.state == DeliveryState::Delivered) {
            break;
        }
        assert!(Instant::now() < deadline, "flaky endpoint not delivered: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The flaky endpoint: its first request got 503 and was retried; all three arrived.
    let d = of(flaky.id);
    let mut statuses: Vec<Vec<_>> =
        d.iter().map(|d| d.attempt_log.iter().map(|a| a.status).collect()).collect();
    statuses.sort();
    assert_eq!(statuses, [vec![Some(200)], vec![Some(200)], vec![Some(503), Some(200)]], "{d:?}");
    let retried = d.iter().find(|d| d.attempts == 2).unwrap();
    assert_eq!(retried.attempt_log[0].error.as_deref(), Some("HTTP 503 Service Unavailable"));
    assert_eq!(flaky_seen.lock().unwrap().len(), 4);
    // The hanging endpoint holds at most two requests and none is recorded yet.
    let held = hanging_seen.lock().unwrap().len();
    assert!((1..=MAX_IN_FLIGHT_PER_ENDPOINT as usize).contains(&held), "{held}");
    assert!(of(hanging.id).iter().all(|d| d.state == DeliveryState::Pending && d.attempts == 0));
    // Bodies are notifications with their seq.
    let body: Value = serde_json::from_str(&flaky_seen.lock().unwrap()[0]).unwrap();
    assert_eq!(body["type"], "channel_ready");

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker).await.unwrap().unwrap();
    drop(events_tx);
}
