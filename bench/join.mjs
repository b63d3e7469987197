// Join to first frame: how long a subscriber waits, phase by phase, with real
// Chromium peers on 127.0.0.1 and the media engine behind bench_join (the
// signaling messages are replaced by direct calls, so WS round trips are not
// counted). Run by bench/media_join.sh inside a private network namespace.
//   node bench/join.mjs [runs]
import { chromium } from '../tests/node_modules/playwright-core/index.mjs';
import {
  CHROMIUM_ARGS, startBridge, startPageServer, publish, subscribe, until,
} from '../tests/lib/media_bridge.mjs';

const runs = Number(process.argv[2] || 5);
const bridge = startBridge(process.env.PALABRE_BUILD || 'build');
const fingerprint = (await bridge.waitFor((e) => e.ev === 'ready')).fingerprint;
const pages = await startPageServer();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
const rows = [];
for (let i = 0; i < runs; i++) {
  const room = `bench-${i}`;
  const ctx = { bridge, browser, pages, fingerprint, room };
  const alice = await publish(ctx, 'alice');
  await bridge.waitFor((e) => e.ev === 'connected' && e.pid === 'alice' && e.room === room);
  await new Promise((r) => setTimeout(r, 1500)); // publisher past its first keyframe
  const t0 = performance.now();
  const mark = {};
  const off = bridge.on((e) => {
    if (e.room === room && e.pid === 'bob' && e.ev === 'connected') mark.dtls = performance.now() - t0;
  });
  const bob = await subscribe(ctx, 'bob', 'alice', alice.tracks);
  mark.answer = performance.now() - t0;
  await until(async () => {
    const s = await bob.page.evaluate(async () => {
      let ice = window.sub.iceConnectionState, pkts = 0, frames = 0;
      (await window.sub.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') { pkts += r.packetsReceived || 0; frames += r.framesDecoded || 0; }
      });
      return { ice, pkts, frames };
    });
    const now = performance.now() - t0;
    if (!mark.ice && (s.ice === 'connected' || s.ice === 'completed')) mark.ice = now;
    if (!mark.rtp && s.pkts > 0) mark.rtp = now;
    if (!mark.frame && s.frames > 0) mark.frame = now;
    return mark.frame;
  }, 30000, 'first frame');
  off();
  rows.push(mark);
  bridge.send({ cmd: 'remove', room, pid: 'alice' });
  bridge.send({ cmd: 'remove', room, pid: 'bob' });
  alice.stop(); bob.stop();
  await alice.page.close(); await bob.page.close();
}
const med = (k) => {
  const v = rows.map((r) => r[k]).filter((x) => x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)].toFixed(0) : '-';
};
console.log(`join to first frame, ${runs} runs, median ms since the subscribe offer was built:`);
console.log(`  answer applied ${med('answer')}  ICE connected (browser) ${med('ice')}  DTLS done (server) ${med('dtls')}  first video RTP ${med('rtp')}  first decoded frame ${med('frame')}`);
console.log('  per run (frame ms):', rows.map((r) => r.frame.toFixed(0)).join(' '));
await browser.close();
await pages.close();
await bridge.stop();
