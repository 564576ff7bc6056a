//! T8, chain chaos: reorgs. While A and C pay each other across B (the line's channels are
//! deep in the chain and never reorged), a fourth daemon D gets channels from A whose blocks
//! are reorged by hand (`invalidateblock`, then a longer branch), in rounds of three steps:
//!
//! 1. **Funding reorged out below its depth**: A opens a channel to D; after 2 of the 6
//!    confirmations it needs, the funding block is invalidated and 3 empty blocks are mined (the
//!    funding transaction waits in the mempool). Every daemon must follow the new branch; LDK
//!    keeps the channel waiting (0 confirmations, not closed); once the funding confirms again
//!    (at another height, so another short channel id) the channel becomes ready.
//! 2. **A cooperative close reorged out**: A closes that channel; the closing transaction is
//!    confirmed, buried 7 deep (LDK then hands the outputs to the sweepers, whose sweeps
//!    confirm), and those 8 blocks are replaced by 9 empty ones: closing and sweeps are back in
//!    the mempool, the wallets must show their funds unconfirmed again, nobody may treat it as a
//!    new closing (one `channel_closed` per side); then they confirm again.
//! 3. **Funding of a ready channel reorged out**: A opens another channel to D, 6 confirmations,
//!    ready; the funding block is invalidated and the branch that replaces it (7 blocks)
//!    includes the funding again. LDK 0.2 force-closes such a channel at both ends, whatever
//!    the depth ("Funding transaction was un-confirmed. Locked at 6 confs, now have 0 confs."):
//!    a closing the scenario causes on purpose. Its funds come back through the commitment
//!    transaction and the sweepers once the run is over (144 blocks of delay for the side whose
//!    commitment confirmed).
//!
//! Then: the checks of the kill loop on A - B - C (the channels with D left out, their
//! closings expected), and the on-chain accounting of every channel A opened to D, to the
//! satoshi: A's wallet moved by -(capacity + funding fee) + A's outputs - A's sweep fees, D's by
//! D's outputs - D's sweep fees, and D's outputs of every channel are exactly what A pushed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bitcoin::{OutPoint, Txid};
use boltd_harness::torture::chain::{self, Spends};
use boltd_harness::torture::disrupt::exited_on_their_own;
use boltd_harness::torture::run::{self, Disruption, Disruptor, Settings};
use boltd_harness::torture::{check, say, Daemon, Size};
use boltd_harness::{free_port, wait_until, Bitcoind, ChainAccess, HarnessError};
use rand::rngs::StdRng;
use serde_json::json;

use super::{exe, serial, verdict_with, CAPACITY_SAT, CHANNELS, PUSH_MSAT};

const TEST: &str = "chaos_reorg";
/// LDK's reason for closing a channel whose funding left the chain after it was ready.
const UNCONFIRMED: &str = "Funding transaction was un-confirmed";
/// The channels A opens to D, and what A pushes to D in each.
const CHANNEL_SAT: u64 = 1_000_000;
const PUSH_SAT: u64 = 300_000;
const WAIT: Duration = Duration::from_secs(30);
/// How long the sweepers may take: LDK's background processor runs them every 30 s.
const SWEEP_WAIT: Duration = Duration::from_secs(70);
/// Blocks after which the outputs of a force-closed channel are all spendable (the delay of
/// the broadcaster's own output, 144 blocks, and 6 to be sure of the commitment).
const MATURITY: u32 = 150;
/// How long the channels with D may take to be resolved after the run.
const RESOLVE_WITHIN: Duration = Duration::from_secs(150);
const POLL: Duration = Duration::from_millis(100);

/// A channel A opened to D.
#[derive(Debug, Clone)]
struct Chan {
    channel_id: String,
    funding: OutPoint,
    funding_fee_sat: u64,
}

/// The reorg steps (see the module documentation), one per call of [`Disruptor::next`].
struct Reorger<'a> {
    btc: &'a Bitcoind,
    /// D, outside the line.
    d: &'a Daemon,
    rounds: usize,
    done: usize,
    /// Every channel A opened to D.
    chans: Vec<Chan>,
    /// Channels closed on purpose (ids).
    closed: Vec<String>,
    /// Where the first channel was funded (the accounting reads the chain from there).
    first_height: Option<u32>,
    /// Blocks mined, in both branches.
    blocks: u32,
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

