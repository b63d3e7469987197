#!/usr/bin/env bash
# Installs what is missing, and nothing else: Debian packages for the build
# ("build") or for the test suites ("test"). Idempotent; needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(build-essential pkg-config libwebsockets-dev libjansson-dev libsqlite3-dev
            libnice-dev libsrtp2-dev libssl-dev libgcrypt20-dev libopus-dev libvpx-dev libglib2.0-dev
            libinih-dev libcjose-dev libcmocka-dev libyuv-dev libcurl4-openssl-dev libhiredis-dev)
# coturn: the tests start /usr/bin/turnserver themselves, with their own configuration
# (e2e/turn, integration/deploy), never the coturn service; docker-compose: `config` only.
# redis-server, caddy and LemonLDAP::NG (an OpenID Connect provider) likewise: the
# tests run their own instances; the packages' services are not started (below).
test_pkgs=(chromium nftables iproute2 sqlite3 nodejs npm clang valgrind util-linux procps
           coturn docker-compose redis-server caddy liblemonldap-ng-portal-perl
           lemonldap-ng-fastcgi-server libplack-perl libstring-random-perl libio-string-perl)
# installed without their recommended packages (LemonLDAP::NG recommends nginx); its
# OpenID Connect issuer needs String::Random (not even a dependency) and IO::String (a
# Recommends): tests/lib/oidc_provider.mjs stands in for them when they are missing
no_recommends=" liblemonldap-ng-portal-perl lemonldap-ng-fastcgi-server libplack-perl "


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
    # Services pulled in by test packages (redis, caddy, coturn, the LemonLDAP::NG
    # FastCGI server) must not start listening on this host: a policy-rc.d that
    # refuses every start, for the time of the install only.
    rc_policy=/usr/sbin/policy-rc.d own_policy=
    if [ ! -e "$rc_policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$rc_policy" && chmod +x "$rc_policy" && own_policy=1
    fi
    plain=() bare=()
    for p in "${missing[@]}"; do
        if [[ "$no_recommends" == *" $p "* ]]; then bare+=("$p"); else plain+=("$p"); fi
    done
    [ "${#plain[@]}" -eq 0 ] || apt-get install -y -qq "${plain[@]}" >/dev/null
    [ "${#bare[@]}" -eq 0 ] || apt-get install -y -qq --no-install-recommends "${bare[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f "$rc_policy"; fi
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
