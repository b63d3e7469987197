// OpenID Connect sign-in (issue 13), against a real provider: Debian's
// LemonLDAP::NG portal (tests/lib/oidc_provider.mjs) over TLS from a test
// CA, in this file's private network namespace (tests/run.sh). Chromium goes
// through the provider's own login form. palabre runs with
// [access] agents = oidc and trusts the test CA ([oidc] ca_file); Chromium
// trusts it by its key (--ignore-certificate-errors-spki-list).
//
//   1. sign in as dwho: back on Palabre as "Doctor Who" (name in the
//      header), create a room, invite a guest who waits and is admitted;
//      sign out (through the provider's end-session endpoint): the old
//      session cookie no longer opens anything (/oidc/me, WebSocket); back
//      in the room without a session, the agent goes through sign-in and
//      comes back to that room, its owner again;
//   2. the refusals, each with its error page and no session: a wrong
//      state, a replayed code (the real provider), then ID tokens crafted
//      by the test (a tiny token endpoint of its own, for these cases only):
//      wrong nonce, aud, iss, expired, signed by a key not in the JWKS,
//      alg none; the provider unreachable;
//   3. a key rotation at the provider (new kid) is picked up by a palabre
//      that already holds the old key, without a restart.
import '../lib/timeouts.mjs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { CHROMIUM_ARGS, TIME_SCALE } from '../lib/media_e2e.mjs';
import { connect, freePort, startPalabre } from '../lib/palabre.mjs';
import { startProvider, makeCa, SIRETS } from '../lib/oidc_provider.mjs';
import { seconds } from '../lib/timeouts.mjs';
import { axeSerious } from '../lib/web.mjs';

let op, srv, browser, port2; // port2: a second palabre, with an allow list
const contexts = [];

function oidcConfig(issuer, port, over = {}) {
  return {
    access: { agents: 'oidc' },
    oidc: {
      issuer, client_id: op.clientId, client_secret: op.clientSecret,
      redirect_uri: `http://127.0.0.1:${port}/oidc/callback`,
      post_logout_redirect_uri: `http://127.0.0.1:${port}/`,
      scopes: 'openid email profile usual_name siret uid', ca_file: op.caFile, timeout_seconds: 5,
      ...over,
    },
  };
}

before(async () => {
  const port = await freePort();
  port2 = await freePort();
  const both = (f) => [port, port2].map(f).join(' ');
  op = await startProvider({
    redirectUri: both((p) => `http://127.0.0.1:${p}/oidc/callback`), postLogoutUri: both((p) => `http://127.0.0.1:${p}/`),
  });
  srv = await startPalabre({ port, config: oidcConfig(op.issuer, port) });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${op.caSpki}`],
  });
}, { timeout: seconds(120) });

after(async () => {
  // palabre's sign-in log lines, for a failing run
  for (const l of (srv?.output() || '').split('\n')) if (/ oidc /.test(l)) console.log(`# ${l}`);
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await srv?.stop();
  await op?.stop();
}, { timeout: seconds(60) });

async function person(name) {
  const context = await browser.newContext({ locale: 'fr-FR' });
  context.setDefaultTimeout(60000 * TIME_SCALE);
  contexts.push(context);
  const page = await context.newPage();
  const p = { name, context, page, errors: [] };
  page.on('pageerror', (e) => { p.errors.push(e.message); console.log(`# [${name}] page error: ${e.message}`); });
  // where the browser went: the log of a failing run shows the step it stopped at
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) console.log(`# [${name}] at ${f.url().slice(0, 160)}`); });
  return p;
}

// The provider's own login form (LemonLDAP::NG's portal).
async function providerLogin(page, user, password) {
  await page.waitForURL((u) => u.origin === op.issuer);
  await page.locator('input[name="user"]').fill(user);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password"]').press('Enter');
}

// From base's home page, through the provider's form, back named.
async function signInFromHome(p, base, user, name) {
  await p.page.goto(`${base}/`);
  await p.page.getByRole('main').getByRole('link', { name: 'Se connecter' }).click();
  await providerLogin(p.page, user, user);
  await p.page.locator('#account').getByRole('button', { name }).waitFor();
}

