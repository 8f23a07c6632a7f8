#!/usr/bin/env bash
# Compares keel binaries on the order page (50 orders with lines and products) within one run:
# each round starts every binary in turn on the same seeded data and measures it, so a shared
# machine's drift hits all of them alike. Prints requests/s, p50 and p99 per binary and round;
# with KEEL_BENCH_CALLGRIND=1, instead the instructions per request counted by valgrind's
# callgrind over 100 requests (repeatable whatever else the machine does).
#
# Usage: bash bench/page_compare.sh BIN [BIN...]   e.g. a copy of target/release/keel built
#        from an older commit, and the current one.
# Settings: KEEL_BENCH_ROUNDS (default 4), KEEL_BENCH_DURATION (default 8s),
#   KEEL_BENCH_CONNECTIONS (default 16). Data: one seeded SQLite file, copied afresh for every
#   run; or, with KEEL_BENCH_POSTGRES=postgres://postgres@HOST/DB (a superuser URL), one
#   database per binary, owned by a fresh non-superuser role and seeded by that binary
#   (binaries may differ in migrations), all dropped at the end.
# Needs: wrk, curl, python3 (valgrind for callgrind; psql for PostgreSQL).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: bash bench/page_compare.sh BIN [BIN...]" >&2; exit 2; }
rounds="${KEEL_BENCH_ROUNDS:-4}"
duration="${KEEL_BENCH_DURATION:-8s}"
connections="${KEEL_BENCH_CONNECTIONS:-16}"
threads=$(( connections < 2 ? 1 : 2 ))
port="${KEEL_BENCH_PORT:-18440}"
work="$(mktemp -d)"
pid=""
declare -a urls slugs
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  wait 2>/dev/null
  if [[ -n "${KEEL_BENCH_POSTGRES:-}" ]]; then
    for i in "${!urls[@]}"; do psql -q "$KEEL_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS keel_compare_$i"; done
    psql -q "$KEEL_BENCH_POSTGRES" -c "DROP ROLE IF EXISTS keel_compare"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

start() { # binary, database URL, extra command prefix...
  local bin="$1" url="$2"; shift 2
  "$@" "$bin" --listen "127.0.0.1:$port" --database-url "$url" --log warn \
    --order-expiry-interval 0 2>>"$work/keel.log" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
gql() { # token, document
  curl -fs "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
    ${1:+-H "Authorization: Bearer $1"} -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$2")"
}

# Seeds the running server: 200 products, 300 orders of 1-3 lines; prints the shop's slug.
seed() {
  python3 "$root/bench/seed_catalog.py" "http://127.0.0.1:$port/graphql" 200 --stock 1000000 --ids >"$work/seed"
  local token
  token="$(head -1 "$work/seed")"
  mapfile -t products < <(tail -n +2 "$work/seed")
  for _ in $(seq 1 300); do
    lines=""
    for _ in $(seq 1 $((RANDOM % 3 + 1))); do
      lines+="{ productId: \"${products[RANDOM % ${#products[@]}]}\", quantity: $((RANDOM % 3 + 1)) } "
    done
    gql "$token" "mutation { placeOrder(input: { lines: [$lines], customerEmail: \"bench@example.test\" }) { userErrors { code } } }" >/dev/null
  done
  gql "$token" '{ me { tenant { slug } } }' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["me"]["tenant"]["slug"])'
}

if [[ -n "${KEEL_BENCH_POSTGRES:-}" ]]; then
  admin="$KEEL_BENCH_POSTGRES"
  base_url="${admin%/*}"
  psql -q "$admin" -c "CREATE ROLE keel_compare LOGIN"
  i=0
  for bin in "$@"; do
    psql -q "$admin" -c "CREATE DATABASE keel_compare_$i OWNER keel_compare"
    urls[i]="${base_url/\/\/*@/\/\/keel_compare@}/keel_compare_$i"
    start "$bin" "${urls[i]}"
    slugs[i]="$(seed)"
    stop
    # Thousands of rows were just inserted; without statistics the planner sorts them all.
    psql -q "${urls[i]}" -c "ANALYZE orders, order_lines, order_transitions, products, stock_levels"
    i=$((i + 1))
  done
else
  start "$1" "sqlite://$work/seed.db"
  slug="$(seed)"
  stop
fi

page='{ orders(first: 50) { edges { cursor node { id number status total { amount currencyCode } lines { quantity unitPrice { amount } total { amount } product { id sku name price { amount } } } } } pageInfo { hasNextPage endCursor } } }'
login() { # slug
  gql "" "mutation { login(input: { tenantSlug: \"$1\", email: \"owner@bench.test\", password: \"correct horse battery staple\" }) { accessToken } }" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])'
}
body="$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$page")"

for round in $(seq 1 "$rounds"); do
  i=0
  for bin in "$@"; do
    if [[ -n "${KEEL_BENCH_POSTGRES:-}" ]]; then
      url="${urls[i]}" slug="${slugs[i]}"
    else
      cp "$work/seed.db" "$work/run.db"
      rm -f "$work/run.db-wal" "$work/run.db-shm"
      url="sqlite://$work/run.db"
    fi
    i=$((i + 1))
    if [[ "${KEEL_BENCH_CALLGRIND:-0}" == 1 ]]; then
      start "$bin" "$url" valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$work/callgrind.out" --log-file="$work/valgrind.log"
    else
      start "$bin" "$url"
    fi
    token="$(login "$slug")"
    for _ in 1 2 3; do gql "$token" "$page" >/dev/null; done
    if [[ "${KEEL_BENCH_CALLGRIND:-0}" == 1 ]]; then
      callgrind_control -i on "$pid" >/dev/null 2>&1
      for _ in $(seq 1 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
          -H "Authorization: Bearer $token" -d "$body"
      done
      callgrind_control -i off "$pid" >/dev/null 2>&1
      stop
      total="$(awk '/^totals:/ {print $2}' "$work/callgrind.out")"
      echo "round $round  $bin  $((total / 100)) instructions/request"
    else
      cat >"$work/page.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[$body]]
LUA
      wrk -t1 -c"$connections" -d2s -s "$work/page.lua" "http://127.0.0.1:$port/graphql" >/dev/null
      rps="$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/page.lua" "http://127.0.0.1:$port/graphql" \
        | awk '/Requests\/sec/ {r=$2} / 50%/ {m=$2} / 99%/ {p=$2} END {print r " req/s, p50 " m ", p99 " p}')"
      stop
      echo "round $round  $bin  $rps"
    fi
  done
done
