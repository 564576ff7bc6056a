//! On-chain sends and their `Idempotency-Key`, against the real binary and a real regtest
//! bitcoind: the same key pays once (one transaction, the balance moved once), also when
//! bitcoind's answer was lost after it accepted the transaction, and after a SIGKILL and a
//! restart; the same key with another request is a 409.
//!
//! bitcoind's answer is lost by a small TCP relay between the node and bitcoind's RPC port
//! ([`LossyRelay`]): it hands `sendrawtransaction` to bitcoind, then closes the node's
//! connection without the answer, as a timeout after the fact would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use boltd_harness::{free_port, fund, mine_and_sync, wait_until, Bitcoind, ChainAccess};
use boltd_harness::{HarnessError, TestNode};
use serde_json::{json, Value};

const BOLTD: &str = env!("CARGO_BIN_EXE_boltd");

/// A relay to bitcoind's RPC port that, while `lose` is set, forwards `sendrawtransaction`
/// calls and drops their answers (closing the caller's connection).
struct LossyRelay {
    port: u16,
    lose: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
}

/// One HTTP message (request or response): its head and its body (by `Content-Length`).
fn read_message(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    head.extend_from_slice(&body);
    Ok(Some(head))
}

impl LossyRelay {
    fn start(upstream_port: u16) -> LossyRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lose = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicUsize::new(0));
        let (l, n) = (Arc::clone(&lose), Arc::clone(&lost));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (lose, lost) = (Arc::clone(&l), Arc::clone(&n));
                std::thread::spawn(move || {
                    let _ = relay(client, upstream_port, &lose, &lost);
                });
            }
        });
        LossyRelay { port, lose, lost }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn relay(
    client: TcpStream,
    upstream_port: u16,
    lose: &AtomicBool,
    lost: &AtomicUsize,
) -> std::io::Result<()> {
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let mut from_upstream = BufReader::new(upstream.try_clone()?);
    let mut to_upstream = upstream;
    while let Some(request) = read_message(&mut from_client)? {
        to_upstream.write_all(&request)?;
        let Some(response) = read_message(&mut from_upstream)? else { return Ok(()) };
        let sendraw = String::from_utf8_lossy(&request).contains("\"sendrawtransaction\"");
        if sendraw && lose.load(Ordering::SeqCst) {
            // bitcoind has answered (it took the transaction); the caller never hears it.
            lost.fetch_add(1, Ordering::SeqCst);
            return to_client.shutdown(std::net::Shutdown::Both);
        }
        to_client.write_all(&response)?;
    }
    Ok(())
}

/// POSTs `body` with `Idempotency-Key: key`; the status and the JSON answer.
fn post_keyed(node: &TestNode, path: &str, body: Value, key: &str) -> (u16, Value) {
    let client = node.client(Some(node.admin_token()));
    let res = client.request("POST", path).set("Idempotency-Key", key).send_json(body);
    let r = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    let status = r.status();
    (status, r.into_json().unwrap())
}

fn mempool(btc: &Bitcoind) -> Vec<String> {
    btc.get_raw_mempool().unwrap().iter().map(|t| t.to_string()).collect()
}

