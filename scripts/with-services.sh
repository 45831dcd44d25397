#!/usr/bin/env bash
# Runs a command with private test services on loopback, then stops them and removes their
# data, whatever the command's outcome. Each service gets its own port and data directory
# under one temporary directory, so the machine's own instances (running or not) are never
# touched. When a service is missing and we run as root, it is installed from Debian's
# packages.
#
#   scripts/with-services.sh cargo nextest run --workspace
#
# Exports for the command:
#   TEST_POSTGRES_URL  postgres://postgres@127.0.0.1:PORT/postgres (a superuser; tests create
#                      their own databases)
#   TEST_SMTP_URL      smtp://127.0.0.1:PORT, an SMTP server (aiosmtpd) that keeps every
#   TEST_SMTP_MAILDIR  message it receives in this Maildir
#   TEST_REDIS_URL     redis://127.0.0.1:PORT/0 (Redis, no persistence)
#   TEST_NATS_URL      nats://127.0.0.1:PORT (NATS with JetStream, file store in the temp dir)
#   TEST_CLICKHOUSE_URL  http://127.0.0.1:PORT (ClickHouse's HTTP interface; tests create
#                      their own databases)
#   TEST_REDIS_BIN, TEST_CLICKHOUSE_DIR...  what tests need to stop and restart a service
set -euo pipefail

WORK=$(mktemp -d "${TMPDIR:-/tmp}/unmogrowp-services.XXXXXX")
chmod 755 "$WORK"
STARTED=()

log() { printf '[services] %s\n' "$*" >&2; }

