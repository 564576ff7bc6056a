#!/usr/bin/env bash
# Finds or builds bitcoind for boltd's regtest tests, and prints its path on stdout.
#
# Order of preference:
#   1. $BITCOIND_EXE
#   2. `bitcoind` on PATH
#   3. a cached build under ${XDG_CACHE_HOME:-$HOME/.cache}/boltd/
#   4. build it (once per machine, ~6 minutes on 2 cores) from the Bitcoin Core source that the
#      crates.io package libbitcoinkernel-sys =0.4.1 vendors in its bitcoin/ folder.
#
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

log() { echo "[bitcoind] $*" >&2; }

if [ -n "${BITCOIND_EXE:-}" ]; then
  [ -x "$BITCOIND_EXE" ] || { log "BITCOIND_EXE=$BITCOIND_EXE is not an executable"; exit 1; }
  echo "$BITCOIND_EXE"; exit 0
fi
if command -v bitcoind >/dev/null 2>&1; then
  command -v bitcoind; exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/boltd/bitcoin-core-31.99"
if [ -x "$cache/bin/bitcoind" ]; then
  echo "$cache/bin/bitcoind"; exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Build tools.
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v g++ >/dev/null 2>&1 || need+=(g++)
[ -f /usr/include/boost/version.hpp ] || need+=(libboost-dev)
[ -f /usr/include/event2/event.h ] || need+=(libevent-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing build packages: ${need[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    log "missing build packages: ${need[*]}"
    log "install them with: sudo apt-get install -y ${need[*]}"
    exit 1
  fi
fi

# The vendored source, obtained through cargo (the bitcoind-src workspace member is never built).
log "locating the Bitcoin Core source vendored by libbitcoinkernel-sys 0.4.1 (cargo fetch)"
(cd "$root" && cargo fetch --quiet >&2)
manifest=$(cd "$root" && cargo metadata --format-version 1 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(p["manifest_path"] for p in d["packages"] if p["name"] == "libbitcoinkernel-sys"))')
src="$(dirname "$manifest")/bitcoin"
[ -f "$src/CMakeLists.txt" ] || { log "no Bitcoin Core source at $src"; exit 1; }

build="$cache.build"
mkdir -p "$build"
log "building bitcoind from $src into $cache"
log "this happens once per machine and takes about 6 minutes on 2 cores"
start=$(date +%s)
cmake -S "$src" -B "$build" -DBUILD_DAEMON=ON -DBUILD_CLI=ON -DENABLE_WALLET=OFF \
  -DBUILD_TESTS=OFF -DENABLE_IPC=OFF -DBUILD_BITCOIN_BIN=OFF -DWITH_EMBEDDED_ASMAP=OFF \
  -DWITH_CCACHE=OFF -DBUILD_KERNEL_LIB=OFF -DBUILD_UTIL=OFF -DBUILD_TX=OFF \
  -DBUILD_BENCH=OFF -DBUILD_FUZZ_BINARY=OFF -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 \
  || { log "cmake configure failed; see $build/configure.log"; tail -20 "$build/configure.log" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
# One progress line per 10% of the build.
cmake --build "$build" -j"$jobs" --target bitcoind bitcoin-cli 2>&1 | tee "$build/build.log" | \
  awk '/^\[ *[0-9]+%\]/ { p = substr($0, 2, index($0, "%") - 2) + 0; if (p >= last + 10) { last = p - p % 10; printf "[bitcoind] build %d%%\n", last > "/dev/stderr"; fflush("/dev/stderr") } }'
[ "${PIPESTATUS[0]}" = 0 ] || { log "build failed; see $build/build.log"; tail -30 "$build/build.log" >&2; exit 1; }
mkdir -p "$cache/bin"
cp "$build/bin/bitcoind" "$build/bin/bitcoin-cli" "$cache/bin/"
log "built in $(( $(date +%s) - start )) s: $cache/bin/bitcoind"
echo "$cache/bin/bitcoind"
