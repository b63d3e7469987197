// Access in the browser (issue 11): rooms that belong to an agent, invite
// links, the lobby, moderation, as people use them. Real palabre on 127.0.0.1
// (tests/run.sh runs this file in a private network namespace with only lo),
// Debian's Chromium with fake camera and microphone; each person is a
// separate browser context (own storage: another browser).
//
// The tests follow one meeting and run in order: the room and the people of
// the first test are those of the next ones.
//   1. an agent creates a room on the home page and a link in the Inviter
//      dialog; a guest opens the link, gives a name and waits (the room's
//      title, no participant, no chat message, no media); the agent sees the
//      knock and admits; both see and hear each other; a second guest is
//      denied and told so;
//   2. hard mute from the participant menu: the guest's microphone control is
//      disabled with its explanation, enabled again after "allow unmute";
//   3. keyboard only: a link made in the Inviter dialog, Escape, focus back;
//      revoked, that link refuses entry with a clear message;
//   4. promote a guest to moderator and back: the moderators' tools come and go;
//      remove with ban: the guest is told, and coming back by the link is refused;
//   5. guests' chat off, lock, then end for all: everyone sees that the meeting
//      has ended;
//   6. guests who come while no moderator is there wait and are shown to the
//      owner when she comes back; admit all.
// Then, on a server in token mode: no token, a bad token, and a token given
// in the page's fragment (#token=...).
// axe-core on every new screen: no serious or critical finding.
import '../lib/timeouts.mjs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre, waitDecoding, TIME_SCALE } from '../lib/media_e2e.mjs';
import { axeSerious } from '../lib/web.mjs';
import { seconds } from '../lib/timeouts.mjs';

let server, browser;
const people = []; // every person opened, closed at the end
// the meeting the tests share
const M = { room: 'commission-voirie', title: 'Commission voirie — Étude', agent: null, guest: null, link: null };

before(async () => {
  server = await startPalabre();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });

after(async () => {
  for (const p of people) await p.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
}, { timeout: seconds(120) });

// Counts the page's RTCPeerConnections (window.__pcCount): a waiting guest
// must have none.
function countPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__pcCount = 0;
  window.RTCPeerConnection = function RTCPeerConnection(...args) {
    window.__pcCount++;
    return new Native(...args);
  };
  window.RTCPeerConnection.prototype = Native.prototype;
}

// A person in their own browser context. received: the signaling messages
// the page got (parsed); errors: uncaught page errors; foreign: requests to
// another host than 127.0.0.1.
async function person(name, opts = {}) {
  const context = await browser.newContext({ locale: 'fr-FR', ...opts });
  context.setDefaultTimeout(60000 * TIME_SCALE);
  await context.addInitScript(countPeerConnections);
  const page = await context.newPage();
  const p = { name, context, page, received: [], errors: [], foreign: [] };
  page.on('pageerror', (e) => { p.errors.push(e.message); console.log(`# [${name}] page error: ${e.message}`); });
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '127.0.0.1') p.foreign.push(req.url());
  });
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    try { p.received.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
  }));
  people.push(p);
  return p;
}

async function noSeriousAxe(page, where) {
  assert.deepEqual(await axeSerious(page), [], `axe-core on ${where}`);
}

const selfId = (p) => p.page.waitForFunction(() => window.__palabre?.selfId, null, { polling: 100 })
  .then((h) => h.jsonValue());

// Fills the pre-join form and joins.
async function enterName(p, name) {
  await p.page.getByLabel('Votre nom').fill(name);
  await p.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
}

