// Helpers for the browser media tests (tests/e2e/media.test.mjs) and the
// join-time benchmark (bench/join_time.mjs): start palabre on 127.0.0.1 with a
// temporary data directory, open Chromium participants on /r/<room>, read the
// subscribe PC's statistics through window.__palabre (signaling/web/media.js).
import WebSocket from 'ws';
import { startPalabre as start, freePort } from './palabre.mjs';

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
  // several participants share one browser: keep background pages running at full speed
  '--disable-renderer-backgrounding', '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
];

export { freePort };

// Time bounds the issue sets (1 s to first frame, 2 s for a tile to go, no
// freeze over 1 s) hold on the optimised build; the sanitizer build runs the
// same assertions with bounds multiplied by PALABRE_TIME_SCALE (make asan: 3).
export const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);

// Init script: every RTCPeerConnection records when it became connected
// (pc.__connectedAt, performance.now() of the page).
export function recordConnectTimes() {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function RTCPeerConnection(...args) {
    const pc = new Native(...args);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected' && !pc.__connectedAt) pc.__connectedAt = performance.now();
    });
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
}

// Milliseconds from the subscribe PC becoming connected to the first decoded
// video frame of every publisher in ids (polled every 10 ms in the page).
export async function firstFrameDelay(viewer, ids, ms = 20000) {
  return viewer.page.evaluate(async ({ ids, ms }) => {
    const end = performance.now() + ms;
    const first = {};
    while (performance.now() < end) {
      const st = await window.__palabre.remoteStats();
      for (const id of ids) if (!first[id] && st[id]?.video?.framesDecoded > 0) first[id] = performance.now();
      const at = window.__palabre.pcs.subscribe?.__connectedAt;
      if (at && ids.every((id) => first[id])) return Math.max(...ids.map((id) => first[id] - at));
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no first frame from ${ids.filter((id) => !first[id])} within ${ms} ms`);
  }, { ids, ms });
}

export async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timeout after ${ms} ms: ${what}`);
}

// Starts $PALABRE_BIN on a free 127.0.0.1 port with a fresh data directory
// (tests/lib/palabre.mjs); its log goes to this process's output. stop()
// fails when palabre does not exit 0 on SIGTERM (a crash, a sanitizer report).
// host, ca: as tests/lib/palabre.mjs (an IPv6 listen address, TLS).
export async function startPalabre({ config, host, ca } = {}) {
  const srv = await start({ timeout: 15000, config, host, ca });
  srv.proc.stdout.pipe(process.stdout);
  srv.proc.stderr.pipe(process.stderr);
  return { base: srv.url, port: srv.port, dataDir: srv.dataDir, child: srv.proc, stop: () => srv.stop() };
}

// The server's /metrics as a Map name → value.
export async function metrics(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#'))
    .map((l) => { const i = l.lastIndexOf(' '); return [l.slice(0, i), Number(l.slice(i + 1))]; }));
}

// One request over a fresh WebSocket (used to probe what the server supports).
async function wsSession(base) {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, { origin: base });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  let id = 0;
  const pending = new Map(); // id → { resolve, reject }
  let closed = null;
  const failAll = (why) => {
    closed = closed || why;
    for (const p of pending.values()) p.reject(new Error(closed));
    pending.clear();
  };
  ws.on('close', (code) => failAll(`socket closed (${code})`));
  ws.on('error', (e) => failAll(`socket error (${e.message})`));
  ws.on('message', (buf) => {
    const m = JSON.parse(buf.toString());
    if (m.type === 'response' && pending.has(m.id)) { pending.get(m.id).resolve(m); pending.delete(m.id); }
  });
  return {
    req(type, fields = {}) {
      const mid = ++id;
      return new Promise((resolve, reject) => {
        if (closed) { reject(new Error(`${closed}: no response to ${type}`)); return; }
        const t = setTimeout(() => {
          pending.delete(mid);
          reject(new Error(`no response to ${type} within 5000 ms`));
        }, 5000);
        pending.set(mid, {
          resolve: (m) => { clearTimeout(t); resolve(m); },
          reject: (e) => { clearTimeout(t); reject(new Error(`${e.message}: no response to ${type}`)); },
        });
        ws.send(JSON.stringify({ type, id: mid, ...fields }));
      });
    },
    close() { ws.close(); },
  };
}

