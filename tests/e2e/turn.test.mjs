// Reaching palabre through coturn (issue "Reach", TURN part). tests/run.sh runs
// this file in a private network namespace; inside it, tests/lib/netns.mjs
// builds the topology of natTopology(): this namespace is the server's host
// (palabre on 10.77.1.2), coturn has its own (10.77.2.2), and Chromium runs in
// a client namespace behind a masquerading NAT. nftables in the client's
// namespace then blocks what a company firewall would:
//   1. UDP from the client to palabre's media ports: the media go through
//      coturn over UDP (the selected candidate pair is relay; TCP to coturn
//      is closed too, so that UDP is the transport ICE can pick);
//   2. all UDP (and TLS to coturn): TURN over TCP;
//   3. all UDP and every TCP port but palabre's and 443: TURN over TLS on 443.
// Both participants sit behind the NAT, so every PeerConnection is relayed,
// and each decodes the other's video and audio. Then coturn's refusals: a
// forged credential, and a join's credentials once [turn] ttl_seconds has
// passed (coturn's log names the username it refused).
//
// Chromium must trust coturn's certificate (made here by a test CA) for TURN
// over TLS: it verifies it (the first test shows the refusal without trust).
// There is no NSS certutil on these machines to add the CA, so the browser is
// given --ignore-certificate-errors-spki-list with the hash of that one
// server key: it accepts that key, and no other bad certificate.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS, join, waitDecoding, selectedPairs } from '../lib/media_e2e.mjs';
import { natTopology, clientFirewall, droppedBy } from '../lib/netns.mjs';
import { startCoturn, testCertificate, turnCredential } from '../lib/coturn.mjs';
import { BIN, connect, freePort, startPalabre as startLoopbackPalabre } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const SECRET = 'e2e-turn-secret-9f2c';
const MEDIA = { min: 41000, max: 41049 }; // palabre's [media] port range: the firewall's rule is exact
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir, topo, coturn, cert, browser;
const servers = [];
const open = [];

// palabre listening on the server's address (not loopback: [access] open)
async function startPalabre(name, turn) {
  const port = await freePort();
  const sdir = fs.mkdtempSync(path.join(dir, `${name}-`));
  const conf = path.join(sdir, 'palabre.ini');
  const urls = [`turn:${topo.addr.coturn}:3478?transport=udp`, `turn:${topo.addr.coturn}:3478?transport=tcp`,
    `turns:${topo.addr.coturn}:443?transport=tcp`];
  fs.writeFileSync(conf, `[access]\nagents = open\n[media]\nport_min = ${MEDIA.min}\nport_max = ${MEDIA.max}\n` +
    `[turn]\nurls = ${urls.join(', ')}\nsecret = ${SECRET}\n${turn}`);
  const proc = spawn(BIN, ['--listen', `${topo.addr.server}:${port}`, '--data-dir', path.join(sdir, 'data'),
    '--config', conf, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const base = `http://${topo.addr.server}:${port}`;
  const srv = {
    base, port, output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await exited;
      if (r.code !== 0) throw new Error(`palabre exited with ${r.code} (${r.signal}) on SIGTERM:\n${output}`);
    },
  };
  servers.push(srv);
  const deadline = Date.now() + 15000 * TIME_SCALE;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`palabre exited (${proc.exitCode}): ${output}`);
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`palabre did not answer on ${base}: ${output}`);
    await sleep(50);
  }
  return srv;
}