test('an agent creates a room and a link; a guest waits with no list, chat or media, is admitted, both see and hear each other; a second guest is denied', { timeout: seconds(420) }, async () => {
  // ---- the agent's home page: my rooms (none yet), the create form
  const a = M.agent = await person('Agnès', { timezoneId: 'Europe/Paris' });
  await a.page.goto(`${server.base}/`);
  await a.page.getByRole('heading', { level: 2, name: 'Mes salles' }).waitFor();
  await a.page.getByText('Vous n’avez pas encore de salle').waitFor();
  await a.page.getByLabel('Titre de la salle').fill(M.title);
  // the address follows the title until it is edited
  assert.equal(await a.page.getByLabel('Adresse de la salle').inputValue(), 'commission-voirie-etude');
  await a.page.getByLabel('Adresse de la salle').fill(M.room);
  await a.page.getByRole('button', { name: 'Créer la salle' }).click();
  await a.page.waitForURL(`${server.base}/r/${M.room}`);
  await enterName(a, 'Agnès Martin');
  await a.page.getByRole('heading', { level: 1, name: `Réunion « ${M.title} »` }).waitFor();
  a.id = await selfId(a);

  // the same browser (same agent key) finds the room in "my rooms"
  const home = await a.context.newPage();
  await home.goto(`${server.base}/`);
  await home.locator(`.rooms__item[data-room="${M.room}"]`).getByRole('link', { name: M.title }).waitFor();
  assert.equal(await home.locator(`.rooms__item[data-room="${M.room}"] .person__role`).textContent(), 'Propriétaire');
  await noSeriousAxe(home, 'the home page with my rooms');
  await home.close();

  // ---- the Inviter dialog: a link for a partner
  await a.page.getByRole('button', { name: 'Inviter' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'Inviter des participants extérieurs' });
  await dialog.waitFor();
  await dialog.getByLabel('Libellé du lien').fill('Cabinet Durand — étude voirie');
  assert.equal(await dialog.getByLabel('Validité (en jours)').inputValue(), '7');
  assert.equal(await dialog.getByLabel('Les invités attendent en salle d’attente').isChecked(), true);
  await dialog.getByRole('button', { name: 'Créer le lien' }).click();
  const linkBox = dialog.locator('#invite-link');
  await a.page.waitForFunction(() => document.getElementById('invite-link')?.value.includes('#invite='), null, { polling: 100 });
  M.link = await linkBox.inputValue();
  assert.match(M.link, new RegExp(`^${server.base}/r/${M.room}#invite=[A-Za-z0-9_-]{22,}$`));
  // listed, active
  await dialog.locator('.invite__item[data-state="active"]').getByText('Cabinet Durand — étude voirie').waitFor();
  // the invitation for a calendar: 10 December 2026, 9:30 in Paris (8:30 UTC), one hour
  await dialog.getByLabel('Date', { exact: true }).fill('2026-12-10');
  await dialog.getByLabel('Heure', { exact: true }).fill('09:30');
  const [download] = await Promise.all([a.page.waitForEvent('download'),
    dialog.getByRole('button', { name: 'Télécharger l’invitation (.ics)' }).click()]);
  assert.equal(download.suggestedFilename(), `${M.room}.ics`);
  const ics = fs.readFileSync(await download.path(), 'utf8');
  assert.ok(ics.split('\r\n').every((l) => Buffer.byteLength(l) <= 75), 'folded at 75 octets');
  const icsLines = ics.replace(/\r\n[ \t]/g, '').split('\r\n');
  for (const want of ['BEGIN:VEVENT', 'DTSTART:20261210T083000Z', 'DTEND:20261210T093000Z', `SUMMARY:${M.title}`, `URL:${M.link}`]) {
    assert.ok(icsLines.includes(want), `${want} in ${JSON.stringify(icsLines)}`);
  }
  assert.ok(icsLines.some((l) => l.startsWith('UID:')) && icsLines.some((l) => l.startsWith('DTSTAMP:')));
  assert.ok(icsLines.find((l) => l.startsWith('DESCRIPTION:')).includes(M.link));
  await noSeriousAxe(a.page, 'the Inviter dialog');
  await a.page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  // ---- the guest opens the link in another browser
  const b = M.guest = await person('Bernard');
  await b.page.goto(M.link);
  await b.page.getByRole('heading', { level: 1, name: 'Vous êtes invité à une réunion' }).waitFor();
  // the token left the address bar (kept in this tab's sessionStorage)
  assert.equal(new URL(b.page.url()).hash, '');
  await noSeriousAxe(b.page, 'the guest\'s name form');
  await enterName(b, 'Bernard Durand');

  // the waiting screen: the room's title, nothing of the room
  const waiting = b.page.locator('[data-screen="waiting"]');
  await waiting.getByRole('heading', { level: 1, name: M.title }).waitFor();
  await waiting.getByText('Vous êtes dans la salle d’attente').waitFor();
  await noSeriousAxe(b.page, 'the waiting screen');

  // ---- the agent sees the knock, announced politely to screen readers
  const knock = a.page.locator('.lobby__live[role="status"][aria-live="polite"]');
  await a.page.waitForFunction(() => document.querySelector('.lobby__live')?.textContent
    .includes('Bernard Durand'), null, { polling: 100 });
  assert.equal(await knock.textContent(), 'Bernard Durand (Cabinet Durand — étude voirie) demande à entrer.');
  await a.page.locator('.panel--lobby .lobby__item').getByText('Cabinet Durand — étude voirie').waitFor();
  await noSeriousAxe(a.page, 'the lobby panel');

  // the agent writes in the chat while the guest waits
  const secret = 'Ordre du jour : point confidentiel';
  const input = a.page.getByRole('textbox', { name: 'Message', exact: true });
  await input.fill(secret);
  await input.press('Enter');
  await a.page.locator('.chat__list .msg[data-id]').getByText(secret).waitFor();
  // the ping round trip after the chat message: anything sent to the guest
  // before it has arrived by then
  await b.page.evaluate(() => new Promise((r) => setTimeout(r, 500)));
  assert.deepEqual(b.received.filter((m) => ['chat_message', 'participant_joined', 'subscribe_offer'].includes(m.type)), [],
    'the waiting guest received a room event');
  assert.equal(await b.page.locator('.people, .chat__list').count(), 0, 'no participant list, no chat');
  assert.equal(await b.page.getByText(secret).count(), 0);
  assert.equal(await b.page.locator('video').count(), 0, 'no video element');
  assert.equal(await b.page.evaluate(() => window.__pcCount), 0, 'no RTCPeerConnection');

  // ---- admitted: the normal room, both see and hear each other
  await a.page.getByRole('button', { name: 'Faire entrer Bernard Durand' }).click();
  await b.page.getByRole('heading', { level: 1, name: `Réunion « ${M.title} »` }).waitFor();
  b.id = await selfId(b);
  await b.page.locator('.people .person__name').getByText('Agnès Martin').waitFor();
  // the message the guest did not see while waiting is in the room's chat now
  await b.page.locator('.chat__list').getByText(secret).waitFor();
  await a.page.locator('.panel--lobby').waitFor({ state: 'hidden' }); // nobody waits any more
  const bSees = await waitDecoding({ name: 'Bernard', stats: () => b.page.evaluate(() => window.__palabre.remoteStats()) },
    [{ id: a.id, name: 'Agnès' }], { ms: 60000 * TIME_SCALE });
  assert.ok(bSees[a.id].video.framesDecoded > 0 && bSees[a.id].audio.totalAudioEnergy > 0);
  const aSees = await waitDecoding({ name: 'Agnès', stats: () => a.page.evaluate(() => window.__palabre.remoteStats()) },
    [{ id: b.id, name: 'Bernard' }], { ms: 60000 * TIME_SCALE });
  assert.ok(aSees[b.id].video.framesDecoded > 0 && aSees[b.id].audio.totalAudioEnergy > 0);
  assert.equal(await b.page.locator(`.media-tile[data-tile="${a.id}"] video`).count(), 1);

  // ---- a second guest is denied and told so
  const c = await person('Claire');
  await c.page.goto(M.link);
  await enterName(c, 'Claire Petit');
  await c.page.locator('[data-screen="waiting"]').waitFor();
  await a.page.getByRole('button', { name: 'Refuser l’entrée de Claire Petit' }).click();
  const end = c.page.locator('[data-end="denied"]');
  await end.getByRole('heading', { level: 1, name: 'Entrée refusée' }).waitFor();
  await end.getByText('Un modérateur a refusé votre entrée dans la réunion.').waitFor();
  await noSeriousAxe(c.page, 'the denied screen');
  assert.equal(await c.page.evaluate(() => window.__pcCount), 0);
  await c.context.close();

  for (const p of [a, b]) {
    assert.deepEqual(p.errors, [], `${p.name}: page errors`);
    assert.deepEqual(p.foreign, [], `${p.name}: requests to another host`);
  }
});

