#!/usr/bin/env bash
# The bounded soak and fault run (`make soak`; also the last step of scripts/test.sh): two instances of the release
# server over a private PostgreSQL cluster and a private Redis, which it restarts mid-run, then the invariants
# (see bench/src/soak.rs). Private servers, so restarting them disturbs nothing else on the machine.
# Usage: scripts/soak.sh [seconds]   (default 30)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
DURATION=${1:-30}
SERVER="$CARGO_TARGET_DIR/release/server"
[ -x "$SERVER" ] || cargo build --locked --release -p server
cargo build --locked --release -p bench --bin soak

need_commands redis-server:redis-server redis-cli:redis-tools
pg_bin >/dev/null  # dies early when PostgreSQL's server binaries are missing
# The restart commands below run in a shell of their own: they call lib.sh's functions through `bash lib.sh`.
LIB=$(printf '%q' "$ROOT/scripts/lib.sh")

WORK=$(mktemp -d /tmp/task-soak.XXXXXX)
PG_PORT=5499
REDIS_PORT=6399
chmod 755 "$WORK"
mkdir -p "$WORK/pg" "$WORK/redis"
as_root chown postgres "$WORK/pg"
cleanup() {
  stop_private_postgres "$WORK/pg" immediate 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  as_root rm -rf "$WORK"
}
trap cleanup EXIT

step "Starting a private PostgreSQL (port $PG_PORT) and Redis (port $REDIS_PORT)"
init_private_postgres "$WORK/pg"
start_private_postgres "$WORK/pg" "$PG_PORT"
start_redis "$REDIS_PORT" "$WORK/redis"
psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -qc "create database task"

step "Soak: ${DURATION}s of clients, workers, payments and sockets on two instances; Redis and PostgreSQL restart mid-run"
"$CARGO_TARGET_DIR/release/soak" --server "$SERVER" \
  --database-url "postgres://postgres@127.0.0.1:$PG_PORT/task" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
  --duration "$DURATION" \
  --restart-redis "redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1; sleep 1; \
bash $LIB start_redis $REDIS_PORT $WORK/redis" \
  --restart-postgres "bash $LIB stop_private_postgres $WORK/pg fast && sleep 1 && \
bash $LIB start_private_postgres $WORK/pg $PG_PORT"
