//! Authentication and policy on real nodes: bearer tokens with scopes (401 and 403 in each
//! dialect's shape, every route of the scope table), token management, expiry and revocation,
//! the first start's admin token, `--insecure-no-auth` only on loopback, CORS, no token in the
//! logs; and spending limits: a per-payment maximum and a daily budget that 20 concurrent
//! payments cannot overspend (fee reserve included), multi-keysend items each counted.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use boltd_api::{Access, Route};
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, ApiClient, ApiFailure, Bitcoind,
    ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_boltd"))
}

/// The failure of a call that must fail.
fn refused(r: Result<Value, ApiFailure>) -> ApiFailure {
    match r {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(e) => e,
    }
}

fn message(e: &ApiFailure) -> &str {
    e.body["message"].as_str().unwrap_or_default()
}

/// A raw request (to look at headers): status, headers of interest, body text.
fn raw(
    client: &ApiClient,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Option<String>, String) {
    let mut req = client.request(method, path);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let res = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let www = res.header("www-authenticate").map(String::from);
    let acao = res.header("access-control-allow-origin").map(String::from);
    (res.status(), www, acao, res.into_string().unwrap_or_default())
}

/// A path of the route table with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{identifier}", &"00".repeat(32))
        .replace("{scid}", "1x1x1")
        .replace("{id}", "0000000000000000")
        .replace("{name}", "nobody")
}

