//! T8, chain chaos: bitcoind stopped and started again under load. While A and C pay each other
//! across B, the lab's bitcoind is stopped cleanly (RPC `stop`) for a while and started again on
//! the same data directory and ports. The daemons must stay up and answer, payments must go on
//! over the existing channels (Lightning needs no chain to pay), every daemon must catch up with
//! the tip once bitcoind is back, and the checks of the kill loop must hold.
//!
//! While bitcoind is down the first time, A also closes a channel it has with a fourth daemon D
//! cooperatively and opens another: both transactions are made while nothing can take them, and
//! must reach the chain once bitcoind is back (LDK broadcasts a funding or a cooperative closing
//! once; it rebroadcasts only the transactions of its channel monitors).

use std::time::Duration;

use bitcoin::OutPoint;
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::torture::chain;
use boltd_harness::torture::outage::BitcoindOutage;
use boltd_harness::torture::run::{self, Report, Settings};
use boltd_harness::torture::{check, say, Daemon, Outcome, Size};
use boltd_harness::{free_port, mine_and_sync, wait_until, Bitcoind, ChainAccess, HarnessError};
use serde_json::json;

use super::{exe, serial, verdict_with, CAPACITY_SAT, CHANNELS, PUSH_MSAT};

const TEST: &str = "chaos_bitcoind";
/// The channels A has with D.
const CHANNEL_SAT: u64 = 1_000_000;
/// How long the funding and the closing made while bitcoind was down may take to be mined once
/// it is back (a block every 3 s meanwhile).
const ONCHAIN_WITHIN: Duration = Duration::from_secs(60);

/// A's channel with D: (channel id, funding outpoint), once ready.
fn open_to_d(a: &Daemon, d: &Daemon) -> Result<(String, OutPoint), HarnessError> {
    let body = json!({
        "node_id": d.node_id,
        "address": format!("127.0.0.1:{}", d.p2p_port),
        "amount_sat": CHANNEL_SAT,
        "public": false,
    });
    a.post("/api/v1/node/channels/open", body).map_err(|e| HarnessError::Other(e.to_string()))?;
    let ch = funded_channel(a, d, "A's channel with D to be funded", Duration::from_secs(30))?;
    let funding: OutPoint = ch["funding_outpoint"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| HarnessError::Other(format!("{ch}: {e}")))?;
    Ok((ch["channel_id"].as_str().unwrap_or_default().to_string(), funding))
}

/// A's channel with D once it has a funding outpoint (the first A lists).
fn funded_channel(
    a: &Daemon,
    d: &Daemon,
    what: &str,
    timeout: Duration,
) -> Result<serde_json::Value, HarnessError> {
    wait_until(what, timeout, ms(100), || {
        let list =
            a.get("/api/v1/node/channels").map_err(|e| HarnessError::Other(e.to_string()))?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["peer_node_id"] == d.node_id.as_str() && c["funding_outpoint"].is_string())
            .cloned())
    })
}

/// While bitcoind is down (the first time): A closes `old` (its channel with D) cooperatively
/// and opens another to D. Returns the new channel's funding outpoint.
fn while_down(btc: &Bitcoind, a: &Daemon, d: &Daemon, old: &str) -> Result<OutPoint, String> {
    wait_until("bitcoind to be down", Duration::from_secs(60), ms(50), || {
        Ok(btc.pid().is_none().then_some(()))
    })
    .map_err(|e| e.to_string())?;
    let body = json!({ "channel_id": old });
    a.post("/api/v1/node/channels/close", body)
        .map_err(|e| format!("A: close while bitcoind was down: {e}"))?;
    let fresh =
        wait_until("A's channel with D to be gone", Duration::from_secs(15), ms(100), || {
            let list =
                a.get("/api/v1/node/channels").map_err(|e| HarnessError::Other(e.to_string()))?;
            Ok((!list.as_array().into_iter().flatten().any(|c| c["channel_id"] == old))
                .then_some(()))
        });
    fresh.map_err(|e| e.to_string())?;
    let body = json!({
        "node_id": d.node_id,
        "amount_sat": CHANNEL_SAT,
        "public": false,
    });
    a.post("/api/v1/node/channels/open", body)
        .map_err(|e| format!("A: open while bitcoind was down: {e}"))?;
    let ch = funded_channel(a, d, "A's new channel with D to be funded", Duration::from_secs(15))
        .map_err(|e| e.to_string())?;
    ch["funding_outpoint"].as_str().unwrap_or_default().parse().map_err(|e| format!("{ch}: {e}"))
}

