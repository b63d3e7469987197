// Simulcast driven by the subscriber's bandwidth estimate (issue 14), through a
// real rate limit. tests/run.sh runs this file in a private network namespace
// (the server's host); tests/lib/netns.mjs adds a namespace for one subscriber,
// joined by a veth pair whose server end is shaped with `tc ... tbf` (no netem
// on this kernel): the subscriber's downlink is limited, its uplink is not.
//
//   Alice, Bruno (Chromium here, 127.0.0.1)   palabre on 0.0.0.0   sb0 10.77.8.1 ══ tbf ══ 10.77.8.2 Chloé (Chromium in "slow")
//
// Alice publishes her camera as VP8 simulcast; Bruno and Chloé publish audio
// only (their cameras off: the only video Chloé's estimate is shared by is
// Alice's; Bruno leaves before step 2). The server numbers what it sends to Chloé (transport-cc) and reads
// her feedback: the estimate, not the view, chooses her layer.
//   1. limited to 300 kbit/s, Chloé gets a lower layer than the full one and
//      keeps decoding it, her tile says "reduced (network)"; Bruno, unlimited,
//      keeps the full layer;
//   2. limited to 50 kbit/s, Chloé's video is paused (no more packets), her
//      audio goes on, her tile says "paused (network)";
//   3. the limit lifted, the full layer comes back and the indicator goes.
// Timeouts are generous (a loaded machine): behaviour is asserted, not speed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, join, until, metrics, freePort } from '../lib/media_e2e.mjs';
import { Netns, SELF, link, unlinkSelf, startPalabreIn } from '../lib/netns.mjs';
import { BIN } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const ADDR = { self: '10.77.8.1', slow: '10.77.8.2' };
let dir, slow, server, browser, slowBrowser;
const open = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-bwe-'));
  slow = await Netns.create('slow');
  await link(SELF, 'sb0', `${ADDR.self}/24`, slow, 'sb1', `${ADDR.slow}/24`);
  const port = await freePort();
  server = await startPalabreIn(SELF, { bin: BIN, dir, name: 'bwe', listen: `0.0.0.0:${port}`,
    base: `http://127.0.0.1:${port}`, timeoutMs: 15000 * TIME_SCALE, ini: '[access]\nagents = open\n' });
  server.slowBase = `http://${ADDR.self}:${port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  slowBrowser = await chromium.launch({ executablePath: slow.wrapper(dir, '/usr/bin/chromium'),
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${server.slowBase}`] });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  await browser?.close().catch(() => {});
  await slowBrowser?.close().catch(() => {});
  await server?.stop();
  unlinkSelf();
  await slow?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, { timeout: seconds(120) });

// Chloé's downlink: tbf on the server's end of her link (null: unlimited).
function limit(kbit) {
  if (kbit === null) {
    SELF.run('tc', ['qdisc', 'del', 'dev', 'sb0', 'root']);
    return;
  }
  SELF.run('tc', ['qdisc', 'replace', 'dev', 'sb0', 'root', 'tbf', 'rate', `${kbit}kbit`,
    'burst', '32kbit', 'latency', '400ms']);
}

// What the publisher's browser sends: outbound video per rid.
const outbound = (p) => p.page.evaluate(async () => {
  const out = {};
  (await window.__palabre.pcs.publish.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') out[r.rid || '-'] = { frameWidth: r.frameWidth || 0 };
  });
  return out;
});

const video = async (viewer, from) => (await viewer.stats())[from.id]?.video;

// The viewer's audio received from every publisher, summed: packets and the
// share of samples concealed (lost or late) since `base`.
async function audio(viewer) {
  return viewer.page.evaluate(async () => {
    const out = { packetsReceived: 0, concealedSamples: 0, totalSamplesReceived: 0 };
    (await window.__palabre.pcs.subscribe.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
      out.packetsReceived += r.packetsReceived || 0;
      out.concealedSamples += r.concealedSamples || 0;
      out.totalSamplesReceived += r.totalSamplesReceived || 0;
    });
    return out;
  });
}

// The indicator on the viewer's tile of `from`'s camera: {quality, text} or null.
const indicator = (viewer, from) => viewer.page.evaluate((id) => {
  const tile = [...document.querySelectorAll('.media-tile')]
    .find((t) => t.dataset.participantId === id && !t.dataset.screen);
  const badge = tile?.querySelector('.media-quality');
  return badge ? { quality: tile.dataset.quality, text: badge.textContent, role: badge.getAttribute('role') } : null;
}, from.id);

