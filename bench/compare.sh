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
#   bench/compare.sh [scenario ...]     default: meeting meeting_simulcast webinar
#                                       (also: large, the room of 100)
# meeting_simulcast: every camera as three layers (rid q/h/f), 3 of the 10
# in small tiles; its rows add the video packets received per layer, the
# layer switches the subscribers saw, and (Palabre) the server's
# palabre_media_layer_switches_total over the run.
#   JANUS_BIN=/path/to/janus bench/compare.sh
#   ROUNDS=5 bench/compare.sh           rounds per scenario (default 3)
#   LOAD_ARGS='--duration 10' bench/compare.sh large   palabre-load options
# compare.json keeps the scenarios a run did not measure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(meeting meeting_simulcast webinar)

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
# the large room: 100 participants' sockets in the tool, 200 handles in Janus
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
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
    # bench/palabre.ini: room and per-address limits raised (the webinar
    # room holds 201 participants, all from the tool's one address)
    bench/palabre-config.sh "$BUILD/palabre" >"$tmp/palabre.ini"
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

# Palabre's palabre_media_layer_switches_total (nothing for Janus: its
# counters are not in a /metrics page).
layer_switches() {
    [ "$1" = palabre ] || return 0
    curl -sf http://127.0.0.1:18480/metrics | awk '$1 == "palabre_media_layer_switches_total" { print $2 }' || true
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
            switches0=$(layer_switches "$target")
            "$BUILD/palabre-load" "${args[@]}" --scenario "$sc" --server-pid "$server_pid" \
                --json "$tmp/$sc-$target-$r.json" --plot "$tmp/$sc-$target-$r.svg" ${LOAD_ARGS:-} ||
                echo "(palabre-load exited with $?)"
            switches1=$(layer_switches "$target")
            [ -n "$switches0" ] && [ -n "$switches1" ] &&
                echo "$((switches1 - switches0))" >"$tmp/$sc-$target-$r.switches"
            stop_server
        done
    done
done

node - "$date" "$results" "$tmp" "$rounds" "${scenarios[@]}" <<'JS'
const fs = require('fs');
const [date, dir, tmp, nrounds, ...scenarios] = process.argv.slice(2);
const machine = `${require('os').cpus().length}-core ${require('os').type()} ${require('os').release()}`;
const command = `${process.env.ROUNDS ? `ROUNDS=${nrounds} ` : ''}${process.env.LOAD_ARGS ? `LOAD_ARGS='${process.env.LOAD_ARGS}' ` : ''}` +
  `bench/compare.sh ${scenarios.join(' ')}`;
// compare.json keeps the scenarios this run did not measure (each row says
// when and how it was measured); the top-level fields describe the last run.
let out;
try { out = JSON.parse(fs.readFileSync(`${dir}/compare.json`, 'utf8')); } catch { out = {}; }
if (!out.scenarios) out.scenarios = {};
for (const [sc, row] of Object.entries(out.scenarios))
  if (row.date === undefined) Object.assign(row, { date: out.date, machine: out.machine, command: out.command, rounds_run: out.rounds });
Object.assign(out, { date, machine, command, rounds: Number(nrounds) });
const f = (v, d = 2) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(d));
const pick = (r) => ({ participants: r.participants, joined: r.joined, window_s: r.window_s,
  window_forwarded_packets: r.window_forwarded_packets, forwarded_packets: r.forwarded_packets,
  server_cpu_percent: r.server_cpu_percent,
  server_cpu_us_per_forwarded_packet: r.server_cpu_us_per_forwarded_packet,
  delay_ms: r.delay_ms, loss_ratio: r.loss_ratio, server_rss_kib: r.server_rss_kib,
  streams_expected: r.streams_expected, streams_received: r.streams_received,
  tracks_per_participant: r.tracks_per_participant, unsignaled_packets: r.unsignaled_packets,
  window_unsignaled_packets: r.window_unsignaled_packets,
  nack_received: r.nack_received, pli_received: r.pli_received,
  tool_cpu_percent: r.tool_cpu_percent, late_frames: r.late_frames, tool_saturated: r.tool_saturated,
  simulcast: r.simulcast, transport_cc: r.transport_cc });
