#!/usr/bin/env bash
# palabre-load against palabre (docs/benchmarks.md "## Load"): one scenario
# (default: meeting) in a private network namespace, palabre on 127.0.0.1.
# Writes bench/results/<scenario>-palabre.{json,svg}.
#   bench/load.sh [scenario] [palabre-load options]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
sc=${1:-meeting}; shift || true
[ -x "$BUILD/palabre-load" ] || make -s "$BUILD/palabre" "$BUILD/palabre-load"
mkdir -p bench/results
echo "command: bench/load.sh $sc $* ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
unshare --net -- bash -c '
    set -e
    ip link set lo up
    build=$1 sc=$2; shift 2
    dir=$(mktemp -d)
    # every synthetic participant comes from 127.0.0.1 (per-address limits)
    printf "[limits]\nmax_participants_per_room = 1000\nconnections_per_ip = 100000\nrooms_per_ip_per_minute = 100000\n" >"$dir/palabre.ini"
    "$build/palabre" --listen 127.0.0.1:18490 --data-dir "$dir/data" --log-level warn \
        --config "$dir/palabre.ini" >"$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/18490) 2>/dev/null && break; sleep 0.1; done
    rc=0
    "$build/palabre-load" --url ws://127.0.0.1:18490/ws --scenario "$sc" --server-pid $pid \
        --json "bench/results/$sc-palabre.json" --plot "bench/results/$sc-palabre.svg" "$@" || rc=$?
    kill $pid; wait $pid || true
    rm -rf "$dir"
    exit $rc' _ "$BUILD" "$sc" "$@"
