#!/usr/bin/env bash
# W4 (issue 18): `placeOrder` of 3 distinct products drawn at random among the shop's seeded
# ones (1 unit each, reserved at the shop's first location, which the seed stocks with
# thousands of units), every request with its own idempotency key.
#
# Usage: bash bench/w4.sh [POSTGRES_ADMIN_URL]   (settings: see bench/lib.sh)
source "$(dirname "$0")/lib.sh"
bench_prepare "$@"

ids="$(product_ids | paste -sd, -)"
echo "== $(tr ',' '\n' <<<"$ids" | wc -l) products to order from"
{
  cat <<LUA
local products = { $ids }
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token" }
LUA
  cat <<'LUA'
local counter, prefix = 0, nil
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("%08x", math.random(0, 2^31))
end
request = function()
  counter = counter + 1
  local a, b, c = math.random(#products), math.random(#products), math.random(#products)
  while b == a do b = math.random(#products) end
  while c == a or c == b do c = math.random(#products) end
  local body = string.format('{"query":"mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id number status total { amount } } userErrors { field code message } } }","variables":{"input":{"lines":[{"productId":"%s","quantity":1},{"productId":"%s","quantity":1},{"productId":"%s","quantity":1}],"customerEmail":"bench@example.test","idempotencyKey":"w4-%s-%d"}}}',
    products[a], products[b], products[c], prefix, counter)
  return wrk.format("POST", nil, headers, body)
end
LUA
  counting_lua
} >"$work/w4.lua"
bench_pass W4 "$work/w4.lua"
echo "== newest order: $(gql '{ orders(first: 1) { edges { node { number } } } }' | jq -c '.data.orders.edges[0].node')"
