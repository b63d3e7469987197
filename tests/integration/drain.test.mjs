// Graceful drain (docs/operations.md, Drain): SIGTERM or POST /admin/drain
// stops new rooms, lets running meetings go on up to [server] drain_seconds,
// tells every client (server_draining), turns /readyz to 503 and /healthz to
// "draining", and the process exits 0 when the last room is empty, at the
// deadline, or at a second SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { startPalabre, connect, assertError } from '../lib/palabre.mjs';
import { inPrivateNetns } from '../lib/netns.mjs';
import { seconds } from '../lib/timeouts.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function joined(srv, room, name) {
  const c = await connect(srv.wsUrl);
  const data = await c.call('join', { room, name });
  return { c, data };
}

async function metric(srv, name) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// Resolves with the exit, or rejects when the process is still running after ms.
function exitWithin(srv, ms, what) {
  return Promise.race([
    srv.exited,
    sleep(ms).then(() => { throw new Error(`palabre still running ${ms} ms after ${what}:\n${srv.output()}`); }),
  ]);
}

// The stop as before drains: server_shutdown, close 1001, exit 0, and the log line.
async function assertStopped(srv, c, what, logLine) {
  await c.event('server_shutdown', { timeout: seconds(20) });
  assert.equal((await c.closed).code, 1001);
  assert.deepEqual(await exitWithin(srv, seconds(15), what), { code: 0, signal: null });
  if (logLine) assert.match(srv.output(), logLine);
}

