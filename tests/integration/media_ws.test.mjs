// The whole path through the real server: WebSocket signaling (join,
// publish, subscribe_offer/subscribe_answer, ice_candidate) handled by
// signaling/media_signaling.c, media by the SFU, two Chromium peers. Skipped
// (with the reason) while the server binary does not handle `publish`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, until } from '../lib/media_bridge.mjs';

import * as lib from '../lib/palabre.mjs';
import { newPc, trickle, answerOffers, publishCamera } from '../lib/raw_pc.mjs';
import { seconds } from '../lib/timeouts.mjs';

let srv, browser;
before(async () => {
  srv = await lib.startPalabre({ logLevel: 'info', timeout: 10000 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });
after(async () => {
  await browser?.close();
  await srv?.stop();
}, { timeout: seconds(120) });

test('two browsers through the WebSocket signaling: publish, subscribe, decode, leave', { timeout: seconds(120) }, async (t) => {
  const alice = await lib.connect(srv.wsUrl, { origin: srv.url });
  const bob = await lib.connect(srv.wsUrl, { origin: srv.url });
  const a = await alice.call('join', { room: 'demo', name: 'Alice' });
  await bob.call('join', { room: 'demo', name: 'Bob' });
  const alicePage = await browser.newPage();
  await alicePage.goto(srv.url + '/healthz');
  const stopA = await publishCamera(alicePage, alice);

  const bobPage = await browser.newPage();
  await bobPage.goto(srv.url + '/healthz');
  await bobPage.evaluate((init) => eval(init), newPc('sub'));
  const stopB = trickle(bobPage, bob, 'subscribe', 'sub');
  const first = answerOffers(bobPage, bob, (ev) => ev.sdp.includes(a.participant.id));
  await first;
  const st = await until(() => bobPage.evaluate(async () => {
    let frames = 0, audio = 0;
    (await window.sub.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audio += s.packetsReceived || 0;
    });
    return frames >= 10 && audio >= 20 ? { frames, audio } : null;
  }), 30000, 'bob decodes alice');
  assert.ok(st.frames >= 10);

  // alice leaves: bob is offered her tracks as inactive
  await alice.call('leave');
  const v = await answerOffers(bobPage, bob, (ev) => !ev.sdp.includes('a=sendonly'));
  assert.ok(v >= 2);
  stopA(); stopB();
  await alice.close(); await bob.close();
  await alicePage.close(); await bobPage.close();
});
