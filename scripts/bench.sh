#!/usr/bin/env bash
# boltd's benchmarks (issues 6, 12 and 16), B1-B7 in one command; writes bench/results/bench-<date>-<commit>.md
# and .json (B1's routes-<date>-<commit>.{md,json} and B5's success-<date>-<commit>-small.{md,json}
# beside them), stamped with the CPU model, the commit and the measured fsync rate of the disk.
# Figures, not assertions.
#
#   B1  route finding on the mainnet graph snapshots (../shared/data/graphs): bench_routes
#   B2  payment throughput over one channel, K = 1, 10, 50; boltd daemons vs ldk-node 0.7.1
#   B3  A-B-C-D latency, and the engine's own overhead per payment (its spans and HTTP)
#   B4  the daemon's idle memory and time from process start to ready
#   B5  payment success with hidden liquidity (issue 16): bench_success; the default run is the
#       small size (200 payments per workload, the 2026 snapshot, about 8 minutes on 2 cores),
#       `b5 --full` the full one (1,000 payments per workload, both snapshots: hours)
#   B7  the B2 pair on PostgreSQL beside SQLite, and failover with a standby (median of 5):
#       bench_store (needs PostgreSQL's server: Debian's postgresql); about 5 minutes
#   B6  the daemons' memory over the payments made, and an idle node's while blocks are mined
#       (B5 in reports before issue 16): 10,000 payments and 5 minutes idle in the default run
#       (about 10 minutes), `node --only b6 --b6-full` 100,000 payments and an hour (2 hours)
#
#   scripts/bench.sh                   # the default size (16 minutes on 2 cores at the last run)
#   scripts/bench.sh --smoke           # CI size (a few minutes, mostly set-up)
#   scripts/bench.sh b1 [flags]        # B1 only, any bench_routes flag (--pairs N, --graphs ...)
#   scripts/bench.sh b5 [--full] [flags]  # B5 only, any bench_success flag (--payments N, ...)
#   scripts/bench.sh b7 [--full]       # B7 only (--full: K = 1, 10, 50 as B2)
#   scripts/bench.sh node [flags]      # B2-B4 and B6 only, any bench_node flag (--only b2,anchor,b3,b6,
#                                      # --b6-full, ...)
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
  b5) shift; exec ./target/release/bench_success "${b1_data[@]}" --out "$out" "$@" ;;
  b7) shift; exec ./target/release/bench_store --boltd ./target/release/boltd --out "$out" "$@" ;;
  node) shift; exec ./target/release/bench_node --boltd ./target/release/boltd --out "$out" "$@" ;;
esac

smoke=()
b1_size=(--pairs 150)
b5_size=()
if [[ "${1:-}" == "--smoke" ]]; then
  smoke=(--smoke)
  b1_size=()
  b5_size=(--payments 10 --liquidity uniform)
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/bench.sh [--smoke] | b1 [bench_routes flags] | b5 [--full] [bench_success flags] | b7 [--full] | node [bench_node flags]" >&2
  exit 2
fi

start=$(date +%s)
marker=$(mktemp)
# B1 at 150 pairs per workload and payer keeps B1-B4 within 15 minutes on 2 cores
# (`scripts/bench.sh b1` runs the 500-pair size).
./target/release/bench_routes "${smoke[@]}" "${b1_size[@]}" "${b1_data[@]}" --out "$out"
b1_json=$(find "$out" -maxdepth 1 -name 'routes-*.json' -newer "$marker" | sort | tail -n 1)
rm -f "$marker"
# B5 at its small size (`scripts/bench.sh b5 --full` for 1,000 payments per workload).
./target/release/bench_success "${b5_size[@]}" "${b1_data[@]}" --out "$out"
./target/release/bench_node "${smoke[@]}" --boltd ./target/release/boltd --out "$out" \
  ${b1_json:+--b1 "$b1_json"}
if [[ ${#smoke[@]} -eq 0 ]]; then
  ./target/release/bench_store --boltd ./target/release/boltd --out "$out"
fi
echo "[bench] B1-B7 done in $(( $(date +%s) - start )) s"
