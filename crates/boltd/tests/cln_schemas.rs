//! Core Lightning REST conformance: every Core Lightning method boltd serves (`POST /v1/<method>`)
//! is driven on real nodes, and each request and each answer is validated against Core
//! Lightning's own JSON schema of the method (`tests/reference/cln-schemas/<method>.json`,
//! Core Lightning's types mapped onto JSON Schema by `cln_schema/`). Answers are clnrest's: 201
//! with the method's result object, or an error object `{code, message, data}` (500 for an RPC
//! error, as clnrest answers them). Every request field boltd declares for a method (its OpenAPI
//! request body) must be a field of the method's request schema.

#[path = "cln_schema/mod.rs"]
mod cln_schema;

use std::time::Duration;

use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use cln_schema::{Schemas, SERVED};
use serde_json::{json, Value};

/// One call of a Core Lightning method, checked: the request against the method's request
/// schema before it is sent (unless it is meant to be bad), and the answer (201: the response
/// schema; otherwise clnrest's error object). Returns the status and the body.
fn call(s: &Schemas, n: &TestNode, method: &str, params: Value, bad: bool) -> (u16, Value) {
    if !bad {
        s.check_request(method, &params);
    }
    let res = ureq::post(&format!("{}/v1/{method}", n.api_url))
        .timeout(Duration::from_secs(120))
        .set("rune", n.admin_token())
        .set("Content-Type", "application/json")
        .send_string(&params.to_string());
    let (status, text) = match res {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method}: {e}"),
    };
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {params}: the answer is not JSON ({e}): {text}"));
    if status == 201 {
        s.check_response(method, &body);
    } else {
        cln_schema::check_error(method, status, &body);
    }
    (status, body)
}

/// A call that must succeed (201, schema-valid); returns the result.
fn ok(schemas: &Schemas, n: &TestNode, method: &str, params: Value) -> Value {
    let (status, body) = call(schemas, n, method, params.clone(), false);
    assert_eq!(status, 201, "{method} {params}: {body}");
    body
}

/// A call that must fail with `code` (its request may break the schema); returns the error
/// object.
fn err(schemas: &Schemas, n: &TestNode, method: &str, params: Value, code: i64) -> Value {
    let (status, body) = call(schemas, n, method, params.clone(), true);
    assert_ne!(status, 201, "{method} {params} should fail: {body}");
    assert_eq!(body["code"], code, "{method} {params}: {body}");
    body
}

#[test]
fn request_fields_are_core_lightnings() {
    let schemas = Schemas::load();
    let doc: Value = serde_json::from_str(&boltd_api::openapi_json()).unwrap();
    let mut served = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(method) = path.strip_prefix("/v1/") else { continue };
        served.push(method.to_string());
        let fields = cln_schema::request_fields(&doc, &item["post"]);
        if method == "pay" {
            assert!(fields.contains(&"bolt11".to_string()), "pay's fields are found: {fields:?}");
        }
        let allowed = schemas.request_properties(method);
        for f in &fields {
            assert!(
                allowed.contains(f),
                "`{method}` accepts `{f}`, which Core Lightning's request schema does not have \
                 (it has {allowed:?})"
            );
        }
    }
    served.sort();
    let mut expected: Vec<String> = SERVED.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(served, expected, "the methods served are the ones this test drives");
}

