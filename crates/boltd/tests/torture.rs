//! The torture suite (issue 10): real `boltd serve` daemons on a real regtest bitcoind (never
//! killed), disrupted while clients pay across them, then checked for what must hold whatever
//! happens (see `boltd_harness::torture::check`).
//!
//! - `kill_loop` (T1): A - B - C, all child processes; SIGKILL of a random daemon every 1-4 s
//!   and a restart on the same data directory, while senders pay both ways (invoices, hold
//!   invoices settled by the test, keysends) and a block is mined every 3 s.
//! - `sigterm_under_load` (T7, `torture/sigterm.rs`): SIGTERM with HTLCs in flight; each
//!   daemon must exit 0 in time and lose nothing.
//! - `storage_full` (T4, `torture/storage.rs`): the payer's disk fills up under load; it must
//!   stop (non-zero exit, one clear log line) and lose nothing it acknowledged.
//! - T8, chain and peer chaos: `chaos_bitcoind::bitcoind_outage` (`torture/chaos_bitcoind.rs`):
//!   bitcoind stopped cleanly and started again under load; `chaos_reorg::reorg`
//!   (`torture/chaos_reorg.rs`): fundings and a cooperative close reorged out by hand, on-chain
//!   accounting to the satoshi; `chaos_peer::peer_disconnect` (`torture/chaos_peer.rs`): a link
//!   cut while a hold invoice's HTLCs are in flight.
//!
//! CI size by default; `BOLTD_TORTURE=full` (what `scripts/torture.sh` sets) for the full size.
//! `BOLTD_TORTURE_SEED` repeats a run's random choices. The tests take turns (one lock), so
//! they do not compete for the machine.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use boltd_harness::torture::disrupt::Killer;
use boltd_harness::torture::run::{self, Report, Settings};
use boltd_harness::torture::{check, report, say, Daemon, Size};
use boltd_harness::Bitcoind;

#[path = "torture/chaos_bitcoind.rs"]
mod chaos_bitcoind;
#[path = "torture/chaos_peer.rs"]
mod chaos_peer;
#[path = "torture/chaos_reorg.rs"]
mod chaos_reorg;
#[path = "torture/sigterm.rs"]
mod sigterm;
#[path = "torture/storage.rs"]
mod storage;

/// Channels of the line: 5,000,000 sat, 2,000,000 sat pushed to the other side.
const CAPACITY_SAT: u64 = 5_000_000;
const PUSH_MSAT: u64 = 2_000_000_000;
/// Channels each node of A - B - C has.
const CHANNELS: [usize; 3] = [1, 2, 1];

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_boltd"))
}

/// One torture test at a time in this binary.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks a run on the line A - B - C against each node's Σ outbound before it, prints its
/// figures and fails with every violation.
fn verdict(test: &str, seed: u64, lab: &[Daemon], before: &[u64], r: &Report) {
    verdict_with(test, seed, lab, before, r, &check::Expected::channels(&CHANNELS), &[]);
}

/// [`verdict`] with the channels `expected` and the scenario's own `violations` added.
fn verdict_with(
    test: &str,
    seed: u64,
    lab: &[Daemon],
    before: &[u64],
    r: &Report,
    expected: &check::Expected<'_>,
    extra: &[String],
) {
    let mut violations: Vec<String> =
        r.disruptions.iter().filter_map(|d| d.violation.clone()).collect();
    violations.extend(extra.iter().cloned());
    if r.records.len() != r.planned {
        violations.push(format!("{} payments planned, {} recorded", r.planned, r.records.len()));
    }
    if let Err(e) = &r.settle {
        violations.push(format!("did not settle: {e}"));
    }
    let (more, fc) = match lab.iter().map(check::snapshot).collect::<Result<Vec<_>, _>>() {
        Ok(states) => check::check(lab, &states, &r.records, before, expected),
        Err(e) => (vec![format!("cannot read the nodes' state: {e}")], Default::default()),
    };
    violations.extend(more);
    let msg = report(test, lab, r, &violations, &fc);
    assert!(violations.is_empty(), "{test}: {} violations (seed {seed}):{msg}", violations.len());
}

/// T1: SIGKILL loop on A - B - C under payments both ways. CI size: 10 kills during 150
/// payments; full: 50 kills during 1,000 sends and 200 receives.
#[test]
fn kill_loop() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let test = "kill_loop";
    let kills = size.pick(10, 50);
    let (sends, receives) = size.pick((120, 30), (1_000, 200));
    say(
        test,
        format!(
            "size {}, seed {seed}: {kills} kills, {sends} sends, {receives} receives",
            size.name()
        ),
    );

    let btc = Bitcoind::start().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line(&btc, dir.path(), &exe(), &["A", "B", "C"], CAPACITY_SAT, PUSH_MSAT)
        .expect("the lab A - B - C");
    kill_loop_on(test, size, &mut rng, seed, kills, (sends, receives), &btc, &lab);
}

/// T1 on PostgreSQL: the same kill loop, every daemon's store a database of one real
/// PostgreSQL cluster (`fsync` on). A daemon killed holds its lease until it expires (3 s
/// here): its restart waits for it, as a restarted node on a shared database must (it cannot
/// tell its old self from a paused one). CI size: 6 kills during 90 payments.
#[test]
fn kill_loop_postgres() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let test = "kill_loop_postgres";
    let kills = size.pick(6, 30);
    let (sends, receives) = size.pick((70, 20), (600, 120));
    say(
        test,
        format!(
            "size {}, seed {seed}: {kills} kills, {sends} sends, {receives} receives",
            size.name()
        ),
    );
    let pg = boltd_harness::PgCluster::start(&[]).expect("PostgreSQL");
    for n in ["a", "b", "c"] {
        pg.create_database(n).expect("create database");
    }
    let btc = Bitcoind::start().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line_with(
        &btc,
        dir.path(),
        &exe(),
        &["A", "B", "C"],
        CAPACITY_SAT,
        PUSH_MSAT,
        |name| {
            let url = pg.url(&name.to_ascii_lowercase());
            ["--store-url", &url, "--lease-ttl-secs", "3", "--lease-renew-secs", "1"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        },
    )
    .expect("the lab A - B - C");
    kill_loop_on(test, size, &mut rng, seed, kills, (sends, receives), &btc, &lab);
}

/// Runs T1's load and kills on `lab` and checks it.
#[allow(clippy::too_many_arguments)]
fn kill_loop_on(
    test: &str,
    size: Size,
    rng: &mut rand::rngs::StdRng,
    seed: u64,
    kills: usize,
    (sends, receives): (usize, usize),
    btc: &Bitcoind,
    lab: &[Daemon],
) {
    let before: Vec<u64> =
        lab.iter().map(|d| check::outbound_msat(d).expect("balances before")).collect();

    // A kill every 2.5 s on average, and under a second to start again: the payments are
    // spread over that time (the killer goes on until the last one is released).
    let schedule = Duration::from_secs(kills as u64 * 3);
    let specs = run::plan(sends, receives, (0, 2), schedule, rng);
    let settings = Settings {
        senders: size.pick(4, 6),
        block_every: Some(Duration::from_secs(3)),
        client_grace: Duration::from_secs(size.pick(90, 180)),
        settle_timeout: Duration::from_secs(size.pick(90, 180)),
    };
    let killer = Killer {
        min_kills: kills,
        max_kills: kills * 2,
        gap: (Duration::from_secs(1), Duration::from_secs(4)),
        kills: 0,
    };
    let r = run::run(btc, lab, specs, &settings, killer, rng);
    verdict(test, seed, lab, &before, &r);
}
