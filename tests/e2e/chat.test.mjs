// Browser client: home, pre-join, room, chat, languages, accessibility,
// reconnection. Real palabre on 127.0.0.1, Debian's Chromium through playwright-core.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, waitFor, axeSerious } from '../lib/web.mjs';
import { connect } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

let srv;
let browser;
const pages = [];

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
}, { timeout: seconds(120) });

after(async () => {
  await browser?.close();
  await srv?.stop();
}, { timeout: seconds(120) });

// Each test's pages go when it ends, passed or not: a joined page publishes its
// fake camera, and pages left open would load the machine for every later test.
afterEach(async () => {
  for (const p of pages) if (!p.closed) { p.closed = true; await p.context.close().catch(() => {}); }
}, { timeout: seconds(60) });

async function open(opts) {
  const p = await newPage(browser, opts);
  pages.push(p);
  return p;
}

// Joins room as name through the pre-join form; resolves once connected.
async function joinAs(room, name, opts) {
  const p = await open(opts);
  await p.page.goto(`${srv.url}/r/${room}`);
  await p.page.getByLabel(opts?.locale === 'en-US' ? 'Your name' : 'Votre nom').fill(name);
  await p.page.getByRole('button', { name: opts?.locale === 'en-US' ? 'Join' : 'Rejoindre', exact: true }).click();
  await connected(p.page);
  return p;
}

const connected = (page) => waitFor(() => page.evaluate(() =>
  document.getElementById('conn-status').dataset.state === 'connected'), 'connected state');

const chatTexts = (page) => page.$$eval('.chat__list .msg__text', (els) => els.map((e) => e.textContent));
const people = (page) => page.$$eval('.people .person__name', (els) => els.map((e) => e.textContent));

async function sendChat(page, text) {
  const input = page.getByRole('textbox', { name: 'Message', exact: true });
  await input.fill(text);
  await input.press('Enter');
}

function assertClean(p) {
  assert.deepEqual(p.foreign, [], 'requests to another host than 127.0.0.1');
  assert.deepEqual(p.dialogs, [], 'dialogs');
  assert.deepEqual(p.errors, [], 'page errors or CSP refusals');
}

test('home: French by default, invalid name refused, the form navigates to /r/<room>, no serious axe violation', { timeout: seconds(300) }, async () => {
  const p = await open();
  await p.page.goto(`${srv.url}/`);
  assert.equal(await p.page.getAttribute('html', 'lang'), 'fr');
  await p.page.getByRole('heading', { level: 1, name: 'Rejoindre ou créer une réunion' }).waitFor();
  const input = p.page.getByLabel('Nom de la réunion');
  await input.fill('Conseil Municipal!');
  await p.page.getByRole('button', { name: 'Continuer' }).click();
  await p.page.getByText('Le nom de la réunion doit contenir de 1 à 64 caractères').waitFor();
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.equal(new URL(p.page.url()).pathname, '/');
  assertClean(p);
  assert.deepEqual(await axeSerious(p.page), []);
  await input.fill('conseil-municipal');
  await input.press('Enter');
  await p.page.waitForURL(`${srv.url}/r/conseil-municipal`);
  await p.page.getByRole('heading', { level: 1, name: 'Rejoindre la réunion « conseil-municipal »' }).waitFor();
  await p.page.goto(`${srv.url}/r/Salle_B`); // not a valid room name: the home page says so
  assert.match(await p.page.getByRole('alert').textContent(), /« Salle_B » ne correspond pas à une réunion valide/);
  assertClean(p);
});

test('pre-join: name field and Join button, no serious axe violation; leave; the name is remembered', { timeout: seconds(300) }, async () => {
  const p = await joinAs('prejoin', 'Agnès Dupont');
  assert.equal(await p.page.evaluate(() => localStorage.getItem('palabre.name')), 'Agnès Dupont');
  const q = await newPage(browser);
  await q.page.goto(`${srv.url}/r/prejoin`); // new context: empty storage
  assert.equal(await q.page.getByLabel('Votre nom').inputValue(), '');
  await p.page.getByRole('button', { name: 'Quitter la réunion' }).click();
  await p.page.getByRole('heading', { level: 1, name: 'Vous avez quitté la réunion' }).waitFor();
  assert.equal(await p.page.getAttribute('#conn-status', 'data-state'), 'disconnected');
  await p.page.getByRole('link', { name: 'Rejoindre à nouveau' }).click(); // same context: name remembered
  const name = p.page.getByLabel('Votre nom');
  await name.waitFor();
  assert.equal(await name.inputValue(), 'Agnès Dupont');
  assert.deepEqual(await axeSerious(q.page), []);
  await q.context.close();
});

