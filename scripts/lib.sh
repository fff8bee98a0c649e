# Shared helpers for the set-up, run and test scripts: each step that several of them (or the Makefile, or the CI
# workflow) take is defined here once. Source it, or run one function: `bash scripts/lib.sh FUNCTION [ARGS...]`.
# shellcheck shell=bash

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${TASK_CACHE_DIR:-$HOME/.cache/task}
# One shared target directory outside the clone, so fresh clones (and CI) build incrementally.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE_DIR/target}
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# Queries are checked against the committed .sqlx cache, so building needs no (migrated) database.
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}
# A project-local PostgreSQL or Redis, when none is reachable, lives here.
LOCAL_DIR=${TASK_LOCAL_DIR:-$CACHE_DIR/local}

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

# Runs a command as the postgres system user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# Installs the Debian package for each `command:package` pair whose command is not on PATH.
need_commands() {
  local pkgs=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || pkgs+=("${pair#*:}")
  done
  [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
}

APT_UPDATED=0
# Installs Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  step "Installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The version of `crate` pinned in Cargo.lock.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Installs a cargo tool at an exact version unless that version is already on PATH.
cargo_tool() {
  local bin=$1 crate=$2 version=$3; shift 3
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q "$version"; then return 0; fi
  step "Installing $crate $version (once per machine; cargo-leptos takes about 15 minutes)"
  CARGO_TARGET_DIR="$CACHE_DIR/install-target" cargo install --quiet "$crate" --version "$version" "$@"
}

# PostgreSQL: connect with $DATABASE_URL if it works; otherwise find or start a server and pick a URL that works.
# Exports PG_BASE_URL (a server URL without a database name, query string kept) for the callers to add one.
ensure_postgres() {
  local candidates=()
  [ -n "${DATABASE_URL:-}" ] && candidates+=("$DATABASE_URL")
  candidates+=("postgres://postgres@127.0.0.1:5432/postgres" "postgres://$(id -un)@localhost/postgres?host=/var/run/postgresql")
  for url in "${candidates[@]}"; do
    if psql "$url" -Atqc 'select 1' >/dev/null 2>&1; then PG_URL=$url; export_pg_base; return 0; fi
  done
  step "Starting PostgreSQL"
  need_commands psql:postgresql-client
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
  fi
  if command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_lsclusters -h | while read -r version cluster _; do
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start 2>/dev/null || true
    done
  fi
  for _ in $(seq 1 30); do pg_isready -q -h /var/run/postgresql && break; sleep 1; done
  pg_isready -q -h /var/run/postgresql || die "PostgreSQL did not start"
  # A role for this OS user over the local socket (peer authentication), able to create the test databases.
  as_postgres psql -qc "do \$\$ begin if not exists (select from pg_roles where rolname = '$(id -un)') then
      create role \"$(id -un)\" superuser login; end if; end \$\$" postgres
  PG_URL="postgres://$(id -un)@localhost/postgres?host=/var/run/postgresql"
  psql "$PG_URL" -Atqc 'select 1' >/dev/null || die "cannot connect to PostgreSQL at $PG_URL"
  export_pg_base
}

export_pg_base() {
  local query=""
  [[ "$PG_URL" == *\?* ]] && query="?${PG_URL#*\?}"
  local server=${PG_URL%%\?*}
  PG_BASE_URL="${server%/*}"
  PG_QUERY="$query"
  export PG_BASE_URL PG_QUERY
}

# The URL of database `name` on the server ensure_postgres found.
database_url() { printf '%s/%s%s' "$PG_BASE_URL" "$1" "$PG_QUERY"; }

# Creates database `name` unless it exists.
ensure_database() {
  local exists
  exists=$(psql "$(database_url postgres)" -Atqc "select 1 from pg_database where datname = '$1'")
  [ "$exists" = 1 ] || psql "$(database_url postgres)" -qc "create database \"$1\""
}

# Redis: ping $REDIS_URL; otherwise start a project-local redis-server on 6379.
ensure_redis() {
  export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  need_commands redis-cli:redis-tools
  if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then return 0; fi
  step "Starting Redis"
  need_commands redis-server:redis-server
  redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && return 0
  start_redis 6379 "$LOCAL_DIR/redis"
  redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || die "Redis runs on 6379, but $REDIS_URL does not answer"
}

# Starts a redis-server in the background on 127.0.0.1:`port`, without persistence, its files and log in `dir`,
# and waits until it answers. The soak run restarts its private Redis with this too.
start_redis() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log"
  for _ in $(seq 1 40); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "Redis did not start on $port (see $dir/redis.log)"
}

