// What docs/protocol.md tells a third-party client, checked against a real
// palabre: the server's SDP carries no candidates (they come as ice_candidate
// events, then a null one); a receive-only client gets subscribe offers
// without ever publishing, and when; the errors of ice_candidate; a
// WebSocket upgrade without Origin is accepted. A Chrome offer from the
// fixtures stands in for a publishing browser: only signaling is looked at.
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

import { startPalabre, connect, ROOT } from '../lib/palabre.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const offer = fs.readFileSync(path.join(ROOT, 'tests/fixtures/sdp/chrome-offer.sdp'), 'utf8');
const T = { timeout: 15000 };

async function joined(srv, room, name, extra = {}) {
  const c = await connect(srv.wsUrl, T);
  const data = await c.call('join', { room, name, ...extra });
  return { c, data, id: data.participant.id };
}

function assertError(r, code, field, what = '') {
  assert.equal(r.ok, false, `${what} ${JSON.stringify(r)}`);
  assert.equal(r.error.code, code, JSON.stringify(r));
  assert.equal(r.error.field, field, JSON.stringify(r));
}

function assertNoCandidates(sdp) {
  assert.doesNotMatch(sdp, /^a=candidate:/m);
  assert.doesNotMatch(sdp, /^a=end-of-candidates/m);
  assert.match(sdp, /^a=ice-options:trickle/m);
  for (const m of sdp.match(/^m=.*$/gm)) assert.match(m, /^m=\w+ 9 /);
  assert.deepEqual([...new Set(sdp.match(/^c=.*$/gm))], ['c=IN IP4 0.0.0.0']);
}

// Every ice_candidate event of pc until the null one.
async function trickled(c, pc) {
  const cands = [];
  for (;;) {
    const ev = await c.event('ice_candidate', { timeout: 15000, filter: (e) => e.pc === pc });
    if (ev.candidate === null) return cands;
    assert.match(ev.candidate.candidate, /^candidate:\S+ 1 udp \d+ \S+ \d+ typ host/i);
    assert.equal(typeof ev.candidate.sdpMid, 'string');
    assert.equal(ev.candidate.sdpMLineIndex, 0);
    cands.push(ev.candidate);
  }
}

test('the server\'s SDP has no candidates: they come as ice_candidate events, ending with candidate null', { timeout: 60000 }, async () => {
  const srv = await startPalabre(T);
  try {
    const a = await joined(srv, 'trickle', 'Ana');
    const answer = await a.c.call('publish', { sdp: offer });
    assertNoCandidates(answer.sdp);
    const pub = await trickled(a.c, 'publish');
    assert.ok(pub.length >= 1);
    assert.equal(pub[0].sdpMid, '0'); // the first m-line of the publish offer (BUNDLE)
    await a.c.close();
  } finally { await srv.stop(); }
});

test('a receive-only client never publishes: its first subscribe_offer comes when someone publishes, or right after its join', { timeout: 60000 }, async () => {
  const srv = await startPalabre(T);
  try {
    // Alone, then with a participant who does not publish: no offer.
    const r = await joined(srv, 'ecoute', 'Rita');
    const q = await joined(srv, 'ecoute', 'Quentin');
    await sleep(500);
    assert.deepEqual(r.c.events.filter((e) => e.type === 'subscribe_offer'), []);
    // Someone publishes: the receive-only client gets the offer (audio and video of the publisher).
    const p = await joined(srv, 'ecoute', 'Paul');
    await p.c.call('publish', { sdp: offer });
    const o = await r.c.event('subscribe_offer', { timeout: 15000 });
    assert.equal(o.version, 1);
    assertNoCandidates(o.sdp);
    assert.equal((o.sdp.match(/^a=msid:(\S+) /gm) || []).filter((l) => l.includes(p.id)).length, 2, o.sdp);
    // Its subscribe candidates are trickled, without it having answered yet.
    const sub = await trickled(r.c, 'subscribe');
    assert.ok(sub.length >= 1);
    assert.equal(sub[0].sdpMid, '0');
    // A late receive-only joiner: the offer follows the join response at once.
    const l = await connect(srv.wsUrl, T);
    await l.call('join', { room: 'ecoute', name: 'Léa' });
    const lo = await l.event('subscribe_offer', { timeout: 15000 });
    assert.equal(lo.version, 1);
    assert.match(lo.sdp, new RegExp(`a=msid:${p.id} `));
    // The receive-only client asked for nothing: a publish connection was never needed.
    assert.equal(r.c.events.some((e) => e.type === 'ice_candidate' && e.pc === 'publish'), false);
    await Promise.all([r.c.close(), q.c.close(), p.c.close(), l.close()]);
  } finally { await srv.stop(); }
});

