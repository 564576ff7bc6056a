//! B5 (issue 16): payment success with hidden liquidity. boltd's router (as the node uses it
//! today, and with liquidity bounds learned from failures and successes) against LDK's
//! `find_route` with a learning `ProbabilisticScorer` (the anchor), paying over a seeded hidden
//! split of every channel's capacity (see `boltd_bench::success`). Reports figures, asserts
//! nothing.
//!
//! ```text
//! bench_success [--full] [--payments N] [--warmup N] [--graphs FILE,FILE] [--liquidity uniform,depleted]
//!               [--max-attempts N] [--data DIR] [--out DIR] [--seed S] [--routers anchor,ours,ours_learning]
//! ```
//!
//! `--routers` runs only the named routers (for working on one; a report of a subset is not a
//! comparison with the anchor).
//!
//! Default (small, under 10 minutes on 2 cores): 200 payments per workload, the 2026 snapshot.
//! `--full`: 1,000 payments per workload, both snapshots. Writes `success-<date>-<commit>.md`
//! and `.json` under `--out` (default `bench/results/` of the workspace).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use boltd_bench::core::{biggest_hub, largest_component, sample_pairs, Adjacency};
use boltd_bench::gossmap::Gossmap;
use boltd_bench::ldk::{self, ldk_usable, EXEMPTFEE_MSAT, MAXFEEPERCENT};
use boltd_bench::machine::{commit, cpu_model, utc_now, workspace, write_report};
use boltd_bench::success::flow::{FlowNet, WITNESS_MAX_PARTS};
use boltd_bench::success::oracle::{Distribution, Oracle};
use boltd_bench::success::report::{Cell, Truth};
use boltd_bench::success::sim::{pay, Budget, Contender, Kind, Outcome};
use boltd_routing::logger::LdkLogger;
use boltd_routing::policy::fee_limit_msat;
use boltd_routing::router::NodeRouter;
use boltd_routing::RoutingEngine;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::KeysManager;
use serde_json::json;

const GRAPHS: [&str; 2] =
    ["gossip-store-2026-02-03.compressed", "gossip-store-2024-09-22.compressed"];
const AMOUNTS_SAT: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