// Chromium in the client's namespace. The page's origin is http://10.77.1.2:PORT,
// not a secure context by itself (getUserMedia needs one): the flag says it is.
async function clientBrowser(origins, { trustTurnCert = true } = {}) {
  return chromium.launch({
    executablePath: topo.client.wrapper(dir, '/usr/bin/chromium'),
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origins.join(',')}`,
      ...(trustTurnCert ? [`--ignore-certificate-errors-spki-list=${cert.spki}`] : [])],
  });
}

let main; // the palabre of the media tests (default ttl_seconds)

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-turn-'));
  topo = await natTopology();
  cert = testCertificate(dir, topo.addr.coturn);
  coturn = await startCoturn({ ns: topo.coturn, dir, listen: topo.addr.coturn, secret: SECRET,
    cert: cert.cert, key: cert.key });
  main = await startPalabre('main', '');
  browser = await clientBrowser([main.base]);
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  await browser?.close().catch(() => {});
  const errors = [];
  for (const s of servers) await s.stop().catch((e) => errors.push(e));
  await coturn?.stop();
  await topo?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (errors.length) throw errors[0];
}, { timeout: seconds(120) });

afterEach(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  clientFirewall(topo.client, []);
}, { timeout: seconds(60) });

async function participant(srv, room, name) {
  const p = await join(browser, srv.base, room, name);
  open.push(p);
  return p;
}


// Two participants behind the NAT, with the client firewall's `rules` in
// force: each decodes the other, and every PeerConnection runs through coturn
// over `protocol` to palabre's media ports.
async function meetThroughTurn(room, rules, protocol) {
  clientFirewall(topo.client, rules);
  const a = await participant(main, room, 'Agnès');
  const b = await participant(main, room, 'Bertrand');
  for (const [viewer, other] of [[a, b], [b, a]]) {
    const st = await waitDecoding(viewer, [other], { ms: 90000 * TIME_SCALE });
    assert.ok(st[other.id].video.framesDecoded > 0, `${viewer.name} decodes ${other.name}'s video`);
    assert.ok(st[other.id].audio.totalAudioEnergy > 0, `${viewer.name} hears ${other.name}`);
  }
  for (const p of [a, b]) {
    const pairs = await selectedPairs(p);
    assert.deepEqual(Object.keys(pairs).sort(), ['publish', 'subscribe'], JSON.stringify(pairs));
    for (const [pc, pair] of Object.entries(pairs)) {
      const what = `${p.name}'s ${pc} PC: ${JSON.stringify(pair)}`;
      assert.equal(pair.type, 'relay', what);
      assert.equal(pair.relay, topo.addr.coturn, what);
      assert.equal(pair.relayProtocol, protocol, what);
      assert.equal(pair.remote, topo.addr.server, what);
      assert.ok(pair.remotePort >= MEDIA.min && pair.remotePort <= MEDIA.max, what);
    }
  }
  // the browser did try the direct way: the firewall stopped it
  const dropped = droppedBy(topo.client);
  console.log(`# ${room}: ${JSON.stringify(await selectedPairs(a))}; the client firewall dropped ${dropped} packets`);
  assert.ok(dropped > 0, 'the client firewall dropped packets');
}

// Candidates a fresh PeerConnection in the client's browser gathers with
// `iceServers` (relay only), and the ICE errors it reports.
async function gatherRelay(page, iceServers) {
  return page.evaluate(async ({ iceServers, ms }) => {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
    pc.createDataChannel('probe');
    const relay = [];
    const errors = [];
    pc.addEventListener('icecandidateerror', (e) => errors.push(`${e.url} ${e.errorCode} ${e.errorText}`));
    const done = new Promise((resolve) => {
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, ms);
    });
    pc.addEventListener('icecandidate', (e) => { if (e.candidate?.type === 'relay') relay.push(e.candidate.candidate); });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
    pc.close();
    return { relay, errors };
  }, { iceServers, ms: 30000 * TIME_SCALE });
}

test('Chromium refuses coturn\'s TLS certificate unless it trusts it', { timeout: seconds(90) }, async () => {
  const exp = Math.floor(Date.now() / 1000) + 600;
  const username = `${exp}:tls-probe`;
  const servers = [{ urls: [`turns:${topo.addr.coturn}:443?transport=tcp`], username,
    credential: turnCredential(SECRET, username) }];
  const untrusting = await clientBrowser([main.base], { trustTurnCert: false });
  try {
    const page = await untrusting.newPage();
    const r = await gatherRelay(page, servers);
    assert.deepEqual(r.relay, [], 'no relay candidate over a TLS connection it cannot verify');
  } finally {
    await untrusting.close();
  }
  const page = await browser.newPage();
  const r = await gatherRelay(page, servers);
  await page.close();
  assert.equal(r.relay.length, 1, JSON.stringify(r));
});

// Each test leaves one TURN transport open: with several, ICE may nominate
// any pair that works (a run picked TLS while UDP worked too).
const toCoturn = (port) => `ip daddr ${topo.addr.coturn} tcp dport ${port}`;

