// The signaling protocol of docs/protocol.md against a real palabre: every
// error code, the happy paths, resume, the Origin check, shutdown, the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPalabre, connect, runPalabre, assertError } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function joined(srv, room, name, extra = {}) {
  const c = await connect(srv.wsUrl);
  const data = await c.call('join', { room, name, ...extra });
  return { c, data, id: data.participant.id };
}


test('join, participant_joined, set_state, leave broadcast', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await joined(srv, 'demo', 'Alice');
    assert.equal(a.data.room, 'demo');
    assert.equal(a.data.participant.role, 'owner');
    assert.match(a.id, /^p_[0-9a-f]{12}$/);
    assert.match(a.data.resume_token, /^[0-9a-f]{64}$/);
    assert.equal(a.data.resumed, false);
    assert.equal(a.data.last_message_id, null);
    assert.deepEqual(a.data.participants, []);
    const b = await joined(srv, 'demo', 'Bob', { role: 'guest', mic: true });
    assert.equal(b.data.participant.role, 'guest');
    assert.equal(b.data.participant.mic, true);
    assert.deepEqual(b.data.participants.map((p) => p.id), [a.id]);
    const ev = await a.c.event('participant_joined');
    assert.equal(ev.participant.id, b.id);
    assert.equal(ev.participant.name, 'Bob');

    const st = await b.c.call('set_state', { camera: true });
    assert.equal(st.participant.camera, true);
    const up = await a.c.event('participant_updated');
    assert.equal(up.participant.id, b.id);
    assert.equal(up.participant.camera, true);
    assert.equal(up.participant.mic, true);

    const ping = await b.c.call('ping');
    assert.equal(typeof ping.time, 'number');

    assert.deepEqual(await b.c.call('leave'), {});
    const left = await a.c.event('participant_left');
    assert.deepEqual(left, { type: 'participant_left', participant_id: b.id, reason: 'left' });
    // after leave, the connection may join again
    const again = await b.c.call('join', { room: 'demo', name: 'Bob' });
    assert.notEqual(again.participant.id, b.id);
    await a.c.close(); await b.c.close();
  } finally { await srv.stop(); }
});

test('chat_send is acknowledged after commit and broadcast; chat_history pages', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await joined(srv, 'chat', 'Alice');
    const b = await joined(srv, 'chat', 'Bob');
    const r = await a.c.call('chat_send', { text: 'Bonjour\n\tà tous 👋', client_msg_id: 'c-1' });
    assert.equal(r.message.text, 'Bonjour\n\tà tous 👋');
    assert.equal(r.message.from, a.id);
    assert.equal(r.message.name, 'Alice');
    assert.equal(r.message.room, 'chat');
    assert.equal(r.message.client_msg_id, 'c-1');
    assert.equal(typeof r.message.ts, 'number');
    const ev = await b.c.event('chat_message');
    assert.deepEqual(ev.message, r.message);
    // a retry is stored once and answered with the same server id
    const again = await a.c.call('chat_send', { text: 'Bonjour\n\tà tous 👋', client_msg_id: 'c-1' });
    assert.equal(again.message.id, r.message.id);
    for (let i = 2; i <= 5; i++) await a.c.call('chat_send', { text: `m${i}`, client_msg_id: `c-${i}` });
    const h = await b.c.call('chat_history', { limit: 2 });
    assert.deepEqual(h.messages.map((m) => m.text), ['m4', 'm5']);
    assert.equal(h.has_more, true);
    const older = await b.c.call('chat_history', { before: h.messages[0].id });
    assert.deepEqual(older.messages.map((m) => m.text), ['Bonjour\n\tà tous 👋', 'm2', 'm3']);
    assert.equal(older.has_more, false);
    const newer = await b.c.call('chat_history', { after: r.message.id, limit: 1 });
    assert.deepEqual(newer.messages.map((m) => m.text), ['m2']);
    const c = await joined(srv, 'chat', 'Carol');
    assert.equal(c.data.last_message_id, h.messages[1].id);
    for (const x of [a, b, c]) await x.c.close();
  } finally { await srv.stop(); }
});

