//! A torture run: a line of daemons, clients paying across it on a schedule (invoices, hold
//! invoices the run settles, keysends, both ways), a block every few seconds, and a disruptor
//! (SIGKILL, SIGTERM) acting on the daemons meanwhile; then a bounded wait for everything to
//! settle.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use super::client::{self, Outcome, PayOutcome};
use super::daemon::Daemon;
use super::Api;
use crate::{fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError};

/// How a payment is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayKind {
    /// A BOLT11 invoice of the payee, paid through `POST /api/v1/lightning/pay`.
    Invoice,
    /// A hold invoice of the payee (the run keeps the preimage and settles it once the HTLCs
    /// are held).
    Hold,
    /// A keysend (`POST /api/v1/lightning/keysend`).
    Keysend,
}

/// One payment of the plan.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its number in the plan.
    pub id: usize,
    /// How it is requested.
    pub kind: PayKind,
    /// Index of the paying node.
    pub payer: usize,
    /// Index of the payee.
    pub payee: usize,
    /// The amount, in msat (whole sats).
    pub amount_msat: u64,
    /// When it may start, from the start of the run.
    pub release: Duration,
}

/// What happened to one payment of the plan.
#[derive(Debug, Clone)]
pub struct Record {
    /// The plan's payment.
    pub spec: Spec,
    /// The `Idempotency-Key` its payment was made with.
    pub key: String,
    /// Its payment hash, when known.
    pub hash: Option<String>,
    /// Whether the payee acknowledged its invoice (2xx).
    pub invoice_acked: bool,
    /// What the paying client saw (`None`: never paid, see `error`).
    pub outcome: Option<PayOutcome>,
    /// Why it was not paid.
    pub error: Option<String>,
    /// When its payment was first asked for and when the client had its final answer (or gave
    /// up); `None` when it was never paid.
    pub window: Option<(Instant, Instant)>,
}

/// The plan: `sends` payments from `lab[0]` to `lab[last]` and `receives` the other way, mixed
/// (for each direction: 70 % invoices, 15 % hold invoices, 15 % keysends), amounts of 500 to
/// 3,000 sat, released evenly over `schedule`.
pub fn plan(
    sends: usize,
    receives: usize,
    ends: (usize, usize),
    schedule: Duration,
    rng: &mut StdRng,
) -> Vec<Spec> {
    let n = sends + receives;
    let mut dirs: Vec<bool> = (0..n).map(|i| i < sends).collect();
    // Spread the receives among the sends.
    for i in (1..n).rev() {
        dirs.swap(i, rng.gen_range(0..=i));
    }
    dirs.into_iter()
        .enumerate()
        .map(|(id, forward)| {
            let kind = match rng.gen_range(0..100) {
                0..70 => PayKind::Invoice,
                70..85 => PayKind::Hold,
                _ => PayKind::Keysend,
            };
            let (payer, payee) = if forward { ends } else { (ends.1, ends.0) };
            Spec {
                id,
                kind,
                payer,
                payee,
                amount_msat: rng.gen_range(500..=3_000u64) * 1000,
                release: schedule.mul_f64(id as f64 / n.max(1) as f64),
            }
        })
        .collect()
}

/// Builds a line of spawned daemons `names[0]` - `names[1]` - ... on a fresh chain: mines 101
/// blocks, funds every node (the last one too: a node accepts an anchor channel only with its
/// on-chain reserve for it covered), opens public (anchor) channels of `capacity_sat` from each
/// node to the next with `push_msat` pushed (so both directions can pay), and waits until the
/// ends can pay each other ([`crate::TestNode::wait_for_route`], both directions). Returns the
/// daemons; their logs are `<dir>/<name>.log`.
pub fn line(
    btc: &Bitcoind,
    dir: &Path,
    exe: &Path,
    names: &[&str],
    capacity_sat: u64,
    push_msat: u64,
) -> Result<Vec<Daemon>, HarnessError> {
    line_with(btc, dir, exe, names, capacity_sat, push_msat, |_| Vec::new())
}

