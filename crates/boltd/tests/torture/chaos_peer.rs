//! T8, peer chaos: a peer disconnected in the middle of a payment, made deterministic with hold
//! invoices. Each round, A pays a hold invoice of C; once C holds the HTLCs, a link of the line
//! is cut (`POST /api/v1/node/peers/disconnect`: A from B, or B from C; neither side reconnects
//! by itself, since the one that connected forgets the address), A starts a second payment to
//! C meanwhile, and C decides while the link is down:
//!
//! - `settle` (A - B cut, or B - C cut): C settles; A's payment must stay pending while the link
//!   is down (the preimage cannot reach A), then complete once it is back;
//! - `cancel` (A - B cut): C cancels; the payment stays pending, then fails cleanly;
//! - `expire` (A - B cut): blocks are mined until C's claim deadline, C fails the HTLCs back
//!   (`htlcs_expired`), and A hears of it once the link is back, long before its own HTLC
//!   expires: failed, no force-close.
//!
//! The link is then restored (`POST /api/v1/node/peers/connect`). The second payment waits for
//! the peer (A - B cut) or is retried by A's driver (B - C cut) and completes or fails cleanly.
//! Afterwards the lab must settle and the checks of the kill loop hold (nothing paid twice,
//! payer and payee agreeing, balances moved by exactly what completed, nothing pending, no
//! force-close).

use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use boltd_harness::torture::client::{self, PayOutcome};
use boltd_harness::torture::run::{self, Disruption, PayKind, Record, Report, Spec};
use boltd_harness::torture::{check, say, Daemon, Outcome, Size};
use boltd_harness::{wait_until, Bitcoind, HarnessError};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use super::{exe, serial, verdict_with, CAPACITY_SAT, CHANNELS, PUSH_MSAT};

const TEST: &str = "chaos_peer";
/// How long a step may take (an HTLC to arrive, a disconnection to be seen, a payment to end).
const STEP: Duration = Duration::from_secs(30);
/// How long a payment must be seen pending while its link is down, after the payee decided.
const HELD: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Settle,
    Cancel,
    Expire,
}

/// The rounds' variants, cycled: which link is cut (by index: the node that disconnects, the
/// peer) and what C decides meanwhile.
const VARIANTS: [((usize, usize), Decision); 4] = [
    ((0, 1), Decision::Settle),
    ((1, 2), Decision::Settle),
    ((0, 1), Decision::Cancel),
    ((0, 1), Decision::Expire),
];

fn err(what: String) -> HarnessError {
    HarnessError::Other(what)
}

/// `Err(r)` as a violation of round `what`.
fn api(v: &mut Vec<String>, what: &str, r: Result<Value, boltd_harness::ApiFailure>) {
    if let Err(e) = r {
        v.push(format!("{what}: {e}"));
    }
}

/// Whether `d` is connected to `peer`.
fn connected(d: &Daemon, peer: &Daemon) -> Result<bool, HarnessError> {
    let peers = d.get("/api/v1/node/peers").map_err(|e| err(format!("{}: peers: {e}", d.name)))?;
    Ok(peers.as_array().into_iter().flatten().any(|p| p["node_id"] == peer.node_id.as_str()))
}

fn receive(d: &Daemon, hash: &str) -> Result<Value, HarnessError> {
    d.get(&format!("/api/v1/lightning/receives/{hash}"))
        .map_err(|e| err(format!("{}: receive {hash}: {e}", d.name)))
}

/// The status and stage of `d`'s outgoing payment `hash` ("pending/in_flight").
fn send_status(d: &Daemon, hash: &str) -> String {
    match d.get(&format!("/api/v1/lightning/sends/{hash}")) {
        Ok(r) => format!(
            "{}/{}",
            r["status"].as_str().unwrap_or("?"),
            r["stage"].as_str().unwrap_or("-")
        ),
        Err(e) => format!("unknown ({e})"),
    }
}

/// Makes an invoice of `amount_sat` at C (a hold invoice for `preimage`, if given); returns
/// (invoice, payment hash).
fn invoice(c: &Daemon, id: usize, amount_sat: u64, preimage: Option<[u8; 32]>) -> (String, String) {
    let mut body = json!({ "amount_sat": amount_sat, "description": format!("chaos {id}") });
    if let Some(p) = preimage {
        body["payment_hash"] = json!(hex::encode(sha256::Hash::hash(&p).to_byte_array()));
    }
    let key = format!("chaos-invoice-{id}");
    let r = client::create_invoice(c, &body, &key, Instant::now() + STEP)
        .unwrap_or_else(|e| panic!("C: invoice {id}: {e}"));
    (r["invoice"].as_str().unwrap().to_string(), r["payment_hash"].as_str().unwrap().to_string())
}

