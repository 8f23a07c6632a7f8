#!/usr/bin/env bash
# W2 (issue 18): one order by number (`orderByNumber`) with its lines, the number drawn at
# random among the shop's seeded orders for every request.
#
# Usage: bash bench/w2.sh [POSTGRES_ADMIN_URL]   (settings: see bench/lib.sh)
source "$(dirname "$0")/lib.sh"
bench_prepare "$@"

echo "== one order: $(gql '{ orderByNumber(number: "1001") { number status lines { sku quantity } } }' | jq -c .)"
{
  cat <<LUA
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token" }
local first, last = 1001, $((1000 + orders))
LUA
  cat <<'LUA'
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
request = function()
  local body = string.format('{"query":"query($n: String!) { orderByNumber(number: $n) { id number status createdAt total { amount currencyCode } lines { quantity unitPrice { amount } total { amount } product { id sku name } } } }","variables":{"n":"%d"}}', math.random(first, last))
  return wrk.format("POST", nil, headers, body)
end
LUA
  counting_lua
} >"$work/w2.lua"
bench_pass W2 "$work/w2.lua"
