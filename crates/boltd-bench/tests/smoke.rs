//! The CI smoke runs of the benchmarks, so that they keep building and running (figures are not
//! asserted): B1 (`bench_routes --smoke` at a tiny size; skipped, with a note, when the graph
//! snapshots are not there) and B2-B4, B6 (`bench_node --smoke`: every payment must complete).

use std::path::Path;
use std::process::Command;

#[test]
fn bench_routes_smoke_writes_its_report() {
    // `BOLTD_BENCH_DATA` overrides where the snapshots are (a worktree elsewhere).
    let data =
        std::env::var_os("BOLTD_BENCH_DATA").map(std::path::PathBuf::from).unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/graphs")
        });
    if !data.join("gossip-store-2026-02-03.compressed").exists() {
        // CI always has shared/ beside the checkout: there, missing data is a failure.
        assert!(std::env::var_os("CI").is_none(), "no graph snapshots under {}", data.display());
        eprintln!("skipped: no graph snapshots under {}", data.display());
        return;
    }
    let out = std::env::temp_dir().join(format!("boltd-bench-smoke-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_bench_routes"))
        .args(["--smoke", "--pairs", "2", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    let json = files.iter().find(|p| p.extension().is_some_and(|e| e == "json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(doc["mode"], "smoke");
    assert_eq!(doc["results"].as_array().unwrap().len(), 6);
    assert!(doc["cpu"].is_string() && doc["commit"].is_string());
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "md")));
    std::fs::remove_dir_all(&out).unwrap();
}

/// The `boltd` binary for B2/B4: `BOLTD_EXE`, or the one cargo built beside `bench_node`
/// (`cargo test --workspace` builds it).
fn boltd_exe() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("BOLTD_EXE") {
        return Some(p.into());
    }
    let beside = Path::new(env!("CARGO_BIN_EXE_bench_node")).with_file_name("boltd");
    beside.is_file().then_some(beside)
}

fn all_completed(run: &serde_json::Value, what: &str) {
    let (attempted, completed) = (run["attempted"].as_u64().unwrap(), run["completed"].as_u64());
    assert!(attempted > 0, "{what}: nothing attempted");
    assert_eq!(completed, Some(attempted), "{what}: {}", run["failures"]);
}

#[test]
fn bench_node_smoke_pays_through_both_implementations_and_four_hops() {
    let Some(boltd) = boltd_exe() else {
        assert!(std::env::var_os("CI").is_none(), "no boltd binary beside bench_node");
        eprintln!("skipped: no boltd binary (cargo build -p boltd, or set BOLTD_EXE)");
        return;
    };
    if std::env::var_os("BITCOIND_EXE").is_none() {
        assert!(std::env::var_os("CI").is_none(), "BITCOIND_EXE is not set");
        eprintln!("skipped: BITCOIND_EXE is not set");
        return;
    }
    let out = std::env::temp_dir().join(format!("boltd-bench-node-smoke-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_bench_node"))
        // boltd refuses unknown BOLTD_* variables (the B1 test's).
        .env_remove("BOLTD_BENCH_DATA")
        .arg("--smoke")
        .arg("--boltd")
        .arg(&boltd)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    let json = files.iter().find(|p| p.extension().is_some_and(|e| e == "json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(doc["mode"], "smoke");
    assert!(doc["cpu"].is_string() && doc["commit"].is_string());
    assert!(doc["disk"]["fsyncs_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{}", doc["disk"]);
    // B2, both implementations, every K: every payment completed.
    for who in ["boltd", "ldk_node"] {
        let phases = doc["b2"][who]["phases"].as_array().unwrap();
        assert_eq!(phases.len(), 3, "{who}: K = 1, 10, 50");
        for p in phases {
            all_completed(&p["run"], &format!("B2 {who} K={}", p["run"]["concurrency"]));
        }
    }
    // B3: every payment over A-B-C-D completed, through the engine and straight through LDK.
    all_completed(&doc["b3"]["engine"], "B3 engine");
    all_completed(&doc["b3"]["direct"], "B3 direct");
    // B3's per-payment overhead: every measured engine payment left its spans.
    let per = &doc["b3"]["overhead"];
    assert_eq!(per["payments"], doc["b3"]["engine"]["completed"], "{per}");
    assert!(per["overhead"]["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{per}");
    assert!(per["node"]["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{per}");
    // The pre-flight's route answered LDK's first search (the direct payments have none).
    assert_eq!(doc["b3"]["preflight_routes_reused"], per["payments"], "{}", doc["b3"]);
    // B6: memory read at every checkpoint, and while the idle node watched blocks come.
    let b6 = &doc["b6"]["figures"];
    assert_eq!(b6["completed"], 300, "{}", b6["failures"]);
    assert_eq!(b6["checkpoints"].as_array().unwrap().len(), 3, "{b6}");
    let idle = b6["idle"].as_array().unwrap();
    assert_eq!(idle.len(), 7, "{b6}");
    assert!(idle.iter().all(|i| i["rss_mib"].as_f64().is_some_and(|m| m > 0.0)), "{b6}");
    assert!(idle.last().unwrap()["blocks"].as_u64().is_some_and(|b| b >= 2), "{b6}");
    // B4: the daemon started and was measured.
    let daemon = &doc["b4"];
    assert!(daemon["restart_to_ready_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{daemon}");
    assert!(daemon["idle_rss_after_restart_mib"].as_f64().is_some_and(|m| m > 0.0), "{daemon}");
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "md")));
    std::fs::remove_dir_all(&out).unwrap();
}