fn record(spec: Spec, hash: String, window: (Instant, Instant), out: PayOutcome) -> Record {
    Record {
        key: format!("chaos-pay-{}", spec.id),
        spec,
        hash: Some(hash),
        invoice_acked: true,
        outcome: Some(out),
        error: None,
        window: Some(window),
    }
}

/// A's payment of `invoice` as a client makes it (retrying until a final answer), in its own
/// thread of `scope`.
fn pay<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    a: &'s Daemon,
    spec: Spec,
    invoice: String,
    hash: String,
) -> std::thread::ScopedJoinHandle<'s, Record> {
    scope.spawn(move || {
        let key = format!("chaos-pay-{}", spec.id);
        let body = json!({ "destination": invoice });
        let asked = Instant::now();
        let deadline = asked + Duration::from_secs(180);
        let out = client::pay(a, "/api/v1/lightning/pay", &body, &key, Some(&hash), deadline);
        record(spec, hash, (asked, Instant::now()), out)
    })
}

/// Mines a block whenever C has processed the tip, until C's receive `hash` is no longer held
/// (its claim deadline passed); returns the blocks mined.
fn mine_until_expired(btc: &Bitcoind, c: &Daemon, hash: &str) -> Result<u32, HarnessError> {
    let mut mined = 0;
    wait_until("C to fail the held HTLCs back at their claim deadline", STEP * 2, ms(50), || {
        if receive(c, hash)?["state"] != "htlcs_arrived" {
            return Ok(Some(()));
        }
        let at = c.get("/api/v1/node/info").map_err(|e| err(format!("C: info: {e}")))?;
        if at["block_height"].as_u64() >= Some(u64::from(btc.height()?)) {
            btc.mine(1)?;
            mined += 1;
        }
        Ok(None)
    })?;
    Ok(mined)
}

