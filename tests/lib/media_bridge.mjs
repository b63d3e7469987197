// Drives the media engine without the WebSocket signaling: spawns
// build/bench_join (JSON lines over stdin/stdout, see bench/bench_join.c),
// turns Chromium's SDP into media commands and builds the answers/offers.
// The SDP code here is a test double of signaling/sdp.c, deliberately small.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export { CHROMIUM_ARGS, until } from './media_e2e.mjs';

const EXT = {
  audioLevel: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  twcc: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  mid: 'urn:ietf:params:rtp-hdrext:sdes:mid',
};

export function startBridge(build = process.env.PALABRE_BUILD || 'build', workers = 1) {
  const child = spawn(path.join(build, 'bench_join'), [String(workers)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const listeners = new Set();
  const events = [];
  const exitWaiters = new Set();
  let exitedWith = null;
  // 'close', not 'exit': every line it printed has been read by then
  const closed = new Promise((r) => child.on('close', (code, signal) => {
    exitedWith = `exited (${code ?? signal})`;
    for (const w of [...exitWaiters]) w();
    r();
  }));
  child.on('error', (e) => {
    exitedWith = `failed (${e.message})`;
    for (const w of [...exitWaiters]) w();
  });
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    let ev;
    try { ev = JSON.parse(line); } catch { return; }
    events.push(ev);
    for (const l of listeners) l(ev);
  });
  const bridge = {
    child, events,
    send(cmd) { child.stdin.write(JSON.stringify(cmd) + '\n'); },
    on(fn) { listeners.add(fn); return () => listeners.delete(fn); },
    // Ends when the event comes, when ms pass, or when bench_join exits (no
    // event can come any more), each time naming what it awaited.
    waitFor(pred, ms = 20000, what = 'event') {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      if (exitedWith) return Promise.reject(new Error(`bench_join ${exitedWith} before ${what}`));
      return new Promise((resolve, reject) => {
        const done = () => { clearTimeout(t); off(); exitWaiters.delete(onExit); };
        const t = setTimeout(() => { done(); reject(new Error(`timeout (${ms} ms) waiting for ${what}`)); }, ms);
        const off = bridge.on((ev) => { if (pred(ev)) { done(); resolve(ev); } });
        const onExit = () => { done(); reject(new Error(`bench_join ${exitedWith} before ${what}`)); };
        exitWaiters.add(onExit);
      });
    },
    async stop() {
      child.stdin.end();
      await closed;
    },
  };
  return bridge;
}

export function iceParams() {
  return { ufrag: randomBytes(4).toString('hex'), pwd: randomBytes(12).toString('hex') };
}

// ---- SDP (test double) ----------------------------------------------------

export function parseSdp(sdp) {
  const lines = sdp.split(/\r?\n/).filter(Boolean);
  const session = { attrs: [], media: [] };
  let cur = session;
  for (const l of lines) {
    if (l.startsWith('m=')) {
      const [kind, , , ...pts] = l.slice(2).split(' ');
      cur = { kind, pts: pts.map(Number), attrs: [] };
      session.media.push(cur);
    } else if (l.startsWith('a=')) {
      const a = l.slice(2);
      const i = a.indexOf(':');
      cur.attrs.push(i < 0 ? [a, ''] : [a.slice(0, i), a.slice(i + 1)]);
    }
  }
  const get = (m, k) => (m.attrs.find(([n]) => n === k) || session.attrs.find(([n]) => n === k) || [])[1];
  for (const m of session.media) {
    m.mid = get(m, 'mid');
    m.ufrag = get(m, 'ice-ufrag');
    m.pwd = get(m, 'ice-pwd');
    m.fingerprint = (get(m, 'fingerprint') || '').replace(/^sha-256 /i, '');
    m.setup = get(m, 'setup');
    m.direction = ['sendrecv', 'sendonly', 'recvonly', 'inactive'].find((d) => m.attrs.some(([n]) => n === d));
    m.rtpmap = {};
    for (const [n, v] of m.attrs) if (n === 'rtpmap') { const [pt, c] = v.split(' '); m.rtpmap[c.toLowerCase()] = Number(pt); }
    m.ext = {};
    for (const [n, v] of m.attrs) if (n === 'extmap') { const [id, uri] = v.split(' '); m.ext[uri] = Number(id.split('/')[0]); }
    const ssrcLine = m.attrs.find(([n]) => n === 'ssrc');
    const fid = m.attrs.find(([n, v]) => n === 'ssrc-group' && v.startsWith('FID'));
    m.ssrc = fid ? Number(fid[1].split(' ')[1]) : ssrcLine ? Number(ssrcLine[1].split(' ')[0]) : 0;
    const msid = get(m, 'msid');
    m.trackId = msid ? msid.split(' ')[1] : '';
  }
  return session;
}

function codecPt(m) {
  return m.kind === 'audio' ? m.rtpmap['opus/48000/2'] : m.rtpmap['vp8/90000'];
}

export function publishTracks(offer) {
  return offer.media.filter((m) => m.direction !== 'inactive' && m.direction !== 'recvonly').map((m) => ({
    mid: m.mid, kind: m.kind, pt: codecPt(m), ssrc: m.ssrc, track_id: m.trackId,
    ext_mid: m.ext[EXT.mid] || 0, ext_audio_level: m.ext[EXT.audioLevel] || 0, ext_twcc: m.ext[EXT.twcc] || 0,
  }));
}

