// A browser page's raw RTCPeerConnections driven over palabre's WebSocket
// signaling (docs/protocol.md, Media), for protocol tests that need real
// media without the client UI (tests/integration/media_ws.test.mjs,
// moderation.test.mjs).
//
//   await page.evaluate((init) => eval(init), newPc('sub'));   window.sub (+ window.subCands)
//   const stop = trickle(page, client, 'subscribe', 'sub');    ice_candidate both ways; stop()
//   const stop = await publishCamera(page, client);           window.pub sends the fake
//                                                              camera and microphone; stop()
//   await answerOffers(page, client, (offer) => done);         answers subscribe_offer events
//                                                              in order until done; returns the
//                                                              last version answered
import assert from 'node:assert/strict';
import { seconds } from './timeouts.mjs';

// Script text: window[name], a PeerConnection as palabre wants it (BUNDLE,
// rtcp-mux), its local candidates kept in window[name + 'Cands'].
export const newPc = (name) => `
  window.${name} = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  window.${name}Cands = [];
  window.${name}.onicecandidate = (e) => window.${name}Cands.push(e.candidate ? e.candidate.toJSON() : null);`;

// Trickle between a page's window[pcVar] and a ws client, for PeerConnection pc.
export function trickle(page, client, pc, pcVar) {
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

// Answers every subscribe_offer with window.sub, in order, until stopAt(offer).
export async function answerOffers(page, client, stopAt) {
  for (;;) {
    const ev = await client.event('subscribe_offer', { timeout: seconds(30) });
    const sdp = await page.evaluate(async (o) => {
      await window.sub.setRemoteDescription({ type: 'offer', sdp: o });
      await window.sub.setLocalDescription(await window.sub.createAnswer());
      return window.sub.localDescription.sdp;
    }, ev.sdp);
    const r = await client.request('subscribe_answer', { sdp, version: ev.version });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    if (stopAt(ev)) return ev.version;
  }
}

// The page (on the server's origin) publishes Chromium's fake microphone
// and camera on window.pub; returns the trickle's stop function.
export async function publishCamera(page, client) {
  const offer = await page.evaluate(async (init) => {
    eval(init);
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    for (const tr of s.getTracks()) window.pub.addTransceiver(tr, { direction: 'sendonly', streams: [s] });
    await window.pub.setLocalDescription(await window.pub.createOffer());
    return window.pub.localDescription.sdp;
  }, newPc('pub'));
  const r = await client.request('publish', { sdp: offer });
  assert.equal(r.ok, true, JSON.stringify(r.error));
  await page.evaluate((sdp) => window.pub.setRemoteDescription({ type: 'answer', sdp }), r.data.sdp);
  return trickle(page, client, 'publish', 'pub');
}
