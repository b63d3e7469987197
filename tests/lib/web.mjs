// Helpers for the browser e2e suites: a palabre server serving signaling/web on
// 127.0.0.1, restartable on the same port and data dir, and Chromium pages.
//
//   const srv = await startServer();        // srv.url, srv.port, srv.dataDir
//     startServer({ config: '[limits]\nresume_seconds = 600\n' }): more INI sections
//   await srv.kill();                        // SIGKILL, waits for the exit
//   await srv.restart();                     // same port and data dir
//   await srv.stop();                        // SIGTERM, removes the temp dir
//   const browser = await launchBrowser();
//   const { page, context, foreign } = await newPage(browser, { locale });
//     foreign: requests the page made to any host other than 127.0.0.1
//   await waitFor(fn, what)                  // polls fn until truthy (expect-like)
//   await axeSerious(page)                   // serious/critical axe-core violations
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const here = path.dirname(new URL(import.meta.url).pathname);
export const ROOT = process.env.PALABRE_ROOT || path.resolve(here, '../..');
export const BIN = process.env.PALABRE_BIN || path.join(ROOT, 'build/palabre');
export const AXE = path.join(ROOT, 'tests/node_modules/axe-core/axe.min.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// PALABRE_TIME_SCALE: the sanitizer build (make asan) is ~3x slower.
const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);

export async function waitFor(fn, what = 'condition', timeout = 15000 * TIME_SCALE) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(50);
  }
}

export async function startServer({ port, dataDir, config = '' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-web-'));
  const conf = path.join(dir, 'palabre.ini');
  fs.writeFileSync(conf, `[server]\nweb_root = ${path.join(ROOT, 'signaling/web')}\n${config}`);
  const srv = { dir, dataDir: dataDir || path.join(dir, 'data'), port: port || await freePort(), proc: null, output: '' };
  srv.url = `http://127.0.0.1:${srv.port}`;
  srv.start = async () => {
    const proc = spawn(BIN, ['--listen', `127.0.0.1:${srv.port}`, '--data-dir', srv.dataDir,
      '--config', conf, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => { srv.output += d; });
    proc.stderr.on('data', (d) => { srv.output += d; });
    proc.exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    srv.proc = proc;
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`palabre exited: ${srv.output}`);
      return (await fetch(`${srv.url}/healthz`)).ok;
    }, `palabre on ${srv.url}`);
  };
  srv.kill = async () => { srv.proc.kill('SIGKILL'); await srv.proc.exited; };
  srv.restart = async () => srv.start();
  srv.stop = async () => {
    if (srv.proc.exitCode === null && srv.proc.signalCode === null) srv.proc.kill('SIGTERM');
    const r = await srv.proc.exited;
    fs.rmSync(dir, { recursive: true, force: true });
    return r;
  };
  await srv.start();
  return srv;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection'],
  });
}

// A fresh context (own storage) per participant. The browser's own profile is a
// fresh temp dir made by Playwright for each launch.
export async function newPage(browser, { locale = 'fr-FR' } = {}) {
  const context = await browser.newContext({ locale });
  // Playwright's 30 s per action and navigation, scaled like every other wait
  context.setDefaultTimeout(30000 * TIME_SCALE);
  const page = await context.newPage();
  const foreign = [];
  const dialogs = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return; // data:, blob:
    if (u.hostname !== '127.0.0.1') foreign.push(req.url());
  });
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const errors = []; // uncaught errors and CSP refusals
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
  const trail = []; // the last console lines and WebSocket closes, to tell why a wait failed
  const note = (line) => { trail.push(`${new Date().toISOString()} ${line}`); if (trail.length > 40) trail.shift(); };
  page.on('console', (m) => note(`console.${m.type()}: ${m.text()}`));
  page.on('websocket', (ws) => { note(`websocket ${ws.url()}`); ws.on('close', () => note(`websocket closed ${ws.url()}`)); });
  return { page, context, foreign, dialogs, errors, trail };
}

export async function axeSerious(page) {
  // not page.addScriptTag: the page's CSP (default-src 'self') refuses inline
  // scripts, and the refusal would be reported as a page error; evaluate is not subject to it
  await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}