function mediaSection(lines, { kind, pt, mid, ice, fingerprint, setup, direction, ext, ssrc, msid }) {
  lines.push(`m=${kind} 9 UDP/TLS/RTP/SAVPF ${pt}`, 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
    `a=ice-ufrag:${ice.ufrag}`, `a=ice-pwd:${ice.pwd}`, 'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fingerprint}`, `a=setup:${setup}`, `a=mid:${mid}`);
  for (const [uri, id] of Object.entries(ext)) if (id) lines.push(`a=extmap:${id} ${uri}`);
  lines.push(`a=${direction}`);
  if (msid) lines.push(`a=msid:${msid}`);
  lines.push('a=rtcp-mux');
  if (kind === 'audio') {
    lines.push(`a=rtpmap:${pt} opus/48000/2`, `a=fmtp:${pt} minptime=10;useinbandfec=1`);
    if (ext[EXT.twcc]) lines.push(`a=rtcp-fb:${pt} transport-cc`);
  } else {
    lines.push(`a=rtpmap:${pt} VP8/90000`, `a=rtcp-fb:${pt} nack`, `a=rtcp-fb:${pt} nack pli`,
      `a=rtcp-fb:${pt} ccm fir`);
    if (ext[EXT.twcc]) lines.push(`a=rtcp-fb:${pt} transport-cc`);
  }
  if (ssrc) lines.push(`a=ssrc:${ssrc} cname:${msid.split(' ')[0]}`, `a=ssrc:${ssrc} msid:${msid}`);
}

export function buildPublishAnswer(offer, ice, fingerprint) {
  const lines = ['v=0', `o=- ${Date.now()} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0',
    `a=group:BUNDLE ${offer.media.map((m) => m.mid).join(' ')}`, 'a=msid-semantic: WMS'];
  for (const m of offer.media) {
    const pt = codecPt(m);
    mediaSection(lines, {
      kind: m.kind, pt, mid: m.mid, ice, fingerprint, setup: 'passive',
      direction: m.direction === 'inactive' ? 'inactive' : 'recvonly',
      ext: { [EXT.audioLevel]: m.kind === 'audio' ? m.ext[EXT.audioLevel] : 0, [EXT.twcc]: m.ext[EXT.twcc], [EXT.mid]: m.ext[EXT.mid] },
    });
  }
  return lines.join('\r\n') + '\r\n';
}

// tracks: [{mid, kind, ssrc, pt, msid: "<pid> <trackid>"}]
export function buildSubscribeOffer(tracks, ice, fingerprint, version = 1) {
  const lines = ['v=0', `o=- 4242 ${version} IN IP4 127.0.0.1`, 's=-', 't=0 0',
    `a=group:BUNDLE ${tracks.map((t) => t.mid).join(' ')}`, 'a=msid-semantic: WMS'];
  for (const t of tracks) {
    mediaSection(lines, {
      kind: t.kind, pt: t.pt, mid: t.mid, ice, fingerprint, setup: 'actpass', direction: 'sendonly',
      ext: { [EXT.audioLevel]: t.kind === 'audio' ? 1 : 0 }, ssrc: t.ssrc, msid: t.msid,
    });
  }
  return lines.join('\r\n') + '\r\n';
}

export function parseCandidate(line) {
  // candidate:<foundation> <component> <transport> <priority> <addr> <port> typ <type> [raddr a rport p] ...
  const f = line.replace(/^a=/, '').replace(/^candidate:/, '').split(' ');
  const c = { foundation: f[0], component: Number(f[1]), transport: f[2].toLowerCase(), priority: Number(f[3]),
    addr: f[4], port: Number(f[5]), type: f[7], raddr: '', rport: 0 };
  for (let i = 8; i + 1 < f.length; i += 2) {
    if (f[i] === 'raddr') c.raddr = f[i + 1];
    if (f[i] === 'rport') c.rport = Number(f[i + 1]);
  }
  return c;
}

export function formatCandidate(c) {
  let s = `candidate:${c.foundation} ${c.component} UDP ${c.priority} ${c.addr} ${c.port} typ ${c.type}`;
  if (c.type !== 'host' && c.raddr) s += ` raddr ${c.raddr} rport ${c.rport}`;
  return s;
}

// ---- a page to host the peer connections --------------------------------------

export async function startPageServer() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>media</title><body></body>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

// ---- browser peers driven through the bridge (ctx: {bridge, browser, pages, fingerprint, room}) ----

// Trickle both ways between a page's RTCPeerConnection (window[pcVar]) and the bridge.
export function trickle(ctx, page, pid, pc, pcVar) {
  const { bridge, room: ROOM } = ctx;
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

export async function publish(ctx, pid, { lieAboutFingerprint = false } = {}) {
  const { bridge, browser, pages, fingerprint, room: ROOM } = ctx;
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
  const stop = trickle(ctx, page, pid, 'publish', 'pub');
  return { page, tracks, stop };
}

export async function subscribe(ctx, pid, publisher, publisherTracks) {
  const { bridge, browser, pages, fingerprint, room: ROOM } = ctx;
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
  const stop = trickle(ctx, page, pid, 'subscribe', 'sub');
  return { page, stop };
}

export async function inboundStats(page) {
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
