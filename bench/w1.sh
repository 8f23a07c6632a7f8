#!/usr/bin/env bash
# W1 (issue 18): the 50 newest orders of one shop, newest first, with their lines (quantity,
# unit price, product SKU and name) and payments, one shop among KEEL_BENCH_TENANTS seeded ones.
#
# Usage: bash bench/w1.sh [POSTGRES_ADMIN_URL]   (settings: see bench/lib.sh)
# Item 5 of issue 18 (cost grows with the page, not the data) compares this workload's p99 at
# KEEL_BENCH_TENANTS=100 and KEEL_BENCH_TENANTS=1000.
source "$(dirname "$0")/lib.sh"
bench_prepare "$@"

query='{ orders(first: 50) { edges { cursor node { id number status createdAt total { amount currencyCode } lines { quantity unitPrice { amount } total { amount } product { id sku name } } payments { id status amount { amount } paymentMethod processor createdAt } } } pageInfo { hasNextPage endCursor } } }'
first="$(gql "$query")"
echo "== one page: $(jq '.data.orders.edges | length' <<<"$first") orders, $(jq '[.data.orders.edges[].node.payments[]] | length' <<<"$first") payments, errors: $(jq -c '.errors // []' <<<"$first")"
{
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[$(jq -cn --arg q "$query" '{query: $q}')]]
LUA
  counting_lua
} >"$work/w1.lua"
bench_pass W1 "$work/w1.lua"
