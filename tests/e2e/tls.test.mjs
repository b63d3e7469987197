// Built-in TLS (issue 12): [server] tls_cert / tls_key. A test CA made here
// with the openssl CLI signs a certificate for 127.0.0.1/localhost; tls_cert
// holds the leaf followed by the CA (a chain). Chromium trusts the CA through
// --ignore-certificate-errors-spki-list=<SHA-256 of the CA's public key>: only
// chains carrying that key are accepted (not --ignore-certificate-errors,
// which would accept anything and so could not fail on a wrong certificate);
// Node checks the server with the CA itself (tls.connect / https { ca }).
// An agent joins over https:// (page, then WSS) and two participants decode
// each other; SIGHUP with a renewed certificate (new key, serial and subject):
// new TLS connections get it, while the meeting goes on on the same
// WebSockets (none closed, none reopened) with media still decoded; a bad
// renewal is refused and the current certificate kept. HSTS over HTTPS.
// tls_cert without tls_key, or an unreadable file: palabre refuses to start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre, join, waitDecoding, until } from '../lib/media_e2e.mjs';
import { runPalabre } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-tls-'));
const file = (name) => path.join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

// A P-256 key and a certificate signed by the test CA; returns the chain
// (leaf, then CA) and the key as PEM.
function issue(name, serial) {
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  fs.writeFileSync(file(`${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' +
    'extendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial,
    '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  return { chain: fs.readFileSync(file(`${name}.pem`), 'utf8') + ca, key: fs.readFileSync(file(`${name}.key`), 'utf8') };
}

// Replaces the files palabre reads, each by a rename (as ACME clients do).
function install({ chain, key }) {
  fs.writeFileSync(file('tls.pem.new'), chain);
  fs.writeFileSync(file('tls.key.new'), key, { mode: 0o600 });
  fs.renameSync(file('tls.key.new'), file('tls.key'));
  fs.renameSync(file('tls.pem.new'), file('tls.pem'));
}

openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
  '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Palabre test CA');
const ca = fs.readFileSync(file('ca.pem'), 'utf8');
const caSpki = execFileSync('sh', ['-c',
  'openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64'],
{ cwd: dir }).toString().trim();
const first = issue('palabre-first', '0x1001');
const renewed = issue('palabre-renewed', '0x2002');

// The certificate a new TLS connection gets, verified against the CA.
function peerCertificate(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}

// A GET on a connection of its own (agent: false): Node's global agent keeps
// connections alive and would reuse one made before a reload, which is
// neither what a page loaded now does nor safe against the server closing an
// idle connection at the moment it is reused. `cert` is the one it was served.
function httpsGet(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, agent: false }, (res) => {
      const cert = res.socket.getPeerCertificate();
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, cert }));
    }).on('error', reject);
  });
}

let server, browser, log = '';

before(async () => {
  install(first);
  server = await startPalabre({ config: { server: { tls_cert: file('tls.pem'), tls_key: file('tls.key') } }, ca });
  server.child.stdout.on('data', (d) => { log += d; });
  server.child.stderr.on('data', (d) => { log += d; });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${caSpki}`],
  });
}, { timeout: seconds(120) });

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}, { timeout: seconds(120) });

