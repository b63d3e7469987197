// A server behind 1:1 NAT and clients behind a masquerading NAT (issue "Reach",
// NAT part). tests/run.sh runs this file in a private network namespace;
// inside it tests/lib/netns.mjs builds oneToOneNatTopology(): palabre runs in
// a namespace with only a private address (10.77.2.2) behind a gateway that
// owns the public address 203.0.113.10 (dnat in, snat out, and a forward
// chain that opens only palabre's TCP port and its [media] UDP range, the
// rules docs/operations.md gives); two Chromium participants run in a client
// namespace behind this namespace's masquerading NAT and open
// http://203.0.113.10:PORT/r/<room>.
//   1. [media] public_ip = 203.0.113.10: each decodes the other's video and
//      audio, and every PeerConnection's selected pair has the public address
//      as its remote (host) candidate, on a port of [media]'s range.
//   2. without public_ip, the server announces 10.77.2.2, which the clients
//      cannot reach: no PeerConnection connects, the browser or the server
//      reports the failure (what makes test 1 pass is public_ip).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS, join, waitDecoding, until, selectedPairs } from '../lib/media_e2e.mjs';
import { oneToOneNatTopology, startPalabreIn } from '../lib/netns.mjs';
import { BIN, freePort } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const MEDIA = { min: 42000, max: 42049 }; // palabre's [media] range: the gateway opens exactly this

let dir, topo, browser;
let ports; // one palabre per test, each on its own TCP port (both opened on the gateway)
const open = [];
const servers = [];

// palabre inside the server's namespace, listening on 0.0.0.0 there (a cloud
// VM's usual setup), reached at the public address; `media` is more of [media].
async function startPalabre(name, port, media) {
  const srv = await startPalabreIn(topo.server, { bin: BIN, dir, name, listen: `0.0.0.0:${port}`,
    base: `http://${topo.addr.public}:${port}`, timeoutMs: 15000 * TIME_SCALE,
    ini: `[access]\nagents = open\n[media]\nport_min = ${MEDIA.min}\nport_max = ${MEDIA.max}\n${media}` });
  servers.push(srv);
  return srv;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-nat-'));
  ports = [await freePort(), await freePort()];
  if (ports[0] === ports[1]) ports[1] = ports[0] + 1;
  topo = await oneToOneNatTopology({ httpPort: ports, udp: [MEDIA.min, MEDIA.max] });
  // the page's origin is http://203.0.113.10:PORT, not a secure context by
  // itself (getUserMedia needs one): the flag says it is
  browser = await chromium.launch({
    executablePath: topo.client.wrapper(dir, '/usr/bin/chromium'),
    args: [...CHROMIUM_ARGS,
      `--unsafely-treat-insecure-origin-as-secure=${ports.map((p) => `http://${topo.addr.public}:${p}`).join(',')}`],
  });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  await browser?.close().catch(() => {});
  const errors = [];
  for (const s of servers.splice(0)) await s.stop().catch((e) => errors.push(e));
  await topo?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (errors.length) throw errors[0];
}, { timeout: seconds(120) });

afterEach(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
}, { timeout: seconds(60) });

// Init script: every RTCPeerConnection's connection states, in order.
function recordStates() {
  const Native = window.RTCPeerConnection;
  window.__pcStates = [];
  window.RTCPeerConnection = function RTCPeerConnection(...args) {
    const pc = new Native(...args);
    const states = [];
    window.__pcStates.push(states);
    pc.addEventListener('connectionstatechange', () => states.push(pc.connectionState));
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
}

async function participant(srv, room, name) {
  const p = await join(browser, srv.base, room, name, { initScript: recordStates });
  open.push(p);
  return p;
}


test('server behind 1:1 NAT with public_ip, clients behind a masquerading NAT: both decode each other through the public address', { timeout: seconds(300) }, async () => {
  const srv = await startPalabre('public', ports[0], `public_ip = ${topo.addr.public}\n`);
  try {
    const a = await participant(srv, 'nat-public', 'Agnès');
    const b = await participant(srv, 'nat-public', 'Bertrand');
    for (const [viewer, other] of [[a, b], [b, a]]) {
      const st = await waitDecoding(viewer, [other], { ms: 90000 * TIME_SCALE });
      assert.ok(st[other.id].video.framesDecoded > 0, `${viewer.name} decodes ${other.name}'s video`);
      assert.ok(st[other.id].audio.totalAudioEnergy > 0, `${viewer.name} hears ${other.name}`);
    }
    for (const p of [a, b]) {
      const pairs = await selectedPairs(p);
      console.log(`# ${p.name}: ${JSON.stringify(pairs)}`);
      assert.deepEqual(Object.keys(pairs).sort(), ['publish', 'subscribe'], JSON.stringify(pairs));
      for (const [pc, pair] of Object.entries(pairs)) {
        const what = `${p.name}'s ${pc} PC: ${JSON.stringify(pair)}`;
        assert.equal(pair.remote, topo.addr.public, what);
        assert.equal(pair.remoteType, 'host', what);
        assert.notEqual(pair.local, 'relay', what);
        assert.ok(pair.remotePort >= MEDIA.min && pair.remotePort <= MEDIA.max, what);
      }
    }
  } catch (e) {
    console.log(`# palabre's log (warnings and errors):\n${srv.output().replace(/^/gm, '# ')}`);
    throw e;
  } finally {
    for (const p of open.splice(0)) await p.leave().catch(() => {});
    await srv.stop();
  }
});

test('the same without public_ip: the server announces its private address and media do not connect', { timeout: seconds(180) }, async () => {
  const srv = await startPalabre('private', ports[1], '');
  try {
    const a = await participant(srv, 'nat-private', 'Camille');
    // the candidates the browser got are the private address only
    const failure = await until(() => a.page.evaluate(() => {
      const failed = window.__pcStates.some((s) => s.includes('failed'));
      const mediaError = window.__palabre.errors.find((e) => e && e.code && /ice|media|connect/i.test(String(e.code)));
      return failed || mediaError ? { failed, mediaError: mediaError || null, states: window.__pcStates } : null;
    }), 120000 * TIME_SCALE, 'an ICE failure or a media_error');
    console.log(`# without public_ip: ${JSON.stringify(failure)}`);
    const states = await a.page.evaluate(() => window.__pcStates);
    assert.ok(states.length > 0, 'the page made PeerConnections');
    assert.ok(states.every((s) => !s.includes('connected')), `no PeerConnection connected: ${JSON.stringify(states)}`);
    const remotes = await a.page.evaluate(() => {
      const pc = window.__palabre.pcs.publish;
      return pc?.remoteDescription?.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate')) || [];
    });
    console.log(`# remote candidates in the SDP: ${JSON.stringify(remotes)}`);
    assert.ok(!remotes.some((l) => l.includes(topo.addr.public)), `the public address is not announced: ${remotes}`);
  } finally {
    for (const p of open.splice(0)) await p.leave().catch(() => {});
    await srv.stop();
  }
});
