#!/usr/bin/env bash
# boltd's benchmarks (issue 6), B1-B4 in one command; writes bench/results/bench-<date>-<commit>.md
# and .json (B1's routes-<date>-<commit>.{md,json} beside them), stamped with the CPU model, the
# commit and the measured fsync rate of the disk. Figures, not assertions.
#
#   B1  route finding on the mainnet graph snapshots (../shared/data/graphs): bench_routes
#   B2  payment throughput over one channel, K = 1, 10, 50; boltd daemons vs ldk-node 0.7.1
#   B3  A-B-C-D latency, and the engine's overhead against LDK's ChannelManager
#   B4  the daemon's idle memory and time from process start to ready
#   B5  the daemons' memory over 100,000 payments (not in the default run: node --only b5;
#       node --only b5 --b5-payments 20000 for a shorter run, about 10 minutes)
#
#   scripts/bench.sh                   # full size (about 15 minutes on 2 cores)
#   scripts/bench.sh --smoke           # CI size (a few minutes, mostly set-up)
#   scripts/bench.sh b1 [flags]        # B1 only, any bench_routes flag (--pairs N, --graphs ...)
#   scripts/bench.sh node [flags]      # B2-B4 only, any bench_node flag (--only b2,anchor,b3,b5, ...)
#
# Needs bitcoind (found or built by scripts/bitcoind.sh) and, to count fsyncs, `perf` with
# access to syscall tracepoints (root; Debian: apt-get install linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."

# One cargo invocation for both binaries: the same feature set, so the shared crates build once.
cargo build --release -p boltd -p boltd-bench --bins
BITCOIND_EXE="$(bash scripts/bitcoind.sh)"
export BITCOIND_EXE
out=bench/results
mkdir -p "$out"
# B1's graph snapshots: ../shared/data/graphs beside the checkout, or BOLTD_BENCH_DATA.
b1_data=()
if [[ -n "${BOLTD_BENCH_DATA:-}" ]]; then
  b1_data=(--data "$BOLTD_BENCH_DATA")
fi
# boltd refuses unknown BOLTD_* variables, and the daemons inherit the environment.
unset BOLTD_BENCH_DATA

case "${1:-}" in
  b1) shift; exec ./target/release/bench_routes "${b1_data[@]}" --out "$out" "$@" ;;
  node) shift; exec ./target/release/bench_node --boltd ./target/release/boltd --out "$out" "$@" ;;
esac

smoke=()
b1_size=(--pairs 150)
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=(--smoke)
  b1_size=()
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/bench.sh [--smoke] | b1 [bench_routes flags] | node [bench_node flags]" >&2
  exit 2
fi

start=$(date +%s)
marker=$(mktemp)
# B1 at 150 pairs per workload and payer keeps B1-B4 within 15 minutes on 2 cores
# (`scripts/bench.sh b1` runs the 500-pair size).
./target/release/bench_routes "${smoke[@]}" "${b1_size[@]}" "${b1_data[@]}" --out "$out"
b1_json=$(find "$out" -maxdepth 1 -name 'routes-*.json' -newer "$marker" | sort | tail -n 1)
rm -f "$marker"
./target/release/bench_node "${smoke[@]}" --boltd ./target/release/boltd --out "$out" \
  ${b1_json:+--b1 "$b1_json"}
echo "[bench] B1-B4 done in $(( $(date +%s) - start )) s"
