# Shared by the workload scripts bench/w1.sh … bench/w5.sh (issue 18): build the release
# binary, make a database, seed it with `keel seed`, start the release server, warm up, and
# drive it with wrk at 16 and 64 connections, printing req/s, p50, p99 and errors (non-2xx
# answers, answers with GraphQL `errors`, and `userErrors`) per pass.
#
# A script sources this file, calls `bench_prepare "$@"`, writes its Lua (its request, then
# `counting_lua`) and calls `bench_pass NAME LUA`.
#
# Usage of every script: bash bench/wN.sh [POSTGRES_ADMIN_URL]
#   Without an argument: a fresh SQLite file. With a superuser URL such as
#   postgres://postgres@127.0.0.1:5432/postgres: a throwaway database owned by a throwaway
#   non-superuser role (superusers bypass row-level security), dropped at the end.
# Settings (environment):
#   KEEL_BENCH_TENANTS (100), KEEL_BENCH_PRODUCTS (200), KEEL_BENCH_ORDERS (1000): seeded sizes;
#   KEEL_BENCH_DURATION (15s) per pass, KEEL_BENCH_WARMUP (5s), KEEL_BENCH_CONNECTIONS ("16 64"),
#   KEEL_BENCH_PORT (18460), KEEL_BENCH_SEED (1): the seed of `keel seed --seed`;
#   KEEL_BENCH_BIN: a keel binary to run instead of building target/release/keel.
# Needs: cargo, wrk, curl, jq (and psql for PostgreSQL). Load generator, server and database
# share the machine.

set -euo pipefail
bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_target="${CARGO_TARGET_DIR:-$bench_root/target}"
keel="${KEEL_BENCH_BIN:-$bench_target/release/keel}"
tenants="${KEEL_BENCH_TENANTS:-100}"
products="${KEEL_BENCH_PRODUCTS:-200}"
orders="${KEEL_BENCH_ORDERS:-1000}"
duration="${KEEL_BENCH_DURATION:-15s}"
warmup="${KEEL_BENCH_WARMUP:-5s}"
connections="${KEEL_BENCH_CONNECTIONS:-16 64}"
port="${KEEL_BENCH_PORT:-18460}"
# wrk's own default (2 s) would count slow answers as socket errors and leave them out of the
# latencies; the server answers or gives up within its 30 s request timeout.
timeout=30s
endpoint="http://127.0.0.1:$port/graphql"
work="$(mktemp -d)"
server_pid=""
admin_url=""
throwaway=""
url=""

bench_cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n $throwaway ]]; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $throwaway WITH (FORCE)" -c "DROP ROLE IF EXISTS $throwaway" || true
  fi
  rm -rf "$work"
}
trap bench_cleanup EXIT

