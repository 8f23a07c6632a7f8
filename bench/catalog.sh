#!/usr/bin/env bash
# Requests/s and p99 of a 100-product page with stock levels, on a tenant with 10,000
# products (each stocked at one location), against a release build.
#
# Usage: bash bench/catalog.sh [DATABASE_URL]   (default: a fresh SQLite file; for PostgreSQL
#        pass an empty database owned by a non-superuser role)
# Needs: wrk, curl, python3 (and psql for PostgreSQL). Load generator, server (and PostgreSQL) share the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18410}"
"$target/release/keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn 2>"$work/keel.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done

token="$(python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 10000)"
if [[ "$url" == postgres* ]]; then
  # 20,000 rows were just written; give the planner statistics now rather than whenever
  # autovacuum gets to them.
  psql -q "$url" -c "ANALYZE products, stock_levels, stock_movements"
fi

cat > "$work/page.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[{"query":"{ products(first: 100) { edges { cursor node { id sku name price { amount currencyCode } active version stockLevels { locationId onHand reserved available } } } pageInfo { hasNextPage endCursor } } }"}]]
LUA
echo "== 100-product page with stock levels, 16 connections"
wrk -t2 -c16 -d20s --latency -s "$work/page.lua" "http://127.0.0.1:$port/graphql" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
