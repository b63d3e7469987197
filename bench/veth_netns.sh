#!/usr/bin/env bash
# Runs "$@" in a private network namespace with lo up and a veth pv0
# (10.77.0.1/24) whose peer is down, with 10.77.0.2 as a permanent
# neighbour: what is sent to 10.77.0.2 crosses the kernel's whole send side
# and is dropped by the driver. Used by forward.sh and router.sh.
#   bench/veth_netns.sh <command> [args...]
exec unshare --net -- bash -c '
    set -e
    ip link set lo up
    ip link add pv0 type veth peer name pv1
    ip addr add 10.77.0.1/24 dev pv0
    ip link set pv0 up    # pv1 stays down: what pv0 sends is dropped by the driver
    ip neigh add 10.77.0.2 lladdr 02:00:00:00:77:02 dev pv0 nud permanent
    exec "$@"' _ "$@"
