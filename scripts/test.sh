#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing (scripts/setup.sh's `test` part), starts
# PostgreSQL and Redis if none is reachable, then runs formatting, lints (server and WASM separately), cargo deny
# and cargo machete, the sqlx offline-cache check, the unit and integration tests against the real PostgreSQL and
# Redis, the OpenAPI validation, the release build of the server and WASM bundle, the deployment checks, the
# browser smoke test and flows, schemathesis, and the soak and fault run. Its last line, `tests: N passed, N
# failed`, adds up the summary lines the runners print themselves; any failure fails the script.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" test
cd "$ROOT"
# Queries are checked against the committed .sqlx cache; a build needs no database.
export SQLX_OFFLINE=true

step "Checking PostgreSQL and Redis"
ensure_postgres
ensure_redis

lint

# `advisories` is not checked: its database is fetched from GitHub, which this project's machines cannot reach.
step "cargo deny: bans, licenses, sources (deny.toml)"
cargo deny --locked check bans licenses sources

step "cargo machete: unused dependencies"
cargo machete

step "sqlx offline cache matches the queries"
psql "$(database_url postgres)" -qc "drop database if exists task_sqlx_check" -c "create database task_sqlx_check"
SQLX_OFFLINE=false DATABASE_URL=$(database_url task_sqlx_check) sqlx migrate run --source migrations
SQLX_OFFLINE=false DATABASE_URL=$(database_url task_sqlx_check) cargo sqlx prepare --workspace --check -- --all-targets

step "Unit and integration tests (real PostgreSQL, a fresh database per test, and Redis)"
LOG=$(mktemp)
# sqlx::test creates and drops one database per test on the server DATABASE_URL names.
DATABASE_URL=$(database_url postgres) cargo test --locked -p app --features ssr 2>&1 | tee "$LOG"
DATABASE_URL=$(database_url postgres) cargo test --locked -p server -p bench 2>&1 | tee -a "$LOG"

step "OpenAPI document validates"
SPEC="$CACHE_DIR/openapi.json"
"$CARGO_TARGET_DIR/debug/server" openapi > "$SPEC"
"$CACHE_DIR/venv/bin/openapi-spec-validator" "$SPEC"

step "Release build of the server and the WASM bundle"
cargo leptos build --release --precompress
"$ROOT/scripts/bundle-size.sh"

"$ROOT/scripts/check-deploy.sh"

step "Browser smoke test (Chromium): the page renders, hydrates, and the API docs load"
# Generous rate limits: the generated requests below would otherwise spend the login allowance.
psql "$(database_url postgres)" -qc "drop database if exists task_e2e" -c "create database task_e2e"
E2E_LOG="$CACHE_DIR/e2e-server.log"
DATABASE_URL=$(database_url task_e2e) JWT_SECRET=$(jwt_secret) \
  REDIS_PREFIX="e2e-$$" LEPTOS_SITE_ADDR=127.0.0.1:3300 LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=task \
  LEPTOS_ENV=PROD LEPTOS_HASH_FILES=true COOKIE_SECURE=false RUST_LOG=warn LOGIN_RATE_LIMIT=100000 REGISTER_RATE_LIMIT=100000 \
  LOGIN_ACCOUNT_RATE_LIMIT=100000 ORDER_RATE_LIMIT=100000 "$CARGO_TARGET_DIR/release/server" serve > "$E2E_LOG" 2>&1 &
