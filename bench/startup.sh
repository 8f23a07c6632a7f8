#!/usr/bin/env bash
# Measures the time from exec to /readyz = 200 on a fresh SQLite file (created and migrated on
# start) and on the same file again, and the idle RSS of the process 2 s after it is ready.
# The server listens on an ephemeral port of 127.0.0.1, read from its first log line.
# Usage: bash bench/startup.sh [path/to/keel]   (default: target/release/keel)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/release/keel}"
dir="$(mktemp -d)"
pid=""
elapsed=0
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# Starts the server and waits for /readyz = 200; sets `pid` and `elapsed` (milliseconds).
start_and_wait() {
  : >"$dir/log"
  local start end address=""
  start=$(date +%s%N)
  "$bin" serve --listen 127.0.0.1:0 --database-url "sqlite://$dir/keel.db" --log-format json 2>"$dir/log" &
  pid=$!
  while :; do
    [ -n "$address" ] || address="$(grep -o '"listen":"[^"]*"' "$dir/log" | head -n 1 | cut -d'"' -f4 || true)"
    [ -n "$address" ] && curl -fs -o /dev/null "http://$address/readyz" && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
    sleep 0.002
  done
  end=$(date +%s%N)
  elapsed=$(( (end - start) / 1000000 ))
}

stop() { kill "$pid"; wait "$pid" || true; pid=""; }

start_and_wait
echo "fresh database: start -> /readyz 200: $elapsed ms"
sleep 2
echo "idle RSS: $(ps -o rss= -p "$pid") KiB"
stop
start_and_wait
echo "existing database: start -> /readyz 200: $elapsed ms"
stop