impl Reorger<'_> {
    /// Every daemon of the lab, and D.
    fn all<'b>(&'b self, lab: &'b [Daemon]) -> Vec<&'b Daemon> {
        lab.iter().chain([self.d]).collect()
    }

    /// A opens a channel to D and its funding transaction reaches the mempool.
    fn open(&mut self, a: &Daemon) -> Result<Chan, String> {
        let (btc, d) = (self.btc, self.d);
        let body = json!({
            "node_id": d.node_id,
            "address": format!("127.0.0.1:{}", d.p2p_port),
            "amount_sat": CHANNEL_SAT,
            "push_msat": PUSH_SAT * 1000,
            "public": false,
        });
        a.post("/api/v1/node/channels/open", body).map_err(|x| format!("A: open to D: {x}"))?;
        let known: HashSet<OutPoint> = self.chans.iter().map(|c| c.funding).collect();
        let (channel_id, funding) =
            wait_until("A's new channel with D to get its funding transaction", WAIT, POLL, || {
                let list = a.get("/api/v1/node/channels").map_err(|x| HarnessError::Other(e(x)))?;
                Ok(list.as_array().into_iter().flatten().find_map(|c| {
                    let op: OutPoint = c["funding_outpoint"].as_str()?.parse().ok()?;
                    let ours = c["peer_node_id"] == d.node_id.as_str() && !known.contains(&op);
                    ours.then(|| (c["channel_id"].as_str().unwrap_or_default().to_string(), op))
                }))
            })
            .map_err(e)?;
        chain::wait_mempool(btc, &funding.txid).map_err(e)?;
        let funding_fee_sat =
            chain::fee_sat(btc, &chain::tx(btc, &funding.txid).map_err(e)?).map_err(e)?;
        self.first_height.get_or_insert(btc.height().map_err(e)? + 1);
        Ok(Chan { channel_id, funding, funding_fee_sat })
    }

    /// Mines `n` blocks (of a replacement branch: `branch`); the funding or closing `txid` must
    /// be in the first.
    fn mine_with(
        &mut self,
        n: u32,
        txid: &Txid,
        branch: bool,
    ) -> Result<Vec<bitcoin::BlockHash>, String> {
        let hashes = if branch { chain::mine_branch(self.btc, n) } else { self.btc.mine(n) };
        let hashes = hashes.map_err(e)?;
        self.blocks += n;
        if !chain::block_has(self.btc, &hashes[0], txid).map_err(e)? {
            return Err(format!("{txid} is not in the block mined after it reached the mempool"));
        }
        Ok(hashes)
    }

    fn tip(&self) -> Result<u32, String> {
        self.btc.height().map_err(e)
    }

    /// Step 1: a funding reorged out at 2 of 6 confirmations.
    fn below_depth(&mut self, lab: &[Daemon], v: &mut Vec<String>) -> Result<String, String> {
        let (btc, a, d) = (self.btc, &lab[0], self.d);
        let c = self.open(a)?;
        let f = c.funding.txid;
        let start = self.tip()?;
        let first = self.mine_with(2, &f, false)?;
        chain::wait_height(&self.all(lab), start + 2).map_err(e)?;
        for n in [a, d] {
            chain::wait_channel(n, &f, "at 2 confirmations", |c| c["confirmations"] == 2)
                .map_err(e)?;
        }
        chain::invalidate(btc, &first[0]).map_err(e)?;
        chain::wait_mempool(btc, &f).map_err(e)?;
        chain::mine_empty(btc, 3).map_err(e)?;
        self.blocks += 3;
        let t0 = Instant::now();
        chain::wait_height(&self.all(lab), start + 3).map_err(e)?;
        let followed = t0.elapsed().as_secs_f64();
        for n in [a, d] {
            match chain::channel(n, &f).map_err(e)? {
                Some(ch)
                    if ch["state"] == "pending_confirmation"
                        && ch["confirmations"].as_u64().unwrap_or(0) == 0 => {}
                other => v.push(format!(
                    "{}: after its funding was reorged out the channel {f} is {other:?} (expected \
                     pending_confirmation with 0 confirmations)",
                    n.name
                )),
            }
            if !chain::closed(n, &c.channel_id).map_err(e)?.is_empty() {
                v.push(format!(
                    "{}: the channel {} was closed by a shallow reorg",
                    n.name, c.channel_id
                ));
            }
        }
        self.mine_with(6, &f, false)?;
        let height = start + 4;
        for n in [a, d] {
            let ch = chain::wait_channel(n, &f, "ready", |c| c["state"] == "ready").map_err(e)?;
            let scid = ch["short_channel_id"].as_str().unwrap_or_default();
            if !scid.starts_with(&format!("{height}x")) {
                v.push(format!(
                    "{}: channel {f} has short channel id {scid}, not at height {height}",
                    n.name
                ));
            }
        }
        self.chans.push(c);
        Ok(format!(
            "funding {f} reorged out at 2 of 6 confirmations (3 empty blocks): every daemon at the \
             new tip {} in {followed:.1} s, the channel waiting at 0 confirmations; confirmed again \
             at {height}, ready",
            start + 3
        ))
    }

    /// Step 2: a cooperative close, its sweeps and 8 blocks reorged out by 9 empty ones.
    fn close_reorged(&mut self, lab: &[Daemon], v: &mut Vec<String>) -> Result<String, String> {
        let (btc, a, d) = (self.btc, &lab[0], self.d);
        let c = self.chans.last().cloned().ok_or("no channel to close")?;
        let body = json!({ "channel_id": c.channel_id });
        a.post("/api/v1/node/channels/close", body).map_err(|x| format!("A: close: {x}"))?;
        let from = self.tip()?;
        let closing =
            wait_until("the closing transaction to reach the mempool", WAIT, POLL, || {
                chain::spender(btc, &c.funding, from)
            })
            .map_err(e)?;
        let ct = closing.compute_txid();
        let start = self.tip()?;
        let buried = self.mine_with(7, &ct, false)?;
        chain::wait_height(&self.all(lab), start + 7).map_err(e)?;
        // LDK hands the closing's outputs over at 6 confirmations; the sweeps follow.
        let outputs: Vec<OutPoint> =
            (0..closing.output.len() as u32).map(|vout| OutPoint { txid: ct, vout }).collect();
        let sweeps = wait_until("the closing's outputs to be swept", SWEEP_WAIT, POLL, || {
            let mut s = Vec::new();
            for o in &outputs {
                match chain::spender(btc, o, start)? {
                    Some(t) => s.push(t.compute_txid()),
                    None => return Ok(None),
                }
            }
            Ok(Some(s))
        })
        .map_err(e)?;
        let swept = btc.mine(1).map_err(e)?;
        self.blocks += 1;
        for t in &sweeps {
            if !chain::block_has(btc, &swept[0], t).map_err(e)? {
                v.push(format!("sweep {t} was not mined once in the mempool"));
            }
        }
        chain::wait_height(&self.all(lab), start + 8).map_err(e)?;
        let before = chain::balance(d).map_err(e)?;

        chain::invalidate(btc, &buried[0]).map_err(e)?;
        chain::mine_empty(btc, 9).map_err(e)?;
        self.blocks += 9;
        let t0 = Instant::now();
        chain::wait_height(&self.all(lab), start + 9).map_err(e)?;
        let followed = t0.elapsed().as_secs_f64();
        if !chain::in_mempool(btc, &ct).map_err(e)? {
            v.push(format!("the closing {ct} is not back in the mempool after the reorg"));
        }
        // A sweep comes back only once final again (LDK sets its lock time to the height it was
        // made at); the sweepers broadcast again meanwhile.
        let mut back = 0;
        for t in &sweeps {
            back += usize::from(chain::in_mempool(btc, t).map_err(e)?);
        }
        // D's funds came only from this closing: none of them is confirmed now.
        let now = chain::balance(d).map_err(e)?;
        if now["confirmed_sat"] != 0 {
            v.push(format!(
                "D's wallet did not follow the reorg of its closing: {before} before, {now} after"
            ));
        }
        let again = btc.mine(1).map_err(e)?;
        self.blocks += 1;
        if !chain::block_has(btc, &again[0], &ct).map_err(e)? {
            v.push(format!("the closing {ct} was not mined again"));
        }
        chain::wait_height(&self.all(lab), start + 10).map_err(e)?;
        for n in [a, d] {
            let events = chain::closed(n, &c.channel_id).map_err(e)?;
            if events.len() != 1 {
                v.push(format!(
                    "{}: {} channel_closed events for {}",
                    n.name,
                    events.len(),
                    c.channel_id
                ));
            }
        }
        self.closed.push(c.channel_id.clone());
        Ok(format!(
            "cooperative close {ct} and {} sweep(s) reorged out at 8 confirmations (9 empty \
             blocks; {back} sweep(s) back in the mempool at once): every daemon at the new tip {} \
             in {followed:.1} s, D's wallet back to unconfirmed; the closing mined again at {}",
            sweeps.len(),
            start + 9,
            start + 10
        ))
    }

    /// Step 3: the funding of a ready channel reorged out, the funding mined again at once.
    fn ready_reorged(&mut self, lab: &[Daemon], v: &mut Vec<String>) -> Result<String, String> {
        let (btc, a, d) = (self.btc, &lab[0], self.d);
        let c = self.open(a)?;
        let f = c.funding.txid;
        let start = self.tip()?;
        let blocks = self.mine_with(6, &f, false)?;
        for n in [a, d] {
            chain::wait_channel(n, &f, "ready", |c| c["state"] == "ready").map_err(e)?;
        }
        chain::wait_height(&self.all(lab), start + 6).map_err(e)?;
        chain::invalidate(btc, &blocks[0]).map_err(e)?;
        chain::wait_mempool(btc, &f).map_err(e)?;
        self.mine_with(7, &f, true)?;
        chain::wait_height(&self.all(lab), start + 7).map_err(e)?;
        let mut reasons = Vec::new();
        for n in [a, d] {
            let ev = wait_until(
                &format!("{}'s channel_closed for {}", n.name, c.channel_id),
                WAIT,
                POLL,
                || Ok(chain::closed(n, &c.channel_id)?.into_iter().next()),
            )
            .map_err(e)?;
            let reason = ev["channel"]["reason"].as_str().unwrap_or_default();
            if !reason.contains(UNCONFIRMED) {
                v.push(format!("{} closed {} for another reason: {reason}", n.name, c.channel_id));
            }
            reasons.push(format!("{}: {reason}", n.name));
            if chain::channel(n, &f).map_err(e)?.is_some_and(|c| c["state"] == "ready") {
                v.push(format!("{}: channel {f} still ready after LDK closed it", n.name));
            }
        }
        let commitment = wait_until("a commitment transaction to be broadcast", WAIT, POLL, || {
            chain::spender(btc, &c.funding, start)
        })
        .map_err(e)?;
        self.closed.push(c.channel_id.clone());
        self.chans.push(c);
        Ok(format!(
            "funding {f} of a ready channel (6 confirmations) reorged out, mined again at once in \
             a 7-block branch: LDK closed it ({}); commitment {} broadcast",
            reasons.join("; "),
            commitment.compute_txid()
        ))
    }
}

