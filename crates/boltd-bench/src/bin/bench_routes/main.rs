//! B1: route finding on real mainnet graph snapshots, LDK's `find_route` with a default
//! `ProbabilisticScorer` (the anchor) against boltd's policy router as used for real payments
//! (ours). Reports figures, asserts nothing about speed.
//!
//! ```text
//! bench_routes [--smoke] [--pairs N] [--graphs FILE,FILE] [--data DIR] [--out DIR] [--seed S]
//! ```
//!
//! `--smoke`: 20 pairs per workload and payer, the 2026 snapshot only. Default (full): 500 pairs,
//! both snapshots. Writes `routes-<date>-<commit>.md` and `.json` under `--out` (default
//! `bench/results/` of the workspace).

use std::collections::HashMap;
use std::io::{BufRead, Cursor};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bitcoin::secp256k1::PublicKey;
use boltd_bench::core::{biggest_hub, largest_component, sample_pairs, Adjacency};
use boltd_bench::gossmap::Gossmap;
use boltd_bench::ldk::{
    self, ldk_usable, mpp_features, EXEMPTFEE_MSAT, FINAL_CLTV, MAXDELAY_BLOCKS, MAXFEEPERCENT,
};
use boltd_bench::machine::{commit, cpu_model, timed, utc_now, workspace, write_report};
use boltd_bench::stats::{Quality, Ratio, Sample, Summary};
use boltd_routing::cost::prior_success_probability;
use boltd_routing::logger::LdkLogger;
use boltd_routing::policy::{fee_limit_msat, PaymentPolicy, DEFAULT_RISKFACTOR};
use boltd_routing::router::NodeRouter;
use boltd_routing::types::{Graph, Scorer};
use boltd_routing::{GraphView, InFlight, Request, RoutingEngine};
use lightning::routing::router::{
    find_route, InFlightHtlcs, PaymentParameters, Route, RouteParameters,
};
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, KeysManager};
use lightning::util::ser::{ReadableArgs, Writeable};
use serde_json::json;

mod fresh;
mod report;

use fresh::{b4_child, b4_in_children};
use report::{failures, table};

const GRAPHS: [&str; 2] =
    ["gossip-store-2024-09-22.compressed", "gossip-store-2026-02-03.compressed"];

struct Workload {
    name: &'static str,
    amount_sat: u64,
    mpp: bool,
}

const WORKLOADS: [Workload; 3] = [
    Workload { name: "1k sat single path", amount_sat: 1_000, mpp: false },
    Workload { name: "100k sat multi-part", amount_sat: 100_000, mpp: true },
    Workload { name: "1M sat multi-part", amount_sat: 1_000_000, mpp: true },
];