test('chat_send reusing a client_msg_id for another text: bad_field client_msg_id, nothing stored', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await joined(srv, 'reuse', 'Alice');
    const first = await a.c.call('chat_send', { text: 'premier', client_msg_id: 'dup-1' });
    const r = await a.c.request('chat_send', { text: 'autre chose', client_msg_id: 'dup-1' });
    assertError(r, 'bad_field', 'client_msg_id');
    assert.match(r.error.message, /client_msg_id/);
    // the connection stays usable; the first message is the only one stored
    const h = await a.c.call('chat_history', {});
    assert.deepEqual(h.messages.map((m) => [m.id, m.text]), [[first.message.id, 'premier']]);
    // the same id is still free in another room
    const b = await joined(srv, 'reuse-2', 'Bob');
    const other = await b.c.call('chat_send', { text: 'autre chose', client_msg_id: 'dup-1' });
    assert.equal(other.message.text, 'autre chose');
    await a.c.close(); await b.c.close();
  } finally { await srv.stop(); }
});

test('bad_json, missing_field, bad_field, unknown_type, not_joined, already_joined', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const c = await connect(srv.wsUrl);
    c.sendRaw('{"type": "join", ');
    assertError(await c.nextResponse(), 'bad_json');
    c.sendRaw('[1, 2]');
    let r = await c.nextResponse();
    assertError(r, 'bad_json');
    assert.equal(r.id, null);
    c.sendRaw('{"type": "ping"}');
    r = await c.nextResponse();
    assertError(r, 'missing_field', 'id');
    assert.equal(r.id, null);
    c.sendRaw('{"type": "ping", "id": [1]}');
    assertError(await c.nextResponse(), 'bad_field', 'id');
    assertError(await c.request('nope'), 'unknown_type');
    c.sendRaw('{"id": 7}');
    r = await c.nextResponse();
    assertError(r, 'missing_field', 'type');
    assert.equal(r.id, 7);
    c.sendRaw('{"id": "abc", "type": 3}');
    r = await c.nextResponse();
    assertError(r, 'bad_field', 'type');
    assert.equal(r.id, 'abc');
    assertError(await c.request('chat_send', { text: 'x', client_msg_id: 'a' }), 'not_joined');
    assertError(await c.request('leave'), 'not_joined');
    assertError(await c.request('set_state', { mic: true }), 'not_joined');
    assertError(await c.request('chat_history'), 'not_joined');
    assertError(await c.request('join', { name: 'A' }), 'missing_field', 'room');
    assertError(await c.request('join', { room: 'Demo', name: 'A' }), 'bad_field', 'room');
    assertError(await c.request('join', { room: 'x'.repeat(65), name: 'A' }), 'bad_field', 'room');
    assertError(await c.request('join', { room: 'demo' }), 'missing_field', 'name');
    assertError(await c.request('join', { room: 'demo', name: '' }), 'bad_field', 'name');
    assertError(await c.request('join', { room: 'demo', name: 'a\u0007b' }), 'bad_field', 'name');
    assertError(await c.request('join', { room: 'demo', name: 'é'.repeat(65) }), 'bad_field', 'name');
    assertError(await c.request('join', { room: 'demo', name: 'A', role: 'host' }), 'bad_field', 'role');
    assertError(await c.request('join', { room: 'demo', name: 'A', mic: 'yes' }), 'bad_field', 'mic');
    await c.call('join', { room: 'demo', name: 'é'.repeat(64) });
    assertError(await c.request('join', { room: 'demo', name: 'A' }), 'already_joined');
    assertError(await c.request('set_state', {}), 'missing_field', 'mic');
    assertError(await c.request('set_state', { camera: 1 }), 'bad_field', 'camera');
    assertError(await c.request('chat_send', { client_msg_id: 'a' }), 'missing_field', 'text');
    assertError(await c.request('chat_send', { text: '', client_msg_id: 'a' }), 'bad_field', 'text');
    assertError(await c.request('chat_send', { text: 'a\rb', client_msg_id: 'a' }), 'bad_field', 'text');
    assertError(await c.request('chat_send', { text: 'x'.repeat(4001), client_msg_id: 'a' }), 'bad_field', 'text');
    assertError(await c.request('chat_send', { text: 'x' }), 'missing_field', 'client_msg_id');
    assertError(await c.request('chat_send', { text: 'x', client_msg_id: 'c'.repeat(65) }), 'bad_field', 'client_msg_id');
    // 4000 code points that are 4 bytes each are accepted
    await c.call('chat_send', { text: '😀'.repeat(4000), client_msg_id: 'long' });
    assertError(await c.request('chat_history', { before: 1, after: 2 }), 'bad_field');
    assertError(await c.request('chat_history', { limit: 0 }), 'bad_field', 'limit');
    assertError(await c.request('chat_history', { limit: 201 }), 'bad_field', 'limit');
    assertError(await c.request('chat_history', { before: 'x' }), 'bad_field', 'before');
    // nothing else changed: the connection still works
    assert.equal(typeof (await c.call('ping')).time, 'number');
    await c.close();
  } finally { await srv.stop(); }
});

