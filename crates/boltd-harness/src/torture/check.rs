//! What a torture run checks once it has settled: every payment's record at both ends, the
//! channels and balances, the event log and the daemons' logs. Each check adds a violation (a
//! sentence saying what is wrong, with the evidence) instead of stopping at the first one.

use std::collections::HashMap;

use serde_json::Value;

use super::daemon::Daemon;
use super::run::{PayKind, Record};
use super::Outcome;
use crate::ApiFailure;

/// Log lines that mean a channel was (or is about to be) force-closed, matched
/// case-insensitively: LDK's message when it finds a channel manager older than a channel
/// monitor, and boltd's and LDK's own words for a force-close.
pub const FORCE_CLOSE_LOG: &[&str] = &["ChannelManager is stale", "force-clos", "force clos"];

/// LDK's words when a node declines a channel a peer asked to open (boltd declines an anchor
/// channel its on-chain reserve would not cover; the peer then opens a legacy one): no channel
/// existed, nothing is closed, so such lines are not force-closes.
pub const DECLINED_REQUEST_LOG: &str = "Force-closing inbound channel request";

/// `line` without terminal colour codes (`ESC [ ... m`), as logs read in a test's output.
pub fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every payment record of `d` in `direction` (`incoming` or `outgoing`), paging through
/// `GET /api/v1/payments`.
pub fn history(d: &Daemon, direction: &str) -> Result<Vec<Value>, ApiFailure> {
    const PAGE: usize = 1000;
    let mut all = Vec::new();
    loop {
        let path =
            format!("/api/v1/payments?direction={direction}&limit={PAGE}&offset={}", all.len());
        let page = d.get(&path)?;
        let page = page.as_array().cloned().unwrap_or_default();
        let n = page.len();
        all.extend(page);
        if n < PAGE {
            return Ok(all);
        }
    }
}

/// The sum of `outbound_msat` over a node's channels: what it can send, which moves by exactly
/// the amounts (and fees) of payments once no HTLC is in flight (the reserve and anchors it
/// leaves out do not move).
pub fn outbound_msat(d: &Daemon) -> Result<u64, ApiFailure> {
    let channels = d.get("/api/v1/node/channels")?;
    Ok(channels
        .as_array()
        .map(|cs| cs.iter().map(|c| c["outbound_msat"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0))
}

/// Each node's Σ `outbound_msat` over its channels with other nodes of `lab` (what [`check`]
/// compares with; channels with nodes outside the lab are left out).
pub fn lab_outbound_msat(lab: &[Daemon]) -> Result<Vec<u64>, ApiFailure> {
    lab.iter()
        .map(|d| {
            let channels = d.get("/api/v1/node/channels")?;
            Ok(channels
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| with_lab(lab, c))
                .map(|c| c["outbound_msat"].as_u64().unwrap_or(0))
                .sum())
        })
        .collect()
}

/// One node as the checks see it after a run.
#[derive(Debug, Default)]
pub struct NodeState {
    /// Its outgoing payment records.
    pub outgoing: Vec<Value>,
    /// Its incoming payment records.
    pub incoming: Vec<Value>,
    /// Its channels.
    pub channels: Vec<Value>,
    /// `channel_closed` events of its event log.
    pub closed_events: Vec<Value>,
    /// Lines of its log that speak of a force-close ([`FORCE_CLOSE_LOG`]).
    pub force_close_lines: Vec<String>,
    /// Σ `outbound_msat` of its channels.
    pub outbound_msat: u64,
}

/// Reads what the checks need from a running daemon.
pub fn snapshot(d: &Daemon) -> Result<NodeState, String> {
    let e = |what: &str, err: ApiFailure| format!("{}: reading {what}: {err}", d.name);
    let channels = d.get("/api/v1/node/channels").map_err(|x| e("channels", x))?;
    let closed = d
        .get("/api/v1/notifications/wait?types=channel_closed&timeout_secs=0&limit=1000")
        .map_err(|x| e("the event log", x))?;
    let channels = channels.as_array().cloned().unwrap_or_default();
    Ok(NodeState {
        outgoing: history(d, "outgoing").map_err(|x| e("outgoing payments", x))?,
        incoming: history(d, "incoming").map_err(|x| e("incoming payments", x))?,
        outbound_msat: channels.iter().map(|c| c["outbound_msat"].as_u64().unwrap_or(0)).sum(),
        channels,
        closed_events: closed["notifications"].as_array().cloned().unwrap_or_default(),
        force_close_lines: d
            .log_lines_with(FORCE_CLOSE_LOG)
            .into_iter()
            .filter(|l| !l.contains(DECLINED_REQUEST_LOG))
            .collect(),
    })
}

fn amount_sent(r: &Value) -> u64 {
    r["amount_sent_msat"].as_u64().unwrap_or_else(|| {
        r["amount_msat"].as_u64().unwrap_or(0) + r["fee_msat"].as_u64().unwrap_or(0)
    })
}

fn is(r: &Value, status: &str) -> bool {
    r["status"] == status
}

/// What the checks expect of the lab's channels.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// How many channels each node has with other nodes of the lab (all open and ready at the
    /// end). Channels with nodes outside the lab are left out of the channel and balance checks.
    pub channels: &'a [usize],
    /// Channels the scenario closed on purpose (ids, hex): their `channel_closed` events, and
    /// log lines that name them, are not counted as force-closes of the run.
    pub closed_on_purpose: &'a [String],
    /// Nor are log lines with one of these (the reason LDK gives for a closing on purpose, in
    /// lines that do not name the channel).
    pub expected_log: &'a [&'a str],
}

