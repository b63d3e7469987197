#!/bin/sh
# render.sh TEMPLATE: prints TEMPLATE with each ${NAME} replaced by the
# environment's NAME (docker-compose passes the .env values). A name that is
# not set stops with an error rather than leaving an empty secret or address.
# awk (Debian's mawk, in every image), not envsubst: gettext-base is not in
# debian:12, and values are copied as they are (no shell or sed quoting).
set -eu
exec awk '{
    out = ""; s = $0
    while (match(s, /\$\{[A-Z][A-Z0-9_]*\}/)) {
        name = substr(s, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON) || ENVIRON[name] == "") {
            printf "%s:%d: ${%s} is not set (see .env.example)\n", FILENAME, FNR, name > "/dev/stderr"
            exit 1
        }
        out = out substr(s, 1, RSTART - 1) ENVIRON[name]
        s = substr(s, RSTART + RLENGTH)
    }
    print out s
}' "$1"