/// [`line`], each daemon started (and restarted) with `extra(name)` arguments added (e.g. its
/// own PostgreSQL store).
pub fn line_with(
    btc: &Bitcoind,
    dir: &Path,
    exe: &Path,
    names: &[&str],
    capacity_sat: u64,
    push_msat: u64,
    extra: impl Fn(&str) -> Vec<String>,
) -> Result<Vec<Daemon>, HarnessError> {
    let chain = ChainAccess::from(btc);
    let lab = names
        .iter()
        .map(|n| {
            let args = extra(n);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Daemon::spawn_with(n, exe, &dir.join(n), &chain, crate::free_port()?, &args)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let guards: Vec<_> = lab.iter().map(|d| d.node()).collect();
    let nodes: Vec<_> = guards.iter().map(|g| g.as_ref().expect("just started")).collect();
    btc.mine(101)?;
    for (i, n) in nodes.iter().enumerate() {
        let others: Vec<_> =
            nodes.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| *n).collect();
        fund(btc, n, &others)?;
    }
    for w in nodes.windows(2) {
        open_channel(btc, w[0], w[1], capacity_sat, push_msat, &nodes)?;
    }
    let (first, last) = (nodes[0], nodes[nodes.len() - 1]);
    first.wait_for_route(last, 3_000)?;
    last.wait_for_route(first, 3_000)?;
    mine_and_sync(btc, 1, &nodes)?;
    drop(nodes);
    drop(guards);
    Ok(lab)
}

/// One disruption of a run.
#[derive(Debug, Clone)]
pub struct Disruption {
    /// Which node (`None`: not a daemon, the chain: bitcoind, blocks).
    pub node: Option<usize>,
    /// When it began.
    pub at: Instant,
    /// What was done and how it went ("SIGKILL, up again in 1.2 s").
    pub note: String,
    /// Set when the daemon did something it must not (a failed restart, a bad exit).
    pub violation: Option<String>,
}

/// Acts on the daemons during a run (SIGKILL and restart, SIGTERM and restart, ...).
pub trait Disruptor: Send {
    /// Does the next disruption, or returns `None` when done. `released` says whether every
    /// payment of the plan has been released.
    fn next(&mut self, lab: &[Daemon], released: bool, rng: &mut StdRng) -> Option<Disruption>;
}

/// A disruptor lent to a run, so the test can read what it noted afterwards.
impl<D: Disruptor + ?Sized> Disruptor for &mut D {
    fn next(&mut self, lab: &[Daemon], released: bool, rng: &mut StdRng) -> Option<Disruption> {
        (**self).next(lab, released, rng)
    }
}

/// The settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Sending threads.
    pub senders: usize,
    /// A block is mined this often (`None`: only the disruptor mines).
    pub block_every: Option<Duration>,
    /// Clients stop retrying this long after the last release.
    pub client_grace: Duration,
    /// How long the run may take to settle after the senders are done.
    pub settle_timeout: Duration,
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// Payments planned.
    pub planned: usize,
    /// One record per planned payment (fewer if a sending thread died).
    pub records: Vec<Record>,
    /// Every disruption, in order.
    pub disruptions: Vec<Disruption>,
    /// Blocks mined during the run.
    pub blocks: u32,
    /// Seconds from the last disruption to everything settled (`Err`: it did not settle; why).
    pub settle: Result<f64, String>,
    /// How long the wait to settle took once every client had its final answer.
    pub settle_wait: Duration,
    /// How long the run took.
    pub elapsed: Duration,
}

struct Shared<'a> {
    lab: &'a [Daemon],
    start: Instant,
    stop: AtomicBool,
    released: AtomicBool,
    /// Hold invoices whose payment is under way: payment hash → (payee, preimage).
    holds: Mutex<HashMap<String, (usize, String)>>,
}