// An agent on the home page creates a room and joins it, its owner.
async function createAndJoin(page, base, title, slug) {
  await page.getByLabel('Titre de la salle').fill(title);
  await page.getByRole('button', { name: 'Créer la salle' }).click();
  await page.waitForURL(`${base}/r/${slug}`);
  await page.getByLabel('Votre nom').fill('Autre nom'); // the provider's name wins
  await page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: `Réunion « ${title} »` }).waitFor();
  await page.locator('.people .person__role').getByText('Propriétaire').waitFor();
}

const sessionCookie = async (context, url = srv.url) => (await context.cookies(url)).find((c) => c.name === 'palabre_session');

async function me(base, cookie) {
  const r = await fetch(`${base}/oidc/me`, { headers: cookie ? { cookie: `palabre_session=${cookie}` } : {} });
  return r.json();
}

// A WebSocket carrying the cookie: the answer to auth.
function wsAuth(base, cookie) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, {
      origin: base, headers: cookie ? { cookie: `palabre_session=${cookie}` } : {},
    });
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, type: 'auth' })));
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m));
      if (msg.id === 1) { ws.close(); resolve(msg); }
    });
    ws.on('error', reject);
  });
}

test('an agent signs in at the provider, comes back named, creates a room and invites a guest; sign-out ends the session', { timeout: seconds(300) }, async () => {
  const a = await person('dwho');
  await a.page.goto(`${srv.url}/`);
  // signed out: the home page says why and offers the button
  await a.page.getByRole('heading', { level: 1, name: 'Connexion requise' }).waitFor();
  await a.page.getByRole('main').getByRole('link', { name: 'Se connecter' }).click();
  await providerLogin(a.page, 'dwho', 'dwho');
  await a.page.waitForURL(`${srv.url}/`);
  // named in the header (given_name + usual_name, ProConnect's claims)
  const account = a.page.locator('#account');
  await account.getByRole('button', { name: /Doctor Who/ }).waitFor();
  const cookie = await sessionCookie(a.context);
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(await me(srv.url, cookie.value),
    { mode: 'oidc', signed_in: true, name: 'Doctor Who', email: 'dwho@badwolf.org', agent: true });

  // an agent: "my rooms", create one, join it as Doctor Who, the owner
  await a.page.getByText('Vous n’avez pas encore de salle').waitFor();
  await createAndJoin(a.page, srv.url, 'Conseil des sages', 'conseil-des-sages');
  await a.page.locator('.people .person__name').getByText('Doctor Who (vous)').waitFor();

  // an invite link for a partner, who waits in the lobby and is admitted
  await a.page.getByRole('button', { name: 'Inviter' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'Inviter des participants extérieurs' });
  await dialog.getByLabel('Libellé du lien').fill('Partenaire');
  await dialog.getByRole('button', { name: 'Créer le lien' }).click();
  await a.page.waitForFunction(() => document.getElementById('invite-link')?.value.includes('#invite='), null, { polling: 100 });
  const link = await dialog.locator('#invite-link').inputValue();
  await a.page.keyboard.press('Escape');
  const g = await person('invitée');
  await g.page.goto(link);
  await g.page.getByLabel('Votre nom').fill('Martha Jones');
  await g.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
  await g.page.locator('[data-screen="waiting"]').getByText('Vous êtes dans la salle d’attente').waitFor();
  await a.page.getByRole('button', { name: 'Faire entrer Martha Jones' }).click();
  await g.page.getByRole('heading', { level: 1, name: 'Réunion « Conseil des sages »' }).waitFor();
  await g.page.locator('.people .person__name').getByText('Doctor Who').waitFor();

  // sign out from the header's menu, by keyboard: through the provider, back home signed out
  await a.page.goto(`${srv.url}/`);
  const menuButton = account.getByRole('button', { name: /Doctor Who/ });
  await menuButton.focus();
  await a.page.keyboard.press('Enter');
  assert.equal(await menuButton.getAttribute('aria-expanded'), 'true');
  assert.deepEqual(await axeSerious(a.page), [], 'axe-core: the home page with the account menu open');
  await a.page.keyboard.press('Escape');
  assert.equal(await menuButton.getAttribute('aria-expanded'), 'false');
  await a.page.keyboard.press('Enter');
  const toProvider = a.page.waitForRequest((r) => r.url().startsWith(op.issuer));
  await account.getByRole('link', { name: 'Se déconnecter' }).click();
  const endSession = new URL((await toProvider).url());
  assert.equal(endSession.searchParams.get('id_token_hint')?.split('.').length, 3);
  // the provider sends the browser back to post_logout_redirect_uri (with its state)
  await a.page.waitForURL((u) => u.origin === srv.url && u.pathname === '/');
  await a.page.locator('#account').getByRole('link', { name: 'Se connecter' }).waitFor();
  assert.equal(await sessionCookie(a.context), undefined);
  // the old cookie opens nothing any more
  assert.deepEqual(await me(srv.url, cookie.value), { mode: 'oidc', signed_in: false });
  const r = await wsAuth(srv.url, cookie.value);
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'auth_required');

  // coming back to the room without a session (a new tab: no resume token of
  // the meeting left a moment ago): through sign-in, and back to that room
  const back = await a.context.newPage();
  await back.goto(`${srv.url}/r/conseil-des-sages`);
  await back.getByRole('button', { name: 'Rejoindre', exact: true }).click();
  await providerLogin(back, 'dwho', 'dwho');
  await back.waitForURL(`${srv.url}/r/conseil-des-sages`);
  await back.getByRole('button', { name: 'Rejoindre', exact: true }).click();
  await back.getByRole('heading', { level: 1, name: 'Réunion « Conseil des sages »' }).waitFor();
  await back.locator('.people .person__role').getByText('Propriétaire').first().waitFor();
  for (const p of [a, g]) assert.deepEqual(p.errors, [], `${p.name}: page errors`);
});

