#!/usr/bin/env bash
# Signaling and chat benchmark (docs/benchmarks.md, "Signaling and chat").
#
# Runs palabre and build/bench_ws inside a private network namespace (only lo),
# with a fresh data directory per scenario:
#   idle      CLIENTS WebSocket clients joined in ROOMS rooms; server RSS delta
#   latency   the same clients, open loop at LAT_RATE chat_send/s (each message
#             goes to the 9 other members of its room: 10,000 deliveries/s by
#             default); delivery latency percentiles
#   fan-out   the same clients, each keeping WINDOW sends unacknowledged; the
#             delivered messages per second the server sustains
# Every message is committed to SQLite (WAL, synchronous=FULL) before it is
# acknowledged and fanned out.
#
#   bench/chat.sh                      CLIENTS=2000 ROOMS=200 BENCH_SECONDS=5
#   CLIENTS=200 ROOMS=20 bench/chat.sh (quick)
#   PALABRE_BIN_B=/other/palabre bench/chat.sh
#       also runs the fan-out and the latency scenarios ROUNDS times
#       alternating the two binaries (A = PALABRE_BIN or build/palabre), and
#       prints B/A per round: on a shared machine, only such side-by-side
#       figures mean much.
#       ONLY_AB=1 skips the other scenarios; AB_SCENARIOS="fanout latency"
#       (the default) chooses the side-by-side ones.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-2000}
ROOMS=${ROOMS:-200}
SECS=${BENCH_SECONDS:-5}
LAT_RATE=${LAT_RATE:-1111}
WINDOW=${WINDOW:-2}
PORT=${PORT:-8090}
PALABRE=${PALABRE_BIN:-$BUILD/palabre}

if [ -z "${PAL_BENCH_NETNS:-}" ]; then
    make -s "$BUILD/palabre" "$BUILD/bench_ws" "$BUILD/bench_chat_store"
    exec unshare --net -- env PAL_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ulimit -n "$(ulimit -Hn)" # 2 fds per client pair on this side and the server's
work=$(mktemp -d /tmp/pal-bench-chat.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# every client comes from 127.0.0.1: the per-address limits are raised (for a
# binary that has them; an older one for comparison would refuse the keys)
limits_config() { # binary
    if grep -q connections_per_ip "$1" 2>/dev/null; then
        printf '[limits]\nconnections_per_ip = 1000000\nrooms_per_ip_per_minute = 1000000\n' \
            >"$work/limits.ini"
        echo --config "$work/limits.ini"
    fi
}

start_server() { # fresh data directory each time
    rm -rf "$work/data" && mkdir -p "$work/data"
    # shellcheck disable=SC2046
    "${1:-$PALABRE}" --listen "127.0.0.1:$PORT" --data-dir "$work/data" --log-level warn \
        $(limits_config "${1:-$PALABRE}") >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "palabre did not start:"; cat "$work/server.log"; exit 1
}
stop_server() {
    kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
    server_pid=
}
val() { # key file: the value of key=value in a bench_ws output
    grep -o "\b$1=[^ ]*" "$2" | head -1 | cut -d= -f2
}
run() { # name, bench_ws arguments...  (SERVER_BIN: which palabre)
    local name=$1; shift
    start_server "${SERVER_BIN:-}"
    local cmd=("$BUILD/bench_ws" --port "$PORT" --clients "$CLIENTS" --rooms "$ROOMS"
               --pid "$server_pid" --seconds "$SECS" "$@")
    echo "\$ ${cmd[*]}" | sed "s|--pid [0-9]*|--pid \$SERVER_PID|"
    "${cmd[@]}" | tee "$work/$name.out" | sed 's/^/    /' || echo "    (bench_ws reported a failure)"
    stop_server
}

echo "bench/chat.sh on $(nproc) cores, $(date -u +%FT%TZ), tree $(git describe --always --dirty), server $PALABRE ($("$PALABRE" --version 2>/dev/null | head -1))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "${ONLY_AB:-}" ]; then
echo "\$ $BUILD/bench_chat_store 1000      (group commit: sends per flush, side by side)"
"$BUILD/bench_chat_store" 1000 | tee "$work/store.out" | sed 's/^/    /'
run idle
run latency --rate "$LAT_RATE"
run fanout --window "$WINDOW"

echo
printf '| %-52s | %-26s | %s |\n' "scenario ($CLIENTS clients, $ROOMS rooms)" measured goal
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..28})" "------"
printf '| %-52s | %-26s | %s |\n' "clients joined" "$(val joined "$work/idle.out") / $CLIENTS" "all"
printf '| %-52s | %-26s | %s |\n' "server RSS per idle connection" \
    "$(( $(val rss_per_conn_bytes "$work/idle.out") / 1024 )) KiB" "< 20 KiB"