impl Disruptor for Reorger<'_> {
    fn next(&mut self, lab: &[Daemon], _released: bool, _rng: &mut StdRng) -> Option<Disruption> {
        if let Some(crash) = exited_on_their_own(lab) {
            return Some(crash);
        }
        if self.done >= 3 * self.rounds {
            return None;
        }
        let at = Instant::now();
        let mut v = Vec::new();
        let step = self.done % 3;
        self.done += 1;
        let r = match step {
            0 => self.below_depth(lab, &mut v),
            1 => self.close_reorged(lab, &mut v),
            _ => self.ready_reorged(lab, &mut v),
        };
        let note = match r {
            Ok(note) => note,
            Err(x) => {
                v.push(format!("step {}: {x}", self.done));
                format!("step {} stopped: {x}", self.done)
            }
        };
        let violation = (!v.is_empty()).then(|| v.join("; "));
        Some(Disruption { node: None, at, note, violation })
    }
}

/// What the chain says each wallet should have gained from the channels A opened to D, once
/// they are all resolved.
#[derive(Debug, Default)]
struct Accounting {
    /// A: -(capacity + funding fee) per channel, + its outputs - its sweeps' fees.
    a_sat: i64,
    /// D: its outputs - its sweeps' fees.
    d_sat: i64,
    /// Sweep transactions, by wallet.
    sweeps: (usize, usize),
    /// What disagrees with the channels' balances.
    violations: Vec<String>,
}

