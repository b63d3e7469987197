// Browser client during a drain (docs/operations.md, Drain): after SIGTERM a
// participant sees the countdown banner (French and English, a polite live
// region), a new meeting is refused with a clear message, and once everyone
// has left the server exits 0. Real palabre, Debian's Chromium.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, waitFor, axeSerious } from '../lib/web.mjs';
import { seconds } from '../lib/timeouts.mjs';

let browser;
after(async () => { await browser?.close(); }, { timeout: seconds(60) });

const connected = (page) => waitFor(() => page.evaluate(() =>
  document.getElementById('conn-status').dataset.state === 'connected'), 'connected state');

async function joinAs(srv, room, name, locale) {
  const p = await newPage(browser, { locale });
  await p.page.goto(`${srv.url}/r/${room}`);
  await p.page.getByLabel(locale === 'en-US' ? 'Your name' : 'Votre nom').fill(name);
  await p.page.getByRole('button', { name: locale === 'en-US' ? 'Join' : 'Rejoindre', exact: true }).click();
  try {
    await connected(p.page);
  } catch (e) { // say what the page and the server were doing
    const state = await p.page.evaluate(() => document.getElementById('conn-status')?.dataset.state).catch(() => '?');
    e.message += ` [${name}: conn-status ${state}]\npage:\n${p.trail.join('\n')}\nserver:\n${srv.output.slice(-6000)}`;
    throw e;
  }
  return p;
}

const banner = (page) => page.evaluate(() => {
  const el = document.getElementById('drain-banner');
  if (!el || el.hidden) return null;
  const live = el.querySelector('[aria-live="polite"]');
  return { text: el.querySelector('.drain-banner__text').textContent, live: live?.textContent || '' };
});

test('SIGTERM: participants see the countdown, a new meeting is refused, exit 0 once all have left', { timeout: seconds(180) }, async () => {
  const srv = await startServer({ config: 'drain_seconds = 300\n' });
  browser = await launchBrowser();
  try {
    const alice = await joinAs(srv, 'conseil', 'Alice', 'fr-FR');
    const bob = await joinAs(srv, 'conseil', 'Bob', 'en-US');
    assert.equal(await banner(alice.page), null, 'no banner before the drain');

    srv.proc.kill('SIGTERM');
    const fr = await waitFor(() => banner(alice.page), 'the French banner');
    assert.match(fr.text, /^Maintenance du serveur : cette réunion sera interrompue dans [45] min \d\d s\./, fr.text);
    assert.match(fr.live, /interrompue dans moins de 5 minute/, fr.live);
    const en = await waitFor(() => banner(bob.page), 'the English banner');
    assert.match(en.text, /^Server maintenance: this meeting will be interrupted in [45] min \d\d s\./, en.text);
    // it counts down
    const secs = (s) => { const m = /(\d+) min (\d+) s/.exec(s); return Number(m[1]) * 60 + Number(m[2]); };
    await waitFor(async () => secs((await banner(alice.page)).text) < secs(fr.text), 'the countdown to move');
    assert.deepEqual(await axeSerious(alice.page), []);

    // a meeting that is not running cannot start: the page says why
    const carol = await newPage(browser, { locale: 'fr-FR' });
    await carol.page.goto(`${srv.url}/r/nouvelle`);
    await carol.page.getByLabel('Votre nom').fill('Carole');
    await carol.page.getByRole('button', { name: 'Rejoindre', exact: true }).click();
    await waitFor(() => carol.page.evaluate(() => /aucune nouvelle réunion ne peut commencer/.test(document.body.textContent)),
      'the draining message');
    await carol.context.close();

    // the meeting is over for everyone: the server stops by itself, exit 0
    for (const p of [alice, bob]) {
      await p.page.locator('#leave').click();
      await p.context.close();
    }
    const exit = await Promise.race([srv.proc.exited,
      new Promise((r) => setTimeout(() => r('still running'), seconds(20)))]);
    assert.deepEqual(exit, { code: 0, signal: null }, srv.output);
    for (const p of [alice, bob]) assert.deepEqual(p.errors, [], 'page errors or CSP refusals');
  } finally {
    if (srv.proc.exitCode === null) await srv.kill();
    await srv.stop();
  }
});