# Builds, makes the database, seeds it, starts the server and sets `token` (an API key of the
# first shop, holding every permission a key may hold).
bench_prepare() {
  [[ -n ${KEEL_BENCH_BIN:-} ]] || (cd "$bench_root" && cargo build --release --quiet --bin keel)
  if [[ $# -ge 1 && -n $1 ]]; then
    admin_url="$1"
    throwaway="keel_bench_$$"
    psql -q "$admin_url" -c "CREATE ROLE $throwaway LOGIN NOSUPERUSER NOBYPASSRLS" \
      -c "CREATE DATABASE $throwaway OWNER $throwaway"
    local base="${admin_url%/*}"
    url="${base/\/\/*@/\/\/$throwaway@}/$throwaway"
    backend=postgres
  else
    url="sqlite://$work/keel.db"
    backend=sqlite
  fi
  echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $backend; seeding $tenants tenants x $products products x $orders orders"
  "$keel" --database-url "$url" --log error seed --tenants "$tenants" --products "$products" --orders "$orders" \
    --seed "${KEEL_BENCH_SEED:-1}" >"$work/seed.out"
  grep '^seeded ' "$work/seed.out"
  token="$(sed -n 's/^KEEL_TOKEN=//p' "$work/seed.out")"
  if [[ $backend == postgres ]]; then
    # The tables were just filled; autovacuum would analyze them only later, and without
    # statistics the planner may choose scans.
    psql -q "$url" -c "SET client_min_messages = error" -c "ANALYZE"
  fi
  # Unpaid seeded orders are minutes old: the expiry job must not cancel them mid-run.
  "$keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn --order-expiry-interval 0 \
    2>"$work/keel.log" &
  server_pid=$!
  local tries=0
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    tries=$((tries + 1))
    if [[ $tries -gt 600 ]] || ! kill -0 "$server_pid" 2>/dev/null; then
      echo "the server did not become ready:" >&2
      cat "$work/keel.log" >&2
      exit 1
    fi
    sleep 0.05
  done
}

# `gql DOCUMENT [VARIABLES_JSON]`: one GraphQL request with the token; prints the answer.
gql() {
  local body vars="${2:-}"
  [[ -n $vars ]] || vars='{}'
  body="$(jq -cn --arg q "$1" --argjson v "$vars" '{query: $q, variables: $v}')"
  curl -fs "$endpoint" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" -d "$body"
}

# Every product id of the shop, one JSON string per line, paging 100 at a time.
product_ids() {
  local after=null page
  while :; do
    page="$(gql 'query($after: String) { products(first: 100, after: $after, sortKey: SKU) { edges { node { id } } pageInfo { hasNextPage endCursor } } }' \
      "$(jq -cn --argjson a "$after" '{after: $a}')")"
    jq -c '.data.products.edges[].node.id' <<<"$page"
    [[ "$(jq -r '.data.products.pageInfo.hasNextPage' <<<"$page")" == true ]] || break
    after="$(jq -c '.data.products.pageInfo.endCursor' <<<"$page")"
  done
}

# The Lua that every workload appends to its own: counts answers that are not 2xx, that carry
# GraphQL `errors`, or that carry `userErrors` (a list that is not empty), and prints one
# RESULT line. A workload whose refusals are expected sets `expected` to a plain string found in
# them (W5: INSUFFICIENT_STOCK); those are counted apart, as `expected`, and answers that
# placed an order as `placed`.
counting_lua() {
  cat <<'LUA'
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
non2xx, gql_errors, user_errors, expected_seen, placed = 0, 0, 0, 0, 0
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif body:find('"errors"', 1, true) then
    gql_errors = gql_errors + 1
  elseif expected and body:find(expected, 1, true) then
    expected_seen = expected_seen + 1
  elseif body:find('"userErrors":[{', 1, true) then
    user_errors = user_errors + 1
  elseif body:find('"order":{', 1, true) then
    placed = placed + 1
  end
end
function done(summary, latency, requests)
  local totals = { non2xx = 0, gql_errors = 0, user_errors = 0, expected_seen = 0, placed = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT %.1f req/s, p50 %.2f ms, p99 %.2f ms, %d requests, errors %d (non-2xx %d, GraphQL errors %d, userErrors %d, socket %d), placed %d, expected refusals %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, totals.non2xx + totals.gql_errors + totals.user_errors + socket,
    totals.non2xx, totals.gql_errors, totals.user_errors, socket, totals.placed, totals.expected_seen))
end
LUA
}

# `bench_warmup LUA_FILE`: KEEL_BENCH_WARMUP of load at 16 connections, not measured.
bench_warmup() {
  wrk -t2 -c16 -d"$warmup" --timeout "$timeout" -s "$1" "$endpoint" >/dev/null
}

# `bench_measure NAME CONNECTIONS LUA_FILE`: one measured pass; prints its RESULT line.
bench_measure() {
  local result
  result="$(wrk -t2 -c"$2" -d"$duration" --timeout "$timeout" --latency -s "$3" "$endpoint" | sed -n 's/^RESULT //p')"
  echo "$1 $backend c=$2 $duration: $result"
}

# `bench_pass NAME LUA_FILE`: a warm-up, then one measured pass per number of connections in
# KEEL_BENCH_CONNECTIONS.
bench_pass() {
  local c
  bench_warmup "$2"
  for c in $connections; do
    bench_measure "$1" "$c" "$2"
  done
}