#[test]
fn tokens_scopes_and_refusals() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe(), &data, &chain, port)?;

    // The first start's ready line says where the new admin token is, never the token itself
    // (stdout ends up in journals); the file holds it, mode 0600.
    let ready = a.ready.clone().unwrap();
    let admin = a.admin_token().to_string();
    assert!(ready.get("admin_token").is_none(), "no token on stdout: {ready}");
    assert!(!ready.to_string().contains(admin.rsplit('_').next().unwrap()), "{ready}");
    assert_eq!(ready["admin_token_created"], true, "{ready}");
    assert_eq!(ready["auth"], "tokens", "{ready}");
    let file = PathBuf::from(ready["admin_token_file"].as_str().unwrap());
    assert_eq!(file, data.join("admin.token"));
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), admin);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin.token must be private");
    }

    // Public: /ping. Everything else: 401 without a token, with the same generic message for a
    // malformed token, an unknown id and a wrong secret.
    let anonymous = a.client(None);
    assert_eq!(anonymous.get("/ping").unwrap()["message"], "pong");
    let (status, www, _, body) = raw(&anonymous, "GET", "/api/v1/node/info", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(www.unwrap().starts_with("Bearer"), "WWW-Authenticate on 401");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "unauthorized", "{body}");
    assert!(body["message"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
    let admin_id = admin.split('_').nth(1).unwrap().to_string();
    let bad_tokens = [
        "nope".to_string(),
        format!("boltd_{}_{}", "ab".repeat(8), "cd".repeat(32)),
        format!("boltd_{admin_id}_{}", "cd".repeat(32)),
        admin.to_uppercase(),
    ];
    for bad in &bad_tokens {
        let e = refused(a.client(Some(bad)).get("/api/v1/node/info"));
        assert_eq!(
            (e.status, &e.body),
            (401, &json!({"code": "unauthorized", "message": "invalid token"}))
        );
    }
    let (status, _, _, _) =
        raw(&anonymous, "GET", "/api/v1/node/info", &[("Authorization", "Basic YTpi")]);
    assert_eq!(status, 401);
    // Core Lightning's dialect: {code, message} with checkrune's codes.
    let e = refused(anonymous.post("/v1/pay", json!({ "bolt11": "lnbcrt1x" })));
    assert_eq!((e.status, e.body["code"].as_i64()), (401, Some(1501)), "{}", e.body);

    // Token management: create, validate, list without secrets.
    let create = |spec: Value| a.post("/api/v1/tokens", spec);
    let shop =
        create(json!({ "name": "shop", "scopes": ["invoices:create", "invoices:read"] })).unwrap();
    let shop_token = shop["token"].as_str().unwrap().to_string();
    let shop_id = shop["id"].as_str().unwrap().to_string();
    assert!(shop_token.starts_with(&format!("boltd_{shop_id}_")), "{shop}");
    assert_eq!(shop["active"], true);
    for (spec, needle) in [
        (
            json!({ "name": "x", "scopes": ["payments:receive"] }),
            "unknown scope `payments:receive`",
        ),
        (json!({ "name": "x", "scopes": [] }), "at least one"),
        (json!({ "name": "", "scopes": ["node:read"] }), "name"),
        (json!({ "name": "x", "scopes": ["node:admin"], "budget_day_msat": 5 }), "node:admin"),
        (json!({ "name": "x", "scopes": ["payments:send"], "expires_at": 1 }), "future"),
        (json!({ "name": "x", "scopes": ["payments:send"], "max_payment_msat": 0 }), "positive"),
        (json!({ "name": "x", "scopes": ["payments:send"], "owner": "me" }), "owner"),
    ] {
        let e = refused(create(spec.clone()));
        // 422 for a body that does not parse (axum's JSON rejection), 400 otherwise.
        assert!(e.status == 400 || e.status == 422, "{spec}: {}", e.body);
        assert!(message(&e).contains(needle), "{spec}: {}", e.body);
    }
    let reader = create(json!({ "name": "reader", "scopes": ["node:read"] })).unwrap();
    let reader_token = reader["token"].as_str().unwrap().to_string();
    let balance = create(json!({ "name": "balance", "scopes": ["balance:read"] })).unwrap();
    // A new token's answer shows its budgets, unspent, as listings do.
    let spender = create(
        json!({ "name": "spender", "scopes": ["payments:send"], "budget_day_msat": 50_000_000 }),
    )
    .unwrap();
    let day = &spender["budgets"][0];
    assert_eq!(day["limit_msat"], 50_000_000, "{spender}");
    assert_eq!(day["spent_msat"], 0, "{spender}");
    let balance_token = balance["token"].as_str().unwrap().to_string();
    let listing = a.get("/api/v1/tokens").unwrap();
    let text = listing.to_string();
    for t in [&admin, &shop_token, &reader_token, &balance_token] {
        let secret = t.rsplit('_').next().unwrap();
        assert!(!text.contains(secret), "a secret in the listing: {text}");
    }
    assert!(!text.contains("secret"), "{text}");
    let names: Vec<&str> =
        listing.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "shop", "reader", "balance", "spender"]);
    assert_eq!(a.get(&format!("/api/v1/tokens/{shop_id}")).unwrap()["name"], "shop");

    // Scopes: a 403 names the missing scope, in each dialect.
    let shop_client = a.client(Some(&shop_token));
    let inv = shop_client
        .post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 5, "description": "x" }))
        .unwrap();
    let hash = inv["payment_hash"].as_str().unwrap();
    assert_eq!(
        shop_client.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap()["state"],
        "created"
    );
    let e = refused(shop_client.post("/api/v1/lightning/pay", json!({ "destination": "x" })));
    assert_eq!((e.status, e.body["code"].as_str()), (403, Some("missing_scope")), "{}", e.body);
    assert!(message(&e).contains("payments:send"), "{}", e.body);
    let e = refused(shop_client.post("/v1/pay", json!({ "bolt11": "lnbcrt1x" })));
    assert_eq!((e.status, e.body["code"].as_i64()), (403, Some(1502)), "{}", e.body);
    assert!(message(&e).contains("payments:send"), "{}", e.body);
    let e = refused(shop_client.get("/api/v1/tokens"));
    assert_eq!(e.status, 403);
    assert!(message(&e).contains("node:admin"), "{}", e.body);
    let me = shop_client.get("/api/v1/tokens/self").unwrap();
    assert_eq!((me["id"].as_str(), me["name"].as_str()), (Some(shop_id.as_str()), Some("shop")));
    assert_eq!(me["scopes"], json!(["invoices:create", "invoices:read"]));

    // Every route is guarded as its declaration says (the table derived from the handlers'
    // `security(...)`): without the route's scope, 403 naming it; public ones answer
    // anonymously.
    let reader_client = a.client(Some(&reader_token));
    let balance_client = a.client(Some(&balance_token));
    for Route { method, path, access } in boltd_api::routes() {
        let p = concrete(path);
        match access {
            Access::Public => {
                let (status, _, _, body) = raw(&anonymous, method, &p, &[]);
                assert!(status != 401 && status != 403, "{method} {path}: {status} {body}");
            }
            Access::Authenticated => {
                assert_eq!(raw(&anonymous, method, &p, &[]).0, 401, "{method} {path}");
                // Past authentication; the empty request itself may be bad input (400).
                let (status, _, _, body) = raw(&reader_client, method, &p, &[]);
                assert!(status != 401 && status != 403, "{method} {path}: {status} {body}");
            }
            Access::Scope(scope) => {
                let client =
                    if scope.as_str() == "node:read" { &balance_client } else { &reader_client };
                let (status, _, _, body) = raw(client, method, &p, &[]);
                assert_eq!(status, 403, "{method} {path}: {body}");
                assert!(body.contains(scope.as_str()), "{method} {path}: {body}");
                assert_eq!(raw(&anonymous, method, &p, &[]).0, 401, "{method} {path}");
            }
        }
    }
    // A path outside the table is not found (no route), not an open door.
    assert_eq!(raw(&anonymous, "GET", "/api/v1/nothing", &[]).0, 404);

    // Revocation is immediate; revoking twice is harmless; unknown ids are 404; the last admin
    // token stays.
    let revoked = a.delete(&format!("/api/v1/tokens/{shop_id}")).unwrap();
    assert_eq!((revoked["active"].as_bool(), revoked["revoked_at"].is_u64()), (Some(false), true));
    let e = refused(shop_client.get("/api/v1/lightning/receives"));
    assert_eq!((e.status, message(&e)), (401, "invalid token"));
    assert_eq!(a.delete(&format!("/api/v1/tokens/{shop_id}")).unwrap()["active"], false);
    assert_eq!(refused(a.delete("/api/v1/tokens/0123456789abcdef")).status, 404);
    let e = refused(a.delete(&format!("/api/v1/tokens/{admin_id}")));
    assert_eq!((e.status, e.body["code"].as_str()), (409, Some("last_admin_token")), "{}", e.body);
    assert_eq!(a.get("/api/v1/tokens/self").unwrap()["name"], "admin");

    // Expiry (whole seconds: 2 s from now is at least 1 s away).
    let brief =
        create(json!({ "name": "brief", "scopes": ["node:read"], "expires_in_secs": 2 })).unwrap();
    let brief_client = a.client(brief["token"].as_str());
    assert!(brief["expires_at"].as_u64().is_some(), "{brief}");
    assert_eq!(brief_client.get("/api/v1/tokens/self").unwrap()["active"], true);
    std::thread::sleep(Duration::from_millis(3100));
    let e = refused(brief_client.get("/api/v1/node/info"));
    assert_eq!((e.status, message(&e)), (401, "invalid token"));

    // CORS: denied by default (no allow header; preflight 403), LNURL-pay open to browsers.
    let origin = [("Origin", "https://app.example")];
    let (status, _, acao, _) = raw(&a.client(Some(&admin)), "GET", "/api/v1/node/info", &origin);
    assert_eq!((status, acao), (200, None));
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "authorization"),
    ];
    let (status, _, acao, _) = raw(&anonymous, "OPTIONS", "/api/v1/lightning/pay", &preflight);
    assert_eq!((status, acao), (403, None));
    let (_, _, acao, _) = raw(&anonymous, "GET", "/.well-known/lnurlp/nobody", &origin);
    assert_eq!(acao.as_deref(), Some("*"));

    // Restart: no token in the ready line; the admin token (from its file) still works, the
    // revoked token stays revoked.
    a.stop()?;
    let a = TestNode::spawn("alice", &exe(), &data, &chain, port)?;
    let ready2 = a.ready.clone().unwrap();
    assert!(ready2.get("admin_token").is_none(), "never shown: {ready2}");
    assert_eq!(ready2["admin_token_created"], false, "{ready2}");
    assert_eq!(a.admin_token(), admin);
    assert!(a.info().is_ok());
    let e = refused(a.client(Some(&shop_token)).get("/api/v1/lightning/receives"));
    assert_eq!(e.status, 401, "{}", e.body);

    // Bodies must be JSON, in every dialect (a page can send a cross-origin text/plain POST
    // without a preflight): 415 naming the problem, nothing done.
    let admin_client = a.client(Some(&admin));
    let inv = r#"{"amount_msat": 1000, "label": "plain", "description": "x"}"#;
    for (path, ct) in [
        ("/v1/invoice", Some("text/plain")),
        ("/v1/invoice", None),
        ("/api/v1/lightning/receives/invoice", Some("text/plain;charset=UTF-8")),
        ("/invoices", Some("application/x-www-form-urlencoded")),
    ] {
        let mut req = admin_client.request("POST", path);
        if let Some(ct) = ct {
            req = req.set("Content-Type", ct);
        }
        let (status, body) = match req.send_string(inv) {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
            Err(e) => panic!("{path}: {e}"),
        };
        assert_eq!(status, 415, "{path} {ct:?}: {body}");
        assert!(body.contains("Content-Type: application/json"), "{path}: {body}");
    }
    let listed = admin_client.post("/v1/listinvoices", json!({"label": "plain"}));
    assert_eq!(listed.unwrap()["invoices"], json!([]), "nothing was made");
    let (status, _, _, body) = raw(&admin_client, "POST", "/v1/getinfo", &[]);
    assert_eq!(status, 201, "no body, no content type needed (clnrest's 201): {body}");

    // --insecure-no-auth with api_cors_origins is a configuration error at start-up.
    let out = Command::new(exe())
        .args(["serve", "--network", "regtest", "--data-dir"])
        .arg(dir.path().join("cors"))
        .args(["--api-listen", "127.0.0.1:0", "--insecure-no-auth"])
        .args(["--api-cors-origins", "https://app.example"])
        .args(["--bitcoind-rpc-url", "http://127.0.0.1:1"])
        .args(["--bitcoind-rpc-user", "u", "--bitcoind-rpc-password", "p"])
        .env_remove("BOLTD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("api_cors_origins") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no ready line");

    // --insecure-no-auth on loopback: no token needed, but only for requests addressed to a
    // loopback name (DNS rebinding sends the attacker's name) and carrying no browser Origin.
    let b = TestNode::spawn_with(
        "bob",
        &exe(),
        &dir.path().join("b"),
        &chain,
        free_port()?,
        &["--insecure-no-auth"],
    )?;
    assert_eq!(b.ready.as_ref().unwrap()["auth"], "none");
    let b_anonymous = b.client(None);
    assert_eq!(b_anonymous.get("/api/v1/node/info").unwrap()["node_id"], b.node_id.as_str());
    assert_eq!(b_anonymous.get("/api/v1/tokens/self").unwrap()["scopes"], json!(["node:admin"]));
    let port = b.api_url.rsplit(':').next().unwrap().to_string();
    for host in [format!("localhost:{port}"), format!("[::1]:{port}"), "127.0.0.1".into()] {
        let (status, _, _, body) =
            raw(&b_anonymous, "GET", "/api/v1/node/info", &[("Host", &host)]);
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in [format!("evil.example:{port}"), "192.168.1.2".into()] {
        let (status, _, _, body) =
            raw(&b_anonymous, "GET", "/api/v1/node/info", &[("Host", &host)]);
        assert_eq!(status, 421, "{host}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "host_not_allowed", "{body}");
        assert!(body["message"].as_str().unwrap().contains("loopback"), "{body}");
    }
    let (status, _, _, body) =
        raw(&b_anonymous, "POST", "/v1/getinfo", &[("Host", "evil.example")]);
    assert_eq!(status, 421, "in Core Lightning's shape too: {body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -32602, "{body}");
    let (status, _, acao, body) = raw(&b_anonymous, "POST", "/v1/getinfo", &origin);
    assert_eq!((status, acao), (403, None), "{body}");
    assert!(body.contains("cross-origin"), "{body}");
    let (status, _, acao, _) = raw(&b_anonymous, "OPTIONS", "/api/v1/lightning/pay", &preflight);
    assert_eq!((status, acao), (403, None));

    // No token, nor any token's secret, ever reaches a log.
    drop(a);
    drop(b);
    for log in [data.with_extension("log"), dir.path().join("b").with_extension("log")] {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("API token"), "the log covers token events: {}", log.display());
        for t in [&admin, &shop_token, &reader_token, &balance_token] {
            let secret = t.rsplit('_').next().unwrap();
            assert!(!text.contains(secret), "a token secret in {}", log.display());
        }
    }
    Ok(())
}

/// `--insecure-no-auth` with an API beyond loopback is refused before anything starts.
#[test]
fn insecure_no_auth_is_refused_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x");
    let out = Command::new(exe())
        .args(["serve", "--network", "regtest", "--data-dir"])
        .arg(&data)
        .args(["--api-listen", "0.0.0.0:0", "--insecure-no-auth"])
        .args(["--bitcoind-rpc-url", "http://127.0.0.1:1"])
        .args(["--bitcoind-rpc-user", "u", "--bitcoind-rpc-password", "p"])
        .env_remove("BOLTD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--insecure-no-auth is only allowed when the API listens on loopback"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no ready line");
    assert!(!data.join("boltd.sqlite").exists(), "nothing started");
}

fn spendable_msat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
}