#[test]
fn answers_validate_against_core_lightnings_schemas() -> Result<(), HarnessError> {
    let s = Schemas::load();
    let btc = Bitcoind::start()?;
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainAccess::from(&btc);
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 200_000_000, &[&a, &b])?;
    a.wait_for_route(&b, 1_000)?;
    b.wait_for_route(&a, 1_000)?;
    mine_and_sync(&btc, 1, &[&a, &b])?;

    // listpeerchannels: all, by peer; a bad filter is refused.
    let chans = ok(&s, &a, "listpeerchannels", json!({}));
    assert_eq!(chans["channels"].as_array().unwrap().len(), 1, "{chans}");
    let ch = &chans["channels"][0];
    assert_eq!(ch["peer_id"], b.node_id.as_str(), "{ch}");
    assert_eq!(
        (ch["opener"].clone(), ch["state"].clone()),
        (json!("local"), json!("CHANNELD_NORMAL"))
    );
    assert_eq!(ch["total_msat"], 1_000_000_000, "{ch}");
    let scid = ch["short_channel_id"].clone();
    let by_scid = ok(&s, &b, "listpeerchannels", json!({ "short_channel_id": scid }));
    assert_eq!(by_scid["channels"][0]["opener"], "remote", "{by_scid}");
    assert_ne!(by_scid["channels"][0]["direction"], ch["direction"], "each side its direction");
    let none = ok(&s, &a, "listpeerchannels", json!({ "id": a.node_id }));
    assert_eq!(none["channels"], json!([]), "no channel with ourselves");
    err(&s, &a, "listpeerchannels", json!({ "id": "02nonsense" }), -32602);
    err(&s, &a, "listpeerchannels", json!({ "id": b.node_id, "short_channel_id": scid }), -32602);

    // getinfo, listfunds: no parameters.
    let info = ok(&s, &a, "getinfo", json!({}));
    assert_eq!(info["id"], a.node_id.as_str());
    let funds = ok(&s, &a, "listfunds", json!({}));
    assert_eq!(funds["channels"].as_array().unwrap().len(), 1, "{funds}");
    assert!(!funds["outputs"].as_array().unwrap().is_empty(), "{funds}");
    err(&s, &a, "getinfo", json!({ "nonsense": 1 }), -32602);

    // invoice, in its forms; listinvoices before payment.
    let inv =
        ok(&s, &b, "invoice", json!({ "amount_msat": 50_000, "label": "one", "description": "d" }));
    ok(
        &s,
        &b,
        "invoice",
        json!({ "amount_msat": "any", "label": 7, "description": "any", "expiry": 60 }),
    );
    ok(
        &s,
        &b,
        "invoice",
        json!({ "amount_msat": "2sat", "label": "dh", "description": "hashed", "deschashonly": true,
                "preimage": "11".repeat(32) }),
    );
    err(&s, &b, "invoice", json!({ "amount_msat": 1, "label": "one", "description": "d" }), 900);
    let listed = ok(&s, &b, "listinvoices", json!({ "label": "one" }));
    assert_eq!(listed["invoices"][0]["status"], "unpaid", "{listed}");
    ok(&s, &b, "listinvoices", json!({}));
    ok(&s, &b, "listinvoices", json!({ "index": "created", "start": 1, "limit": 2 }));

    // pay; then the invoice is paid, waitanyinvoice answers it, listpays lists it.
    let paid = ok(&s, &a, "pay", json!({ "bolt11": inv["bolt11"], "maxfeepercent": 1 }));
    assert_eq!(paid["status"], "complete", "{paid}");
    err(&s, &a, "pay", json!({ "bolt11": "lnbcrt1nonsense" }), -32602);
    let one = wait_until(
        "bob to list `one` as paid",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let v = ok(&s, &b, "listinvoices", json!({ "payment_hash": inv["payment_hash"] }));
            Ok((v["invoices"][0]["status"] == "paid").then(|| v["invoices"][0].clone()))
        },
    )?;
    assert_eq!(one["payment_preimage"], paid["payment_preimage"]);
    let any = ok(&s, &b, "waitanyinvoice", json!({ "lastpay_index": 0, "timeout": 10 }));
    assert_eq!(any["payment_hash"], inv["payment_hash"], "{any}");
    err(&s, &b, "waitanyinvoice", json!({ "lastpay_index": any["pay_index"], "timeout": 0 }), 904);
    let pays = ok(&s, &a, "listpays", json!({ "payment_hash": inv["payment_hash"] }));
    assert_eq!(pays["pays"][0]["status"], "complete", "{pays}");
    ok(&s, &a, "listpays", json!({}));
    invoices_by_label(&s, &a, &b, &paid, &any)?;

    // A payment that fails at the destination: a canceled invoice (203).
    let (canceled, hash) = b.invoice(3, "to be canceled")?;
    b.delete(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    let e = err(&s, &a, "pay", json!({ "bolt11": canceled }), 203);
    // Core Lightning's failures, from the persisted parts: the payee (index 1, our peer) failed
    // it with incorrect_or_unknown_payment_details (0x400f).
    let last = &e["data"]["failures"][0];
    assert_eq!(last["erring_index"], 1, "{e}");
    assert_eq!(last["erring_node"], b.node_id.as_str(), "{e}");
    assert_eq!(last["failcode"], 0x400f, "{e}");
    assert!(last["erring_channel"].is_string(), "{e}");
    assert_eq!(e["data"]["failcode"], 0x400f, "{e}");
    assert_eq!(e["data"]["sendpay_tries"], e["data"]["failures"].as_array().map(Vec::len).unwrap());
    let linked = json!({ "bolt11": inv["bolt11"], "localinvreqid": "00".repeat(32) });
    let e = err(&s, &a, "pay", linked, -32602);
    assert!(e["message"].as_str().unwrap().contains("localinvreqid"), "{e}");
    let failed = ok(&s, &a, "listpays", json!({ "status": "failed" }));
    assert_eq!(failed["pays"][0]["status"], "failed", "{failed}");

    // listsendpays: one entry per part, the complete one with its preimage, the failed one's
    // part failed.
    let parts = ok(&s, &a, "listsendpays", json!({ "payment_hash": inv["payment_hash"] }));
    let parts = parts["payments"].as_array().unwrap().clone();
    assert!(
        parts.iter().any(|p| p["status"] == "complete"
            && p["payment_preimage"] == paid["payment_preimage"]
            && p["amount_msat"] == 50_000),
        "{parts:?}"
    );
    let failed = ok(&s, &a, "listsendpays", json!({ "payment_hash": hash, "status": "failed" }));
    let failed = failed["payments"].as_array().unwrap().clone();
    assert!(!failed.is_empty(), "the refused payment's part is listed as failed");
    assert!(failed.iter().all(|p| p["status"] == "failed" && p["payment_hash"] == hash.as_str()));
    let all = ok(&s, &a, "listsendpays", json!({}));
    let ids: Vec<u64> = all["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["created_index"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "by created_index: {ids:?}");
    let paged =
        ok(&s, &a, "listsendpays", json!({ "index": "created", "start": ids[1], "limit": 1 }));
    assert_eq!(paged["payments"][0]["created_index"], ids[1], "{paged}");
    assert_eq!(paged["payments"].as_array().unwrap().len(), 1, "{paged}");
    let both = json!({ "bolt11": inv["bolt11"], "payment_hash": inv["payment_hash"] });
    err(&s, &a, "listsendpays", both, -32602);
    err(&s, &a, "listsendpays", json!({ "status": "done" }), -32602);

    // keysend, with extra TLVs.
    let ks = ok(
        &s,
        &a,
        "keysend",
        json!({ "destination": b.node_id, "amount_msat": 5_000, "extratlvs": { "65537": "cafe" } }),
    );
    assert_eq!(ks["status"], "complete", "{ks}");

    // decode: an invoice and an offer.
    let d = ok(&s, &a, "decode", json!({ "string": inv["bolt11"] }));
    assert_eq!(d["payment_hash"], inv["payment_hash"]);
    let offer = b
        .post("/api/v1/lightning/offers", json!({ "amount_sat": 3, "description": "an offer" }))
        .unwrap();
    let d = ok(&s, &a, "decode", json!({ "string": offer["offer"] }));
    assert_eq!(d["offer_amount_msat"], 3_000, "{d}");
    xpay_and_offers(&s, &a, &b)?;
    wallet_and_signing(&s, &btc, &a, &b)?;
    s.assert_valid();
    Ok(())
}

/// `waitinvoice` and `delinvoice` on `b`'s invoices (`paid`: `a`'s payment of the invoice
/// labeled `one`, `any`: `waitanyinvoice`'s answer for it).
fn invoices_by_label(
    s: &Schemas,
    a: &TestNode,
    b: &TestNode,
    paid: &Value,
    any: &Value,
) -> Result<(), HarnessError> {
    // A paid invoice: at once, with its pay_index.
    let one = ok(s, b, "waitinvoice", json!({ "label": "one" }));
    assert_eq!(
        (one["status"].clone(), one["pay_index"].clone()),
        (json!("paid"), any["pay_index"].clone())
    );
    assert_eq!(one["payment_preimage"], paid["payment_preimage"]);
    // An unpaid one: answered once it is paid.
    let wait =
        ok(s, b, "invoice", json!({ "amount_msat": 4_000, "label": "wait", "description": "w" }));
    let (url, token) = (format!("{}/v1/waitinvoice", b.api_url), b.admin_token().to_string());
    let waiter = std::thread::spawn(move || {
        let r = ureq::post(&url).set("rune", &token).send_json(json!({ "label": "wait" }));
        let r = r.unwrap_or_else(|e| panic!("waitinvoice: {e}"));
        (r.status(), r.into_json::<Value>().unwrap())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!waiter.is_finished(), "waitinvoice waits while the invoice is unpaid");
    ok(s, a, "pay", json!({ "bolt11": wait["bolt11"] }));
    let (status, waited) = waiter.join().unwrap();
    assert_eq!(status, 201, "{waited}");
    s.check_response("waitinvoice", &waited);
    assert_eq!((waited["label"].clone(), waited["status"].clone()), (json!("wait"), json!("paid")));
    // One that expires while waited for: 903; an unknown label: -1.
    ok(
        s,
        b,
        "invoice",
        json!({ "amount_msat": 1_000, "label": "soon", "description": "s", "expiry": 2 }),
    );
    err(s, b, "waitinvoice", json!({ "label": "soon" }), 903);
    err(s, b, "waitinvoice", json!({ "label": "no such label" }), -1);
    err(s, b, "waitinvoice", json!({}), -32602);

    // delinvoice: only with the status it has (906 names both), then it is gone (905) and its
    // label free.
    let e = err(s, b, "delinvoice", json!({ "label": "one", "status": "unpaid" }), 906);
    assert_eq!(e["data"], json!({ "current_status": "paid", "expected_status": "unpaid" }));
    let del = ok(s, b, "delinvoice", json!({ "label": "one", "status": "paid" }));
    assert_eq!((del["label"].clone(), del["status"].clone()), (json!("one"), json!("paid")));
    let listed = ok(s, b, "listinvoices", json!({ "label": "one" }));
    assert_eq!(listed["invoices"], json!([]), "{listed}");
    let by_hash = ok(s, b, "listinvoices", json!({ "payment_hash": del["payment_hash"] }));
    assert_eq!(by_hash["invoices"], json!([]), "{by_hash}");
    err(s, b, "delinvoice", json!({ "label": "one", "status": "paid" }), 905);
    ok(s, b, "invoice", json!({ "amount_msat": 1_000, "label": "one", "description": "again" }));
    ok(s, b, "delinvoice", json!({ "label": "soon", "status": "expired" }));
    // An unpaid invoice deleted can no longer be paid: the payee refuses it (203).
    let gone =
        ok(s, b, "invoice", json!({ "amount_msat": 2_000, "label": "gone", "description": "g" }));
    let del = ok(s, b, "delinvoice", json!({ "label": "gone", "status": "unpaid" }));
    assert_eq!(del["status"], "unpaid", "{del}");
    err(s, a, "pay", json!({ "bolt11": gone["bolt11"] }), 203);
    err(s, b, "delinvoice", json!({ "label": "x", "status": "gone" }), -32602);
    err(s, b, "delinvoice", json!({ "label": "wait", "status": "paid", "desconly": true }), -32602);
    Ok(())
}

/// A raw call with an `Idempotency-Key` (which `call` does not send): status and body.
fn call_with_key(n: &TestNode, method: &str, params: &Value, key: &str) -> (u16, Value) {
    let res = ureq::post(&format!("{}/v1/{method}", n.api_url))
        .set("rune", n.admin_token())
        .set("Idempotency-Key", key)
        .send_json(params.clone());
    match res {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{method}: {e}"),
    }
}

/// `newaddr`, `withdraw` (`a` funded, `b` not), `signmessage`, `checkmessage`.
fn wallet_and_signing(
    s: &Schemas,
    btc: &Bitcoind,
    a: &TestNode,
    b: &TestNode,
) -> Result<(), HarnessError> {
    let addr = ok(s, b, "newaddr", json!({}));
    let to_b = addr["bech32"].as_str().unwrap().to_string();
    assert!(to_b.starts_with("bcrt1q"), "{addr}");
    let again = ok(s, b, "newaddr", json!({ "addresstype": "bech32" }));
    assert_ne!(again["bech32"], addr["bech32"], "a new address each time");
    err(s, b, "newaddr", json!({ "addresstype": "p2tr" }), -32602);

    // A withdrawal: broadcast (in bitcoind's mempool), its transaction and PSBT answered.
    let w = json!({ "destination": to_b, "satoshi": 20_000, "feerate": "2000perkb" });
    let sent = ok(s, a, "withdraw", w.clone());
    let txid = sent["txid"].as_str().unwrap().to_string();
    let mempool: Vec<String> = btc.get_raw_mempool()?.iter().map(|t| t.to_string()).collect();
    assert!(mempool.contains(&txid), "{txid} is broadcast");
    assert!(sent["tx"].as_str().unwrap().len() > 100 && !sent["psbt"].as_str().unwrap().is_empty());
    // With an Idempotency-Key, asking again answers the same transaction (never pays twice).
    // a's only confirmed coin was spent by the first: this one spends its unconfirmed change.
    let keyed =
        json!({ "destination": to_b, "satoshi": "15000sat", "feerate": 3 * 250, "minconf": 0 });
    let (st1, first) = call_with_key(a, "withdraw", &keyed, "withdraw-1");
    let (st2, second) = call_with_key(a, "withdraw", &keyed, "withdraw-1");
    assert_eq!((st1, st2), (201, 201), "{first} {second}");
    s.check_response("withdraw", &first);
    assert_eq!(first["txid"], second["txid"], "the same send");
    assert_ne!(first["txid"], sent["txid"]);
    // Refused before anything is sent: more than the wallet has (301), bad parameters.
    err(s, a, "withdraw", json!({ "destination": to_b, "satoshi": 2_000_000_000_000_u64 }), 301);
    err(s, a, "withdraw", json!({ "destination": to_b, "satoshi": 1_000, "minconf": 3 }), -32602);
    let utxos = json!({ "destination": to_b, "satoshi": 1_000, "utxos": [format!("{txid}:0")] });
    err(s, a, "withdraw", utxos, -32602);
    err(s, a, "withdraw", json!({ "destination": "nonsense", "satoshi": 1_000 }), -32602);
    err(
        s,
        a,
        "withdraw",
        json!({ "destination": to_b, "satoshi": 1_000, "feerate": "fast-ish" }),
        -32602,
    );
    // b's coins are unconfirmed: "all" of confirmed coins (minconf 1, the default) cannot be
    // afforded; with minconf 0 it drains them.
    wait_until(
        "b's wallet to see the withdrawals",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let f = ok(s, b, "listfunds", json!({}));
            Ok((f["outputs"].as_array().unwrap().len() >= 2).then_some(()))
        },
    )?;
    let to_a = ok(s, a, "newaddr", json!({}))["bech32"].clone();
    err(s, b, "withdraw", json!({ "destination": to_a, "satoshi": "all" }), 301);
    let all =
        json!({ "destination": to_a, "satoshi": "all", "minconf": 0, "feerate": "2000perkb" });
    ok(s, b, "withdraw", all);

    // signmessage on a; checkmessage on b, by pubkey and by a known node.
    let signed = ok(s, a, "signmessage", json!({ "message": "boltd" }));
    let zbase = signed["zbase"].clone();
    let by_key = json!({ "message": "boltd", "zbase": zbase, "pubkey": a.node_id });
    let checked = ok(s, b, "checkmessage", by_key);
    assert_eq!(
        (checked["verified"].clone(), checked["pubkey"].clone()),
        (json!(true), json!(a.node_id))
    );
    let known = ok(s, b, "checkmessage", json!({ "message": "boltd", "zbase": zbase }));
    assert_eq!(known["pubkey"], a.node_id.as_str(), "{known}");
    // Another key, another message, a key nobody knows (LDK's test vector, key 1), garbage.
    err(
        s,
        b,
        "checkmessage",
        json!({ "message": "boltd", "zbase": zbase, "pubkey": b.node_id }),
        -32602,
    );
    let other = json!({ "message": "boltd!", "zbase": zbase, "pubkey": a.node_id });
    err(s, b, "checkmessage", other, -32602);
    let unknown = "d9tibmnic9t5y41hg7hkakdcra94akas9ku3rmmj4ag9mritc8ok4p5qzefs78c9pqfhpuftqqzhydbdwfg7u6w6wdxcqpqn4sj4e73e";
    err(s, b, "checkmessage", json!({ "message": "test message", "zbase": unknown }), 1301);
    err(s, b, "checkmessage", json!({ "message": "boltd", "zbase": "not zbase" }), -32602);
    err(s, a, "signmessage", json!({}), -32602);
    Ok(())
}

/// `xpay` (of `b`'s invoices, by `a`), `offer` and `fetchinvoice`.
fn xpay_and_offers(s: &Schemas, a: &TestNode, b: &TestNode) -> Result<(), HarnessError> {
    let inv =
        ok(s, b, "invoice", json!({ "amount_msat": 6_000, "label": "x1", "description": "x" }));
    let paid = ok(s, a, "xpay", json!({ "invstring": inv["bolt11"], "maxfee": "5sat" }));
    assert_eq!(
        (paid["amount_msat"].clone(), paid["failed_parts"].clone()),
        (json!(6_000), json!(0))
    );
    assert!(paid["successful_parts"].as_u64().unwrap() >= 1, "{paid}");
    let listed = ok(s, b, "listinvoices", json!({ "label": "x1" }));
    assert_eq!(listed["invoices"][0]["payment_preimage"], paid["payment_preimage"]);
    // Asked again: the same payment, not a second one.
    let again = ok(s, a, "xpay", json!({ "invstring": inv["bolt11"] }));
    assert_eq!(again["payment_preimage"], paid["payment_preimage"]);
    let sends = ok(s, a, "listsendpays", json!({ "bolt11": inv["bolt11"], "status": "complete" }));
    assert_eq!(sends["payments"].as_array().unwrap().len(), 1, "paid once: {sends}");
    let any =
        ok(s, b, "invoice", json!({ "amount_msat": "any", "label": "x2", "description": "x" }));
    let paid = ok(s, a, "xpay", json!({ "invstring": any["bolt11"], "amount_msat": "7sat" }));
    assert_eq!(paid["amount_msat"], 7_000, "{paid}");
    // Refused at the destination (203); what boltd does not support, before anything is sent.
    let (canceled, hash) = b.invoice(5, "xpay canceled")?;
    b.delete(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    let e = err(s, a, "xpay", json!({ "invstring": canceled }), 203);
    assert!(e["data"]["failures"].as_array().is_some_and(|f| !f.is_empty()), "{e}");
    let fresh =
        ok(s, b, "invoice", json!({ "amount_msat": 1_000, "label": "x3", "description": "x" }));
    for (k, v) in [("layers", json!(["a layer"])), ("partial_msat", json!(500))] {
        let mut req = json!({ "invstring": fresh["bolt11"] });
        req[k] = v;
        err(s, a, "xpay", req, -32602);
    }
    err(s, a, "xpay", json!({ "invstring": "lni1qqnonsense" }), -32602);
    err(s, a, "xpay", json!({}), -32602);

    // offer: with an amount and without; decoded back; what is not stored is refused.
    let offer = ok(s, b, "offer", json!({ "amount": "3sat", "description": "an offer" }));
    assert!(offer["bolt12"].as_str().unwrap().starts_with("lno1"), "{offer}");
    let d = ok(s, a, "decode", json!({ "string": offer["bolt12"] }));
    assert_eq!(
        (d["offer_amount_msat"].clone(), d["offer_id"].clone()),
        (json!(3_000), offer["offer_id"].clone())
    );
    ok(s, b, "offer", json!({ "amount": "any", "description": "tips" }));
    err(s, b, "offer", json!({ "amount": 1_000, "description": "d", "label": "l" }), -32602);
    err(s, b, "offer", json!({ "amount": "USD", "description": "d" }), -32602);
    err(s, b, "offer", json!({ "amount": 1_000, "description": "d", "single_use": true }), -32602);
    err(s, b, "offer", json!({ "description": "no amount" }), -32602);
    // fetchinvoice: refused, saying why (the node fetches an invoice only to pay it).
    let e = err(s, a, "fetchinvoice", json!({ "offer": offer["bolt12"] }), -32601);
    assert!(e["message"].as_str().unwrap().contains("not supported"), "{e}");
    Ok(())
}