test('hard mute from the participant menu: the guest\'s microphone control is disabled with why, then enabled after allow unmute', { timeout: seconds(180) }, async () => {
  const { agent: a, guest: b } = M;
  assert.ok(a?.id && b?.id, 'the meeting of the first test');
  const micBtn = b.page.locator('.media-btn-mic');
  await b.page.waitForFunction(() => !document.querySelector('.media-btn-mic')?.closest('[hidden]'), null, { polling: 100 });
  assert.equal(await micBtn.isDisabled(), false);

  // the menu is shown to the owner for the guest, never for the owner herself
  const entry = (page, id) => page.locator(`.people .person[data-participant-id="${id}"]`);
  assert.equal(await entry(a.page, a.id).getByRole('button', { name: /Actions/ }).count(), 0);
  assert.equal(await entry(b.page, a.id).getByRole('button', { name: /Actions/ }).count(), 0, 'a guest has no menu');
  const menuBtn = entry(a.page, b.id).getByRole('button', { name: 'Actions pour Bernard Durand' });
  await menuBtn.click();
  assert.equal(await menuBtn.getAttribute('aria-expanded'), 'true');
  const menu = entry(a.page, b.id).locator('.person__menu');
  for (const name of ['Couper son micro', 'Couper sa caméra', 'Nommer modérateur', 'Retirer de la réunion', 'Retirer et interdire le retour']) {
    await menu.getByRole('button', { name, exact: true }).waitFor();
  }
  await noSeriousAxe(a.page, 'the participant menu');
  await menu.getByRole('button', { name: 'Couper son micro', exact: true }).click();

  // the guest: control disabled, the reason visible, nothing sent
  await b.page.waitForFunction(() => document.querySelector('.media-btn-mic').disabled, null, { polling: 100 });
  await b.page.getByText('Un modérateur a coupé votre micro.').waitFor();
  assert.equal(await micBtn.getAttribute('aria-describedby'), 'media-blocked-note');
  assert.equal(await b.page.evaluate(() => window.__palabre.media.localStream.getAudioTracks().every((tr) => !tr.enabled)), true);
  await entry(a.page, b.id).getByText('micro coupé par un modérateur').waitFor();

  // allowed again: the control comes back (still off), and turns the mic on
  await entry(a.page, b.id).getByRole('button', { name: 'Actions pour Bernard Durand' }).click();
  await entry(a.page, b.id).getByRole('button', { name: 'Lui permettre de réactiver son micro' }).click();
  await b.page.waitForFunction(() => !document.querySelector('.media-btn-mic').disabled, null, { polling: 100 });
  assert.equal(await b.page.locator('#media-blocked-note').isHidden(), true);
  await micBtn.click();
  await entry(a.page, b.id).getByText('micro activé').waitFor();
  assert.deepEqual(b.errors, []);
});

