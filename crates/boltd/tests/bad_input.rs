//! Bad input across the dialects, against a running node over real HTTP: malformed JSON, wrong
//! types, missing fields, an oversized body (over `MAX_BODY_BYTES`), an unknown path, a wrong
//! method, numbers out of range (a retry window, an amount, a token's expiry, an on-chain fee
//! rate). Each gets a 4xx in the dialect's error shape with a message naming the problem, never
//! a 500 or a dropped connection (a panic), and nothing is recorded or sent. An invoice whose
//! expiry is past the end of time never expires: it is paid like any other. A storage failure, the one 500 here,
//! is `storage_error`, never a payment outcome.

use boltd_harness::{Bitcoind, ChainAccess, HarnessError, TestNode};
use serde_json::Value;

/// The status, the `Allow` header and the JSON body of a request with a raw body.
fn send(
    node: &TestNode,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Option<String>, Value) {
    let client = node.client(Some(node.admin_token()));
    let req = client.request(method, path).set("Content-Type", "application/json");
    let res = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let r = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = r.status();
    let allow = r.header("allow").map(String::from);
    let ct = r.header("content-type").unwrap_or("").to_string();
    let text = r.into_string().unwrap();
    assert!(ct.starts_with("application/json"), "{method} {path}: {status} {ct} {text}");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
    (status, allow, v)
}

/// (what, method, path, body, status, the dialect's shape, what the message mentions)
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, u16, Shape, &'a str);

#[derive(Clone, Copy, Debug)]
enum Shape {
    Native,
    Cln,
    Alby,
}

/// Asserts a 4xx of `want` status in the dialect's shape, with a message containing `mentions`.
fn refused(got: (u16, Option<String>, Value), want: u16, shape: Shape, mentions: &str, what: &str) {
    let (status, _, v) = got;
    assert_eq!(status, want, "{what}: {v}");
    let message = v["message"].as_str().unwrap_or_else(|| panic!("{what}: no message: {v}"));
    assert!(
        message.to_lowercase().contains(&mentions.to_lowercase()),
        "{what}: the message does not mention `{mentions}`: {v}"
    );
    match shape {
        Shape::Native => {
            let code = v["code"].as_str().unwrap_or_else(|| panic!("{what}: {v}"));
            assert!(boltd_api::ERROR_CODES.contains(&code) && code != "internal", "{what}: {v}");
        }
        Shape::Cln => {
            let code = v["code"].as_i64().unwrap_or_else(|| panic!("{what}: {v}"));
            assert!(code == -32602 || code == -32601, "{what}: {v}");
        }
        Shape::Alby => {
            assert_eq!(v["error"], true, "{what}: {v}");
            assert_eq!(v["code"], 8, "{what}: {v}");
        }
    }
}

