#!/usr/bin/env bash
# payOrder per second and its p99 against the simulated processor with zero latency, at 16 and
# 64 connections (every request pays another PENDING_PAYMENT order with its own idempotency
# key), then how long payOrder takes to fail while the processor's circuit breaker is open.
#
# Usage: bash bench/payments.sh [DATABASE_URL]   (default: a fresh SQLite file; for PostgreSQL
#        pass an empty database owned by a non-superuser role)
# Needs: wrk, curl, python3 (and psql for PostgreSQL). Load generator, server (and PostgreSQL)
# share the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18440}"
duration="${KEEL_BENCH_DURATION:-15s}"
seed_duration="${KEEL_BENCH_SEED_DURATION:-40s}"
"$target/release/keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn \
  --order-expiry-interval 0 --payment-reconcile-interval 0 2>"$work/keel.log" &
pid=$!
breaker_pid=""
trap 'kill $pid $breaker_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done

python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 200 --stock 1000000 --ids >"$work/seed"
token="$(head -1 "$work/seed")"
products="$(tail -n +2 "$work/seed" | sed 's/.*/"&"/' | paste -sd, -)"

# Orders to pay: placed at full speed for $seed_duration, one line each.
cat > "$work/place.lua" <<LUA
local products = { $products }
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token" }
LUA
cat >> "$work/place.lua" <<'LUA'
request = function()
  local document = string.format('mutation { placeOrder(input: { lines: [{ productId: "%s", quantity: 1 }], customerEmail: "bench@example.test" }) { order { id } } }',
    products[math.random(#products)])
  return wrk.format("POST", nil, headers, '{"query":"' .. (document:gsub('"', '\\"')) .. '"}')
end
LUA
echo "== placing orders to pay for $seed_duration"
wrk -t2 -c64 -d"$seed_duration" -s "$work/place.lua" "http://127.0.0.1:$port/graphql" | grep -E "Requests/sec|Non-2xx" || true
# Writes the ids of every order still waiting for payment as a Lua table.
pending_orders() {
  python3 - "$port" "$token" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
ids, after = [], None
while True:
    query = '{ orders(first: 100, after: %s, filter: { status: [PENDING_PAYMENT] }) { edges { node { id } } pageInfo { hasNextPage endCursor } } }' % (json.dumps(after) if after else "null")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    page = json.loads(urllib.request.urlopen(request).read())["data"]["orders"]
    ids += [edge["node"]["id"] for edge in page["edges"]]
    if not page["pageInfo"]["hasNextPage"]:
        break
    after = page["pageInfo"]["endCursor"]
print("local orders = {" + ",".join('"%s"' % i for i in ids) + "}")
PY
}

# Each wrk thread pays its own share of the orders (thread k of n takes k, k+n, …), each with
# its own key; once the list runs out, requests meet paid orders (ORDER_NOT_PAYABLE), which
# count as "other answers", not as payments.
cat > "$work/pay-tail.lua" <<'LUA'
local threads, created = {}, 0
function setup(thread)
  created = created + 1
  thread:set("index", created)
  table.insert(threads, thread)
end
function init(args)
  step = tonumber(args[1])
  position = index - step
  paid, other = 0, 0
end
request = function()
  position = position + step
  local document = string.format('mutation { payOrder(input: { orderId: "%s", paymentMethod: "pm_card_visa", idempotencyKey: "%s-%d" }) { payment { status } userErrors { code } } }',
    orders[(position - 1) % #orders + 1], run, position)
  return wrk.format("POST", nil, headers, '{"query":"' .. (document:gsub('"', '\\"')) .. '"}')
end
response = function(status, headers, body)
  if body:find('"SUCCEEDED"', 1, true) then
    paid = paid + 1
  else
    other = other + 1
    -- The first answer of each kind that is not a payment, for the log.
    if other == 1 then io.write("first other answer: " .. body .. "\n") end
  end
end
function done(summary, latency, requests)
  local total_paid, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_paid = total_paid + thread:get("paid")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("paid: %d, other answers: %d, payments/s: %.0f\n", total_paid, total_other,
    total_paid / (summary.duration / 1e6)))
end
LUA

for connections in 16 64; do
  {
    echo "local headers = { [\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer $token\" }"
    echo "local run = \"c$connections\""
    pending_orders
    cat "$work/pay-tail.lua"
  } >"$work/pay.lua"
  echo "== payOrder, pm_card_visa, simulated processor (no latency), $connections connections, $(grep -o ',"' "$work/pay.lua" | wc -l) orders to pay"
  wrk -t2 -c"$connections" -d"$duration" --latency -s "$work/pay.lua" "http://127.0.0.1:$port/graphql" -- 2 \
    | grep -E "Latency|50%|99%|Requests/sec|Non-2xx|paid|first other"
done

# The breaker: a second server whose processor refuses connections (a closed port), threshold 5.
# Five payments open the breaker; then every payOrder answers SERVICE_UNAVAILABLE at once.
closed_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
breaker_port=$((port + 1))
"$target/release/keel" --listen "127.0.0.1:$breaker_port" --database-url "$url" --log warn \
  --order-expiry-interval 0 --payment-reconcile-interval 0 --idempotency-purge-interval 0 \
  --payment-processor http --payment-processor-url "http://127.0.0.1:$closed_port" \
  --payment-processor-secret sk_test_bench --payment-breaker-threshold 5 --payment-breaker-open-for 600 \
  2>"$work/breaker.log" &
breaker_pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$breaker_port/readyz"; do sleep 0.05; done
pending_orders >"$work/pending.lua"
order="$(sed -n 's/^local orders = {"\([^"]*\)".*/\1/p' "$work/pending.lua")"
for i in 1 2 3 4 5 6; do
  curl -fs "http://127.0.0.1:$breaker_port/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d "{\"query\":\"mutation { payOrder(input: { orderId: \\\"$order\\\", paymentMethod: \\\"pm_card_visa\\\", idempotencyKey: \\\"open-$i\\\" }) { payment { status } } }\"}" >/dev/null || true
done
cat > "$work/open.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[{"query":"mutation { payOrder(input: { orderId: \"$order\", paymentMethod: \"pm_card_visa\", idempotencyKey: \"while-open\" }) { payment { status } } }"}]]
LUA
echo "== one answer while the breaker is open:"
curl -s "http://127.0.0.1:$breaker_port/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d "$(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$work/open.lua")"
echo
echo "== payOrder while the breaker is open, 1 connection (latency of the refusal)"
wrk -t1 -c1 -d5s --latency -s "$work/open.lua" "http://127.0.0.1:$breaker_port/graphql" | grep -E "Latency|50%|99%|Requests/sec"
echo "== payOrder while the breaker is open, 16 connections"
wrk -t2 -c16 -d5s --latency -s "$work/open.lua" "http://127.0.0.1:$breaker_port/graphql" | grep -E "Latency|50%|99%|Requests/sec"
