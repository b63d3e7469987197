// IPv6 (issue 12). tests/run.sh runs this file in a private network namespace
// with only lo; tests/lib/netns.mjs familyTopology() adds two client
// namespaces, one IPv4 only (c4) and one IPv6 only (c6), and gives this
// namespace an IPv6 default route (through c6): Chromium gathers IPv6
// candidates, its ::1 included, only with one.
//   1. palabre on [::1], two Chromium participants on http://[::1]:PORT (page,
//      WebSocket and media over IPv6): both ends of every selected candidate
//      pair are IPv6, and they decode each other. palabre on [::1] also offers
//      127.0.0.1 (for browsers without IPv6) and which pair ICE nominates
//      first is a matter of timing: IPv4 UDP is dropped for this test.
//   2. both families in one meeting: palabre on [::] (dual-stack), one
//      participant in c4 (its media IPv4 only), one in c6 (IPv6 only): each
//      decodes the other, the SFU forwarding between families.
//   3. the same with the IPv4 side behind 1:1 NAT ([media] public_ip): the
//      public IPv4 address replaces only IPv4 host candidates, the IPv6
//      participant still meets the server on its IPv6 address.
// A listen that cannot work stops the start: an address that is not this
// host's, a port in use.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre, join, waitDecoding, freePort, selectedPairs } from '../lib/media_e2e.mjs';
import { familyTopology, startPalabreIn, SELF } from '../lib/netns.mjs';
import { BIN, runPalabre } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

let server, browser, topo, dir;
const open = [];
const browsers = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-ipv6-'));
  topo = await familyTopology();
  server = await startPalabre({ host: '[::1]' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  browsers.push(browser);
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  for (const b of browsers.splice(0)) await b.close().catch(() => {});
  await server?.stop();
  try { SELF.run('nft', ['delete', 'table', 'ip', 'palabre_nat']); } catch { /* absent */ }
  await topo?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, { timeout: seconds(120) });

afterEach(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
}, { timeout: seconds(60) });

const isV6 = (a) => net.isIPv6(a || '');
const isV4 = (a) => net.isIPv4(a || '');

// Asserts that each of p's two PeerConnections has a selected pair whose
// local (browser) and remote (server) addresses pass `family`, the remote one
// being `server`; returns the pairs.
async function assertPairs(p, family, server) {
  const pairs = await selectedPairs(p);
  console.log(`# ${p.name}: ${JSON.stringify(pairs)}`);
  assert.deepEqual(Object.keys(pairs).sort(), ['publish', 'subscribe'], `${p.name}: ${JSON.stringify(pairs)}`);
  for (const [pc, pair] of Object.entries(pairs)) {
    const what = `${p.name}'s ${pc} PC: ${JSON.stringify(pair)}`;
    assert.equal(pair.remote, server, what);
    assert.ok(family(pair.relay), `${what}: the browser's side`);
    assert.equal(pair.local, 'host', what);
  }
  return pairs;
}

async function decodeEachOther(a, b) {
  for (const [viewer, other] of [[a, b], [b, a]]) {
    const st = await waitDecoding(viewer, [other], { ms: 90000 * TIME_SCALE });
    assert.ok(st[other.id].video.framesDecoded > 0, `${viewer.name} decodes ${other.name}`);
    assert.ok(st[other.id].audio.totalAudioEnergy > 0, `${viewer.name} hears ${other.name}`);
  }
}

test('two participants on http://[::1]: page, WebSocket and media over IPv6, both decode each other', { timeout: seconds(240) }, async () => {
  assert.match(server.base, /^http:\/\/\[::1\]:\d+$/);
  // plain HTTP: the security headers, but no HSTS (that is for built-in TLS, e2e/tls)
  const page = await fetch(`${server.base}/r/ipv6-two`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('strict-transport-security'), null);
  // palabre on [::1] also offers 127.0.0.1, for browsers without IPv6 (see
  // media/ice.c); which pair ICE nominates first then depends on timing:
  // this namespace drops IPv4 UDP, so media can only take IPv6
  SELF.nft(`table ip palabre_v4 {
  chain in {
    type filter hook input priority 0; policy accept;
    ip protocol udp counter drop
  }
}
`);
  try {
    const a = await join(browser, server.base, 'ipv6-two', 'Alice');
    open.push(a);
    const b = await join(browser, server.base, 'ipv6-two', 'Bruno');
    open.push(b);
    await decodeEachOther(a, b);
    for (const p of [a, b]) await assertPairs(p, isV6, '::1');
    console.log(`# IPv4 UDP dropped: ${SELF.run('nft', ['list', 'table', 'ip', 'palabre_v4']).match(/packets \d+/)}`);
  } finally {
    SELF.run('nft', ['delete', 'table', 'ip', 'palabre_v4']);
  }
});

