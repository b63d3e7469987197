// A publish PeerConnection's transport and the candidates the server
// announces for it (a Chrome offer from the fixtures stands in for the
// browser: only the server's side is looked at). Runs in the suite's own
// network namespace (tests/run.sh), so /proc/net/tcp* hold this server's
// sockets only and interfaces can be added.
// - UDP host candidates only, and no TCP socket behind them (libnice's
//   ICE-TCP is off: its passive sockets were never announced, and every idle
//   descriptor costs the media worker a poll per packet).
// - Media binds only where [server] listen says: with listen on 127.0.0.1
//   (as `make run` and the README promise) every candidate is 127.0.0.1,
//   even with another interface up (a veth with 10.77.1.1, added here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import * as lib from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

const offer = fs.readFileSync(path.join(lib.ROOT, 'tests/fixtures/sdp/chrome-offer.sdp'), 'utf8');

function tcpListeners() {
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) if (line.trim().split(/\s+/)[3] === '0A') n++;
  }
  return n;
}

function ip(...args) { execFileSync('ip', args, { stdio: 'pipe', timeout: 5000 }); }

// Publishes the fixture offer; returns the server's candidates (the answer's
// and the trickled ones, until the end of candidates).
async function publishCandidates(c, room) {
  await c.call('join', { room, name: 'Ana' });
  const r = await c.request('publish', { sdp: offer });
  assert.equal(r.ok, true, JSON.stringify(r.error));
  const cands = [];
  for (const l of r.data.sdp.split(/\r?\n/)) if (l.startsWith('a=candidate:')) cands.push(l.slice(2));
  for (;;) {
    const ev = await c.event('ice_candidate', { timeout: seconds(20), filter: (e) => e.pc === 'publish' });
    if (!ev.candidate) break;
    cands.push(ev.candidate.candidate);
  }
  assert.ok(cands.length > 0, 'the server gathered candidates');
  return cands;
}

test('a publish PC gathers UDP candidates and opens no TCP socket', { timeout: seconds(60) }, async () => {
  const srv = await lib.startPalabre({ timeout: 10000 });
  try {
    const before = tcpListeners(); // the HTTP/WebSocket port
    assert.ok(before >= 1);
    const c = await lib.connect(srv.wsUrl, { origin: srv.url });
    const cands = await publishCandidates(c, 'ice');
    for (const cand of cands) assert.match(cand, / udp /i);
    assert.equal(tcpListeners(), before, 'no TCP listening socket for ICE');
    await c.close();
  } finally {
    await srv.stop();
  }
});

test('listen on 127.0.0.1: every server candidate is 127.0.0.1', { timeout: seconds(60) }, async () => {
  ip('link', 'add', 'ml0', 'type', 'veth', 'peer', 'name', 'ml1');
  try {
    ip('addr', 'add', '10.77.1.1/24', 'dev', 'ml0');
    ip('link', 'set', 'ml0', 'up');
    ip('link', 'set', 'ml1', 'up'); // a carrier: libnice skips an interface without one
    const srv = await lib.startPalabre({ timeout: 10000 });
    try {
      const c = await lib.connect(srv.wsUrl, { origin: srv.url });
      // candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
      for (const cand of await publishCandidates(c, 'listen')) assert.equal(cand.split(' ')[4], '127.0.0.1', cand);
      await c.close();
    } finally {
      await srv.stop();
    }
  } finally {
    ip('link', 'del', 'ml0');
  }
});
