#!/usr/bin/env bash
# Measures time from exec to /readyz = 200 for a fresh SQLite file, and the idle RSS.
set -euo pipefail
bin="$1"; port="$2"; dir="$(mktemp -d)"
start=$(date +%s%N)
"$bin" --listen 127.0.0.1:$port --database-url "sqlite://$dir/keel.db" --log warn &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.005; done
end=$(date +%s%N)
echo "fresh db: start -> readyz 200: $(( (end-start)/1000000 )) ms"
sleep 2
echo "idle RSS: $(ps -o rss= -p $pid) KiB"
kill $pid; wait $pid || true
start=$(date +%s%N)
"$bin" --listen 127.0.0.1:$port --database-url "sqlite://$dir/keel.db" --log warn &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.005; done
end=$(date +%s%N)
echo "existing db: start -> readyz 200: $(( (end-start)/1000000 )) ms"
kill $pid; wait $pid || true
rm -rf "$dir"
