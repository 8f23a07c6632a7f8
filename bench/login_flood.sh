#!/usr/bin/env bash
# A login flood against a release build: 500 concurrent wrk connections for 20 s, each request
# five aliased logins (four to tenants that do not exist, one with a wrong password to a real
# owner), each request from a random client address (X-Forwarded-For, trusted from loopback),
# so the per-address throttle never refuses it and every login that the per-account limit lets
# through asks for a password hash: a botnet, the worst case for hashing. Meanwhile a second
# client asks `{ me { member { email } } }` as the signed-in owner, one request at a time, and
# the server's memory is sampled (bench/login_flood_probe.py).
#
# Usage: bash bench/login_flood.sh [KEEL_BINARY [DATABASE_URL]]
#   default binary: $CARGO_TARGET_DIR/release/keel (built first); default database: a fresh
#   SQLite file. Extra server flags can be passed in KEEL_FLOOD_ARGS, e.g.
#   KEEL_FLOOD_ARGS="--password-hash-concurrency 1". KEEL_FLOOD_KILL_MB (default 4096) kills a
#   server whose RSS passes it, so an unbounded build cannot exhaust the machine.
# Needs: wrk (Debian package `wrk`), curl, python3. Load generator and server share the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
keel="${1:-}"
if [ -z "$keel" ]; then
  (cd "$root" && cargo build --release --quiet --bin keel)
  keel="$target/release/keel"
fi
work="$(mktemp -d)"
url="${2:-sqlite://$work/keel.db}"
port="${KEEL_BENCH_PORT:-18420}"
seconds="${KEEL_FLOOD_SECONDS:-20}"
connections="${KEEL_FLOOD_CONNECTIONS:-500}"
# shellcheck disable=SC2086 # KEEL_FLOOD_ARGS is a list of flags
"$keel" --listen "127.0.0.1:$port" --database-url "$url" --log warn --trust-forwarded-for true \
  ${KEEL_FLOOD_ARGS:-} 2>"$work/keel.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
endpoint="http://127.0.0.1:$port/graphql"

slug="flood$RANDOM"
register='{"query":"mutation { registerTenant(input: { name: \"Flood\", slug: \"'$slug'\", currencyCode: \"USD\", ownerEmail: \"owner@flood.test\", ownerPassword: \"correct horse battery staple\" }) { accessToken } }"}'
token="$(curl -fs "$endpoint" -H 'content-type: application/json' -d "$register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["registerTenant"]["accessToken"])')"
echo "server pid $pid, idle: $(grep -E 'VmRSS' /proc/$pid/status | tr -s ' ')"

cat > "$work/flood.lua" <<LUA
local counts = {}
local threads = {}
local id = 0

function setup(thread)
  id = id + 1
  thread:set("id", id)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
  invalid, limited, other = 0, 0, 0
end

local function login(alias, slug, email)
  return alias .. ': login(input: { tenantSlug: \\\\"' .. slug .. '\\\\", email: \\\\"' .. email
    .. '\\\\", password: \\\\"not the password\\\\" }) { accessToken userErrors { code } }'
end

function request()
  local fields = {}
  for i = 1, 4 do
    fields[i] = login("l" .. i, "nowhere-" .. math.random(1, 1000000000), "owner@flood.test")
  end
  fields[5] = login("l5", "$slug", "owner@flood.test")
  local address = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  wrk.headers["X-Forwarded-For"] = address
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", nil, nil, '{"query":"mutation { ' .. table.concat(fields, " ") .. ' }"}')
end

function response(status, headers, body)
  local _, n = string.gsub(body, "INVALID_CREDENTIALS", "")
  local _, m = string.gsub(body, "RATE_LIMITED", "")
  invalid = invalid + n
  limited = limited + m
  if status ~= 200 then other = other + 1 end
end

function done(summary, latency, requests)
  local i, l, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    i = i + thread:get("invalid")
    l = l + thread:get("limited")
    o = o + thread:get("other")
  end
  io.write(string.format("flood logins: INVALID_CREDENTIALS %d, RATE_LIMITED %d; non-200 responses %d\n", i, l, o))
end
LUA

echo "== flood: $connections connections x 5 aliased logins, ${seconds}s; probe: me, one at a time"
python3 "$root/bench/login_flood_probe.py" "$endpoint" "$token" "$pid" "$((seconds + 2))" "${KEEL_FLOOD_KILL_MB:-4096}" \
  >"$work/probe.txt" &
probe=$!
sleep 1
wrk -t2 -c"$connections" -d"${seconds}s" --timeout 30s --latency -s "$work/flood.lua" "$endpoint" \
  | grep -E "Latency|50%|99%|Requests/sec|requests in|Socket errors|Non-2xx|flood logins" || true
wait $probe || true
cat "$work/probe.txt"
if kill -0 $pid 2>/dev/null; then
  echo "after: $(grep -E 'VmRSS|VmHWM|Threads' /proc/$pid/status | tr -s ' \t' ' ' | paste -sd ' ')"
fi
