//! Lightning addresses and LNURL-pay between two daemons over HTTP on loopback: C hosts `carol`
//! (LUD-06/12/16), A pays `carol@127.0.0.1:<C's API port>` through B with barkd's pay endpoint.
//! Plain http is allowed because this is regtest and both set `lnurl_allow_http`.

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use serde_json::{json, Value};

fn history(n: &TestNode, direction: &str) -> Vec<Value> {
    n.get(&format!("/api/v1/payments?direction={direction}")).unwrap().as_array().unwrap().clone()
}

fn lnurl(url: &str) -> String {
    use bitcoin::bech32::{encode, Bech32, Hrp};
    encode::<Bech32>(Hrp::parse("lnurl").unwrap(), url.as_bytes()).unwrap().to_uppercase()
}

/// A loopback webhook endpoint: answers 200 to every request and hands on the JSON bodies.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alby", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
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
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body) {
                let _ = tx.send(v);
            }
        }
    });
    (url, rx)
}

#[test]
fn pay_a_lightning_address_hosted_by_another_daemon() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let allow_http = |args: &mut boltd_config::ConfigLayer| {
        args.lnurl_allow_http = Some(true);
    };
    let a = TestNode::start_in_process_with(
        "alice",
        &dir.path().join("a"),
        &chain,
        free_port()?,
        allow_http,
    )?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process_with(
        "carol",
        &dir.path().join("c"),
        &chain,
        free_port()?,
        |args| {
            args.lnurl_names = Some(vec!["carol".into()]);
            args.lnurl_allow_http = Some(true);
        },
    )?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b, &c])?;
    fund(&btc, &b, &[&a, &c])?;
    open_channel(&btc, &a, &b, 2_000_000, 0, &[&a, &b, &c])?;
    open_channel(&btc, &b, &c, 2_000_000, 0, &[&a, &b, &c])?;
    a.wait_for_gossip(2)?;
    mine_and_sync(&btc, 1, &[&a, &b, &c])?;

    // C serves LUD-06/12/16 for `carol`; the callback and the address follow the Host header
    // (no lnurl_public_url on this regtest node).
    let host = c.api_url.strip_prefix("http://").unwrap().to_string();
    let address = format!("carol@{host}");
    let params = c.get("/.well-known/lnurlp/carol").unwrap();
    let metadata =
        json!([["text/plain", format!("Payment to {address}")], ["text/identifier", address]])
            .to_string();
    assert_eq!(params["tag"], "payRequest");
    assert_eq!(params["callback"], format!("{}/.well-known/lnurlp/carol/callback", c.api_url));
    assert_eq!(params["metadata"], metadata.as_str());
    assert_eq!(params["minSendable"], 1_000);
    assert_eq!(params["maxSendable"], 10_000_000_000u64);
    assert_eq!(params["commentAllowed"], 255);
    let err = c.get("/.well-known/lnurlp/dave").unwrap_err();
    assert_eq!(err.status, 404, "{err}");
    assert_eq!(err.body["status"], "ERROR", "{err}");
    // The callback refuses amounts out of range and long comments (LUD-06 errors).
    let err = c.get("/.well-known/lnurlp/carol/callback?amount=999").unwrap_err();
    assert_eq!((err.status, &err.body["status"]), (400, &json!("ERROR")), "{err}");
    let long = "x".repeat(256);
    let err = c
        .get(&format!("/.well-known/lnurlp/carol/callback?amount=5000&comment={long}"))
        .unwrap_err();
    assert!(err.body["reason"].as_str().unwrap().contains("256 characters"), "{err}");

    // C tells an Alby webhook endpoint of what it is paid.
    let (hook_url, hooked) = webhook_receiver();
    c.post(
        "/webhook_endpoints",
        json!({ "url": hook_url, "filter_types": ["invoice.incoming.settled"] }),
    )
    .unwrap();

    // A pays the address with a comment: complete, through B.
    let comment = "thanks for the coffee ☕ & cake";
    let body = json!({ "destination": address, "amount_sat": 10_000, "comment": comment });
    let paid = a.post_with_key("/api/v1/lightning/pay", body.clone(), "tip-1").unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_eq!(paid["amount_sat"], 10_000);
    assert_eq!(paid["destination"], c.node_id.as_str());
    let hash = paid["payment_hash"].as_str().unwrap().to_string();

    // C's incoming record, for an invoice committing to the metadata.
    let incoming: Vec<Value> = history(&c, "incoming")
        .into_iter()
        .filter(|p| p["payment_hash"] == hash.as_str())
        .collect();
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    assert_eq!(incoming[0]["status"], "complete");
    assert_eq!(incoming[0]["amount_msat"], 10_000_000);
    let receive = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert_eq!(receive["state"], "settled", "{receive}");
    let metadata_hash = hex::encode(sha256::Hash::hash(metadata.as_bytes()).to_byte_array());
    assert_eq!(receive["description_hash"], metadata_hash.as_str());
    // The payer's comment is kept with the receive, and Alby's invoice shows it.
    assert_eq!(receive["payer_note"], comment, "{receive}");
    let shown = c.get(&format!("/invoices/{hash}")).unwrap();
    assert_eq!(shown["comment"], comment);
    // So does the Alby webhook's body, which is that same invoice.
    let delivered = loop {
        let body = hooked.recv_timeout(std::time::Duration::from_secs(60)).expect("a webhook");
        if body["payment_hash"] == hash.as_str() {
            break body;
        }
    };
    assert_eq!(delivered, shown, "the webhook body and GET /invoices/{{hash}} differ");

    // A's record: a BOLT11 payment labelled with the address, the LNURL request in metadata.
    let sent = a.get(&format!("/api/v1/lightning/sends/{hash}")).unwrap();
    assert_eq!(sent["kind"], "bolt11");
    assert_eq!(sent["label"], address.as_str());
    assert_eq!(sent["description"], metadata.as_str());
    assert_eq!(sent["idempotency_key"], "tip-1");
    let recorded: Value = serde_json::from_str(sent["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(recorded["lnurl"]["comment"], comment);
    assert_eq!(recorded["lnurl"]["amount_msat"], 10_000_000);

    // The same request under the same key: the same payment, no new invoice, no new HTLC.
    let again = a.post_with_key("/api/v1/lightning/pay", body, "tip-1").unwrap();
    assert_eq!((&again["id"], &again["status"]), (&paid["id"], &json!("complete")));
    let other = json!({ "destination": address, "amount_sat": 11_000 });
    let err = a.post_with_key("/api/v1/lightning/pay", other, "tip-1").unwrap_err();
    assert_eq!(err.status, 409, "{err}");
    assert_eq!(history(&a, "outgoing").len(), 1);
    assert_eq!(history(&c, "incoming").len(), 1);

    // Refused before anything is sent (400): out of range, comment too long, no amount.
    let pay = |body: Value| a.post("/api/v1/lightning/pay", body);
    let err = pay(json!({ "destination": address, "amount_sat": 20_000_000 })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let msg = err.body["message"].as_str().unwrap();
    assert!(msg.contains("1000 to 10000000000 msat"), "{msg}");
    let err =
        pay(json!({ "destination": address, "amount_sat": 1_000, "comment": long })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("at most 255"), "{err}");
    let err = pay(json!({ "destination": address })).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    // B has no lnurl_allow_http: a loopback address is not a place it fetches from (nor any
    // private one), even over https; it refuses before connecting and says why.
    let err = b
        .post("/api/v1/lightning/pay", json!({ "destination": address, "amount_sat": 1_000 }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    let msg = err.body["message"].as_str().unwrap();
    assert!(msg.contains("127.0.0.1 is a loopback address"), "{err}");
    assert!(msg.contains("needs regtest and lnurl_allow_http"), "{err}");
    for private in ["user@10.0.0.1", "user@169.254.169.254", "user@[fd00::1]:443"] {
        let err = a
            .post("/api/v1/lightning/pay", json!({ "destination": private, "amount_sat": 1_000 }))
            .unwrap_err();
        assert_eq!(err.status, 400, "{private}: {err}");
        let msg = err.body["message"].as_str().unwrap();
        assert!(msg.contains("boltd only reaches public addresses"), "{private}: {err}");
    }
    // ... and refuses a plain-http LNURL outright.
    let url = format!("{}/.well-known/lnurlp/carol", c.api_url);
    let err = b
        .post("/api/v1/lightning/pay", json!({ "destination": lnurl(&url), "amount_sat": 1_000 }))
        .unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    assert!(err.body["message"].as_str().unwrap().contains("needs https"), "{err}");
    // An unknown name: C's 404 reason reaches A's caller.
    let err =
        pay(json!({ "destination": format!("dave@{host}"), "amount_sat": 1_000 })).unwrap_err();
    assert!(err.body["message"].as_str().unwrap().contains("no Lightning address `dave`"), "{err}");
    assert_eq!(history(&a, "outgoing").len(), 1, "nothing else was recorded");

    // The bech32 LNURL of the same endpoint, through barkd's wallet/send.
    let paid = a
        .post("/api/v1/wallet/send", json!({ "destination": lnurl(&url), "amount_sat": 2_000 }))
        .unwrap();
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_eq!(paid["amount_sat"], 2_000);
    assert_eq!(history(&c, "incoming").len(), 2);
    Ok(())
}
