#!/usr/bin/env bash
# Installs what building and testing Task needs, skipping whatever is already there:
# Debian packages, the pinned Rust toolchain with the wasm target, cargo-leptos, wasm-bindgen-cli (the version
# Cargo.lock pins), sqlx-cli, the npm build tools (wasm-opt, sass) and the Python checkers.
source "$(dirname "$0")/lib.sh"

step "Checking system packages"
need_commands cc:build-essential make:make pkg-config:pkg-config perl:perl curl:curl git:git node:nodejs npm:npm \
  python3:python3 psql:postgresql-client redis-cli:redis-tools redis-server:redis-server chromium:chromium \
  nginx:nginx systemd-analyze:systemd openssl:openssl
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
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
cargo_tool sqlx sqlx-cli 0.8.6 --locked --no-default-features --features rustls,postgres

step "Checking npm build tools (wasm-opt, sass)"
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/sass ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi

if [ ! -d end2end/node_modules/playwright-core ] || [ end2end/package-lock.json -nt end2end/node_modules ]; then
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
fi

step "Checking Python checkers"
VENV="$CACHE_DIR/venv"
if [ ! -x "$VENV/bin/openapi-spec-validator" ] || [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.7.2 schemathesis==4.32.5
fi
info "All tools are in place."
