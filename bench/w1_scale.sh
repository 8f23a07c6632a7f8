#!/usr/bin/env bash
# Item 5 of issue 18, cost grows with the page, not the data: W1 (bench/w1.sh) at 16
# connections on KEEL_BENCH_TENANTS=100 and then on 1000 seeded shops (1,000 orders each, so
# 10 times the rows in every table), printing both p99s and their ratio (target: at most 1.3).
#
# Usage: bash bench/w1_scale.sh [POSTGRES_ADMIN_URL]   (other settings: see bench/lib.sh;
#        KEEL_BENCH_SCALES="100 1000" chooses the numbers of shops)
set -euo pipefail
here="$(dirname "$0")"
declare -a p99s
for n in ${KEEL_BENCH_SCALES:-100 1000}; do
  out="$(KEEL_BENCH_TENANTS="$n" KEEL_BENCH_CONNECTIONS=16 bash "$here/w1.sh" "$@")"
  echo "$out"
  p99="$(sed -n 's/^W1 .* p99 \([0-9.]*\) ms.*/\1/p' <<<"$out")"
  p99s+=("$n:$p99")
done
first="${p99s[0]#*:}"
for entry in "${p99s[@]}"; do
  echo "W1 p99 with ${entry%%:*} tenants: ${entry#*:} ms ($(awk -v a="${entry#*:}" -v b="$first" 'BEGIN { printf "%.2f", a / b }') x the first)"
done
