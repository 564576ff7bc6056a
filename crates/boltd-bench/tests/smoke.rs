//! The CI smoke run of B1: `bench_routes --smoke` at a tiny size, so that the benchmark keeps
//! building and running. Skipped (with a note) when the graph snapshots are not there.

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
