// The room's mix in the browser (issue 4): real palabre on 127.0.0.1 in a
// private network namespace (tests/run.sh), Debian's Chromium with fake camera
// and microphone. A participant who opens /r/<room>?receive=mixed (sent in
// its join, docs/protocol.md) receives
// exactly one audio and one video track (the server's mix and composite)
// instead of one per participant, both decoding, with sound; it switches to
// the mix and back with the toolbar button, without
// rejoining. Assertions read getStats() of the subscribe PC.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS, startPalabre, join, waitDecoding, until, metrics,
} from '../lib/media_e2e.mjs';
import { axeSerious } from '../lib/web.mjs';
import { seconds } from '../lib/timeouts.mjs';

let server, browser;
const open = [];

before(async () => {
  // a small composite: three Chromiums and the server share two cores
  server = await startPalabre({ config: { mixer: { video_width: 640, video_height: 360 } } });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open) await p.leave().catch(() => {});
  await browser?.close();
  await server?.stop();
}, { timeout: seconds(120) });

// Whoever a test opened leaves when it ends, passed or not: a participant left
// publishing would load the machine for every later test.
afterEach(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
}, { timeout: seconds(60) });

async function participant(room, name, opts) {
  const p = await join(browser, server.base, room, name, opts);
  open.push(p);
  return p;
}

// The subscribe PC's receiving tracks (transceivers not stopped, receiving),
// with the stream id the offer gave them and their inbound-rtp counters.
function receiving(p) {
  return p.page.evaluate(async () => {
    const pc = window.__palabre.pcs.subscribe;
    if (!pc) return [];
    const sdp = pc.remoteDescription?.sdp || '';
    const pidOf = {};
    let mid = null;
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('m=')) mid = null;
      else if (line.startsWith('a=mid:')) mid = line.slice(6).trim();
      else if (line.startsWith('a=msid:') && mid !== null) pidOf[mid] = line.slice(7).split(' ')[0];
    }
    const out = [];
    for (const tx of pc.getTransceivers()) {
      const dir = tx.currentDirection;
      if (tx.stopped || !(dir === 'recvonly' || dir === 'sendrecv')) continue;
      const r = { kind: tx.receiver.track.kind, pid: pidOf[tx.mid], packetsReceived: 0, framesDecoded: 0, audioLevel: 0, totalAudioEnergy: 0 };
      (await tx.receiver.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        r.packetsReceived = s.packetsReceived || 0;
        r.framesDecoded = s.framesDecoded || 0;
        r.audioLevel = s.audioLevel || 0;
        r.totalAudioEnergy = s.totalAudioEnergy || 0;
        r.frameWidth = s.frameWidth || 0;
      });
      out.push(r);
    }
    return out;
  });
}

// Waits until p receives only the mix, decoding video and hearing sound.
async function waitMixDecoding(p, what) {
  let heard = false;
  let first = null;
  return until(async () => {
    const rx = await receiving(p);
    const audio = rx.filter((r) => r.kind === 'audio');
    const video = rx.filter((r) => r.kind === 'video');
    if (audio.length !== 1 || video.length !== 1) return false;
    if (audio[0].pid !== 'mixer' || video[0].pid !== 'mixer') return false;
    if (!first) first = { a: audio[0].packetsReceived, v: video[0].framesDecoded };
    if (audio[0].audioLevel > 0) heard = true;
    return heard && audio[0].totalAudioEnergy > 0 && audio[0].packetsReceived - first.a >= 50 &&
      video[0].framesDecoded - first.v >= 10 && { audio: audio[0], video: video[0], all: rx };
  }, 45000, what);
}

test('receive=mixed: exactly one inbound audio and one inbound video, both decoding, with sound; the others are unaffected', { timeout: seconds(300) }, async (t) => {
  const room = 'mixed-three';
  const m = await participant(room, 'Mireille', { query: 'receive=mixed' });
  const a = await participant(room, 'Alice');
  const b = await participant(room, 'Bruno');

  const got = await waitMixDecoding(m, 'Mireille decodes the mix');
  assert.equal(got.all.length, 2, 'two receiving tracks in all');
  // the URL's receive=mixed rode on the join: no separate set_receive
  const joins = m.sent.filter((x) => x.type === 'join');
  assert.equal(joins.length, 1);
  assert.equal(joins[0].receive, 'mixed');
  assert.deepEqual(m.sent.filter((x) => x.type === 'set_receive'), []);
  // the room mixes on a mixer thread (its CPU is counted apart from the workers')
  const mm = await metrics(server.base);
  assert.equal(mm.get('palabre_mixer_rooms'), 1);
  assert.ok(mm.get('palabre_mixer_cpu_seconds_total') > 0);
  assert.ok(got.video.frameWidth > 0);
  // the others still receive one track per participant, Mireille's included
  await waitDecoding(a, [b, m], { audio: false });
  await waitDecoding(b, [a, m], { audio: false });

  // the mixed view is a labelled tile; the switch is a pressed toggle button
  const mixTile = m.page.locator('.media-tile[data-tile="mixer"]');
  // (French or English: the page follows the browser's language)
  assert.match(await mixTile.getAttribute('aria-label'), /^(Vue mixée de la réunion|Mixed view of the meeting)$/);
  const btn = m.page.getByRole('button', { name: /vue mixée|mixed view/i });
  assert.equal(await btn.getAttribute('aria-pressed'), 'true');
  assert.deepEqual(await axeSerious(m.page), []);
  for (const p of open.splice(0)) await p.leave().catch(() => {});
});

test('a participant switches to the mix and back to one track per participant without rejoining', { timeout: seconds(300) }, async (t) => {
  const room = 'mixed-switch';
  const a = await participant(room, 'Alice');
  const b = await participant(room, 'Bruno');
  const c = await participant(room, 'Chloé');
  await waitDecoding(c, [a, b], { audio: false });
  const pc = await c.page.evaluate(() => window.__palabre.pcs.subscribe !== null);
  assert.ok(pc);

  // to the mix, from the keyboard
  const btn = c.page.getByRole('button', { name: /vue mixée|mixed view/i });
  assert.equal(await btn.getAttribute('aria-pressed'), 'false');
  await btn.focus();
  await c.page.keyboard.press('Enter');
  await c.page.waitForFunction(() => document.querySelector('.media-btn-mixed').getAttribute('aria-pressed') === 'true',
    null, { timeout: seconds(15) });
  await waitMixDecoding(c, 'Chloé decodes the mix after switching');

  // and back: each participant's tracks again, the mix's tracks no longer received
  await btn.click();
  await until(async () => {
    const rx = await receiving(c);
    return rx.length === 4 && rx.every((r) => r.pid !== 'mixer');
  }, 20000, 'Chloé receives Alice\'s and Bruno\'s tracks again');
  await waitDecoding(c, [a, b], { audio: false });
  assert.equal(await c.page.locator('.media-tile[data-tile="mixer"]').count(), 0);
  // same participant, same page all along
  assert.equal(await c.page.evaluate(() => window.__palabre.selfId), c.id);
  for (const p of open.splice(0)) await p.leave().catch(() => {});
});
