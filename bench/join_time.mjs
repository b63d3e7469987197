// Join to first decoded frame through the whole stack: palabre (signaling +
// media) on 127.0.0.1, the real client at /r/<room>, Chromium with a fake camera.
// Alice publishes; then, N times, a new participant opens the room link and we
// record the time from the start of its navigation to its first decoded frame of
// Alice's video (page load, WebSocket join, publish, subscribe offer/answer, ICE,
// DTLS, keyframe request, decode), read inside the page (performance.now()).
// Run by bench/join.sh inside a private network namespace.
//   node bench/join_time.mjs [joins]
import { chromium } from '../tests/node_modules/playwright-core/index.mjs';
import { CHROMIUM_ARGS, startPalabre, missingPrerequisite, join } from '../tests/lib/media_e2e.mjs';

const joins = Number(process.argv[2] || 20);
let server;
try {
  server = await startPalabre();
} catch (e) {
  if (e.exitCode !== 0) throw e;
  console.log('join to first frame: not measured (this palabre build serves no HTTP yet)');
  process.exit(0);
}
const missing = await missingPrerequisite(server.base);
if (missing) {
  console.log(`join to first frame: not measured (${missing})`);
  await server.stop();
  process.exit(0);
}
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
const room = 'bench-join';
const alice = await join(browser, server.base, room, 'Alice');
const times = [];
for (let i = 0; i < joins; i++) {
  const p = await join(browser, server.base, room, `Joiner ${i}`);
  // in the page, every 20 ms; performance.now() counts from its navigation start
  const ms = await p.page.evaluate(async (aid) => {
    for (const end = performance.now() + 30000; performance.now() < end;) {
      const st = await window.__palabre.remoteStats();
      if (st[aid]?.video?.framesDecoded > 0) return performance.now();
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no frame from Alice within 30 s');
  }, alice.id);
  times.push(ms);
  await p.leave();
}
await alice.leave();
await browser.close();
await server.stop();
times.sort((a, b) => a - b);
const q = (f) => times[Math.min(times.length - 1, Math.ceil(f * times.length) - 1)].toFixed(0);
console.log(`join to first decoded frame, ${joins} joins (navigation start -> first frame, polled in the page every 20 ms):`);
console.log(`  p50 ${q(0.5)} ms  p95 ${q(0.95)} ms  min ${times[0].toFixed(0)} ms  max ${times[times.length - 1].toFixed(0)} ms`);