test('two participants join /r/demo, see each other, chat both ways; markup is shown as text; a reload goes back in as the same participant and shows the history; no serious axe violation in the room', { timeout: seconds(300) }, async () => {
  const a = await joinAs('demo', 'Alice');
  const b = await joinAs('demo', 'Bruno');
  await waitFor(async () => (await people(a.page)).some((n) => n.startsWith('Bruno')), 'Bruno in Alice\'s list');
  assert.ok((await people(b.page)).some((n) => n.startsWith('Alice')));
  assert.ok((await people(b.page)).includes('Bruno (vous)'));
  // the first agent in an unknown room creates it: its owner
  assert.match(await a.page.textContent('.people'), /Propriétaire/);

  await sendChat(a.page, 'Bonjour Bruno');
  await waitFor(async () => (await chatTexts(b.page)).includes('Bonjour Bruno'), 'message at Bruno');
  await sendChat(b.page, 'Bonjour Alice');
  await waitFor(async () => (await chatTexts(a.page)).includes('Bonjour Alice'), 'message at Alice');

  const evil = '<img src=x onerror=alert(1)>';
  await sendChat(b.page, evil);
  await waitFor(async () => (await chatTexts(a.page)).includes(evil), 'markup message at Alice');
  assert.equal(await a.page.locator('.chat__log img').count(), 0);
  assert.equal(await b.page.locator('.chat__log img').count(), 0);

  const log = a.page.getByRole('log');
  assert.equal(await log.count(), 1);
  assert.deepEqual(await axeSerious(a.page), []);

  const selfId = (page) => page.$eval('.people .person', (li) => li.dataset.participantId);
  const aliceId = await selfId(a.page);
  await a.page.reload(); // goes back in at once, as the same participant (resume token)
  await connected(a.page);
  assert.equal(await selfId(a.page), aliceId);
  assert.equal((await people(b.page)).length, 2);
  await waitFor(async () => (await chatTexts(a.page)).length === 3, 'history after reload');
  assert.deepEqual(await chatTexts(a.page), ['Bonjour Bruno', 'Bonjour Alice', evil]);
  assert.equal(await a.page.locator('.chat__log img').count(), 0);
  assertClean(a);
  assertClean(b);
});

test('keyboard only: Tab reaches the Message input and Enter sends', { timeout: seconds(300) }, async () => {
  const a = await joinAs('clavier', 'Claire');
  const b = await joinAs('clavier', 'Denis');
  await a.page.bringToFront();
  let tabs = 0;
  while (!await a.page.evaluate(() => document.activeElement?.id === 'chat-input')) {
    assert.ok(++tabs < 40, 'the Message input is reachable with Tab');
    await a.page.keyboard.press('Tab');
  }
  assert.ok(await a.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle !== 'none'),
    'visible focus');
  await a.page.keyboard.type('Envoyé au clavier');
  await a.page.keyboard.press('Enter');
  await waitFor(async () => (await chatTexts(b.page)).includes('Envoyé au clavier'), 'keyboard message');
  assert.equal(await a.page.inputValue('#chat-input'), '');
});

