#!/usr/bin/env bash
# A meeting relayed by coturn (docs/benchmarks.md "## Through TURN"): every
# participant of palabre-load reaches palabre only through coturn (--turn:
# libnice's force-relay, with the credentials of its join's ice_servers), as
# partners behind a firewall that lets no UDP reach the media ports would.
# palabre's and coturn's CPU are measured over the same window, per packet
# the subscribers received, so that ops can size the TURN host next to
# palabre's. The same scenario without TURN runs first, in the same script.
#
# Network: a private namespace (unshare --net) for palabre and the tool
# (pt0 10.215.0.1), and a nested one for coturn (pt1 10.215.0.2), joined by
# a veth pair: coturn relays between two addresses, as on two hosts.
#   bench/turn.sh [scenario] [palabre-load options]      default: meeting
# Writes bench/results/<scenario>-{direct,turn}.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
sc=${1:-meeting}; shift || true
if [ -z "${IN_NETNS:-}" ]; then
    [ -x "$BUILD/palabre-load" ] && [ -x "$BUILD/palabre" ] || make -s "$BUILD/palabre" "$BUILD/palabre-load"
    command -v turnserver >/dev/null || { echo "bench/turn.sh: needs coturn (Debian package coturn)"; exit 2; }
    echo "command: bench/turn.sh $sc $* ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
    exec env IN_NETNS=1 unshare --net -- "$0" "$sc" "$@"
fi

ip link set lo up
mkdir -p bench/results
tmp=$(mktemp -d)
secret=$(head -c 24 /dev/urandom | base64)
cleanup() {
    for p in ${pids:-}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# coturn's namespace: it waits for its end of the veth, then execs coturn
# (same pid: --turn-pid reads coturn's own /proc entry)
cat >"$tmp/turnserver.conf" <<CONF
listening-ip=10.215.0.2
relay-ip=10.215.0.2
listening-port=3478
min-port=49160
max-port=65000
realm=bench.palabre
use-auth-secret
static-auth-secret=$secret
no-tls
no-dtls
no-cli
fingerprint
no-multicast-peers
CONF
unshare --net -- bash -c 'echo $$ >"$1"; for _ in $(seq 200); do ip link show pt1 >/dev/null 2>&1 && break; sleep 0.05; done
    ip link set lo up && ip addr add 10.215.0.2/24 dev pt1 && ip link set pt1 up &&
    exec turnserver -c "$2/turnserver.conf" --userdb "$2/turndb" --pidfile "$2/turnserver.pid" \
        --log-file "$2/turn.log" --simple-log' _ "$tmp/coturn.pid" "$tmp" >"$tmp/coturn.out" 2>&1 &
for _ in $(seq 100); do [ -s "$tmp/coturn.pid" ] && break; sleep 0.05; done
turn_pid=$(cat "$tmp/coturn.pid")
pids="$turn_pid"
ip link add pt0 type veth peer name pt1
ip link set pt1 netns "$turn_pid"
ip addr add 10.215.0.1/24 dev pt0
ip link set pt0 up
for _ in $(seq 100); do (echo >/dev/tcp/10.215.0.2/3478) 2>/dev/null && break; sleep 0.1; done

# palabre on the veth's address (not loopback: [access] open), with [turn]
{
    bench/palabre-config.sh "$BUILD/palabre"
    printf '[access]\nagents = open\n[turn]\nurls = turn:10.215.0.2:3478?transport=udp\nsecret = %s\n' "$secret"
} >"$tmp/palabre.ini"
rc=0
for mode in direct turn; do
    rm -rf "$tmp/data"
    "$BUILD/palabre" --listen 10.215.0.1:18495 --data-dir "$tmp/data" --log-level warn \
        --config "$tmp/palabre.ini" >"$tmp/palabre.log" 2>&1 &
    pid=$!
    pids="$turn_pid $pid"
    for _ in $(seq 100); do (echo >/dev/tcp/10.215.0.1/18495) 2>/dev/null && break; sleep 0.1; done
    echo "=== $sc, $mode"
    args=()
    [ "$mode" = turn ] && args=(--turn --turn-pid "$turn_pid")
    "$BUILD/palabre-load" --url ws://10.215.0.1:18495/ws --interfaces pt0 --scenario "$sc" \
        --server-pid "$pid" --json "bench/results/$sc-$mode.json" "${args[@]}" "$@" || rc=$?
    kill "$pid"; wait "$pid" || true
done
exit $rc