/// What `n`'s wallet received in each of its confirmed transactions: txid → sat.
fn received(n: &Daemon) -> Result<HashMap<Txid, u64>, HarnessError> {
    let list = n
        .get("/api/v1/onchain/transactions")
        .map_err(|x| HarnessError::Other(format!("{}: transactions: {x}", n.name)))?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| !t["confirmation_height"].is_null())
        .filter_map(|t| Some((t["txid"].as_str()?.parse().ok()?, t["received_sat"].as_u64()?)))
        .collect())
}

/// The accounting of `chans` once every one is resolved on chain: each output of its closing
/// or commitment transaction spent by a confirmed sweep that pays one wallet, all of it (A's or
/// D's, by the wallets' transaction lists). `Ok(Err(why))` while something is on its way (or
/// stuck: the caller gives up in time).
fn accounting(
    btc: &Bitcoind,
    spends: &Spends,
    a: &Daemon,
    d: &Daemon,
    chans: &[Chan],
) -> Result<Result<Accounting, String>, HarnessError> {
    let left = chain::claimable_sat(d)?;
    if left != 0 {
        return Ok(Err(format!("D still has {left} sat claimable")));
    }
    let (ar, dr) = (received(a)?, received(d)?);
    let mut acc = Accounting::default();
    let mut seen = HashSet::new();
    for c in chans {
        acc.a_sat -= (CHANNEL_SAT + c.funding_fee_sat) as i64;
        let Some(closing) = spends.of(&c.funding) else {
            return Ok(Err(format!("channel {}: no closing confirmed", c.channel_id)));
        };
        let closing = chain::tx(btc, &closing)?;
        let ct = closing.compute_txid();
        let fee = chain::fee_sat(btc, &closing)?;
        let (mut a_share, mut d_share) = (0, 0);
        for (vout, out) in closing.output.iter().enumerate() {
            let op = OutPoint { txid: ct, vout: vout as u32 };
            let Some(s) = spends.of(&op) else {
                return Ok(Err(format!("{op} (of {}'s closing) is not swept yet", c.channel_id)));
            };
            let sweep = chain::tx(btc, &s)?;
            let paid: u64 = sweep.output.iter().map(|o| o.value.to_sat()).sum();
            let to_a = if ar.get(&s) == Some(&paid) {
                true
            } else if dr.get(&s) == Some(&paid) {
                false
            } else {
                return Ok(Err(format!("sweep {s} of {op} is in neither wallet (yet)")));
            };
            let value = out.value.to_sat();
            if to_a {
                a_share += value
            } else {
                d_share += value
            }
            if seen.insert(s) {
                let fee = chain::fee_sat(btc, &sweep)? as i64;
                if to_a {
                    acc.a_sat -= fee;
                    acc.sweeps.0 += 1;
                } else {
                    acc.d_sat -= fee;
                    acc.sweeps.1 += 1;
                }
            }
        }
        acc.a_sat += a_share as i64;
        acc.d_sat += d_share as i64;
        if d_share != PUSH_SAT || a_share + d_share + fee != CHANNEL_SAT {
            acc.violations.push(format!(
                "channel {}: closed by {ct} with {a_share} sat to A and {d_share} to D (fee \
                 {fee}); D had {PUSH_SAT} sat in it",
                c.channel_id
            ));
        }
    }
    Ok(Ok(acc))
}

