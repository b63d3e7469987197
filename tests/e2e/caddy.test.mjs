// Caddy as the TLS front (issue 12, docker-compose's profile "caddy"): the
// deployment's own files, rendered from .env.example by deploy/render.sh as the
// containers render them, run natively in this suite's private namespace:
// palabre with deploy/palabre.ini on 127.0.0.1:8080, Caddy (Debian's caddy)
// with deploy/Caddyfile on 443, its certificate for DOMAIN from a test CA
// (CADDY_TLS="CERT KEY": `tls CERT KEY`, no ACME; nothing leaves the
// namespaces). Two participants run in a client namespace (10.79.0.2, behind a
// veth to this one, 10.79.0.1, which DOMAIN maps to) and join
// https://DOMAIN/r/<room>: page and WSS through Caddy, media straight to
// palabre's [media] interface; they decode each other. palabre sees each
// client's own address through [server] trusted_proxies and the
// X-Forwarded-For Caddy sets: the per-address connection limit counts the
// clients apart (through Caddy every TCP peer is 127.0.0.1), a forged
// X-Forwarded-For gains nothing, and the loopback-only /metrics and
// /admin/drain stay closed to them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

import { CHROMIUM_ARGS, join, waitDecoding, selectedPairs } from '../lib/media_e2e.mjs';
import { Netns, SELF, link, unlinkSelf, startPalabreIn } from '../lib/netns.mjs';
import { BIN, ROOT } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const HOST = { addr: '10.79.0.1', client: '10.79.0.2' };
const CONNECTIONS_PER_IP = 2; // one per participant: the client namespace's two fit

// .env.example as docker-compose reads it: NAME=value lines
const ENV = Object.fromEntries(fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8').split('\n')
  .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const DOMAIN = ENV.DOMAIN;
const ORIGIN = `https://${DOMAIN}`;

let dir, client, palabre, caddy, browser, cert;
const open = [];

function render(template, env) {
  return execFileSync(path.join(ROOT, 'deploy/render.sh'), [path.join(ROOT, template)],
    { env: { PATH: process.env.PATH, ...ENV, ...env }, stdio: 'pipe', timeout: 10000 }).toString();
}

// A test CA and a certificate it signs for DOMAIN (openssl command line);
// spki: the SHA-256 of the certificate's public key, for Chromium's
// --ignore-certificate-errors-spki-list (only chains carrying that key pass).
function domainCertificate() {
  const sh = (script) => execFileSync('sh', ['-c', script], { cwd: dir, stdio: 'pipe', timeout: 20000 }).toString();
  fs.writeFileSync(path.join(dir, 'site.ext'), `subjectAltName=DNS:${DOMAIN}\nextendedKeyUsage=serverAuth\n`);
  sh(`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 2 -subj '/CN=Palabre test CA'
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key -out site.csr \
        -subj /CN=${DOMAIN}
      openssl x509 -req -in site.csr -CA ca.pem -CAkey ca.key -set_serial 0x5150 -days 2 \
        -extfile site.ext -out site.pem
      cat site.pem ca.pem > fullchain.pem`);
  const spki = sh('openssl x509 -in site.pem -pubkey -noout | openssl pkey -pubin -outform der | ' +
    'openssl dgst -sha256 -binary | openssl base64 -A').trim();
  return { ca: fs.readFileSync(path.join(dir, 'ca.pem')), chain: path.join(dir, 'fullchain.pem'),
    key: path.join(dir, 'site.key'), spki };
}

// DOMAIN resolves to this host's address for node too
const lookup = (hostname, opts, cb) => (opts.all ? cb(null, [{ address: HOST.addr, family: 4 }]) : cb(null, HOST.addr, 4));

// A request to https://DOMAIN through Caddy, from this namespace (10.79.0.1).
function request(method, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(`${ORIGIN}${urlPath}`, { method, headers, ca: cert.ca, lookup }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000 * TIME_SCALE, () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.end();
  });
}