/// Runs `specs` on `lab` with `disruptor` acting meanwhile, then waits for the run to settle.
pub fn run(
    btc: &Bitcoind,
    lab: &[Daemon],
    specs: Vec<Spec>,
    settings: &Settings,
    mut disruptor: impl Disruptor,
    rng: &mut StdRng,
) -> Report {
    let start = Instant::now();
    let planned = specs.len();
    let schedule_end = specs.iter().map(|s| s.release).max().unwrap_or_default();
    let deadline = start + schedule_end + settings.client_grace;
    let shared = Shared {
        lab,
        start,
        stop: AtomicBool::new(false),
        released: AtomicBool::new(false),
        holds: Mutex::new(HashMap::new()),
    };
    let records = Mutex::new(Vec::new());
    let mut drng: StdRng = rand::SeedableRng::seed_from_u64(rng.gen());
    let mut queues: Vec<Vec<(Spec, [u8; 32])>> = vec![Vec::new(); settings.senders.max(1)];
    for (i, spec) in specs.into_iter().enumerate() {
        queues[i % settings.senders.max(1)].push((spec, rng.gen()));
    }
    let done = std::thread::scope(|s| {
        let miner = s.spawn(|| {
            let mut n = 0;
            let Some(every) = settings.block_every else { return n };
            while !shared.stop.load(Ordering::SeqCst) {
                sleep_unless(&shared.stop, every);
                if btc.mine(1).is_ok() {
                    n += 1;
                }
            }
            n
        });
        s.spawn(|| settler(&shared));
        let senders: Vec<_> = queues
            .into_iter()
            .map(|q| {
                let (shared, records) = (&shared, &records);
                s.spawn(move || {
                    for (spec, preimage) in q {
                        let release = shared.start + spec.release;
                        if let Some(wait) = release.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let rec = pay_one(shared, spec, preimage, deadline);
                        records.lock().unwrap().push(rec);
                    }
                })
            })
            .collect();
        let releaser = s.spawn(|| {
            sleep_unless(&shared.stop, schedule_end);
            shared.released.store(true, Ordering::SeqCst);
        });
        let mut disruptions = Vec::new();
        while let Some(d) = disruptor.next(lab, shared.released.load(Ordering::SeqCst), &mut drng) {
            let at = d.at.duration_since(start).as_secs_f64();
            let who = d.node.map_or("chain", |i| lab[i].name.as_str());
            eprintln!("[torture] {at:>6.1} s {who}: {}", d.note);
            disruptions.push(d);
        }
        let _ = releaser.join();
        for t in senders {
            let _ = t.join();
        }
        let last = disruptions.last().map(|d| d.at).unwrap_or(start);
        let waited = Instant::now();
        let settle = settle(lab, settings.settle_timeout).map(|()| last.elapsed().as_secs_f64());
        let settle_wait = waited.elapsed();
        shared.stop.store(true, Ordering::SeqCst);
        let blocks = miner.join().unwrap_or(0);
        (disruptions, blocks, settle, settle_wait)
    });
    let (disruptions, blocks, settle, settle_wait) = done;
    let mut records = records.into_inner().unwrap_or_else(|p| p.into_inner());
    records.sort_by_key(|r| r.spec.id);
    Report { planned, records, disruptions, blocks, settle, settle_wait, elapsed: start.elapsed() }
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let Some(left) = until.checked_duration_since(Instant::now()) else { return };
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Makes the payee's invoice (if any) and pays it as a client would.
fn pay_one(shared: &Shared<'_>, spec: Spec, preimage: [u8; 32], deadline: Instant) -> Record {
    let (payer, payee) = (&shared.lab[spec.payer], &shared.lab[spec.payee]);
    let pay_key = format!("torture-pay-{}", spec.id);
    let mut rec = Record {
        spec: spec.clone(),
        key: pay_key.clone(),
        hash: None,
        invoice_acked: false,
        outcome: None,
        error: None,
        window: None,
    };
    let (path, body) = match spec.kind {
        PayKind::Keysend => (
            "/api/v1/lightning/keysend",
            json!({ "destination": payee.node_id, "amount_msat": spec.amount_msat }),
        ),
        PayKind::Invoice | PayKind::Hold => {
            let mut body = json!({
                "amount_sat": spec.amount_msat / 1000,
                "description": format!("torture {}", spec.id),
            });
            if spec.kind == PayKind::Hold {
                let hash = sha256::Hash::hash(&preimage).to_byte_array();
                body["payment_hash"] = json!(hex::encode(hash));
            }
            let key = format!("torture-invoice-{}", spec.id);
            let receive = match client::create_invoice(payee, &body, &key, deadline) {
                Ok(r) => r,
                Err(e) => {
                    rec.error = Some(format!("{}: invoice: {e}", payee.name));
                    return rec;
                }
            };
            rec.invoice_acked = true;
            let hash = receive["payment_hash"].as_str().unwrap_or_default().to_string();
            if spec.kind == PayKind::Hold {
                shared
                    .holds
                    .lock()
                    .unwrap()
                    .insert(hash.clone(), (spec.payee, hex::encode(preimage)));
            }
            rec.hash = Some(hash);
            ("/api/v1/lightning/pay", json!({ "destination": receive["invoice"] }))
        }
    };
    let asked = Instant::now();
    let out = client::pay(payer, path, &body, &pay_key, rec.hash.as_deref(), deadline);
    rec.window = Some((asked, Instant::now()));
    if let (Some(h), false) = (&rec.hash, matches!(out.outcome, Outcome::Unresolved(_))) {
        // Final: nothing more will arrive for it (an unresolved one stays watched).
        shared.holds.lock().unwrap().remove(h);
    }
    rec.hash = out.payment_hash.clone().or(rec.hash);
    rec.outcome = Some(out);
    rec
}

/// Settles the run's hold invoices once their HTLCs are held, until the run stops: polls each
/// hold invoice whose payment is under way.
fn settler(shared: &Shared<'_>) {
    while !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        let open: Vec<(String, usize, String)> = shared
            .holds
            .lock()
            .unwrap()
            .iter()
            .map(|(h, (node, preimage))| (h.clone(), *node, preimage.clone()))
            .collect();
        for (hash, node, preimage) in open {
            let payee = &shared.lab[node];
            let Ok(r) = payee.get(&format!("/api/v1/lightning/receives/{hash}")) else { continue };
            if r["state"] == "htlcs_arrived" {
                let body = json!({ "preimage": preimage });
                let _ = payee.post("/api/v1/lightning/receives/settle", body);
            }
        }
    }
}

