#!/usr/bin/env bash
# The torture suite (issue 10) at full size, with its figures: real boltd daemons on a regtest
# bitcoind, SIGKILLed at random (kill_loop), stopped with SIGTERM under load (sigterm_under_load)
# and starved of disk (storage_full) while clients pay across them, and chain and peer chaos
# (T8: bitcoind stopped and started again, reorgs, a link cut mid-payment: chaos_*); then the
# invariants of DEVELOPERS.md ("Torture suite"). The CI size of the same tests runs in
# `cargo test`.
#
#   scripts/torture.sh                 # full size, every torture test (about 25 minutes on 2 cores)
#   scripts/torture.sh ci              # the CI size
#   scripts/torture.sh full kill_loop  # one test (any cargo test filter and flags after the size)
#   scripts/torture.sh full chaos      # T8's three tests
#
# BOLTD_TORTURE_SEED=<n> repeats a run's random choices (the seed is printed). The whole output
# is kept in target/torture-<size>-<date>.log; the figures are printed again at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

size=full
case "${1:-}" in
  ci|full) size=$1; shift ;;
esac
export BOLTD_TORTURE=$size
BITCOIND_EXE="$(bash scripts/bitcoind.sh)"
export BITCOIND_EXE

mkdir -p target
log="target/torture-$size-$(date +%Y%m%d-%H%M%S).log"
start=$(date +%s)
set +e
cargo test -p boltd --test torture -- --nocapture --test-threads=1 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "[torture.sh] $size size, $(( $(date +%s) - start )) s, exit $rc; full output: $log"
grep -oE '\[torture\] [a-z_]+: .*|test result: .*' "$log" || true
exit "$rc"