# Ports come from below the kernel's ephemeral range (ip_local_port_range, 32768 and up on
# Debian), where an outgoing connection's local port can make a bind fail although nothing
# listens there. A port handed out is written down: a service given several ports (ClickHouse)
# binds none of them until it starts, so a second draw could otherwise return the first again.
free_port() {
    local port low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    touch "$WORK/ports"
    for _ in $(seq 1 200); do
        port=$(( (RANDOM % (low - 20000)) + 20000 ))
        if grep -qx "$port" "$WORK/ports"; then
            continue
        fi
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port" >>"$WORK/ports"
            echo "$port"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "$1 is not installed and we are not root: install the Debian package(s) $* first"
        exit 1
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Runs a command as the user that owns service data: `postgres` when we are root (PostgreSQL
# refuses to run as root), ourselves otherwise.
as_service_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    local dir="$WORK/postgres"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    local port
    port=$(free_port)
    as_service_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$WORK/postgres-initdb.log" 2>&1 \
        || { cat "$WORK/postgres-initdb.log" >&2; exit 1; }
    as_service_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    STARTED+=("postgres")
    PG_BIN="$bin"
    PG_DIR="$dir"
    export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

stop_postgres() {
    as_service_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

start_smtp() {
    if ! /usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1; then
        apt_install python3-aiosmtpd
    fi
    local port
    port=$(free_port)
    local maildir="$WORK/maildir"
    mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
    /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$maildir" \
        >"$WORK/smtp.log" 2>&1 &
    SMTP_PID=$!
    STARTED+=("smtp")
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    export TEST_SMTP_URL="smtp://127.0.0.1:$port"
    export TEST_SMTP_MAILDIR="$maildir"
    log "SMTP sink (aiosmtpd) on 127.0.0.1:$port"
}

stop_smtp() {
    kill "$SMTP_PID" 2>/dev/null || true
    wait "$SMTP_PID" 2>/dev/null || true
}

wait_for_port() {
    local port=$1 what=$2
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$what did not start listening on port $port"
    return 1
}

start_redis() {
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server
    fi
    local dir="$WORK/redis" port
    mkdir -p "$dir"
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes --save '' \
        --appendonly no --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
    REDIS_DIR=$dir
    STARTED+=("redis")
    wait_for_port "$port" Redis || { cat "$dir/redis.log" >&2; exit 1; }
    export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    export TEST_REDIS_BIN
    TEST_REDIS_BIN=$(command -v redis-server)
    log "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$port"
}

stop_redis() {
    if [ -f "$REDIS_DIR/redis.pid" ]; then
        kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
    fi
    # Tests may have started their own Redis on the test port; stop what is left.
    pkill -f "redis-server 127.0.0.1:${TEST_REDIS_URL##*:}" 2>/dev/null || true
}

start_nats() {
    if ! command -v nats-server >/dev/null 2>&1; then
        apt_install nats-server
    fi
    local dir="$WORK/nats" port
    mkdir -p "$dir"
    port=$(free_port)
    nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/store" >"$dir/nats.log" 2>&1 &
    NATS_PID=$!
    STARTED+=("nats")
    wait_for_port "$port" NATS || { cat "$dir/nats.log" >&2; exit 1; }
    export TEST_NATS_URL="nats://127.0.0.1:$port"
    log "NATS $(nats-server --version | awk '{print $2}') with JetStream on 127.0.0.1:$port"
}

stop_nats() {
    kill "$NATS_PID" 2>/dev/null || true
    wait "$NATS_PID" 2>/dev/null || true
}

start_clickhouse() {
    if ! command -v clickhouse-server >/dev/null 2>&1; then
        apt_install clickhouse-server
    fi
    local dir="$WORK/clickhouse" http tcp interserver
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
    http=$(free_port)
    tcp=$(free_port)
    interserver=$(free_port)
    # The packaged configuration with our own paths, ports and loopback only.
    sed -e "s#/var/lib/clickhouse/tmp/#$dir/tmp/#g" \
        -e "s#/var/lib/clickhouse/user_files/#$dir/user_files/#g" \
        -e "s#/var/lib/clickhouse/format_schemas/#$dir/format_schemas/#g" \
        -e "s#/var/lib/clickhouse/#$dir/data/#g" \
        -e "s#/var/log/clickhouse-server/#$dir/log/#g" \
        -e "s#<http_port>[0-9]*</http_port>#<http_port>$http</http_port>#" \
        -e "s#<tcp_port>[0-9]*</tcp_port>#<tcp_port>$tcp</tcp_port>#" \
        -e "s#<interserver_http_port>[0-9]*</interserver_http_port>#<interserver_http_port>$interserver</interserver_http_port>#" \
        -e "/^ *<listen_host>.*<\/listen_host>/d" \
        -e "s#</http_port>#</http_port><listen_host>127.0.0.1</listen_host>#" \
        /etc/clickhouse-server/config.xml >"$dir/config.xml"
    cp /etc/clickhouse-server/users.xml "$dir/users.xml"
    sed -i "s#<users_config>users.xml</users_config>#<users_config>$dir/users.xml</users_config>#" "$dir/config.xml"
    CLICKHOUSE_DIR=$dir
    clickhouse-server --config-file="$dir/config.xml" >"$dir/stdout.log" 2>&1 &
    CLICKHOUSE_PID=$!
    STARTED+=("clickhouse")
    wait_for_port "$http" ClickHouse || { tail -n 40 "$dir/log/clickhouse-server.err.log" "$dir/stdout.log" >&2; exit 1; }
    export TEST_CLICKHOUSE_URL="http://127.0.0.1:$http"
    export TEST_CLICKHOUSE_CONFIG="$dir/config.xml"
    log "ClickHouse $(curl -s "$TEST_CLICKHOUSE_URL/?query=SELECT%20version()" || true) on 127.0.0.1:$http"
}

stop_clickhouse() {
    kill "$CLICKHOUSE_PID" 2>/dev/null || true
    wait "$CLICKHOUSE_PID" 2>/dev/null || true
    pkill -f "clickhouse-server --config-file=$CLICKHOUSE_DIR/config.xml" 2>/dev/null || true
}

cleanup() {
    local status=$?
    for service in "${STARTED[@]}"; do
        "stop_$service"
    done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
start_smtp
start_redis
start_nats
start_clickhouse

set +e
"$@"
