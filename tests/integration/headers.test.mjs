// Request headers past the limit get HTTP 431, not a silent drop (issue 10's
// leftover, docs/operations.md "Built-in bounds"). Raw TCP sockets, so that
// what comes back is seen as it is: a status line, or a connection closed
// with nothing. libwebsockets 4.1 (Debian 12) keeps 32 KiB of header values
// and closed a request that overflowed them without a word; palabre now has
// it cut each header just past the 16 KiB served (lws token_limits), so one
// oversized header, the URL included, ends in the 431 check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startPalabre } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

let srv;

before(async () => { srv = await startPalabre({ logLevel: 'warn' }); }, { timeout: seconds(30) });
after(async () => { await srv?.stop(); }, { timeout: seconds(30) });

// Sends `request` on a fresh connection; resolves to the response's status
// line, or '(closed)' when the server closes without answering.
function statusOf(request) {
  return new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) { s.destroy(); resolve(got.slice(0, got.indexOf('\r\n'))); }
    });
    s.on('close', () => resolve(got ? got.split('\r\n')[0] : '(closed)'));
    s.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(got.split('\r\n')[0] || '(closed)') : reject(e)));
    s.setTimeout(seconds(10), () => { s.destroy(); reject(new Error(`no answer and no close within 10 s: '${got}'`)); });
  });
}

const get = (target, headers = '') => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n${headers}\r\n`;
const upgrade = (headers) => get('/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' + headers);
const big = (n) => 'a'.repeat(n);

test('one header past lws\'s 32 KiB buffer (a 40 KiB or 100 KiB cookie) gets 431', { timeout: seconds(60) }, async () => {
  for (const n of [40000, 100000]) assert.match(await statusOf(get('/', `Cookie: s=${big(n)}\r\n`)), /^HTTP\/1\.[01] 431\b/, `${n} bytes`);
  assert.match(await statusOf(get('/', `User-Agent: ${big(40000)}\r\n`)), /^HTTP\/1\.[01] 431\b/);
});

test('a URL past 32 KiB gets 431', { timeout: seconds(60) }, async () => {
  assert.match(await statusOf(get(`/r/salle?x=${big(40000)}`)), /^HTTP\/1\.[01] 431\b/);
  assert.match(await statusOf(get(`/${big(40000)}`)), /^HTTP\/1\.[01] 431\b/);
});

test('a WebSocket upgrade with a 40 KiB cookie gets 431', { timeout: seconds(60) }, async () => {
  assert.match(await statusOf(upgrade(`Cookie: s=${big(40000)}\r\n`)), /^HTTP\/1\.[01] 431\b/);
});

test('up to 16 KiB is still served, and the server serves on after the refusals', { timeout: seconds(60) }, async () => {
  assert.match(await statusOf(get('/', `Cookie: s=${big(16000)}\r\n`)), /^HTTP\/1\.1 200\b/);
  assert.match(await statusOf(upgrade(`Cookie: s=${big(12000)}\r\n`)), /^HTTP\/1\.1 101\b/);
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
});