struct Args {
    full: bool,
    payments: usize,
    warmup: Option<usize>,
    graphs: Vec<String>,
    liquidity: Vec<Distribution>,
    max_attempts: u32,
    data: PathBuf,
    out: PathBuf,
    seed: u64,
    routers: Vec<Kind>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        full: false,
        payments: 0,
        warmup: None,
        graphs: Vec::new(),
        liquidity: vec![Distribution::Uniform, Distribution::Depleted],
        max_attempts: 10,
        data: workspace().join("../shared/data/graphs"),
        out: workspace().join("bench/results"),
        seed: 16,
        routers: Kind::ALL.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--full" => a.full = true,
            "--payments" => {
                a.payments = value()?.parse().map_err(|e| format!("--payments: {e}"))?
            }
            "--warmup" => a.warmup = Some(value()?.parse().map_err(|e| format!("--warmup: {e}"))?),
            "--graphs" => a.graphs = value()?.split(',').map(str::to_owned).collect(),
            "--liquidity" => {
                a.liquidity = value()?
                    .split(',')
                    .map(|s| Distribution::parse(s).ok_or(format!("--liquidity: {s}?")))
                    .collect::<Result<_, _>>()?
            }
            "--max-attempts" => {
                a.max_attempts = value()?.parse().map_err(|e| format!("--max-attempts: {e}"))?
            }
            "--data" => a.data = value()?.into(),
            "--out" => a.out = value()?.into(),
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--routers" => {
                a.routers = value()?
                    .split(',')
                    .map(|s| {
                        Kind::ALL
                            .into_iter()
                            .find(|k| k.key() == s)
                            .ok_or(format!("--routers: {s}?"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => {
                println!(
                    "bench_success [--full] [--payments N] [--warmup N] [--graphs FILE,FILE] \
                     [--liquidity uniform,depleted] [--max-attempts N] [--data DIR] [--out DIR] \
                     [--seed S] [--routers anchor,ours,ours_learning]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.payments == 0 {
        a.payments = if a.full { 1000 } else { 200 };
    }
    if a.graphs.is_empty() {
        a.graphs = if a.full { GRAPHS.map(String::from).to_vec() } else { vec![GRAPHS[0].into()] };
    }
    Ok(a)
}

struct Row {
    graph: String,
    liquidity: &'static str,
    payer: &'static str,
    scorer: &'static str,
    amount_sat: u64,
    cells: Vec<(Kind, Cell)>,
}

/// Runs one router over `pairs` at `amount_msat`; `fresh`: forget before every payment.
#[allow(clippy::too_many_arguments)]
fn run_payments(
    oracle: &Oracle,
    contender: &mut Contender,
    keys: &[bitcoin::secp256k1::PublicKey],
    pairs: &[(u32, u32)],
    amount_msat: u64,
    budget: Budget,
    fresh: bool,
    seed: u64,
) -> Vec<Outcome> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, &(p, q))| {
            if fresh {
                contender.forget();
            }
            let pair = (&keys[p as usize], &keys[q as usize]);
            pay(
                oracle,
                contender,
                pair,
                amount_msat,
                budget,
                seed ^ (i as u64).wrapping_mul(0x9e37),
            )
        })
        .collect()
}

fn run_graph(args: &Args, file: &str, rows: &mut Vec<Row>) -> Result<serde_json::Value, String> {
    let path = args.data.join(file);
    let map = Gossmap::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let adj = Adjacency::new(&map, |d| ldk_usable(&map, d));
    let core = largest_component(&adj);
    let hub = biggest_hub(&adj, &core).ok_or("empty core")?;
    let logger = Arc::new(LdkLogger);
    let loaded = ldk::load(&map, Arc::clone(&logger));
    let graph = Arc::clone(&loaded.graph);
    let engine = Arc::new(RoutingEngine::from_graph(&graph));
    let router = Arc::new(NodeRouter::with_engine(
        Arc::clone(&graph),
        Arc::clone(&logger),
        Arc::new(KeysManager::new(&[16; 32], 1, 2, true)),
        Arc::new(RwLock::new(ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            Arc::clone(&graph),
            Arc::clone(&logger),
        ))),
        ProbabilisticScoringFeeParameters::default(),
        engine,
    ));
    let budget = Budget { max_attempts: args.max_attempts, max_search_ms: 60_000.0 };
    let warmup = args.warmup.unwrap_or(args.payments);
    let graph_name = file.trim_start_matches("gossip-store-").trim_end_matches(".compressed");
    let mut feasibility = Vec::new();
    for (li, &dist) in args.liquidity.iter().enumerate() {
        let oracle = Oracle::new(&map, &loaded.keys, dist, args.seed.wrapping_mul(31) + li as u64);
        let net = FlowNet::new(&map, &oracle);
        for (payer_name, payer, salt) in
            [("random core node", None, 1u64), ("biggest hub", Some(hub), 2)]
        {
            let t = Instant::now();
            let seed = args.seed.wrapping_mul(1000) + salt;
            let pairs = sample_pairs(&core, payer, args.payments, seed);
            let warm_pairs = sample_pairs(&core, payer, warmup, seed + 500);
            let truths: Vec<Vec<Truth>> = AMOUNTS_SAT
                .iter()
                .map(|&sat| {
                    let amount_msat = sat * 1000;
                    pairs
                        .iter()
                        .map(|&(p, q)| {
                            let feasible = net.max_flow_msat(p, q, amount_msat) >= amount_msat;
                            let cheapest_fee_msat = if feasible {
                                net.cheapest_fee_msat(p, q, amount_msat)
                            } else {
                                None
                            };
                            let limit_msat =
                                fee_limit_msat(amount_msat, MAXFEEPERCENT, EXEMPTFEE_MSAT, None);
                            let payable = cheapest_fee_msat.is_some_and(|f| f <= limit_msat);
                            Truth { feasible, cheapest_fee_msat, payable }
                        })
                        .collect()
                })
                .collect();
            let oracle_s = t.elapsed().as_secs_f64();
            for (sat, tr) in AMOUNTS_SAT.iter().zip(&truths) {
                feasibility.push(json!({
                    "liquidity": dist.name(), "payer": payer_name, "amount_sat": sat,
                    "feasible": tr.iter().filter(|t| t.feasible).count(),
                    "with_reference_fee": tr.iter().filter(|t| t.cheapest_fee_msat.is_some()).count(),
                    "payable": tr.iter().filter(|t| t.payable).count(),
                    "payments": tr.len(),
                }));
            }
            let mut contenders: Vec<Contender> =
                args.routers.iter().map(|&k| Contender::new(k, &graph, &logger, &router)).collect();
            // Fresh: nothing learned before each payment.
            let mut fresh_cells: Vec<Vec<(Kind, Cell)>> = vec![Vec::new(); AMOUNTS_SAT.len()];
            for (wi, &sat) in AMOUNTS_SAT.iter().enumerate() {
                for c in contenders.iter_mut() {
                    let outcomes = run_payments(
                        &oracle,
                        c,
                        &loaded.keys,
                        &pairs,
                        sat * 1000,
                        budget,
                        true,
                        seed + wi as u64,
                    );
                    trace_feasible_failures(c.kind, sat, &outcomes, &truths[wi]);
                    fresh_cells[wi].push((c.kind, Cell::of(&outcomes, &truths[wi], sat * 1000)));
                }
            }
            // Warm: one learner per router over the warm-up payments (amounts in turn), then
            // over the measured workloads in order, learning throughout.
            let mut warm_cells: Vec<Vec<(Kind, Cell)>> = vec![Vec::new(); AMOUNTS_SAT.len()];
            let mut learned = Vec::new();
            for c in contenders.iter_mut() {
                c.forget();
                for (i, &(p, q)) in warm_pairs.iter().enumerate() {
                    let amount_msat = AMOUNTS_SAT[i % AMOUNTS_SAT.len()] * 1000;
                    let pair = (&loaded.keys[p as usize], &loaded.keys[q as usize]);
                    pay(&oracle, c, pair, amount_msat, budget, seed ^ 0x5eed ^ i as u64);
                }
                for (wi, &sat) in AMOUNTS_SAT.iter().enumerate() {
                    let outcomes = run_payments(
                        &oracle,
                        c,
                        &loaded.keys,
                        &pairs,
                        sat * 1000,
                        budget,
                        false,
                        seed + wi as u64,
                    );
                    warm_cells[wi].push((c.kind, Cell::of(&outcomes, &truths[wi], sat * 1000)));
                }
                learned.push((c.kind, c.learned_directions()));
            }
            for (scorer, cells) in [("fresh", fresh_cells), ("warm", warm_cells)] {
                for (wi, cells) in cells.into_iter().enumerate() {
                    let row = Row {
                        graph: graph_name.into(),
                        liquidity: dist.name(),
                        payer: payer_name,
                        scorer,
                        amount_sat: AMOUNTS_SAT[wi],
                        cells,
                    };
                    eprintln!("  {}", row_summary(&row));
                    rows.push(row);
                }
            }
            eprintln!(
                "{graph_name} / {} / {payer_name}: {:.0} s (oracle {oracle_s:.1} s); learned directions {:?}",
                dist.name(),
                t.elapsed().as_secs_f64(),
                learned
            );
        }
    }
    Ok(json!({
        "file": file, "nodes": map.node_count, "channels": map.channel_count(),
        "core_nodes": core.len(), "hub_index": hub, "hub_out_directions": adj.out(hub).len(),
        "feasibility": feasibility,
    }))
}

/// With `BOLTD_B5_TRACE` set: one line on stderr per payable payment left unpaid (for work on
/// the router; the report does not depend on it).
fn trace_feasible_failures(kind: Kind, sat: u64, outcomes: &[Outcome], truths: &[Truth]) {
    if std::env::var_os("BOLTD_B5_TRACE").is_none() {
        return;
    }
    for (i, (o, t)) in outcomes.iter().zip(truths).enumerate() {
        if t.payable && !o.succeeded {
            eprintln!(
                "trace {} {sat} sat #{i}: {} after {} attempts, {} parts; left {} msat; \
                 reference fee {:?} msat, paid {} msat; failed (scid, asked msat) {:?}",
                kind.key(),
                o.error.as_deref().unwrap_or("?"),
                o.attempts,
                o.parts_sent,
                o.remaining_msat,
                t.cheapest_fee_msat,
                o.fee_msat,
                o.failed_parts
            );
        }
    }
}

fn row_summary(r: &Row) -> String {
    let cells: Vec<String> = r
        .cells
        .iter()
        .map(|(k, c)| {
            format!(
                "{} {:.0}%/{:.0}% a{:.0}/{:.0} f×{:.2}",
                k.key(),
                c.success_share * 100.0,
                c.success_payable_share * 100.0,
                c.attempts_p50,
                c.attempts_p90,
                c.fee_over_cheapest_total
            )
        })
        .collect();
    format!(
        "{} {} {} {} {} sat: {}",
        r.graph,
        r.liquidity,
        r.payer,
        r.scorer,
        r.amount_sat,
        cells.join("; ")
    )
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| graph | liquidity | payer | scorer | amount | router | feasible | payable | success | success (feasible) | success (payable) | attempts p50 / p90 / mean | fee / cheapest (total, p50, p90) | fee ≤ 1.1× | fee ppm | search ms to success p50 / p90 | CPU ms / payment |\n\
         |---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        for (k, c) in &r.cells {
            s += &format!(
                "| {} | {} | {} | {} | {} sat | {} | {} / {} | {} | {:.1} % | {:.1} % | {:.1} % | {:.0} / {:.0} / {:.2} | ×{:.3}, ×{:.3}, ×{:.3} | {:.1} % | {:.0} | {:.1} / {:.1} | {:.1} |\n",
                r.graph,
                r.liquidity,
                r.payer,
                r.scorer,
                r.amount_sat,
                k.name(),
                c.feasible,
                c.payments,
                c.payable,
                c.success_share * 100.0,
                c.success_feasible_share * 100.0,
                c.success_payable_share * 100.0,
                c.attempts_p50,
                c.attempts_p90,
                c.attempts_mean,
                c.fee_over_cheapest_total,
                c.fee_over_cheapest_p50,
                c.fee_over_cheapest_p90,
                c.fee_within_1_1_share * 100.0,
                c.fee_ppm_mean,
                c.time_to_success_ms_p50,
                c.time_to_success_ms_p90,
                c.cpu_ms_mean,
            );
        }
    }
    s
}