// Chromium run in namespace ns, treating `origins` as secure contexts
// (getUserMedia needs one; only loopback origins are by themselves).
async function browserIn(ns, origins) {
  const b = await chromium.launch({ executablePath: ns.wrapper(dir, '/usr/bin/chromium'),
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origins.join(',')}`] });
  browsers.push(b);
  return b;
}

// The addresses of the server's host candidates in p's PeerConnections'
// remote descriptions, once media flow (the browser adds trickled candidates
// to them; getStats would not list those it ignores, as link-local ones).
async function offeredHosts(p) {
  return p.page.evaluate(() => [...new Set(Object.values(window.__palabre.pcs).filter(Boolean)
    .flatMap((pc) => pc.remoteDescription.sdp.split('\r\n'))
    .filter((l) => l.startsWith('a=candidate:') && / typ host/.test(l)).map((l) => l.split(' ')[4]))]);
}

// palabre on [::]:port in this namespace (both families), `media`: more of [media].
async function dualStack(name, port, media = '') {
  return startPalabreIn(SELF, { bin: BIN, dir, name, listen: `[::]:${port}`,
    base: `http://[${topo.addr.v6}]:${port}`, timeoutMs: 15000 * TIME_SCALE,
    ini: `[access]\nagents = open\n[media]\n${media}` });
}

// A meeting on a dual-stack palabre (`media`: more of [media]) between a
// participant in c4, who reaches it at the IPv4 address `v4`, and one in c6;
// check(a, b, hosts) runs once each decodes the other, with the addresses of
// the server's host candidates.
async function familiesMeeting({ room, names, v4, media = '' }, check) {
  const port = await freePort();
  const srv = await dualStack(room, port, media);
  try {
    const base4 = `http://${v4}:${port}`;
    const base6 = `http://[${topo.addr.v6}]:${port}`;
    const a = await join(await browserIn(topo.c4, [base4]), base4, room, names[0]);
    open.push(a);
    const b = await join(await browserIn(topo.c6, [base6]), base6, room, names[1]);
    open.push(b);
    await decodeEachOther(a, b);
    const hosts = await offeredHosts(b);
    console.log(`# the server's host candidates: ${JSON.stringify(hosts)}`);
    await check(a, b, hosts);
  } finally {
    for (const p of open.splice(0)) await p.leave().catch(() => {});
    await srv.stop();
  }
}

test('both families in one meeting: an IPv4-only and an IPv6-only participant decode each other', { timeout: seconds(300) }, async () => {
  // a container bridge's kind of interface on the server's host (a veth pair
  // within this namespace): no browser reaches it
  SELF.ip('link', 'add', 'veth-pal', 'type', 'veth', 'peer', 'name', 'veth-pal1');
  try {
    SELF.ip('addr', 'add', '10.77.9.1/24', 'dev', 'veth-pal');
    for (const l of ['veth-pal', 'veth-pal1']) SELF.ip('link', 'set', l, 'up');
    await familiesMeeting({ room: 'families', names: ['Anaïs', 'Benoît'], v4: topo.addr.v4 }, async (a, b, hosts) => {
      // the server offers both families, and no link-local address (which SDP
      // cannot scope), nor the veth's
      assert.ok(hosts.includes(topo.addr.v4) && hosts.includes(topo.addr.v6), JSON.stringify(hosts));
      assert.ok(!hosts.some((h) => /^fe80:/i.test(h)), JSON.stringify(hosts));
      assert.ok(!hosts.includes('10.77.9.1'), JSON.stringify(hosts));
      await assertPairs(a, isV4, topo.addr.v4);
      await assertPairs(b, isV6, topo.addr.v6);
    });
  } finally {
    SELF.ip('link', 'del', 'veth-pal');
  }
});

