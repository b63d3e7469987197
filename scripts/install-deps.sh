#!/usr/bin/env bash
# Installs what is missing, and nothing else: Debian packages for the build
# ("build") or for the test suites ("test"). Idempotent; needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(build-essential pkg-config libwebsockets-dev libjansson-dev libsqlite3-dev
            libnice-dev libsrtp2-dev libssl-dev libgcrypt20-dev libopus-dev libvpx-dev libglib2.0-dev
            libinih-dev libcjose-dev libcmocka-dev libyuv-dev)
# coturn: the tests start /usr/bin/turnserver themselves, with their own configuration
# (e2e/turn, integration/deploy), never the coturn service; docker-compose: `config` only.
test_pkgs=(chromium nftables iproute2 sqlite3 nodejs npm clang valgrind util-linux procps
           coturn docker-compose)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node and npm may come from elsewhere than Debian; accept working ones that are
# recent enough for the test packages (tests/package.json "engines": Node 18, as
# Debian 12 ships it).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -ge 18 ] && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
elif [ "$node_major" -gt 0 ]; then
    echo "install-deps: node $(node --version) is older than 18; installing Debian's nodejs and npm" >&2
    missing+=(nodejs npm)
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-build}" = test ]; then
    # npm packages for the browser and protocol tests, pinned in package-lock.json.
    if [ ! -d tests/node_modules ] || [ tests/package.json -nt tests/node_modules ] ||
       [ tests/package-lock.json -nt tests/node_modules ]; then
        (cd tests && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
                     npm install --no-audit --no-fund --loglevel=error)
        touch tests/node_modules
    fi
fi