impl<'a> Expected<'a> {
    /// `channels` per node, none closed on purpose.
    pub fn channels(channels: &'a [usize]) -> Expected<'a> {
        Expected { channels, closed_on_purpose: &[], expected_log: &[] }
    }

    /// Whether a log line speaks of a closing on purpose.
    pub fn on_purpose(&self, line: &str) -> bool {
        self.closed_on_purpose.iter().any(|c| line.contains(c.as_str()))
            || self.expected_log.iter().any(|l| line.contains(l))
    }
}

/// Whether `c` (a channel of the API's list) is with a node of `lab`.
pub fn with_lab(lab: &[Daemon], c: &Value) -> bool {
    lab.iter().any(|d| c["peer_node_id"].as_str() == Some(&d.node_id))
}

/// Force-close figures of a run.
#[derive(Debug, Default, Clone)]
pub struct ForceCloses {
    /// Distinct channels closed, by the `channel_closed` events of all nodes.
    pub channels_closed: usize,
    /// Channels that are not open and ready at the end (gone, or in another state), counted at
    /// each end.
    pub channels_lost: usize,
    /// `channel_closed` events, summed over the nodes.
    pub closed_events: usize,
    /// Log lines speaking of a force-close, summed over the nodes.
    pub log_lines: usize,
}

/// Checks the invariants of a line of nodes (`lab[i]` pays and is paid only across the others,
/// every payment between the two ends): `records` are what the clients did, `before` each
/// node's Σ `outbound_msat` (over its channels with the lab) before the run, `expected` what
/// channels there are. Returns the violations and the force-close figures.
pub fn check(
    lab: &[Daemon],
    states: &[NodeState],
    records: &[Record],
    before: &[u64],
    expected: &Expected<'_>,
) -> (Vec<String>, ForceCloses) {
    let channels = expected.channels;
    let on_purpose =
        |id: &Value| expected.closed_on_purpose.iter().any(|c| id.as_str() == Some(c.as_str()));
    let mut v = Vec::new();
    let mut fc = ForceCloses::default();

    // Nothing paid twice: one outgoing record per hash at each payer, one incoming per hash.
    for (d, s) in lab.iter().zip(states) {
        for (dir, list) in [("outgoing", &s.outgoing), ("incoming", &s.incoming)] {
            let mut by_hash: HashMap<&str, usize> = HashMap::new();
            for r in list.iter() {
                if let Some(h) = r["payment_hash"].as_str() {
                    *by_hash.entry(h).or_default() += 1;
                }
            }
            for (h, n) in by_hash.into_iter().filter(|(_, n)| *n > 1) {
                v.push(format!("paid twice: {} has {n} {dir} records of payment hash {h}", d.name));
            }
        }
    }

    // Every record at a payer is a payment of the plan, one per key; every incoming record at
    // a payee is one of those payments (a retry never became a second payment).
    let mut hashes: Vec<Option<String>> = records.iter().map(|r| r.hash.clone()).collect();
    for (i, s) in states.iter().enumerate() {
        let mut by_key: HashMap<&str, usize> = HashMap::new();
        for r in &s.outgoing {
            let key = r["idempotency_key"].as_str().unwrap_or("");
            *by_key.entry(key).or_default() += 1;
            match records.iter().position(|x| x.key == key && x.spec.payer == i) {
                Some(p) if hashes[p].is_none() => {
                    hashes[p] = r["payment_hash"].as_str().map(String::from)
                }
                Some(_) => {}
                None => v.push(format!("{}: an outgoing record no client made: {r}", lab[i].name)),
            }
        }
        for (key, n) in by_key.into_iter().filter(|(_, n)| *n > 1) {
            v.push(format!("paid twice: {} has {n} outgoing records with key {key}", lab[i].name));
        }
    }
    for (i, s) in states.iter().enumerate() {
        for r in &s.incoming {
            let h = r["payment_hash"].as_str();
            let ours = records
                .iter()
                .zip(&hashes)
                .any(|(x, hash)| x.spec.payee == i && hash.as_deref() == h);
            if !ours {
                v.push(format!(
                    "{}: an incoming payment of no payment of the plan: {r}",
                    lab[i].name
                ));
            }
        }
    }

    let find = |list: &[Value], hash: &str| -> Option<Value> {
        list.iter().find(|r| r["payment_hash"].as_str() == Some(hash)).cloned()
    };
    for (rec, hash) in records.iter().zip(&hashes) {
        let spec = &rec.spec;
        let (payer, payee) = (&lab[spec.payer], &lab[spec.payee]);
        let Some(hash) = hash.as_deref() else {
            if rec.outcome.as_ref().is_some_and(|o| o.saw_complete) {
                v.push(format!("payment {}: answered complete but no payment hash known", spec.id));
            }
            continue;
        };
        let sent = find(&states[spec.payer].outgoing, hash);
        let got = find(&states[spec.payee].incoming, hash);
        let what =
            format!("payment {} ({:?} {}→{}, {hash})", spec.id, spec.kind, payer.name, payee.name);
        if let Some(o) = &rec.outcome {
            // Every acknowledged success stays a success; every acknowledged failure a failure.
            if o.saw_complete && !sent.as_ref().is_some_and(|r| is(r, "complete")) {
                v.push(format!(
                    "{what}: the client was told complete, the record now says {}",
                    status(&sent)
                ));
            }
            if o.saw_failed && sent.as_ref().is_some_and(|r| !is(r, "failed")) {
                v.push(format!(
                    "{what}: the client was told failed, the record now says {}",
                    status(&sent)
                ));
            }
        }
        // Every send agrees with its receive (payer complete <=> payee received, same amount).
        let paid = sent.as_ref().is_some_and(|r| is(r, "complete"));
        let received = got.as_ref().is_some_and(|r| is(r, "complete"));
        if paid != received {
            v.push(format!(
                "{what}: payer says {}, payee's incoming record says {}",
                status(&sent),
                status(&got)
            ));
        } else if paid {
            let (a, b) =
                (&sent.as_ref().unwrap()["amount_msat"], &got.as_ref().unwrap()["amount_msat"]);
            if a != b || a.as_u64() != Some(spec.amount_msat) {
                v.push(format!(
                    "{what}: {} msat asked, payer sent {a}, payee got {b}",
                    spec.amount_msat
                ));
            }
        }
        if spec.kind != PayKind::Keysend && rec.invoice_acked {
            // The receive behind an acknowledged invoice is there, settled exactly when paid.
            match payee.get(&format!("/api/v1/lightning/receives/{hash}")) {
                Ok(r) if (r["state"] == "settled") != paid => v.push(format!(
                    "{what}: payer says {}, the receive is {}",
                    status(&sent),
                    r["state"]
                )),
                Ok(_) => {}
                Err(e) => v.push(format!("{what}: the acknowledged invoice is gone: {e}")),
            }
        }
    }

    // Nothing pending once the run has settled.
    for (d, s) in lab.iter().zip(states) {
        let pending: Vec<_> = s.outgoing.iter().filter(|r| is(r, "pending")).collect();
        if !pending.is_empty() {
            let hashes: Vec<_> = pending.iter().map(|r| r["payment_hash"].clone()).collect();
            v.push(format!("{} still has {} pending payments: {hashes:?}", d.name, pending.len()));
        }
        match d.get("/api/v1/lightning/receives") {
            Ok(list) => {
                for r in list.as_array().into_iter().flatten() {
                    if r["state"] == "htlcs_arrived" || r["state"] == "preimage_revealed" {
                        v.push(format!(
                            "{}: receive {} is still {}",
                            d.name, r["payment_hash"], r["state"]
                        ));
                    }
                }
            }
            Err(e) => v.push(format!("{}: cannot list pending receives: {e}", d.name)),
        }
    }

    // Channels: all still open and ready, none closed, no log line of a force-close.
    for (i, (d, s)) in lab.iter().zip(states).enumerate() {
        let lab_channels: Vec<&Value> = s.channels.iter().filter(|c| with_lab(lab, c)).collect();
        let ready = lab_channels.iter().filter(|c| c["state"] == "ready").count();
        if ready != channels[i] || lab_channels.len() != channels[i] {
            fc.channels_lost += channels[i].saturating_sub(ready);
            let list: Vec<_> = lab_channels
                .iter()
                .map(|c| (c["peer_node_id"].clone(), c["state"].clone()))
                .collect();
            v.push(format!(
                "{}: {} channels expected open and ready, found {list:?}",
                d.name, channels[i]
            ));
        }
        for c in &s.channels {
            if c["pending_htlcs"].as_u64().unwrap_or(0) > 0 {
                v.push(format!(
                    "{}: channel {} still has {} HTLCs in flight",
                    d.name, c["channel_id"], c["pending_htlcs"]
                ));
            }
        }
        let closed: Vec<_> =
            s.closed_events.iter().filter(|e| !on_purpose(&e["channel"]["channel_id"])).collect();
        fc.closed_events += closed.len();
        for e in closed {
            v.push(format!("{}: channel_closed in the event log: {}", d.name, e["channel"]));
        }
        let lines: Vec<_> =
            s.force_close_lines.iter().filter(|l| !expected.on_purpose(l)).collect();
        fc.log_lines += lines.len();
        for l in lines.into_iter().take(3) {
            v.push(format!("{}'s log ({}): {l}", d.name, d.log_path().display()));
        }
    }

    // Balances: each node's Σ outbound moved by exactly what completed, fees included; the
    // nodes in between earned the fees of every payment that completed (one hop between the
    // ends of a line of three).
    let fees: u64 = states
        .iter()
        .flat_map(|s| s.outgoing.iter())
        .filter(|r| is(r, "complete"))
        .map(|r| amount_sent(r) - r["amount_msat"].as_u64().unwrap_or(0))
        .sum();
    let ends: Vec<usize> = records.iter().flat_map(|r| [r.spec.payer, r.spec.payee]).collect();
    for (i, (d, s)) in lab.iter().zip(states).enumerate() {
        let received: u64 = s
            .incoming
            .iter()
            .filter(|r| is(r, "complete"))
            .map(|r| r["amount_msat"].as_u64().unwrap_or(0))
            .sum();
        let spent: u64 = s.outgoing.iter().filter(|r| is(r, "complete")).map(amount_sent).sum();
        let earned = if ends.contains(&i) { 0 } else { fees };
        let want = before[i] as i128 + received as i128 - spent as i128 + earned as i128;
        let outbound: u64 = s
            .channels
            .iter()
            .filter(|c| with_lab(lab, c))
            .map(|c| c["outbound_msat"].as_u64().unwrap_or(0))
            .sum();
        if want != outbound as i128 {
            v.push(format!(
                "{}: Σ outbound_msat {} before, {} after; the records say {want} \
                 (+{received} received, -{spent} sent with fees, +{earned} fees earned): off by {} msat",
                d.name,
                before[i],
                outbound,
                outbound as i128 - want
            ));
        }
    }
    let mut closed: Vec<&Value> = states
        .iter()
        .flat_map(|s| s.closed_events.iter().map(|e| &e["channel"]["channel_id"]))
        .filter(|id| !on_purpose(id))
        .collect();
    closed.sort_by_key(|c| c.to_string());
    closed.dedup();
    fc.channels_closed = closed.len();
    (v, fc)
}

fn status(r: &Option<Value>) -> String {
    match r {
        Some(r) => format!("{} ({} msat)", r["status"], r["amount_msat"]),
        None => "no record".into(),
    }
}

/// The outcomes of a run's payments.
#[derive(Debug, Default)]
pub struct Tally {
    /// Complete.
    pub complete: usize,
    /// Failed (a final failed answer or refusal).
    pub failed: usize,
    /// Without a final answer.
    pub unresolved: usize,
    /// Never paid (no invoice).
    pub skipped: usize,
    /// Why they failed (or were not resolved or paid), most frequent first: the reason, how
    /// many, one example in full. Reasons count together by what comes before their first `:`
    /// (an API answer's status and code).
    pub reasons: Vec<(String, usize, String)>,
}

/// Counts the outcomes of `records`.
pub fn tally(records: &[Record]) -> Tally {
    let mut t = Tally::default();
    let mut why: HashMap<String, (usize, String)> = HashMap::new();
    let mut count = |prefix: &str, reason: &str| {
        let key = format!("{prefix}{}", reason.split(':').next().unwrap_or(""));
        let e = why.entry(key).or_insert_with(|| (0, reason.chars().take(160).collect()));
        e.0 += 1;
    };
    for r in records {
        match r.outcome.as_ref().map(|o| &o.outcome) {
            Some(Outcome::Complete) => t.complete += 1,
            Some(Outcome::Failed(reason)) => {
                t.failed += 1;
                count("", reason);
            }
            Some(Outcome::Unresolved(reason)) => {
                t.unresolved += 1;
                count("unresolved: ", reason);
            }
            None => {
                t.skipped += 1;
                count("no invoice: ", r.error.as_deref().unwrap_or(""));
            }
        }
    }
    t.reasons = why.into_iter().map(|(k, (n, e))| (k, n, e)).collect();
    t.reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torture::run::{PayKind, Spec};
    use crate::torture::PayOutcome;

    #[test]
    fn plain_drops_colour_codes() {
        let line = "\u{1b}[2m2026-12-04T14:01:24Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m ldk: stale";
        assert_eq!(plain(line), "2026-12-04T14:01:24Z ERROR ldk: stale");
        assert_eq!(plain("no codes"), "no codes");
    }

    fn record(id: usize, outcome: Option<Outcome>) -> Record {
        let spec = Spec {
            id,
            kind: PayKind::Invoice,
            payer: 0,
            payee: 2,
            amount_msat: 1_000_000,
            release: Default::default(),
        };
        Record {
            key: format!("k{id}"),
            spec,
            hash: None,
            invoice_acked: true,
            outcome: outcome.map(|outcome| PayOutcome {
                outcome,
                payment_hash: None,
                tries: 1,
                saw_complete: false,
                saw_failed: false,
                answers: vec![],
            }),
            error: Some("C: invoice: no answer".into()),
            window: None,
        }
    }

    #[test]
    fn tally_counts_outcomes_and_groups_reasons_by_code() {
        let failed = |r: &str| Some(Outcome::Failed(r.into()));
        let records = [
            record(0, Some(Outcome::Complete)),
            record(1, failed("400 insufficient_balance: 1000 msat needed")),
            record(2, failed("400 insufficient_balance: 2000 msat needed")),
            record(3, failed("422 route_not_found: unable to find a route")),
            record(4, Some(Outcome::Unresolved("no final answer".into()))),
            record(5, None),
        ];
        let t = tally(&records);
        assert_eq!((t.complete, t.failed, t.unresolved, t.skipped), (1, 3, 1, 1));
        assert_eq!(t.reasons[0].0, "400 insufficient_balance");
        assert_eq!(t.reasons[0].1, 2);
        assert_eq!(t.reasons[0].2, "400 insufficient_balance: 1000 msat needed");
        assert_eq!(t.reasons.len(), 4, "{:?}", t.reasons);
    }
}