test('keyboard only: a link made in the Inviter dialog, Escape closes it and focus returns; a revoked link refuses entry with a clear message', { timeout: seconds(180) }, async () => {
  const { agent: a } = M;
  assert.ok(a?.id, 'the meeting of the first test');
  const kb = a.page.keyboard;
  await a.page.locator('#invite-open').focus();
  await kb.press('Enter');
  const dialog = a.page.getByRole('dialog', { name: 'Inviter des participants extérieurs' });
  await dialog.waitFor();
  const active = () => a.page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
  assert.equal(await active(), 'invite-label', 'focus moves into the dialog, on its first field');
  await kb.type('Mairie annexe');
  await kb.press('Tab');
  assert.equal(await active(), 'invite-days');
  await kb.press('Control+A');
  await kb.type('3');
  await kb.press('Tab');
  assert.equal(await active(), 'invite-uses');
  await kb.type('1');
  await kb.press('Tab');
  assert.equal(await active(), 'invite-lobby');
  await kb.press('Space'); // no lobby for this one
  await kb.press('Tab');
  await kb.press('Enter'); // "Créer le lien"
  await a.page.waitForFunction(() => document.activeElement?.id === 'invite-link' &&
    document.activeElement.value.includes('#invite='), null, { polling: 100 });
  const link = await dialog.locator('#invite-link').inputValue();
  const item = dialog.locator('.invite__item').filter({ hasText: 'Mairie annexe' });
  await item.getByText('0 utilisation(s) sur 1').waitFor();
  await item.getByText('entrée directe').waitFor();
  await kb.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await active(), 'invite-open', 'focus back on the Inviter button');

  // revoke it (from the keyboard too), then the link refuses entry
  await kb.press('Enter');
  await dialog.waitFor();
  await item.getByRole('button', { name: 'Révoquer le lien Mairie annexe' }).focus();
  await kb.press('Enter');
  await dialog.locator('.invite__item[data-state="revoked"]').filter({ hasText: 'Mairie annexe' }).getByText('révoqué').waitFor();
  await kb.press('Escape');
  const d = await person('Denis');
  await d.page.goto(link);
  await enterName(d, 'Denis');
  await d.page.getByRole('alert').getByText('ce lien d’invitation a été révoqué').waitFor();
  assert.equal(await d.page.evaluate(() => window.__pcCount), 0);
  await d.context.close();
});

