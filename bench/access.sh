#!/usr/bin/env bash
# Access checks per join (docs/benchmarks.md, "Access: token and invite per join").
# 1. build/bench_access: wall-clock µs per operation, operations interleaved
#    in 5 rounds, with the ratios measured side by side in each round.
# 2. The same operations under callgrind (instructions per operation, only
#    inside run_op): repeatable whatever else the machine is doing.
#
#   bench/access.sh                 ITERATIONS=2000 LINKS=10000 CG_LINKS=1000
# (callgrind runs the store's setup ~50x slower: its invite figures use a store
# of CG_LINKS links; a lookup is one unique-index probe, log(n) pages)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/bench_access
ITERATIONS=${ITERATIONS:-2000}
LINKS=${LINKS:-10000}
CG_LINKS=${CG_LINKS:-1000}
[ -x "$bin" ] || make -s "$bin"
echo "bench/access.sh on $(nproc) cores, $(date -u +%FT%TZ), tree $(git describe --always --dirty)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "\$ $bin $ITERATIONS $LINKS"
"$bin" "$ITERATIONS" "$LINKS" | sed 's/^/    /'
command -v valgrind >/dev/null || { echo "valgrind missing: instruction counts skipped"; exit 0; }
echo "instructions per operation (valgrind --tool=callgrind --toggle-collect=run_op $bin 20 $CG_LINKS OP, 5 rounds of 20):"
for op in es256 rs256 openssl_es256 openssl_rs256 invite_unlimited invite_limited invite_unknown; do
    links=$CG_LINKS; [[ $op == invite_* ]] || links=2 # the token ops do not read the store
    ir=$(valgrind --tool=callgrind --toggle-collect=run_op --callgrind-out-file=/dev/null \
         "$bin" 20 "$links" "$op" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    printf '    %-17s %9d\n' "$op" $(( ir / 100 ))
done
