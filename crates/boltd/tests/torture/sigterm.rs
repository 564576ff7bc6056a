//! T7: SIGTERM under load. B, A and C in turn are stopped with SIGTERM while HTLCs are in
//! flight; each must exit with code 0 within [`SIGTERM_TIMEOUT`], and once it is started again
//! nothing acknowledged is lost, nothing stays pending and no channel is force-closed (the
//! checks of the kill loop).

use std::time::Duration;

use boltd_harness::torture::disrupt::Terminator;
use boltd_harness::torture::run::{self, Settings};
use boltd_harness::torture::{check, say, Size};
use boltd_harness::Bitcoind;

use super::{exe, serial, verdict, CAPACITY_SAT, PUSH_MSAT};

/// How long a daemon may take to exit after SIGTERM. A pay request waits up to 30 s for its
/// outcome by default (barkd's `wait_secs`), and the API lets requests in flight finish.
const SIGTERM_TIMEOUT: Duration = Duration::from_secs(45);

#[test]
fn sigterm_under_load() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let test = "sigterm_under_load";
    let rounds = size.pick(3, 12);
    let (sends, receives) = size.pick((45, 15), (300, 60));
    say(
        test,
        format!(
            "size {}, seed {seed}: {rounds} SIGTERMs, {sends} sends, {receives} receives",
            size.name()
        ),
    );

    let btc = Bitcoind::start().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line(&btc, dir.path(), &exe(), &["A", "B", "C"], CAPACITY_SAT, PUSH_MSAT)
        .expect("the lab A - B - C");
    let before: Vec<u64> =
        lab.iter().map(|d| check::outbound_msat(d).expect("balances before")).collect();

    // A stop every 3 s or so (plus the wait for HTLCs in flight): the payments span them.
    let schedule = Duration::from_secs(rounds as u64 * 4);
    let specs = run::plan(sends, receives, (0, 2), schedule, &mut rng);
    let settings = Settings {
        senders: 4,
        block_every: Some(Duration::from_secs(3)),
        client_grace: Duration::from_secs(90),
        settle_timeout: Duration::from_secs(size.pick(90, 180)),
    };
    let terminator = Terminator {
        rounds,
        order: vec![1, 0, 2],
        gap: (Duration::from_secs(2), Duration::from_secs(4)),
        timeout: SIGTERM_TIMEOUT,
        done: 0,
    };
    let r = run::run(&btc, &lab, specs, &settings, terminator, &mut rng);
    verdict(test, seed, &lab, &before, &r);
}