/// The closing of `old` and the funding of `new` (made while bitcoind was down) are mined once
/// it is back (the run's miner, then one block a second). Returns the violations and a figure.
fn mined_later(btc: &Bitcoind, old: &OutPoint, new: &OutPoint, from: u32) -> (Vec<String>, String) {
    let confirmations = |txid: &bitcoin::Txid| {
        let info = btc.client().get_raw_transaction_info(txid, None).ok();
        info.and_then(|i| i.confirmations).unwrap_or(0)
    };
    let t0 = std::time::Instant::now();
    let (closing, funding) = loop {
        let spender = chain::spender(btc, old, from).ok().flatten();
        let closing = spender.map(|t| t.compute_txid()).map(|t| (t, confirmations(&t)));
        let funding = confirmations(&new.txid);
        let done = closing.is_some_and(|(_, n)| n > 0) && funding > 0;
        if done || t0.elapsed() > ONCHAIN_WITHIN {
            break (closing, funding);
        }
        let _ = btc.mine(1);
        std::thread::sleep(Duration::from_secs(1));
    };
    let mut v = Vec::new();
    let closing_confs = closing.map_or(0, |(_, n)| n);
    if closing_confs == 0 {
        v.push(format!(
            "the cooperative closing of A's channel with D (funding {old}), made while bitcoind was \
             down, is not in the chain {} s after the run ({closing:?})",
            ONCHAIN_WITHIN.as_secs()
        ));
    }
    if funding == 0 {
        v.push(format!(
            "the funding {} of A's channel with D, made while bitcoind was down, is not in the \
             chain {} s after the run",
            new.txid,
            ONCHAIN_WITHIN.as_secs()
        ));
    }
    let figure = format!(
        "made while bitcoind was down: a cooperative closing ({closing_confs} confirmations) and \
         a funding ({funding} confirmations, its channel ready) once it was back"
    );
    (v, figure)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the payments made while bitcoind was down did: (asked and answered within an outage,
/// complete among them), and a violation when none completed.
fn during_outages(outage: &BitcoindOutage<'_>, r: &Report) -> (usize, usize, Vec<String>) {
    let (mut within, mut complete, mut v) = (0, 0, Vec::new());
    for (n, o) in outage.outages.iter().enumerate() {
        let inside: Vec<_> = r
            .records
            .iter()
            .filter(|x| x.window.is_some_and(|(asked, done)| asked >= o.down && done <= o.up))
            .collect();
        let ok = inside
            .iter()
            .filter(|x| x.outcome.as_ref().is_some_and(|p| p.outcome == Outcome::Complete))
            .count();
        say(
            TEST,
            format!(
                "outage {}: {} payments asked and answered while bitcoind was down, {ok} \
                 complete",
                n + 1,
                inside.len()
            ),
        );
        if ok == 0 {
            v.push(format!(
                "outage {}: no payment completed while bitcoind was down ({} tried)",
                n + 1,
                inside.len()
            ));
        }
        within += inside.len();
        complete += ok;
    }
    (within, complete, v)
}

#[test]
fn bitcoind_outage() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let rounds = size.pick(1, 2);
    let down_for = Duration::from_secs(size.pick(20, 60));
    let (sends, receives) = size.pick((60, 15), (400, 100));
    say(
        TEST,
        format!(
            "size {}, seed {seed}: {rounds} bitcoind outage(s) of {} s, {sends} sends, \
             {receives} receives",
            size.name(),
            down_for.as_secs()
        ),
    );

    let btc = Bitcoind::start_restartable().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line(&btc, dir.path(), &exe(), &["A", "B", "C"], CAPACITY_SAT, PUSH_MSAT)
        .expect("the lab A - B - C");
    let chain_access = ChainAccess::from(&btc);
    let d = Daemon::spawn("D", &exe(), &dir.path().join("D"), &chain_access, free_port().unwrap())
        .expect("D");
    let (old_id, old) = open_to_d(&lab[0], &d).expect("A's channel with D");
    // The funding is broadcast a moment after A lists its outpoint: mined before it reaches
    // the mempool, it would confirm in none of the blocks below.
    btc.wait_for_tx_in_mempool(&old.txid, Duration::from_secs(30)).expect("the funding broadcast");
    {
        let a = lab[0].node();
        let dn = d.node();
        mine_and_sync(&btc, 6, &[a.as_ref().unwrap(), dn.as_ref().unwrap()]).expect("6 blocks");
    }
    chain::wait_channel(&lab[0], &old.txid, "ready", |c| c["state"] == "ready").expect("ready");
    let from = btc.height().unwrap();
    let before = check::lab_outbound_msat(&lab).expect("balances before");

    // Each outage: a few seconds of load first, then bitcoind away; the payments span them all.
    let gap = (Duration::from_secs(3), Duration::from_secs(6));
    let schedule = (down_for + Duration::from_secs(10)) * rounds as u32;
    let specs = run::plan(sends, receives, (0, 2), schedule, &mut rng);
    let settings = Settings {
        senders: 4,
        block_every: Some(Duration::from_secs(3)),
        client_grace: Duration::from_secs(90),
        settle_timeout: Duration::from_secs(size.pick(90, 180)),
    };
    let mut outage = BitcoindOutage {
        btc: &btc,
        rounds,
        gap,
        down_for,
        catch_up_within: Duration::from_secs(30),
        outages: Vec::new(),
    };
    let (r, new) = std::thread::scope(|s| {
        let act = s.spawn(|| while_down(&btc, &lab[0], &d, &old_id));
        let r = run::run(&btc, &lab, specs, &settings, &mut outage, &mut rng);
        (r, act.join().unwrap_or_else(|_| Err("panicked".into())))
    });
    let (within, complete, mut extra) = during_outages(&outage, &r);
    match new {
        Ok(new) => {
            let (v, figure) = mined_later(&btc, &old, &new, from);
            say(TEST, figure);
            extra.extend(v);
        }
        Err(e) => extra.push(format!("on-chain actions while bitcoind was down: {e}")),
    }
    say(TEST, format!("while bitcoind was down: {complete} of {within} payments complete"));
    if let (Ok(settled), Some(o)) = (&r.settle, outage.outages.last()) {
        let after = settled - o.up.duration_since(o.down).as_secs_f64();
        say(TEST, format!("settled {after:.1} s after bitcoind came back"));
    }
    let closed = [old_id];
    let expected =
        check::Expected { channels: &CHANNELS, closed_on_purpose: &closed, expected_log: &[] };
    verdict_with(TEST, seed, &lab, &before, &r, &expected, &extra);
}