struct Args {
    smoke: bool,
    pairs: usize,
    graphs: Vec<String>,
    data: PathBuf,
    out: PathBuf,
    seed: u64,
    rss_only: Option<PathBuf>,
    b4_child: Option<Vec<String>>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        smoke: false,
        pairs: 0,
        graphs: Vec::new(),
        data: workspace().join("../shared/data/graphs"),
        out: workspace().join("bench/results"),
        seed: 6,
        rss_only: None,
        b4_child: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--smoke" => a.smoke = true,
            "--pairs" => a.pairs = value()?.parse().map_err(|e| format!("--pairs: {e}"))?,
            "--graphs" => a.graphs = value()?.split(',').map(str::to_owned).collect(),
            "--data" => a.data = value()?.into(),
            "--out" => a.out = value()?.into(),
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--rss-only" => a.rss_only = Some(value()?.into()),
            "--b4-child" => {
                let v: Vec<String> = (0..4).map(|_| value()).collect::<Result<_, _>>()?;
                a.b4_child = Some(v);
            }
            "-h" | "--help" => {
                println!(
                    "bench_routes [--smoke] [--pairs N] [--graphs FILE,FILE] [--data DIR] \
                     [--out DIR] [--seed S]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.pairs == 0 {
        a.pairs = if a.smoke { 20 } else { 500 };
    }
    if a.graphs.is_empty() {
        a.graphs = if a.smoke { vec![GRAPHS[1].into()] } else { GRAPHS.map(String::from).to_vec() };
    }
    Ok(a)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The resident-memory delta of loading `path` into LDK (graph and scorer), measured in this
/// process (call it in a fresh one).
fn rss_delta_of_load(path: &Path) -> Result<u64, String> {
    let map = Gossmap::from_path(path).map_err(|e| e.to_string())?;
    let logger = Arc::new(LdkLogger);
    let before = rss_kib();
    let loaded = ldk::load(&map, Arc::clone(&logger));
    let scorer = ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        Arc::clone(&loaded.graph),
        logger,
    );
    let after = rss_kib();
    drop(scorer);
    drop(loaded);
    Ok(after.saturating_sub(before))
}

/// Runs `--rss-only` in a child process, so that each graph is measured on a fresh heap.
fn rss_delta_in_child(path: &Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe).arg("--rss-only").arg(path).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn quality(route: &Route, amount_msat: u64, graph: &Graph) -> Quality {
    let fee_ppm = route.get_total_fees() as f64 / amount_msat as f64 * 1e6;
    let cltv = route
        .paths
        .iter()
        .map(|p| p.hops.iter().map(|h| h.cltv_expiry_delta).sum::<u32>())
        .max()
        .unwrap_or(0);
    // What all parts together send over each channel direction.
    let mut load: HashMap<(u64, PublicKey), u64> = HashMap::new();
    for path in &route.paths {
        let mut downstream = 0u64;
        for hop in path.hops.iter().rev() {
            downstream += hop.fee_msat;
            *load.entry((hop.short_channel_id, hop.pubkey)).or_insert(0) += downstream;
        }
    }
    let ro = graph.read_only();
    let (mut p_uniform, mut p_bimodal) = (1.0f64, 1.0f64);
    for ((scid, _), amount) in load {
        let capacity_msat =
            ro.channel(scid).and_then(|c| c.capacity_sats).map(|s| s * 1000).unwrap_or(0);
        let c = capacity_msat as f64;
        p_uniform *= ((c + 1.0 - amount as f64) / (c + 1.0)).max(0.0);
        p_bimodal *= if capacity_msat == 0 {
            0.0
        } else {
            prior_success_probability(amount as f64 / c) * 78.0 / 64.0
        };
    }
    Quality { fee_ppm, cltv, parts: route.paths.len(), p_uniform, p_bimodal }
}

fn sample(
    (micros, cpu_micros): (f64, f64),
    r: Result<Route, &'static str>,
    amount_msat: u64,
    graph: &Graph,
) -> Sample {
    match r {
        Ok(route) => Sample {
            micros,
            cpu_micros,
            route: Some(quality(&route, amount_msat, graph)),
            error: None,
        },
        Err(e) => Sample { micros, cpu_micros, route: None, error: Some(e) },
    }
}

struct GraphFigures {
    json: serde_json::Value,
    md: String,
}

struct Row {
    graph: String,
    payer: &'static str,
    workload: &'static str,
    anchor: Summary,
    ours: Summary,
    ratio: Ratio,
    /// Ours without the policy's risk cost and randomization (same limits): how much of the
    /// difference to the anchor the policy makes.
    plain: Summary,
    plain_ratio: Ratio,
    /// Pairs only the anchor routed that ours routes with the anchor's fee and CLTV limits.
    routed_at_anchor_limits: usize,
}

fn run_graph(args: &Args, file: &str, rows: &mut Vec<Row>) -> Result<GraphFigures, String> {
    let path = args.data.join(file);
    let t = Instant::now();
    let map = Gossmap::from_path(&path).map_err(|e| e.to_string())?;
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;

    let plain = Adjacency::new(&map, |d| map.directions[d].usable());
    let plain_core = largest_component(&plain).len();
    let adj = Adjacency::new(&map, |d| ldk_usable(&map, d));
    let core = largest_component(&adj);
    let hub = biggest_hub(&adj, &core).ok_or("empty core")?;
    let ldk_usable_dirs = (0..map.directions.len()).filter(|&d| ldk_usable(&map, d)).count();

    let rss_delta_kib = rss_delta_in_child(&path);
    let logger = Arc::new(LdkLogger);
    let t = Instant::now();
    let loaded = ldk::load(&map, Arc::clone(&logger));
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let graph = Arc::clone(&loaded.graph);
    let keys_manager = Arc::new(KeysManager::new(&[6; 32], 1, 2, true));
    let new_scorer = || {
        ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            Arc::clone(&graph),
            Arc::clone(&logger),
        )
    };
    let anchor_scorer: Scorer = new_scorer();
    let anchor_params = ProbabilisticScoringFeeParameters::default();
    let t = Instant::now();
    let engine = Arc::new(RoutingEngine::from_graph(&graph));
    let view_build_ms = t.elapsed().as_secs_f64() * 1e3;
    let view = engine.view();
    let view_heap_mib = view.heap_bytes() as f64 / (1024.0 * 1024.0);
    let router = NodeRouter::with_engine(
        Arc::clone(&graph),
        Arc::clone(&logger),
        Arc::clone(&keys_manager),
        Arc::new(RwLock::new(new_scorer())),
        ProbabilisticScoringFeeParameters::default(),
        Arc::clone(&engine),
    );