test('join with receive: mixed makes the first subscribe offer the mix; a bad value is refused and changes nothing', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await joined(srv, 'mixroom', 'Alice');
    const c = await connect(srv.wsUrl);
    assertError(await c.request('join', { room: 'mixroom', name: 'Bob', receive: 'individual' }), 'bad_field', 'receive');
    assertError(await c.request('join', { room: 'mixroom', name: 'Bob', receive: '' }), 'bad_field', 'receive');
    assertError(await c.request('join', { room: 'mixroom', name: 'Bob', receive: true }), 'bad_field', 'receive');
    // nothing changed: Bob is not in the room, the connection works, no offer came
    assertError(await c.request('set_receive', { mode: 'mixed' }), 'not_joined');
    await sleep(200);
    assert.deepEqual(a.c.events.filter((e) => e.type === 'participant_joined'), []);
    assert.deepEqual(c.events.filter((e) => e.type === 'subscribe_offer'), []);
    const b = await c.call('join', { room: 'mixroom', name: 'Bob', receive: 'mixed' });
    assert.deepEqual(b.participants.map((p) => p.id), [a.id]);
    const joinedEv = await a.c.event('participant_joined');
    assert.equal(joinedEv.participant.id, b.participant.id);
    // the first subscribe offer is the mix: one audio and one video m-line, stream "mixer"
    const offer = await c.event('subscribe_offer');
    assert.match(offer.sdp, /a=msid:mixer mix-audio/);
    assert.match(offer.sdp, /a=msid:mixer mix-video/);
    assert.equal((offer.sdp.match(/^m=/gm) || []).length, 2, offer.sdp);
    // set_receive still answers; the mode already in force sends no offer
    assert.deepEqual(await c.call('set_receive', { mode: 'mixed' }), { mode: 'mixed' });
    // "sfu" (the default) is accepted too
    const d = await joined(srv, 'mixroom', 'Dan', { receive: 'sfu' });
    assert.equal(d.data.participant.name, 'Dan');
    await Promise.all([a.c.close(), c.close(), d.c.close()]);
  } finally { await srv.stop(); }
});

test('binary_frame is refused and the connection stays', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const c = await connect(srv.wsUrl);
    c.sendRaw(Buffer.from([0x7b, 0x7d]));
    assertError(await c.nextResponse(), 'binary_frame');
    await c.call('ping');
    await c.close();
  } finally { await srv.stop(); }
});

test('fragmented messages are reassembled', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const c = await connect(srv.wsUrl);
    const text = JSON.stringify({ type: 'join', id: 1, room: 'frag', name: 'Fragmented' });
    c.ws.send(text.slice(0, 10), { fin: false });
    c.ws.send(text.slice(10, 20), { fin: false });
    c.ws.send(text.slice(20), { fin: true });
    const r = await c.nextResponse();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.data.participant.name, 'Fragmented');
    await c.close();
  } finally { await srv.stop(); }
});

