#!/usr/bin/env bash
# Join to first frame (docs/benchmarks.md "## Join to first frame").
set -euo pipefail
cd "$(dirname "$0")/.."
echo "command: bench/media_join.sh (node bench/join.mjs 7 in a private netns)"
unshare --net -- bash -c 'ip link set lo up && exec node bench/join.mjs 7'
