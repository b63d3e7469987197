#!/usr/bin/env bash
# Runs every suite once and ends with the line "N passed, N failed".
# Each suite speaks TAP: cmocka (CMOCKA_MESSAGE_OUTPUT=TAP), the fuzz corpus
# replayer, and node's test runner (--test-reporter=tap). Only top-level
# "ok"/"not ok" lines are counted; a suite that exits non-zero without a
# failing line counts as one failure, and so does a suite that ran no test.
#
# No suite can hang the run: each runs under `timeout` (PALABRE_SUITE_TIMEOUT
# seconds, scaled by PALABRE_TIME_SCALE), and one that passes it is a failure
# under its name. Every node test also has its own { timeout }, so a stuck test
# fails with its name while the rest of its file goes on. Nothing is retried:
# the closing summary lists every failing test by suite and name.
#
# Suites that start servers run in a private network namespace whose only
# interface is lo, so that they never touch another address and never clash
# with each other or with a server started by `make run`.
#
#   tests/run.sh [filter]     only suites whose path contains filter
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PALABRE_BIN="$PWD/$BUILD/palabre" PALABRE_BUILD="$PWD/$BUILD" PALABRE_ROOT="$PWD"
filter=${1:-}
scale=${PALABRE_TIME_SCALE:-1}
# Generous: the longest suite (e2e/chat) takes ~2.5 min on an idle 2-core machine,
# ~5 min loaded; a test that hangs fails earlier, by its own { timeout }.
suite_timeout=$(( ${PALABRE_SUITE_TIMEOUT:-1800} * scale ))
passed=0 failed=0
failures=()   # "suite: test" lines for the closing summary
logdir="$BUILD/test-logs"; mkdir -p "$logdir"

count() { # name, log, rc → sets p and f, appends to failures
    local name=$1 log=$2 rc=$3 line
    p=$(grep -cE '^ok [0-9]+' "$log")
    f=$(grep -cE '^not ok [0-9]+' "$log")
    while IFS= read -r line; do
        failures+=("$name: $(sed -E 's/^not ok [0-9]+ - //' <<<"$line")")
    done < <(grep -E '^not ok [0-9]+' "$log")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        # the suite passed its time limit: name it, and the last test it finished
        local last; last=$(grep -E '^(not )?ok [0-9]+' "$log" | tail -1)
        local why="suite timed out after ${suite_timeout}s (last test reported: ${last:-none})"
        echo "  ($why)" >>"$log"
        failures+=("$name: $why"); f=$((f + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "  (exit code $rc)" >>"$log"; failures+=("$name: exit code $rc")
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "  (no test ran)" >>"$log"; failures+=("$name: no test ran")
    fi
}

run_suite() { # name, command...
    local name=$1; shift
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
    local log="$logdir/$(echo "$name" | tr '/ ' '__').log"
    local t0=$SECONDS
    # SIGTERM at the limit, SIGKILL 10 s later if it is still there
    { timeout --kill-after=10 "$suite_timeout" "$@" >"$log" 2>&1 </dev/null; } 2>/dev/null
    local rc=$? p f
    count "$name" "$log" "$rc"
    passed=$((passed + p)); failed=$((failed + f))
    printf '%-48s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
    if [ "$f" -gt 0 ]; then
        grep -E '^not ok|^#|rror|ASSERT|Sanitizer|exit code|no test|timed out' "$log" |
            grep -v '^# Subtest' | head -40 | sed 's/^/    /'
        echo "    full log: $log"
    fi
}

# A prefix that runs a command in a new network namespace with only lo, up, and
# a new PID namespace whose first process is the suite: when the suite ends or
# is stopped, the kernel kills whatever it left behind (servers, Chromium, which
# runs in its own process group), so nothing outlives its suite. bash stays the
# namespace's first process (no exec): a PID 1 ignores SIGTERM, the suite must not.
# /proc is mounted again for the new PID namespace (palabre-load reads the
# server's /proc/<pid>), in a mount namespace made private first; in a chroot,
# where / is no mount point, only /proc is made private.
in_netns=(unshare --net --pid --fork --kill-child --mount --propagation unchanged --
          bash -c '{ mount --make-rprivate / || mount --make-private /proc; } 2>/dev/null &&
                   mount -t proc proc /proc; ip link set lo up && "$@"; exit $?' _)

for t in "$BUILD"/tests/*/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/${t#$BUILD/tests/}" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
done

for f in "$BUILD"/fuzz-replay/fuzz_*; do
    [ -x "$f" ] || continue
    target=${f##*/fuzz_}
    run_suite "fuzz-corpus/$target" "$f" "tests/fuzz/corpus/$target" "tests/fuzz/crashes/$target"
done

# In-process (no --test): the TAP lines reach the log as each test ends, so a
# suite stopped by its time limit still shows what it had finished.
for s in tests/integration/*.test.mjs tests/e2e/*.test.mjs; do
    [ -f "$s" ] || continue
    [ -n "$filter" ] && [[ "${s#tests/}" != *"$filter"* ]] && continue
    # every test declares its own limit (tests/lib/timeouts.mjs); one that does
    # not is a failure, named by its line
    while IFS= read -r line; do
        echo "${s#tests/}: a test without { timeout } at line ${line%%:*}"
        failures+=("${s#tests/}: a test without { timeout } at line ${line%%:*}"); failed=$((failed + 1))
    done < <(grep -nE '^\s*(test|it)\(' "$s" | grep -v 'timeout')
    run_suite "${s#tests/}" "${in_netns[@]}" node --test-reporter=tap "$s"
done

if [ "${#failures[@]}" -gt 0 ]; then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
