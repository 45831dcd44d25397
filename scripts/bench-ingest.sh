#!/usr/bin/env bash
# Ingestion benchmark on this machine, with its same-run baselines:
#   1. nginx answering 204 with an access log (wrk -t2 -c64), the design's reference;
#   2. the server's own trivial endpoint (/healthz) at the same concurrency (loadgen);
#   3. single-event requests and 100-event batches through POST /v1/events (loadgen).
# Everything runs on loopback and is bounded in time. Usage:
#   scripts/bench-ingest.sh [SECONDS]      (default 20 per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}"
cargo build --release --locked -p unmogrowp >/dev/null
BIN="$CARGO_TARGET_DIR/release/unmogrowp"
WORK=$(mktemp -d /tmp/unmogrowp-bench.XXXXXX)
PORT=18181
NGINX_PORT=18182
cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/Model name: *//p'), kernel $(uname -r)"

if command -v nginx >/dev/null && command -v wrk >/dev/null; then
    mkdir -p "$WORK/nginx"
    cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log $WORK/nginx/access.log;
    server { listen 127.0.0.1:$NGINX_PORT; location / { return 204; } }
}
CONF
    nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
    sleep 0.5
    echo "baseline nginx 204 + access log: $(wrk -t2 -c64 -d${SECONDS_PER}s "http://127.0.0.1:$NGINX_PORT/" | grep -E 'Requests/sec')"
    kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
else
    echo "baseline nginx: skipped (install nginx-light and wrk for it)"
fi

UNMOGROWP_LOG_FORMAT=json "$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -fs -X POST -H 'content-type: application/json' "http://127.0.0.1:$PORT/api/v1/auth/register" \
    -d '{"email":"bench@example.com","password":"quiet harbor lantern 93","name":"Bench","organization":"Bench"}' \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
APP_TOKEN=$(curl -fs -X POST -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/apps" \
    -d '{"name":"Bench","platform":"android","bundle_id":"com.example.bench","store_url":"https://play.google.com/store/apps/details?id=com.example.bench"}' \
    | sed -E 's/.*"app_token":"([^"]+)".*/\1/')

echo "--- single-event requests"
"$BIN" loadgen --url "http://127.0.0.1:$PORT" --app-token="$APP_TOKEN" --batch 1 --concurrency 64 \
    --events 100000000 --duration-seconds "$SECONDS_PER" --baseline-seconds "$SECONDS_PER"
echo "--- 100-event batches"
"$BIN" loadgen --url "http://127.0.0.1:$PORT" --app-token="$APP_TOKEN" --batch 100 --concurrency 32 \
    --events 100000000 --duration-seconds "$SECONDS_PER" --baseline-seconds 0
echo "--- pipeline after the run: $(curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^pipeline_lag_records|^process_resident_memory_bytes' | tr '\n' ' ')"
