#!/usr/bin/env bash
# Signaling: memory per idle WebSocket connection (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "command: node bench/signaling_idle.mjs 1000"
PALABRE_BIN="${PALABRE_BIN:-$PWD/build/palabre}" node bench/signaling_idle.mjs 1000