test('UDP to palabre\'s media ports dropped: both participants meet through coturn (relay over UDP)', { timeout: seconds(300) }, async () => {
  await meetThroughTurn('turn-udp', [`ip daddr ${topo.addr.server} udp dport ${MEDIA.min}-${MEDIA.max}`,
    toCoturn('{ 3478, 443 }')], 'udp');
});

test('all UDP dropped: TURN over TCP', { timeout: seconds(300) }, async () => {
  await meetThroughTurn('turn-tcp', ['meta l4proto udp', toCoturn(443)], 'tcp');
});

test('only palabre\'s port and 443 let out: TURN over TLS on 443', { timeout: seconds(300) }, async () => {
  await meetThroughTurn('turn-tls', ['meta l4proto udp', `tcp dport != { ${main.port}, 443 }`], 'tls');
});

test('coturn refuses forged credentials and a join\'s credentials once ttl_seconds has passed', { timeout: seconds(180) }, async () => {
  const TTL = 8;
  const short = await startPalabre('short', `ttl_seconds = ${TTL}\n`);
  const c = await connect(`${short.base.replace('http', 'ws')}/ws`, { origin: short.base });
  const t0 = Math.floor(Date.now() / 1000);
  const data = await c.call('join', { room: 'turn-expiry', name: 'Camille' });
  const t1 = Math.ceil(Date.now() / 1000);
  c.close();

  // the join hands out [turn]'s URLs with credentials valid for ttl_seconds
  assert.equal(data.ice_servers.length, 1);
  const [server] = data.ice_servers;
  assert.deepEqual(server.urls, [`turn:${topo.addr.coturn}:3478?transport=udp`,
    `turn:${topo.addr.coturn}:3478?transport=tcp`, `turns:${topo.addr.coturn}:443?transport=tcp`]);
  const [expiry, who] = server.username.split(':');
  assert.equal(who, data.participant.id);
  assert.ok(Number(expiry) >= t0 + TTL && Number(expiry) <= t1 + TTL, `expiry ${expiry}, joined in [${t0}, ${t1}]`);
  assert.equal(server.credential, turnCredential(SECRET, server.username));

  const page = await browser.newPage();
  try {
    // before the expiry: coturn allocates a relay with them
    const fresh = await gatherRelay(page, data.ice_servers);
    assert.ok(Date.now() / 1000 < Number(expiry), 'the first allocation was made before the expiry');
    assert.ok(fresh.relay.length > 0, `relay candidates with fresh credentials: ${JSON.stringify(fresh)}`);
    assert.deepEqual(coturn.refusals(server.username), []);

    // a credential that does not match (the secret is not known) and a later
    // expiry with the old credential (a client cannot extend its own)
    const later = `${Number(expiry) + 3600}:${who}`;
    for (const forged of [{ ...server, credential: turnCredential('not-the-secret', server.username) },
      { ...server, username: later }]) {
      const r = await gatherRelay(page, [forged]);
      assert.deepEqual(r.relay, [], `no relay with ${JSON.stringify(forged)}`);
      assert.ok(r.errors.some((e) => / 401 /.test(e)), `401 reported to the browser: ${r.errors}`);
    }
    assert.ok(coturn.refusals(server.username).length > 0, 'coturn logs the refusal of the wrong credential');
    assert.ok(coturn.refusals(later).length > 0, 'coturn logs the refusal of the extended username');

    // after the expiry: the same credentials get no relay, and coturn says why
    while (Date.now() / 1000 <= Number(expiry) + 1) await sleep(200);
    const before = coturn.refusals(server.username).length;
    const stale = await gatherRelay(page, data.ice_servers);
    assert.deepEqual(stale.relay, [], `no relay with expired credentials: ${JSON.stringify(stale)}`);
    assert.ok(stale.errors.some((e) => / 401 /.test(e)), `401 reported to the browser: ${stale.errors}`);
    assert.ok(coturn.refusals(server.username).length > before, 'coturn logs the refusal of the expired username');
  } finally {
    await page.close();
  }
});

test('a join carries ice_servers [] when [turn] is not configured', { timeout: seconds(60) }, async () => {
  const srv = await startLoopbackPalabre();
  try {
    const c = await connect(srv.wsUrl);
    const data = await c.call('join', { room: 'no-turn', name: 'Dominique' });
    c.close();
    assert.deepEqual(data.ice_servers, []);
  } finally {
    await srv.stop();
  }
});
