#!/usr/bin/env bash
# Checks the README's GraphQL examples against schema.graphql, then boots the keel binary on a
# throwaway SQLite file and points real clients at it: GraphiQL in headless Chromium (Debian's
# package, installed here if missing) and the graphql-http audit.
# Usage: bash tests/browser/run.sh   (from anywhere; uses CARGO_TARGET_DIR like .ci/run)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
node "$here/readme.mjs"

(cd "$root" && cargo build --quiet --bin keel)
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
log="$work/keel.log"
KEEL_LOG_FORMAT=json "$target/debug/keel" serve --listen 127.0.0.1:0 --database-url "sqlite://$work/keel.db" 2>"$log" &
keel_pid=$!
cleanup() { kill "$keel_pid" 2>/dev/null || true; wait "$keel_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

address=""
for _ in $(seq 1 100); do
  address="$(grep -o '"listen":"[^"]*"' "$log" | head -n 1 | cut -d'"' -f4 || true)"
  [ -n "$address" ] && curl -fsS "http://$address/readyz" >/dev/null 2>&1 && break
  kill -0 "$keel_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$address" ] || { echo "keel did not become ready"; cat "$log"; exit 1; }

node "$here/graphiql.mjs" "http://$address" "${GRAPHIQL_SCREENSHOT:-}"
node "$here/audit.mjs" "http://$address/graphql"
