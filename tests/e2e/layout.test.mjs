// The room's layout in a real Chromium at 1280x800 (desktop) and 390x844 (a
// phone): with 1, 3, 9 and 16 participants the video tiles cover most of the
// stage, names stay readable, the chat input is on screen and the page needs no
// scrolling; past what fits on a phone, accessible previous/next buttons page
// through the tiles. Also the participants list's own entry, which must follow
// the participant's own microphone and camera.
//
// One Chromium page (fake camera and microphone) is the observer; the others
// are protocol-level WebSocket clients that join (a joined participant has a
// tile even without media: its initials). Measured from the DOM; screenshots
// go to $PALABRE_BUILD/test-artifacts/layout-<width>x<height>-<count>.png.
import '../lib/timeouts.mjs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startPalabre } from '../lib/media_e2e.mjs';
import { connect, ROOT } from '../lib/palabre.mjs';
import { axeSerious } from '../lib/web.mjs';

const ARTIFACTS = path.join(process.env.PALABRE_BUILD || path.join(ROOT, 'build'), 'test-artifacts');
const DESKTOP = { name: 'desktop', viewport: { width: 1280, height: 800 } };
const PHONE = { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const COUNTS = [1, 3, 9, 16];
// Share of the stage the visible 16:9 tiles must cover: one or three tiles
// cannot fill a stage of another shape (three in a phone's stage: two rows of
// two), nine and more can use most of it.
const MIN_COVER = { 1: 0.5, 3: 0.5, 9: 0.6, 16: 0.6 };

let server, browser;
const clients = [];

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = await startPalabre();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

// A participant without a browser: joins over the WebSocket and stays.
async function wsParticipant(room, name, fields = {}) {
  const c = await connect(`${server.base.replace('http', 'ws')}/ws`, { origin: server.base, timeout: 15000 });
  clients.push(c);
  await c.call('join', { room, name, ...fields });
  return c;
}

// leave first: a socket that just closes stays in the room for the resume window
async function leaveAll() {
  for (const c of clients.splice(0)) {
    await c.request('leave').catch(() => {});
    await c.close().catch(() => {});
  }
}

// The observer: a real page in the room, publishing its fake camera and microphone.
async function observer(device, room, name) {
  const { name: _n, ...opts } = device;
  const context = await browser.newContext({ ...opts, locale: 'fr-FR' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.base}/r/${room}?name=${encodeURIComponent(name)}&autojoin=1`);
  await page.waitForFunction(() => window.__palabre?.selfId && window.__palabre?.pcs?.publish,
    null, { timeout: 30000, polling: 100 });
  return { page, context, errors };
}

// Everything the assertions need, read from the page at once.
function measure(page) {
  return page.evaluate(() => {
    const stage = document.querySelector('.room__video').getBoundingClientRect();
    const inter = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
      Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
    const tiles = [...document.querySelectorAll('.media-tile')].filter((t) => t.getClientRects().length);
    const names = tiles.map((t) => {
      const n = t.querySelector('.media-name');
      const r = n.getBoundingClientRect();
      const tr = t.getBoundingClientRect();
      return {
        text: n.textContent,
        fontSize: parseFloat(getComputedStyle(n).fontSize),
        clipped: n.scrollWidth > n.clientWidth + 1 || n.scrollHeight > n.clientHeight + 1,
        inside: r.left >= tr.left - 1 && r.right <= tr.right + 1 && r.top >= tr.top - 1 && r.bottom <= tr.bottom + 1,
        width: r.width,
      };
    });
    const input = document.getElementById('chat-input').getBoundingClientRect();
    const se = document.scrollingElement;
    return {
      stageArea: stage.width * stage.height,
      stageHeight: stage.height,
      cover: tiles.reduce((s, t) => s + inter(t.getBoundingClientRect(), stage), 0) / (stage.width * stage.height),
      tileCount: tiles.length,
      allTiles: document.querySelectorAll('.media-tile').length,
      names,
      input: { top: input.top, bottom: input.bottom, left: input.left, right: input.right, h: input.height },
      viewport: { w: innerWidth, h: innerHeight },
      scroll: { h: se.scrollHeight, w: se.scrollWidth },
    };
  });
}

test('grid_layout: the columns x rows that make 16:9 tiles largest, pages past what fits, a strip beside a screen share', { timeout: 30000 }, async () => {
  // The client's modules are plain .js files with no package.json (the browser
  // loads them as modules): Debian 12's Node 18 would read a .js file as
  // CommonJS, so the module (which imports nothing) is loaded from its text.
  const src = fs.readFileSync(new URL('../../signaling/web/grid_layout.js', import.meta.url), 'utf8');
  const { fitGrid, planStage, MAX_PER_PAGE, MAX_PER_PAGE_NARROW } =
    await import(`data:text/javascript,${encodeURIComponent(src)}`);
  // three tiles in a wide stage: two rows (2 + 1), not one row of three
  assert.deepEqual((({ cols, rows }) => ({ cols, rows }))(fitGrid(3, 840, 560)), { cols: 2, rows: 2 });
  // sixteen: 4 x 4 in a 16:9-ish stage, a column in a tall narrow one
  assert.equal(fitGrid(16, 1280, 720).cols, 4);
  assert.equal(fitGrid(4, 200, 1000).cols, 1);
  // a phone's stage cut to its tiles: two rows of two rather than a column of three
  assert.equal(fitGrid(3, 358, 320, { shrink: true }).cols, 2);
  // every tile of a page lies inside the stage, none overlaps another
  for (const [w, h, n] of [[840, 560, 16], [358, 300, 16], [1600, 900, 40], [358, 300, 1]]) {
    const plan = planStage({ width: w, height: h, others: n });
    assert.ok(plan.perPage <= (w < 600 ? MAX_PER_PAGE_NARROW : MAX_PER_PAGE));
    assert.equal(plan.pages, Math.ceil(n / plan.perPage));
    for (const [i, r] of plan.others.entries()) {
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= w && r.y + r.h <= h, `${w}x${h} tile ${i} outside`);
      for (const q of plan.others.slice(i + 1)) {
        assert.ok(r.x + r.w <= q.x || q.x + q.w <= r.x || r.y + r.h <= q.y || q.y + q.h <= r.y, 'overlap');
      }
    }
  }
  // the last page holds the rest; a page past the end shows the last one
  const last = planStage({ width: 358, height: 300, others: 16, page: 99 });
  assert.equal(last.page, last.pages - 1);
  assert.equal(last.others.length, 16 - (last.pages - 1) * last.perPage);
  // a screen share takes the main area, the camera tiles a strip on the right
  const shared = planStage({ width: 1200, height: 600, featured: 1, others: 4 });
  assert.ok(shared.featured[0].w > 2 * shared.others[0].w);
  assert.ok(shared.others.every((r) => r.x >= shared.featured[0].x + shared.featured[0].w));
});

for (const device of [DESKTOP, PHONE]) {
  const { width, height } = device.viewport;
  test(`${device.name} ${width}x${height}: with 1, 3, 9 and 16 participants the tiles fill the stage, names are readable, the chat input is on screen without scrolling`, { timeout: 240000 }, async () => {
    const room = `layout-${device.name}`;
    const o = await observer(device, room, 'Observatrice');
    try {
      let joined = 1;
      for (const count of COUNTS) {
        while (joined < count) await wsParticipant(room, `Participant ${++joined}`, { mic: joined % 2 === 0, camera: false });
        await o.page.getByRole('heading', { name: `Participants (${count})` }).waitFor({ timeout: 15000 });
        // laid out for that many tiles, then a moment for a resize observer's pass
        await o.page.waitForFunction((n) => document.querySelectorAll('.media-tile').length === n &&
          document.querySelector('.media-grid').dataset.laidOut === String(n), count, { timeout: 15000, polling: 100 });
        await o.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        const m = await measure(o.page);
        await o.page.screenshot({ path: path.join(ARTIFACTS, `layout-${width}x${height}-${count}.png`) });
        const what = `${device.name}, ${count} participants: ${JSON.stringify({ ...m, names: m.names.length })}`;
        console.log(`# ${device.name} ${count}: ${m.tileCount} tiles shown, cover ${m.cover.toFixed(2)}, ` +
          `stage ${Math.round(m.stageArea)} px², smallest name font ${Math.min(...m.names.map((n) => n.fontSize))} px`);
        // every participant is on screen, or the page shows as many as fit legibly
        assert.equal(m.allTiles, count, what);
        assert.ok(m.tileCount === count || m.tileCount >= 6, what);
        assert.ok(m.cover >= MIN_COVER[count], `tiles cover ${m.cover.toFixed(2)} of the stage; ${what}`);
        for (const n of m.names) {
          assert.ok(n.fontSize >= 12, `name "${n.text}" at ${n.fontSize} px; ${what}`);
          assert.ok(!n.clipped && n.inside, `name "${n.text}" clipped; ${what}`);
        }
        // the chat input is fully on screen, and nothing needs the page to scroll
        assert.ok(m.input.h > 0 && m.input.top >= 0 && m.input.bottom <= m.viewport.h &&
          m.input.left >= 0 && m.input.right <= m.viewport.w, `chat input off screen; ${what}`);
        assert.ok(m.scroll.h <= m.viewport.h && m.scroll.w <= m.viewport.w, `the page scrolls; ${what}`);
      }
      assert.deepEqual(o.errors, []);
    } finally {
      await leaveAll();
      await o.context.close();
    }
  });
}

