#!/usr/bin/env bash
# The cluster on Redis (docs/benchmarks.md "## Cluster"): joins per second on
# three nodes against one, placement balance, recovery after kill -9. Runs
# bench/cluster.mjs in a private network namespace (redis-server and the
# nodes in namespaces of their own inside it).
#   SECONDS_PER_RUN=20 CONCURRENCY=16 ROUNDS=3 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PALABRE_BIN="${PALABRE_BIN:-$PWD/build/palabre}" PALABRE_ROOT="$PWD"
echo "command: bench/cluster.sh (SECONDS_PER_RUN=${SECONDS_PER_RUN:-20} CONCURRENCY=${CONCURRENCY:-16} ROUNDS=${ROUNDS:-3})"
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
unshare --net --pid --fork --kill-child --mount --propagation unchanged -- \
    bash -c '{ mount --make-rprivate / || mount --make-private /proc; } 2>/dev/null &&
             mount -t proc proc /proc; ip link set lo up && exec node bench/cluster.mjs'