E2E_SERVER=$!
trap 'kill $E2E_SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:3300/readyz >/dev/null && break; sleep 0.2; done
(cd end2end && BASE_URL=http://127.0.0.1:3300 node smoke.mjs) 2>&1 | tee -a "$LOG"

step "Browser flows (Chromium; a client, a worker and an admin at once; two server instances)"
psql "$(database_url postgres)" -qc "drop database if exists task_e2e_flows" -c "create database task_e2e_flows"
rm -rf end2end/test-results
(
  DATABASE_URL=$(database_url task_e2e_flows)
  JWT_SECRET=$(jwt_secret)
  export DATABASE_URL JWT_SECRET
  export REDIS_PREFIX="flows-$$" LEPTOS_SITE_ROOT=$ROOT/target/site LEPTOS_OUTPUT_NAME=task LEPTOS_ENV=PROD \
    LEPTOS_HASH_FILES=true COOKIE_SECURE=false RUST_LOG=warn SERVER_BIN="$CARGO_TARGET_DIR/release/server"
  set -a
  # shellcheck source=/dev/null
  source <(sandbox_payment_env e2e "http://127.0.0.1:${E2E_PORT:-3301}")
  set +a
  "$SERVER_BIN" migrate >/dev/null
  "$SERVER_BIN" seed-demo >/dev/null
  cd end2end && node flows.mjs
) 2>&1 | tee -a "$LOG"

step "Schemathesis: generated requests against /api/v1/openapi.json (no server errors, no schema violations)"
DATABASE_URL=$(database_url task_e2e) "$CARGO_TARGET_DIR/release/server" seed-demo >/dev/null
# The admin's run last: it may deactivate the others. A run passes when schemathesis exits 0 and its own closing
# line says it found no issues, or only warnings (a worker's or a client's run gets 401/403 on the admin's
# operations, which schemathesis reports as a warning); all three run, then any failure fails the script.
ST_OUT=$(mktemp)
ST_FAILED=()
# One schemathesis run as `$1` with token `$2` and `$3` workers: 0 when it passed, 1 when a check failed, 2 when
# schemathesis itself broke (a "Runtime Error" of the tool, not a finding about the API; seen with two workers as
# CPython's "AST constructor recursion depth mismatch").
st_run() {
  if (cd "$CACHE_DIR" && "$CACHE_DIR/venv/bin/st" run http://127.0.0.1:3300/api/v1/openapi.json \
      -H "Authorization: Bearer $2" --max-examples 25 --workers "$3" --seed 20261124 --no-color \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance) \
      > "$ST_OUT" 2>&1 && grep -qE '^=+ (No issues found|[0-9]+ warnings?) in ' "$ST_OUT"; then
    return 0
  fi
  if grep -q "Runtime Error" "$ST_OUT" && ! grep -qE '^(Failures:|=+ FAILURES =+)' "$ST_OUT"; then
    return 2
  fi
  return 1
}
for account in worker:worker-demo-2026 client:client-demo-2026 admin:admin-demo-2026; do
  role=${account%%:*}
  token=$(curl -sf http://127.0.0.1:3300/api/v1/auth/login -H 'content-type: application/json' \
    -d "{\"username\": \"$role\", \"password\": \"${account#*:}\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access"])')
  outcome=0
  st_run "$role" "$token" 2 || outcome=$?
  if [ "$outcome" -eq 2 ]; then
    # The tool's own crash says nothing about the API: run it once more, and count what that run says.
    info "schemathesis itself failed as $role (a Runtime Error of the tool); running it again with one worker"
    outcome=0
    st_run "$role" "$token" 1 || outcome=$?
  fi
  if [ "$outcome" -eq 0 ]; then
    tail -n 12 "$ST_OUT"
    echo "schemathesis ($role): 1 passed, 0 failed" | tee -a "$LOG"
  else
    tail -n 80 "$ST_OUT"
    echo "schemathesis ($role): 0 passed, 1 failed" | tee -a "$LOG"
    ST_FAILED+=("$role")
  fi
done
rm -f "$ST_OUT"
[ ${#ST_FAILED[@]} -eq 0 ] || die "schemathesis found problems as: ${ST_FAILED[*]} (see above)"
if grep -q "ERROR" "$E2E_LOG"; then
  grep "ERROR" "$E2E_LOG" | head -5
  die "the server logged errors during the browser and schemathesis runs"
fi
kill $E2E_SERVER 2>/dev/null || true

"$ROOT/scripts/soak.sh" 30 2>&1 | tee -a "$LOG"

# The tally, from the summary lines of the runners: cargo test's `test result:`, the browser scripts' `browser:`,
# the schemathesis verdicts above (schemathesis' exit status and closing line) and the soak run's `soak:`.
RUNNER='^(test result: [A-Za-z]+\.|browser:|schemathesis \([a-z]+\):|soak:)'
passed=$(sed -nE "s/$RUNNER ([0-9]+) passed.*/\2/p" "$LOG" | awk '{ s += $1 } END { print s + 0 }')
failed=$(sed -nE "s/$RUNNER [0-9]+ passed[,;] ([0-9]+) failed.*/\2/p" "$LOG" | awk '{ s += $1 } END { print s + 0 }')
rm -f "$LOG"
printf '\ntests: %s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ] || exit 1