test('English with locale en-US; the chat input is still named "Message"', { timeout: seconds(300) }, async () => {
  const p = await open({ locale: 'en-US' });
  await p.page.goto(`${srv.url}/`);
  assert.equal(await p.page.getAttribute('html', 'lang'), 'en');
  await p.page.getByRole('heading', { level: 1, name: 'Join or create a meeting' }).waitFor();
  const e = await joinAs('english', 'Emma', { locale: 'en-US' });
  assert.equal(await e.page.getAttribute('html', 'lang'), 'en');
  await e.page.getByRole('heading', { level: 1, name: 'Meeting “english”' }).waitFor();
  assert.equal(await e.page.getByRole('textbox', { name: 'Message', exact: true }).count(), 1);
  assert.equal(await e.page.textContent('#conn-status'), 'Connected');
  assert.deepEqual(await axeSerious(e.page), []);
  // French page: same accessible name
  const f = await joinAs('english', 'François');
  assert.equal(await f.page.getByRole('textbox', { name: 'Message', exact: true }).count(), 1);
  assert.equal(await f.page.textContent('#conn-status'), 'Connecté');
});

test('autojoin: /r/<room>?name=..&autojoin=1 joins at once', { timeout: seconds(300) }, async () => {
  const p = await open();
  await p.page.goto(`${srv.url}/r/auto?name=${encodeURIComponent('Gaëlle Martin')}&autojoin=1`);
  await connected(p.page);
  await waitFor(async () => (await people(p.page)).includes('Gaëlle Martin (vous)'), 'self in the list');
  assert.equal(await p.page.evaluate(() => localStorage.getItem('palabre.name')), 'Gaëlle Martin');
  assertClean(p);
});

// A JSON WebSocket participant that is not a browser (tests/lib/palabre.mjs):
// a call fails, naming its request, when the socket closes or no answer comes.
const wsClient = (url) => connect(`${url.replace('http', 'ws')}/ws`, { origin: url, timeout: seconds(10) });

test('history: the latest 50 on join, earlier ones with "Afficher les messages précédents"', { timeout: seconds(300) }, async () => {
  const c = await wsClient(srv.url);
  await c.call('join', { room: 'archives', name: 'Greffe' });
  for (let i = 1; i <= 60; i++) await c.politeCall('chat_send', { text: `point ${i}`, client_msg_id: `a-${i}` });
  await c.close();
  const p = await open();
  await p.page.goto(`${srv.url}/r/archives?name=Henri&autojoin=1`);
  await connected(p.page);
  await waitFor(async () => (await chatTexts(p.page)).length === 50, 'first page');
  assert.equal((await chatTexts(p.page))[0], 'point 11');
  await p.page.getByRole('button', { name: 'Afficher les messages précédents' }).click();
  await waitFor(async () => (await chatTexts(p.page)).length === 60, 'earlier page');
  assert.deepEqual(await chatTexts(p.page), Array.from({ length: 60 }, (_, i) => `point ${i + 1}`));
  assert.equal(await p.page.getByRole('button', { name: 'Afficher les messages précédents' }).count(), 0);
});

test('reconnect: server killed and restarted → reconnecting, then connected, missed messages in order once, pending message delivered', { timeout: seconds(300) }, async () => {
  const own = await startServer();
  try {
    const openOn = async (name) => {
      const p = await open();
      await p.page.goto(`${own.url}/r/relance?name=${name}&autojoin=1`);
      await connected(p.page);
      return p;
    };
    const a = await openOn('Alice');
    const b = await openOn('Bruno');
    await sendChat(b.page, 'avant la coupure');
    await waitFor(async () => (await chatTexts(a.page)).includes('avant la coupure'), 'first message');

    await own.kill();
    await waitFor(() => a.page.evaluate(() => document.getElementById('conn-status').dataset.state === 'reconnecting'),
      'reconnecting state');
    assert.equal(await a.page.textContent('#conn-status'), 'Connexion perdue, reconnexion…');
    await sendChat(a.page, 'écrit pendant la coupure');
    await a.page.locator('.msg--pending', { hasText: 'écrit pendant la coupure' }).waitFor();

    // messages stored while Alice is away: another server on the same data dir
    const side = await startServer({ dataDir: own.dataDir });
    const c = await wsClient(side.url);
    await c.call('join', { room: 'relance', name: 'Carole' });
    for (let i = 1; i <= 3; i++) await c.politeCall('chat_send', { text: `manqué ${i}`, client_msg_id: `c-${i}` });
    await c.close();
    await side.stop();

    await own.restart();
    await connected(a.page);
    await waitFor(async () => (await chatTexts(a.page)).includes('manqué 3'), 'missed messages');
    await waitFor(async () => await a.page.locator('.msg--pending').count() === 0, 'pending message acknowledged');
    assert.deepEqual(await chatTexts(a.page),
      ['avant la coupure', 'manqué 1', 'manqué 2', 'manqué 3', 'écrit pendant la coupure']);
    await connected(b.page);
    await waitFor(async () => (await chatTexts(b.page)).includes('écrit pendant la coupure'), 'pending message at Bruno');
    const ids = await a.page.$$eval('.chat__list .msg', (els) => els.map((e) => Number(e.dataset.id)));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
    assertClean(a);
  } finally {
    await own.stop();
  }
});

