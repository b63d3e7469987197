#!/usr/bin/env bash
# `make bench`: runs every bench/<area>.sh in turn (bench/compare.sh is
# `make bench-compare`). Each prints its figures and
# the command that produced them; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/*.sh; do
    [ "$b" = bench/run.sh ] && continue
    [ "$b" = bench/compare.sh ] && continue # make bench-compare
    echo "=== $b"
    bash "$b"
done
