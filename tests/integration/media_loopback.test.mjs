// The media engine with real Chromium peers on 127.0.0.1 (run inside a
// private network namespace by tests/run.sh): one browser publishes its
// fake camera and microphone, a second subscribes and must decode frames and
// audio. A publisher that lies about its certificate fingerprint gets
// dtls_failed. Signaling is replaced by tests/lib/media_bridge.mjs (the
// WebSocket path is covered by the e2e suites).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS, startBridge, startPageServer, publish, subscribe, inboundStats, until,
} from '../lib/media_bridge.mjs';
import { seconds } from '../lib/timeouts.mjs';

let bridge, pages, browser, fingerprint, ctx;
const ROOM = 'demo';

before(async () => {
  bridge = startBridge();
  fingerprint = (await bridge.waitFor((e) => e.ev === 'ready', 10000, 'bridge ready')).fingerprint;
  pages = await startPageServer();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  ctx = { bridge, browser, pages, fingerprint, room: ROOM };
}, { timeout: seconds(120) });

after(async () => {
  await browser?.close();
  await pages?.close();
  await bridge?.stop();
}, { timeout: seconds(120) });

test('one browser publishes, a second decodes its video and audio through the SFU', { timeout: seconds(120) }, async () => {
  const alice = await publish(ctx, 'alice');
  assert.equal(alice.tracks.length, 2);
  const conn = await bridge.waitFor((e) => e.ev === 'connected' && e.pid === 'alice', 20000, 'alice connected');
  assert.match(conn.profile, /AES_128_GCM|AES128_CM_SHA1_80/);
  const bob = await subscribe(ctx, 'bob', 'alice', alice.tracks);
  await bridge.waitFor((e) => e.ev === 'connected' && e.pid === 'bob', 20000, 'bob connected');
  const st = await until(async () => {
    const s = await inboundStats(bob.page);
    return s.framesDecoded >= 10 && s.audioPackets >= 20 ? s : null;
  }, 30000, 'bob decodes alice');
  assert.ok(st.framesDecoded >= 10);
  bridge.send({ cmd: 'remove', room: ROOM, pid: 'alice' });
  bridge.send({ cmd: 'remove', room: ROOM, pid: 'bob' });
  alice.stop(); bob.stop();
  await alice.page.close(); await bob.page.close();
});

test('a publisher whose certificate does not match its SDP fingerprint gets dtls_failed', { timeout: seconds(120) }, async () => {
  const eve = await publish(ctx, 'eve', { lieAboutFingerprint: true });
  const ev = await bridge.waitFor((e) => e.ev === 'failed' && e.pid === 'eve', 20000, 'eve failure');
  assert.equal(ev.code, 'dtls_failed');
  assert.match(ev.reason, /fingerprint/i);
  bridge.send({ cmd: 'remove', room: ROOM, pid: 'eve' });
  eve.stop();
  await eve.page.close();
});