#[test]
fn budgets_hold_under_concurrent_payments() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 2_000_000, 0, &[&a, &b])?;
    mine_and_sync(&btc, 1, &[&a, &b])?;

    // 10,000 sat payments with a fee limit of 2,000 sat: 12,000,000 msat each while pending,
    // so the daily budget fits exactly 5 (6 if the fee reserve were not counted).
    const AMOUNT_MSAT: u64 = 10_000_000;
    const MAXFEE_MSAT: u64 = 2_000_000;
    const N: usize = 5;
    let budget = N as u64 * (AMOUNT_MSAT + MAXFEE_MSAT);
    let app = a.create_token(json!({
        "name": "app",
        "scopes": ["payments:send", "transactions:read"],
        "max_payment_msat": 50_000_000,
        "budget_day_msat": budget,
    }))?;
    let app_id = app.split('_').nth(1).unwrap().to_string();
    let app_client = a.client(Some(&app));
    let invoice = |sat: u64, d: &str| -> (String, String) { b.invoice(sat, d).unwrap() };

    // Per-payment maximum: refused before anything is recorded or sent, in both dialects.
    let (big, _) = invoice(60_000, "too big");
    let e = refused(app_client.post("/api/v1/lightning/pay", json!({ "destination": big })));
    assert_eq!((e.status, e.body["code"].as_str()), (403, Some("payment_limit_exceeded")));
    assert!(
        message(&e).contains("50000000 msat") && message(&e).contains("60000000"),
        "{}",
        e.body
    );
    let e = refused(app_client.post("/v1/pay", json!({ "bolt11": big })));
    assert_eq!((e.status, e.body["code"].as_i64()), (403, Some(1502)), "{}", e.body);
    assert_eq!(e.body["data"]["max_payment_msat"], 50_000_000, "{}", e.body);
    let outgoing = |n: &TestNode| -> Vec<Value> {
        n.get("/api/v1/payments?direction=outgoing").unwrap().as_array().unwrap().clone()
    };
    assert!(outgoing(&a).is_empty(), "a refused payment leaves no record");

    // 20 concurrent payments against the budget.
    let invoices: Vec<(String, String)> =
        (0..20).map(|i| invoice(AMOUNT_MSAT / 1000, &format!("budget {i}"))).collect();
    let before = spendable_msat(&a);
    let results: Vec<Result<Value, ApiFailure>> = std::thread::scope(|s| {
        let handles: Vec<_> = invoices
            .iter()
            .map(|(bolt11, _)| {
                let c = app_client.clone();
                s.spawn(move || {
                    c.post("/v1/pay", json!({ "bolt11": bolt11, "maxfee": MAXFEE_MSAT }))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let paid: Vec<&Value> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refusals: Vec<&ApiFailure> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(paid.len(), N, "{results:?}");
    for p in &paid {
        assert!(p["status"] == "complete" || p["status"] == "pending", "{p}");
    }
    for e in &refusals {
        assert_eq!((e.status, e.body["code"].as_i64()), (403, Some(1502)), "{}", e.body);
        assert!(message(e).contains("budget exceeded"), "{}", e.body);
        assert_eq!(e.body["data"]["budget"], "day", "{}", e.body);
        assert_eq!(e.body["data"]["limit_msat"], budget, "{}", e.body);
    }

    // Exactly N left the node, each once: the records, the receiver and the balance agree.
    let records = wait_until(
        "the budgeted payments to complete",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let out = outgoing(&a);
            Ok(out.iter().all(|p| p["status"] == "complete").then_some(out))
        },
    )?;
    assert_eq!(records.len(), N, "no record for a refused payment: {records:?}");
    assert!(records.iter().all(|r| r["token_id"] == app_id.as_str()), "{records:?}");
    let paid_hashes: Vec<&str> = paid.iter().map(|p| p["payment_hash"].as_str().unwrap()).collect();
    for (_, hash) in &invoices {
        let r = b.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
        let want = if paid_hashes.contains(&hash.as_str()) { "settled" } else { "created" };
        assert_eq!(r["state"], want, "{r}");
    }
    let fees: u64 = records.iter().map(|r| r["fee_msat"].as_u64().unwrap_or(0)).sum();
    wait_until(
        "alice's balance to settle",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok((before - spendable_msat(&a) == N as u64 * AMOUNT_MSAT + fees).then_some(())),
    )?;

    // What is left is shown to the token, and the next payment is refused with the numbers.
    let me = app_client.get("/api/v1/tokens/self").unwrap();
    let day = &me["budgets"][0];
    assert_eq!(day["window"], "day", "{me}");
    assert_eq!(day["spent_msat"], N as u64 * AMOUNT_MSAT + fees, "{me}");
    let left = budget - N as u64 * AMOUNT_MSAT - fees;
    assert_eq!(day["remaining_msat"], left, "{me}");
    let (one_more, _) = invoice(AMOUNT_MSAT / 1000, "one more");
    let e = refused(app_client.post("/api/v1/lightning/pay", json!({ "destination": one_more })));
    assert_eq!((e.status, e.body["code"].as_str()), (403, Some("budget_exceeded")), "{}", e.body);
    let m = message(&e);
    assert!(m.contains("daily budget") && m.contains(&format!("{budget} msat")), "{m}");
    assert!(m.contains(&format!("{left} msat are left")), "{m}");
    // The admin token has no budget.
    let ok = a.post("/api/v1/lightning/pay", json!({ "destination": one_more })).unwrap();
    assert_eq!(ok["status"], "complete", "{ok}");

    // Multi-keysend: each item counts against the budget.
    let ks = a.create_token(json!({
        "name": "streamer",
        "scopes": ["payments:send"],
        "budget_day_msat": 2 * (1_000_000 + 1_000),
    }))?;
    let item = json!({ "destination": b.node_id, "amount_msat": 1_000_000, "maxfee_msat": 1_000 });
    let batch = a
        .client(Some(&ks))
        .post("/api/v1/lightning/keysend/multi", json!({ "keysends": [item, item, item] }))
        .unwrap();
    let items = batch["keysends"].as_array().unwrap();
    let sent = items.iter().filter(|i| i.get("keysend").is_some()).count();
    let over: Vec<&Value> =
        items.iter().filter(|i| i["error"]["code"] == "budget_exceeded").collect();
    assert_eq!((sent, over.len()), (2, 1), "{batch}");
    Ok(())
}