test('promote a guest to moderator and back; remove with ban: the guest is told and the same link refuses them', { timeout: seconds(240) }, async () => {
  const { agent: a, guest: b } = M;
  assert.ok(a?.id && b?.id, 'the meeting of the first test');
  const entry = (page, id) => page.locator(`.people .person[data-participant-id="${id}"]`);
  const menu = async (page, id, name, action) => {
    await entry(page, id).getByRole('button', { name: `Actions pour ${name}` }).click();
    await entry(page, id).getByRole('button', { name: action, exact: true }).click();
  };
  // a guest has no moderator's tool
  assert.equal(await b.page.getByRole('button', { name: 'Inviter' }).count(), 0);
  assert.equal(await b.page.getByRole('button', { name: 'Gérer la salle' }).count(), 0);
  // promoted: Bernard gets the Inviter and room buttons
  await menu(a.page, b.id, 'Bernard Durand', 'Nommer modérateur');
  await b.page.getByRole('button', { name: 'Inviter' }).waitFor();
  await b.page.getByRole('button', { name: 'Gérer la salle' }).waitFor();
  await entry(a.page, b.id).locator('.person__role').getByText('Modérateur').waitFor();
  // a moderator has no menu on the owner
  assert.equal(await entry(b.page, a.id).getByRole('button', { name: /Actions/ }).count(), 0);
  // and back: the tools go
  await menu(a.page, b.id, 'Bernard Durand', 'Retirer le rôle de modérateur');
  await b.page.getByRole('button', { name: 'Inviter' }).waitFor({ state: 'detached' });
  // a guest steps back to guest (the participant object says he is no agent)
  await entry(a.page, b.id).locator('.person__role').getByText('Invité', { exact: true }).waitFor();
  assert.equal(await b.page.getByRole('button', { name: 'Gérer la salle' }).count(), 0);

  // a third guest, admitted, then removed with a ban
  const e = await person('Émile');
  await e.page.goto(M.link);
  await enterName(e, 'Émile Roux');
  await e.page.locator('[data-screen="waiting"]').waitFor();
  await a.page.getByRole('button', { name: 'Faire entrer Émile Roux' }).click();
  await e.page.getByRole('heading', { level: 1, name: `Réunion « ${M.title} »` }).waitFor();
  e.id = await selfId(e);
  await menu(a.page, e.id, 'Émile Roux', 'Retirer et interdire le retour');
  const end = e.page.locator('[data-end="banned"]');
  await end.getByRole('heading', { level: 1, name: 'Vous avez été retiré de la réunion' }).waitFor();
  await end.getByText('vous ne pouvez pas y revenir pendant cette réunion').waitFor();
  await noSeriousAxe(e.page, 'the removed screen');
  await entry(a.page, e.id).waitFor({ state: 'detached' });
  // the same link, same browser tab (a new load: the address differs from
  // the page's only by its fragment): refused
  await e.page.goto('about:blank');
  await e.page.goto(M.link);
  await enterName(e, 'Émile Roux');
  await e.page.getByRole('alert').getByText('vous avez été retiré de cette réunion').waitFor();
  assert.deepEqual(e.errors, []);
  await e.context.close();
});

