// OpenID Connect sign-in's bounds (docs/protocol.md "Sign-in with OpenID
// Connect", docs/operations.md [oidc]): every /oidc/login stores a pending
// sign-in and calls the provider, every /oidc/callback calls it too; one
// address gets [oidc] logins_per_ip_per_minute of them, and the server holds
// at most max_pending_logins pending sign-ins. Beyond: 429 with Retry-After,
// a page that says why, and nothing stored. No provider is needed for these:
// the issuer is a closed port (each admitted login answers 502).
// And with sign-in off, /oidc/me says so (200 {"mode": "off"}) instead of 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { freePort, startPalabre } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

// GET from a chosen source address (the test's netns has all of 127/8 on lo).
function get(url, from = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    http.get(url, { localAddress: from }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}

async function oidcServer(over) {
  const port = await freePort(), dead = await freePort();
  return startPalabre({ port, config: { access: { agents: 'oidc' }, oidc: {
    issuer: `https://127.0.0.1:${dead}`, client_id: 'palabre', client_secret: 's3cret',
    redirect_uri: `http://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 3, ...over } } });
}

function tooMany(r, detail) {
  assert.equal(r.status, 429, r.body);
  const retry = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${r.headers['retry-after']}`);
  assert.equal(r.headers['set-cookie'], undefined);
  assert.match(r.body, /data-reason="too_many"/);
  assert.ok(r.body.includes(detail), `"${detail}" in ${r.body}`);
}

test('one address gets logins_per_ip_per_minute sign-in requests (login and callback together), then 429; another address is served', { timeout: seconds(90) }, async () => {
  const srv = await oidcServer({ logins_per_ip_per_minute: 4 });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await get(`${srv.url}/oidc/login`)).status, 502);
    const state = crypto.randomBytes(32).toString('base64url');
    // the callback counts too (it is refused for its unknown state, but counted)
    assert.equal((await get(`${srv.url}/oidc/callback?code=x&state=${state}`)).status, 403);
    tooMany(await get(`${srv.url}/oidc/login`), 'too many sign-in requests from this address');
    tooMany(await get(`${srv.url}/oidc/callback?code=x&state=${state}`), 'too many sign-in requests from this address');
    // other routes and other addresses are not limited
    assert.equal((await get(`${srv.url}/oidc/me`)).status, 200);
    assert.equal((await get(`${srv.url}/oidc/login`, '127.0.0.5')).status, 502);
    assert.match(srv.output(), /429 for 127\.0\.0\.1: too many sign-in requests/);
  } finally {
    await srv.stop();
  }
});

test('at most max_pending_logins sign-ins are held: the next one is 429, none is pushed out', { timeout: seconds(90) }, async () => {
  const srv = await oidcServer({ max_pending_logins: 3, logins_per_ip_per_minute: 1000 });
  try {
    // from three addresses: the bound is the server's, not an address's
    for (const from of ['127.0.0.1', '127.0.0.6', '127.0.0.7']) {
      assert.equal((await get(`${srv.url}/oidc/login`, from)).status, 502);
    }
    tooMany(await get(`${srv.url}/oidc/login`, '127.0.0.8'), 'too many sign-ins in progress');
    assert.equal(Number((await get(`${srv.url}/oidc/login`, '127.0.0.8')).headers['retry-after']), 60);
  } finally {
    await srv.stop();
  }
});

test('sign-in off: /oidc/me answers {"mode": "off"} (not 404), the other /oidc routes are 404', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const r = await get(`${srv.url}/oidc/me`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { mode: 'off' });
    assert.equal((await get(`${srv.url}/oidc/login`)).status, 404);
  } finally {
    await srv.stop();
  }
});