#[test]
fn the_same_key_pays_once_even_when_the_answer_is_lost_and_after_a_restart(
) -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let relay = LossyRelay::start(btc.rpc_port());
    let chain = ChainAccess { rpc_url: relay.url(), ..ChainAccess::from(&btc) };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let port = free_port()?;
    let mut a = TestNode::spawn("alice", &PathBuf::from(BOLTD), &data, &chain, port)?;
    btc.mine(101)?;
    let funded = fund(&btc, &a, &[])?;
    let to = btc.mining_address().to_string();
    let send = |amount_sat: u64| json!({ "destination": to, "amount_sat": amount_sat });

    // 1. A send, then the same request under the same key: one transaction.
    let (status, first) = post_keyed(&a, "/api/v1/onchain/send", send(100_000), "k1");
    assert_eq!((status, first["status"].as_str()), (200, Some("broadcast")), "{first}");
    let t1 = first["txid"].as_str().unwrap().to_string();
    let (status, again) = post_keyed(&a, "/api/v1/onchain/send", send(100_000), "k1");
    assert_eq!(status, 200, "{again}");
    assert_eq!((again["txid"].as_str(), again["replayed"].as_bool()), (Some(&*t1), Some(true)));
    assert_eq!(mempool(&btc), vec![t1.clone()]);

    // 2. bitcoind takes the next one, but its answer is lost: the send's outcome is unknown
    //    (202), not a failure, and the transaction stays the wallet's.
    relay.lose.store(true, Ordering::SeqCst);
    let (status, lost) = post_keyed(&a, "/api/v1/onchain/send", send(200_000), "k2");
    relay.lose.store(false, Ordering::SeqCst);
    // (The RPC client sends it again once on a fresh connection: that answer is lost too.)
    assert!(relay.lost.load(Ordering::SeqCst) >= 1, "the relay dropped bitcoind's answer");
    assert_eq!((status, lost["status"].as_str()), (202, Some("unknown")), "{lost}");
    let t2 = lost["txid"].as_str().unwrap().to_string();
    assert!(mempool(&btc).contains(&t2), "bitcoind accepted {t2}");
    // The operator retries under the same key: the same transaction, not a second payment.
    let (status, retried) = post_keyed(&a, "/api/v1/onchain/send", send(200_000), "k2");
    assert_eq!((status, retried["txid"].as_str()), (200, Some(&*t2)), "{retried}");
    assert_eq!(retried["status"], "broadcast", "{retried}");
    let mut pool = mempool(&btc);
    pool.sort();
    let mut want = vec![t1.clone(), t2.clone()];
    want.sort();
    assert_eq!(pool, want, "two sends, two transactions");

    // 3. A different request under a used key is a conflict; nothing is sent.
    let (status, conflict) = post_keyed(&a, "/api/v1/onchain/send", send(300_000), "k1");
    assert_eq!((status, conflict["code"].as_str()), (409, Some("idempotency_conflict")));
    assert_eq!(mempool(&btc).len(), 2);

    // 4. SIGKILL and restart: the keys still answer with their transactions.
    a.kill()?;
    let a = TestNode::spawn("alice", &PathBuf::from(BOLTD), &data, &chain, port)?;
    for (key, amount_sat, txid) in [("k1", 100_000, &t1), ("k2", 200_000, &t2)] {
        let (status, v) = post_keyed(&a, "/api/v1/onchain/send", send(amount_sat), key);
        assert_eq!((status, v["txid"].as_str()), (200, Some(txid.as_str())), "{key}: {v}");
        assert_eq!(v["replayed"], true, "{key}: {v}");
    }
    assert_eq!(mempool(&btc).len(), 2, "nothing new after the restart");

    // 5. The balance moved once per send: 300,000 sat and two fees.
    mine_and_sync(&btc, 1, &[&a])?;
    let left = wait_until(
        "alice's wallet to see both sends confirmed",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let b = a.get("/api/v1/onchain/balance").unwrap();
            let pending = b["trusted_pending_sat"].as_u64().unwrap_or(0);
            Ok((pending == 0).then(|| b["confirmed_sat"].as_u64().unwrap()))
        },
    )?;
    let spent = funded - left;
    assert!((300_000..310_000).contains(&spent), "spent {spent} sat of {funded}");
    let txs = a.get("/api/v1/onchain/transactions").unwrap();
    let sends: Vec<&str> = txs
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["sent_sat"].as_u64().unwrap_or(0) > 0)
        .map(|t| t["txid"].as_str().unwrap())
        .collect();
    assert_eq!(sends.len(), 2, "{txs}");
    assert!(sends.contains(&t1.as_str()) && sends.contains(&t2.as_str()), "{sends:?}");
    Ok(())
}
