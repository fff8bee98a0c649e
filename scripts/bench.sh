#!/usr/bin/env bash
# `make bench`: builds the release server and the bench driver, starts the server on a fresh database, measures
# the PostgreSQL ceiling for the same transaction (shared/bench/pg_ceiling.sh, when present), runs the REST,
# live-feed, reconnect-storm and live-admin-pages benchmarks, and writes the tables to docs/benchmarks.md. Then,
# on another fresh database (task_bench_large, kept afterwards for looking into plans), times every page and list
# on a small database and again after the growth step (bench/sql/grow.sql: a million orders, three million
# notifications) and adds that section. Bounded: about twenty minutes in all on two cores, most of it the large
# database's reads (the storm and the live pages take about five).
#
# BENCH_LARGE=0 skips the pages on the large database; BENCH_LARGE=only runs only them, replacing just their
# section of docs/benchmarks.md. BENCH_CHANNELS=0 skips the channel deliveries (a server whose Telegram points at
# the bench driver's fake Bot API, a thousand linked workers, 20 orders a second for a minute). Arguments are passed to the bench driver (`--page-runs 5`, `--large-scale 0.1`).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" run
need_commands curl:curl
cd "$ROOT"
export SQLX_OFFLINE=true
LARGE=${BENCH_LARGE:-1}
case "$LARGE" in 0 | 1 | only) ;; *) die "BENCH_LARGE is 0, 1 or only, not '$LARGE'" ;; esac
PAGES_HEADING="### Pages and lists on a small and a large database"

step "Checking PostgreSQL and Redis"
ensure_postgres
ensure_redis

# Ten thousand sockets need file descriptors on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 12000 ] || die "the open-file limit is $(ulimit -n); raise it to at least 12000 (ulimit -Hn)"

step "Building the release server and the bench driver"
cargo build --locked --release -p server -p bench

JWT_SECRET=$(jwt_secret)
export JWT_SECRET
export LEPTOS_SITE_ADDR=127.0.0.1:3100 RUST_LOG=warn COOKIE_SECURE=false
export DB_MAX_CONNECTIONS=48 ORDER_RATE_LIMIT=1000000000
SERVER=""
trap '[ -z "$SERVER" ] || kill $SERVER 2>/dev/null || true' EXIT

# Starts the server on a fresh database named $1 (sets DATABASE_URL and SERVER).
serve_fresh() {
  psql "$(database_url postgres)" -qc "drop database if exists $1" -c "create database $1"
  DATABASE_URL=$(database_url "$1")
  export DATABASE_URL REDIS_PREFIX="bench-$$-$1"
  "$CARGO_TARGET_DIR/release/server" migrate >/dev/null
  "$CARGO_TARGET_DIR/release/server" serve &
  SERVER=$!
  for _ in $(seq 1 50); do curl -sf http://127.0.0.1:3100/readyz >/dev/null && break; sleep 0.2; done
  curl -sf http://127.0.0.1:3100/readyz >/dev/null || die "the server did not become ready"
}

stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
}

if [ "$LARGE" != only ]; then
  step "Starting the server on a fresh database"
  serve_fresh task_bench

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
  stop_server

  if [ "${BENCH_CHANNELS:-1}" != 0 ]; then
    step "Channel deliveries (the server's Telegram points at the bench driver's fake Bot API)"
    TELEGRAM_API_BASE=http://127.0.0.1:3190 TELEGRAM_BOT_TOKEN=1:bench TELEGRAM_BOT_USERNAME=task_bench_bot \
      serve_fresh task_bench_channels
    CHANNELS=$("$CARGO_TARGET_DIR/release/bench" --server-pid "$SERVER" --phases channels --bot-listen 127.0.0.1:3190 "$@")
    echo "$CHANNELS"
    stop_server
    TABLES="$TABLES"$'\n'"$CHANNELS"
  fi

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
fi

if [ "$LARGE" != 0 ]; then
  step "Pages and lists on a small and a large database (task_bench_large; the growth step takes minutes)"
  serve_fresh task_bench_large
  STARTED=$SECONDS
  PAGES=$("$CARGO_TARGET_DIR/release/bench" --server-pid "$SERVER" --phases pages "$@")
  echo "$PAGES"
  stop_server
  # The section replaces the one of an earlier run, if any, and keeps everything above it.
  if [ -f docs/benchmarks.md ]; then
    KEPT=$(awk -v heading="$PAGES_HEADING" '$0 == heading { exit } { print }' docs/benchmarks.md)
    printf '%s\n' "$KEPT" > docs/benchmarks.md
  fi
  {
    echo
    echo "${PAGES#$'\n'}"
    echo
    echo "Measured by \`$([ "$LARGE" = only ] && echo 'BENCH_LARGE=only ')make bench\` on $(date -u +%Y-%m-%d); the"
    echo "phase took $(( (SECONDS - STARTED) / 60 )) min $(( (SECONDS - STARTED) % 60 )) s with its growth steps."
    echo "The large database is kept as \`task_bench_large\` for EXPLAIN ANALYZE."
  } >> docs/benchmarks.md
  info "Wrote the pages section of docs/benchmarks.md"
fi