test('end for all: after a confirmation every participant sees that the meeting has ended', { timeout: seconds(180) }, async () => {
  const { agent: a, guest: b } = M;
  assert.ok(a?.id && b?.id, 'the meeting of the first test');
  await a.page.getByRole('button', { name: 'Gérer la salle' }).click();
  const dialog = a.page.getByRole('dialog', { name: 'Gérer la salle' });
  await dialog.waitFor();
  await noSeriousAxe(a.page, 'the room dialog');
  // guests' chat off: the guest's input is disabled, and says why
  const guestChat = dialog.getByLabel('Les invités peuvent écrire dans la discussion');
  assert.equal(await guestChat.isChecked(), true);
  await guestChat.uncheck();
  await b.page.waitForFunction(() => document.getElementById('chat-input').disabled, null, { polling: 100 });
  await b.page.getByText('Les invités ne peuvent pas écrire dans la discussion de cette salle.').waitFor();
  await guestChat.check();
  await b.page.waitForFunction(() => !document.getElementById('chat-input').disabled, null, { polling: 100 });
  // locked: announced to the room (the server's moderation event)
  await dialog.getByLabel('Salle verrouillée').check();
  await b.page.waitForFunction(() => [...document.querySelectorAll('[role="status"]')]
    .some((e) => e.textContent === 'Agnès Martin a verrouillé la salle.'), null, { polling: 100 });
  await dialog.getByRole('button', { name: 'Terminer la réunion pour tous' }).click();
  // nothing happens before the confirmation
  await dialog.getByText('Terminer la réunion ? Tous les participants seront déconnectés.').waitFor();
  assert.equal(await b.page.locator('[data-end]').count(), 0);
  await dialog.getByRole('button', { name: 'Oui, terminer la réunion' }).click();
  for (const p of [a, b]) {
    const end = p.page.locator('[data-end="ended"]');
    await end.getByRole('heading', { level: 1, name: 'La réunion est terminée' }).waitFor();
    await end.getByText('Un modérateur a terminé la réunion pour tous les participants.').waitFor();
    await end.getByText('Par : Agnès Martin.').waitFor();
    assert.equal(await p.page.locator('#conn-status').getAttribute('data-state'), 'disconnected');
  }
  await noSeriousAxe(b.page, 'the ended screen');
  // the close was final: nobody reconnects (a reload would show the pre-join screen)
  assert.equal(await b.page.evaluate(() => sessionStorage.getItem('palabre.room.commission-voirie')), null);
});

