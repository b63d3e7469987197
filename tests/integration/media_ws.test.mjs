// The whole path through the real server: WebSocket signaling (join,
// publish, subscribe_offer/subscribe_answer, ice_candidate) handled by
// signaling/media_signaling.c, media by the SFU, two Chromium peers. Skipped
// (with the reason) while the server binary does not handle `publish`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, until } from '../lib/media_bridge.mjs';

import * as lib from '../lib/palabre.mjs';
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

// Trickle between a page's window[pcVar] and a ws client, for PeerConnection pc.
function trickle(page, client, pc, pcVar) {
  let seen = 0;
  const timer = setInterval(async () => {
    for (; seen < client.events.length; seen++) {
      const ev = client.events[seen];
      if (ev.type !== 'ice_candidate' || ev.pc !== pc || !ev.candidate) continue;
      page.evaluate(([v, c]) => window[v].addIceCandidate(c), [pcVar, ev.candidate]).catch(() => {});
    }
    let cands;
    try { cands = await page.evaluate((v) => window[v + 'Cands'].splice(0), pcVar); } catch { return; }
    for (const c of cands) client.request('ice_candidate', { pc, candidate: c }).catch(() => {});
  }, 30);
  return () => clearInterval(timer);
}

const newPc = (name) => `
  window.${name} = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  window.${name}Cands = [];
  window.${name}.onicecandidate = (e) => window.${name}Cands.push(e.candidate ? e.candidate.toJSON() : null);`;

async function answerOffers(page, client, stopAt) {
  // answers every subscribe_offer in order; returns the last version answered
  let version = 0;
  for (let i = 0; ; i++) {
    const ev = await client.event('subscribe_offer', { timeout: seconds(30) });
    const sdp = await page.evaluate(async (o) => {
      await window.sub.setRemoteDescription({ type: 'offer', sdp: o });
      await window.sub.setLocalDescription(await window.sub.createAnswer());
      return window.sub.localDescription.sdp;
    }, ev.sdp);
    const r = await client.request('subscribe_answer', { sdp, version: ev.version });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    version = ev.version;
    if (stopAt(ev)) return version;
  }
}

test('two browsers through the WebSocket signaling: publish, subscribe, decode, leave', { timeout: seconds(120) }, async (t) => {
  const alice = await lib.connect(srv.wsUrl, { origin: srv.url });
  const bob = await lib.connect(srv.wsUrl, { origin: srv.url });
  const a = await alice.call('join', { room: 'demo', name: 'Alice' });
  await bob.call('join', { room: 'demo', name: 'Bob' });
  const alicePage = await browser.newPage();
  await alicePage.goto(srv.url + '/healthz');
  const offer = await alicePage.evaluate(async (init) => {
    eval(init);
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    for (const tr of s.getTracks()) window.pub.addTransceiver(tr, { direction: 'sendonly', streams: [s] });
    await window.pub.setLocalDescription(await window.pub.createOffer());
    return window.pub.localDescription.sdp;
  }, newPc('pub'));
  const r = await alice.request('publish', { sdp: offer });
  assert.equal(r.ok, true, JSON.stringify(r.error));
  await alicePage.evaluate((sdp) => window.pub.setRemoteDescription({ type: 'answer', sdp }), r.data.sdp);
  const stopA = trickle(alicePage, alice, 'publish', 'pub');

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
