#!/usr/bin/env bash
# Browser tests of the web dashboard against a real server seeded with demo data.
#
#   scripts/browser-test.sh build           npm ci in web/ (when node_modules is missing or older
#                                           than package-lock.json), builds the TypeScript client
#                                           package (clients/typescript), then npm run build —
#                                           skipped when the dashboard's sources are unchanged
#                                           since the last build (FORCE_WEB_BUILD=1 builds anyway)
#   scripts/browser-test.sh run [BINARY]    start `BINARY demo` on a free loopback port with a
#                                           temporary data dir, wait for /readyz, run
#                                           `npm run test:e2e`, stop the server, remove the dir
#   scripts/browser-test.sh [all] [BINARY]  build, then run
#
# BINARY: the argument, else $UNMOGROWP_BIN, else
# ${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}/debug/unmogrowp. `build` needs no binary, so
# it can run before cargo builds (release builds embed web/build). Needs Node ≥ 20.19 and
# Debian's Chromium at /usr/bin/chromium (apt-get install chromium; or set CHROMIUM_PATH).
# Screenshots go to $SCREENSHOT_DIR (default test-artifacts/screenshots at the repository root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH
SCREENSHOT_DIR="${SCREENSHOT_DIR:-$ROOT/test-artifacts/screenshots}"
READY_TIMEOUT_S="${READY_TIMEOUT_S:-90}"

say() { printf 'browser-test: %s\n' "$*"; }
die() { printf 'browser-test: error: %s\n' "$*" >&2; exit 1; }

need_node() {
	command -v node >/dev/null || die "node is not installed (Node 20.19 or newer is needed)"
	command -v npm >/dev/null || die "npm is not installed"
}

install_deps() {
	need_node
	if [[ ! -f "$WEB/node_modules/.package-lock.json" || "$WEB/package-lock.json" -nt "$WEB/node_modules/.package-lock.json" ]]; then
		say "installing the dashboard's packages (npm ci)"
		# `npm ci` refuses this lock file when the registry leaves out optional platform
		# packages (e.g. tailwind's prebuilt binaries for other systems); `npm install --no-save`
		# then installs the same pinned versions without rewriting the lock file.
		(cd "$WEB" && { npm ci --no-audit --no-fund || npm install --no-save --no-audit --no-fund; })
	fi
}

# A digest of everything the dashboard build may read: every file under web/ except what
# the build writes or installs (node_modules, build, .svelte-kit, the generated API types, test
# output). Tailwind scans the folder's files for class names, so even README and tests count.
# Paths are part of the digest, so a renamed or deleted file changes it too.
source_digest() {
	(
		cd "$WEB"
		find . \( -path ./node_modules -o -path ./build -o -path ./.svelte-kit -o -path ./test-results -o -path ./static/vendor \) -prune -o \
			-type f ! -name .build-stamp ! -name '*.log' ! -path ./src/lib/api/schema.d.ts -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum
	) | sha256sum | cut -d' ' -f1
}

# What web/build holds now: its shell names every hashed asset, so any change of the output
# changes this.
build_digest() {
	sha256sum "$WEB/build/index.html" 2>/dev/null | cut -d' ' -f1
}

# Builds the dashboard unless web/build already holds the build of these sources (the stamp
# names both the sources' digest and the build's, so a build made by hand from other sources
# is not mistaken for it). An unchanged build keeps its files (and their times), so cargo does
# not re-embed them into a release binary: a second `make run` without source changes serves
# in about half a second instead of relinking for minutes.
build() {
	local stamp="$WEB/.build-stamp" digest
	digest="$(source_digest)"
	build_client
	if [[ -z "${FORCE_WEB_BUILD:-}" && -f "$stamp" && "$(cat "$stamp")" == "$digest $(build_digest)" ]]; then
		say "the dashboard is up to date (web/build matches its sources; FORCE_WEB_BUILD=1 rebuilds)"
		return 0
	fi
	install_deps
	say "building the dashboard (npm run build)"
	rm -f "$stamp"
	(cd "$WEB" && npm run build)
	[[ -f "$WEB/build/index.html" ]] || die "npm run build left no web/build/index.html"
	printf '%s %s\n' "$digest" "$(build_digest)" >"$stamp"
}

# Builds the TypeScript client package (clients/typescript) with the dashboard's packages
# (the same pinned openapi-fetch, openapi-typescript and typescript): its types are generated
# from web/openapi.json, then compiled to dist/, which the client test imports.
build_client() {
	local client="$ROOT/clients/typescript"
	install_deps
	if [[ ! -e "$client/node_modules" ]]; then
		ln -s ../../web/node_modules "$client/node_modules"
	fi
	say "building the TypeScript client (clients/typescript)"
	(cd "$client" && node scripts/generate.mjs && node node_modules/typescript/bin/tsc -p tsconfig.json)
}

