//! B4 of the route finders: from a persisted graph to the first route in a fresh process.

use super::*;

/// B4 in a fresh process: from a persisted graph (`ours`: boltd's view, `ldk`: LDK's
/// `NetworkGraph`) to the first route (1 000 sat, `payer` to `payee`). Prints one JSON line.
pub(crate) fn b4_child(v: &[String]) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let (kind, file) = (v[0].as_str(), Path::new(&v[1]));
    let key = |h: &str| {
        hex_decode(h).and_then(|b| PublicKey::from_slice(&b).ok()).ok_or("bad key".to_string())
    };
    let (payer, payee) = (key(&v[2])?, key(&v[3])?);
    let rss_before = rss_kib();
    let t = Instant::now();
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let pp = PaymentParameters::from_node_id(payee, FINAL_CLTV);
    let rp = RouteParameters::from_payment_params_and_value(pp, 1_000_000);
    let t = Instant::now();
    let (decode_ms, rss_after, routed, route_ms) = match kind {
        "ours" => {
            let view = GraphView::from_bytes(&bytes).map_err(|e| e.to_string())?;
            drop(bytes);
            let decode_ms = t.elapsed().as_secs_f64() * 1e3;
            let engine = RoutingEngine::new(view);
            let view = engine.view();
            let rss_after = rss_kib();
            let t = Instant::now();
            let inflight = InFlight::default();
            let policy = PaymentPolicy { seed: 1, ..PaymentPolicy::default() };
            let req = Request {
                payer,
                route_params: &rp,
                first_hops: None,
                inflight: &inflight,
                policy: &policy,
                random_seed_bytes: [7; 32],
                learned: None,
                learned_cap: Default::default(),
            };
            let routed = engine.find_route(&view, &req).is_ok();
            (decode_ms, rss_after, routed, t.elapsed().as_secs_f64() * 1e3)
        }
        "ldk" => {
            let logger = Arc::new(LdkLogger);
            let graph: Graph = ReadableArgs::read(&mut Cursor::new(&bytes), Arc::clone(&logger))
                .map_err(|e| format!("LDK graph: {e:?}"))?;
            drop(bytes);
            let graph = Arc::new(graph);
            let scorer = ProbabilisticScorer::new(
                ProbabilisticScoringDecayParameters::default(),
                Arc::clone(&graph),
                Arc::clone(&logger),
            );
            let decode_ms = t.elapsed().as_secs_f64() * 1e3;
            let rss_after = rss_kib();
            let t = Instant::now();
            let routed = find_route(
                &payer,
                &rp,
                &graph,
                None,
                &*logger,
                &scorer,
                &ProbabilisticScoringFeeParameters::default(),
                &[7; 32],
            )
            .is_ok();
            (decode_ms, rss_after, routed, t.elapsed().as_secs_f64() * 1e3)
        }
        other => return Err(format!("unknown b4 kind {other}")),
    };
    Ok(json!({
        "read_ms": read_ms,
        "decode_ms": decode_ms,
        "route_ms": route_ms,
        "in_process_ms": started.elapsed().as_secs_f64() * 1e3,
        "rss_delta_mib": rss_after.saturating_sub(rss_before) as f64 / 1024.0,
        "routed": routed,
    }))
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if h.len() & 1 != 0 {
        return None;
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok()).collect()
}

/// Runs [`b4_child`] `runs` times in fresh processes; returns the run with the median wall time
/// from spawning the process to its answer, with that time added as `start_to_ready_ms`.
pub(crate) fn b4_in_children(
    kind: &str,
    file: &Path,
    payer: &PublicKey,
    payee: &PublicKey,
    runs: usize,
) -> Option<serde_json::Value> {
    let exe = std::env::current_exe().ok()?;
    let mut results = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut child = Command::new(&exe)
            .arg("--b4-child")
            .arg(kind)
            .arg(file)
            .arg(payer.to_string())
            .arg(payee.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
        let wall_ms = t.elapsed().as_secs_f64() * 1e3;
        child.wait().ok()?;
        let mut v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        v["start_to_ready_ms"] = json!(wall_ms);
        results.push(v);
    }
    results.sort_by(|a, b| {
        a["start_to_ready_ms"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b["start_to_ready_ms"].as_f64().unwrap_or(0.0))
    });
    results.get(results.len() / 2).cloned()
}
