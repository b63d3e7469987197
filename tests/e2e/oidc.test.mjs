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
//      session cookie no longer opens anything (/oidc/me, WebSocket);
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
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { CHROMIUM_ARGS, TIME_SCALE } from '../lib/media_e2e.mjs';
import { freePort, startPalabre } from '../lib/palabre.mjs';
import { startProvider, makeCa } from '../lib/oidc_provider.mjs';
import { seconds } from '../lib/timeouts.mjs';

let op, srv, browser;
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
  op = await startProvider({
    redirectUri: `http://127.0.0.1:${port}/oidc/callback`, postLogoutUri: `http://127.0.0.1:${port}/`,
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

const sessionCookie = async (context) => (await context.cookies(srv.url)).find((c) => c.name === 'palabre_session');

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
  await a.page.getByLabel('Titre de la salle').fill('Conseil des sages');
  await a.page.getByRole('button', { name: 'Créer la salle' }).click();
  await a.page.waitForURL(`${srv.url}/r/conseil-des-sages`);
  await a.page.getByLabel('Votre nom').fill('Autre nom');
  await a.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
  await a.page.getByRole('heading', { level: 1, name: 'Réunion « Conseil des sages »' }).waitFor();
  await a.page.locator('.people .person__name').getByText('Doctor Who (vous)').waitFor();
  await a.page.locator('.people .person__role').getByText('Propriétaire').waitFor();

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
  for (const p of [a, g]) assert.deepEqual(p.errors, [], `${p.name}: page errors`);
});