/// Mines (6 blocks at a time, every daemon synced; one a second past [`MATURITY`]) until every
/// channel A opened to D is resolved on chain, then checks the wallets against the chain
/// ([`accounting`]). Returns the violations and a figure.
fn resolve(
    btc: &Bitcoind,
    all: &[&Daemon],
    r: &Reorger<'_>,
    start: (u64, u64),
) -> (Vec<String>, String) {
    let (a, d) = (all[0], r.d);
    let t0 = Instant::now();
    let mut spends = Spends::from(r.first_height.unwrap_or(0));
    let mut mined = 0;
    let acc = loop {
        let step = spends.update(btc).and_then(|()| accounting(btc, &spends, a, d, &r.chans));
        match step {
            Ok(Ok(acc)) => break acc,
            Ok(Err(pending)) if t0.elapsed() > RESOLVE_WITHIN => {
                let v = format!(
                    "the channels with D are not resolved {} s and {mined} blocks after the \
                     run: {pending}",
                    RESOLVE_WITHIN.as_secs()
                );
                return (vec![v], String::new());
            }
            Ok(Err(_)) => {}
            Err(x) => return (vec![format!("resolving the channels with D: {x}")], String::new()),
        }
        // Past the delay of the force-closed channels' own outputs, a block a second: the
        // sweepers act every 30 s.
        let n = if mined < MATURITY { 6 } else { 1 };
        let tip = btc.mine(n).and_then(|_| btc.height());
        mined += n;
        if let Err(x) = tip.and_then(|t| chain::wait_height(all, t)) {
            return (vec![format!("mining to resolve the channels with D: {x}")], String::new());
        }
        if mined >= MATURITY {
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    let mut v = acc.violations;
    let now = (chain::onchain_sat(a), chain::onchain_sat(d));
    let (Ok(a_now), Ok(d_now)) = now else {
        return (vec![format!("reading the wallets: {now:?}")], String::new());
    };
    for (who, was, is, want) in [("A", start.0, a_now, acc.a_sat), ("D", start.1, d_now, acc.d_sat)]
    {
        let moved = is as i64 - was as i64;
        if moved != want {
            v.push(format!(
                "{who}'s wallet moved by {moved} sat over the channels with D; the chain says {want} \
                 (off by {})",
                moved - want
            ));
        }
    }
    let figure = format!(
        "{} channels with D resolved on chain after {mined} more blocks ({:.0} s): A's wallet {:+} \
         sat ({} sweep(s)), D's {:+} sat ({} sweep(s)), as the chain says",
        r.chans.len(),
        t0.elapsed().as_secs_f64(),
        acc.a_sat,
        acc.sweeps.0,
        acc.d_sat,
        acc.sweeps.1
    );
    (v, figure)
}

#[test]
fn reorg() {
    let _serial = serial();
    let size = Size::from_env();
    let (mut rng, seed) = boltd_harness::torture::rng();
    let rounds = size.pick(1, 3);
    let (sends, receives) = size.pick((40, 10), (150, 40));
    say(TEST, format!("size {}, seed {seed}: {rounds} round(s) of 3 reorgs, {sends} sends, {receives} receives", size.name()));

    let btc = Bitcoind::start().expect("bitcoind");
    let dir = tempfile::tempdir().unwrap();
    let lab = run::line(&btc, dir.path(), &exe(), &["A", "B", "C"], CAPACITY_SAT, PUSH_MSAT)
        .expect("the lab A - B - C");
    let chain_access = ChainAccess::from(&btc);
    // D declines anchor channels: the on-chain accounting below is to the satoshi, and an anchor
    // channel's closing leaves two 330-sat anchor outputs nobody of the run sweeps (anchors are
    // covered by `tests/anchors.rs`).
    let d = Daemon::spawn_with(
        "D",
        &exe(),
        &dir.path().join("D"),
        &chain_access,
        free_port().unwrap(),
        &["--anchor-channels", "false"],
    )
    .expect("D");
    let before = check::lab_outbound_msat(&lab).expect("balances before");
    let start = (chain::onchain_sat(&lab[0]).unwrap(), chain::onchain_sat(&d).unwrap());

    let specs =
        run::plan(sends, receives, (0, 2), Duration::from_secs(20) * rounds as u32, &mut rng);
    let settings = Settings {
        senders: 4,
        block_every: None,
        client_grace: Duration::from_secs(90),
        settle_timeout: Duration::from_secs(90),
    };
    let mut reorger = Reorger {
        btc: &btc,
        d: &d,
        rounds,
        done: 0,
        chans: Vec::new(),
        closed: Vec::new(),
        first_height: None,
        blocks: 0,
    };
    let mut r = run::run(&btc, &lab, specs, &settings, &mut reorger, &mut rng);
    r.blocks += reorger.blocks;
    let all: Vec<&Daemon> = lab.iter().chain([&d]).collect();
    let (mut extra, figure) = resolve(&btc, &all, &reorger, start);
    say(TEST, figure);
    say(
        TEST,
        format!(
            "closed on purpose: {} channels with D (a cooperative close and a force-close by LDK \
             per round)",
            reorger.closed.len()
        ),
    );
    let expected = check::Expected {
        channels: &CHANNELS,
        closed_on_purpose: &reorger.closed,
        expected_log: &[UNCONFIRMED],
    };
    for l in d.log_lines_with(check::FORCE_CLOSE_LOG) {
        if !expected.on_purpose(&l) {
            extra.push(format!("D's log: {l}"));
        }
    }
    verdict_with(TEST, seed, &lab, &before, &r, &expected, &extra);
}
