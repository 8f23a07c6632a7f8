#!/usr/bin/env bash
# W3 (issue 18): the first 100 products of one shop sorted by SKU, with their stock level at
# every location.
#
# Usage: bash bench/w3.sh [POSTGRES_ADMIN_URL]   (settings: see bench/lib.sh)
source "$(dirname "$0")/lib.sh"
bench_prepare "$@"

query='{ products(first: 100, sortKey: SKU) { edges { cursor node { id sku name price { amount currencyCode } lowStockThreshold stockLevels { locationId onHand reserved available } } } pageInfo { hasNextPage endCursor } } }'
first="$(gql "$query")"
echo "== one page: $(jq '.data.products.edges | length' <<<"$first") products, $(jq '[.data.products.edges[].node.stockLevels[]] | length' <<<"$first") stock levels, errors: $(jq -c '.errors // []' <<<"$first")"
{
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[$(jq -cn --arg q "$query" '{query: $q}')]]
LUA
  counting_lua
} >"$work/w3.lua"
bench_pass W3 "$work/w3.lua"