test('ice_candidate: its errors, and what is accepted but not used', { timeout: 60000 }, async () => {
  const srv = await startPalabre(T);
  try {
    const c = await connect(srv.wsUrl, T);
    const good = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    let r = await c.request('ice_candidate', { pc: 'publish', candidate: good });
    assert.equal(r.error.code, 'not_joined', JSON.stringify(r));
    await c.call('join', { room: 'ice-errors', name: 'Ines' });

    assertError(await c.request('ice_candidate', { candidate: good }), 'missing_field', 'pc');
    assertError(await c.request('ice_candidate', { pc: 'both', candidate: good }), 'bad_field', 'pc');
    assertError(await c.request('ice_candidate', { pc: 1, candidate: good }), 'bad_field', 'pc');
    assertError(await c.request('ice_candidate', { pc: '' }), 'bad_field', 'pc');
    assertError(await c.request('ice_candidate', { pc: 'publish' }), 'missing_field', 'candidate');
    for (const bad of [good.candidate, 42, true, [], {}, { candidate: 5 }, { sdpMid: '0' },
      { candidate: `candidate:1 1 udp 1 127.0.0.1 5 typ host ${'x'.repeat(520)}` },
      { candidate: 'candidate:garbage' }, { candidate: 'candidate:1 1 udp 1 127.0.0.1 5 typ host\u0001' },
      { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 70000 typ host' }])
      assertError(await c.request('ice_candidate', { pc: 'subscribe', candidate: bad }), 'bad_field', 'candidate',
        JSON.stringify(bad));

    const ignored = async () => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      return Number(/^palabre_media_remote_candidates_ignored_total (\S+)$/m.exec(text)[1]);
    };
    const ignored0 = await ignored();
    // Accepted: a UDP candidate (even before the publish PC exists: then dropped;
    // sdpMid and sdpMLineIndex are not read; a leading "a=" is allowed),
    // TCP and mDNS (.local) candidates (ignored), end of candidates as null or "".
    for (const ok of [good, { ...good, sdpMid: 'whatever', sdpMLineIndex: 7 },
      { candidate: 'a=candidate:1 1 udp 2122260223 127.0.0.1 50002 typ host' },
      { candidate: 'candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active' },
      { candidate: `candidate:3 1 udp 2122260223 ${randomBytes(4).toString('hex')}-1111-2222-3333-444455556666.local 50001 typ host` },
      { candidate: '', sdpMid: '0', sdpMLineIndex: 0 }, null]) {
      r = await c.request('ice_candidate', { pc: 'publish', candidate: ok });
      assert.equal(r.ok, true, `${JSON.stringify(ok)}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.data, {});
    }
    // None of it changed the connection: it still publishes.
    const answer = await c.call('publish', { sdp: offer });
    assert.match(answer.sdp, /^v=0/);
    // the TCP and mDNS ones were counted as ignored; so is, once the publish PC
    // exists, an address that no local one can reach (this server is on loopback):
    // the server never sends it a check
    assert.equal(await ignored() - ignored0, 2, 'TCP and mDNS candidates counted');
    r = await c.request('ice_candidate', { pc: 'publish',
      candidate: { candidate: 'candidate:4 1 udp 2122260223 192.0.2.10 50003 typ host' } });
    assert.equal(r.ok, true, JSON.stringify(r));
    const until = Date.now() + 10000; // the media worker's counters reach /metrics asynchronously
    while (await ignored() - ignored0 < 3 && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
    assert.equal(await ignored() - ignored0, 3, 'the unreachable candidate counted');
    await c.close();
  } finally { await srv.stop(); }
});

// A raw upgrade, to control the Origin header exactly (absent, empty, set).
function upgrade(srv, origin) {
  return new Promise((resolve, reject) => {
    const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64') };
    if (origin !== undefined) headers.Origin = origin;
    const req = http.request({ host: '127.0.0.1', port: srv.port, path: '/ws', headers, timeout: 10000 });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('WebSocket upgrade: no Origin (or an empty one) is accepted, even with allowed_origins; a foreign one gets 403', { timeout: 60000 }, async () => {
  for (const config of [undefined, { server: { allowed_origins: 'https://meet.example.fr' } }]) {
    const srv = await startPalabre({ config, ...T });
    try {
      assert.equal(await upgrade(srv, undefined), 101);
      assert.equal(await upgrade(srv, ''), 101);
      assert.equal(await upgrade(srv, 'http://evil.example'), 403);
      assert.equal(await upgrade(srv, config ? 'https://meet.example.fr' : srv.url), 101);
      // and a client without Origin can use the protocol
      const c = await connect(srv.wsUrl, T);
      await c.call('join', { room: 'sans-origine', name: 'Outil' });
      await c.close();
    } finally { await srv.stop(); }
  }
});