test('phone: past what fits, previous/next buttons page through the tiles, from the keyboard too; no serious axe violation', { timeout: 120000 }, async () => {
  const room = 'layout-pages';
  const o = await observer(PHONE, room, 'Observatrice');
  try {
    for (let i = 2; i <= 16; i++) await wsParticipant(room, `Participant ${i}`);
    await o.page.waitForFunction(() => document.querySelectorAll('.media-tile').length === 16, null,
      { timeout: 15000, polling: 100 });
    const nav = o.page.getByRole('navigation', { name: /pages/i });
    const next = nav.getByRole('button', { name: 'Page suivante' });
    const prev = nav.getByRole('button', { name: 'Page précédente' });
    await next.waitFor({ timeout: 10000 });
    const shown = () => o.page.evaluate(() => [...document.querySelectorAll('.media-tile')]
      .filter((t) => t.getClientRects().length).map((t) => t.dataset.tile));
    const first = await shown();
    assert.ok(first.length >= 4 && first.length < 16, `first page: ${first.length} tiles`);
    assert.equal(await prev.isDisabled(), true);
    assert.match(await nav.textContent(), /Page 1 sur \d/);
    const pages = Math.ceil(16 / first.length);
    const seen = new Set(first);
    await next.focus();
    for (let p = 2; p <= pages; p++) {
      await o.page.keyboard.press('Enter');
      await o.page.waitForFunction((n) => document.querySelector('.media-pager')?.textContent.includes(`Page ${n} sur`), p,
        { timeout: 5000 });
      const ids = await shown();
      for (const id of ids) assert.ok(!seen.has(id), `tile ${id} on two pages`);
      ids.forEach((id) => seen.add(id));
    }
    assert.equal(seen.size, 16, 'every participant is on one page');
    assert.equal(await next.isDisabled(), true);
    await prev.click();
    await o.page.waitForFunction((n) => document.querySelector('.media-pager').textContent.includes(`Page ${n} sur`), pages - 1,
      { timeout: 5000 });
    await o.page.screenshot({ path: path.join(ARTIFACTS, 'layout-390x844-16-page-back.png') });
    assert.deepEqual(await axeSerious(o.page), []);
    // participants leaving bring it back to one page: no pager left
    await leaveAll();
    await o.page.waitForFunction(() => document.querySelectorAll('.media-tile').length === 1, null,
      { timeout: 15000, polling: 100 });
    await nav.waitFor({ state: 'hidden', timeout: 5000 });
    assert.deepEqual(o.errors, []);
  } finally {
    await leaveAll();
    await o.context.close();
  }
});

