#!/usr/bin/env bash
# `make bench-compare`: the same palabre-load scenarios against Palabre and
# against Janus 1.x (Debian's `janus`, videoroom plugin), one after the
# other on this machine, in a private network namespace; prints the table
# and the ratios and writes bench/results/compare.json (docs/benchmarks.md).
#
# Network: everything runs inside `unshare --net` (nothing touches the
# machine's interfaces). Palabre listens on 127.0.0.1 (it adds loopback to
# ICE itself). Janus, like libnice, skips loopback interfaces, and two ends
# of a veth pair left in one namespace did not carry its ICE checks here, so
# Janus runs in a second, nested namespace, joined to the first by a veth
# pair the script creates: plj0 10.213.0.1/24 (Janus's side, its
# ice_enforce_list) and plj1 10.213.0.2/24 (the load tool's side,
# --interfaces plj1). Janus's configuration is bench/janus/*.jcfg.
#
#   bench/compare.sh [scenario ...]     default: meeting webinar
#   JANUS_BIN=/path/to/janus bench/compare.sh
#   ROUNDS=5 bench/compare.sh           rounds per scenario (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(meeting webinar)

if [ -z "${IN_NETNS:-}" ]; then
    if ! command -v "${JANUS_BIN:-janus}" >/dev/null; then
        echo "installing Debian's janus..."
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q janus >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q janus >/dev/null; }
    fi
    command -v node >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs >/dev/null
    [ -x "$BUILD/palabre" ] && [ -x "$BUILD/palabre-load" ] || make -s "$BUILD/palabre" "$BUILD/palabre-load"
    exec env IN_NETNS=1 unshare --net -- "$0" "${scenarios[@]}"
fi

