#!/usr/bin/env bash
# Mixer benchmarks (docs/benchmarks.md, "## Mixer"), each pinned to one CPU:
#   1. audio: 200 and 400 mixed participants, 3 speaking; cost split and the
#      ratio against one encode per listener; complexity 5 and 0 side by side.
#   2. video: nine 640x360 inputs into a 1280x720 composite at 30 fps;
#      decode / compose / encode split, frames/s one core sustains; cpu-used
#      -6, -8 and -12 side by side.
#   3. callgrind instruction counts per audio tick (200 participants) and per
#      composite frame, by function, when valgrind is installed.
# Usage: bench/mixer.sh [quick]   (quick: fewer ticks/frames)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
for b in bench_mixer_audio bench_mixer_video; do
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
echo "### video"
for c in -6 -8 -12; do
    echo "\$ $BUILD/bench_mixer_video 9 $frames $c"
    taskset -c "$cpu" "$BUILD/bench_mixer_video" 9 "$frames" "$c"
done

if ! command -v valgrind >/dev/null; then
    echo "(valgrind not installed: no instruction counts)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "### callgrind, audio: 200 participants, 3 speaking, 250 ticks"
valgrind --tool=callgrind --callgrind-out-file="$out/a" \
    "$BUILD/bench_mixer_audio" 200 3 250 5 >/dev/null 2>"$out/a.log"
callgrind_annotate --inclusive=yes "$out/a" 2>/dev/null |
    grep -E 'PROGRAM TOTALS|pal_audio_mixer_tick|input_step|opus_decode\b|opus_encode\b|limit|emit|pal_rtp_write|pal_opus_encode|pal_opus_decode' |
    head -14
echo "### callgrind, video: 9 inputs 640x360, 20 composite frames"
valgrind --tool=callgrind --callgrind-out-file="$out/v" \
    "$BUILD/bench_mixer_video" 9 20 -8 >/dev/null 2>"$out/v.log"
callgrind_annotate --inclusive=yes "$out/v" 2>/dev/null |
    grep -E 'PROGRAM TOTALS|pal_video_mixer_tick|pal_vp8_decode|pal_vp8_encode|compose|pal_image_scale_into|pal_image_copy_planes|I420Scale|on_encoded' |
    head -14
