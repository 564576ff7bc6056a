//! The client against a tiny local HTTP server (an axum router on 127.0.0.1:0) that echoes what
//! it received, or answers the way the daemon does: request building (method, path, query,
//! headers, JSON bodies from the API's types), typed answers and error mapping.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boltd_client::types::{
    BarkInvoiceRequest, BarkPayRequest, CreateOfferRequest, KeysendRequest, OfferPayRequest,
    OpenRequest,
};
use boltd_client::{Client, ClientError};
use serde_json::{json, Value};

async fn answer(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header = |name: &str| {
        parts.headers.get(name).map(|v| Value::String(v.to_str().unwrap().to_string()))
    };
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!("<not JSON>"))
    };
    match parts.uri.path() {
        "/api/v1/node/info" => axum::Json(json!({
            "node_id": "02aa", "network": "regtest", "p2p_addr": "127.0.0.1:9735",
            "block_height": 101, "wallet_height": 101, "num_channels": 1, "num_peers": 2,
            "graph_channels": 3, "graph_nodes": 4
        }))
        .into_response(),
        "/api/v1/node/peers" => {
            axum::Json(json!([{"node_id": "02bb", "inbound": true}])).into_response()
        }
        "/api/v1/lightning/offers/pay" => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "message": "payment pending", "id": 7, "payment_hash": "ab", "status": "pending",
                "preimage": null, "amount_sat": 5, "fee_sat": 0, "fee_msat": 0, "parts": 1,
                "destination": null
            })),
        )
            .into_response(),
        "/api/v1/onchain/utxos" => axum::Json(json!({"not": "a list"})).into_response(),
        "/conflict" => (
            StatusCode::CONFLICT,
            axum::Json(json!({"code": "idempotency_conflict", "message": "used"})),
        )
            .into_response(),
        "/cln-error" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"code": 210, "message": "failed", "data": {}})),
        )
            .into_response(),
        "/text-error" => (StatusCode::BAD_GATEWAY, "upstream down\n").into_response(),
        "/not-json" => (StatusCode::OK, "hello").into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({})).into_response()
        }
        _ => axum::Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "authorization": header("authorization"),
            "idempotency_key": header("idempotency-key"),
            "content_type": header("content-type"),
            "body": json_body,
        }))
        .into_response(),
    }
}

/// Serves [`answer`] on a loopback port for the rest of the test process; its base URL.
fn server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, axum::Router::new().fallback(answer)).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

#[test]
fn requests_carry_the_token_the_key_and_the_api_types_as_json() {
    let c = Client::new(server(), Some("boltd_t".into()));
    let req = KeysendRequest {
        destination: "02cc".into(),
        amount_msat: 5000,
        memo: Some("m".into()),
        ..Default::default()
    };
    let v = c.keysend(&req).idempotency_key("k-1").raw().send().unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api/v1/lightning/keysend");
    assert_eq!(v["authorization"], "Bearer boltd_t");
    assert_eq!(v["idempotency_key"], "k-1");
    assert_eq!(v["content_type"], "application/json");
    assert_eq!(v["body"]["destination"], "02cc");
    assert_eq!(v["body"]["amount_msat"], 5000);
    assert_eq!(v["body"]["memo"], "m");

    // Absent optional fields are not sent (the API's defaults apply).
    let pay = BarkPayRequest { destination: "lnbcrt1x".into(), ..Default::default() };
    let v = c.pay(&pay).idempotency_key(None).raw().send().unwrap();
    assert_eq!(v["body"], json!({"destination": "lnbcrt1x"}));
    assert_eq!(v["idempotency_key"], Value::Null);
    let inv = BarkInvoiceRequest { amount_sat: Some(21), ..Default::default() };
    assert_eq!(c.create_invoice(&inv).raw().send().unwrap()["body"], json!({"amount_sat": 21}));
    let offer = CreateOfferRequest { expiry_secs: Some(60), ..Default::default() };
    assert_eq!(
        c.request::<Value>("POST", "/echo").json(&offer).send().unwrap()["body"],
        json!({"expiry_secs": 60})
    );
    let open = OpenRequest {
        node_id: "02dd".into(),
        address: None,
        amount_sat: 100_000,
        push_msat: 0,
        public: false,
    };
    let v = c.open_channel(&open).send().unwrap();
    assert_eq!(
        v["body"],
        json!({"node_id": "02dd", "amount_sat": 100000, "push_msat": 0, "public": false})
    );

    // Queries and path segments.
    let v = c.payments(Some("outgoing"), Some("failed"), Some(10), None).send().unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["query"], "direction=outgoing&status=failed&limit=10");
    assert_eq!(v["body"], Value::Null);
    let v = c.cancel_receive("abc123").send().unwrap();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str()),
        (Some("DELETE"), Some("/api/v1/lightning/receives/abc123"))
    );

    // No token: no Authorization header.
    let anon = Client::new(c.base_url(), None);
    assert_eq!(anon.get("/echo").send().unwrap()["authorization"], Value::Null);
}

#[test]
fn answers_are_typed() {
    let c = Client::new(server(), None);
    let info = c.node_info().send().unwrap();
    assert_eq!((info.node_id.as_str(), info.block_height, info.graph_nodes), ("02aa", 101, 4));
    let peers = c.peers().send().unwrap();
    assert_eq!(peers.len(), 1);
    assert!(peers[0].inbound && peers[0].address.is_none());
    // A 202 is a success too.
    let offer = OfferPayRequest { offer: "lno1x".into(), ..Default::default() };
    let paid = c.pay_offer(&offer).send().unwrap();
    assert_eq!((paid.id, paid.status.as_str(), paid.preimage), (7, "pending", None));
    // The same operation as plain JSON.
    assert_eq!(c.node_info().raw().send().unwrap()["network"], "regtest");
    // An answer of another shape.
    match c.utxos().send() {
        Err(ClientError::BadResponse { status: 200, message, .. }) => {
            assert!(message.contains("not what was expected"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_keep_the_status_and_the_apis_error_body() {
    let c = Client::new(server(), None);
    let e = c.get("/conflict").send().unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.code(), Some(&json!("idempotency_conflict")));
    assert_eq!(e.body().unwrap()["message"], "used");
    assert!(e.to_string().starts_with("GET http://"), "{e}");

    // Core Lightning's numeric codes.
    let e = c.post("/cln-error", &json!({})).send().unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(500), Some(&json!(210))));

    // A body that is not JSON is kept as a string.
    let e = c.get("/text-error").send().unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert_eq!(e.body(), Some(&json!("upstream down\n")));

    // A success that is not JSON.
    match c.get("/not-json").send() {
        Err(ClientError::BadResponse { status: 200, message, .. }) => {
            assert!(message.starts_with("the answer is not JSON"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn transport_failures_and_timeouts() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = Client::new(format!("http://127.0.0.1:{port}"), None);
    let e = c.node_info().send().unwrap_err();
    assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
    assert_eq!((e.status(), e.body()), (None, None));

    let c = Client::new(server(), None).timeout(Duration::from_millis(300));
    let e = c.get("/slow").send().unwrap_err();
    assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
    // A request's own timeout wins over the client's.
    let c = Client::new(c.base_url(), None).timeout(Duration::from_secs(30));
    let e = c.get("/slow").timeout(Duration::from_millis(300)).send().unwrap_err();
    assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
}
