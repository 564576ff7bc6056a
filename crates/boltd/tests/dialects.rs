//! The Core Lightning dialect's methods and barkd's remaining endpoints, on real nodes and a
//! real regtest chain: CLN `invoice` label uniqueness, `listinvoices` status transitions
//! (unpaid -> paid, expired), `listpays` after a payment, `decode` of a description-hash
//! invoice and an offer, `keysend` with extratlvs, `getinfo`; barkd's message sign/verify,
//! send-many, wallet sync, fee endpoints, metadata merge patch, movements, the barkd spec's
//! fields on receives/sends/balances, and the synchronous pay mode returning `pending` for a
//! held payment.

use std::time::{Duration, Instant};

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, fund, line_of_three, mine_and_sync, open_channel, wait_until, ApiFailure, Bitcoind,
    ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

fn start(
    names: &[&str],
    dir: &std::path::Path,
    btc: &Bitcoind,
) -> Result<Vec<TestNode>, HarnessError> {
    let chain = ChainAccess::from(btc);
    names
        .iter()
        .map(|n| TestNode::start_in_process(n, &dir.join(n), &chain, free_port()?))
        .collect()
}

fn spendable_msat(n: &TestNode) -> u64 {
    n.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap()
}

fn history(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha256::Hash::hash(b).to_byte_array())
}

