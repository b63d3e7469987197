#!/usr/bin/env bash
# Join to first decoded frame through the whole stack (docs/benchmarks.md
# "## Join to first frame"): 20 Chromium joins on 127.0.0.1, p50/p95.
set -euo pipefail
cd "$(dirname "$0")/.."
export PALABRE_BIN="${PALABRE_BIN:-$PWD/build/palabre}" PALABRE_ROOT="$PWD"
echo "command: bench/join.sh (node bench/join_time.mjs ${JOINS:-20} in a private netns)"
unshare --net -- bash -c 'ip link set lo up && exec node bench/join_time.mjs "$1"' _ "${JOINS:-20}"
