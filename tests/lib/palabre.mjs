// Shared helpers for node suites (integration, e2e, bench). API:
//
//   import { startPalabre, connect, runPalabre } from '../lib/palabre.mjs';
//
//   const srv = await startPalabre({ config, args, env, logLevel });
//     Starts $PALABRE_BIN on 127.0.0.1:<free port> with a fresh temp data dir
//     and waits until GET /healthz answers. config: an INI string, or an object
//     { server: { key: value }, limits: {...}, media: {...} } written to a temp
//     file passed with --config. args: extra CLI flags.
//     srv.port, srv.url ('http://127.0.0.1:PORT'), srv.wsUrl ('ws://.../ws'),
//     srv.dataDir, srv.proc (ChildProcess), srv.output() (stdout+stderr so far),
//     await srv.stop(signal = 'SIGTERM', { check = true }) → { code, signal }; also
//     removes the dir unless keepDir; with check, a SIGTERM stop that does not
//     exit 0 (crash, sanitizer report) throws with the server's output.
//     srv.kill() (SIGKILL, no wait).
//     port: listen on this port (known beforehand: an OpenID Connect redirect
//     URI registered at the provider) instead of a free one.
//     wrap: a command prefix that must end by exec'ing its arguments (the
//     binary and its flags), e.g. a mount namespace wrapper.
//     host: the listen address as in a URL ('[::1]'; default '127.0.0.1').
//     ca: the server speaks TLS (config sets tls_cert/tls_key): srv.url is
//     https://, srv.wsUrl wss://, and /healthz is checked trusting this CA (PEM).
//
//   const c = await connect(srv.wsUrl, { origin, headers });
//     A JSON WebSocket client (npm `ws`).
//     await c.request(type, fields)  → the whole response object ({ok, data|error})
//                                      ids are assigned automatically.
//     await c.call(type, fields)     → response.data; throws if ok is false.
//     await c.politeCall(type, fields) → as call, resent after retry_after_ms when rate_limited.
//     c.send(obj) / c.sendRaw(stringOrBuffer)   no waiting.
//     await c.nextResponse()         → the next response (for raw sends).
//     await c.event(type, { timeout, filter }) → the next server event of that
//                                      type (events received before the call are
//                                      kept and returned first).
//     c.events                       → every event received, in order.
//     await c.closed                 → { code, reason } once the socket closes.
//     c.close()                      → closes and waits.
//
//   const { code, stdout, stderr } = await runPalabre(args, { timeout });
//     Runs the binary to completion (for --help, --version, bad config).
//
// Defaults keep tests on 127.0.0.1 only; timeouts default to 5 s to start and
// 10 s per request or event, all multiplied by PALABRE_TIME_SCALE (make asan: 3).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

export const BIN = process.env.PALABRE_BIN ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/palabre');
export const ROOT = process.env.PALABRE_ROOT ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function iniText(config) {
  if (typeof config === 'string') return config;
  let out = '';
  for (const [section, keys] of Object.entries(config)) {
    out += `[${section}]\n`;
    for (const [k, v] of Object.entries(keys)) out += `${k} = ${v}\n`;
  }
  return out;
}

