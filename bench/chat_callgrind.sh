#!/usr/bin/env bash
# Instructions per chat delivery under callgrind (docs/benchmarks.md,
# "Signaling and chat"): steadier than timings on a shared machine.
#
# Runs the whole server under valgrind --tool=callgrind with build/bench_ws
# (CLIENTS clients in ROOMS rooms, 4 s at RATE sends/s, then at 1 send/s),
# in a private network namespace, and prints for each run the inclusive
# instruction counts of the signaling loop (lws_service), of SQLite
# (sqlite3_step) and of the work done once a send is committed
# (chat_stored: response, serialization, fan-out). The per-delivery figure
# is (loop - SQLite at RATE) - (loop - SQLite at 1/s), divided by the
# difference in deliveries: what the loop pays per delivery besides SQLite.
#
#   bench/chat_callgrind.sh                       build/palabre
#   PALABRE_BIN=/other/palabre bench/chat_callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-100}
ROOMS=${ROOMS:-10}
RATE=${RATE:-60}
PORT=${PORT:-8092}
PALABRE=${PALABRE_BIN:-$BUILD/palabre}

if [ -z "${PAL_BENCH_NETNS:-}" ]; then
    make -s "$BUILD/palabre" "$BUILD/bench_ws"
    exec unshare --net -- env PAL_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
work=$(mktemp -d /tmp/pal-bench-cg.XXXXXX)
trap 'rm -rf "$work"' EXIT

inclusive() { # callgrind file, symbol pattern: its inclusive Ir (0 if absent)
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v pat="$2" '$0 ~ pat { gsub(",", "", $1); print $1; found=1; exit } END { if (!found) print 0 }'
}

measure() { # rate: prints "deliveries loop sqlite chat_stored"
    rm -rf "$work/data" && mkdir -p "$work/data"
    # every client comes from 127.0.0.1: the per-address limits are raised
    printf '[limits]\nconnections_per_ip = 1000000\nrooms_per_ip_per_minute = 1000000\n' \
        >"$work/limits.ini"
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" "$PALABRE" \
        --listen "127.0.0.1:$PORT" --data-dir "$work/data" --log-level warn \
        --config "$work/limits.ini" >"$work/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    "$BUILD/bench_ws" --port "$PORT" --clients "$CLIENTS" --rooms "$ROOMS" --seconds 4 \
        --rate "$1" >"$work/bench.$1"
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    local d
    d=$(grep -o 'delivered=[0-9]*' "$work/bench.$1" | cut -d= -f2)
    echo "$d $(inclusive "$work/cg.$1" '[?]+:lws_service [[]') \
$(inclusive "$work/cg.$1" '[?]+:sqlite3_step [[]') $(inclusive "$work/cg.$1" ':chat_stored [[]')"
}

echo "bench/chat_callgrind.sh, $(date -u +%FT%TZ), server $PALABRE, $CLIENTS clients, $ROOMS rooms"
read -r d1 l1 q1 c1 < <(measure "$RATE")
read -r d0 l0 q0 c0 < <(measure 1)
echo "at $RATE sends/s: deliveries=$d1 loop_Ir=$l1 sqlite_Ir=$q1 chat_stored_Ir=$c1"
echo "at 1 send/s:     deliveries=$d0 loop_Ir=$l0 sqlite_Ir=$q0 chat_stored_Ir=$c0"
awk -v d1="$d1" -v d0="$d0" -v l1="$l1" -v l0="$l0" -v q1="$q1" -v q0="$q0" -v c1="$c1" -v r="$RATE" \
    'BEGIN { printf "loop instructions per delivery, SQLite excluded: %.0f\n", ((l1 - q1) - (l0 - q0)) / (d1 - d0);
             printf "chat_stored instructions per send (response + serialization + fan-out to 9): %.0f\n", c1 / (r * 5) }'
