#!/usr/bin/env bash
# The bounded soak and fault run (`make soak`; also the last step of scripts/test.sh): two instances of the release
# server over a private PostgreSQL cluster and a private Redis, which it restarts mid-run, then the invariants
# (see bench/src/soak.rs). Private servers, so restarting them disturbs nothing else on the machine.
# Usage: scripts/soak.sh [seconds]   (default 30)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
DURATION=${1:-30}
SERVER="$CARGO_TARGET_DIR/release/server"
[ -x "$SERVER" ] || cargo build --locked --release -p server
cargo build --locked --release -p bench --bin soak

need_commands redis-server:redis-server redis-cli:redis-tools
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL's server binaries (initdb, pg_ctl) are missing: apt install postgresql"

WORK=$(mktemp -d /tmp/task-soak.XXXXXX)
PG_PORT=5499
REDIS_PORT=6399
chmod 755 "$WORK"
mkdir -p "$WORK/pg" "$WORK/redis"
as_root chown postgres "$WORK/pg"
cleanup() {
  as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  as_root rm -rf "$WORK"
}
trap cleanup EXIT

step "Starting a private PostgreSQL (port $PG_PORT) and Redis (port $REDIS_PORT)"
as_postgres "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust >/dev/null
PG_START="$PG_BIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/log -o '-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off' -w"
as_postgres sh -c "$PG_START start" >/dev/null
REDIS_START="redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir $WORK/redis --logfile $WORK/redis/log"
sh -c "$REDIS_START"
for _ in $(seq 1 20); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.25; done
psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -qc "create database task"

if [ "$(id -u)" -eq 0 ]; then AS_PG="runuser -u postgres --"; else AS_PG="sudo -u postgres"; fi
step "Soak: ${DURATION}s of clients, workers, payments and sockets on two instances; Redis and PostgreSQL restart mid-run"
"$CARGO_TARGET_DIR/release/soak" --server "$SERVER" \
  --database-url "postgres://postgres@127.0.0.1:$PG_PORT/task" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
  --duration "$DURATION" \
  --restart-redis "redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1; sleep 1; $REDIS_START; sleep 0.5" \
  --restart-postgres "$AS_PG sh -c \"$PG_BIN/pg_ctl -D $WORK/pg/data -m fast -w stop >/dev/null && sleep 1 && $PG_START start >/dev/null\""
