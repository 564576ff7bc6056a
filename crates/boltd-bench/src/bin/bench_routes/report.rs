//! The Markdown tables of the report.

use super::*;

pub(crate) fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| graph | payer | workload | router | routed | p50 ms | p90 ms | p99 ms | max ms | CPU p50 / p99 ms | fee ppm p50 / mean | CLTV p50 / mean | parts mean / max | P uniform / LDK prior (mean) |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let graph = r.graph.trim_start_matches("gossip-store-").trim_end_matches(".compressed");
        for (name, x) in
            [("anchor", &r.anchor), ("ours", &r.ours), ("ours, no risk/random", &r.plain)]
        {
            if std::ptr::eq(x, &r.plain) {
                // Its time is not comparable: it reuses the A* bound computed for the same payer
                // by the search just before.
                s += &format!(
                    "| {graph} | {} | {} | {name} | {:.1} % | | | | | | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} / {} | {:.3} / {:.3} |\n",
                    r.payer,
                    r.workload,
                    x.routed_share * 100.0,
                    x.fee_ppm_p50,
                    x.fee_ppm_mean,
                    x.cltv_p50,
                    x.cltv_mean,
                    x.parts_mean,
                    x.parts_max,
                    x.p_uniform_mean,
                    x.p_bimodal_mean,
                );
                continue;
            }
            s += &format!(
                "| {graph} | {} | {} | {name} | {:.1} % | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} / {} | {:.3} / {:.3} |\n",
                r.payer,
                r.workload,
                x.routed_share * 100.0,
                x.ms_p50,
                x.ms_p90,
                x.ms_p99,
                x.ms_max,
                x.cpu_ms_p50,
                x.cpu_ms_p99,
                x.fee_ppm_p50,
                x.fee_ppm_mean,
                x.cltv_p50,
                x.cltv_mean,
                x.parts_mean,
                x.parts_max,
                x.p_uniform_mean,
                x.p_bimodal_mean,
            );
        }
        let q = &r.ratio;
        s += &format!(
            "| {graph} | {} | {} | **ours / anchor** | {} both, {} only anchor ({} with the anchor's limits), {} only ours | ×{:.2} | | ×{:.2} | | p99 ×{:.2} | mean ×{:.3} (lower {} / same {} / higher {}) | mean ×{:.2} | mean ×{:.2} | ×{:.3} / ×{:.3} |\n",
            r.payer,
            r.workload,
            q.both_routed,
            q.only_anchor,
            r.routed_at_anchor_limits,
            q.only_ours,
            q.ms_p50,
            q.ms_p99,
            q.cpu_ms_p99,
            q.fee_ppm_mean,
            q.fee_lower_same_higher.0,
            q.fee_lower_same_higher.1,
            q.fee_lower_same_higher.2,
            q.cltv_mean,
            q.parts_mean,
            q.p_uniform_mean,
            q.p_bimodal_mean,
        );
        let q = &r.plain_ratio;
        s += &format!(
            "| {graph} | {} | {} | **no risk/random / anchor** | {} both | | | | | | mean ×{:.3} (lower {} / same {} / higher {}) | mean ×{:.2} | mean ×{:.2} | ×{:.3} / ×{:.3} |\n",
            r.payer,
            r.workload,
            q.both_routed,
            q.fee_ppm_mean,
            q.fee_lower_same_higher.0,
            q.fee_lower_same_higher.1,
            q.fee_lower_same_higher.2,
            q.cltv_mean,
            q.parts_mean,
            q.p_uniform_mean,
            q.p_bimodal_mean,
        );
    }
    s
}

pub(crate) fn failures(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        for (name, x) in [("anchor", &r.anchor), ("ours", &r.ours)] {
            for (e, n) in &x.errors {
                s += &format!(
                    "- {} / {} / {} / {name}: {n} × \"{e}\"\n",
                    r.graph, r.payer, r.workload
                );
            }
        }
    }
    if s.is_empty() {
        s = "- none\n".into();
    }
    s
}