// An HTTP request from a given local address (the TCP peer the server sees).
function request(url, { method = 'GET', localAddress, headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    // a length, as curl sends (lws 4.1 does not read chunked request bodies)
    const length = { 'content-length': String(Buffer.byteLength(body || '')) };
    const req = http.request(url, { method, localAddress, headers: { ...length, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('SIGTERM: the meeting goes on, no new room, /healthz draining, /readyz 503, exit 0 after the last leaves', { timeout: seconds(90) }, async () => {
    const srv = await startPalabre({ config: { server: { drain_seconds: 300 } } });
    try {
      // serving: ready, not draining
      let r = await fetch(`${srv.url}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'ready');
      r = await fetch(`${srv.url}/healthz`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'ok');
      assert.equal(await metric(srv, 'palabre_draining'), 0);

      const a = await joined(srv, 'conseil', 'Alice');
      const b = await joined(srv, 'conseil', 'Bruno');
      const idle = await connect(srv.wsUrl); // connected, in no room yet
      const before = Date.now();
      srv.proc.kill('SIGTERM');
      for (const c of [a.c, b.c, idle]) {
        const ev = await c.event('server_draining');
        assert.ok(ev.seconds_left > 0 && ev.seconds_left <= 300, JSON.stringify(ev));
        // wall clock ms, about drain_seconds from now
        assert.ok(ev.deadline_ms > before && ev.deadline_ms <= Date.now() + 301000, JSON.stringify(ev));
      }

      r = await fetch(`${srv.url}/healthz`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'draining');
      r = await fetch(`${srv.url}/readyz`);
      assert.equal(r.status, 503);
      assert.equal(await r.text(), 'draining');
      assert.equal(await metric(srv, 'palabre_draining'), 1);

      // the meeting goes on: chat flows both ways
      const got = b.c.event('chat_message');
      await a.c.call('chat_send', { text: 'on continue', client_msg_id: 'd-1' });
      assert.equal((await got).message.text, 'on continue');
      const back = a.c.event('chat_message');
      await b.c.call('chat_send', { text: 'oui', client_msg_id: 'd-2' });
      assert.equal((await back).message.text, 'oui');

      // a meeting that is not running cannot start
      const e = assertError(await idle.request('join', { room: 'nouvelle', name: 'Chloé' }), 'draining', 'room');
      assert.match(e.message, /no new meeting/);
      // ... but the running one can still be joined, and the newcomer is told
      const late = await connect(srv.wsUrl);
      await late.call('join', { room: 'conseil', name: 'Chloé' });
      const ev = await late.event('server_draining');
      assert.ok(ev.seconds_left > 0 && ev.seconds_left <= 300);
      // and a participant whose connection dropped resumes
      const token = b.data.resume_token;
      b.c.ws.terminate();
      const b2 = await connect(srv.wsUrl);
      const resumed = await b2.call('join', { room: 'conseil', name: 'Bruno', resume_token: token });
      assert.equal(resumed.resumed, true);
      await b2.event('server_draining');

      // people leave; the process waits for the last one
      await late.call('leave');
      await a.c.call('leave');
      await sleep(300);
      assert.equal(srv.proc.exitCode, null, 'still running while a meeting is on');
      assert.equal((await fetch(`${srv.url}/readyz`)).status, 503);
      await b2.call('leave');
      const exit = await exitWithin(srv, seconds(15), 'the last participant left');
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.match(srv.output(), /drained: no room left/);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

test('POST /admin/drain from loopback drains; other methods 405; a non-loopback peer 403', { timeout: seconds(60) }, async (t) => {
    // 10.200.0.1 on lo (the test's own namespace) is a peer that is not loopback
    const other = '10.200.0.1';
    let haveOther = false;
    if (inPrivateNetns()) {
      try {
        execFileSync('ip', ['addr', 'add', `${other}/32`, 'dev', 'lo'], { stdio: 'ignore' });
        haveOther = true;
      } catch { /* no CAP_NET_ADMIN */ }
    }
    if (!haveOther) t.diagnostic('no second address on lo: the non-loopback refusal is covered by unit/signaling/test_drain only');
    // the proxy is trusted, yet its X-Forwarded-For cannot make it loopback
    const srv = await startPalabre({ config: { server: { drain_seconds: 300, trusted_proxies: other } } });
    try {
      const a = await joined(srv, 'commission', 'Alice');
      let r = await request(`${srv.url}/admin/drain`);
      assert.equal(r.status, 405);
      assert.equal(r.headers.allow, 'POST');
      r = await request(`${srv.url}/admin/drain`, { method: 'PUT', body: 'x' });
      assert.equal(r.status, 405);
      if (haveOther) {
        r = await request(`${srv.url}/admin/drain`, {
          method: 'POST', localAddress: other, headers: { 'X-Forwarded-For': '127.0.0.1' },
        });
        assert.equal(r.status, 403, r.text);
        assert.equal((await fetch(`${srv.url}/readyz`)).status, 200, 'a refused request changes nothing');
        assert.equal(await metric(srv, 'palabre_draining'), 0);
      }
      r = await request(`${srv.url}/admin/drain`, { method: 'POST' });
      assert.equal(r.status, 202, r.text);
      const body = JSON.parse(r.text);
      assert.equal(body.type, 'server_draining');
      assert.ok(body.seconds_left > 0 && body.seconds_left <= 300);
      const ev = await a.c.event('server_draining');
      assert.equal(ev.deadline_ms, body.deadline_ms);
      assert.equal((await fetch(`${srv.url}/readyz`)).status, 503);
      // asked again (a body this time): already draining, same deadline
      r = await request(`${srv.url}/admin/drain`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(JSON.parse(r.text).deadline_ms, body.deadline_ms);
      const c = await connect(srv.wsUrl);
      assertError(await c.request('join', { room: 'autre', name: 'Bruno' }), 'draining', 'room');
      await a.c.call('leave');
      assert.deepEqual(await exitWithin(srv, seconds(15), 'the last participant left'), { code: 0, signal: null });
    } finally {
      await srv.stop('SIGKILL');
      if (haveOther) execFileSync('ip', ['addr', 'del', `${other}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    }
  });

test('the deadline: server_shutdown, close 1001 and exit 0 with people still in', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { server: { drain_seconds: 2 } } });
  try {
    const a = await joined(srv, 'tard', 'Alice');
    srv.proc.kill('SIGTERM');
    const ev = await a.c.event('server_draining');
    assert.ok(ev.seconds_left >= 1 && ev.seconds_left <= 2, JSON.stringify(ev));
    await assertStopped(srv, a.c, 'the deadline', /drain deadline/);
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('a second SIGTERM during a drain stops at once, exit 0', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { server: { drain_seconds: 600 } } });
  try {
    const a = await joined(srv, 'vite', 'Alice');
    srv.proc.kill('SIGTERM');
    await a.c.event('server_draining');
    assert.equal(srv.proc.exitCode, null);
    srv.proc.kill('SIGTERM');
    await assertStopped(srv, a.c, 'the second SIGTERM', /second SIGTERM/);
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('SIGTERM with no meeting running, or drain_seconds = 0 (the default), stops at once', { timeout: seconds(60) }, async () => {
  const idle = await startPalabre({ config: { server: { drain_seconds: 600 } } });
  try {
    const c = await connect(idle.wsUrl); // connected, in no room
    idle.proc.kill('SIGTERM');
    await assertStopped(idle, c, 'SIGTERM', /drained: no room left/);
  } finally { await idle.stop('SIGKILL'); }
  const now = await startPalabre();
  try {
    const a = await joined(now, 'direct', 'Alice');
    now.proc.kill('SIGTERM');
    await assertStopped(now, a.c, 'SIGTERM');
    assert.equal(a.c.events.some((e) => e.type === 'server_draining'), false);
  } finally { await now.stop('SIGKILL'); }
});
