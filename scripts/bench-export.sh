#!/usr/bin/env bash
# Export memory: seeds a large demo (about 1.5 M clicks and impressions for one app), waits
# until the pipeline has stored everything, then streams `export/clicks.csv` to /dev/null
# while sampling the server's resident memory every 100 ms. Bounded in time.
#   scripts/bench-export.sh [SCALE]     (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}"
cargo build --release --locked -p unmogrowp >/dev/null
BIN="$CARGO_TARGET_DIR/release/unmogrowp"
WORK=$(mktemp -d /tmp/unmogrowp-export.XXXXXX)
PORT=18381
trap '[ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
UNMOGROWP_LOG_LEVEL=warn "$BIN" demo --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" --days 30 --scale "$SCALE" >"$WORK/out.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do grep -q '^login:' "$WORK/out.log" && break; sleep 0.5; done
grep -E '^(demo|login):' "$WORK/out.log"
for _ in $(seq 1 600); do
    LAG=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^pipeline_lag_records/{print $2}')
    [ "${LAG:-1}" = "0" ] && break
    sleep 1
done
echo "pipeline caught up (lag ${LAG:-?})"
LOGIN=$(sed -n 's/^login: //p' "$WORK/out.log")
EMAIL=${LOGIN%% *}; PASSWORD=${LOGIN#* }
TOKEN=$(curl -fs -X POST -H 'content-type: application/json' "http://127.0.0.1:$PORT/api/v1/auth/login" \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
APP=$(curl -fs -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/apps" | sed -E 's/^\[\{"id":"([^"]+)".*/\1/')
FROM=$(date -u -d '40 days ago' +%F); TO=$(date -u +%F)
rss() { awk '/^VmRSS/{print $2}' "/proc/$SERVER/status"; }
# A short export first, then the whole month: if memory followed the export's size, the
# second peak would be far above the first.
export_range() {
    local from=$1 label=$2
    local before; before=$(rss)
    ( while kill -0 "$SERVER" 2>/dev/null; do rss; sleep 0.1; done ) > "$WORK/rss.txt" &
    local sampler=$!
    local start; start=$(date +%s.%N)
    curl -fs -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/apps/$APP/export/clicks.csv?from=$from&to=$TO" -o "$WORK/clicks.csv"
    local end; end=$(date +%s.%N)
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local rows=$(( $(wc -l < "$WORK/clicks.csv") - 1 ))
    local peak; peak=$(sort -n "$WORK/rss.txt" | tail -n 1)
    echo "export clicks.csv ($label): rows=$rows bytes=$(stat -c %s "$WORK/clicks.csv") seconds=$(echo "$end - $start" | bc) rss_before_kb=$before rss_peak_kb=$peak rss_after_kb=$(rss)"
}
export_range "$(date -u -d '3 days ago' +%F)" "last 3 days"
export_range "$FROM" "whole range"