test('room_full and too_many_rooms', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { limits: { max_participants_per_room: 2, max_rooms: 1 } } });
  try {
    const a = await joined(srv, 'one', 'A');
    const b = await joined(srv, 'one', 'B');
    const c = await connect(srv.wsUrl);
    assertError(await c.request('join', { room: 'one', name: 'C' }), 'room_full', 'room');
    assertError(await c.request('join', { room: 'two', name: 'C' }), 'too_many_rooms', 'room');
    // a leave frees the place, an emptied room frees the room
    await b.c.call('leave');
    await c.call('join', { room: 'one', name: 'C' });
    await a.c.call('leave');
    await c.call('leave');
    const d = await joined(srv, 'two', 'D');
    assert.equal(d.data.participant.role, 'owner');
    for (const x of [a.c, b.c, c, d.c]) await x.close();
  } finally { await srv.stop(); }
});

test('rate_limited answers the request with retry_after_ms; sustained pipelined abuse closes 1008', { timeout: seconds(60) }, async () => {
  // a join timeout far away: only the rate may close this connection
  const srv = await startPalabre({ config: { limits: { messages_per_second: 5, join_timeout_seconds: 120 } } });
  try {
    const c = await connect(srv.wsUrl);
    for (let i = 0; i < 30; i++) c.send({ type: 'ping', id: i });
    const r = await c.nextResponse((m) => !m.ok);
    assertError(r, 'rate_limited');
    assert.ok(Number.isInteger(r.id) && r.id >= 5, `the refused request's own id: ${r.id}`);
    assert.ok(r.error.retry_after_ms >= 1 && r.error.retry_after_ms <= 1000, JSON.stringify(r));
    // the connection stays: after the wait it says, the next request runs
    await sleep(r.error.retry_after_ms + 300);
    for (let i = 0; i < 30; i++) if (i !== r.id) await c.nextResponse((m) => m.id === i);
    assert.equal(typeof (await c.call('ping')).time, 'number');
    // more than 4 times the rate for 10 s without waiting for answers: closed.
    // The server counts a request as pipelined when the answer to an earlier
    // one is not even written yet, which depends on how the bytes arrive: a
    // part of each burst, not all of it. So bursts go on until it closes
    // (within 30 s; 4 x 5 x 10 = 200 pipelined requests close it).
    let isClosed = false, n = 0;
    const closing = c.closed.then((v) => { isClosed = true; return v; });
    for (const end = Date.now() + 30000; !isClosed && Date.now() < end; await sleep(20)) {
      for (let i = 0; i < 50; i++) c.send({ type: 'ping', id: `flood-${n++}` });
    }
    assert.ok(isClosed, `still open after ${n} pipelined requests in 30 s`);
    const closed = await closing;
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, 'rate limit');
  } finally { await srv.stop(); }
});

test('too_large then close 1009', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { limits: { max_message_bytes: 1024 } } });
  try {
    const c = await connect(srv.wsUrl);
    await c.call('ping', { pad: 'x'.repeat(900) });
    c.send({ type: 'ping', id: 'big', pad: 'x'.repeat(2000) });
    assertError(await c.nextResponse(), 'too_large');
    const closed = await c.closed;
    assert.equal(closed.code, 1009);
    assert.equal(closed.reason, 'message too big');
  } finally { await srv.stop(); }
});

test('resume within the window keeps the id; others see no leave or join', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { limits: { resume_seconds: 30 } } });
  try {
    const a = await joined(srv, 'res', 'Alice');
    const b = await joined(srv, 'res', 'Bob');
    await a.c.event('participant_joined');
    b.c.ws.terminate();
    await b.c.closed;
    const b2 = await connect(srv.wsUrl);
    const data = await b2.call('join', { room: 'res', name: 'Bob', resume_token: b.data.resume_token });
    assert.equal(data.resumed, true);
    assert.equal(data.participant.id, b.id);
    assert.equal(data.resume_token, b.data.resume_token);
    assert.deepEqual(data.participants.map((p) => p.id), [a.id]);
    // Bob (resumed) still gets room events; Alice saw nothing
    await a.c.call('set_state', { mic: true });
    await b2.event('participant_updated');
    await a.c.call('ping');
    assert.deepEqual(a.c.events.map((e) => e.type), ['participant_joined']);
    // a wrong token fails
    const x = await connect(srv.wsUrl);
    assertError(await x.request('join', { room: 'res', name: 'X', resume_token: 'f'.repeat(64) }), 'resume_failed', 'resume_token');
    for (const c of [a.c, b2, x]) await c.close();
  } finally { await srv.stop(); }
});