test('socket dropped: reconnecting, then resumed as the same participant, with the messages missed meanwhile', { timeout: seconds(300) }, async () => {
  // its own server with a resume window far longer than the test: on a loaded
  // machine the drop below can outlast the default 30 s, and Alice would come
  // back as a new participant
  const own = await startServer({ config: '[limits]\nresume_seconds = 600\n' });
  try {
    const a = await open();
    // every WebSocket of Alice's page goes through this route: it can drop the
    // socket, and refuse new ones until told otherwise
    let refuse = false;
    let current = null;
    await a.page.routeWebSocket(/\/ws$/, (ws) => {
      if (refuse) { ws.close({ code: 1011, reason: 'test: refused' }); return; }
      current = { page: ws, server: ws.connectToServer() };
    });
    await a.page.goto(`${own.url}/r/coupure?name=Alice&autojoin=1`);
    await connected(a.page);
    const b = await open();
    await b.page.goto(`${own.url}/r/coupure?name=Bruno&autojoin=1`);
    await connected(b.page);
    await waitFor(async () => (await people(a.page)).length === 2, 'two participants');
    const aliceId = await a.page.$eval('.people .person', (li) => li.dataset.participantId);

    refuse = true;
    await current.server.close();
    await current.page.close({ code: 1006 });
    await waitFor(() => a.page.evaluate(() => document.getElementById('conn-status').dataset.state === 'reconnecting'),
      'reconnecting state');
    await sendChat(b.page, 'pendant que tu étais partie');
    await waitFor(async () => (await chatTexts(b.page)).includes('pendant que tu étais partie'), 'sent');
    refuse = false;
    await connected(a.page);
    await waitFor(async () => (await chatTexts(a.page)).includes('pendant que tu étais partie'), 'missed message');
    assert.equal(await a.page.$eval('.people .person', (li) => li.dataset.participantId), aliceId);
    assert.equal((await people(b.page)).length, 2);
    assertClean(a);
  } finally {
    await own.stop();
  }
});

test('a join that gets no response: after 15 s the page drops that socket, opens another and joins', { timeout: seconds(120) }, async () => {
  const a = await open();
  // on the first socket the server's responses are lost on the way back (a
  // stuck path): the server has the join, the page never gets an answer, and
  // the server's own timer (no join within 10 s) does not close it
  const sockets = [];
  await a.page.routeWebSocket(/\/ws$/, (ws) => {
    const n = sockets.push(ws);
    const server = ws.connectToServer();
    server.onMessage((m) => {
      if (n === 1 && JSON.parse(m).type === 'response') return;
      ws.send(m);
    });
  });
  const state = () => a.page.evaluate(() => document.getElementById('conn-status').dataset.state);
  const t0 = Date.now();
  await a.page.goto(`${srv.url}/r/sans-reponse?name=Alice&autojoin=1`);
  await waitFor(async () => sockets.length === 1 && (await state()) === 'connecting', 'connecting on the first socket');
  await waitFor(() => sockets.length === 2, 'a second socket after the timeout', seconds(30));
  assert.ok(Date.now() - t0 >= 14000, `gave up on the join after ${Date.now() - t0} ms, not 15 s`);
  await connected(a.page);
  assert.equal(sockets.length, 2);
  assert.ok((await people(a.page)).includes('Alice (vous)'));
  assertClean(a);
});

test('no page made a request to a host other than 127.0.0.1', { timeout: seconds(300) }, () => {
  for (const p of pages) assert.deepEqual(p.foreign, []);
});