ip link set lo up
results=bench/results
mkdir -p "$results"
tmp=$(mktemp -d)
cleanup() {
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
janus_plugins=$(dirname "$(dpkg -L janus 2>/dev/null | grep -m1 '/janus/plugins/libjanus_videoroom.so$' || echo /usr/lib/x86_64-linux-gnu/janus/plugins/x)")
janus_lib=$(dirname "$janus_plugins")

start_palabre() {
    rm -rf "$tmp/data"
    # the webinar room holds 201 participants (the default limit is 100);
    # every synthetic participant comes from 127.0.0.1 (per-address limits)
    printf '[limits]\nmax_participants_per_room = 1000\nconnections_per_ip = 100000\nrooms_per_ip_per_minute = 100000\n' \
        >"$tmp/palabre.ini"
    "$BUILD/palabre" --listen 127.0.0.1:18480 --data-dir "$tmp/data" --log-level warn \
        --config "$tmp/palabre.ini" \
        >"$tmp/palabre.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        (echo >/dev/tcp/127.0.0.1/18480) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "palabre did not start:"; cat "$tmp/palabre.log"; exit 1
}

start_janus() {
    local conf="$tmp/janus-conf"
    mkdir -p "$conf"
    for f in bench/janus/*.jcfg; do
        sed -e "s#@CONF@#$conf#" -e "s#@IFACE@#plj0#" -e "s#@NICEDEBUG@#false#" \
            -e "s#/usr/lib/x86_64-linux-gnu/janus#$janus_lib#" "$f" >"$conf/$(basename "$f")"
    done
    rm -f "$tmp/janus.pid"
    # The nested namespace waits for its end of the veth, then execs Janus
    # (same pid: --server-pid reads Janus's own /proc entry).
    unshare --net -- bash -c 'echo $$ >"$1"; for _ in $(seq 200); do ip link show plj0 >/dev/null 2>&1 && break; sleep 0.05; done
        ip link set lo up && ip addr add 10.213.0.1/24 dev plj0 && ip link set plj0 up &&
        exec "$2" -d 3 -C "$3/janus.jcfg" -F "$3" -L "$4" -N' _ \
        "$tmp/janus.pid" "${JANUS_BIN:-janus}" "$conf" "$tmp/janus.log" >"$tmp/janus.out" 2>&1 &
    for _ in $(seq 100); do [ -s "$tmp/janus.pid" ] && break; sleep 0.05; done
    server_pid=$(cat "$tmp/janus.pid")
    ip link add plj0 type veth peer name plj1
    ip link set plj0 netns "$server_pid"
    ip addr add 10.213.0.2/24 dev plj1
    ip link set plj1 up
    for _ in $(seq 150); do
        (echo >/dev/tcp/10.213.0.1/8188) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "janus did not start:"; cat "$tmp/janus.out" "$tmp/janus.log"; exit 1
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    ip link del plj1 2>/dev/null || true
    sleep 1
}

date=$(date -u +%Y-%m-%dT%H:%MZ)
# ROUNDS rounds per scenario, the two servers back to back in each, the
# order swapped every round (a machine that gets busier or quieter during
# the run weighs on both alike). The ratio quoted is the median of the
# rounds' ratios; the round that gave it supplies the table row.
rounds=${ROUNDS:-3}
for sc in "${scenarios[@]}"; do
    for r in $(seq "$rounds"); do
        order=(palabre janus)
        [ $((r % 2)) -eq 0 ] && order=(janus palabre)
        for target in "${order[@]}"; do
            echo "=== $sc against $target, round $r of $rounds"
            if [ "$target" = palabre ]; then
                start_palabre
                args=(--url ws://127.0.0.1:18480/ws)
            else
                start_janus
                args=(--target janus --url ws://10.213.0.1:8188/ --interfaces plj1)
            fi
            "$BUILD/palabre-load" "${args[@]}" --scenario "$sc" --server-pid "$server_pid" \
                --json "$tmp/$sc-$target-$r.json" --plot "$tmp/$sc-$target-$r.svg" ${LOAD_ARGS:-} ||
                echo "(palabre-load exited with $?)"
            stop_server
        done
    done
done

node - "$date" "$results" "$tmp" "$rounds" "${scenarios[@]}" <<'JS'
const fs = require('fs');
const [date, dir, tmp, nrounds, ...scenarios] = process.argv.slice(2);
const out = { date, machine: `${require('os').cpus().length}-core ${require('os').type()} ${require('os').release()}`,
  command: 'make bench-compare', rounds: Number(nrounds), scenarios: {} };
const f = (v, d = 2) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(d));
const pick = (r) => ({ participants: r.participants, joined: r.joined, window_s: r.window_s,
  window_forwarded_packets: r.window_forwarded_packets, forwarded_packets: r.forwarded_packets,
  server_cpu_percent: r.server_cpu_percent,
  server_cpu_us_per_forwarded_packet: r.server_cpu_us_per_forwarded_packet,
  delay_ms: r.delay_ms, loss_ratio: r.loss_ratio, server_rss_kib: r.server_rss_kib,
  streams_expected: r.streams_expected, streams_received: r.streams_received,
  nack_received: r.nack_received, pli_received: r.pli_received,
  tool_cpu_percent: r.tool_cpu_percent, late_frames: r.late_frames, tool_saturated: r.tool_saturated });
const read = (sc, t, i) => { try { return pick(JSON.parse(fs.readFileSync(`${tmp}/${sc}-${t}-${i}.json`, 'utf8'))); } catch { return null; } };
console.log('\n| scenario | round | server | participants | forwarded pkts (window) | server CPU % | CPU µs / fwd pkt | delay p50 / p99 ms | loss | streams | tool CPU % |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const sc of scenarios) {
  const rounds = [];
  for (let i = 1; i <= Number(nrounds); i++) {
    const rd = { round: i, palabre: read(sc, 'palabre', i), janus: read(sc, 'janus', i) };
    for (const t of ['palabre', 'janus']) {
      const r = rd[t];
      if (!r) continue;
      console.log(`| ${sc} | ${i} | ${t} | ${r.participants} | ${r.window_forwarded_packets} | ${f(r.server_cpu_percent, 1)} | ` +
        `${f(r.server_cpu_us_per_forwarded_packet)} | ${f(r.delay_ms.p50)} / ${f(r.delay_ms.p99)} | ${f(r.loss_ratio, 5)} | ` +
        `${r.streams_received}/${r.streams_expected} | ${f(r.tool_cpu_percent, 1)}${r.tool_saturated ? ' (saturated)' : ''} |`);
    }
    if (rd.palabre && rd.janus) {
      rd.ratio_cpu_per_packet_palabre_over_janus =
        rd.palabre.server_cpu_us_per_forwarded_packet / rd.janus.server_cpu_us_per_forwarded_packet;
      rd.ratio_delay_p99_palabre_over_janus = rd.palabre.delay_ms.p99 / rd.janus.delay_ms.p99;
    }
    rounds.push(rd);
  }
  const done = rounds.filter((rd) => rd.ratio_cpu_per_packet_palabre_over_janus !== undefined)
    .sort((a, b) => a.ratio_cpu_per_packet_palabre_over_janus - b.ratio_cpu_per_packet_palabre_over_janus);
  const row = { rounds };
  if (done.length) {
    const med = done[Math.floor((done.length - 1) / 2)];
    row.median_round = med.round;
    row.palabre = med.palabre;
    row.janus = med.janus;
    row.ratio_cpu_per_packet_palabre_over_janus = med.ratio_cpu_per_packet_palabre_over_janus;
    row.ratios_cpu_per_packet_by_round = rounds.map((rd) => rd.ratio_cpu_per_packet_palabre_over_janus ?? null);
    row.ratio_delay_p99_palabre_over_janus = med.ratio_delay_p99_palabre_over_janus;
    const all = rounds.filter((rd) => rd.palabre && rd.janus);
    row.goal = { palabre_cpu_at_most_quarter_of_janus: row.ratio_cpu_per_packet_palabre_over_janus <= 0.25,
      palabre_p99_under_5_ms: med.palabre.delay_ms.p99 < 5,
      palabre_p99_under_5_ms_every_round: all.every((rd) => rd.palabre.delay_ms.p99 < 5),
      palabre_no_loss_every_round: all.every((rd) => rd.palabre.loss_ratio === 0),
      janus_cpu_percent: med.janus.server_cpu_percent,
      tool_kept_up_every_round: all.every((rd) => !rd.palabre.tool_saturated && !rd.janus.tool_saturated) };
    for (const t of ['palabre', 'janus'])
      for (const ext of ['json', 'svg'])
        if (fs.existsSync(`${tmp}/${sc}-${t}-${med.round}.${ext}`))
          fs.copyFileSync(`${tmp}/${sc}-${t}-${med.round}.${ext}`, `${dir}/${sc}-${t}.${ext}`);
  }
  out.scenarios[sc] = row;
}
console.log('');
for (const [sc, row] of Object.entries(out.scenarios)) {
  if (row.ratio_cpu_per_packet_palabre_over_janus !== undefined)
    console.log(`${sc}: palabre/janus CPU per forwarded packet = ${f(row.ratio_cpu_per_packet_palabre_over_janus, 3)} ` +
      `(median of ${row.ratios_cpu_per_packet_by_round.map((x) => f(x, 3)).join(', ')}; round ${row.median_round}), ` +
      `p99 delay ratio = ${f(row.ratio_delay_p99_palabre_over_janus, 3)}`);
}
fs.writeFileSync(`${dir}/compare.json`, JSON.stringify(out, null, 2) + '\n');
console.log(`\nwritten: ${dir}/compare.json (the median rounds' JSON and SVG: ${dir}/<scenario>-<server>.*)`);
JS