test('[oidc] agent_siret with the real provider: dwho (a listed siret) is an agent; rtyler (another siret) signs in as a guest who cannot create a room and knocks at the lobby; signing out in one tab closes the agent\'s other connections', { timeout: seconds(300) }, async () => {
  const s5 = await startPalabre({ port: port2, config: oidcConfig(op.issuer, port2, { agent_siret: `00000000000000, ${SIRETS.dwho}` }) });
  try {
    // dwho: signed in, an agent (the provider's siret claim is on the list)
    const a = await person('dwho, allow list');
    await signInFromHome(a, s5.url, 'dwho', /Doctor Who/);
    assert.equal((await me(s5.url, (await sessionCookie(a.context, s5.url)).value)).agent, true);
    assert.match(s5.output(), new RegExp(`signed in: oidc:dwho@badwolf.org \\(agent, siret ${SIRETS.dwho}\\)`));
    await createAndJoin(a.page, s5.url, 'Salle des fêtes', 'salle-des-fetes');

    // rtyler: signed in too, named by the provider, but not an agent
    const r = await person('rtyler, allow list');
    await signInFromHome(r, s5.url, 'rtyler', /Rose Tyler/);
    const rCookie = (await sessionCookie(r.context, s5.url)).value;
    assert.deepEqual(await me(s5.url, rCookie),
      { mode: 'oidc', signed_in: true, name: 'Rose Tyler', email: 'rtyler@badwolf.org', agent: false });
    assert.match(s5.output(), new RegExp(`signed in: oidc:rtyler@badwolf.org \\(guest: not in the allow list, siret ${SIRETS.rtyler}\\)`));
    // no room of her own: the home page says why, and room_create is refused
    await r.page.getByText('votre compte n’est pas celui d’un agent').waitFor();
    assert.equal(await r.page.getByRole('button', { name: 'Créer la salle' }).count(), 0);
    const c = await connect(s5.wsUrl, { origin: s5.url, headers: { cookie: `palabre_session=${rCookie}` } });
    const created = await c.request('room_create', { room: 'chez-rose', title: 'Chez Rose' });
    assert.equal(created.error.code, 'forbidden');
    c.close();
    // dwho's room: she waits in the lobby under the provider's name, and is admitted
    await r.page.goto(`${s5.url}/r/salle-des-fetes`);
    await r.page.getByLabel('Votre nom').fill('Rose'); // the provider's name wins
    await r.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
    await r.page.locator('[data-screen="waiting"]').getByText('Vous êtes dans la salle d’attente').waitFor();
    await a.page.getByRole('button', { name: 'Faire entrer Rose Tyler' }).click();
    await r.page.getByRole('heading', { level: 1, name: 'Réunion « Salle des fêtes »' }).waitFor();
    await r.page.locator('.people .person__name').getByText('Doctor Who').waitFor();

    // dwho signs out in another tab: the meeting tab's connection ends with
    // its session (close 4010, its participant leaves), and that tab goes
    // through sign-in back to the same room
    const tab = await a.context.newPage();
    await tab.goto(`${s5.url}/oidc/logout`);
    await tab.waitForURL((u) => u.origin === s5.url && u.pathname === '/');
    await r.page.locator('.people .person__name').getByText('Doctor Who').waitFor({ state: 'detached' });
    await a.page.waitForURL((u) => u.origin === op.issuer);
    assert.match(s5.output(), /signed out: connection closed/);
    await providerLogin(a.page, 'dwho', 'dwho');
    await a.page.waitForURL(`${s5.url}/r/salle-des-fetes`);
    // back in the meeting by itself (the tab remembers it was in that room)
    await a.page.getByRole('heading', { level: 1, name: 'Réunion « Salle des fêtes »' }).waitFor();
    await a.page.locator('.people .person__role').getByText('Propriétaire').waitFor();
    for (const p of [a, r]) assert.deepEqual(p.errors, [], `${p.name}: page errors`);
  } finally {
    for (const l of s5.output().split('\n')) if (/ (oidc|access|rooms) /.test(l)) console.log(`# s5 ${l}`);
    await s5.stop();
  }
});

