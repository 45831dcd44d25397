#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from the OpenAPI document and
# runs all its checks (no server errors, documented statuses, content types and headers,
# response schemas, schema-valid data accepted, schema-invalid data refused, and more)
# against a fresh server on loopback, signed in as an owner. Bounded in time.
#
#   scripts/schemathesis.sh BINARY [SECONDS]      default: 150 s
#
# Installs a pinned schemathesis into a virtualenv under ~/.cache (from PyPI) on first use.
# `scripts/schemathesis.toml` lists the operations whose checks no schema can express.
# Exits non-zero on any failure; the report is in $REPORT_DIR (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:?usage: scripts/schemathesis.sh BINARY [SECONDS]}"
seconds="${2:-150}"
version="4.32.5"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/unmogrowp-schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
    if ! python3 -m venv --help > /dev/null 2>&1 || ! python3 -c 'import ensurepip' 2> /dev/null; then
        if [ "$(id -u)" = 0 ]; then
            echo "[schemathesis] installing python3-venv" >&2
            apt-get update -qq > /dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv > /dev/null
        else
            echo "[schemathesis] python3 cannot make a virtualenv: apt-get install python3-venv" >&2
            exit 1
        fi
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
work="$(mktemp -d)"
report="${REPORT_DIR:-$work/report}"
port=$(( 20000 + RANDOM % 10000 ))
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work/data"
}
trap cleanup EXIT
# Limits out of the way: one address sends everything (they are tested on their own).
for name in LOGIN AUTH CHECK_EMAIL API TOUCH; do
    export "UNMOGROWP_LIMITS__${name}_PER_MINUTE=1000000" "UNMOGROWP_LIMITS__${name}_BURST=1000000"
done
"$binary" serve --addr "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -sf "$base/healthz" > /dev/null && break
    sleep 0.1
done
token=$(curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"email":"schemathesis@example.com","password":"correct horse battery staple 42","name":"Schemathesis","organization":"Schemathesis"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
# An app, so that the collection endpoints are reached with a real app token.
app_token=$(curl -sf -X POST "$base/api/v1/apps" -H 'content-type: application/json' -H "Authorization: Bearer $token" \
    -d '{"name":"Fuzzed","platform":"android","bundle_id":"com.example.fuzzed","store_url":"https://play.google.com/store/apps/details?id=com.example.fuzzed"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["app_token"])')
echo "[schemathesis] $base, ${seconds}s, report in $report"
# Sign-out ends the session the run is signed in with; the live feed is a WebSocket, which
# OpenAPI cannot describe (both have their own tests).
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/api/openapi.json" \
    -H "Authorization: Bearer $token" -H "X-App-Token: $app_token" --max-time "$seconds" \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/live \
    --generation-deterministic --report junit --report-dir "$report" --no-color
