#!/usr/bin/env bash
# Mixer benchmarks (docs/benchmarks.md, "## Mixer"), each pinned to one CPU:
#   1. audio: 200 and 400 mixed participants, 3 speaking; cost split and the
#      ratio against one encode per listener; complexity 5 and 0 side by side;
#      200 participants who all publish (3 speak, 197 open quiet microphones).
#   2. video: nine 640x360 inputs into a 1280x720 composite at 30 fps;
#      decode / compose / encode split, frames/s one core sustains; cpu-used
#      -6, -8 and -12 side by side.
#   3. the integrated mixer: what a mixed room costs its media worker and its
#      mixer thread (router + mixer thread at the server's [mixer] defaults,
#      in real time, unpinned: the two threads are meant to use two cores)
#      against the same room forwarding one track per publisher.
#   4. idle mixed rooms (issue 10): 60 rooms where one participant receives
#      mixed and nobody publishes; the process's CPU and RSS.
#   5. callgrind instruction counts per audio tick (200 participants) and per
#      composite frame, by function, when valgrind is installed.
# Usage: bench/mixer.sh [quick]   (quick: fewer ticks/frames)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
for b in bench_mixer_audio bench_mixer_video bench_room_mixer bench_mixer_idle; do
    [ -x "$BUILD/$b" ] || make -s "$BUILD/$b"
done
cpu=$(( $(nproc) > 1 ? 1 : 0 ))
ticks=1500 frames=150
[ "${1:-}" = quick ] && ticks=300 frames=45
echo "## mixer benchmarks (taskset -c $cpu), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
echo "### audio"
for p in 200 400; do
    echo "\$ $BUILD/bench_mixer_audio $p 3 $ticks 5"
    taskset -c "$cpu" "$BUILD/bench_mixer_audio" "$p" 3 "$ticks" 5
done
echo "\$ $BUILD/bench_mixer_audio 200 3 $ticks 0"
taskset -c "$cpu" "$BUILD/bench_mixer_audio" 200 3 "$ticks" 0
# Worst case for decode: every participant publishes (open microphones).
echo "\$ $BUILD/bench_mixer_audio 200 3 $ticks 5 197"
taskset -c "$cpu" "$BUILD/bench_mixer_audio" 200 3 "$ticks" 5 197
# The same when packets carry their audio level: quiet inputs are not decoded.
echo "\$ $BUILD/bench_mixer_audio 200 3 $ticks 5 197 1"
taskset -c "$cpu" "$BUILD/bench_mixer_audio" 200 3 "$ticks" 5 197 1
echo "### video"
for c in -6 -8 -12; do
    echo "\$ $BUILD/bench_mixer_video 9 $frames $c"
    taskset -c "$cpu" "$BUILD/bench_mixer_video" 9 "$frames" "$c"
done
echo "### the room's media worker and mixer thread: mixed vs one track per publisher"
secs=10
[ "${1:-}" = quick ] && secs=3
for pl in "3 10" "9 20"; do
    for mode in mixed sfu; do
        echo "\$ $BUILD/bench_room_mixer $pl $secs $mode"
        "$BUILD/bench_room_mixer" $pl "$secs" "$mode" 2>/dev/null
    done
done
echo "### idle mixed rooms: one participant receiving mixed, nobody publishing"
echo "\$ $BUILD/bench_mixer_idle 60 $secs 2"
"$BUILD/bench_mixer_idle" 60 "$secs" 2 2>/dev/null

if ! command -v valgrind >/dev/null; then
    echo "(valgrind not installed: no instruction counts)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Instructions inside the tick only (--toggle-collect), by function (inclusive).
cg() { # name, tick function, units, functions regex, command...
    local name=$1 fn=$2 units=$3 re=$4; shift 4
    valgrind --tool=callgrind --toggle-collect="$fn" --callgrind-out-file="$out/$name" \
        "$@" >/dev/null 2>"$out/$name.log"
    callgrind_annotate --inclusive=yes "$out/$name" 2>/dev/null |
        grep -E "^ *[0-9,]+ \([ 0-9.]+%\) +(PROGRAM TOTALS|[^ ]*:($re) )" | grep -v '^\s*$' |
        awk -v u="$units" -v w="$name" '{n=$1; gsub(",","",n); f=$0;
            sub(/^ *[0-9,]+ \([ 0-9.]+%\) +/, "", f); sub(/ \[.*$/, "", f);
            printf "  %14s instr  %7.2f M per %s  %s\n", $1, n/1e6/u, w, f}'
}
echo "### callgrind, audio: 200 participants, 3 speaking, 250 ticks (per tick)"
cg tick pal_audio_mixer_tick 250 \
    'pal_audio_mixer_tick|input_step|pal_opus_decode|pal_opus_decode_lost|pal_opus_encode|limit|emit' \
    "$BUILD/bench_mixer_audio" 200 3 250 5
echo "### callgrind, video: 9 inputs 640x360, 30 composite frames (per frame)"
cg frame pal_video_mixer_tick 30 \
    'pal_video_mixer_tick|pal_vp8_decode|pal_vp8_encode|compose|pal_image_scale_into|pal_image_copy_planes|on_encoded|pal_vp8_depacketizer_push' \
    "$BUILD/bench_mixer_video" 9 30 -8
echo "### the whole server: 60 mixed joins in empty rooms (palabre CPU and RSS)"
PALABRE_BIN="$PWD/$BUILD/palabre" unshare --net -- bash -c 'ip link set lo up && exec node bench/mixed_idle.mjs 60 10'
