#!/usr/bin/env bash
# Runs every suite and prints one closing line "N passed, N failed".
# Each suite speaks TAP: cmocka (CMOCKA_MESSAGE_OUTPUT=TAP), the fuzz corpus
# replayer, and node's test runner (--test-reporter=tap). Only top-level
# "ok"/"not ok" lines are counted; a suite that exits non-zero without a
# failing line counts as one failure, and so does a suite that ran no test.
#
# Suites that start servers run in a private network namespace whose only
# interface is lo, so that they never touch another address and never clash
# with each other or with a server started by `make run`.
#
# Browser suites (tests/e2e/) drive several headless Chromiums on a 2-core
# machine; one that fails is run once more and the closing line counts the
# second run, while the first run's failures stay printed (marked "flaky") and
# its log stays in $BUILD/test-logs/<suite>.first.log.
#
#   tests/run.sh [filter]     only suites whose path contains filter
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PALABRE_BIN="$PWD/$BUILD/palabre" PALABRE_BUILD="$PWD/$BUILD" PALABRE_ROOT="$PWD"
filter=${1:-}
passed=0 failed=0
logdir="$BUILD/test-logs"; mkdir -p "$logdir"

count() { # log, rc → sets p and f
    local log=$1 rc=$2
    p=$(grep -cE '^ok [0-9]+' "$log")
    f=$(grep -cE '^not ok [0-9]+' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (exit code $rc)" >>"$log"; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (no test ran)" >>"$log"; fi
}

run_suite() { # name, command...
    local name=$1; shift
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
    local log="$logdir/$(echo "$name" | tr '/ ' '__').log"
    local t0=$SECONDS
    "$@" >"$log" 2>&1 </dev/null
    local p f
    count "$log" $?
    if [ "$f" -gt 0 ] && [[ "$name" == e2e/* ]]; then
        echo "$name: flaky? $f failed on the first run, running it once more:"
        grep -E '^not ok|^  error' "$log" | head -10 | sed 's/^/    first run: /'
        mv "$log" "${log%.log}.first.log"
        "$@" >"$log" 2>&1 </dev/null
        count "$log" $?
    fi
    passed=$((passed + p)); failed=$((failed + f))
    printf '%-48s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
    if [ "$f" -gt 0 ]; then
        grep -E '^not ok|^#|rror|ASSERT|Sanitizer|exit code|no test' "$log" | head -40 | sed 's/^/    /'
        echo "    full log: $log"
    fi
}

in_netns() { # run "$@" in a new network namespace with only lo, up
    unshare --net -- bash -c 'ip link set lo up && exec "$@"' _ "$@"
}

for t in "$BUILD"/tests/*/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/${t#$BUILD/tests/}" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
done

for f in "$BUILD"/fuzz-replay/fuzz_*; do
    [ -x "$f" ] || continue
    target=${f##*/fuzz_}
    run_suite "fuzz-corpus/$target" "$f" "tests/fuzz/corpus/$target" "tests/fuzz/crashes/$target"
done

for s in tests/integration/*.test.mjs tests/e2e/*.test.mjs; do
    [ -f "$s" ] || continue
    run_suite "${s#tests/}" in_netns node --test --test-reporter=tap --test-concurrency=1 "$s"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