/// A POST whose status matters (the harness only tells failures from successes).
fn post_status(n: &TestNode, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let res = ureq::post(&format!("{}{path}", n.api_url))
        .timeout(Duration::from_secs(120))
        .set("Authorization", &format!("Bearer {}", n.admin_token()))
        .set("Content-Type", content_type)
        .send_string(body);
    let (status, text) = match res {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{path}: {e}"),
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn cln(n: &TestNode, method: &str, params: Value) -> Result<Value, ApiFailure> {
    n.post(&format!("/v1/{method}"), params)
}

fn cln_err(n: &TestNode, method: &str, params: Value) -> ApiFailure {
    match cln(n, method, params.clone()) {
        Ok(v) => panic!("{method} {params} should fail, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn core_lightning_methods() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&["alice", "bob", "carol"], dir.path(), &btc)?;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let height = line_of_three(&btc, [a, b, c], 2_000_000, 0)?;

    // getinfo (an empty body is no parameters).
    let (status, info) = post_status(a, "/v1/getinfo", "application/json", "");
    assert_eq!(status, 201, "clnrest answers a result with 201: {info}");
    assert_eq!(info["id"], a.node_id.as_str());
    assert_eq!(info["network"], "regtest");
    assert_eq!(info["num_active_channels"], 1);
    assert_eq!(info["num_pending_channels"], 0);
    assert!(info["num_peers"].as_u64().unwrap() >= 1);
    assert!(info["blockheight"].as_u64().unwrap() >= height as u64, "{info}");
    assert_eq!(info["binding"][0]["port"], a.p2p_addr.port());
    assert_eq!(cln_err(a, "getinfo", json!({ "x": 1 })).body["code"], -32602);

    // invoice: labels are unique, whatever the other parameters.
    let inv = cln(
        c,
        "invoice",
        json!({ "amount_msat": 50_000, "label": "order-1", "description": "cln one" }),
    )
    .unwrap();
    let bolt11 = inv["bolt11"].as_str().unwrap().to_string();
    let hash = inv["payment_hash"].as_str().unwrap().to_string();
    assert_eq!(inv["payment_secret"].as_str().unwrap().len(), 64, "{inv}");
    let week_later =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            + 604_000;
    assert!(inv["expires_at"].as_u64().unwrap() > week_later, "a week by default: {inv}");
    for again in [
        json!({ "amount_msat": 50_000, "label": "order-1", "description": "cln one" }),
        json!({ "amount_msat": "7sat", "label": "order-1", "description": "other" }),
    ] {
        let err = cln_err(c, "invoice", again);
        assert_eq!(err.body["code"], 900, "{err}");
        assert!(err.body["message"].as_str().unwrap().contains("order-1"), "{err}");
    }
    // A numeric label is its text; "any" makes an any-amount invoice.
    let numeric =
        cln(c, "invoice", json!({ "amount_msat": "any", "label": 42, "description": "n" }))
            .unwrap();
    assert_eq!(
        cln_err(c, "invoice", json!({ "amount_msat": 1, "label": "42", "description": "n" })).body
            ["code"],
        900
    );
    // Bad input: named, nothing created.
    let before = cln(c, "listinvoices", json!({})).unwrap()["invoices"].as_array().unwrap().len();
    for (params, word) in [
        (json!({ "amount_msat": 1000, "label": "x" }), "description"),
        (json!({ "label": "x", "description": "d" }), "amount_msat"),
        (json!({ "amount_msat": 1000, "description": "d" }), "label"),
        (json!({ "amount_msat": "12parsecs", "label": "x", "description": "d" }), "amount_msat"),
        (
            json!({ "amount_msat": 1000, "label": "x", "description": "d", "preimage": "00" }),
            "preimage",
        ),
        (
            json!({ "amount_msat": 1000, "label": "x", "description": "d", "colour": "red" }),
            "colour",
        ),
    ] {
        let err = cln_err(c, "invoice", params.clone());
        assert_eq!(err.body["code"], -32602, "{params}: {err}");
        assert!(err.body["message"].as_str().unwrap().contains(word), "{params}: {err}");
    }
    let after = cln(c, "listinvoices", json!({})).unwrap()["invoices"].as_array().unwrap().len();
    assert_eq!(before, after, "bad invoices were not created");

    // listinvoices: unpaid, then paid with its preimage.
    let listed = cln(c, "listinvoices", json!({ "label": "order-1" })).unwrap();
    let one = &listed["invoices"][0];
    assert_eq!(one["status"], "unpaid", "{listed}");
    assert_eq!(one["label"], "order-1");
    assert_eq!(one["amount_msat"], 50_000);
    assert_eq!(one["bolt11"], bolt11.as_str());
    assert!(one.get("payment_preimage").is_none(), "no preimage before payment: {one}");
    let paid = cln(a, "pay", json!({ "bolt11": bolt11, "label": "pay-order-1" })).unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    let one = wait_until(
        "C to list order-1 as paid",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let v = cln(c, "listinvoices", json!({ "payment_hash": hash })).unwrap();
            Ok((v["invoices"][0]["status"] == "paid").then(|| v["invoices"][0].clone()))
        },
    )?;
    assert_eq!(one["amount_received_msat"], 50_000, "{one}");
    assert_eq!(one["payment_preimage"], paid["payment_preimage"]);
    assert!(one["paid_at"].as_u64().unwrap() > 0);
    assert_eq!(
        cln(c, "listinvoices", json!({ "invstring": bolt11 })).unwrap()["invoices"][0]["label"],
        "order-1"
    );

    // Expired: a one-second invoice.
    let short = cln(
        c,
        "invoice",
        json!({ "amount_msat": 1000, "label": "short", "description": "s", "expiry": 1 }),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let listed = cln(c, "listinvoices", json!({ "label": "short" })).unwrap();
    assert_eq!(listed["invoices"][0]["status"], "expired", "{listed}");
    assert_eq!(listed["invoices"][0]["payment_hash"], short["payment_hash"]);
    // Paying it is refused before anything is sent (207).
    assert_eq!(cln_err(a, "pay", json!({ "bolt11": short["bolt11"] })).body["code"], 207);

    // All invoices in creation order; start and limit page through them.
    let all = cln(c, "listinvoices", json!({})).unwrap()["invoices"].as_array().unwrap().clone();
    let idx: Vec<u64> = all.iter().map(|i| i["created_index"].as_u64().unwrap()).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{idx:?}");
    assert!(all.iter().any(|i| i["payment_hash"] == numeric["payment_hash"]));
    let page =
        cln(c, "listinvoices", json!({ "index": "created", "start": idx[1], "limit": 2 })).unwrap();
    let page: Vec<u64> = page["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["created_index"].as_u64().unwrap())
        .collect();
    assert_eq!(page, idx[1..3]);
    assert_eq!(
        cln_err(c, "listinvoices", json!({ "label": "a", "payment_hash": hash })).body["code"],
        -32602
    );
    assert!(cln(c, "listinvoices", json!({ "label": "nope" })).unwrap()["invoices"]
        .as_array()
        .unwrap()
        .is_empty());

    // listpays after the payment.
    let pays = cln(a, "listpays", json!({})).unwrap()["pays"].as_array().unwrap().clone();
    let p =
        pays.iter().find(|p| p["payment_hash"] == hash.as_str()).expect("the payment is listed");
    assert_eq!(p["status"], "complete");
    assert_eq!(p["preimage"], paid["payment_preimage"]);
    assert_eq!(p["amount_msat"], 50_000);
    assert_eq!(p["amount_sent_msat"], paid["amount_sent_msat"]);
    assert_eq!(p["destination"], c.node_id.as_str());
    assert_eq!(p["bolt11"], bolt11.as_str());
    assert_eq!(p["label"], "pay-order-1");
    let by_bolt11 = cln(a, "listpays", json!({ "bolt11": bolt11 })).unwrap();
    assert_eq!(by_bolt11["pays"].as_array().unwrap().len(), 1, "{by_bolt11}");
    let failed = cln(a, "listpays", json!({ "status": "failed" })).unwrap();
    assert!(failed["pays"].as_array().unwrap().iter().all(|p| p["status"] == "failed"));
    assert!(failed["pays"].as_array().unwrap().iter().all(|p| p["payment_hash"] != hash.as_str()));
    assert_eq!(cln_err(a, "listpays", json!({ "status": "done" })).body["code"], -32602);
    assert_eq!(cln_err(a, "listpays", json!({ "payment_hash": "abc" })).body["code"], -32602);

    // decode: a description-hash invoice (deschashonly) and an offer.
    let description = "a description too long to carry, committed to by its hash";
    let dh = cln(c, "invoice", json!({ "amount_msat": 2000, "label": "dh", "description": description, "deschashonly": true }))
        .unwrap();
    let d = cln(a, "decode", json!({ "string": dh["bolt11"] })).unwrap();
    assert_eq!(d["type"], "bolt11 invoice", "{d}");
    assert_eq!(d["valid"], true);
    assert_eq!(d["description_hash"], sha256_hex(description.as_bytes()));
    assert!(d.get("description").is_none(), "{d}");
    assert_eq!(d["payee"], c.node_id.as_str());
    assert_eq!(d["amount_msat"], 2000);
    assert_eq!(d["currency"], "bcrt");
    assert_eq!(d["payment_hash"], dh["payment_hash"]);
    assert_eq!(d["payment_secret"], dh["payment_secret"]);
    assert_eq!(d["expiry"], 604_800);
    // C still knows the description it committed to.
    let listed = cln(c, "listinvoices", json!({ "label": "dh" })).unwrap();
    assert_eq!(listed["invoices"][0]["description"], description);
    // The payer needs the description to pay it, as with Core Lightning.
    let ok = cln(a, "pay", json!({ "bolt11": dh["bolt11"], "description": description })).unwrap();
    assert_eq!(ok["status"], "complete", "{ok}");
    let offer = c
        .post("/api/v1/lightning/offers", json!({ "amount_sat": 3, "description": "an offer" }))
        .unwrap();
    let d = cln(a, "decode", json!({ "string": offer["offer"] })).unwrap();
    assert_eq!(d["type"], "bolt12 offer", "{d}");
    assert_eq!(d["offer_amount_msat"], 3000);
    assert_eq!(d["offer_description"], "an offer");
    assert_eq!(cln_err(a, "decode", json!({ "string": "lnbcrt1nonsense" })).body["code"], -32602);
    assert_eq!(cln_err(a, "decode", json!({})).body["code"], -32602);

    // keysend with extratlvs (hex values) across two hops: the records arrive intact.
    let ks = cln(
        a,
        "keysend",
        json!({
            "destination": c.node_id, "amount_msat": "3sat", "label": "ks-1",
            "extratlvs": { "65537": "cafe", "7629169": hex::encode("{\"boost\":1}") },
        }),
    )
    .unwrap();
    assert_eq!(ks["status"], "complete", "{ks}");
    assert_eq!(ks["amount_msat"], 3000);
    assert_eq!(ks["destination"], c.node_id.as_str());
    let got = wait_until(
        "C to record the keysend",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok(history(c, "incoming").into_iter().find(|p| p["payment_hash"] == ks["payment_hash"])),
    )?;
    let records: Value = serde_json::from_str(got["custom_records"].as_str().unwrap()).unwrap();
    assert_eq!(records["65537"], "cafe");
    assert_eq!(records["7629169"], hex::encode("{\"boost\":1}"));
    let listed = cln(a, "listpays", json!({ "payment_hash": ks["payment_hash"] })).unwrap();
    assert_eq!(listed["pays"][0]["label"], "ks-1", "{listed}");
    // Bad keysends: refused before anything is sent.
    let before = spendable_msat(a);
    for (params, word) in [
        (json!({ "destination": "02abc", "amount_msat": 1000 }), "02abc"),
        (json!({ "destination": c.node_id }), "amount_msat"),
        (json!({ "destination": c.node_id, "amount_msat": 1000, "routehints": [] }), "routehints"),
        (
            json!({ "destination": c.node_id, "amount_msat": 1000, "extratlvs": { "65537": "xyz" } }),
            "hex",
        ),
        (
            json!({ "destination": c.node_id, "amount_msat": 1000, "extratlvs": { "3": "00" } }),
            "reserved",
        ),
        (
            json!({ "destination": c.node_id, "amount_msat": 1000, "maxfee": 1, "exemptfee": 1 }),
            "maxfee",
        ),
    ] {
        let err = cln_err(a, "keysend", params.clone());
        assert_eq!(err.body["code"], -32602, "{params}: {err}");
        assert!(err.body["message"].as_str().unwrap().contains(word), "{params}: {err}");
    }
    assert_eq!(spendable_msat(a), before, "no HTLC may leave on bad input");
    Ok(())
}

#[test]
fn barkd_remaining_endpoints() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&["alice", "bob"], dir.path(), &btc)?;
    let (a, b) = (&nodes[0], &nodes[1]);
    btc.mine(101)?;
    fund(&btc, a, &[b])?;
    open_channel(&btc, a, b, 1_000_000, 0, &[a, b])?;

    // Message signing with the node key, zbase32 (LND/CLN format); verified by another node.
    let message = "boltd signs this";
    let signed = a.post("/api/v1/message/sign", json!({ "message": message })).unwrap();
    let signature = signed["signature"].as_str().unwrap().to_string();
    assert_eq!(signed["pubkey"], a.node_id.as_str());
    assert!(
        signature.bytes().all(|c| "ybndrfg8ejkmcpqxot1uwisza345h769".contains(c as char)),
        "{signature}"
    );
    let v = a
        .post("/api/v1/message/verify", json!({ "message": message, "signature": signature }))
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
    let v = b
        .post(
            "/api/v1/message/verify",
            json!({ "message": message, "signature": signature, "pubkey": a.node_id }),
        )
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["signer"], a.node_id.as_str());
    let v = b
        .post("/api/v1/message/verify", json!({ "message": message, "signature": signature }))
        .unwrap();
    assert_eq!(v["valid"], false, "not B's signature: {v}");
    let v = b
        .post(
            "/api/v1/message/verify",
            json!({ "message": "boltd signs that", "signature": signature, "pubkey": a.node_id }),
        )
        .unwrap();
    assert_eq!(v["valid"], false, "a tampered message must not verify: {v}");
    assert_ne!(v["signer"], a.node_id.as_str());
    let err = b
        .post("/api/v1/message/verify", json!({ "message": message, "signature": "not zbase32!" }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let err = a
        .post("/api/v1/message/sign", json!({ "message": message, "address": "tark1abc" }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("address"), "{err}");

    // Fee endpoints.
    let fees = a.get("/api/v1/fees/onchain").unwrap();
    let (fast, regular, slow) = (
        fees["fast_sat_per_vb"].as_u64().unwrap(),
        fees["regular_sat_per_vb"].as_u64().unwrap(),
        fees["slow_sat_per_vb"].as_u64().unwrap(),
    );
    assert!(fast >= regular && regular >= slow && slow >= 1, "{fees}");
    let rf = a.get("/api/v1/fees/lightning/receive?amount_sat=1500").unwrap();
    assert_eq!(
        (rf["fee_sat"].as_u64(), rf["net_amount_sat"].as_u64()),
        (Some(0), Some(1500)),
        "{rf}"
    );
    assert_eq!(rf["gross_amount_sat"], 1500);
    assert_eq!(a.get("/api/v1/fees/lightning/receive").unwrap_err().status, 400);
    let inv = b.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 2000 })).unwrap();
    let q = a
        .get(&format!(
            "/api/v1/fees/lightning/pay?destination={}",
            inv["invoice"].as_str().unwrap()
        ))
        .unwrap();
    assert_eq!(q["net_amount_sat"], 2000, "{q}");
    assert_eq!(q["gross_amount_sat"].as_u64().unwrap(), 2000 + q["fee_sat"].as_u64().unwrap());
    assert_eq!(q["vtxos_spent"], json!([]));

    // send-many: one transaction, both outputs; bad input refused before signing.
    let (b1, b2) = (b.new_address()?.to_string(), b.new_address()?.to_string());
    let mempool = btc.get_raw_mempool()?.len();
    for (dests, word) in [
        (json!([format!("{b1}:10000"), b2.clone()]), "address:amount"),
        (json!([format!("{b1}:0")]), "positive"),
        (json!([format!("{b1}:ten")]), "ten"),
        (json!(["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:1000"]), "bc1qw508"),
        (json!([]), "empty"),
        (json!([format!("{b1}:999999999999")]), "insufficient"),
    ] {
        let err =
            a.post("/api/v1/onchain/send-many", json!({ "destinations": dests })).unwrap_err();
        assert_eq!(err.status, 400, "{dests}: {err}");
        assert!(err.body["message"].as_str().unwrap().contains(word), "{dests}: {err}");
    }
    assert_eq!(btc.get_raw_mempool()?.len(), mempool, "nothing broadcast on bad input");
    let sent = a
        .post("/api/v1/onchain/send-many", json!({ "destinations": [format!("{b1}:10000"), format!("{b2}:20000")], "immediate": true }))
        .unwrap();
    let txid = sent["txid"].as_str().unwrap().to_string();
    btc.wait_for_tx_in_mempool(&txid.parse().unwrap(), Duration::from_secs(30))?;
    let h = mine_and_sync(&btc, 1, &[a, b])?;
    // sync: answers once a round that started after the call is done.
    let synced = b.post("/api/v1/onchain/sync", json!({})).unwrap();
    assert!(synced["wallet_height"].as_u64().unwrap() >= h as u64, "{synced}");
    let utxos = b.get("/api/v1/onchain/utxos").unwrap();
    let mut got: Vec<u64> = utxos
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["outpoint"].as_str().unwrap().starts_with(&txid))
        .map(|u| u["amount_sat"].as_u64().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [10_000, 20_000], "{utxos}");
    let txs = a.get("/api/v1/onchain/transactions").unwrap();
    let tx = txs.as_array().unwrap().iter().find(|t| t["txid"] == txid.as_str()).unwrap();
    assert!(tx["balance_change_sat"].as_i64().unwrap() <= -30_000, "{tx}");
    assert_eq!(tx["confirmation"]["height"], h);
    assert_eq!(tx["is_cpfp"], false);
    assert!(tx["tx"].as_str().unwrap().len() > 100);

    // A payment, its metadata (RFC 7396 merge patch) and its movement.
    let inv = b
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 4000, "description": "meta" }),
        )
        .unwrap();
    let paid = a.post("/api/v1/lightning/pay", json!({ "destination": inv["invoice"] })).unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    let id = paid["id"].as_i64().unwrap();
    let path = format!("/api/v1/history/{id}/metadata");
    let (s, r) = post_status(
        a,
        &path,
        "application/merge-patch+json",
        r#"{"order": 7, "tags": {"a": 1, "b": 2}}"#,
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) =
        post_status(a, &path, "application/merge-patch+json", r#"{"tags": {"a": null, "c": 3}}"#);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["metadata"], json!({ "order": 7, "tags": { "b": 2, "c": 3 } }));
    assert_eq!(post_status(a, &path, "application/json", "[1, 2]").0, 400);
    assert_eq!(post_status(a, &path, "application/json", "{").0, 400);
    assert_eq!(post_status(a, "/api/v1/history/99999/metadata", "application/json", "{}").0, 404);
    assert_eq!(post_status(a, "/api/v1/history/abc/metadata", "application/json", "{}").0, 400);
    let moves = a.get("/api/v1/wallet/history").unwrap();
    let m = moves
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .expect("the payment as a movement");
    assert_eq!(m["status"], "successful", "{m}");
    assert_eq!(m["intended_balance_sat"], -4000);
    let fee_sat = m["offchain_fee_sat"].as_i64().unwrap();
    assert_eq!(m["effective_balance_sat"].as_i64().unwrap(), -4000 - fee_sat);
    assert_eq!(
        m["sent_to"][0]["destination"],
        json!({ "type": "invoice", "value": inv["invoice"] })
    );
    assert_eq!(m["sent_to"][0]["amount_sat"], 4000);
    assert_eq!(m["metadata"]["order"], 7);
    assert!(m["time"]["created_at"].as_str().unwrap().ends_with('Z'), "{m}");
    for k in ["input_vtxos", "output_vtxos", "exited_vtxos", "received_on"] {
        assert_eq!(m[k], json!([]), "{k}");
    }
    let on_b = b.get("/api/v1/wallet/history").unwrap();
    let r =
        on_b.as_array().unwrap().iter().find(|m| m["payment_hash"] == inv["payment_hash"]).unwrap();
    assert_eq!(r["received_on"][0]["amount_sat"], 4000, "{r}");
    assert_eq!(r["effective_balance_sat"], 4000);

    // barkd's shapes: a send by hash or invoice, a receive.
    let send =
        a.get(&format!("/api/v1/lightning/sends/{}", inv["invoice"].as_str().unwrap())).unwrap();
    assert_eq!(send["state"], "paid", "{send}");
    assert_eq!(send["payment_hash"], inv["payment_hash"]);
    assert_eq!(send["preimage"], paid["preimage"]);
    let recv = b
        .get(&format!("/api/v1/lightning/receives/{}", inv["payment_hash"].as_str().unwrap()))
        .unwrap();
    assert_eq!(recv["amount_sat"], 4000, "{recv}");
    assert_eq!(recv["payment_preimage"], paid["preimage"]);
    assert!(recv["settled_at"].as_str().unwrap().ends_with('Z'), "{recv}");
    assert_eq!((recv["htlc_vtxo_ids"].clone(), recv["htlc_vtxos"].clone()), (json!([]), json!([])));

    // Synchronous mode: a held payment comes back `pending` (202) after wait_secs, not as a
    // failure; the balance shows it in flight; it completes when the payee settles.
    let preimage = sha256::Hash::hash(b"dialects hold").to_byte_array();
    let hold_hash = sha256_hex(&preimage);
    let hold = b
        .post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 3000, "payment_hash": hold_hash }),
        )
        .unwrap();
    let pending_recv = b.get(&format!("/api/v1/lightning/receives/{hold_hash}")).unwrap();
    assert_eq!(pending_recv["payment_preimage"], Value::Null, "no preimage of a pending receive");
    assert_eq!(pending_recv["amount_sat"], 3000);
    let err = a
        .post("/api/v1/lightning/pay", json!({ "destination": hold["invoice"], "wait_secs": 601 }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let started = Instant::now();
    let body = json!({ "destination": hold["invoice"], "wait_secs": 2 }).to_string();
    let (status, r) = post_status(a, "/api/v1/lightning/pay", "application/json", &body);
    let waited = started.elapsed();
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(r["payment_hash"], hold_hash.as_str());
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(30), "{waited:?}");
    let send = a.get(&format!("/api/v1/lightning/sends/{hold_hash}")).unwrap();
    assert_eq!(
        (send["status"].as_str(), send["state"].as_str()),
        (Some("pending"), Some("payment-initiated"))
    );
    let bal = a.get("/api/v1/wallet/balance").unwrap();
    assert_eq!(bal["pending_lightning_send_sat"], 3000, "{bal}");
    for k in [
        "spendable_sat",
        "needs_refresh_sat",
        "claimable_lightning_receive_sat",
        "pending_in_round_sat",
        "pending_board_sat",
        "pending_arkoor_send_sat",
        "pending_offboard_sat",
        "pending_exit_sat",
    ] {
        assert!(bal[k].is_u64(), "{k}: {bal}");
    }
    wait_until("B to hold the HTLC", Duration::from_secs(30), Duration::from_millis(100), || {
        let r = b.get(&format!("/api/v1/lightning/receives/{hold_hash}")).unwrap();
        Ok((r["state"] == "htlcs_arrived").then_some(()))
    })?;
    b.post("/api/v1/lightning/receives/settle", json!({ "preimage": hex::encode(preimage) }))
        .unwrap();
    let done = wait_until(
        "the held payment to complete",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let s = a.get(&format!("/api/v1/lightning/sends/{hold_hash}")).unwrap();
            Ok((s["status"] == "complete").then_some(s))
        },
    )?;
    assert_eq!(done["state"], "paid");
    assert_eq!(done["preimage"], hex::encode(preimage));
    assert_eq!(a.get("/api/v1/wallet/balance").unwrap()["pending_lightning_send_sat"], 0);
    // The same request again answers at once with the final result (200).
    let (status, again) = post_status(a, "/api/v1/lightning/pay", "application/json", &body);
    assert_eq!((status, again["status"].as_str()), (200, Some("complete")), "{again}");
    Ok(())
}