/// The issue's goals for `kind`, per row: which rows miss them.
fn goals(rows: &[Row], kind: Kind) -> String {
    let mut misses = Vec::new();
    let mut beaten = Vec::new();
    for r in rows {
        let Some((_, c)) = r.cells.iter().find(|(k, _)| *k == kind) else { continue };
        let Some((_, a)) = r.cells.iter().find(|(k, _)| *k == Kind::Anchor) else { continue };
        let target = if r.amount_sat >= 1_000_000 { 0.95 } else { 0.99 };
        let name = format!(
            "{} / {} / {} / {} / {} sat",
            r.graph, r.liquidity, r.payer, r.scorer, r.amount_sat
        );
        let mut why = Vec::new();
        // Counts, not shares: 198 / 200 is 99 %.
        if c.payable > 0 && (c.succeeded_payable as f64) < target * c.payable as f64 - 1e-9 {
            why.push(format!(
                "success among payable {:.1} % < {:.0} %",
                c.success_payable_share * 100.0,
                target * 100.0
            ));
        }
        if c.attempts_p50 > 2.0 {
            why.push(format!("median attempts {:.0}", c.attempts_p50));
        }
        if c.fee_over_cheapest_total > 1.1 {
            why.push(format!("fees ×{:.2} of the cheapest", c.fee_over_cheapest_total));
        }
        if !why.is_empty() {
            misses.push(format!("  - {name}: {}", why.join(", ")));
        }
        let mut worse = Vec::new();
        if c.success_payable_share < a.success_payable_share {
            worse.push("success");
        }
        if c.attempts_mean > a.attempts_mean {
            worse.push("attempts (mean)");
        }
        if c.fee_over_cheapest_total > a.fee_over_cheapest_total {
            worse.push("fees");
        }
        if !worse.is_empty() {
            beaten.push(format!("  - {name}: {}", worse.join(", ")));
        }
    }
    let list =
        |v: Vec<String>| if v.is_empty() { "  - none\n".to_string() } else { v.join("\n") + "\n" };
    format!(
        "- **{}**, rows missing the goals (≥ 99 % of payable payments up to 100k sat, ≥ 95 % at 1M, median attempts ≤ 2, fees ≤ 1.1× the cheapest feasible):\n{}- **{}**, rows where the anchor does better (success among payable, mean attempts, fee ratio):\n{}",
        kind.name(),
        list(misses),
        kind.name(),
        list(beaten),
    )
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_success: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("bench_success: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let (date, time) = utc_now();
    let cpu = cpu_model();
    let (commit, dirty) = commit();
    let mode = if args.full { "full" } else { "small" };
    eprintln!(
        "B5 payment success with hidden liquidity ({mode}): {} payments per workload; CPU {cpu}; commit {commit}",
        args.payments
    );
    let mut rows = Vec::new();
    let mut graphs = Vec::new();
    for file in &args.graphs {
        graphs.push(run_graph(args, file, &mut rows)?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let process_cpu_s = boltd_bench::machine::cpu_secs(std::process::id()).unwrap_or(0.0);
    let table = table(&rows);
    println!("{table}");
    let warmup = args.warmup.unwrap_or(args.payments);
    let md = format!(
        "# B5: payment success with hidden liquidity ({mode})\n\n\
         - Run: {time}, commit `{commit}`{}, CPU {cpu}, {elapsed:.0} s in all ({process_cpu_s:.0} s of process CPU).\n\
         - Graphs: {}. {} payments per workload (amount) and payer kind, seed {}; payer a random \
           node of the strongly connected core (another one per payment) or the biggest hub, \
           payee a random core node; the same pairs for every amount, router and scorer state.\n\
         - **Hidden liquidity** (the oracle): every channel's capacity is split between its ends \
           with a seeded RNG: *uniform* (either end's balance uniform in 0..capacity) or \
           *depleted* (90 % of channels hold less than 10 % on one end, the end at random; the \
           rest uniform). Payments are independent: successful payments do not move balances. \
           The payer's own channels hold their whole capacity on its side and every search gets \
           them as first hops with what they can send now (as LDK's `ChannelManager` gives its \
           router `list_usable_channels`; both routers alike); every other hop must have the \
           liquidity for what it forwards, on top of the payment's parts already held.\n\
         - **Paying** (as LDK's `ChannelManager` and Core Lightning's `pay`): a round routes what \
           is left (every invoice accepts multi-part payments), sends every part; a part that \
           arrives is held (its HTLCs lock liquidity and are in-flight HTLCs for the next \
           searches); a part that fails reports the failing channel, which is added to \
           `previously_failed_channels` for the rest of the payment and told to the learner. \
           Limits: the engine's `pay` defaults (fee {MAXFEEPERCENT} % with {} sat exempt, for all \
           parts together, maxdelay 2016) for all routers; budget {} rounds (attempts) or 60 s of \
           route-search time (Core Lightning's `retry_for`; network round trips are not simulated).\n\
         - **Routers**: *anchor*: LDK's `find_route` with a default `ProbabilisticScorer` fed \
           `payment_path_failed` / `payment_path_successful` (in-flight HTLCs through \
           `ScorerAccountingForInFlightHtlcs`); *ours, no learning*: `NodeRouter::find_route_with_policy` \
           with the engine's policy (riskfactor 10, randomization), which keeps nothing across \
           payments; *ours + learned bounds (the node)*: the same router reading \
           `boltd_routing::LiquidityBounds` fed from the same failures and successes, as the node \
           feeds them from LDK's path events (success probability conditioned on the bounds; after \
           a failure at most the middle of what is still possible is sent over the channel).\n\
         - **Scorer state**: *fresh*: nothing learned before each payment (learning within the \
           payment only); *warm*: one learner per router, first over {warmup} warm-up payments \
           (other pairs of the same payer kind, amounts 1k/10k/100k/1M in turn), then over the \
           measured workloads in order (1k → 1M), learning throughout.\n\
         - **Truth**: *feasible*: a max-flow of the amount from payer to payee over the hidden \
           liquidity exists (fees, CLTV and path length ignored: an upper bound; it counts, for \
           instance, 1M sat from a payer whose only channel holds 1M sat, which no route can \
           carry with its fees). *Cheapest*: the oracle's witness route, exact as the network \
           charges (every hop forwards the part plus the fees after it, with the liquidity and \
           HTLC limits for that; the payer's hop free): the cheapest single path that carries it \
           all, or when there is none successive cheapest paths each carrying what it can (at \
           most {WITNESS_MAX_PARTS} parts). It proves the payment can be made at that fee; the \
           exact minimum can be lower, so a router can pay less (ratio < 1). *Payable*: the \
           witness's fee is within the payer's fee limit (the same limit the routers get): the \
           goals' denominator. Feasible payments without a witness are counted in their own \
           column; CLTV and path length are not checked.\n\
         - Figures: success over all payments, over feasible ones and over payable ones; attempts (rounds) of the \
           successful payments; fee / cheapest: sum of fees over the sum of cheapest fees of the \
           successful payments (and per-payment median and p90 where the cheapest is above 0); \
           fee ≤ 1.1×: share of successful payments within 1.1 × the cheapest + 1 sat; time: \
           route-search wall time summed over the rounds of successful payments; CPU: route-search \
           thread CPU per payment. Figures, not assertions.\n\n\
         ## Results\n\n{table}\n## Goals of issue 16\n\n{}{}\n## Why payments ended unpaid\n\n{}",
        if dirty { " (working tree with uncommitted changes)" } else { "" },
        args.graphs.join(", "),
        args.payments,
        args.seed,
        EXEMPTFEE_MSAT / 1000,
        args.max_attempts,
        goals(&rows, Kind::OursLearning),
        goals(&rows, Kind::Ours),
        failures(&rows),
    );
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "graph": r.graph, "liquidity": r.liquidity, "payer": r.payer, "scorer": r.scorer,
                "amount_sat": r.amount_sat,
            });
            for (k, c) in &r.cells {
                v[k.key()] = json!(c);
            }
            v
        })
        .collect();
    let doc = json!({
        "benchmark": "B5 payment success with hidden liquidity",
        "mode": mode, "time": time, "commit": commit, "dirty": dirty, "cpu": cpu,
        "payments": args.payments, "warmup": warmup, "seed": args.seed,
        "max_attempts": args.max_attempts, "elapsed_s": elapsed, "process_cpu_s": process_cpu_s,
        "graphs": graphs, "results": results,
    });
    let suffix = if args.full { "" } else { "-small" };
    let name = format!("success-{date}-{commit}{suffix}");
    let (md_path, json_path) = write_report(&args.out, &name, &md, &doc)?;
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    Ok(())
}

fn failures(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        for (k, c) in &r.cells {
            for (e, n) in &c.errors {
                s += &format!(
                    "- {} / {} / {} / {} / {} sat / {}: {n} × \"{e}\"\n",
                    r.graph,
                    r.liquidity,
                    r.payer,
                    r.scorer,
                    r.amount_sat,
                    k.name()
                );
            }
        }
    }
    if s.is_empty() {
        s = "- none\n".into();
    }
    s
}