test('HTTPS answers with HSTS and the client\'s security headers; plain HTTP is not served', { timeout: seconds(30) }, async () => {
  assert.match(server.base, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await httpsGet(`${server.base}/r/tls-headers`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
  assert.match(r.headers['content-security-policy'], /default-src 'self'/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
  const c = await peerCertificate(server.port);
  assert.equal(c.subject.CN, 'palabre-first');
  // the listener speaks TLS only
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
});

test('agents join over https and wss; SIGHUP renews the certificate for new connections without interrupting the meeting', { timeout: seconds(300) }, async () => {
  const sockets = []; // every WebSocket the pages open, with its close
  const track = (p) => p.page.on('websocket', (ws) => {
    const s = { url: ws.url(), closed: false };
    ws.on('close', () => { s.closed = true; });
    sockets.push(s);
  });
  // track from the first navigation on: an init script cannot see the socket,
  // so the page is opened through a context hook
  const joinTracked = async (name) => {
    const orig = browser.newContext.bind(browser);
    browser.newContext = async (...a) => {
      const ctx = await orig(...a);
      ctx.on('page', (page) => track({ page }));
      return ctx;
    };
    try { return await join(browser, server.base, 'tls-meeting', name); } finally { browser.newContext = orig; }
  };
  const a = await joinTracked('Alice');
  const b = await joinTracked('Bruno');
  try {
    assert.match(a.page.url(), /^https:\/\/127\.0\.0\.1:\d+\/r\/tls-meeting/);
    assert.equal(sockets.length, 2, 'one WebSocket per participant');
    for (const s of sockets) assert.match(s.url, /^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    await waitDecoding(a, [b]);
    await waitDecoding(b, [a]);
    assert.equal((await peerCertificate(server.port)).serialNumber, '1001');

    install(renewed);
    process.kill(server.child.pid, 'SIGHUP');
    const c = await until(async () => {
      const cert = await peerCertificate(server.port);
      return cert.serialNumber === '2002' && cert;
    }, 15000 * TIME_SCALE, 'a new connection sees the renewed certificate');
    assert.equal(c.subject.CN, 'palabre-renewed');
    // the log line is written before that handshake, but its pipe may be read
    // after the handshake's socket: wait for it rather than race it
    await until(async () => /SIGHUP: certificate reloaded/.test(log), 5000 * TIME_SCALE,
      'the reload is logged');

    // the meeting goes on: media still decoded after the reload...
    for (const [viewer, other] of [[a, b], [b, a]]) {
      const before = (await viewer.stats())[other.id].video.framesDecoded;
      await until(async () => (await viewer.stats())[other.id].video.framesDecoded > before + 10,
        20000 * TIME_SCALE, `${viewer.name} keeps decoding ${other.name}`);
    }
    // ...on the same WebSockets: none closed, none opened (no reconnect, no resume)
    assert.equal(sockets.length, 2, `WebSockets opened: ${sockets.map((s) => s.url)}`);
    assert.deepEqual(sockets.map((s) => s.closed), [false, false]);
    assert.deepEqual(a.sent.filter((m) => m.type === 'resume'), []);
    // and a page loaded now gets the renewed certificate too
    const r = await httpsGet(`${server.base}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(r.cert.serialNumber, '2002');

    // a bad renewal (the first key with the renewed certificate) is refused: the current pair stays
    install({ chain: renewed.chain, key: first.key });
    const logged = log.length;
    process.kill(server.child.pid, 'SIGHUP');
    await until(async () => /certificate not reloaded, the previous one stays/.test(log.slice(logged)),
      15000 * TIME_SCALE, 'the refused reload is logged');
    assert.equal((await peerCertificate(server.port)).serialNumber, '2002');
    install(renewed);
  } finally {
    await a.leave();
    await b.leave();
  }
});

test('tls_cert without tls_key, or an unreadable certificate: palabre refuses to start and says why', { timeout: seconds(60) }, async () => {
  const ini = file('half.ini');
  fs.writeFileSync(ini, `[server]\ntls_cert = ${file('tls.pem')}\n`);
  let r = await runPalabre(['--listen', '127.0.0.1:1', '--config', ini, '--data-dir', file('d1')], { timeout: seconds(15) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[server\] tls_key is missing/);

  fs.writeFileSync(ini, `[server]\ntls_cert = ${file('absent.pem')}\ntls_key = ${file('tls.key')}\n`);
  r = await runPalabre(['--listen', '127.0.0.1:1', '--config', ini, '--data-dir', file('d2')], { timeout: seconds(15) });
  assert.equal(r.code, 1);
  assert.match(r.stdout + r.stderr, /tls_cert .*absent\.pem: cannot read: No such file/);

  fs.writeFileSync(file('garbage.key'), 'not a key\n');
  fs.writeFileSync(ini, `[server]\ntls_cert = ${file('tls.pem')}\ntls_key = ${file('garbage.key')}\n`);
  r = await runPalabre(['--listen', '127.0.0.1:1', '--config', ini, '--data-dir', file('d3')], { timeout: seconds(15) });
  assert.equal(r.code, 1);
  assert.match(r.stdout + r.stderr, /tls_key .*garbage\.key: not a PEM private key/);
  assert.doesNotMatch(r.stdout + r.stderr, /listening on/);
});
