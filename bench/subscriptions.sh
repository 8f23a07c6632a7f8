#!/usr/bin/env bash
# Delay from a placeOrder's commit to its order.placed message on a subscription: with the
# subscriber on the same process, and on a second process on the same database (the outbox
# poller of that process carries it), against a release build.
#
# Usage: bash bench/subscriptions.sh [DATABASE_URL]   (default: a fresh SQLite file; for
#        PostgreSQL pass an empty database owned by a non-superuser role)
# Needs: curl, python3 with `websockets` (pip install websockets).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18450}"
count="${KEEL_BENCH_COUNT:-200}"
flags=(--database-url "$url" --log warn --order-expiry-interval 0 --payment-reconcile-interval 0)
"$target/release/keel" --listen "127.0.0.1:$port" "${flags[@]}" 2>"$work/keel.log" &
first=$!
second=""
trap 'kill $first $second 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
"$target/release/keel" --listen "127.0.0.1:$((port + 1))" "${flags[@]}" 2>"$work/keel2.log" &
second=$!
until curl -fs -o /dev/null "http://127.0.0.1:$((port + 1))/readyz"; do sleep 0.05; done

python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 1 --stock 1000000 --ids >"$work/seed"
token="$(head -1 "$work/seed")"
product="$(sed -n 2p "$work/seed")"
echo "== subscriber on the process that commits"
python3 "$root/bench/subscription_delay.py" "$port" "$port" "$token" "$product" "$count"
echo "== subscriber on a second process (same database)"
python3 "$root/bench/subscription_delay.py" "$port" "$((port + 1))" "$token" "$product" "$count"