free_port() {
	node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Polls URL until it answers 200 (bounded); fails early when the process PID is gone.
wait_ready() {
	local url="$1" pid="$2" log="$3" deadline=$((SECONDS + READY_TIMEOUT_S))
	until node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$url"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 40 "$log" >&2 || true
			die "the server exited before it was ready (log above)"
		fi
		if ((SECONDS > deadline)); then
			tail -n 40 "$log" >&2 || true
			die "$url was not ready within ${READY_TIMEOUT_S}s (log above)"
		fi
		sleep 0.5
	done
}

SERVER_PID=""
WORK_DIR=""
OUTBOX_DIR=""

stop_pid() {
	local pid="$1"
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	stop_pid "$SERVER_PID"
	SERVER_PID=""
	if [[ -n "$WORK_DIR" ]]; then
		rm -rf "$WORK_DIR"
		WORK_DIR=""
	fi
}

# start_server PORT LOG [PUBLIC_URL]: `demo` in the background, into a fresh data dir.
start_server() {
	local port="$1" log="$2" public_url="${3:-}" data
	data="$(mktemp -d "$WORK_DIR/data.XXXXXX")"
	if [[ -n "$public_url" ]]; then
		UNMOGROWP_PUBLIC_URL="$public_url" "$BIN" demo --addr "127.0.0.1:$port" --data-dir "$data" >"$log" 2>&1 &
	else
		"$BIN" demo --addr "127.0.0.1:$port" --data-dir "$data" >"$log" 2>&1 &
	fi
	SERVER_PID=$!
	# Emails the server sends (invitations, resets) land here; tests read them.
	OUTBOX_DIR="$data/outbox"
	wait_ready "http://127.0.0.1:$port/readyz" "$SERVER_PID" "$log"
}

run() {
	[[ -x "$CHROMIUM_PATH" ]] || die "no Chromium at $CHROMIUM_PATH: install Debian's (apt-get install chromium) or set CHROMIUM_PATH"
	[[ -x "$BIN" ]] || die "no server binary at $BIN: build it (cargo build) or pass its path: scripts/browser-test.sh run PATH"
	[[ -f "$WEB/build/index.html" ]] || die "the dashboard is not built: scripts/browser-test.sh build"
	[[ -f "$ROOT/clients/typescript/dist/index.js" ]] || die "the TypeScript client is not built: scripts/browser-test.sh build"
	install_deps

	WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/unmogrowp-browser-test.XXXXXX")"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local port log base
	port="$(free_port)"
	log="$WORK_DIR/server.log"
	say "starting $BIN demo on 127.0.0.1:$port"
	start_server "$port" "$log"
	base="http://127.0.0.1:$port"

	# The server itself must hand out the current web/build at client routes.
	if ! node -e "
		const fs = require('fs');
		const want = fs.readFileSync(process.argv[2], 'utf8');
		fetch(process.argv[1]).then(r => r.text()).then(t => process.exit(t === want ? 0 : 1), () => process.exit(1));
	" "$base/login" "$WEB/build/index.html"; then
		die "$BIN does not serve web/build/index.html at /login: rebuild it after the dashboard (a release binary embeds the web/build it was compiled with)"
	fi

	# The demo prints `login: EMAIL PASSWORD`.
	local login email password
	login="$(grep -m1 '^login: ' "$log" | sed 's/^login: //')" || true
	email="${DEMO_EMAIL:-${login%% *}}"
	password="${DEMO_PASSWORD:-${login#* }}"
	[[ -n "$email" && -n "$password" ]] || die "the demo printed no login line (log: $log)"

	mkdir -p "$SCREENSHOT_DIR"
	rm -f "$SCREENSHOT_DIR"/*.png
	say "running the browser tests against $base"
	local output="$WORK_DIR/e2e.out" status=0
	(cd "$WEB" && BASE_URL="$base" DEMO_EMAIL="$email" DEMO_PASSWORD="$password" SCREENSHOT_DIR="$SCREENSHOT_DIR" \
		OUTBOX_DIR="$OUTBOX_DIR" npm run --silent test:e2e) 2>&1 | tee "$output" || status=$?

	local passed failed
	passed="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$output" | tail -n1)"
	failed="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$output" | tail -n1)"
	if ((status != 0)); then
		say "server log (last 30 lines):"
		tail -n 30 "$log" || true
	fi
	echo
	say "screenshots: $SCREENSHOT_DIR ($(find "$SCREENSHOT_DIR" -maxdepth 1 -name '*.png' | wc -l) files)"
	printf 'browser-test: %s passed, %s failed\n' "${passed:-0}" "${failed:-0}"
	return "$status"
}

MODE="all"
case "${1:-}" in
build | run | all)
	MODE="$1"
	shift
	;;
esac
BIN="${1:-${UNMOGROWP_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}/debug/unmogrowp}}"

case "$MODE" in
build) build ;;
run) run ;;
all)
	build
	run
	;;
esac
