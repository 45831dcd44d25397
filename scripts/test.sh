#!/usr/bin/env bash
# The whole test suite: starts private test services (see with-services.sh), runs every
# test with cargo-nextest, prints its summary, stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}"

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] installing cargo-nextest" >&2
    cargo install --locked cargo-nextest
fi

# Build first, outside the services' lifetime, so they are not kept waiting on a compile.
cargo nextest run --workspace --locked --no-run

exec scripts/with-services.sh cargo nextest run --workspace --locked --profile "${NEXTEST_PROFILE:-default}" "$@"
