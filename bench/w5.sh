#!/usr/bin/env bash
# W5 (issue 18): `placeOrder` racing for ONE product with limited stock. Per pass, a fresh
# product gets KEEL_BENCH_RACE_STOCK units (default 1000) at the shop's first location, then
# wrk places orders of 1 unit of it (each with its own idempotency key and a pass-specific
# customer email) until the duration ends: the stock runs out early and the rest are refused
# with INSUFFICIENT_STOCK (counted as expected refusals, not errors). Afterwards the stock level,
# its ledger and the orders placed are read back through GraphQL and checked: nothing negative,
# available = onHand - reserved, reserved = orders placed = RESERVED movements, orders placed
# <= stock received. Prints PASS or FAIL per pass and exits non-zero on any FAIL.
#
# Usage: bash bench/w5.sh [POSTGRES_ADMIN_URL]   (settings: see bench/lib.sh)
source "$(dirname "$0")/lib.sh"
bench_prepare "$@"
stock="${KEEL_BENCH_RACE_STOCK:-1000}"
location="$(gql '{ locations(first: 1) { edges { node { id } } } }' | jq -r '.data.locations.edges[0].node.id')"
currency="$(gql '{ products(first: 1) { edges { node { price { currencyCode } } } } }' | jq -r '.data.products.edges[0].node.price.currencyCode')"

# `race_product NAME`: a new product with $stock units at $location; prints its id.
race_product() {
  local id
  id="$(gql 'mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } userErrors { message } } }' \
    "$(jq -cn --arg sku "RACE-$1-$$" --arg c "$currency" '{input: {sku: $sku, name: "Race product", price: {amount: "10.00", currencyCode: $c}}}')" \
    | jq -r '.data.createProduct.product.id')"
  gql 'mutation($input: ReceiveStockInput!) { receiveStock(input: $input) { userErrors { message } } }' \
    "$(jq -cn --arg p "$id" --arg l "$location" --argjson q "$stock" '{input: {productId: $p, locationId: $l, quantity: $q}}')" >/dev/null
  echo "$id"
}

# `race_lua NAME PRODUCT`: the Lua of one pass, written to $work/NAME.lua.
race_lua() {
  {
    cat <<LUA
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token" }
local product, pass = "$2", "$1"
expected = "INSUFFICIENT_STOCK"
LUA
    cat <<'LUA'
local counter, prefix = 0, nil
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("%08x", math.random(0, 2^31))
end
request = function()
  counter = counter + 1
  local body = string.format('{"query":"mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id number } userErrors { field code message } } }","variables":{"input":{"lines":[{"productId":"%s","quantity":1}],"customerEmail":"race-%s@bench.test","idempotencyKey":"w5-%s-%s-%d"}}}',
    product, pass, pass, prefix, counter)
  return wrk.format("POST", nil, headers, body)
end
LUA
    counting_lua
  } >"$work/$1.lua"
}

# `count_orders EMAIL`: how many orders the email has, paging 100 at a time.
count_orders() {
  local after=null page total=0
  while :; do
    page="$(gql 'query($f: OrderFilterInput, $after: String) { orders(first: 100, after: $after, filter: $f) { edges { node { id } } pageInfo { hasNextPage endCursor } } }' \
      "$(jq -cn --arg e "$1" --argjson a "$after" '{f: {customerEmail: $e}, after: $a}')")"
    total=$((total + $(jq '.data.orders.edges | length' <<<"$page")))
    [[ "$(jq -r '.data.orders.pageInfo.hasNextPage' <<<"$page")" == true ]] || break
    after="$(jq -c '.data.orders.pageInfo.endCursor' <<<"$page")"
  done
  echo "$total"
}

# `ledger PRODUCT`: "<sum of deltaOnHand> <sum of deltaReserved> <RESERVED movements>" at $location.
ledger() {
  local after=null page on_hand=0 reserved=0 reservations=0
  while :; do
    page="$(gql 'query($p: ID!, $l: ID!, $after: String) { stockMovements(productId: $p, locationId: $l, first: 100, after: $after) { edges { node { reason deltaOnHand deltaReserved } } pageInfo { hasNextPage endCursor } } }' \
      "$(jq -cn --arg p "$1" --arg l "$location" --argjson a "$after" '{p: $p, l: $l, after: $a}')")"
    on_hand=$((on_hand + $(jq '[.data.stockMovements.edges[].node.deltaOnHand] | add // 0' <<<"$page")))
    reserved=$((reserved + $(jq '[.data.stockMovements.edges[].node.deltaReserved] | add // 0' <<<"$page")))
    reservations=$((reservations + $(jq '[.data.stockMovements.edges[].node | select(.reason == "RESERVED")] | length' <<<"$page")))
    [[ "$(jq -r '.data.stockMovements.pageInfo.hasNextPage' <<<"$page")" == true ]] || break
    after="$(jq -c '.data.stockMovements.pageInfo.endCursor' <<<"$page")"
  done
  echo "$on_hand $reserved $reservations"
}

failed=0
race_lua warmup "$(race_product warmup)"
bench_warmup "$work/warmup.lua"
for c in $connections; do
  pass="c$c"
  product="$(race_product "$pass")"
  race_lua "$pass" "$product"
  result="$(bench_measure W5 "$c" "$work/$pass.lua")"
  echo "$result"
  level="$(gql 'query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { onHand reserved available } }' \
    "$(jq -cn --arg p "$product" --arg l "$location" '{p: $p, l: $l}')" | jq -r '.data.stockLevel | "\(.onHand) \(.reserved) \(.available)"')"
  read -r on_hand reserved available <<<"$level"
  read -r ledger_on_hand ledger_reserved reservations <<<"$(ledger "$product")"
  placed="$(count_orders "race-$pass@bench.test")"
  answered="$(sed -n 's/.*placed \([0-9]*\),.*/\1/p' <<<"$result")"
  checks=(
    "on hand = received: $on_hand = $stock|$((on_hand == stock))"
    "nothing negative: reserved $reserved >= 0, available $available >= 0|$((reserved >= 0 && available >= 0))"
    "available = onHand - reserved|$((available == on_hand - reserved))"
    "orders placed x 1 unit = reserved: $placed = $reserved|$((placed == reserved))"
    "no oversell: orders placed $placed <= stock $stock|$((placed <= stock))"
    "ledger explains the level: ($ledger_on_hand, $ledger_reserved) = ($on_hand, $reserved), $reservations reservations|$((ledger_on_hand == on_hand && ledger_reserved == reserved && reservations == placed))"
    "every placed answer is an order: $answered answered placed <= $placed placed|$((answered <= placed))"
  )
  verdict=PASS
  for check in "${checks[@]}"; do
    if [[ ${check##*|} == 1 ]]; then echo "   ok   ${check%|*}"; else echo "   FAIL ${check%|*}"; verdict=FAIL; fi
  done
  echo "W5 $backend c=$c: $verdict (stock $stock, placed $placed, sold out: $([[ $available == 0 ]] && echo yes || echo no))"
  [[ $verdict == PASS ]] || failed=1
done
exit "$failed"