#[test]
fn bad_input_is_a_4xx_in_the_dialects_shape() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", dir.path(), &chain, boltd_harness::free_port()?)?;
    let big = format!("{{\"destination\": \"{}\"}}", "x".repeat(boltd_api::MAX_BODY_BYTES + 1));

    let (pay, cln, alby) = ("/api/v1/lightning/pay", "/v1/pay", "/payments/bolt11");
    let (native, core, alby_shape) = (Shape::Native, Shape::Cln, Shape::Alby);
    let (dest_5, invoice_5) = (r#"{"destination": 5}"#, r#"{"invoice": 5}"#);
    let cases: &[Case] = &[
        // Native (barkd): the JSON extractor's rejections, in `{code, message}`.
        ("native malformed", "POST", pay, Some("{"), 400, native, "json"),
        ("native wrong type", "POST", pay, Some(dest_5), 422, native, "destination"),
        ("native missing", "POST", pay, Some("{}"), 422, native, "destination"),
        ("native oversized", "POST", pay, Some(&big), 413, native, "limit"),
        ("native path", "GET", "/api/v1/nope", None, 404, native, "/api/v1/nope"),
        ("native wrong method", "DELETE", pay, None, 405, native, "DELETE"),
        // Core Lightning: parameters by name, `{code, message, data}`.
        ("cln malformed", "POST", cln, Some("{"), 400, core, "json"),
        ("cln wrong type", "POST", cln, Some(r#"{"bolt11": 5}"#), 400, core, "bolt11"),
        ("cln missing", "POST", cln, Some("{}"), 400, core, "bolt11"),
        ("cln oversized", "POST", cln, Some(&big), 413, core, "limit"),
        ("cln path", "POST", "/v1/nope", Some("{}"), 404, core, "/v1/nope"),
        ("cln wrong method", "GET", cln, None, 405, core, "GET"),
        // Alby: `{code: 8, error: true, message}`.
        ("alby malformed", "POST", alby, Some("{"), 400, alby_shape, "json"),
        ("alby wrong type", "POST", alby, Some(invoice_5), 400, alby_shape, "invalid type"),
        ("alby missing", "POST", alby, Some("{}"), 400, alby_shape, "invoice"),
        ("alby oversized", "POST", alby, Some(&big), 413, alby_shape, "limit"),
        ("alby path", "GET", "/invoices/x/y", None, 404, alby_shape, "/invoices/x/y"),
        ("alby wrong method", "DELETE", alby, None, 405, alby_shape, "DELETE"),
    ];
    for &(what, method, path, body, status, shape, mentions) in cases {
        let got = send(&a, method, path, body);
        if status == 405 && matches!(shape, Shape::Native) {
            assert_eq!(got.1.as_deref(), Some("POST"), "{what}: Allow");
        }
        refused(got, status, shape, mentions, what);
    }

    // Numbers out of range (a retry window, an amount, a token's expiry, a fee rate): a 400
    // naming the parameter before anything is recorded; before, some panicked (the connection
    // dropped), others were recorded as failed payments or were 500s.
    let max = u64::MAX;
    let invoice = foreign_invoice(Some(10_000), 3600);
    let any_amount = foreign_invoice(None, 3600);
    let node = foreign_node_id();
    let address = foreign_address();
    let json = |v: serde_json::Value| v.to_string();
    let bodies = [
        json(serde_json::json!({ "destination": invoice, "retry_for_secs": max })),
        json(serde_json::json!({ "destination": any_amount, "amount_sat": max })),
        json(serde_json::json!({ "destination": node, "amount_msat": max })),
        json(serde_json::json!({ "destination": node, "amount_msat": 1000, "retry_for": max })),
        json(serde_json::json!({ "name": "t", "scopes": ["node:read"], "expires_in_secs": max })),
        json(serde_json::json!({ "name": "t", "scopes": ["node:read"], "expires_at": max })),
        json(serde_json::json!({ "bolt11": invoice, "retry_for": max })),
        json(serde_json::json!({ "bolt11": any_amount, "amount_msat": max })),
        json(serde_json::json!({ "bolt11": invoice, "maxfee": max })),
        json(serde_json::json!({ "destination": node, "amount_msat": max })),
        json(serde_json::json!({ "destination": node, "amount_msat": 1000, "retry_for": max })),
        json(serde_json::json!({ "destination": node, "amount_msat": 1000, "exemptfee": max })),
        json(serde_json::json!({ "invoice": any_amount, "amount": max })),
        json(serde_json::json!({ "destination": node, "amount": max })),
        json(serde_json::json!({ "destination": address, "amount_sat": max })),
        json(serde_json::json!({ "destination": address, "amount_sat": 1000,
                                 "fee_rate_sat_per_vb": max / 250 })),
        json(serde_json::json!({ "destinations": [format!("{address}:{max}"),
                                                  format!("{address}:{max}")] })),
    ];
    let (keysend, tokens) = ("/api/v1/lightning/keysend", "/api/v1/tokens");
    let (cln_keysend, alby_keysend) = ("/v1/keysend", "/payments/keysend");
    let b = |i: usize| Some(bodies[i].as_str());
    let out_of_range: &[Case] = &[
        ("native retry_for_secs", "POST", pay, b(0), 400, native, "retry_for_secs"),
        ("native amount_sat", "POST", pay, b(1), 400, native, "amount_sat"),
        ("native keysend amount", "POST", keysend, b(2), 400, native, "amount_msat"),
        ("native keysend retry_for", "POST", keysend, b(3), 400, native, "retry_for"),
        ("native token expires_in_secs", "POST", tokens, b(4), 400, native, "expires_in_secs"),
        ("native token expires_at", "POST", tokens, b(5), 400, native, "expires_at"),
        ("cln retry_for", "POST", cln, b(6), 400, core, "retry_for"),
        ("cln amount_msat", "POST", cln, b(7), 400, core, "amount_msat"),
        ("cln maxfee", "POST", cln, b(8), 400, core, "maxfee"),
        ("cln keysend amount", "POST", cln_keysend, b(9), 400, core, "amount_msat"),
        ("cln keysend retry_for", "POST", cln_keysend, b(10), 400, core, "retry_for"),
        ("cln keysend exemptfee", "POST", cln_keysend, b(11), 400, core, "exemptfee"),
        ("alby amount", "POST", alby, b(12), 400, alby_shape, "amount"),
        ("alby keysend amount", "POST", alby_keysend, b(13), 400, alby_shape, "amount"),
        ("onchain amount", "POST", "/api/v1/onchain/send", b(14), 400, native, "amount_sat"),
        ("onchain fee rate", "POST", "/api/v1/onchain/send", b(15), 400, native, "fee_rate"),
        ("onchain sum", "POST", "/api/v1/onchain/send-many", b(16), 400, native, "amount_sat"),
    ];
    for &(what, method, path, body, status, shape, mentions) in out_of_range {
        refused(send(&a, method, path, body), status, shape, mentions, what);
    }

    // Nothing was sent or recorded.
    let history = a.get("/api/v1/payments").unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(0), "{history}");

    // An invoice whose expiry is past the end of time (timestamp + u64::MAX s: the unchecked
    // sum panicked) never expires: it is paid like any other, in every dialect (here without a
    // channel: no balance), and recorded with expires_at = i64::MAX ("never" as u64::MAX could
    // not be recorded). The fee quote of one does not panic either.
    let forever = |amount_msat| foreign_invoice(Some(amount_msat), max);
    let quote = format!("/api/v1/fees/lightning/pay?destination={}", forever(10_000));
    let (status, _, v) = send(&a, "GET", &quote, None);
    assert_eq!((status, v["code"].as_str()), (422, Some("route_not_found")), "quote: {v}");
    let (native_body, cln_body, alby_body) = (
        json(serde_json::json!({ "destination": forever(10_001) })),
        json(serde_json::json!({ "bolt11": forever(10_002) })),
        json(serde_json::json!({ "invoice": forever(10_003) })),
    );
    let (status, _, v) = send(&a, "POST", pay, Some(&native_body));
    assert_eq!((status, v["code"].as_str()), (400, Some("insufficient_balance")), "native: {v}");
    let (status, _, v) = send(&a, "POST", cln, Some(&cln_body));
    // clnrest answers every RPC error with 500 and the error object.
    assert_eq!((status, v["code"].as_i64()), (500, Some(205)), "cln: {v}");
    let (status, _, v) = send(&a, "POST", alby, Some(&alby_body));
    assert_eq!((status, v["code"].as_i64()), (400, Some(2)), "alby: {v}");
    let history = a.get("/api/v1/payments").unwrap();
    let never: Vec<_> = history.as_array().unwrap().iter().map(|p| &p["expires_at"]).collect();
    assert_eq!(never, vec![&serde_json::json!(i64::MAX); 3], "{history}");
    Ok(())
}

/// A BOLT11 invoice (with `amount_msat`, if any) on regtest from a node that is not the one
/// tested (a fixed key), expiring `expiry_secs` after now.
fn foreign_invoice(amount_msat: Option<u64>, expiry_secs: u64) -> String {
    use boltd_node::deps::bitcoin::hashes::{sha256, Hash};
    use boltd_node::deps::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use boltd_node::deps::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let seed = format!("{amount_msat:?} {expiry_secs}");
    let b = InvoiceBuilder::new(Currency::Regtest)
        .description("bad input".into())
        .payment_hash(sha256::Hash::hash(seed.as_bytes()))
        .payment_secret(PaymentSecret([1; 32]))
        .duration_since_epoch(now)
        .expiry_time(std::time::Duration::from_secs(expiry_secs))
        .min_final_cltv_expiry_delta(144);
    let b = match amount_msat {
        Some(a) => b.amount_milli_satoshis(a),
        None => b,
    };
    b.build_signed(|h| Secp256k1::new().sign_ecdsa_recoverable(h, &key)).unwrap().to_string()
}

/// A regtest address of [`foreign_invoice`]'s key.
fn foreign_address() -> String {
    use boltd_node::deps::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use boltd_node::deps::bitcoin::{Address, CompressedPublicKey, Network};
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let pk = CompressedPublicKey(key.public_key(&Secp256k1::new()));
    Address::p2wpkh(&pk, Network::Regtest).to_string()
}

/// The node id of [`foreign_invoice`]'s key.
fn foreign_node_id() -> String {
    use boltd_node::deps::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    PublicKey::from_secret_key(&Secp256k1::new(), &key).to_string()
}

/// A storage failure (another process holds the database's write lock longer than the store's
/// busy timeout, so recording the payment's intent fails) is answered 500 with the stable code
/// `storage_error` in every dialect, never as a payment failure, and nothing is recorded or sent.
#[test]
fn a_storage_failure_is_a_500_storage_error_not_a_payment_failure() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", dir.path(), &chain, boltd_harness::free_port()?)?;
    let invoice = foreign_invoice(Some(10_000), 3600);

    let db = rusqlite::Connection::open(dir.path().join(boltd_store::DB_FILE_NAME)).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let body = |field: &str| serde_json::json!({ field: invoice }).to_string();
    let native = send(&a, "POST", "/api/v1/lightning/pay", Some(&body("destination")));
    let cln = send(&a, "POST", "/v1/pay", Some(&body("bolt11")));
    let alby = send(&a, "POST", "/payments/bolt11", Some(&body("invoice")));
    db.execute_batch("ROLLBACK").unwrap();

    let (status, _, v) = native;
    assert_eq!((status, v["code"].as_str()), (500, Some("storage_error")), "native: {v}");
    assert!(v["message"].as_str().unwrap().contains("not a payment outcome"), "native: {v}");
    assert!(!v.to_string().contains("locked"), "native: the detail stays in the log: {v}");
    let (status, _, v) = cln;
    assert_eq!((status, v["code"].as_i64()), (500, Some(-1)), "cln: {v}");
    assert_eq!(v["data"]["error"], "storage_error", "cln: {v}");
    let (status, _, v) = alby;
    assert_eq!((status, v["code"].as_i64(), v["error"].as_bool()), (500, Some(6), Some(true)));

    // The store works again, and no payment was recorded (so none was sent).
    let history = a.get("/api/v1/payments").unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(0), "{history}");
    Ok(())
}