// GET without following redirects: status, Location, Set-Cookie, body.
async function get(url, cookie) {
  const r = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  return { status: r.status, location: r.headers.get('location'), setCookie: r.headers.get('set-cookie'), body: await r.text() };
}

// A sign-in started by hand: the state and nonce palabre sent to the provider.
async function startLogin(base) {
  const r = await get(`${base}/oidc/login`);
  assert.equal(r.status, 303);
  const u = new URL(r.location);
  return { state: u.searchParams.get('state'), nonce: u.searchParams.get('nonce'), url: u };
}

function refused(r, detail) {
  assert.equal(r.status, 403, r.body);
  assert.equal(r.setCookie, null, 'no session cookie');
  assert.match(r.body, /Connexion impossible/);
  assert.match(r.body, /aucune session n’a été ouverte|aucune session n'a été ouverte/);
  assert.ok(r.body.includes(detail), `"${detail}" in ${r.body}`);
}

test('refused at the callback with the real provider: a wrong state, a replayed code', { timeout: seconds(180) }, async () => {
  const sessions = () => (srv.output().match(/signed in: /g) || []).length;
  const before = sessions();
  const bogus = crypto.randomBytes(32).toString('base64url');
  refused(await get(`${srv.url}/oidc/callback?code=abc&state=${bogus}`), 'unknown or already used state');

  // a real sign-in whose callback is kept, then played again
  const p = await person('rtyler');
  const callbacks = [];
  p.page.on('request', (r) => { if (r.url().startsWith(`${srv.url}/oidc/callback`)) callbacks.push(r.url()); });
  await p.page.goto(`${srv.url}/oidc/login?return_to=/r/atelier`);
  await providerLogin(p.page, 'rtyler', 'rtyler');
  await p.page.waitForURL(`${srv.url}/r/atelier`); // back where sign-in started
  assert.equal(callbacks.length, 1);
  // the same callback again: its state was used
  refused(await get(callbacks[0]), 'unknown or already used state');
  // its code with the state of a new sign-in: the provider refuses the used code
  const code = new URL(callbacks[0]).searchParams.get('code');
  const { state } = await startLogin(srv.url);
  refused(await get(`${srv.url}/oidc/callback?code=${code}&state=${state}`), 'the provider refused the code');
  assert.equal(sessions(), before + 1, 'rtyler\'s own sign-in only');
});

test('a key rotation at the provider (new kid) is picked up without restarting palabre', { timeout: seconds(180) }, async () => {
  const fetched = () => srv.output().match(/provider keys fetched/g).length;
  const before = fetched();
  const oldKid = op.kid;
  await op.rotateKey();
  assert.notEqual(op.kid, oldKid);
  const p = await person('rtyler, after the rotation');
  await signInFromHome(p, srv.url, 'rtyler', /Rose Tyler/);
  assert.equal(fetched(), before + 1, 'the JWKS fetched again for the new kid');
});

// ---- crafted ID tokens --------------------------------------------------
// A tiny provider of the test's own (discovery, JWKS, token, userinfo) over
// TLS, used ONLY to hand palabre ID tokens that a real provider would never
// sign: the happy path and the rotation above use LemonLDAP::NG.

function tinyProvider(dir) {
  const host = '127.0.0.3';
  makeCa(dir, host);
  const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const state = { next: null, issuer: null, forms: [] }; // forms: the token requests' bodies
  const server = https.createServer({
    key: fs.readFileSync(path.join(dir, 'op.key')),
    cert: fs.readFileSync(path.join(dir, 'op.pem')) + fs.readFileSync(path.join(dir, 'ca.pem')),
  }, (req, res) => {
    const u = new URL(req.url, state.issuer);
    const json = (o) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(o)); };
    if (u.pathname === '/.well-known/openid-configuration') {
      json({ issuer: state.issuer, authorization_endpoint: `${state.issuer}/authorize`, token_endpoint: `${state.issuer}/token`,
        userinfo_endpoint: `${state.issuer}/userinfo`, jwks_uri: `${state.issuer}/jwks` });
    } else if (u.pathname === '/jwks') {
      json({ keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'tiny1', alg: 'RS256', use: 'sig' }] });
    } else if (u.pathname === '/token') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        state.forms.push(new URLSearchParams(body));
        json({ access_token: 'at', token_type: 'Bearer', id_token: state.next });
      });
    } else if (u.pathname === '/userinfo') {
      json({ sub: 'agent-7', given_name: 'Clara', usual_name: 'Oswald', email: 'clara@mairie.example.fr' });
    } else {
      res.statusCode = 404; res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, host, () => {
    state.issuer = `https://${host}:${server.address().port}`;
    const sign = (header, claims, k = key.privateKey) => {
      const input = `${b64(header)}.${b64(claims)}`;
      return `${input}.${crypto.sign('sha256', Buffer.from(input), k).toString('base64url')}`;
    };
    resolve({ server, state, sign, stranger, caFile: path.join(dir, 'ca.pem') });
  }));
}

