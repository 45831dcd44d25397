#!/usr/bin/env bash
# End-to-end pipeline benchmark on this machine (loopback only, bounded in time): a burst of
# unique events in 100-event batches at full speed (wrk), with the summary report polled 4
# times a second, until every acknowledged event is counted; then steady load at half the
# measured capacity with acknowledgement -> summary and -> live feed latencies.
#   scripts/bench-pipeline.sh [BURST_SECONDS] [STEADY_SECONDS]     (defaults 8 and 20)
# Embedded tier by default. For the cluster tier, export the shared URLs first
# (UNMOGROWP_DATABASE_URL, UNMOGROWP_EVENTS_URL, UNMOGROWP_NATS_URL; e.g. from
# scripts/with-services.sh): the server then runs on PostgreSQL, ClickHouse and NATS.
# BENCH_APPS (default 1) apps share the load; on the cluster tier, BENCH_WORKERS (default 1)
# worker processes share the log's partitions: the server is worker 0 (`--role all`), the
# others run `--role worker` beside it (peak RSS is the server's).
set -euo pipefail
cd "$(dirname "$0")/.."
BURST=${1:-8}
STEADY=${2:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked -p unmogrowp >/dev/null
BIN="$CARGO_TARGET_DIR/release/unmogrowp"
WORK=$(mktemp -d /tmp/unmogrowp-bench-pipeline.XXXXXX)
PORT=${BENCH_PORT:-18186}
APPS=${BENCH_APPS:-1}
WORKERS=${BENCH_WORKERS:-1}
EXTRA=()
cleanup() {
    for pid in "${EXTRA[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

TIER=embedded
LOG=file
[ -n "${UNMOGROWP_NATS_URL:-}" ] && LOG=nats
[ -n "${UNMOGROWP_EVENTS_URL:-}" ] && TIER="cluster (events: ${UNMOGROWP_EVENTS_URL%%:*}, log: $LOG)"
if [ "$WORKERS" -gt 1 ]; then
    [ "$LOG" = nats ] || { echo "BENCH_WORKERS needs the cluster tier (UNMOGROWP_NATS_URL)" >&2; exit 1; }
    export UNMOGROWP_PIPELINE__WORKERS=$WORKERS
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/Model name: *//p'), kernel $(uname -r); tier: $TIER; apps: $APPS; workers: $WORKERS"

UNMOGROWP_PIPELINE__WORKER_ORDINAL=0 UNMOGROWP_LOG_FORMAT=json "$BIN" serve --addr "127.0.0.1:$PORT" \
    --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
for ordinal in $(seq 1 $((WORKERS - 1))); do
    UNMOGROWP_PIPELINE__WORKER_ORDINAL=$ordinal UNMOGROWP_LOG_FORMAT=json "$BIN" serve --role worker \
        --addr "127.0.0.1:$((PORT + ordinal))" --data-dir "$WORK/worker$ordinal" >"$WORK/worker$ordinal.log" 2>&1 &
    EXTRA+=($!)
done
EMAIL="bench-$(date +%s%N)@example.com"
REGISTERED=$(curl -fs -X POST -H 'content-type: application/json' "http://127.0.0.1:$PORT/api/v1/auth/register" \
    -d "{\"email\":\"$EMAIL\",\"password\":\"quiet harbor lantern 93\",\"name\":\"Bench\",\"organization\":\"Bench\"}")
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$REGISTERED")
APP_IDS=()
APP_TOKENS=()
for n in $(seq 1 "$APPS"); do
    APP=$(curl -fs -X POST -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/apps" \
        -d "{\"name\":\"Bench $n\",\"platform\":\"android\",\"bundle_id\":\"com.example.bench$n\",\"store_url\":\"https://play.google.com/store/apps/details?id=com.example.bench$n\"}")
    APP_IDS+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$APP")")
    APP_TOKENS+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["app_token"])' <<<"$APP")")
done
APP_ID=$(IFS=,; echo "${APP_IDS[*]}")
APP_TOKEN=$(IFS=,; echo "${APP_TOKENS[*]}")
for ordinal in $(seq 1 $((WORKERS - 1))); do
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$((PORT + ordinal))/readyz" >/dev/null && break; sleep 0.1; done
done

python3 scripts/bench-pipeline.py --port "$PORT" --token "$TOKEN" --app-id="$APP_ID" --app-token="$APP_TOKEN" \
    --lua scripts/bench-pipeline.lua --burst "$BURST" --steady "$STEADY"
echo "pipeline stages (seconds per batch, mean): $(curl -fs "http://127.0.0.1:$PORT/metrics" \
    | awk '/^pipeline_stage_seconds_(sum|count)/ { split($1, a, "\""); if ($1 ~ /_sum/) s[a[2]] = $2; else c[a[2]] = $2 }
           END { for (k in s) if (c[k] > 0) printf "%s=%.4f ", k, s[k] / c[k] }')"
