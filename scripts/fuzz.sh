#!/usr/bin/env bash
# Builds each tests/fuzz/fuzz_<name>.c with clang -fsanitize=fuzzer and runs it
# on its corpus for the given number of seconds. New crashes land in
# tests/fuzz/crashes/<name>/ and become regression inputs for `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
pkgs="libwebsockets jansson sqlite3 nice libsrtp2 openssl libgcrypt opus vpx glib-2.0 inih cjose hiredis libcurl"
mkdir -p build/fuzz
core=$(ls signaling/*.c media/*.c mixer/*.c 2>/dev/null | grep -v signaling/main.c)
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); target=${name#fuzz_}
    bin=build/fuzz/$name
    clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -D_GNU_SOURCE -DPAL_VERSION='"fuzz"' \
        $(pkg-config --cflags $pkgs) "$src" $core -o "$bin" $(pkg-config --libs $pkgs) -lyuv -lpthread -lm
    mkdir -p "tests/fuzz/corpus/$target" "tests/fuzz/crashes/$target"
    echo "== $name for ${secs}s"
    "$bin" -max_total_time="$secs" -artifact_prefix="tests/fuzz/crashes/$target/" \
        "tests/fuzz/corpus/$target" || echo "!! $name found a crash: see tests/fuzz/crashes/$target/"
done