// Why the media e2e tests cannot run against this build, or null when they can:
// the client must load media.js and the server must know the media requests.
export async function missingPrerequisite(base) {
  const html = await (await fetch(`${base}/r/probe`)).text();
  const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => new URL(m[1], `${base}/r/probe`).href);
  let wired = /createMedia|media\.js/.test(html);
  for (const src of scripts) {
    const js = await (await fetch(src)).text();
    if (/createMedia|media\.js/.test(js)) wired = true;
  }
  if (!wired) return 'the client served at /r/<room> does not load media.js yet';
  let s;
  try { s = await wsSession(base); } catch (e) { return `no WebSocket signaling: ${e.message}`; }
  try {
    const j = await s.req('join', { room: 'probe', name: 'probe' });
    if (!j.ok) return `join refused: ${j.error?.code}`;
    const p = await s.req('publish', { sdp: 'v=0\r\n' });
    if (!p.ok && p.error?.code === 'unknown_type') return 'the server does not handle publish yet';
  } finally { s.close(); }
  return null;
}

// A participant: its own browser context (own fake devices, own storage).
// query: more URL parameters, e.g. 'receive=mixed'.
export async function join(browser, base, room, name, { initScript, query } = {}) {
  const context = await browser.newContext();
  // a page that decodes video loads slowly on a loaded 2-core machine: 60 s per
  // action and navigation instead of Playwright's 30 s
  context.setDefaultTimeout(60000 * TIME_SCALE);
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# [${name}] page error: ${e.message}`));
  // the signaling messages the page sent, parsed (what the client asks for)
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try { sent.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
  }));
  // PALABRE_E2E_CONSOLE=1: the page's console too (debugging a failing run)
  if (process.env.PALABRE_E2E_CONSOLE) {
    page.on('console', (m) => console.log(`# [${name}] ${m.type()}: ${m.text()}`));
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => console.log(`# [${name}] ws> ${String(f.payload).slice(0, 160).replace(/\s+/g, ' ')}`));
      ws.on('framereceived', (f) => console.log(`# [${name}] ws< ${String(f.payload).slice(0, 160).replace(/\s+/g, ' ')}`));
    });
  }
  // what the page did, kept to explain a join that never completes: its last
  // console lines, failed requests and WebSocket closes
  const trail = [];
  const note = (line) => { trail.push(line); if (trail.length > 40) trail.shift(); };
  page.on('console', (m) => note(`${m.type()}: ${m.text().slice(0, 200)}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('websocket', (ws) => {
    note(`websocket ${ws.url()}`);
    ws.on('close', () => note(`websocket closed ${ws.url()}`));
  });
  await page.goto(`${base}/r/${room}?name=${encodeURIComponent(name)}&autojoin=1${query ? `&${query}` : ''}`);
  try {
    await page.waitForFunction(() => window.__palabre?.selfId && window.__palabre?.pcs?.publish,
      null, { timeout: 60000 * TIME_SCALE, polling: 100 });
  } catch (e) {
    const state = await page.evaluate(() => ({
      url: location.href, readyState: document.readyState, hooks: !!window.__palabre,
      selfId: window.__palabre?.selfId ?? null, pcs: Object.keys(window.__palabre?.pcs || {}),
      errors: window.__palabre?.errors || null,
      status: document.querySelector('[role=status]')?.textContent?.trim() || null,
    })).catch((err) => ({ evaluate: String(err) }));
    throw new Error(`${name} did not join: ${e.message}\npage: ${JSON.stringify(state)}\n` +
      `trail:\n  ${trail.join('\n  ')}`);
  }
  const id = await page.evaluate(() => window.__palabre.selfId);
  return {
    name, id, page, context, sent,
    stats: () => page.evaluate(() => window.__palabre.remoteStats()),
    // leaves as the client does (`leave`, then the page goes); closing the page
    // alone would keep the participant for the resume window
    async leave() {
      await page.evaluate(() => window.__palabre.request('leave', {})).catch(() => {});
      await context.close();
    },
  };
}

// Waits until `viewer` decodes video from every participant in `from` and, with
// audio, receives their audio with a non-zero level at least once.
export async function waitDecoding(viewer, from, { audio = true, ms = 30000, frames = 5 } = {}) {
  const base = await viewer.stats();
  const level = {};
  return until(async () => {
    const st = await viewer.stats();
    return from.every((p) => {
      const s = st[p.id];
      const b = base[p.id] || {};
      // a new subscribe PC (ICE/DTLS recovery) counts from 0 again
      if (s?.video && b.video && s.video.framesDecoded < b.video.framesDecoded) b.video = null;
      if (s?.audio && b.audio && s.audio.packetsReceived < b.audio.packetsReceived) b.audio = null;
      if (!s?.video || s.video.framesDecoded - (b.video?.framesDecoded || 0) < frames) return false;
      if (!audio) return true;
      if (!s.audio || s.audio.packetsReceived - (b.audio?.packetsReceived || 0) < 10) return false;
      if (s.audio.audioLevel > 0) level[p.id] = true;
      return level[p.id] && s.audio.totalAudioEnergy > 0;
    }) && st;
  }, ms, `${viewer.name} decodes ${from.map((p) => p.name).join(', ')}`);
}

// The server's side ({ address, port }) of the selected candidate pair of each
// of a page's peer connections.
export async function serverCandidates(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of Object.values(window.__palabre.pcs)) {
      if (!pc) continue;
      const st = await pc.getStats();
      st.forEach((r) => {
        if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
        const pair = st.get(r.selectedCandidatePairId);
        const remote = pair && st.get(pair.remoteCandidateId);
        if (remote) out.push({ address: remote.address || remote.ip, port: remote.port });
      });
    }
    return out;
  });
}

// The server's UDP ports used by a page's two peer connections (selected pairs).
export async function serverPorts(page) {
  return (await serverCandidates(page)).filter((c) => c.port).map((c) => c.port);
}

// Outbound video counters of a page's publish PC.
export async function publishVideoStats(page) {
  return page.evaluate(async () => {
    const out = { nackCount: 0, retransmittedPacketsSent: 0, packetsSent: 0, pliCount: 0 };
    (await window.__palabre.pcs.publish.getStats()).forEach((r) => {
      if (r.type !== 'outbound-rtp' || r.kind !== 'video') return;
      out.nackCount += r.nackCount || 0;
      out.retransmittedPacketsSent += r.retransmittedPacketsSent || 0;
      out.packetsSent += r.packetsSent || 0;
      out.pliCount += r.pliCount || 0;
    });
    return out;
  });
}

// The selected candidate pair of each of a page's PeerConnections, from
// getStats(): our side's type (`type`, also `local`), TURN protocol and relay
// address when relayed, and the server's address, port and type.
export async function selectedPairs(p) {
  return p.page.evaluate(async () => {
    const out = {};
    for (const [name, pc] of Object.entries(window.__palabre.pcs)) {
      if (!pc) continue;
      const st = await pc.getStats();
      st.forEach((r) => {
        if (r.type !== 'transport' || !r.selectedCandidatePairId) return;
        const pair = st.get(r.selectedCandidatePairId);
        const local = st.get(pair.localCandidateId);
        const remote = st.get(pair.remoteCandidateId);
        out[name] = { type: local.candidateType, local: local.candidateType, relayProtocol: local.relayProtocol,
          relay: local.address, remote: remote.address, remoteType: remote.candidateType, remotePort: remote.port };
      });
    }
    return out;
  });
}