const read = (sc, t, i) => {
  let r;
  try { r = pick(JSON.parse(fs.readFileSync(`${tmp}/${sc}-${t}-${i}.json`, 'utf8'))); } catch { return null; }
  if (r.simulcast) {
    try { r.simulcast.server_layer_switches = Number(fs.readFileSync(`${tmp}/${sc}-${t}-${i}.switches`, 'utf8')); }
    catch { r.simulcast.server_layer_switches = null; }
  }
  return r;
};
console.log('\n| scenario | round | server | participants | forwarded pkts (window) | server CPU % | CPU µs / fwd pkt | delay p50 / p99 ms | loss | streams | tracks per participant min / median / max of N (all) | tool CPU % |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const kbps = (v) => (v === null || v === undefined ? 'n/a' : f(v / 1000, 0));
const tracks = (t) => (t ? `${t.min} / ${t.median} / ${t.max} of ${t.expected} (${t.participants_with_all})` : 'n/a');
for (const sc of scenarios) {
  const rounds = [];
  for (let i = 1; i <= Number(nrounds); i++) {
    const rd = { round: i, palabre: read(sc, 'palabre', i), janus: read(sc, 'janus', i) };
    for (const t of ['palabre', 'janus']) {
      const r = rd[t];
      if (!r) continue;
      console.log(`| ${sc} | ${i} | ${t} | ${r.participants} | ${r.window_forwarded_packets} | ${f(r.server_cpu_percent, 1)} | ` +
        `${f(r.server_cpu_us_per_forwarded_packet)} | ${f(r.delay_ms.p50)} / ${f(r.delay_ms.p99)} | ${f(r.loss_ratio, 5)} | ` +
        `${r.streams_received}/${r.streams_expected} | ${tracks(r.tracks_per_participant)} | ` +
        `${f(r.tool_cpu_percent, 1)}${r.tool_saturated ? ' (saturated)' : ''} |`);
    }
    if (rd.palabre && rd.janus) {
      rd.ratio_cpu_per_packet_palabre_over_janus =
        rd.palabre.server_cpu_us_per_forwarded_packet / rd.janus.server_cpu_us_per_forwarded_packet;
      rd.ratio_delay_p99_palabre_over_janus = rd.palabre.delay_ms.p99 / rd.janus.delay_ms.p99;
    }
    rounds.push(rd);
  }
  for (const rd of rounds)
    for (const t of ['palabre', 'janus']) {
      const sim = rd[t] && rd[t].simulcast;
      if (sim)
        console.log(`| ${sc} | ${rd.round} | ${t} | simulcast: video packets q / h / f ${sim.video_packets_by_layer.join(' / ')}, ` +
          `layer switches seen ${sim.layer_switches} (most by one subscriber ${sim.layer_switches_max_per_subscriber}, ` +
          `subscribers ${sim.subscribers_switched}), server's ${sim.server_layer_switches ?? 'n/a'}` +
          `${rd[t].transport_cc ? `; transport-cc feedback ${rd[t].transport_cc.feedback_packets} packets, ` +
            `server's estimates ${rd[t].transport_cc.server_bwe_subscribers ?? 'n/a'} subscribers, ` +
            `mean ${kbps(rd[t].transport_cc.server_estimate_avg_bps)} / lowest ` +
            `${kbps(rd[t].transport_cc.server_estimate_min_bps)} kbit/s, ` +
            `switches for bandwidth ${rd[t].transport_cc.server_layer_switches_bandwidth ?? 'n/a'}` : ''} |`);
    }
  const done = rounds.filter((rd) => rd.ratio_cpu_per_packet_palabre_over_janus !== undefined)
    .sort((a, b) => a.ratio_cpu_per_packet_palabre_over_janus - b.ratio_cpu_per_packet_palabre_over_janus);
  const row = { date, machine, command, rounds_run: Number(nrounds), rounds };
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
      palabre_every_track_delivered_every_round: all.every((rd) => rd.palabre.streams_received === rd.palabre.streams_expected),
      janus_every_track_delivered_every_round: all.every((rd) => rd.janus.streams_received === rd.janus.streams_expected),
      janus_cpu_percent: med.janus.server_cpu_percent,
      tool_kept_up_every_round: all.every((rd) => !rd.palabre.tool_saturated && !rd.janus.tool_saturated) };
    for (const t of ['palabre', 'janus'])
      for (const ext of ['json', 'svg'])
        if (fs.existsSync(`${tmp}/${sc}-${t}-${med.round}.${ext}`))
          fs.copyFileSync(`${tmp}/${sc}-${t}-${med.round}.${ext}`, `${dir}/${sc}-${t}.${ext}`);
  }
  if (rounds.some((rd) => rd.palabre || rd.janus)) out.scenarios[sc] = row; // a run that measured nothing replaces nothing
}
console.log('');
for (const sc of scenarios) {
  const row = out.scenarios[sc];
  if (row && row.date === date && row.ratio_cpu_per_packet_palabre_over_janus !== undefined)
    console.log(`${sc}: palabre/janus CPU per forwarded packet = ${f(row.ratio_cpu_per_packet_palabre_over_janus, 3)} ` +
      `(median of ${row.ratios_cpu_per_packet_by_round.map((x) => f(x, 3)).join(', ')}; round ${row.median_round}), ` +
      `p99 delay ratio = ${f(row.ratio_delay_p99_palabre_over_janus, 3)}`);
}
// Issue 14: CPU per forwarded packet with simulcast within 1.2x of the
// single-layer figure: each server's median over the rounds of
// meeting_simulcast against the same of meeting, both from this run.
if (scenarios.includes('meeting') && scenarios.includes('meeting_simulcast')) {
  const median = (sc, t) => {
    const v = (out.scenarios[sc]?.rounds ?? []).map((rd) => rd[t]?.server_cpu_us_per_forwarded_packet)
      .filter((x) => typeof x === 'number').sort((a, b) => a - b);
    return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
  };
  out.simulcast_over_single = { date, command };
  for (const t of ['palabre', 'janus']) {
    const single = median('meeting', t), sim = median('meeting_simulcast', t);
    out.simulcast_over_single[t] = { meeting_cpu_us_per_forwarded_packet: single,
      meeting_simulcast_cpu_us_per_forwarded_packet: sim,
      ratio: single && sim ? sim / single : null };
    console.log(`${t}: CPU per forwarded packet, meeting_simulcast / meeting = ` +
      `${f(sim)} / ${f(single)} µs = ${single && sim ? f(sim / single, 3) : 'n/a'}`);
  }
  out.simulcast_over_single.palabre_within_1_2 = (out.simulcast_over_single.palabre.ratio ?? Infinity) <= 1.2;
}
fs.writeFileSync(`${dir}/compare.json`, JSON.stringify(out, null, 2) + '\n');
console.log(`\nwritten: ${dir}/compare.json (the median rounds' JSON and SVG: ${dir}/<scenario>-<server>.*)`);
JS
