#!/usr/bin/env bash
# The server's forwarding path per forwarded packet (docs/benchmarks.md,
# "## Forwarding (router)"): build/bench_router runs the real room, real SRTP
# and each subscriber's send (drop / one sendto per packet / the batched
# sendmmsg of media/send_queue.c) interleaved in one process, three rounds:
#   1. to a 127.0.0.1 socket that is never read (the sender also pays
#      loopback's receive path),
#   2. in a private netns to a neighbour behind a veth whose peer is down
#      (the kernel's send side only, dropped by the driver),
# then valgrind --tool=callgrind on the forwarding function of each variant:
# user-space instructions per forwarded packet (the kernel side of a send is
# not counted) and instructions spent in malloc/calloc/realloc under it.
#   bench/router.sh [bench_router options, e.g. --subs 10 --burst 8]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${PALABRE_BUILD:-build}
PKTS=${PKTS:-4000}
bin="$B/bench_router"
[ -x "$bin" ] || make -s "$bin"
cpu=$(( $(nproc) > 1 ? 1 : 0 ))
echo "## bench_router $*, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs, taskset -c $cpu"
echo "### loopback"
unshare --net -- bash -c 'ip link set lo up && exec taskset -c "$0" "$@"' "$cpu" "$bin" "$@"
echo "### veth, send side only"
bench/veth_netns.sh taskset -c "$cpu" "$bin" "$@" --dest 10.77.0.2
command -v valgrind >/dev/null || { echo "(valgrind not installed: no instruction counts)"; exit 0; }
echo "### callgrind, $PKTS packets in"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in router gcm gcm+sendto gcm+batch cm cm+batch router+simulcast gcm+batch+simulcast; do
    out=$(unshare --net -- bash -c 'ip link set lo up && exec "$@"' _ \
        valgrind --tool=callgrind --toggle-collect='forward_frames*' \
        --callgrind-out-file="$tmp/cg" "$bin" "$@" --packets "$PKTS" --only "$v" 2>/dev/null)
    fwd=$(echo "$out" | sed -n 's/.* \([0-9]*\) forwarded.*/\1/p')
    callgrind_annotate --inclusive=yes "$tmp/cg" >"$tmp/ann" 2>/dev/null
    ir() { # inclusive instructions of the first function matching $1, per forwarded packet
        awk -v pat="$1" -v n="$fwd" '$0 ~ pat { gsub(",", "", $1); printf "%.0f", $1 / n; f=1; exit }
                                    END { if (!f) printf "0" }' "$tmp/ann"
    }
    allocs=$(awk '/ (malloc|calloc|realloc) / {gsub(",","",$1); s+=$1} END {print s+0}' "$tmp/ann")
    echo "$v: $(ir ':forward_frames') instructions per forwarded packet (srtp protect $(ir ':pal_srtp_protect(_into)? '), send queue $(ir ':pal_send_queue_(reserve|commit) '), flush $(ir ':pal_send_batch_flush ')); instructions in malloc/calloc/realloc: $allocs"
done