test('both families with the IPv4 side behind 1:1 NAT ([media] public_ip): the IPv6 participant still meets the server over IPv6', { timeout: seconds(300) }, async () => {
  // a cloud VM's usual addressing: a private IPv4 address behind the provider's
  // 1:1 NAT (here: this namespace maps 203.0.113.10 to 10.77.4.1 for c4) and a
  // routed IPv6 address on the same host; media on the interfaces named, as
  // deploy/palabre.ini does
  const pub = '203.0.113.10';
  SELF.nft(`table ip palabre_nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "s4" ip daddr ${pub} dnat to ${topo.addr.v4}
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "s4" ip saddr ${topo.addr.v4} snat to ${pub}
  }
}
`);
  try {
    await familiesMeeting({ room: 'families-nat', names: ['Aurélie', 'Bastien'], v4: pub,
      media: `interfaces = s4, s6\npublic_ip = ${pub}\n` }, async (a, b, hosts) => {
      assert.ok(hosts.includes(pub) && hosts.includes(topo.addr.v6), JSON.stringify(hosts));
      assert.ok(!hosts.includes(topo.addr.v4), `the private IPv4 address is not announced: ${hosts}`);
      await assertPairs(a, isV4, pub);
      await assertPairs(b, isV6, topo.addr.v6);
    });
  } finally {
    SELF.run('nft', ['delete', 'table', 'ip', 'palabre_nat']);
  }
});

// A configuration that lets palabre listen beyond loopback, for the refusals.
function openConfig() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-ipv6-'));
  fs.writeFileSync(path.join(dir, 'palabre.ini'), '[access]\nagents = open\n');
  return { dir, ini: path.join(dir, 'palabre.ini'), data: path.join(dir, 'data') };
}

test('a listen address that is not this host\'s stops the start with the reason', { timeout: seconds(60) }, async () => {
  const c = openConfig();
  try {
    // documentation addresses (RFC 5737, RFC 3849): on no host of this namespace
    for (const listen of ['192.0.2.1:8443', '[2001:db8::1]:8443']) {
      const r = await runPalabre(['--listen', listen, '--config', c.ini, '--data-dir', c.data], { timeout: seconds(15) });
      assert.notEqual(r.code, 0, `${listen}: exit code`);
      assert.match(r.stdout + r.stderr, /cannot listen on .* port 8443: the address is not one of this host's/, listen);
      assert.doesNotMatch(r.stdout + r.stderr, /listening on/, listen);
    }
  } finally {
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
});

test('a port already in use stops the start with the reason, on ::1 and on [::]', { timeout: seconds(60) }, async () => {
  const c = openConfig();
  const port = await freePort();
  const taken = net.createServer();
  await new Promise((r, j) => { taken.once('error', j); taken.listen(port, '::1', r); });
  try {
    for (const listen of [`[::1]:${port}`, `[::]:${port}`]) {
      const r = await runPalabre(['--listen', listen, '--config', c.ini, '--data-dir', c.data], { timeout: seconds(15) });
      assert.notEqual(r.code, 0, `${listen}: exit code`);
      assert.match(r.stdout + r.stderr, new RegExp(`cannot listen on .* port ${port}: the port is already in use`), listen);
    }
    // the running server's own port, too
    const r = await runPalabre(['--listen', `[::1]:${server.port}`, '--data-dir', c.data], { timeout: seconds(15) });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /the port is already in use/);
  } finally {
    await new Promise((r) => taken.close(r));
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
});

test('[::] takes IPv4 and IPv6 clients on one port', { timeout: seconds(60) }, async () => {
  const c = openConfig();
  const port = await freePort();
  const proc = (await import('node:child_process')).spawn(process.env.PALABRE_BIN,
    ['--listen', `[::]:${port}`, '--config', c.ini, '--data-dir', c.data, '--log-level', 'warn'],
    { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  try {
    const ok = async (u) => { try { return (await fetch(u)).ok; } catch { return false; } };
    const deadline = Date.now() + seconds(15);
    while (!(await ok(`http://[::1]:${port}/healthz`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await ok(`http://[::1]:${port}/healthz`), 'over IPv6');
    assert.ok(await ok(`http://127.0.0.1:${port}/healthz`), 'over IPv4');
  } finally {
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
});