    // B4: persisted view and persisted LDK graph, each read back in a fresh process.
    let tmp = std::env::temp_dir();
    let view_file = tmp.join(format!("boltd-b4-view-{}.bin", std::process::id()));
    let ldk_file = tmp.join(format!("boltd-b4-ldk-{}.bin", std::process::id()));
    let view_bytes = view.to_bytes();
    std::fs::write(&view_file, &view_bytes).map_err(|e| e.to_string())?;
    std::fs::write(&ldk_file, graph.encode()).map_err(|e| e.to_string())?;
    let b4_pair = sample_pairs(&core, None, 1, args.seed)[0];
    let (b4_payer, b4_payee) = (loaded.keys[b4_pair.0 as usize], loaded.keys[b4_pair.1 as usize]);
    let b4_ours = b4_in_children("ours", &view_file, &b4_payer, &b4_payee, 5);
    let b4_ldk = b4_in_children("ldk", &ldk_file, &b4_payer, &b4_payee, 3);
    let ldk_bytes = std::fs::metadata(&ldk_file).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&view_file);
    let _ = std::fs::remove_file(&ldk_file);
    let f = |v: &Option<serde_json::Value>, k: &str| {
        v.as_ref().and_then(|v| v[k].as_f64()).map(|x| format!("{x:.1}")).unwrap_or("n/a".into())
    };
    let b4_md = format!(
        "  - B4: boltd's view: built from LDK's graph in {view_build_ms:.0} ms, {view_heap_mib:.1} MiB \
         of arrays ({} nodes, {} routable directions, {} channels), persisted as {:.1} MiB; in a \
         fresh process: RSS delta {} MiB, start to first route {} ms (read {} ms, decode {} ms, \
         route {} ms). LDK's graph persisted as {:.1} MiB; in a fresh process: RSS delta (graph \
         and scorer) {} MiB, start to first route {} ms (read {} ms, decode {} ms, route {} ms). \
         Start: from spawning the process to its answer. Medians of 5 and 3 runs.\n",
        view.node_count(),
        view.edge_count(),
        view.channel_count(),
        view_bytes.len() as f64 / 1048576.0,
        f(&b4_ours, "rss_delta_mib"),
        f(&b4_ours, "start_to_ready_ms"),
        f(&b4_ours, "read_ms"),
        f(&b4_ours, "decode_ms"),
        f(&b4_ours, "route_ms"),
        ldk_bytes as f64 / 1048576.0,
        f(&b4_ldk, "rss_delta_mib"),
        f(&b4_ldk, "start_to_ready_ms"),
        f(&b4_ldk, "read_ms"),
        f(&b4_ldk, "decode_ms"),
        f(&b4_ldk, "route_ms"),
    );
    eprint!("{b4_md}");

    let summary = format!(
        "{file}: {} nodes, {} channels, {} BTC; {} usable directions ({} LDK-routable); core {} nodes \
         over usable directions, {} over LDK-routable ones; hub node {hub} ({} routable directions \
         out); parse {parse_ms:.0} ms, LDK load {load_ms:.0} ms ({} channels, {} updates, {} refused{}); \
         RSS delta of the LDK graph and scorer: {}",
        map.node_count,
        map.channel_count(),
        map.total_capacity_sat() / 100_000_000,
        map.usable_directions(),
        ldk_usable_dirs,
        plain_core,
        core.len(),
        adj.out(hub).len(),
        loaded.channels,
        loaded.directions,
        loaded.refused.0,
        loaded.refused.1.as_ref().map(|e| format!(": {e}")).unwrap_or_default(),
        rss_delta_kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or("n/a".into()),
    );
    eprintln!("{summary}");

    for (kind, payer, salt) in [("random core node", None, 1u64), ("biggest hub", Some(hub), 2)] {
        let pairs = sample_pairs(&core, payer, args.pairs, args.seed.wrapping_mul(1000) + salt);
        for w in &WORKLOADS {
            let amount_msat = w.amount_sat * 1000;
            let t = Instant::now();
            let (mut anchor, mut ours, mut plain) = (Vec::new(), Vec::new(), Vec::new());
            let mut routed_at_anchor_limits = 0usize;
            for (i, &(p, q)) in pairs.iter().enumerate() {
                let (payer_key, payee_key) = (loaded.keys[p as usize], loaded.keys[q as usize]);
                let mut pp = PaymentParameters::from_node_id(payee_key, FINAL_CLTV);
                if w.mpp {
                    pp = pp.with_bolt11_features(mpp_features()).map_err(|()| "features")?;
                }
                // Anchor: LDK's defaults (fee limit 1 % + 50 sat, 1008 blocks).
                let anchor_rp =
                    RouteParameters::from_payment_params_and_value(pp.clone(), amount_msat);
                let (r, t) = timed(|| {
                    let seed_bytes = keys_manager.get_secure_random_bytes();
                    find_route(
                        &payer_key,
                        &anchor_rp,
                        &graph,
                        None,
                        &*logger,
                        &anchor_scorer,
                        &anchor_params,
                        &seed_bytes,
                    )
                });
                anchor.push(sample(t, r, amount_msat, &graph));

                // Ours: the engine's pay defaults and a fresh policy per payment.
                pp.max_total_cltv_expiry_delta = MAXDELAY_BLOCKS;
                let mut rp = RouteParameters::from_payment_params_and_value(pp, amount_msat);
                rp.max_total_routing_fee_msat =
                    Some(fee_limit_msat(amount_msat, MAXFEEPERCENT, EXEMPTFEE_MSAT, None));
                let policy = PaymentPolicy {
                    riskfactor: DEFAULT_RISKFACTOR,
                    randomize: true,
                    seed: args.seed ^ (salt << 32) ^ i as u64,
                    ..PaymentPolicy::default()
                };
                let (r, t) = timed(|| {
                    router.find_route_with_policy(
                        &payer_key,
                        &rp,
                        None,
                        InFlightHtlcs::new(),
                        &policy,
                    )
                });
                let ours_failed = r.is_err();
                ours.push(sample(t, r, amount_msat, &graph));
                let plain_policy =
                    PaymentPolicy { riskfactor: 0.0, randomize: false, ..policy.clone() };
                let (r, t) = timed(|| {
                    router.find_route_with_policy(
                        &payer_key,
                        &rp,
                        None,
                        InFlightHtlcs::new(),
                        &plain_policy,
                    )
                });
                plain.push(sample(t, r, amount_msat, &graph));
                // Why did only the anchor route? Retry ours with the anchor's looser limits
                // (outside the timing).
                if ours_failed && anchor.last().is_some_and(|a| a.route.is_some()) {
                    let with_anchor_limits = router.find_route_with_policy(
                        &payer_key,
                        &anchor_rp,
                        None,
                        InFlightHtlcs::new(),
                        &policy,
                    );
                    if with_anchor_limits.is_ok() {
                        routed_at_anchor_limits += 1;
                    }
                }
            }
            let row = Row {
                graph: file.into(),
                payer: kind,
                workload: w.name,
                anchor: Summary::of(&anchor),
                ours: Summary::of(&ours),
                ratio: Ratio::of(&anchor, &ours),
                plain: Summary::of(&plain),
                plain_ratio: Ratio::of(&anchor, &plain),
                routed_at_anchor_limits,
            };
            eprintln!(
                "  {kind} / {}: {} pairs in {:.1} s; p50 anchor {:.2} ms, ours {:.2} ms; routed {:.0} % / {:.0} %",
                w.name,
                pairs.len(),
                t.elapsed().as_secs_f64(),
                row.anchor.ms_p50,
                row.ours.ms_p50,
                row.anchor.routed_share * 100.0,
                row.ours.routed_share * 100.0
            );
            rows.push(row);
        }
    }
    let json = json!({
        "file": file,
        "nodes": map.node_count,
        "channels": map.channel_count(),
        "capacity_btc": map.total_capacity_sat() / 100_000_000,
        "usable_directions": map.usable_directions(),
        "ldk_routable_directions": ldk_usable_dirs,
        "core_nodes_usable": plain_core,
        "core_nodes_ldk_routable": core.len(),
        "hub_index": hub,
        "hub_out_directions": adj.out(hub).len(),
        "parse_ms": parse_ms,
        "ldk_load_ms": load_ms,
        "ldk_channels": loaded.channels,
        "ldk_updates": loaded.directions,
        "ldk_refused": loaded.refused.0,
        "rss_delta_mib": rss_delta_kib.map(|k| k as f64 / 1024.0),
        "b4": {
            "view_build_ms": view_build_ms,
            "view_heap_mib": view_heap_mib,
            "view_persisted_mib": view_bytes.len() as f64 / 1048576.0,
            "view_nodes": view.node_count(),
            "view_routable_directions": view.edge_count(),
            "view_channels": view.channel_count(),
            "ours_fresh_process": b4_ours,
            "ldk_persisted_mib": ldk_bytes as f64 / 1048576.0,
            "ldk_fresh_process": b4_ldk,
        },
    });
    Ok(GraphFigures { json, md: format!("- {summary}\n{b4_md}") })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_routes: {e}");
            std::process::exit(2);
        }
    };
    if let Some(v) = &args.b4_child {
        match b4_child(v) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("bench_routes: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Some(path) = &args.rss_only {
        match rss_delta_of_load(path) {
            Ok(kib) => println!("{kib}"),
            Err(e) => {
                eprintln!("bench_routes: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(e) = run(&args) {
        eprintln!("bench_routes: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let (date, time) = utc_now();
    let cpu = cpu_model();
    let (commit, dirty) = commit();
    let mode = if args.smoke { "smoke" } else { "full" };
    eprintln!(
        "B1 route finding ({mode}): {} pairs per workload and payer; CPU {cpu}; commit {commit}",
        args.pairs
    );

    let mut rows = Vec::new();
    let mut graphs = Vec::new();
    for file in &args.graphs {
        graphs.push(run_graph(args, file, &mut rows)?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let table = table(&rows);
    println!("{table}");

    let md = format!(
        "# B1: route finding on mainnet graphs ({mode})\n\n\
         - Run: {time}, commit `{commit}`{}, CPU {cpu}, {:.0} s in all.\n\
         - {} pairs per workload and payer, seed {}; payers and payees drawn from the strongly \
           connected core of the directions LDK can route over; payer either a random core node or \
           the biggest hub; the same pairs for the three workloads.\n\
         - **anchor**: LDK's `find_route` with a default `ProbabilisticScorer` (no history) and \
           LDK's default limits (fee 1 % + 50 sat, 1008 blocks).\n\
         - **ours**: `PolicyRouter::find_route_with_policy`, boltd's router as payments use it: \
           boltd's own search over its compact graph view (`boltd_routing`) with the \
           engine's `pay` defaults: riskfactor {DEFAULT_RISKFACTOR}, randomization on (seed per pair), no \
           exclusions, fee limit {MAXFEEPERCENT} % with {} sat exempt, maxdelay {MAXDELAY_BLOCKS}.\n\
         - **ours, no risk/random**: the same with riskfactor 0 and no randomization (the same \
           limits), to show what the policy changes (quality only: it runs right after ours for \
           the same payer and reuses its A* bound, so its time is not shown).\n\
         - Time: wall time of one call (routed or not), sequential, one thread; CPU: the thread's \
           CPU time during the call (on a shared machine wall time also counts waiting for a \
           core). Fee ppm: total fees / amount × 1e6; CLTV: total of the slowest path (final \
           {FINAL_CLTV} and shadow offset included); parts: paths. Success probability P: the \
           product over the channel directions a route uses of the chance that the direction has \
           the liquidity all parts together send over it, with a uniform prior \
           ((capacity + 1 − amount) / (capacity + 1)) and with LDK's no-history prior \
           (density ∝ 1/256 + 9·(x − ½)^8 on x = liquidity / capacity); the first hop included. \
           Quality over the routed pairs; ratios (ours / anchor) of quality on the pairs both \
           routed, with how many pairs ours pays less / the same / more. \"Only anchor\": pairs \
           ours did not route, and how many of them ours routes with the anchor's (looser) fee \
           and CLTV limits. Figures, not assertions.\n\
         - Both routers see the payer's channels as public channels (no `first_hops`, no local \
           balances). LDK's default `max_channel_saturation_power_of_half` (2): a path may first \
           use at most a quarter of a channel's capacity (and its `htlc_maximum_msat`); LDK \
           relaxes it when it finds no more paths, boltd's router for single paths likewise, and \
           when splitting prices the share of a channel through the success probability \
           instead. The failures of the multi-part workloads are \"sufficient route\" (the paths \
           found cannot carry the amount) or \"path\" (none at all) errors, listed below: \
           routed shares are not the reach of a payer that knows its own balances.\n\n\
         ## Graphs\n\n{}\n## Results\n\n{table}\n## Why searches failed (LDK's errors)\n\n{}",
        if dirty { " (working tree with uncommitted changes)" } else { "" },
        elapsed,
        args.pairs,
        args.seed,
        EXEMPTFEE_MSAT / 1000,
        graphs.iter().map(|g| g.md.as_str()).collect::<String>(),
        failures(&rows),
    );
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "graph": r.graph, "payer": r.payer, "workload": r.workload,
                "anchor": r.anchor, "ours": r.ours, "ours_over_anchor": r.ratio,
                "ours_no_risk_no_randomization": r.plain,
                "ours_no_risk_no_randomization_over_anchor": r.plain_ratio,
                "only_anchor_routed_by_ours_at_anchor_limits": r.routed_at_anchor_limits,
            })
        })
        .collect();
    let doc = json!({
        "benchmark": "B1 route finding",
        "mode": mode,
        "time": time,
        "commit": commit,
        "dirty": dirty,
        "cpu": cpu,
        "pairs": args.pairs,
        "seed": args.seed,
        "elapsed_s": elapsed,
        "ours_params": {
            "riskfactor": DEFAULT_RISKFACTOR, "randomize": true, "maxfeepercent": MAXFEEPERCENT,
            "exemptfee_msat": EXEMPTFEE_MSAT, "maxdelay": MAXDELAY_BLOCKS
        },
        "graphs": graphs.iter().map(|g| g.json.clone()).collect::<Vec<_>>(),
        "results": results,
    });
    let suffix = if args.smoke { "-smoke" } else { "" };
    let name = format!("routes-{date}-{commit}{suffix}");
    let (md_path, json_path) = write_report(&args.out, &name, &md, &doc)?;
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    Ok(())
}
