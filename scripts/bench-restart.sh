#!/usr/bin/env bash
# How long a second `make run` takes to serve, with its same-run baseline:
#   1. `make run` once, so the release binary, the dashboard build and the demo data exist;
#   2. `make run` again with nothing changed (the dashboard build is skipped, cargo has nothing
#      to do, the demo finds its organization): seconds from the command to /readyz answering;
#   3. the baseline: the same with FORCE_WEB_BUILD=1, which rebuilds the dashboard as every
#      `make run` used to, so cargo re-embeds it into the release binary.
# Each run is stopped once ready; every wait is bounded. Usage: scripts/bench-restart.sh [RUNS]
# (default 3 unchanged runs; the baseline runs once: it costs minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
PORT=18183
WORK=$(mktemp -d /tmp/unmogrowp-restart.XXXXXX)
PID=""
cleanup() {
	[[ -n "$PID" ]] && pkill -TERM -f "unmogrowp demo --addr 127.0.0.1:$PORT" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/Model name: *//p'), kernel $(uname -r)"

# Seconds from `make run` to /readyz (at most 20 minutes), then stops the server.
timed_run() {
	local start end
	start=$(date +%s.%N)
	make run ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK/data" >"$WORK/run.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 2400); do
		curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
		kill -0 "$PID" 2>/dev/null || { tail -n 20 "$WORK/run.log" >&2; exit 1; }
		sleep 0.5
	done
	end=$(date +%s.%N)
	pkill -TERM -f "unmogrowp demo --addr 127.0.0.1:$PORT" || true
	wait "$PID" 2>/dev/null || true
	PID=""
	echo "$end - $start" | bc
}

echo "first run (builds what is missing, seeds the demo): $(timed_run) s"
for run in $(seq 1 "$RUNS"); do
	echo "second run #$run, nothing changed: $(timed_run) s"
done
export FORCE_WEB_BUILD=1
echo "baseline, the dashboard rebuilt as before (FORCE_WEB_BUILD=1): $(timed_run) s"
unset FORCE_WEB_BUILD
echo "after the baseline (its build is the current one again): $(timed_run) s"