// In the page: the track_quality events the server sends, in window.__quality.
function recordQuality() {
  window.__quality = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        try { const m = JSON.parse(e.data); if (m.type === 'track_quality') window.__quality.push(m); } catch { /* not JSON */ }
      });
    }
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('bandwidth: a limited subscriber gets a lower layer, then video paused with audio kept, then the full layer back', { timeout: seconds(600) }, async () => {
  const room = 'bwe-tbf';
  const a = await join(browser, server.base, room, 'Alice');
  open.push(a);
  const b = await join(browser, server.base, room, 'Bruno');
  open.push(b);
  const c = await join(slowBrowser, server.slowBase, room, 'Chloé', { initScript: recordQuality });
  open.push(c);
  for (const p of [b, c]) await p.page.evaluate(() => window.__palabre.media.setCamera(false));
  const quality = () => c.page.evaluate(() => window.__quality);

  // Alice's browser sends h and f (its camera is 640x360), f the wider (a
  // loaded machine makes Chromium shrink its encodings for a while: wait)
  const layers = await until(async () => {
    const o = await outbound(a);
    return o.h?.frameWidth > 0 && o.f?.frameWidth > o.h.frameWidth && o;
  }, 90000 * TIME_SCALE, 'Alice sends h and f, f the wider');
  console.log(`# Alice sends ${JSON.stringify(layers)}`);
  // unlimited: both get Alice's full layer
  const full = await until(async () => {
    const v = await video(b, a);
    const w = await video(c, a);
    return v?.frameWidth > layers.h.frameWidth && v.frameWidth === w?.frameWidth && v.framesDecoded > 10 &&
      v.frameWidth;
  }, 90000 * TIME_SCALE, 'Bruno and Chloé decode the same (full) layer');
  console.log(`# full layer: ${full} px wide`);
  await sleep(5000); // the estimate settles at what flows

  // 1. 300 kbit/s
  limit(300);
  const low = await until(async () => {
    const v = await video(c, a);
    return v && v.frameWidth > 0 && v.frameWidth < full && v;
  }, 60000 * TIME_SCALE, 'Chloé gets a lower layer at 300 kbit/s');
  console.log(`# at 300 kbit/s: ${low.frameWidth} px wide`);
  const ind = await until(() => indicator(c, a), 20000 * TIME_SCALE, 'the reduced indicator on Chloé\'s tile');
  assert.equal(ind.quality, 'reduced');
  assert.equal(ind.role, 'status');
  assert.match(ind.text, /\((réseau|network)\)/);
  const told = await quality();
  assert.ok(told.some((m) => m.participant_id === a.id && m.source === 'camera' &&
    m.reason === 'bandwidth' && m.paused === false && typeof m.layer === 'string'), JSON.stringify(told));
  // she keeps decoding it (and hearing), few freezes
  const a1 = await audio(c);
  const s1 = await video(c, a);
  await sleep(10000);
  const s2 = await video(c, a);
  const a2 = await audio(c);
  console.log(`# at 300 kbit/s over 10 s: ${s2.framesDecoded - s1.framesDecoded} frames, ` +
    `${s2.freezeCount - s1.freezeCount} freezes (${(s2.totalFreezesDuration - s1.totalFreezesDuration).toFixed(2)} s), ` +
    `width ${s2.frameWidth}, audio ${a2.packetsReceived - a1.packetsReceived} packets`);
  assert.ok(s2.framesDecoded > s1.framesDecoded + 20, 'Chloé keeps decoding at 300 kbit/s');
  assert.ok(a2.packetsReceived > a1.packetsReceived + 100, 'and keeps hearing');
  // Bruno, unlimited, keeps the full layer: as wide as what Alice's f sends now
  // (a loaded machine makes her Chromium shrink its encodings now and then)
  const fb = await until(async () => {
    const o = await outbound(a);
    const v = await video(b, a);
    return o.f?.frameWidth > 0 && v?.frameWidth === o.f.frameWidth && v;
  }, 30000 * TIME_SCALE, 'Bruno, unlimited, gets what Alice sends as f');
  console.log(`# Bruno: ${fb.frameWidth} px wide`);

  // 2. 50 kbit/s: video paused, audio kept. Bruno leaves first: two Opus streams
  // (some 45 kbit/s each with their headers) cannot both fit in 50 kbit/s, and
  // the point is what the server does with the video
  await b.leave();
  open.splice(open.indexOf(b), 1);
  limit(50);
  await until(async () => (await indicator(c, a))?.quality === 'paused', 60000 * TIME_SCALE,
    'the paused indicator on Chloé\'s tile at 50 kbit/s');
  assert.match((await indicator(c, a)).text, /(pause|paused) \((réseau|network)\)/);
  await sleep(3000); // what was queued drains
  const p1 = await video(c, a);
  const a3 = await audio(c);
  await sleep(4000);
  const p2 = await video(c, a);
  const a4 = await audio(c);
  const concealed = (a4.concealedSamples - a3.concealedSamples) /
    Math.max(1, a4.totalSamplesReceived - a3.totalSamplesReceived);
  console.log(`# at 50 kbit/s over 4 s: video ${p2.packetsReceived - p1.packetsReceived} packets, ` +
    `audio ${a4.packetsReceived - a3.packetsReceived} packets, ${(concealed * 100).toFixed(1)} % concealed`);
  // paused, save the probes that try the lowest layer now and then
  assert.ok(p2.packetsReceived - p1.packetsReceived < 100, 'Chloé\'s video is paused');
  assert.ok(a4.packetsReceived > a3.packetsReceived + 50, 'her audio goes on');
  const m = await metrics(server.base);
  assert.ok(m.get('palabre_media_layer_switches_bandwidth_total') >= 1, 'switches for bandwidth counted');
  console.log(`# metrics: bwe paused ${m.get('palabre_media_bwe_paused_tracks')}, estimates min ${m.get('palabre_media_bwe_estimate_min_bps')} bit/s`);

  // 3. lifted: the full layer comes back, the indicator goes
  limit(null);
  const t0 = Date.now();
  await until(async () => (await video(c, a))?.frameWidth === full && !(await indicator(c, a)),
    90000 * TIME_SCALE, 'Chloé back on the full layer once the limit is lifted');
  console.log(`# back on the full layer ${((Date.now() - t0) / 1000).toFixed(1)} s after the limit was lifted`);
  const r1 = await video(c, a);
  await until(async () => (await video(c, a)).framesDecoded > r1.framesDecoded + 20, 30000 * TIME_SCALE,
    'and decodes it');
});