// A tiny provider and a palabre (plain http) that signs in there; stop() ends both.
async function startTinyPalabre() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-tiny-op-'));
  const tiny = await tinyProvider(dir);
  const port = await freePort();
  const srv2 = await startPalabre({ port, config: { access: { agents: 'oidc' }, oidc: {
    issuer: tiny.state.issuer, client_id: 'palabre', client_secret: 's3cret', ca_file: tiny.caFile,
    redirect_uri: `http://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 5 } } });
  return {
    tiny, srv: srv2,
    async stop() {
      await srv2.stop();
      tiny.server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('crafted ID tokens are refused (wrong nonce, aud, iss, expired, unknown key, alg none) with no session; a good one passes', { timeout: seconds(180) }, async () => {
  const { tiny, srv: s2, stop } = await startTinyPalabre();
  try {
    const now = Math.floor(Date.now() / 1000);
    const good = (nonce) => ({ iss: tiny.state.issuer, aud: 'palabre', sub: 'agent-7', nonce, iat: now, exp: now + 300 });
    const rs256 = (claims) => tiny.sign({ alg: 'RS256', kid: 'tiny1' }, claims);
    const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
    // each case: the ID token from the good claims for this sign-in's nonce, and the reason told
    const cases = [
      ['wrong nonce', (c) => rs256({ ...c, nonce: `${c.nonce}x` }), 'wrong nonce'],
      ['wrong aud', (c) => rs256({ ...c, aud: 'someone-else' }), 'wrong audience'],
      ['wrong iss', (c) => rs256({ ...c, iss: 'https://evil.example' }), 'wrong issuer'],
      ['expired', (c) => rs256({ ...c, iat: now - 7200, exp: now - 3600 }), 'ID token expired'],
      ['unknown key', (c) => tiny.sign({ alg: 'RS256', kid: 'stranger' }, c, tiny.stranger.privateKey), 'unknown key id'],
      ['alg none', (c) => `${b64({ alg: 'none' })}.${b64(c)}.`, 'algorithm none refused'],
    ];
    for (const [name, make, detail] of cases) {
      const { state, nonce } = await startLogin(s2.url);
      tiny.state.next = make(good(nonce));
      refused(await get(`${s2.url}/oidc/callback?code=c-${name.replace(/ /g, '-')}&state=${state}`), detail);
    }
    assert.equal((s2.output().match(/signed in: /g) || []).length, 0, 'no session made');
    // the same harness with a good token: a session (so the refusals above are the checks')
    const { state, nonce } = await startLogin(s2.url);
    tiny.state.next = rs256(good(nonce));
    const ok = await get(`${s2.url}/oidc/callback?code=good&state=${state}`);
    assert.equal(ok.status, 303, ok.body);
    assert.match(ok.setCookie, /^palabre_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax$/);
    const cookie = ok.setCookie.split(';')[0];
    assert.deepEqual(JSON.parse((await get(`${s2.url}/oidc/me`, cookie)).body),
      { mode: 'oidc', signed_in: true, name: 'Clara Oswald', email: 'clara@mairie.example.fr', agent: true });
  } finally {
    await stop();
  }
});

test('[oidc] pkce: on, the authorization request carries PKCE S256 and the token request its verifier; off, only the parameters ProConnect lists', { timeout: seconds(180) }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-tiny-op-'));
  const tiny = await tinyProvider(dir);
  const now = Math.floor(Date.now() / 1000);
  const started = [];
  try {
    for (const pkce of ['on', 'off']) {
      const port = await freePort();
      const s = await startPalabre({ port, config: { access: { agents: 'oidc' }, oidc: {
        issuer: tiny.state.issuer, client_id: 'palabre', client_secret: 's3cret', ca_file: tiny.caFile,
        redirect_uri: `http://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 5, pkce } } });
      started.push(s);
      const { state, nonce, url } = await startLogin(s.url);
      const names = [...url.searchParams.keys()].sort();
      const proconnect = ['client_id', 'nonce', 'redirect_uri', 'response_type', 'scope', 'state'];
      if (pkce === 'on') {
        assert.deepEqual(names, [...proconnect, 'code_challenge', 'code_challenge_method'].sort());
        assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
        assert.match(url.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
      } else {
        assert.deepEqual(names, proconnect);
      }
      tiny.state.next = tiny.sign({ alg: 'RS256', kid: 'tiny1' },
        { iss: tiny.state.issuer, aud: 'palabre', sub: 'agent-7', nonce, iat: now, exp: now + 300 });
      const ok = await get(`${s.url}/oidc/callback?code=code-${pkce}&state=${state}`);
      assert.equal(ok.status, 303, ok.body); // signed in either way
      const form = tiny.state.forms.at(-1);
      assert.equal(form.get('code'), `code-${pkce}`);
      if (pkce === 'on') {
        // the verifier is the one whose SHA-256 is the challenge sent
        const v = form.get('code_verifier');
        assert.equal(crypto.createHash('sha256').update(v).digest('base64url'), url.searchParams.get('code_challenge'));
      } else {
        assert.equal(form.has('code_verifier'), false);
      }
    }
  } finally {
    for (const s of started) await s.stop();
    tiny.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A sign-in at palabre base through the tiny provider (a good ID token for
// sub): the callback's answer. fetchUrl: get, or getTls with its CA.
async function tinySignIn(tiny, base, sub, fetchUrl = get) {
  const now = Math.floor(Date.now() / 1000);
  const u = new URL((await fetchUrl(`${base}/oidc/login`)).location);
  tiny.state.next = tiny.sign({ alg: 'RS256', kid: 'tiny1' }, { iss: tiny.state.issuer, aud: 'palabre', sub,
    nonce: u.searchParams.get('nonce'), iat: now, exp: now + 300 });
  const ok = await fetchUrl(`${base}/oidc/callback?code=c-${sub}&state=${u.searchParams.get('state')}`);
  assert.equal(ok.status, 303, ok.body);
  return ok;
}

// GET over TLS trusting ca, without following redirects.
function getTls(url, ca, cookie) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location,
        setCookie: res.headers['set-cookie']?.join('\n') ?? null, body }));
    }).on('error', reject);
  });
}

