//! Bad input across the dialects, against a running node over real HTTP: malformed JSON, wrong
//! types, missing fields, an oversized body (over `MAX_BODY_BYTES`), an unknown path, a wrong
//! method. Each gets a 4xx in the dialect's error shape with a message naming the problem, never
//! a 500, and nothing is sent.

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

    // Native (barkd): the JSON extractor's rejections, in `{code, message}`.
    let pay = "/api/v1/lightning/pay";
    refused(send(&a, "POST", pay, Some("{")), 400, Shape::Native, "json", "native malformed");
    refused(
        send(&a, "POST", pay, Some(r#"{"destination": 5}"#)),
        422,
        Shape::Native,
        "destination",
        "native wrong type",
    );
    refused(send(&a, "POST", pay, Some("{}")), 422, Shape::Native, "destination", "native missing");
    refused(send(&a, "POST", pay, Some(&big)), 413, Shape::Native, "limit", "native oversized");
    refused(
        send(&a, "GET", "/api/v1/nope", None),
        404,
        Shape::Native,
        "/api/v1/nope",
        "native path",
    );
    let got = send(&a, "DELETE", pay, None);
    assert_eq!(got.1.as_deref(), Some("POST"), "native wrong method: Allow");
    refused(got, 405, Shape::Native, "DELETE", "native wrong method");

    // Core Lightning: parameters by name, `{code, message, data}`.
    let cln = "/v1/pay";
    refused(send(&a, "POST", cln, Some("{")), 400, Shape::Cln, "json", "cln malformed");
    refused(
        send(&a, "POST", cln, Some(r#"{"bolt11": 5}"#)),
        400,
        Shape::Cln,
        "bolt11",
        "cln wrong type",
    );
    refused(send(&a, "POST", cln, Some("{}")), 400, Shape::Cln, "bolt11", "cln missing");
    refused(send(&a, "POST", cln, Some(&big)), 413, Shape::Cln, "limit", "cln oversized");
    refused(send(&a, "POST", "/v1/nope", Some("{}")), 404, Shape::Cln, "/v1/nope", "cln path");
    refused(send(&a, "GET", cln, None), 405, Shape::Cln, "GET", "cln wrong method");

    // Alby: `{code: 8, error: true, message}`.
    let alby = "/payments/bolt11";
    refused(send(&a, "POST", alby, Some("{")), 400, Shape::Alby, "json", "alby malformed");
    refused(
        send(&a, "POST", alby, Some(r#"{"invoice": 5}"#)),
        400,
        Shape::Alby,
        "invalid type",
        "alby wrong type",
    );
    refused(send(&a, "POST", alby, Some("{}")), 400, Shape::Alby, "invoice", "alby missing");
    refused(send(&a, "POST", alby, Some(&big)), 413, Shape::Alby, "limit", "alby oversized");
    refused(send(&a, "GET", "/invoices/x/y", None), 404, Shape::Alby, "/invoices/x/y", "alby path");
    refused(send(&a, "DELETE", alby, None), 405, Shape::Alby, "DELETE", "alby wrong method");

    // Nothing was sent or recorded.
    let history = a.get("/api/v1/history").unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(0), "{history}");
    Ok(())
}