test('disconnect without resume: participant_left timeout after the window; then resume_failed', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { limits: { resume_seconds: 1 } } });
  try {
    const a = await joined(srv, 'gone', 'Alice');
    const b = await joined(srv, 'gone', 'Bob');
    b.c.ws.terminate();
    const left = await a.c.event('participant_left', { timeout: seconds(20) });
    assert.deepEqual(left, { type: 'participant_left', participant_id: b.id, reason: 'timeout' });
    const b2 = await connect(srv.wsUrl);
    assertError(await b2.request('join', { room: 'gone', name: 'Bob', resume_token: b.data.resume_token }), 'resume_failed');
    await a.c.close(); await b2.close();
  } finally { await srv.stop(); }
});

test('Origin: same origin and no Origin accepted, another origin refused with 403', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const ok = await connect(srv.wsUrl, { origin: srv.url });
    await ok.call('ping');
    await ok.close();
    await assert.rejects(connect(srv.wsUrl, { origin: 'http://evil.example' }), (e) => e.statusCode === 403);
  } finally { await srv.stop(); }
  const srv2 = await startPalabre({ config: { server: { allowed_origins: 'https://meet.example.fr' } } });
  try {
    const ok = await connect(srv2.wsUrl, { origin: 'https://meet.example.fr' });
    await ok.close();
    await assert.rejects(connect(srv2.wsUrl, { origin: srv2.url }), (e) => e.statusCode === 403);
  } finally { await srv2.stop(); }
});

test('HTTP: index for / and /r/<room>, MIME types, security headers, 404, no traversal, /healthz', { timeout: seconds(60) }, async () => {
  const web = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-web-'));
  fs.writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>Palabre</title>');
  fs.writeFileSync(path.join(web, 'app.mjs'), 'export {};');
  fs.writeFileSync(path.join(web, 'style.css'), 'body{}');
  fs.writeFileSync(path.join(web, '.secret'), 'no');
  const srv = await startPalabre({ config: { server: { web_root: web } } });
  try {
    for (const p of ['/', '/r/conseil-municipal']) {
      const r = await fetch(srv.url + p);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/html/);
      assert.match(await r.text(), /Palabre/);
      assert.match(r.headers.get('content-security-policy'), /default-src 'self'/);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    }
    let r = await fetch(srv.url + '/app.mjs');
    assert.match(r.headers.get('content-type'), /^text\/javascript/);
    r = await fetch(srv.url + '/style.css');
    assert.match(r.headers.get('content-type'), /^text\/css/);
    for (const p of ['/missing.js', '/.secret', '/..%2f..%2fetc/passwd']) {
      r = await fetch(srv.url + p);
      assert.equal(r.status, 404, p);
    }
    r = await fetch(srv.url + '/healthz');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ok');
  } finally { await srv.stop(); fs.rmSync(web, { recursive: true, force: true }); }
});

test('SIGTERM: server_shutdown, shutting_down, close 1001, exit code 0', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  const a = await joined(srv, 'bye', 'Alice');
  const stopped = srv.stop('SIGTERM');
  const ev = await a.c.event('server_shutdown');
  assert.equal(typeof ev.reason, 'string');
  assertError(await a.c.request('ping'), 'shutting_down');
  const closed = await a.c.closed;
  assert.equal(closed.code, 1001);
  const r = await stopped;
  assert.equal(r.code, 0);
});