test('the own entry of the participants list follows one\'s microphone and camera: on once publishing, off after toggling, as the others see it', { timeout: 120000 }, async () => {
  const room = 'layout-self';
  // the witness is in the room first, so it is told every change of the observer
  const other = await wsParticipant(room, 'Témoin');
  const o = await observer(DESKTOP, room, 'Observatrice');
  try {
    const selfId = await o.page.evaluate(() => window.__palabre.selfId);
    const own = o.page.locator(`.person[data-participant-id="${selfId}"] .person__state`);
    // what another participant is told, for comparison
    const seenByOther = async (want) => (await other.event('participant_updated', {
      timeout: 15000, filter: (e) => e.participant.id === selfId && e.participant.mic === want.mic && e.participant.camera === want.camera,
    })).participant;
    // the own entry says `text`, within 10 s
    const ownSays = (text, when) => o.page.waitForFunction(([id, want]) =>
      document.querySelector(`.person[data-participant-id="${id}"] .person__state`)?.textContent === want,
    [selfId, text], { timeout: 10000, polling: 100 })
      .catch(async () => assert.fail(`own entry says "${await own.textContent()}" ${when}, not "${text}"`));
    await seenByOther({ mic: true, camera: true });
    await ownSays('micro activé, caméra activée', 'while publishing');
    await o.page.getByRole('button', { name: 'Couper la caméra' }).click();
    await seenByOther({ mic: true, camera: false });
    await ownSays('micro activé, caméra coupée', 'after the camera went off');
    await o.page.getByRole('button', { name: 'Couper le micro' }).click();
    await seenByOther({ mic: false, camera: false });
    await ownSays('micro coupé, caméra coupée', 'after the microphone went off');
    assert.deepEqual(o.errors, []);
  } finally {
    await leaveAll();
    await o.context.close();
  }
});
