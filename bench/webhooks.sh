#!/usr/bin/env bash
# Webhook delivery against a release build, with a local receiver: the delay from a
# placeOrder's commit to the receipt of its webhook (p50/p99), and the deliveries per second
# one worker drains from a backlog (a process without a worker places the orders first; then a
# process with the worker starts and the receiver times the drain).
#
# Usage: bash bench/webhooks.sh [DATABASE_URL]   (default: a fresh SQLite file; for PostgreSQL
#        pass an empty database owned by a non-superuser role)
# Needs: curl, python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18460}"
receiver="$((port + 10))"
count="${KEEL_BENCH_COUNT:-200}"
backlog="${KEEL_BENCH_BACKLOG:-5000}"
flags=(--database-url "$url" --log warn --order-expiry-interval 0 --payment-reconcile-interval 0
  --webhook-allow-private true)
server=""
trap 'kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
start() {
  "$target/release/keel" --listen "127.0.0.1:$port" "${flags[@]}" "$@" 2>>"$work/keel.log" &
  server=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
}

start
python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 1 --stock 1000000 --ids >"$work/seed"
token="$(head -1 "$work/seed")"
product="$(sed -n 2p "$work/seed")"
echo "== commit to webhook receipt (worker polling every 200 ms)"
python3 "$root/bench/webhook_delay.py" delay "$port" "$token" "$product" "$receiver" "$count"
kill "$server"; wait "$server" 2>/dev/null || true

echo "== one worker draining a backlog of $backlog deliveries"
start --webhook-worker false
python3 "$root/bench/webhook_delay.py" backlog "$port" "$token" "$product" "$((receiver + 1))" "$backlog"
kill "$server"; wait "$server" 2>/dev/null || true
python3 "$root/bench/webhook_delay.py" drain "$((receiver + 1))" "$backlog" &
drainer=$!
sleep 0.5
start
wait "$drainer"