test('palabre over TLS: the session cookie is Secure (HttpOnly, SameSite=Lax, Max-Age = the lifetime); an unused session ends at the idle timeout, an open connection keeps its own alive until the lifetime, then is closed 4010 and leaves the room', { timeout: seconds(180) }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-tiny-op-'));
  const tiny = await tinyProvider(dir);
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-tls-'));
  const { ca } = makeCa(tlsDir, '127.0.0.1');
  const port = await freePort();
  const LIFETIME = 30, IDLE = 10;
  const s6 = await startPalabre({ port, ca, config: {
    server: { tls_cert: path.join(tlsDir, 'op-chain.pem'), tls_key: path.join(tlsDir, 'op.key') },
    access: { agents: 'oidc' },
    oidc: { issuer: tiny.state.issuer, client_id: 'palabre', client_secret: 's3cret', ca_file: tiny.caFile,
      redirect_uri: `https://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 5,
      session_lifetime_seconds: LIFETIME, session_idle_seconds: IDLE } } });
  const sockets = [];
  try {
    assert.match(s6.url, /^https:/);
    const signIn = async (sub) => (await tinySignIn(tiny, s6.url, sub, (u) => getTls(u, ca))).setCookie;
    const me6 = async (cookie) => JSON.parse((await getTls(`${s6.url}/oidc/me`, ca, cookie)).body).signed_in;
    const setCookie = await signIn('agent-7');
    assert.match(setCookie, new RegExp(`^palabre_session=[A-Za-z0-9_-]{43}; Path=/; Max-Age=${LIFETIME}; HttpOnly; SameSite=Lax; Secure$`));
    const inMeeting = setCookie.split(';')[0];
    const unused = (await signIn('agent-7')).split(';')[0];
    const started = Date.now();

    // the first session's WebSocket (wss): an agent who creates and joins a room
    const ws = new WebSocket(`${s6.wsUrl}`, { ca, origin: s6.url, headers: { cookie: inMeeting } });
    sockets.push(ws);
    const msgs = [];
    const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })));
    ws.on('message', (m) => msgs.push(JSON.parse(String(m))));
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    ws.send(JSON.stringify({ id: 1, type: 'join', room: 'salle-tls', name: 'Clara' }));
    const deadline = Date.now() + seconds(10);
    while (!msgs.some((m) => m.id === 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const joined = msgs.find((m) => m.id === 1);
    assert.equal(joined?.ok, true, JSON.stringify(joined));
    assert.equal(joined.data.participant.role, 'owner');

    // past the idle timeout: the unused session is gone, the one in a meeting is not
    await new Promise((r) => setTimeout(r, (IDLE + 2) * 1000 - (Date.now() - started)));
    assert.equal(await me6(unused), false, 'idle session ended');
    assert.equal(await me6(inMeeting), true, 'the session of an open connection is in use');

    // its lifetime ends: the connection is closed 4010, and its rights with it
    const c = await closed;
    assert.deepEqual({ code: c.code, reason: c.reason }, { code: 4010, reason: 'session expired' });
    assert.ok(c.at - started >= (LIFETIME - 2) * 1000, `closed after ${c.at - started} ms, not before the lifetime`);
    assert.match(s6.output(), /room=salle-tls participant=\S+ left \(session_expired\)/);
    assert.equal(await me6(inMeeting), false);
  } finally {
    for (const w of sockets) w.terminate();
    await s6.stop();
    tiny.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(tlsDir, { recursive: true, force: true });
  }
});

test('an agent whose connection dropped and whose session then ended (signed out) cannot resume: resume_failed, and the participant leaves', { timeout: seconds(120) }, async () => {
  const { tiny, srv: s8, stop } = await startTinyPalabre();
  const open = [];
  try {
    const signIn = async () => (await tinySignIn(tiny, s8.url, 'agent-7')).setCookie.split(';')[0];
    const [a, b] = [await signIn(), await signIn()]; // two tabs' worth: two sessions of one agent
    const ca = await connect(s8.wsUrl, { origin: s8.url, headers: { cookie: a } });
    const cb = await connect(s8.wsUrl, { origin: s8.url, headers: { cookie: b } });
    open.push(ca, cb);
    const ja = await ca.call('join', { room: 'salle-absente', name: 'Clara' });
    assert.equal(ja.participant.role, 'owner');
    await cb.call('join', { room: 'salle-absente', name: 'Clara' });
    // a's connection drops (no close frame): a ghost that may resume
    ca.ws.terminate();
    await ca.closed;
    // the server has seen the drop: before that, the sign-out would close a
    // live connection (reason signed_out), not end a ghost
    const lost = new RegExp(`participant=${ja.participant.id} connection lost`);
    for (const end = Date.now() + seconds(10); !lost.test(s8.output());) {
      assert.ok(Date.now() < end, `the server never saw the connection drop:\n${s8.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await get(`${s8.url}/oidc/logout`, a)).status, 303);
    const left = cb.event('participant_left', { filter: (e) => e.participant_id === ja.participant.id });
    // the resume, on a connection without a live session
    const again = await connect(s8.wsUrl, { origin: s8.url, headers: { cookie: a } });
    open.push(again);
    const r = await again.request('join', { room: 'salle-absente', name: 'Clara', resume_token: ja.resume_token });
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.error.code, 'resume_failed');
    assert.equal((await left).reason, 'session_expired');
    // without the token either: sign in first
    assert.equal((await again.request('join', { room: 'salle-absente', name: 'Clara' })).error.code, 'auth_required');
  } finally {
    for (const c of open) c.close();
    await stop();
  }
});

