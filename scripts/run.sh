#!/usr/bin/env bash
# From nothing to the app on http://localhost:3000 with demo data: installs what is missing for running (the `run`
# part of scripts/setup.sh), starts PostgreSQL and Redis if none is reachable, builds the release server and WASM
# bundle, migrates, seeds and prints the demo accounts, then serves until Ctrl-C.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" run
cd "$ROOT"

step "Checking PostgreSQL and Redis"
ensure_postgres
ensure_redis
ensure_database task
export DATABASE_URL=${TASK_DATABASE_URL:-$(database_url task)}

if [ ! -f .env ]; then
  step "Writing .env for this machine (a fresh JWT secret; plain-HTTP cookies for localhost)"
  sed -e "s|^JWT_SECRET=.*|JWT_SECRET=$(jwt_secret)|" -e "s|^COOKIE_SECURE=.*|COOKIE_SECURE=false|" .env.example > .env
fi
if ! grep -qE '^JWT_SECRET=.{32,}' .env; then
  step "Adding a fresh JWT secret to .env"
  sed -i '/^JWT_SECRET=/d' .env
  echo "JWT_SECRET=$(jwt_secret)" >> .env
fi
if ! grep -qE '^PAYME_KEY=.+' .env; then
  step "Adding demo payment credentials and the gateway sandbox to .env"
  PAYMENT_ENV=$(sandbox_payment_env demo)
  while IFS='=' read -r name _; do sed -i "/^$name=/d" .env; done <<< "$PAYMENT_ENV"
  echo "$PAYMENT_ENV" >> .env
fi
if grep -qE '^PAYMENT_SANDBOX=true' .env && ! grep -qE '^CLICK_API_URL=.*/sandbox/click-api$' .env; then
  step "Pointing Click's merchant API at the sandbox in .env (fiscal receipts)"
  sed -i '/^CLICK_API_URL=/d' .env
  echo "CLICK_API_URL=http://localhost:3000/sandbox/click-api" >> .env
  grep -qE '^FISCAL_MERCHANT_TIN=' .env || echo "FISCAL_MERCHANT_TIN=123456789" >> .env
fi
if ! grep -qE '^(SMTP_URL|EMAIL_DIR)=.+' .env; then
  step "Email notifications of the demo go to files in target/email (.eml)"
  echo "EMAIL_DIR=target/email" >> .env
fi
# shellcheck source=/dev/null
set -a; source .env; set +a
# The URLs found above win over the ones in .env.
export DATABASE_URL=${TASK_DATABASE_URL:-$(database_url task)}

step "Building the release server and WASM bundle (precompressed, hashed file names)"
cargo leptos build --release --precompress

if ! grep -qE '^VAPID_PRIVATE_KEY=.+' .env; then
  step "Adding a fresh VAPID key to .env (Web Push: enable it on /settings)"
  "$CARGO_TARGET_DIR/release/server" vapid-keys | grep '^VAPID_PRIVATE_KEY=' >> .env
  # shellcheck source=/dev/null
  set -a; source .env; set +a
  export DATABASE_URL=${TASK_DATABASE_URL:-$(database_url task)}
fi

export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site} LEPTOS_OUTPUT_NAME=task LEPTOS_ENV=PROD LEPTOS_HASH_FILES=true
step "Migrating and loading demo data"
"$CARGO_TARGET_DIR/release/server" migrate
"$CARGO_TARGET_DIR/release/server" seed-demo

step "Serving Task on http://localhost:3000 (Ctrl-C stops it)"
exec "$CARGO_TARGET_DIR/release/server" serve
