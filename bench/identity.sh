#!/usr/bin/env bash
# Login latency and authenticated-request throughput of a release build, with wrk.
#
# Usage: bash bench/identity.sh [DATABASE_URL]
#   default: a fresh SQLite file; pass postgres://USER@127.0.0.1/DB (an empty database owned by
#   a non-superuser role) to measure PostgreSQL.
# Needs: wrk (Debian package `wrk`), curl, python3. Load generator and server share the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet --bin keel)
work="$(mktemp -d)"
url="${1:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18400}"
"$target/release/keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn 2>"$work/keel.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
endpoint="http://127.0.0.1:$port/graphql"

slug="bench$RANDOM"
register='{"query":"mutation { registerTenant(input: { name: \"Bench\", slug: \"'$slug'\", currencyCode: \"USD\", ownerEmail: \"owner@bench.test\", ownerPassword: \"correct horse battery staple\" }) { accessToken } }"}'
token="$(curl -fs "$endpoint" -H 'content-type: application/json' -d "$register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["registerTenant"]["accessToken"])')"

cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"query":"mutation { login(input: { tenantSlug: \"$slug\", email: \"owner@bench.test\", password: \"correct horse battery staple\" }) { accessToken } }"}]]
LUA
cat > "$work/me.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = [[{"query":"{ apiVersion }"}]]
LUA
cat > "$work/anonymous.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"query":"{ apiVersion }"}]]
LUA

echo "== login, one client at a time (latency)"
wrk -t1 -c1 -d10s --latency -s "$work/login.lua" "$endpoint" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
echo "== login, 4 concurrent clients (throughput)"
wrk -t2 -c4 -d10s --latency -s "$work/login.lua" "$endpoint" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
echo "== authenticated { apiVersion }, 32 connections"
wrk -t2 -c32 -d15s --latency -s "$work/me.lua" "$endpoint" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
echo "== anonymous { apiVersion }, 32 connections (same run, for the ratio)"
wrk -t2 -c32 -d15s --latency -s "$work/anonymous.lua" "$endpoint" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