/// Whether the nodes are at rest: no payment pending, no receive held or claiming, every
/// channel ready with no HTLC in flight. `Err` says what is not (while polling: not yet).
pub fn at_rest(nodes: &[&dyn Api]) -> Result<Option<()>, HarnessError> {
    let e = |n: &dyn Api, x: crate::ApiFailure| HarnessError::Other(format!("{}: {x}", n.name()));
    for &n in nodes {
        let pending = n.get("/api/v1/payments?status=pending&limit=1").map_err(|x| e(n, x))?;
        if pending.as_array().is_some_and(|p| !p.is_empty()) {
            let p = &pending[0];
            return Err(HarnessError::Other(format!("{} has a pending payment: {p}", n.name())));
        }
        let receives = n.get("/api/v1/lightning/receives").map_err(|x| e(n, x))?;
        let busy = receives
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["state"] == "htlcs_arrived" || r["state"] == "preimage_revealed");
        if let Some(r) = busy {
            let (h, s) = (&r["payment_hash"], &r["state"]);
            return Err(HarnessError::Other(format!("{}: receive {h} is {s}", n.name())));
        }
        let channels: Value = n.get("/api/v1/node/channels").map_err(|x| e(n, x))?;
        let busy = channels
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["state"] != "ready" || c["pending_htlcs"] != 0);
        if let Some(c) = busy {
            return Err(HarnessError::Other(format!(
                "{}: channel {} is {} with {} HTLCs",
                n.name(),
                c["channel_id"],
                c["state"],
                c["pending_htlcs"]
            )));
        }
    }
    Ok(Some(()))
}

/// Waits (at most `timeout`) until the lab is at rest ([`at_rest`]); starts any daemon that is
/// down first.
pub fn settle(lab: &[Daemon], timeout: Duration) -> Result<(), String> {
    for d in lab.iter().filter(|d| !d.is_up()) {
        d.start().map_err(|e| format!("{} did not start again: {e}", d.name))?;
    }
    let nodes: Vec<&dyn Api> = lab.iter().map(|d| d as &dyn Api).collect();
    wait_until(
        "the run to settle (nothing pending, every channel ready and idle)",
        timeout,
        Duration::from_millis(250),
        || at_rest(&nodes),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plan_mixes_both_directions_and_spreads_the_releases() {
        let mut rng = StdRng::seed_from_u64(7);
        let specs = plan(80, 20, (0, 2), Duration::from_secs(10), &mut rng);
        assert_eq!(specs.len(), 100);
        assert_eq!(specs.iter().filter(|s| (s.payer, s.payee) == (0, 2)).count(), 80);
        assert_eq!(specs.iter().filter(|s| (s.payer, s.payee) == (2, 0)).count(), 20);
        for kind in [PayKind::Invoice, PayKind::Hold, PayKind::Keysend] {
            assert!(specs.iter().any(|s| s.kind == kind), "{kind:?} missing");
        }
        assert!(specs.iter().all(|s| (500_000..=3_000_000).contains(&s.amount_msat)));
        assert!(specs.iter().all(|s| s.amount_msat % 1000 == 0), "whole sats");
        assert!(specs.windows(2).all(|w| w[0].release < w[1].release));
        assert!(specs.last().unwrap().release < Duration::from_secs(10));
        // The receives are spread among the sends, not bunched at the end.
        assert!(specs[..50].iter().any(|s| s.payer == 2));
    }
}