// A WSS connection through Caddy that joins `room` (palabre closes one that
// has not joined within join_timeout_seconds); resolves to the socket, or
// rejects with the HTTP status of a refused upgrade.
function wss(room, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://${DOMAIN}/ws`, { origin: ORIGIN, headers, ca: cert.ca, lookup });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'join', id: 1, room, name: 'Témoin' })));
    ws.on('message', (buf) => {
      const m = JSON.parse(buf.toString());
      if (m.type === 'response' && m.id === 1) (m.ok ? resolve(ws) : reject(new Error(`join: ${JSON.stringify(m.error)}`)));
    });
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

async function startCaddy() {
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, render('deploy/Caddyfile', { CADDY_TLS: `${cert.chain} ${cert.key}` }));
  // its state (what a container keeps in the caddy-data volume) in the temp dir
  const home = path.join(dir, 'caddy-home');
  const proc = spawn('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
    env: { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + 20000 * TIME_SCALE;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`caddy exited (${proc.exitCode}): ${output}`);
    try { if ((await request('GET', '/healthz')).status === 200) break; } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`caddy did not proxy https://${DOMAIN}/healthz: ${output}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-caddy-'));
  cert = domainCertificate();
  client = await Netns.create('client');
  await link(SELF, 'cs', `${HOST.addr}/24`, client, 'c0', `${HOST.client}/24`);
  client.ip('route', 'add', 'default', 'via', HOST.addr);
  // deploy/palabre.ini as the container renders it, media on this host's
  // interface towards the client; a lower connections_per_ip for the test
  const ini = render('deploy/palabre.ini', { MEDIA_INTERFACE: 'cs', PUBLIC_IP: HOST.addr }) +
    `\n[limits]\nconnections_per_ip = ${CONNECTIONS_PER_IP}\n`;
  const listen = ini.match(/^listen = (.*)$/m)[1];
  assert.equal(listen, '127.0.0.1:8080', 'the address deploy/Caddyfile proxies to');
  // startPalabreIn passes --listen and --data-dir: the file's own values here
  palabre = await startPalabreIn(SELF, { bin: BIN, dir, name: 'palabre', listen, base: `http://${listen}`,
    ini, timeoutMs: 15000 * TIME_SCALE });
  caddy = await startCaddy();
  browser = await chromium.launch({
    executablePath: client.wrapper(dir, '/usr/bin/chromium'),
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${cert.spki}`,
      // DOMAIN is this host; the TURN host names of deploy/palabre.ini resolve to nothing
      `--host-resolver-rules=MAP ${DOMAIN} ${HOST.addr}, MAP * ~NOTFOUND`],
  });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of open.splice(0)) await p.leave().catch(() => {});
  await browser?.close().catch(() => {});
  await caddy?.stop();
  const stopped = palabre?.stop();
  unlinkSelf();
  await client?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await stopped;
}, { timeout: seconds(120) });

test('through Caddy: HTTPS with the CA\'s certificate and HSTS; /metrics and /admin/ closed to clients, open on loopback', { timeout: seconds(60) }, async () => {
  const page = await request('GET', '/r/caddy');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  assert.equal(page.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(page.headers['x-content-type-options'], 'nosniff', 'palabre\'s own headers pass through');
  // through Caddy the TCP peer is loopback: without trusted_proxies these would be open
  assert.equal((await request('GET', '/metrics')).status, 404, 'metrics: the client is 10.79.0.1, not loopback');
  assert.equal((await request('GET', '/metrics', { 'X-Forwarded-For': '127.0.0.1' })).status, 404,
    'a forged X-Forwarded-For does not make a client loopback');
  assert.equal((await request('POST', '/admin/drain', { 'Content-Length': '0' })).status, 404);
  assert.equal((await (await fetch(`${palabre.base}/metrics`)).status), 200, 'metrics from this host, directly');
  assert.equal((await (await fetch(`${palabre.base}/healthz`)).text()).trim(), 'ok', 'no drain was started');
});

test('two participants join https://DOMAIN through Caddy and decode each other; the connection limit counts each client address', { timeout: seconds(300) }, async () => {
  // this namespace's address (10.79.0.1) fills its quota, whatever
  // X-Forwarded-For it sends: Caddy replaces it with the real one
  const mine = [];
  try {
    for (let i = 0; i < CONNECTIONS_PER_IP; i++) mine.push(await wss('caddy-other', { 'X-Forwarded-For': `192.0.2.${i + 1}` }));
    await assert.rejects(wss('caddy-other', { 'X-Forwarded-For': '192.0.2.99' }), (e) => e.status === 429,
      'one more from the same client is refused');
    // the client namespace's two participants (10.79.0.2) are not counted with those
    const a = await join(browser, ORIGIN, 'caddy-meeting', 'Adèle');
    open.push(a);
    const b = await join(browser, ORIGIN, 'caddy-meeting', 'Baptiste');
    open.push(b);
    assert.equal(await a.page.evaluate(() => location.protocol), 'https:');
    for (const [viewer, other] of [[a, b], [b, a]]) {
      const st = await waitDecoding(viewer, [other], { ms: 90000 * TIME_SCALE });
      assert.ok(st[other.id].video.framesDecoded > 0, `${viewer.name} decodes ${other.name}`);
      assert.ok(st[other.id].audio.totalAudioEnergy > 0, `${viewer.name} hears ${other.name}`);
      const pairs = await selectedPairs(viewer);
      console.log(`# ${viewer.name}: ${JSON.stringify(pairs)}`);
      for (const pair of Object.values(pairs)) assert.equal(pair.remote, HOST.addr, 'media straight to palabre');
    }
    // and their quota is full too: a third connection from 10.79.0.2 is refused
    const third = await a.page.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(`wss://${location.host}/ws`);
      ws.onopen = () => { ws.close(); resolve('open'); };
      ws.onerror = () => resolve('refused');
    }));
    assert.equal(third, 'refused');
  } finally {
    // leaving (not a dropped connection, which palabre keeps for a resume): the
    // drain that deploy/palabre.ini's SIGTERM starts then has nobody to wait for
    for (const ws of mine) ws.send(JSON.stringify({ type: 'leave', id: 2 }));
    await Promise.all(mine.map((ws) => new Promise((r) => { ws.once('close', r); setTimeout(() => { ws.terminate(); r(); }, 5000); })));
  }
});
