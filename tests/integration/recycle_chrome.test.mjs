// Recycled m-lines (issue 10) checked by a real browser: a Chromium
// RTCPeerConnection is the subscribe PC of one participant of a real
// palabre (its offers and answers carried over the WebSocket from here);
// the publishers are protocol-level clients (tests/lib/sdp_client.mjs).
// Chromium must accept an offer that rejects the m-lines of a participant
// who left and then recycles them, under new mids, for a newcomer (a new
// transceiver and a `track` event with the newcomer's stream id), and an
// offer of 255 m-lines, and its answers must pass the server's check.
import '../lib/timeouts.mjs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { startPalabre, connect } from '../lib/palabre.mjs';
import { CHROMIUM_ARGS } from '../lib/media_e2e.mjs';
import { publishOffer, mediaSections } from '../lib/sdp_client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let browser, page, pages, srv;

before(async () => {
  pages = createServer((req, res) => res.end('<!doctype html><title>sub</title>'));
  await new Promise((r) => pages.listen(0, '127.0.0.1', r));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${pages.address().port}/`);
  srv = await startPalabre({
    config: { limits: { max_participants_per_room: 200, connections_per_ip: 200 }, media: { media_workers: 1 } },
    timeout: 20000,
  });
});

after(async () => {
  await browser?.close();
  pages?.close();
  await srv?.stop();
});

// The subscriber: every subscribe_offer goes to Chromium, its answer back.
async function subscriber() {
  const c = await connect(srv.wsUrl, { timeout: 30000 });
  const data = await c.call('join', { room: 'conseil', name: 'Abonnée' });
  await page.evaluate(() => {
    window.sub = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.tracks = [];
    window.sub.ontrack = (e) => window.tracks.push({ kind: e.track.kind, stream: e.streams[0]?.id, mid: e.transceiver.mid });
  });
  const s = { c, id: data.participant.id, version: 0, sdp: null };
  s.sync = async () => { // answers the latest offer, until none is pending
    for (;;) {
      const offers = c.events.filter((e) => e.type === 'subscribe_offer');
      const last = offers[offers.length - 1];
      if (!last || last.version <= s.version) return;
      const answer = await page.evaluate(async (sdp) => {
        await window.sub.setRemoteDescription({ type: 'offer', sdp });
        await window.sub.setLocalDescription(await window.sub.createAnswer());
        return window.sub.localDescription.sdp;
      }, last.sdp);
      const r = await c.request('subscribe_answer', { sdp: answer, version: last.version });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      s.version = last.version;
      s.sdp = last.sdp;
      await sleep(100); // an offer the answer released comes at once
    }
  };
  return s;
}

async function publisher() {
  const c = await connect(srv.wsUrl, { timeout: 30000 });
  const data = await c.call('join', { room: 'conseil', name: 'Élu' });
  await c.call('publish', { sdp: publishOffer() });
  return { c, id: data.participant.id };
}

const active = (sdp) => mediaSections(sdp).filter((m) => m.port && m.direction === 'sendonly');

test('Chromium takes recycled m-lines (new mids) and an offer of 255 m-lines', { timeout: 300000 }, async () => {
  const sub = await subscriber();
  const p1 = await publisher();
  const p2 = await publisher();
  await sleep(200);
  await sub.sync();
  assert.deepEqual(active(sub.sdp).map((m) => m.stream).sort(), [p1.id, p1.id, p2.id, p2.id].sort());

  await p1.c.call('leave');
  await sleep(200);
  await sub.sync();
  const gone = mediaSections(sub.sdp).filter((m) => m.port === 0);
  assert.equal(gone.length, 1, sub.sdp); // p1's video (its audio, the first m-line, stays inactive)
  const rejectedAt = mediaSections(sub.sdp).findIndex((m) => m.port === 0);

  const p3 = await publisher();
  await sleep(200);
  await sub.sync();
  const secs = mediaSections(sub.sdp);
  assert.equal(secs[rejectedAt].stream, p3.id, 'the rejected m-line carries the newcomer');
  assert.notEqual(secs[rejectedAt].mid, gone[0].mid, 'under a new mid');
  assert.equal(secs[rejectedAt].direction, 'sendonly');
  const tracks = await page.evaluate(() => window.tracks);
  assert.ok(tracks.some((t) => t.stream === p3.id && t.mid === secs[rejectedAt].mid && t.kind === 'video'),
    JSON.stringify(tracks));
  const states = await page.evaluate(() => window.sub.getTransceivers().map((t) => [t.mid, t.currentDirection]));
  assert.ok(states.some(([mid, dir]) => mid === secs[rejectedAt].mid && dir === 'recvonly'), JSON.stringify(states));

  // Grow to 126 publishers: 2 x 126 = 252 active m-lines + the inactive first
  // and what awaits recycling stay within 255.
  const more = [];
  for (let i = 0; i < 123; i += 10)
    more.push(...await Promise.all(Array.from({ length: Math.min(10, 123 - i) }, publisher)));
  await sleep(500);
  await sub.sync();
  assert.equal(active(sub.sdp).length, 2 * 125, `${active(sub.sdp).length} active m-lines`);
  assert.ok(mediaSections(sub.sdp).length <= 255);
  const n = await page.evaluate(() => window.sub.getTransceivers().filter((t) => t.currentDirection === 'recvonly').length);
  assert.equal(n, 2 * 125);
  await Promise.all([sub, p2, p3, ...more].map((p) => p.c.close().catch(() => {})));
});