# The directory of PostgreSQL's server binaries (initdb, pg_ctl) of the newest installed major version.
pg_bin() {
  local bin
  bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    die "PostgreSQL's initdb and pg_ctl are missing: apt install postgresql"
  fi
  printf '%s\n' "$bin"
}

# A private PostgreSQL cluster in `dir` (owned by the postgres user), trust authentication, superuser `postgres`.
init_private_postgres() {
  local dir=$1 bin
  bin=$(pg_bin)
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
}

# Starts the private cluster in `dir` on 127.0.0.1:`port` (its socket in `dir` too), and waits until it accepts
# connections. The soak run restarts its cluster with this and stop_private_postgres.
start_private_postgres() {
  local dir=$1 port=$2 bin
  bin=$(pg_bin)
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
}

# Stops the private cluster in `dir`; `mode` is pg_ctl's shutdown mode (default fast).
stop_private_postgres() {
  local dir=$1 mode=${2:-fast} bin
  bin=$(pg_bin)
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null
}

# Fresh secrets for local runs and test servers, from /dev/urandom.
# A JWT signing key: 48 random bytes as base64, as `openssl rand -base64 48` prints one.
jwt_secret() { head -c 48 /dev/urandom | base64 | tr -d '\n'; }
# `bytes` random bytes as base64 without `/`, `+` and `=`: the payment providers' keys are plain strings.
random_key() { head -c "$1" /dev/urandom | base64 | tr -d '\n/+='; }
# `bytes` random bytes in hex.
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The gateway-sandbox payment settings as `NAME=value` lines (for .env, or `set -a; source`): demo Payme and Click
# credentials with fresh keys, Click's merchant API played by the sandbox at the base URL in $2 (default
# http://localhost:3000), a merchant TIN for fiscal receipts, and PAYMENT_SANDBOX on. The Payme merchant id is `prefix`
# ($1) and random hex.
sandbox_payment_env() {
  local prefix=$1
  echo "PAYME_MERCHANT_ID=$prefix$(random_hex 10)"
  echo "PAYME_KEY=$(random_key 27)"
  echo "CLICK_SERVICE_ID=10001"
  echo "CLICK_MERCHANT_ID=20002"
  echo "CLICK_MERCHANT_USER_ID=30003"
  echo "CLICK_SECRET_KEY=$(random_key 18)"
  # The sandbox plays Click's merchant API too (fiscal receipts), at the server's own address.
  echo "CLICK_API_URL=${2:-http://localhost:3000}/sandbox/click-api"
  # A made-up merchant TIN, the seller on the demo's fiscal receipts.
  echo "FISCAL_MERCHANT_TIN=123456789"
  echo "PAYMENT_SANDBOX=true"
}

# The lints, as the test command, `make check` and the CI workflow run them: formatting, then clippy with
# `-D warnings` once for the server side (`ssr`) with the bench driver and once for the browser side (`hydrate`,
# wasm32); never with both features at once.
lint() {
  step "cargo fmt --check"
  cargo fmt --all --check
  step "No Rust source line over 120 characters"
  # rustfmt leaves macro bodies (view!, json!, SQL, utoipa attributes) alone. In the C locale, with UTF-8
  # continuation bytes dropped, every awk counts characters.
  local long
  # shellcheck disable=SC2016 # $0 is awk's
  long=$(cd "$ROOT" && git ls-files -z '*.rs' | xargs -0 env LC_ALL=C awk \
    '{ s = $0; gsub(/[\200-\277]/, "", s) } length(s) > 120 { print FILENAME ":" FNR }')
  [ -z "$long" ] || die "lines over 120 characters:"$'\n'"$long"
  step "clippy: server (ssr) and the bench driver"
  cargo clippy --locked -p server -p bench --all-targets -- -D warnings
  step "clippy: frontend (hydrate, wasm32)"
  cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings
  step "Module structure: no import cycles between files, no HTTP in the domain"
  python3 "$ROOT/scripts/check-imports.py" "$ROOT"
}

# Run as a script, call the function named by the first argument.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ $# -eq 0 ] || ! declare -F "$1" >/dev/null; then die "usage: bash scripts/lib.sh FUNCTION [ARGS...]"; fi
  "$@"
fi