test('guests who come before any moderator wait and are shown to the first who comes; admit all lets them all in', { timeout: seconds(240) }, async () => {
  const { agent: a } = M;
  assert.ok(a && M.link, 'the room and link of the first test');
  // the meeting has ended: the room is empty, the link still valid
  const guests = [];
  for (const name of ['Fanny Leroy', 'Gilles Morel']) {
    const g = await person(name);
    await g.page.goto(M.link);
    await enterName(g, name);
    await g.page.locator('[data-screen="waiting"]').waitFor();
    guests.push(g);
  }
  // the owner comes back (same browser: same agent key)
  await a.page.goto(`${server.base}/r/${M.room}`);
  await enterName(a, 'Agnès Martin');
  const panel = a.page.locator('.panel--lobby');
  await panel.getByRole('heading', { name: 'Salle d’attente (2)' }).waitFor();
  for (const name of ['Fanny Leroy', 'Gilles Morel']) await panel.locator('.lobby__item').getByText(name).waitFor();
  assert.equal(await a.page.locator('.lobby__live').textContent(), '2 personne(s) attendent dans la salle d’attente.');
  await panel.getByRole('button', { name: 'Faire entrer tout le monde' }).click();
  for (const g of guests) {
    await g.page.getByRole('heading', { level: 1, name: `Réunion « ${M.title} »` }).waitFor();
    await g.page.locator('.people .person__name').getByText('Agnès Martin').waitFor();
  }
  await panel.waitFor({ state: 'hidden' });
  for (const g of guests) {
    assert.deepEqual(g.errors, []);
    await g.context.close();
  }
});

// ---- token mode ----------------------------------------------------------

const b64u = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');

test('token mode: without a token the home page asks to sign in; a bad token is refused; a token in #token= opens my rooms, creates a room and joins as the token\'s name', { timeout: seconds(240) }, async () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-jwks-'));
  const jwksFile = path.join(dir, 'jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec1', alg: 'ES256', use: 'sig' }] }));
  const ISS = 'https://portail.example.fr', AUD = 'palabre';
  const now = Math.floor(Date.now() / 1000);
  const jwt = (over = {}) => {
    const input = `${b64u({ alg: 'ES256', kid: 'ec1', typ: 'JWT' })}.${b64u({ iss: ISS, aud: AUD, sub: 'agent-42',
      name: 'Élise Martin', email: 'elise@mairie.example.fr', iat: now, nbf: now, exp: now + 3600, ...over })}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const srv = await startPalabre({ config: { access: { agents: 'token', jwks_file: jwksFile, issuer: ISS, audience: AUD } } });
  try {
    // no token: a clear message, no form
    const n = await person('sans jeton');
    await n.page.goto(`${srv.base}/`);
    await n.page.getByRole('heading', { level: 1, name: 'Connexion requise' }).waitFor();
    await n.page.getByRole('alert').getByText('ouvrez Palabre depuis le portail de votre collectivité').waitFor();
    assert.equal(await n.page.locator('form').count(), 0);
    await noSeriousAxe(n.page, 'the sign-in message');
    // nor into a room
    await n.page.goto(`${srv.base}/r/mairie`);
    await enterName(n, 'Personne');
    await n.page.getByRole('alert').getByText('connexion requise').waitFor();

    // an expired token: refused, saying why
    const x = await person('jeton expiré');
    await x.page.goto(`${srv.base}/#token=${jwt({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })}`);
    await x.page.getByRole('alert').getByText('Votre identification a été refusée').waitFor();
    assert.match(await x.page.getByRole('alert').textContent(), /expired/);

    // a valid token in the fragment: it leaves the address bar, my rooms, create, join
    const t = await person('Élise');
    await t.page.goto(`${srv.base}/#token=${jwt()}`);
    assert.equal(new URL(t.page.url()).hash, '');
    await t.page.getByText('Vous n’avez pas encore de salle').waitFor();
    await t.page.getByLabel('Titre de la salle').fill('Mairie');
    await t.page.getByRole('button', { name: 'Créer la salle' }).click();
    await t.page.waitForURL(`${srv.base}/r/mairie`);
    await enterName(t, 'Autre nom');
    await t.page.getByRole('heading', { level: 1, name: 'Réunion « Mairie »' }).waitFor();
    // the name is the token's; the role the owner's
    await t.page.locator('.people .person__name').getByText('Élise Martin (vous)').waitFor();
    await t.page.locator('.people .person__role').getByText('Propriétaire').waitFor();
    for (const p of [n, x, t]) {
      assert.deepEqual(p.errors, [], `${p.name}: page errors`);
      await p.context.close();
    }
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
