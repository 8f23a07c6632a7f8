#!/usr/bin/env bash
# Orders placed per second (every request with its own idempotency key, 1-3 lines over 200
# stocked products) at 16 and 64 connections with p99, then requests/s and p99 of a page of
# 50 orders with their lines and products, against a release build.
#
# Usage: bash bench/orders.sh [DATABASE_URL]   (default: a fresh SQLite file; for PostgreSQL
#        pass an empty database owned by a non-superuser role)
# Needs: wrk, curl, python3 (and psql for PostgreSQL). Load generator, server (and PostgreSQL) share the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18420}"
duration="${KEEL_BENCH_DURATION:-20s}"
"$target/release/keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn \
  --order-expiry-interval 0 2>"$work/keel.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done

# Prints the owner's token, then one product id per line.
python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 200 --stock 1000000 --ids >"$work/seed"
token="$(head -1 "$work/seed")"
products="$(tail -n +2 "$work/seed" | sed 's/.*/"&"/' | paste -sd, -)"

cat > "$work/place.lua" <<LUA
local products = { $products }
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token" }
LUA
cat >> "$work/place.lua" <<'LUA'
local counter = 0
local prefix
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("%08x", math.random(0, 2^31))
end
request = function()
  counter = counter + 1
  local lines = {}
  for i = 1, math.random(1, 3) do
    lines[i] = string.format('{ productId: "%s", quantity: %d }', products[math.random(#products)], math.random(1, 3))
  end
  local document = string.format('mutation { placeOrder(input: { lines: [%s], customerEmail: "bench@example.test", idempotencyKey: "%s-%d" }) { order { id number total { amount } } userErrors { code } } }',
    table.concat(lines, ", "), prefix, counter)
  return wrk.format("POST", nil, headers, '{"query":"' .. (document:gsub('"', '\\"')) .. '"}')
end
LUA

cat > "$work/page.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[{"query":"{ orders(first: 50) { edges { cursor node { id number status total { amount currencyCode } lines { quantity unitPrice { amount } total { amount } product { id sku name price { amount } } } } } pageInfo { hasNextPage endCursor } } }"}]]
LUA

for connections in 16 64; do
  echo "== placeOrder, $connections connections"
  wrk -t2 -c"$connections" -d"$duration" --latency -s "$work/place.lua" "http://127.0.0.1:$port/graphql" | grep -E "Latency|99%|Requests/sec|Non-2xx"
done
if [[ "$url" == postgres* ]]; then
  # Thousands of orders were just inserted; autovacuum analyzes tables within a minute or so,
  # sooner than a 20 s bench allows. Without statistics the planner sorts the whole table.
  psql -q "$url" -c "ANALYZE orders, order_lines, order_transitions, products, stock_levels"
fi
placed="$(curl -fs "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d '{"query":"{ orders(first: 1) { edges { node { number } } } }"}')"
echo "== last order: $placed"
echo "== page of 50 orders with lines and products, 16 connections"
wrk -t2 -c16 -d"$duration" --latency -s "$work/page.lua" "http://127.0.0.1:$port/graphql" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