test('sign-in off ([access] agents = open): a normal join logs no error in the browser console (/oidc/me says mode off, no 404)', { timeout: seconds(120) }, async () => {
  const s7 = await startPalabre({ port: await freePort() });
  try {
    const p = await person('open mode');
    const errors = [];
    p.page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} ${m.location()?.url || ''}`); });
    p.page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    p.page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    const me7 = p.page.waitForResponse((r) => r.url().endsWith('/oidc/me'));
    await p.page.goto(`${s7.url}/r/salle-ouverte`);
    assert.equal((await me7).status(), 200);
    await p.page.getByLabel('Votre nom').fill('Amy Pond');
    await p.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
    await p.page.getByRole('heading', { level: 1, name: /salle-ouverte/ }).waitFor();
    await p.page.locator('.people .person__name').getByText('Amy Pond (vous)').waitFor();
    assert.equal(await p.page.locator('#account').count(), 0, 'no sign-in button');
    assert.deepEqual(errors, []);
    assert.deepEqual(p.errors, []);
  } finally {
    await s7.stop();
  }
});

test('the provider unreachable: the sign-in page says so, and palabre goes on serving', { timeout: seconds(120) }, async () => {
  const port = await freePort(), dead = await freePort();
  const s3 = await startPalabre({ port, config: { access: { agents: 'oidc' }, oidc: {
    issuer: `https://127.0.0.1:${dead}`, client_id: 'palabre', client_secret: 's3cret',
    redirect_uri: `http://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 3 } } });
  try {
    const p = await person('provider down');
    await p.page.goto(`${s3.url}/`);
    await p.page.getByRole('main').getByRole('link', { name: 'Se connecter' }).click();
    await p.page.getByRole('heading', { level: 1, name: 'Connexion impossible' }).waitFor();
    await p.page.getByText('Le service d\'identité ne répond pas').waitFor();
    assert.deepEqual(await axeSerious(p.page), [], 'axe-core: the sign-in error page');
    assert.equal(await p.page.locator('#oidc-error').getAttribute('data-reason'), 'provider_unreachable');
    const r = await get(`${s3.url}/oidc/login`);
    assert.equal(r.status, 502);
    assert.equal(r.setCookie, null);
    assert.equal((await get(`${s3.url}/healthz`)).body, 'ok');
  } finally {
    await s3.stop();
  }
});

test('a provider that accepts connections and never answers delays only sign-in: the server answers HTTP and WebSocket requests meanwhile', { timeout: seconds(120) }, async () => {
  // a black hole: TCP accepted, TLS never answered
  const held = [];
  const hole = net.createServer((sock) => { held.push(sock); sock.on('error', () => {}); });
  await new Promise((r) => hole.listen(0, '127.0.0.1', r));
  const port = await freePort();
  const s4 = await startPalabre({ port, config: { access: { agents: 'oidc' }, oidc: {
    issuer: `https://127.0.0.1:${hole.address().port}`, client_id: 'palabre', client_secret: 's3cret',
    redirect_uri: `http://127.0.0.1:${port}/oidc/callback`, timeout_seconds: 4 } } });
  try {
    let loginDone = false;
    const login = get(`${s4.url}/oidc/login`).then((r) => { loginDone = true; return r; });
    // wait until the worker is inside its call to the provider
    const deadline = Date.now() + seconds(10);
    while (held.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(held.length, 1, 'palabre connected to the provider');
    // meanwhile the signaling thread answers: HTTP, and a WebSocket request
    // (a join without a session, refused as it should be)
    assert.equal((await get(`${s4.url}/healthz`)).body, 'ok');
    assert.equal((await get(`${s4.url}/oidc/me`)).status, 200);
    const c = await connect(s4.wsUrl);
    const refusedJoin = await c.request('join', { room: 'salle', name: 'X' });
    assert.equal(refusedJoin.error.code, 'auth_required');
    c.close();
    assert.equal(loginDone, false, 'all of that while the sign-in was still waiting on the provider');
    const r = await login;
    assert.equal(r.status, 502);
    assert.match(r.body, /provider_unreachable/);
  } finally {
    await s4.stop();
    for (const sock of held) sock.destroy();
    hole.close();
  }
});
