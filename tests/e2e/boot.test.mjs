// The page recovers from a network failure during its load (signaling/web/boot.js).
// A network change while the page loads makes Chromium fail every request in
// flight (net::ERR_NETWORK_CHANGED); a module graph with one failed import
// never runs and the page stays empty. Here the failure is made by Playwright's
// router, which aborts requests for one module as the network stack would:
//   1. one failed load: the page reloads by itself and the participant joins;
//   2. a network that keeps failing: three reloads, then an alert says so
//      (no endless loop).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre } from '../lib/media_e2e.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

let server, browser;

before(async () => {
  server = await startPalabre({ config: { access: { agents: 'open' } } });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, { timeout: seconds(120) });

after(async () => {
  await browser?.close();
  await server?.stop();
}, { timeout: seconds(60) });

// A page whose requests for dom.js fail `failures` times (Infinity: always);
// counts the page loads (navigations of the main frame).
async function openFailing(failures) {
  const context = await browser.newContext();
  const page = await context.newPage();
  let failed = 0, loads = 0;
  await page.route('**/dom.js', (route) => (failed++ < failures ? route.abort('internetdisconnected') : route.continue()));
  page.on('load', () => { loads++; });
  await page.goto(`${server.base}/r/boot-room?name=Lucie&autojoin=1`);
  return { context, page, loads: () => loads, failed: () => failed };
}

test('a module that fails to load once: the page reloads by itself and the participant joins', { timeout: seconds(120) }, async () => {
  const p = await openFailing(1);
  try {
    // waitForFunction goes on across the reload (page.evaluate would not)
    await p.page.waitForFunction(() => !!window.__palabre?.selfId, null, { timeout: 60000 * TIME_SCALE, polling: 100 });
    assert.equal(p.failed() >= 1, true, 'the first load failed');
    assert.equal(p.loads(), 2, 'one reload');
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('palabre.bootRetries')), null, 'the retry count is cleared');
  } finally {
    await p.context.close();
  }
});

test('a network that keeps failing: three reloads, then the page says so', { timeout: seconds(120) }, async () => {
  const p = await openFailing(Infinity);
  try {
    const alert = p.page.getByRole('alert');
    await alert.waitFor({ timeout: 60000 * TIME_SCALE });
    assert.match(await alert.textContent(), /could not load \(network\)/);
    assert.equal(p.loads(), 4, 'the first load and three reloads');
    // and no more after that
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(p.loads(), 4);
    assert.equal(await p.page.evaluate(() => !!window.__palabreBooted), false);
  } finally {
    await p.context.close();
  }
});
