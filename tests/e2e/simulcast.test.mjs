// Simulcast end to end: Chromium publishers send their camera as three VP8
// encodings (rid q/h/f); the server forwards each subscriber the layer its tile
// needs. Assertions read the subscriber's getStats() (frameWidth of the
// inbound video, packets received), and what the publisher's browser sends.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre, join, waitDecoding, until, metrics } from '../lib/media_e2e.mjs';
import { seconds } from '../lib/timeouts.mjs';

let server, browser;
const open = [];

before(async () => {
  server = await startPalabre();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open) await p.leave().catch(() => {});
  await browser?.close();
  await server?.stop();
}, { timeout: seconds(120) });

afterEach(async () => { for (const p of open.splice(0)) await p.leave().catch(() => {}); }, { timeout: seconds(60) });

async function participant(room, name, opts) {
  const p = await join(browser, server.base, room, name, opts);
  open.push(p);
  return p;
}

// What the publisher's browser sends: outbound video per rid.
const outbound = (p) => p.page.evaluate(async () => {
  const out = {};
  (await window.__palabre.pcs.publish.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') out[r.rid || '-'] = { frameWidth: r.frameWidth || 0, packetsSent: r.packetsSent };
  });
  return out;
});

const video = async (viewer, from) => (await viewer.stats())[from.id]?.video;

test('simulcast: a small tile gets a low layer, a big one the full layer, a hidden one no packets', { timeout: seconds(300) }, async () => {
  const room = 'simulcast-views';
  const a = await participant(room, 'Alice');
  const b = await participant(room, 'Bruno');
  const c = await participant(room, 'Chloé');
  await waitDecoding(b, [a], { audio: false });
  await waitDecoding(c, [a], { audio: false });

  // Alice's browser sends her camera (640x360) as two encodings, h and f, from
  // the lowest resolution up (q too from a camera of 960x540 or more)
  const layers = await until(async () => {
    const o = await outbound(a);
    return o.h?.frameWidth > 0 && o.f?.frameWidth > 0 && o;
  }, 30000, 'Alice sends the h and f encodings');
  console.log(`# Alice sends ${JSON.stringify(layers)}`);
  assert.ok(layers.h.frameWidth < layers.f.frameWidth);
  const full = layers.f.frameWidth;

  // Bruno's tile is big: the full layer
  await until(async () => (await video(b, a))?.frameWidth === full, 20000, 'Bruno decodes the full layer');

  // Chloé's window shrinks: her client reports the small tile and gets a lower layer
  await c.page.setViewportSize({ width: 320, height: 240 });
  const told = await until(() => c.sent.findLast((m) => m.type === 'set_track_view' &&
    m.participant_id === a.id && m.visible && m.width > 0 && m.width < 320), 20000, 'Chloé reports her small tile');
  console.log(`# Chloé's tile of Alice: ${told.width}x${told.height}`);
  const low = await until(async () => {
    const v = await video(c, a);
    return v && v.frameWidth > 0 && v.frameWidth < full && v;
  }, 20000, 'Chloé decodes a lower layer');
  // and keeps decoding it (the switch went through a keyframe)
  await until(async () => (await video(c, a)).framesDecoded > low.framesDecoded + 10, 20000, 'Chloé keeps decoding');
  // Bruno, meanwhile, still gets the full layer
  assert.equal((await video(b, a)).frameWidth, full);

  // Chloé hides the tile: no more packets of Alice's video
  const view = (body) => c.page.evaluate((body) => window.__palabre.request('set_track_view', body)
    .catch((e) => { throw new Error(JSON.stringify(e)); }), body);
  await view({ participant_id: a.id, source: 'camera', width: 0, height: 0, visible: false });
  await new Promise((r) => setTimeout(r, 1000)); // what was in flight arrives
  const hidden = await video(c, a);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await video(c, a)).packetsReceived, hidden.packetsReceived, 'no packet for a hidden tile');

  // shown big again: the full layer, decoding resumes
  await view({ participant_id: a.id, source: 'camera', width: 1280, height: 720, visible: true });
  await until(async () => {
    const v = await video(c, a);
    return v.frameWidth === full && v.framesDecoded > hidden.framesDecoded + 10;
  }, 20000, 'Chloé decodes the full layer again');

  const m = await metrics(server.base);
  assert.ok(m.get('palabre_media_layer_switches_total') >= 2, 'layer switches counted');
  // the subscribers' transport-cc feedback on what the server sends them gives
  // each a send-side bandwidth estimate
  const est = await until(async () => {
    const mm = await metrics(server.base);
    return mm.get('palabre_media_bwe_subscribers') >= 3 && mm;
  }, 20000, 'an estimate for each subscriber');
  console.log(`# estimates: min ${est.get('palabre_media_bwe_estimate_min_bps')} bit/s, mean ${est.get('palabre_media_bwe_estimate_avg_bps')} bit/s`);
  assert.ok(est.get('palabre_media_bwe_estimate_min_bps') > 0);
  // and the per-room summaries name this room: the same subscribers, an
  // estimate between the room's lowest and the mean
  const per = (name) => est.get(`${name}{room="${room}"}`);
  console.log(`# room ${room}: ${per('palabre_media_room_bwe_subscribers')} subscribers, ` +
    `min ${per('palabre_media_room_bwe_estimate_min_bps')} bit/s, avg ${per('palabre_media_room_bwe_estimate_avg_bps')} bit/s`);
  assert.ok(per('palabre_media_room_bwe_subscribers') >= 3, 'the room\'s subscribers with an estimate');
  assert.ok(per('palabre_media_room_bwe_estimate_min_bps') > 0);
  assert.ok(per('palabre_media_room_bwe_estimate_avg_bps') >= per('palabre_media_room_bwe_estimate_min_bps'));
  assert.equal(per('palabre_media_room_bwe_paused_tracks'), 0, 'nothing paused for bandwidth here');
  assert.ok(per('palabre_media_room_bwe_subscribers') <= est.get('palabre_media_bwe_subscribers'));
  assert.equal(typeof per('palabre_media_room_layer_switches_bandwidth_total'), 'number');
});

test('set_track_view: bad fields get clear errors', { timeout: seconds(120) }, async () => {
  const room = 'simulcast-errors';
  const a = await participant(room, 'Alice');
  const b = await participant(room, 'Bruno');
  await waitDecoding(b, [a], { audio: false });
  const ask = (body) => b.page.evaluate((body) => window.__palabre.request('set_track_view', body)
    .then((d) => ({ ok: true, d }), (e) => ({ ok: false, code: e.code, field: e.field })), body);
  const good = { participant_id: a.id, source: 'camera', width: 100, height: 100, visible: true };
  assert.deepEqual((await ask(good)).ok, true);
  assert.deepEqual(await ask({ ...good, source: 'mic' }), { ok: false, code: 'bad_field', field: 'source' });
  assert.deepEqual(await ask({ ...good, width: -1 }), { ok: false, code: 'bad_field', field: 'width' });
  assert.deepEqual(await ask({ ...good, visible: undefined }), { ok: false, code: 'missing_field', field: 'visible' });
  assert.deepEqual(await ask({ ...good, participant_id: 'p_nobody' }), { ok: false, code: 'unknown_participant', field: 'participant_id' });
  assert.deepEqual(await ask({ ...good, source: 'screen' }), { ok: false, code: 'unknown_track', field: 'source' });
});
