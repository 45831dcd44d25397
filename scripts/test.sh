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

# Browser tests drive Debian's Chromium (installed when missing and we are root).
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "[test] installing chromium" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "[test] /usr/bin/chromium is missing: apt-get install chromium (or set CHROMIUM_PATH)" >&2
        exit 1
    fi
fi

# The dashboard first (the server embeds or serves web/build), then every Rust test binary,
# outside the services' lifetime so they are not kept waiting on a compile.
scripts/browser-test.sh build
cargo build --locked -p unmogrowp
cargo nextest run --workspace --locked --no-run

# Rust tests against the private services, then the browser tests against a demo server.
scripts/with-services.sh cargo nextest run --workspace --locked --profile "${NEXTEST_PROFILE:-default}" "$@"
# Documentation tests (nextest does not run them): among them, the type-level checks that a
# role's tenant handle has no method its role may not call.
cargo test --locked --doc -p unmogrowp-storage
scripts/browser-test.sh run "$CARGO_TARGET_DIR/debug/unmogrowp"