printf '| %-52s | %-26s | %s |\n' "latency run: deliveries/s (sends/s x 9)" \
    "$(val delivered_per_s "$work/latency.out") ($(val sent_per_s "$work/latency.out") sent/s)" "10,000"
printf '| %-52s | %-26s | %s |\n' "latency run: delivery latency p50 / p99 / p99.9" \
    "$(val p50 "$work/latency.out") / $(val p99 "$work/latency.out") / $(val p999 "$work/latency.out") us" "p99 < 20 ms"
printf '| %-52s | %-26s | %s |\n' "fan-out run: deliveries/s, window $WINDOW per client" \
    "$(val delivered_per_s "$work/fanout.out")" ">= 50,000"
printf '| %-52s | %-26s | %s |\n' "fan-out run: server CPU, us per delivery" \
    "$(val server_cpu_us_per_delivery "$work/fanout.out") ($(val server_cpu_pct "$work/fanout.out")% CPU)" ""
printf '| %-52s | %-26s | %s |\n' "fan-out run: load client CPU" "$(val client_cpu_pct "$work/fanout.out")%" ""
printf '| %-52s | %-26s | %s |\n' "fan-out run: delivery latency p50 / p99" \
    "$(val p50 "$work/fanout.out") / $(val p99 "$work/fanout.out") us" ""
fi

if [ -n "${PALABRE_BIN_B:-}" ]; then
    echo
    echo "A = $PALABRE"
    echo "B = $PALABRE_BIN_B"
    for r in $(seq "${ROUNDS:-3}"); do
        if [[ "${AB_SCENARIOS:-fanout latency}" == *fanout* ]]; then
        SERVER_BIN=$PALABRE run "a$r" --window "$WINDOW" >/dev/null
        SERVER_BIN=$PALABRE_BIN_B run "b$r" --window "$WINDOW" >/dev/null
        a=$(val delivered_per_s "$work/a$r.out"); b=$(val delivered_per_s "$work/b$r.out")
        printf 'round %d: fan-out deliveries/s A %s, B %s, B/A %s; server us/delivery A %s, B %s\n' "$r" \
            "$a" "$b" "$(awk "BEGIN{printf \"%.2f\", $b/$a}")" \
            "$(val server_cpu_us_per_delivery "$work/a$r.out")" \
            "$(val server_cpu_us_per_delivery "$work/b$r.out")"
        fi
        [[ "${AB_SCENARIOS:-fanout latency}" == *latency* ]] || continue
        SERVER_BIN=$PALABRE run "la$r" --rate "$LAT_RATE" >/dev/null
        SERVER_BIN=$PALABRE_BIN_B run "lb$r" --rate "$LAT_RATE" >/dev/null
        printf 'round %d: latency at %s sends/s, p50/p99/p99.9 us: A %s/%s/%s (%s deliveries/s), B %s/%s/%s (%s deliveries/s); load %s\n' \
            "$r" "$LAT_RATE" \
            "$(val p50 "$work/la$r.out")" "$(val p99 "$work/la$r.out")" "$(val p999 "$work/la$r.out")" \
            "$(val delivered_per_s "$work/la$r.out")" \
            "$(val p50 "$work/lb$r.out")" "$(val p99 "$work/lb$r.out")" "$(val p999 "$work/lb$r.out")" \
            "$(val delivered_per_s "$work/lb$r.out")" "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
fi
