#!/usr/bin/env bash
# boltd's whole test suite, with all its set-up, on a fresh machine:
#   1. bitcoind: found ($BITCOIND_EXE, PATH, cache) or built once from the vendored source
#      (installs the apt build packages when run as root);
#   2. the JavaScript SDKs of the end-to-end tests (`npm ci` in tests/js; needs Node.js 20+),
#      schemathesis (the OpenAPI fuzz) and LNbits (its funding sources against boltd), each
#      pinned, in a venv under target/ (needs python3 + venv);
#   3. PostgreSQL's server (Debian's `postgresql` package, installed with apt when run as root and
#      missing): the tests run their own throwaway clusters (initdb in a temporary directory);
#   4. formatting and lints (rustfmt, clippy -D warnings);
#   5. every unit, integration and end-to-end test, against real regtest bitcoind and real nodes,
#      then the store's suite again on PostgreSQL (BOLTD_TEST_STORE=postgres).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A one-off build from a clean checkout gains nothing from incremental artifacts (and they
# double the space the build takes on disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

start=$(date +%s)
BITCOIND_EXE="$(bash scripts/bitcoind.sh)"
export BITCOIND_EXE
echo "[test] bitcoind: $BITCOIND_EXE ($(( $(date +%s) - start )) s)"

echo "[test] npm ci (tests/js: the real client SDKs the end-to-end tests drive)"
if ! npm ci --prefix tests/js --no-audit --no-fund --loglevel=error >/dev/null; then
  echo "[test] npm ci in tests/js failed: the SDK tests (crates/boltd/tests/alby_sdk.rs, nwc.rs) need it" >&2
  exit 1
fi

echo "[test] npm ci (tests/barkd-client: the client generator from barkd's OpenAPI document)"
if ! npm ci --prefix tests/barkd-client --no-audit --no-fund --loglevel=error >/dev/null; then
  echo "[test] npm ci in tests/barkd-client failed: crates/boltd/tests/barkd_client.rs needs it (Node.js 20.19+)" >&2
  exit 1
fi

# A pinned Python venv under target/: (re)made when missing or when its requirements changed.
#   venv NAME REQUIREMENTS EXECUTABLE WHAT
venv() {
  local dir=target/$1 req=$2
  if [ ! -x "$dir/bin/$3" ] || ! cmp -s "$req" "$dir/requirements.txt"; then
    rm -rf "$dir"
    if ! python3 -m venv "$dir" || ! "$dir/bin/pip" install --quiet --disable-pip-version-check \
        -r "$req"; then
      echo "[test] installing $4 failed (needs python3 with venv, and PyPI)" >&2
      exit 1
    fi
    cp "$req" "$dir/requirements.txt"
  fi
}

echo "[test] schemathesis (target/schemathesis-venv: the OpenAPI fuzz, crates/boltd/tests/openapi_fuzz.rs)"
venv schemathesis-venv tests/schemathesis/requirements.txt st schemathesis

echo "[test] LNbits (target/lnbits-venv: its funding sources against boltd, crates/boltd/tests/lnbits.rs and nwc.rs)"
venv lnbits-venv tests/lnbits/requirements.txt python LNbits

echo "[test] PostgreSQL (the store's second backend: crates/boltd-store, crates/boltd/tests/failover.rs)"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "${BOLTD_PG_BIN:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  else
    echo "[test] PostgreSQL is missing: apt-get install postgresql (or set BOLTD_PG_BIN)" >&2
    exit 1
  fi
fi

echo "[test] rustfmt"
cargo fmt --all -- --check

echo "[test] clippy"
cargo clippy --workspace --exclude bitcoind-src --all-targets --locked -- -D warnings

echo "[test] tests"
cargo test --workspace --exclude bitcoind-src --locked -- --test-threads=2
echo "[test] the store's suite on PostgreSQL"
BOLTD_TEST_STORE=postgres cargo test -p boltd-store --locked -- --test-threads=2
echo "[test] done in $(( $(date +%s) - start )) s"
