#!/usr/bin/env bash
# Router forwarding cost per forwarded packet (callgrind instruction counts),
# AEAD_AES_128_GCM vs AES128_CM_SHA1_80 side by side, and a check that the
# forwarding loop never calls the allocator. docs/benchmarks.md "## Forwarding (router)".
set -euo pipefail
cd "$(dirname "$0")/.."
B=${PALABRE_BUILD:-build}
SUBS=10 PKTS=2000
echo "command: bench/router.sh ($B/bench_router <profile> $SUBS $PKTS under callgrind --toggle-collect=forward_loop)"
# CPU time per forwarded packet, every profile with and without the per-packet
# sendto of the server's transport, interleaved three times (lowest kept is up
# to the reader: all runs are printed).
for round in 1 2 3; do
    for prof in none gcm cm; do
        for send in "" --send; do
            "$B/bench_router" $prof $SUBS 100000 $send
        done
    done
done
tmp=$(mktemp -d)
for prof in none gcm cm; do
    valgrind --tool=callgrind --toggle-collect='forward_loop*' --callgrind-out-file="$tmp/$prof.out" \
        "$B/bench_router" $prof $SUBS $PKTS >/dev/null 2>"$tmp/$prof.err"
    ir=$(callgrind_annotate "$tmp/$prof.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    allocs=$(callgrind_annotate --inclusive=yes "$tmp/$prof.out" 2>/dev/null | awk '/:(malloc|calloc|realloc) / {gsub(",","",$1); s+=$1} END {print s+0}')
    per=$((ir / (SUBS * PKTS)))
    echo "$prof: $per instructions per forwarded packet per subscriber ($ir for $((SUBS * PKTS))); instructions spent in malloc/calloc/realloc: $allocs"
done
rm -rf "$tmp"
