// IPv6 (issue 12): palabre listening on [::1] in a private network namespace
// with only lo (tests/run.sh), two Chromium participants on http://[::1]:PORT
// (page and WebSocket over IPv6) decode each other's video and audio; the
// server offers IPv6 (::1) candidates on both peer connections, and IPv4
// loopback ones as well: Chromium here gathers only 127.0.0.1 (it adds its
// IPv6 loopback only with an IPv6 default route to a real interface), so the
// media pairs it selects are the IPv4 ones (printed). A listen that cannot
// work stops the start: an address that is not this host's, a port in use.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre, join, waitDecoding, freePort, serverCandidates } from '../lib/media_e2e.mjs';
import { runPalabre } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

let server, browser;
const open = [];

before(async () => {
  server = await startPalabre({ host: '[::1]' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open) await p.leave().catch(() => {});
  await browser?.close();
  await server?.stop();
}, { timeout: seconds(120) });

afterEach(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
}, { timeout: seconds(60) });

test('two participants on http://[::1] (page and WebSocket over IPv6) decode each other\'s video and audio', { timeout: seconds(240) }, async () => {
  assert.match(server.base, /^http:\/\/\[::1\]:\d+$/);
  // plain HTTP: the security headers, but no HSTS (that is for built-in TLS, e2e/tls)
  const page = await fetch(`${server.base}/r/ipv6-two`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('strict-transport-security'), null);
  const a = await join(browser, server.base, 'ipv6-two', 'Alice');
  open.push(a);
  const b = await join(browser, server.base, 'ipv6-two', 'Bruno');
  open.push(b);
  for (const [viewer, other] of [[a, b], [b, a]]) {
    const st = await waitDecoding(viewer, [other]);
    assert.ok(st[other.id].video.framesDecoded > 0, `${viewer.name} decodes ${other.name}`);
    assert.ok(st[other.id].audio.totalAudioEnergy > 0, `${viewer.name} hears ${other.name}`);
    const addrs = (await serverCandidates(viewer.page)).map((c) => c.address);
    assert.equal(addrs.length, 2, `${viewer.name}: both peer connections have a selected pair`);
    console.log(`# ${viewer.name}: media pairs with the server on ${addrs.join(', ')}`);
    const offered = await viewer.page.evaluate(() => Object.values(window.__palabre.pcs).filter(Boolean)
      .map((pc) => pc.remoteDescription.sdp.split('\r\n').filter((l) => / ::1 \d+ typ host/.test(l)).length));
    assert.deepEqual(offered.map((n) => n > 0), [true, true], `${viewer.name}: the server offers ::1 candidates on both PCs`);
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
