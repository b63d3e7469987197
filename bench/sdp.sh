#!/usr/bin/env bash
# SDP: instructions per operation (callgrind), on the Chromium 156 offer
# fixture (163 lines, 2 m-lines, 31 payload types). Per-operation figure =
# (Ir of 11 iterations - Ir of 1 iteration) / 10, so start-up is excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD:-build}/bench_sdp
[ -x "$bin" ] || make "$bin" >/dev/null
command -v valgrind >/dev/null || { echo "valgrind missing: skipped"; exit 0; }
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
       sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
printf '%-10s %12s\n' op instr/op
for op in parse parse-min write answer offer; do
    a=$(ir "$op" 1); b=$(ir "$op" 11)
    printf '%-10s %12d\n' "$op" $(( (b - a) / 10 ))
done
echo "command: bench/sdp.sh (valgrind --tool=callgrind $bin <op> <n>)"
