#!/usr/bin/env bash
# The browser bundle's size: WASM, JS and CSS of target/site/pkg, raw and as transferred (the precompressed brotli
# and gzip files the server sends), against the 200 KiB (brotli) budget. Run after `cargo leptos build --release
# --precompress` (the test command does); `make bundle` builds and runs it.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUDGET=$((200 * 1024))
total_raw=0 total_br=0 total_gz=0
printf '%-6s %10s %10s %10s\n' file raw gzip brotli
for kind in wasm js css; do
  f=$(find target/site/pkg -maxdepth 1 -name "task.*.$kind" 2>/dev/null | sort | head -n 1)
  if [ -z "$f" ] || [ ! -s "$f" ]; then die "the build did not produce target/site/pkg/task.*.$kind"; fi
  if [ ! -s "$f.br" ] || [ ! -s "$f.gz" ]; then die "$f has no precompressed .br/.gz (build with --precompress)"; fi
  raw=$(stat -c %s "$f") br=$(stat -c %s "$f.br") gz=$(stat -c %s "$f.gz")
  printf '%-6s %10d %10d %10d\n' "$kind" "$raw" "$gz" "$br"
  total_raw=$((total_raw + raw)) total_br=$((total_br + br)) total_gz=$((total_gz + gz))
done
printf '%-6s %10d %10d %10d   (budget: %d brotli)\n' total "$total_raw" "$total_gz" "$total_br" "$BUDGET"
if [ "$total_br" -gt "$BUDGET" ]; then
  info "over the brotli budget by $((total_br - BUDGET)) bytes"
fi