/// One round (see the module documentation): its two payments' records, and the round as a
/// disruption (what was done, what went wrong).
fn round(
    btc: &Bitcoind,
    lab: &[Daemon],
    n: usize,
    rng: &mut StdRng,
) -> (Vec<Record>, Disruption, u32) {
    let ((from, to), decision) = VARIANTS[n % VARIANTS.len()];
    let (a, c) = (&lab[0], &lab[2]);
    let (cutter, peer) = (&lab[from], &lab[to]);
    let link = format!("{} - {}", cutter.name, peer.name);
    let what = format!("round {} ({link} cut, {decision:?})", n + 1);
    let mut v = Vec::new();
    let mut spec = |id: usize, kind: PayKind| Spec {
        id,
        kind,
        payer: 0,
        payee: 2,
        amount_msat: rng.gen_range(1_000..=5_000u64) * 1000,
        release: Duration::ZERO,
    };
    let held = spec(2 * n, PayKind::Hold);
    let second = spec(2 * n + 1, PayKind::Invoice);
    let preimage: [u8; 32] = rng.gen();
    let (inv, hash) = invoice(c, held.id, held.amount_msat / 1000, Some(preimage));
    let at = Instant::now();
    let mut mined = 0;
    let (records, note) = std::thread::scope(|s| {
        let first = pay(s, a, held, inv, hash.clone());
        let arrived = wait_until(&format!("{what}: C to hold the HTLCs"), STEP, ms(50), || {
            Ok((receive(c, &hash)?["state"] == "htlcs_arrived").then_some(()))
        });
        if let Err(e) = arrived {
            v.push(e.to_string());
        }
        let cut = json!({ "node_id": peer.node_id });
        let r = cutter.post("/api/v1/node/peers/disconnect", cut);
        api(&mut v, &format!("{what}: {} disconnecting", cutter.name), r);
        let apart =
            wait_until(&format!("{what}: both ends to see the link down"), STEP, ms(50), || {
                Ok((!connected(cutter, peer)? && !connected(peer, cutter)?).then_some(()))
            });
        if let Err(e) = apart {
            v.push(e.to_string());
        }
        // A second payment while the link is down.
        let (inv2, hash2) = invoice(c, second.id, second.amount_msat / 1000, None);
        let second = pay(s, a, second, inv2, hash2.clone());

        // C decides while the link is down.
        let decided = match decision {
            Decision::Settle => {
                let body = json!({ "preimage": hex::encode(preimage) });
                c.post("/api/v1/lightning/receives/settle", body)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Decision::Cancel => c
                .delete(&format!("/api/v1/lightning/receives/{hash}"))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Decision::Expire => match mine_until_expired(btc, c, &hash) {
                Ok(n) => {
                    mined = n;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
        };
        if let Err(e) = decided {
            v.push(format!("{what}: C's {decision:?}: {e}"));
        }
        let want = if decision == Decision::Settle { "settled" } else { "canceled" };
        match wait_until(&format!("{what}: C's receive to be {want}"), STEP, ms(50), || {
            let r = receive(c, &hash)?;
            Ok((r["state"] == want).then_some(r))
        }) {
            Ok(r) if decision == Decision::Expire && r["cancel_reason"] != "htlcs_expired" => v
                .push(format!(
                    "{what}: C canceled with reason {}, not htlcs_expired",
                    r["cancel_reason"]
                )),
            Ok(_) => {}
            Err(e) => v.push(e.to_string()),
        }
        // The outcome cannot reach A while the link is down.
        std::thread::sleep(HELD);
        let status = send_status(a, &hash);
        if !status.starts_with("pending/") {
            v.push(format!(
                "{what}: A's payment is {status} while {link} is down (expected pending)"
            ));
        }
        // With its only channel offline, A's new payment waits for the peer.
        let status = send_status(a, &hash2);
        if from == 0 && status != "pending/waiting_for_peer" {
            v.push(format!(
                "{what}: A's payment made meanwhile is {status} (expected \
                 pending/waiting_for_peer)"
            ));
        }

        let address = format!("127.0.0.1:{}", peer.p2p_port);
        let body = json!({ "node_id": peer.node_id, "address": address });
        let back = Instant::now();
        let r = cutter.post("/api/v1/node/peers/connect", body);
        api(&mut v, &format!("{what}: {} reconnecting", cutter.name), r);
        let first = first.join().expect("payer thread");
        let second = second.join().expect("payer thread");
        let outcome = |r: &Record| r.outcome.as_ref().map(|o| o.outcome.clone());
        let got = outcome(&first);
        let ok = match decision {
            Decision::Settle => got == Some(Outcome::Complete),
            Decision::Cancel | Decision::Expire => matches!(got, Some(Outcome::Failed(_))),
        };
        if !ok {
            v.push(format!("{what}: the held payment ended {got:?}"));
        }
        let ended = first
            .window
            .map_or(0.0, |(_, done)| done.saturating_duration_since(back).as_secs_f64());
        let blocks = if mined > 0 {
            format!(", {mined} blocks mined to C's deadline")
        } else {
            String::new()
        };
        let note = format!(
            "{what}{blocks}: held payment {:?} {ended:.1} s after the reconnection; the payment \
             made meanwhile {:?}",
            got.unwrap_or(Outcome::Unresolved("no record".into())),
            outcome(&second).unwrap_or(Outcome::Unresolved("no record".into())),
        );
        (vec![first, second], note)
    });
    let violation = (!v.is_empty()).then(|| v.join("; "));
    (records, Disruption { node: Some(from), at, note, violation }, mined)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn peer_disconnect() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let rounds = size.pick(4, 20);
    say(TEST, format!("size {}, seed {seed}: {rounds} rounds", size.name()));

    let btc = Bitcoind::start().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line(&btc, dir.path(), &exe(), &["A", "B", "C"], CAPACITY_SAT, PUSH_MSAT)
        .expect("the lab A - B - C");
    let before = check::lab_outbound_msat(&lab).expect("balances before");

    let t0 = Instant::now();
    let (mut records, mut disruptions, mut blocks) = (Vec::new(), Vec::new(), 0);
    for n in 0..rounds {
        let (r, d, mined) = round(&btc, &lab, n, &mut rng);
        say(TEST, &d.note);
        records.extend(r);
        disruptions.push(d);
        blocks += mined;
    }
    let waited = Instant::now();
    let settle = run::settle(&lab, STEP * 3).map(|()| waited.elapsed().as_secs_f64());
    let report = Report {
        planned: 2 * rounds,
        records,
        disruptions,
        blocks,
        settle,
        settle_wait: waited.elapsed(),
        elapsed: t0.elapsed(),
    };
    verdict_with(TEST, seed, &lab, &before, &report, &check::Expected::channels(&CHANNELS), &[]);
}
