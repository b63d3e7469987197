// A publish PeerConnection's transport: UDP host candidates only, and no
// TCP socket behind it (libnice's ICE-TCP is off: its passive sockets were
// never announced, and every idle descriptor costs the media worker a poll
// per packet). A Chrome offer from the fixtures stands in for the browser:
// only the server's side is looked at. Runs in the suite's own network
// namespace, so /proc/net/tcp* hold this server's sockets only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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

test('a publish PC gathers UDP candidates and opens no TCP socket', { timeout: seconds(60) }, async () => {
  const srv = await lib.startPalabre({ timeout: 10000 });
  try {
    const before = tcpListeners(); // the HTTP/WebSocket port
    assert.ok(before >= 1);
    const c = await lib.connect(srv.wsUrl, { origin: srv.url });
    await c.call('join', { room: 'ice', name: 'Ana' });
    const r = await c.request('publish', { sdp: offer });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const cands = [];
    for (const l of r.data.sdp.split(/\r?\n/)) if (l.startsWith('a=candidate:')) cands.push(l.slice(2));
    for (;;) { // trickled until the end of candidates (null)
      const ev = await c.event('ice_candidate', { timeout: seconds(20), filter: (e) => e.pc === 'publish' });
      if (!ev.candidate) break;
      cands.push(ev.candidate.candidate);
    }
    assert.ok(cands.length > 0, 'the server gathered candidates');
    for (const cand of cands) assert.match(cand, / udp /i);
    assert.equal(tcpListeners(), before, 'no TCP listening socket for ICE');
    await c.close();
  } finally {
    await srv.stop();
  }
});
