#!/usr/bin/env bash
# bench/palabre-config.sh PALABRE_BIN > FILE: bench/palabre.ini without the
# keys PALABRE_BIN does not know. A key is known when its name is one of the
# binary's strings (config.c's key table): palabre refuses a file with an
# unknown key, and the benchmarks run binaries older and newer than this file.
set -euo pipefail
bin=$1
ini=$(dirname "$0")/palabre.ini
while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*([a-z_]+)[[:space:]]*= ]]; then
        key=${BASH_REMATCH[1]}
        if ! grep -qaw -- "$key" "$bin"; then
            echo "palabre-config: $bin does not know the key $key: left out" >&2
            continue
        fi
    fi
    printf '%s\n' "$line"
done <"$ini"
