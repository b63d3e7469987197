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
  CHROMIUM_ARGS, startBridge, startPageServer, iceParams, parseSdp, publishTracks,
  buildPublishAnswer, buildSubscribeOffer, parseCandidate, formatCandidate,
} from '../lib/media_bridge.mjs';

let bridge, pages, browser, fingerprint;
const ROOM = 'demo';

before(async () => {
  bridge = startBridge();
  fingerprint = (await bridge.waitFor((e) => e.ev === 'ready', 10000, 'bridge ready')).fingerprint;
  pages = await startPageServer();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await pages?.close();
  await bridge?.stop();
});

// Trickle both ways between a page's RTCPeerConnection (window[pcVar]) and the bridge.
function trickle(page, pid, pc, pcVar) {
  const off = bridge.on((ev) => {
    if (ev.ev !== 'candidate' || ev.pid !== pid || ev.pc !== pc) return;
    page.evaluate(([v, c]) => window[v].addIceCandidate({ candidate: c, sdpMLineIndex: 0 }),
      [pcVar, formatCandidate(ev.candidate)]).catch(() => {});
  });
  // replay what came before the page was ready
  for (const ev of bridge.events.filter((e) => e.ev === 'candidate' && e.pid === pid && e.pc === pc)) {
    page.evaluate(([v, c]) => window[v].addIceCandidate({ candidate: c, sdpMLineIndex: 0 }),
      [pcVar, formatCandidate(ev.candidate)]).catch(() => {});
  }
  const timer = setInterval(async () => {
    let cands;
    try { cands = await page.evaluate((v) => window[v + 'Cands'].splice(0), pcVar); } catch { return; }
    for (const c of cands) {
      if (c === null) { bridge.send({ cmd: 'candidate', room: ROOM, pid, pc, candidate: null }); continue; }
      if (!c) continue;
      const parsed = parseCandidate(c);
      if (parsed.transport !== 'udp' || parsed.addr.endsWith('.local')) continue;
      bridge.send({ cmd: 'candidate', room: ROOM, pid, pc, candidate: parsed });
    }
  }, 30);
  return () => { off(); clearInterval(timer); };
}

async function publish(pid, { lieAboutFingerprint = false } = {}) {
  const page = await browser.newPage();
  await page.goto(pages.url);
  const offerSdp = await page.evaluate(async () => {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.pub = pc;
    window.pubCands = [];
    pc.onicecandidate = (e) => window.pubCands.push(e.candidate ? e.candidate.candidate : null);
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    for (const t of s.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [s] });
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription.sdp;
  });
  const offer = parseSdp(offerSdp);
  const tracks = publishTracks(offer);
  const ice = iceParams();
  let fp = offer.media[0].fingerprint;
  if (lieAboutFingerprint) fp = fp.replace(/^../, fp.startsWith('00') ? '11' : '00');
  bridge.send({ cmd: 'publish', room: ROOM, pid, local: ice,
    remote: { ufrag: offer.media[0].ufrag, pwd: offer.media[0].pwd }, fingerprint: fp, role: 'server', tracks });
  await page.evaluate((sdp) => window.pub.setRemoteDescription({ type: 'answer', sdp }),
    buildPublishAnswer(offer, ice, fingerprint));
  const stop = trickle(page, pid, 'publish', 'pub');
  return { page, tracks, stop };
}

async function subscribe(pid, publisher, publisherTracks) {
  const page = await browser.newPage();
  await page.goto(pages.url);
  const ice = iceParams();
  bridge.send({ cmd: 'subscribe_open', room: ROOM, pid, pc: 'subscribe', local: ice });
  const offered = publisherTracks.map((t, i) => ({
    mid: String(i), kind: t.kind, pt: t.kind === 'audio' ? 111 : 96, ssrc: 0x10000 + i,
    msid: `${publisher} ${t.track_id || t.kind}`, ext_audio_level: t.kind === 'audio' ? 1 : 0,
  }));
  for (const [i, t] of offered.entries()) {
    bridge.send({ cmd: 'consumer_add', room: ROOM, pid, producer: publisher,
      producer_mid: publisherTracks[i].mid, track: t });
  }
  const answerSdp = await page.evaluate(async (sdp) => {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.sub = pc;
    window.subCands = [];
    pc.onicecandidate = (e) => window.subCands.push(e.candidate ? e.candidate.candidate : null);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription.sdp;
  }, buildSubscribeOffer(offered, ice, fingerprint));
  const answer = parseSdp(answerSdp);
  const a = answer.media[0];
  bridge.send({ cmd: 'subscribe_remote', room: ROOM, pid, pc: 'subscribe', remote: { ufrag: a.ufrag, pwd: a.pwd },
    fingerprint: a.fingerprint, role: a.setup === 'active' ? 'server' : 'client' });
  const stop = trickle(page, pid, 'subscribe', 'sub');
  return { page, stop };
}

async function inboundStats(page) {
  return page.evaluate(async () => {
    const out = { framesDecoded: 0, audioPackets: 0, videoPackets: 0 };
    (await window.sub.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      if (r.kind === 'video') { out.framesDecoded += r.framesDecoded || 0; out.videoPackets += r.packetsReceived || 0; }
      if (r.kind === 'audio') out.audioPackets += r.packetsReceived || 0;
    });
    return out;
  });
}

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timeout: ${what}`);
}

test('one browser publishes, a second decodes its video and audio through the SFU', async () => {
  const alice = await publish('alice');
  assert.equal(alice.tracks.length, 2);
  const conn = await bridge.waitFor((e) => e.ev === 'connected' && e.pid === 'alice', 20000, 'alice connected');
  assert.match(conn.profile, /AES_128_GCM|AES128_CM_SHA1_80/);
  const bob = await subscribe('bob', 'alice', alice.tracks);
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

test('a publisher whose certificate does not match its SDP fingerprint gets dtls_failed', async () => {
  const eve = await publish('eve', { lieAboutFingerprint: true });
  const ev = await bridge.waitFor((e) => e.ev === 'failed' && e.pid === 'eve', 20000, 'eve failure');
  assert.equal(ev.code, 'dtls_failed');
  assert.match(ev.reason, /fingerprint/i);
  bridge.send({ cmd: 'remove', room: ROOM, pid: 'eve' });
  eve.stop();
  await eve.page.close();
});
