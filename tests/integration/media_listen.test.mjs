// Media binds only where [server] listen says: with listen on 127.0.0.1 (as
// `make run` and the README promise) the candidates the server announces are
// all 127.0.0.1, even though this namespace has another interface (a veth
// with 10.77.1.1, added here). A Chrome offer from the fixtures stands in
// for the browser. tests/run.sh runs this file in its own network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import * as lib from '../lib/palabre.mjs';

const offer = fs.readFileSync(path.join(lib.ROOT, 'tests/fixtures/sdp/chrome-offer.sdp'), 'utf8');

function ip(...args) { execFileSync('ip', args, { stdio: 'pipe', timeout: 5000 }); }

test('listen on 127.0.0.1: every server candidate is 127.0.0.1', { timeout: 60000 }, async () => {
  ip('link', 'add', 'ml0', 'type', 'veth', 'peer', 'name', 'ml1');
  try {
    ip('addr', 'add', '10.77.1.1/24', 'dev', 'ml0');
    ip('link', 'set', 'ml0', 'up');
    ip('link', 'set', 'ml1', 'up'); // a carrier: libnice skips an interface without one
    const srv = await lib.startPalabre({ timeout: 10000 });
    try {
      const c = await lib.connect(srv.wsUrl, { origin: srv.url });
      await c.call('join', { room: 'listen', name: 'Ana' });
      const r = await c.request('publish', { sdp: offer });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      const cands = [];
      for (const l of r.data.sdp.split(/\r?\n/)) if (l.startsWith('a=candidate:')) cands.push(l.slice(2));
      for (;;) { // trickled until the end of candidates (null)
        const ev = await c.event('ice_candidate', { timeout: 10000, filter: (e) => e.pc === 'publish' });
        if (!ev.candidate) break;
        cands.push(ev.candidate.candidate);
      }
      assert.ok(cands.length > 0, 'the server gathered candidates');
      // candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
      for (const cand of cands) assert.equal(cand.split(' ')[4], '127.0.0.1', cand);
      await c.close();
    } finally {
      await srv.stop();
    }
  } finally {
    ip('link', 'del', 'ml0');
  }
});
