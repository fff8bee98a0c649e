#!/usr/bin/env bash
# `make bench`: builds the release server and the bench driver, starts the server on a fresh database, measures
# the PostgreSQL ceiling for the same transaction (shared/bench/pg_ceiling.sh, when present), runs the REST and
# live-feed benchmarks, and writes the tables to docs/benchmarks.md. Bounded: a few minutes in all.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" run
need_commands curl:curl
cd "$ROOT"
export SQLX_OFFLINE=true

step "Checking PostgreSQL and Redis"
ensure_postgres
ensure_redis

# Ten thousand sockets need file descriptors on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 12000 ] || die "the open-file limit is $(ulimit -n); raise it to at least 12000 (ulimit -Hn)"

step "Building the release server and the bench driver"
cargo build --locked --release -p server -p bench

step "Starting the server on a fresh database"
psql "$(database_url postgres)" -qc "drop database if exists task_bench" -c "create database task_bench"
DATABASE_URL=$(database_url task_bench)
JWT_SECRET=$(jwt_secret)
export DATABASE_URL JWT_SECRET
export REDIS_PREFIX="bench-$$" LEPTOS_SITE_ADDR=127.0.0.1:3100 RUST_LOG=warn COOKIE_SECURE=false DB_MAX_CONNECTIONS=48 ORDER_RATE_LIMIT=1000000000
"$CARGO_TARGET_DIR/release/server" migrate >/dev/null
"$CARGO_TARGET_DIR/release/server" serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:3100/readyz >/dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:3100/readyz >/dev/null || die "the server did not become ready"

CEILING=""
if [ -x "$ROOT/../shared/bench/pg_ceiling.sh" ] || [ -f "$ROOT/../shared/bench/pg_ceiling.sh" ]; then
  step "Measuring the PostgreSQL ceiling for the same transaction"
  PG_ARGS=()
  [[ "$PG_URL" == *host=/* ]] && PG_ARGS=(-h "${PG_URL##*host=}" -U "$(id -un)")
  CEILING=$(bash "$ROOT/../shared/bench/pg_ceiling.sh" "${PG_ARGS[@]}" | tee /dev/stderr)
fi

step "Running the benchmarks"
TABLES=$("$CARGO_TARGET_DIR/release/bench" --server-pid "$SERVER" --ceiling "$CEILING" --plot docs/latency.svg "$@")
echo "$TABLES"

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
MEM=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
  echo "# Benchmarks"
  echo
  echo "Measured by \`make bench\` (\`scripts/bench.sh\`) on $(date -u +%Y-%m-%d): $(nproc) cores ($CPU), $MEM,"
  echo "PostgreSQL $(psql "$(database_url postgres)" -Atc 'show server_version') and Redis on the same machine, release build."
  echo "The server, the databases and the load generator share the $(nproc) cores."
  echo
  if [ -n "$CEILING" ]; then
    echo "PostgreSQL ceiling for the same transaction (\`shared/bench/pg_ceiling.sh\`, same run):"
    echo
    echo '```'
    echo "$CEILING"
    echo '```'
    echo
  fi
  echo "$TABLES"
  echo
  echo "Latency by percentile of every run above:"
  echo
  echo "![Latency by percentile](latency.svg)"
} > docs/benchmarks.md
info "Wrote docs/benchmarks.md"