test('storage_error when the disk is full; nothing is stored', { timeout: seconds(60) }, async (t) => {
  // The data dir is a 200 KiB tmpfs in the server's own mount namespace
  // (nothing outside it is touched): the chat fills it, SQLite reports
  // SQLITE_FULL, the send gets storage_error.
  let srv;
  try {
    srv = await startPalabre({
      config: { limits: { messages_per_second: 100000 } },
      wrap: ['unshare', '-m', '--', 'sh', '-c',
        'for a; do case "$p" in --data-dir) d=$a;; esac; p=$a; done; ' +
        'mkdir -p "$d" && mount -t tmpfs -o size=200k tmpfs "$d" && exec "$@"', 'sh'],
    });
  } catch (e) {
    if (/mount|unshare|permission/i.test(String(e))) { t.skip(`no mount namespace: ${e.message}`); return; }
    throw e;
  }
  try {
    const a = await joined(srv, 'full', 'Alice');
    let failed = null;
    const big = 'é'.repeat(4000);
    for (let i = 0; i < 200 && !failed; i++) {
      const r = await a.c.request('chat_send', { text: `${i} ${big.slice(10)}`, client_msg_id: `m-${i}` });
      if (!r.ok) failed = { i, r };
    }
    assert.ok(failed, 'the disk never filled');
    assertError(failed.r, 'storage_error');
    const h = await a.c.call('chat_history', { limit: 200 });
    assert.equal(h.messages.some((m) => m.client_msg_id === `m-${failed.i}`), false);
    assert.equal(h.messages.length, failed.i);
    await a.c.close();
  } finally { await srv.stop(); }
});

test('CLI: --help, --version, bad config key and value name key and line', { timeout: seconds(60) }, async () => {
  let r = await runPalabre(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--listen ADDR:PORT/);
  r = await runPalabre(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^palabre \S+/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-cfg-'));
  const f = path.join(dir, 'bad.ini');
  fs.writeFileSync(f, '[server]\nlog_level = info\n\n[limits]\nmax_roomz = 3\n');
  r = await runPalabre(['--config', f, '--data-dir', path.join(dir, 'd')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`${f.replace(/[.]/g, '\\.')}:5: key 'max_roomz'`));
  fs.writeFileSync(f, '[limits]\nmax_rooms = lots\n');
  r = await runPalabre(['--config', f, '--data-dir', path.join(dir, 'd')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad\.ini:2: key 'max_rooms': expected an integer/);
  r = await runPalabre(['--listen', 'nowhere', '--data-dir', path.join(dir, 'd')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /listen/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a vanished client (no close, no pong) is detected and removed: participant_left timeout', { timeout: seconds(180) }, async () => {
  // A raw TCP client does the WebSocket handshake, joins, then goes silent
  // without closing: the server's ping goes unanswered, the connection is
  // dropped, and the participant leaves when its resume window ends.
  const net = await import('node:net');
  const srv = await startPalabre({ config: { limits: { resume_seconds: 5 } } });
  try {
    const a = await joined(srv, 'vanish', 'Alice');
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((r) => sock.once('data', r)); // 101 Switching Protocols
    const payload = Buffer.from(JSON.stringify({ type: 'join', id: 1, room: 'vanish', name: 'Ghost' }));
    const mask = Buffer.from([1, 2, 3, 4]);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask,
      Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
    sock.write(frame);
    const ev = await a.c.event('participant_joined');
    sock.on('data', () => {}); // read, never answer (no pong)
    const left = await a.c.event('participant_left', { timeout: seconds(45) });
    assert.equal(left.participant_id, ev.participant.id);
    assert.equal(left.reason, 'timeout');
    sock.destroy();
    await a.c.close();
  } finally { await srv.stop(); }
});

test('resume while the old connection still looks alive: the old one is dropped, the id kept', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await joined(srv, 'take', 'Alice');
    const b = await joined(srv, 'take', 'Bob');
    await a.c.event('participant_joined');
    const b2 = await connect(srv.wsUrl);
    const data = await b2.call('join', { room: 'take', name: 'Bob', resume_token: b.data.resume_token });
    assert.equal(data.resumed, true);
    assert.equal(data.participant.id, b.id);
    await b.c.closed; // the server dropped the old connection
    await b2.call('set_state', { mic: true });
    const up = await a.c.event('participant_updated');
    assert.equal(up.participant.id, b.id);
    await a.c.call('ping');
    assert.deepEqual(a.c.events.map((e) => e.type), ['participant_joined', 'participant_updated']);
    await a.c.close(); await b2.close();
  } finally { await srv.stop(); }
});