export async function startPalabre({ config, args = [], env = {}, logLevel = 'info', keepDir = false,
  timeout = 5000, wrap = [], host = '127.0.0.1', ca, port: fixedPort } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-test-'));
  const dataDir = path.join(dir, 'data');
  const port = fixedPort || await freePort();
  const argv = ['--listen', `${host}:${port}`, '--data-dir', dataDir, '--log-level', logLevel];
  if (config) {
    const f = path.join(dir, 'palabre.ini');
    fs.writeFileSync(f, iniText(config));
    argv.push('--config', f);
  }
  argv.push(...args);
  const cmd = wrap.length ? wrap[0] : BIN;
  if (wrap.length) argv.unshift(...wrap.slice(1), BIN);
  const proc = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `${ca ? 'https' : 'http'}://${host}:${port}`;
  const srv = {
    port, url, wsUrl: `${ca ? 'wss' : 'ws'}://${host}:${port}/ws`, dataDir, dir, proc, exited,
    output: () => output,
    async stop(signal = 'SIGTERM', { check = true } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
      // a clean stop exits 0; anything else (a sanitizer report, a crash) fails the test
      if (check && signal === 'SIGTERM' && r.code !== 0)
        throw new Error(`palabre exited with ${r.code} (${r.signal}) on SIGTERM:\n${output}`);
      return r;
    },
    kill() { if (proc.exitCode === null) proc.kill('SIGKILL'); },
  };
  const deadline = Date.now() + timeout * TIME_SCALE;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`palabre exited (${proc.exitCode}): ${output}`);
    try {
      if (ca ? await httpsOk(`${url}/healthz`, ca) : (await fetch(`${url}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { srv.kill(); throw new Error(`palabre did not listen: ${output}`); }
    await sleep(25);
  }
  return srv;
}

// GET over https trusting ca (fetch has no per-request CA): whether it answered 2xx.
function httpsOk(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => { res.resume(); resolve(res.statusCode < 300); }).on('error', reject);
  });
}

export async function runPalabre(args, { timeout = 5000 * TIME_SCALE } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('timeout')); }, timeout);
    proc.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

// A list of received items and of waiters for them. A waiter ends when its item
// arrives, when its own timeout passes, or when the list is closed (the socket
// closed or failed: nothing more can arrive), each time naming what it awaited.
function waiter(list, pred, timeout, what) {
  return new Promise((resolve, reject) => {
    const i = list.items.findIndex(pred);
    if (i >= 0) { resolve(list.items.splice(i, 1)[0]); return; }
    if (list.closed) { reject(new Error(`${list.closed} while waiting for ${what}`)); return; }
    const w = { pred };
    const t = setTimeout(() => {
      list.waiters.splice(list.waiters.indexOf(w), 1);
      reject(new Error(`timeout (${timeout} ms) waiting for ${what}`));
    }, timeout);
    w.resolve = (v) => { clearTimeout(t); resolve(v); };
    w.reject = (why) => { clearTimeout(t); reject(new Error(`${why} while waiting for ${what}`)); };
    list.waiters.push(w);
  });
}

function deliver(list, item) {
  const i = list.waiters.findIndex((w) => w.pred(item));
  if (i >= 0) list.waiters.splice(i, 1)[0].resolve(item);
  else list.items.push(item);
}

function closeList(list, why) {
  if (list.closed) return;
  list.closed = why;
  for (const w of list.waiters.splice(0)) w.reject(why);
}

export async function connect(wsUrl, { origin, headers = {}, timeout = 10000 * TIME_SCALE } = {}) {
  const ws = new WebSocket(wsUrl, { headers: { ...headers, ...(origin ? { Origin: origin } : {}) } });
  const responses = { items: [], waiters: [] };
  const events = { items: [], waiters: [] };
  let nextId = 1;
  const c = {
    ws, events: [],
    closed: new Promise((resolve) => ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() }))),
    send(obj) { ws.send(JSON.stringify(obj)); },
    sendRaw(data) { ws.send(data); },
    nextResponse(pred = () => true, t = timeout) {
      return waiter(responses, pred, t, 'a response');
    },
    async request(type, fields = {}) {
      const id = nextId++;
      ws.send(JSON.stringify({ type, id, ...fields }));
      return waiter(responses, (r) => r.id === id, timeout, `response to ${type} #${id}`);
    },
    async call(type, fields = {}) {
      const r = await c.request(type, fields);
      if (!r.ok) throw new Error(`${type} failed: ${JSON.stringify(r.error)}`);
      return r.data;
    },
    // call, as a client that honours rate limiting: a rate_limited answer
    // (the request was not run) is sent again after its retry_after_ms
    // (docs/protocol.md). For tests that send many requests in a row.
    async politeCall(type, fields = {}) {
      for (;;) {
        const r = await c.request(type, fields);
        if (r.ok) return r.data;
        if (r.error?.code !== 'rate_limited') throw new Error(`${type} failed: ${JSON.stringify(r.error)}`);
        await new Promise((res) => setTimeout(res, r.error.retry_after_ms));
      }
    },
    event(type, { timeout: t = timeout, filter = () => true } = {}) {
      return waiter(events, (e) => e.type === type && filter(e), t, `event ${type}`);
    },
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      return c.closed;
    },
  };
  // A closed or failed socket ends every wait at once, with the reason.
  const fail = (why) => { closeList(responses, why); closeList(events, why); };
  ws.on('close', (code, reason) => fail(`socket closed (${code}${reason.length ? ` ${reason}` : ''})`));
  ws.on('error', (e) => fail(`socket error (${e.message})`));
  ws.on('message', (data, isBinary) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return; }
    if (msg.type === 'response') deliver(responses, msg);
    else { c.events.push(msg); deliver(events, msg); }
  });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('ws connect timeout')), timeout);
    ws.once('open', () => { clearTimeout(t); resolve(); });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(t);
      const e = new Error(`HTTP ${res.statusCode}`);
      e.statusCode = res.statusCode;
      reject(e);
    });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
  return c;
}

// An error response with this code (and field, when given) and a message;
// returns the error object.
export function assertError(r, code, field) {
  assert.equal(r.type, 'response');
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.error.code, code, JSON.stringify(r));
  if (field !== undefined) assert.equal(r.error.field, field, JSON.stringify(r));
  assert.equal(typeof r.error.message, 'string');
  return r.error;
}
