#!/usr/bin/env bash
# boltd's benchmarks (issue 6). B1: route finding on the mainnet graph snapshots in
# ../shared/data/graphs, LDK's find_route (anchor) against boltd's policy router (ours).
# Builds in release and runs the full mode; writes bench/results/routes-<date>-<commit>.{md,json}.
#
#   scripts/bench.sh                 # full: 500 pairs x 3 workloads x 2 payers x 2 graphs
#   scripts/bench.sh --smoke         # CI size: 20 pairs, the 2026 graph only
#   scripts/bench.sh --pairs 200     # any bench_routes flag (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p boltd-bench --bin bench_routes
exec ./target/release/bench_routes "$@"
