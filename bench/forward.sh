#!/usr/bin/env bash
# Forwarding benchmark (docs/benchmarks.md, "## Forwarding"):
#   1. build/bench_forward in a private network namespace (lo, plus a veth
#      whose peer is down so that sends are dropped at the driver), pinned to
#      one CPU: the table of µs per forwarded packet, GCM and CM, OpenSSL EVP
#      and Debian's libsrtp side by side.
#   2. valgrind --tool=callgrind on the forwarding function only: instructions
#      per forwarded packet by callee, and whether malloc appears under it.
# Usage: bench/forward.sh [bench_forward options, e.g. --subs 1,10,50]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$BUILD/bench_forward"
[ -x "$bin" ] || make -s "$bin"
cpu=$(( $(nproc) > 1 ? 1 : 0 ))

echo "## bench_forward (taskset -c $cpu, private netns), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
bench/veth_netns.sh taskset -c "$cpu" "$bin" --veth-dest 10.77.0.2 "$@"

if ! command -v valgrind >/dev/null; then
    echo "(valgrind not installed: no instruction counts)"
    exit 0
fi
echo
echo "## callgrind: instructions per forwarded packet inside forward_packet (10 subscribers)"
echo "| engine | total | srtp protect | srtp unprotect (÷10) | rewrite | rtx store | sendmmsg (user side; the kernel is not counted) | malloc calls |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cfg in gcm-evp gcm-libsrtp cm-evp cm-libsrtp; do
    out=$(unshare --net -- bash -c 'ip link set lo up; exec "$@"' _ \
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$cfg" \
        --toggle-collect=forward_packet "$bin" --callgrind "$cfg" 2>/dev/null)
    fwd=$(echo "$out" | sed -n 's/.* \([0-9]*\) forwarded.*/\1/p')
    callgrind_annotate --inclusive=yes "$tmp/cg.$cfg" >"$tmp/ann.$cfg" 2>/dev/null
    ir() { # inclusive Ir of the first function matching $1, per forwarded packet
        awk -v pat="$1" -v n="$fwd" '$0 ~ pat { gsub(",", "", $1); printf "%.0f", $1 / n; found=1; exit }
                                    END { if (!found) printf "0" }' "$tmp/ann.$cfg"
    }
    calls=$(callgrind_annotate --inclusive=yes "$tmp/cg.$cfg" 2>/dev/null | grep -cE ' (malloc|calloc|realloc) ' || true)
    mallocs=$(echo "$out" | sed -n 's/.* \([0-9]*\) mallocs.*/\1/p')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s per fwd |\n' "$cfg" "$(ir ':forward_packet')" \
        "$(ir ':pal_srtp_protect ')" "$(ir ':pal_srtp_unprotect ')" "$(ir ':pal_rtp_rewrite_into')" \
        "$(ir ':pal_rtx_buffer_store')" "$(ir ':sendmmsg')" \
        "$(awk -v m="$mallocs" -v n="$fwd" 'BEGIN { printf "%.2f", m / n }')"
    : "$calls"
done
