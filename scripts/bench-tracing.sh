#!/usr/bin/env bash
# What tracing costs ingestion: `unmogrowp loadgen` against the release server with tracing off,
# and with tracing on (`otel.endpoint`, every request sampled) while the OTLP receiver is down
# (nothing listens on its port: every export fails, the queue fills and drops). The two
# configurations alternate ROUNDS times so that the machine's drift hits both alike; medians are
# printed at the end, of the accepted events per second and of the server's CPU time per event
# (user + system, from /proc: steadier than throughput on a shared machine). Loopback only,
# bounded in time. Usage:
#   scripts/bench-tracing.sh [SECONDS] [ROUNDS]     (default 10 s per measurement, 3 rounds)
# `SECOND=off` measures tracing off twice (an A/A run: how far apart two identical
# configurations land on this machine, order effects included); `BATCHES="1"` limits the shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-10}
ROUNDS=${2:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}"
cargo build --release --locked -p unmogrowp >/dev/null
BIN="$CARGO_TARGET_DIR/release/unmogrowp"
WORK=$(mktemp -d /tmp/unmogrowp-bench-tracing.XXXXXX)
PORT=18191
DEAD_PORT=18199 # nothing listens here: the receiver is down
cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/Model name: *//p'), kernel $(uname -r)"

# The server's CPU time so far, in clock ticks (user + system).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One measurement: a fresh server in MODE (off | down), one app, loadgen with BATCH events per
# request; prints the accepted events per second and the server's CPU microseconds per event.
measure() {
    local mode=$1 batch=$2 concurrency=$3
    rm -rf "$WORK/data"
    if [ "$mode" = down ]; then
        UNMOGROWP_OTEL__ENDPOINT="http://127.0.0.1:$DEAD_PORT" UNMOGROWP_LOG_FORMAT=json \
            "$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
    else
        UNMOGROWP_LOG_FORMAT=json \
            "$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
    fi
    SERVER=$!
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    local token app_token
    token=$(curl -fs -X POST -H 'content-type: application/json' "http://127.0.0.1:$PORT/api/v1/auth/register" \
        -d '{"email":"bench@example.com","password":"quiet harbor lantern 93","name":"Bench","organization":"Bench"}' \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    app_token=$(curl -fs -X POST -H 'content-type: application/json' -H "authorization: Bearer $token" "http://127.0.0.1:$PORT/api/v1/apps" \
        -d '{"name":"Bench","platform":"android","bundle_id":"com.example.bench","store_url":"https://play.google.com/store/apps/details?id=com.example.bench"}' \
        | sed -E 's/.*"app_token":"([^"]+)".*/\1/')
    if [ -z "$app_token" ] || [ "${#app_token}" -gt 100 ]; then
        echo "could not set up the app (see $WORK/server.log)" >&2
        exit 1
    fi
    local rate events before after line
    before=$(cpu_ticks "$SERVER")
    line=$("$BIN" loadgen --url "http://127.0.0.1:$PORT" --app-token="$app_token" --batch "$batch" \
        --concurrency "$concurrency" --events 100000000 --duration-seconds "$SECONDS_PER" --baseline-seconds 0 \
        | grep ' events/s=' | head -1)
    after=$(cpu_ticks "$SERVER")
    rate=$(echo "$line" | sed -nE "s/.* events\/s=([0-9]+).*/\1/p")
    events=$(echo "$line" | sed -nE "s/.* events=([0-9]+) .*/\1/p")
    local cpu_us
    cpu_us=$(awk "BEGIN {printf \"%.2f\", ($after - $before) * 1000000 / $(getconf CLK_TCK) / $events}")
    if [ "$mode" = down ]; then
        local dropped
        dropped=$(curl -fs "http://127.0.0.1:$PORT/metrics" | sed -nE 's/^otel_spans_dropped_total ([0-9.e+]+)/\1/p')
        echo "    (spans dropped: ${dropped:-0}; export errors: $(curl -fs "http://127.0.0.1:$PORT/metrics" | sed -nE 's/^otel_export_errors_total ([0-9.e+]+)/\1/p'))" >&2
    fi
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    # What the run wrote is flushed now, not during the next measurement.
    rm -rf "$WORK/data"; sync; sleep 2
    echo "$rate $cpu_us"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

SECOND=${SECOND:-down}
for shape in ${BATCHES:-1 100}; do
    case $shape in 1) shape="1 64" ;; 100) shape="100 32" ;; *) shape="$shape 32" ;; esac
    set -- $shape
    batch=$1 concurrency=$2
    : >"$WORK/off" ; : >"$WORK/down"; : >"$WORK/off-cpu" ; : >"$WORK/down-cpu"
    echo "--- batch $batch, concurrency $concurrency, $ROUNDS rounds of ${SECONDS_PER} s"
    for round in $(seq 1 "$ROUNDS"); do
        # Each round swaps which configuration goes first (ABBA): the second server of a pair
        # runs on a machine still busy with the first's writes, and an A/A run showed the
        # second up to 15 % slower when the order was fixed.
        if [ $((round % 2)) -eq 1 ]; then
            read -r off off_cpu <<<"$(measure off "$batch" "$concurrency")"
            read -r down down_cpu <<<"$(measure "$SECOND" "$batch" "$concurrency")"
        else
            read -r down down_cpu <<<"$(measure "$SECOND" "$batch" "$concurrency")"
            read -r off off_cpu <<<"$(measure off "$batch" "$concurrency")"
        fi
        echo "$off" >>"$WORK/off"; echo "$down" >>"$WORK/down"
        echo "$off_cpu" >>"$WORK/off-cpu"; echo "$down_cpu" >>"$WORK/down-cpu"
        echo "  round $round: tracing off ${off} events/s (${off_cpu} µs CPU/event), ${SECOND} ${down} events/s (${down_cpu} µs CPU/event)"
    done
    off_median=$(median <"$WORK/off"); down_median=$(median <"$WORK/down")
    off_cpu=$(median <"$WORK/off-cpu"); down_cpu=$(median <"$WORK/down-cpu")
    echo "  median: off ${off_median} events/s, ${SECOND} ${down_median} events/s, ratio $(awk "BEGIN {printf \"%.3f\", $down_median / $off_median}")"
    echo "  median CPU per event: off ${off_cpu} µs, ${SECOND} ${down_cpu} µs, ratio $(awk "BEGIN {printf \"%.3f\", $down_cpu / $off_cpu}")"
done
