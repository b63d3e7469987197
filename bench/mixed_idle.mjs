// What idle mixed rooms cost the whole server (issue: 60 `receive: "mixed"`
// joins in empty rooms took 2 cores and 2 GB). Starts palabre, joins N
// participants, each alone in its own room with receive "mixed", waits for the
// mixers to settle, then measures palabre's CPU (utime+stime from /proc over
// SECONDS) and RSS. Usage: node bench/mixed_idle.mjs [N [SECONDS]]
// Prints one JSON line: {rooms, mixed, cpu_fraction_of_a_core, rss_mib, ...}.
import fs from 'node:fs';
import { startPalabre, connect } from '../tests/lib/palabre.mjs';

const N = +(process.argv[2] || 60);
const SECONDS = +(process.argv[3] || 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HZ = 100; // USER_HZ on Linux
const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return +f[11] + +f[12]; // utime, stime (fields 14 and 15)
};
const rssKiB = (pid) => +fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];

// Every participant comes from 127.0.0.1 and creates a room: per-address limits
// raised; [mixer] max_rooms raised so that all N rooms mix.
// OLD_BINARY=1: for a palabre from before these keys (side-by-side runs).
const srv = await startPalabre({
  config: process.env.OLD_BINARY ? {} :
    { limits: { connections_per_ip: 10000, rooms_per_ip_per_minute: 10000 },
      mixer: { max_rooms: N } },
  logLevel: 'warn',
});
const pid = srv.proc.pid;
const clients = [];
let mixed = 0;
try {
  const rss0 = rssKiB(pid);
  for (let i = 0; i < N; i++) {
    const c = await connect(srv.wsUrl);
    clients.push(c);
    const d = await c.call('join', { room: `mixed-idle-${i}`, name: `Salle ${i}`, receive: 'mixed' });
    if (d.receive === 'mixed' || (process.env.OLD_BINARY && !d.receive_error)) mixed++;
  }
  await sleep(3000); // mixers started, first offers sent
  const t0 = cpuTicks(pid), w0 = Date.now();
  await sleep(SECONDS * 1000);
  const cpu = (cpuTicks(pid) - t0) / HZ / ((Date.now() - w0) / 1000);
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  const gauge = (name) => +(metrics.match(new RegExp(`^${name} (\\S+)`, 'm')) || [0, NaN])[1];
  console.log(JSON.stringify({
    rooms: N, mixed, seconds: SECONDS,
    cpu_fraction_of_a_core: +cpu.toFixed(4),
    rss_mib: +(rssKiB(pid) / 1024).toFixed(1),
    rss_before_joins_mib: +(rss0 / 1024).toFixed(1),
    palabre_mixer_rooms: gauge('palabre_mixer_rooms'),
    palabre_mixer_rooms_admitted: gauge('palabre_mixer_rooms_admitted'),
  }));
} finally {
  for (const c of clients) c.ws.terminate();
  await srv.stop();
}
