// Chat bounds against a real palabre (docs/protocol.md "chat_history",
// "chat_quota"; docs/operations.md [chat]): a history page is bounded in
// bytes, a room's chat has a quota that refuses sends (and survives kill -9),
// retention deletes old messages at start in batches, bad [chat] values stop
// the server before it listens.
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPalabre, connect, runPalabre } from '../lib/palabre.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PAGE_BYTES = 256 * 1024;
// Code points of 4 bytes: 4000 of them is the largest text chat_send accepts.
const BIG = '😀'.repeat(4000);
const big = (i) => `${i} ${'😀'.repeat(3990)}`;
const utf8 = (s) => Buffer.byteLength(s, 'utf8');
// A message's size as the server counts it (docs/protocol.md).
const size = (m) => utf8(m.from) + utf8(m.name) + utf8(m.text) + utf8(m.client_msg_id);

async function joined(srv, room, name) {
  const c = await connect(srv.wsUrl, { timeout: 15000 });
  const data = await c.call('join', { room, name });
  return { c, data, id: data.participant.id };
}

// The raw text of the next response frame, to measure what went on the wire.
function nextFrame(c) {
  return new Promise((resolve) => c.ws.once('message', (d) => resolve(d.toString())));
}

function sqlite(db, sql) {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8', timeout: 20000 });
}

test('chat_history: a page of big messages stops at 256 KiB with has_more; paging reaches every message once', { timeout: 120000 }, async () => {
  const srv = await startPalabre({ timeout: 15000 });
  try {
    const a = await joined(srv, 'pages', 'Alice');
    const sent = [];
    for (let i = 0; i < 40; i++) {
      const d = await a.c.call('chat_send', { text: big(i), client_msg_id: `big-${i}` });
      sent.push(d.message.id);
      if (i % 25 === 24) await sleep(1100); // stay under messages_per_second
    }
    const total = 40 * (utf8(BIG) + 20);
    assert.ok(total > 2 * PAGE_BYTES, 'the messages do not even fill two pages');

    // The newest page, limit 200: bounded by bytes, not by count.
    const wire = nextFrame(a.c);
    const first = await a.c.call('chat_history', { limit: 200 });
    const frame = await wire;
    const bytes = first.messages.reduce((n, m) => n + size(m), 0);
    assert.ok(first.messages.length >= 1 && first.messages.length < 40, `${first.messages.length} messages`);
    assert.ok(bytes <= PAGE_BYTES, `${bytes} bytes in a page`);
    assert.ok(utf8(frame) < PAGE_BYTES + 64 * 1024, `a ${utf8(frame)}-byte response`);
    assert.equal(first.has_more, true);
    assert.deepEqual(first.messages.map((m) => m.id), sent.slice(40 - first.messages.length));

    // Backwards with before = the oldest id of each page.
    const back = [];
    let page = first;
    for (;;) {
      back.unshift(...page.messages.map((m) => m.id));
      if (!page.has_more) break;
      page = await a.c.call('chat_history', { before: page.messages[0].id, limit: 200 });
      assert.ok(page.messages.reduce((n, m) => n + size(m), 0) <= PAGE_BYTES);
    }
    assert.deepEqual(back, sent);

    // Forwards with after = the newest id of each page.
    const fwd = [sent[0]];
    page = { messages: [{ id: sent[0] }], has_more: true };
    while (page.has_more) {
      page = await a.c.call('chat_history', { after: page.messages.at(-1).id, limit: 200 });
      assert.ok(page.messages.length >= 1);
      fwd.push(...page.messages.map((m) => m.id));
    }
    assert.deepEqual(fwd, sent);

    // Small messages: the count bound is unchanged.
    const b = await joined(srv, 'small', 'Bob');
    for (let i = 0; i < 5; i++) await b.c.call('chat_send', { text: `m${i}`, client_msg_id: `s-${i}` });
    const small = await b.c.call('chat_history', { limit: 3 });
    assert.deepEqual(small.messages.map((m) => m.text), ['m2', 'm3', 'm4']);
    assert.equal(small.has_more, true);
    await Promise.all([a.c.close(), b.c.close()]);
  } finally { await srv.stop(); }
});

test('chat_quota: a full room refuses sends (nothing stored, nobody told); retries and other rooms still work; the count survives kill -9', { timeout: 120000 }, async () => {
  const config = { chat: { max_room_bytes: 65536 } };
  let srv = await startPalabre({ config, keepDir: true, timeout: 15000 });
  const dataDir = srv.dataDir;
  try {
    const a = await joined(srv, 'quota', 'Alice');
    const b = await joined(srv, 'quota', 'Bob');
    const stored = [];
    let refused = null;
    for (let i = 0; i < 10 && !refused; i++) {
      const r = await a.c.request('chat_send', { text: big(i), client_msg_id: `q-${i}` });
      if (r.ok) stored.push(r.data.message);
      else refused = { i, r };
    }
    assert.ok(refused, 'the quota never refused a send');
    assert.equal(refused.r.error.code, 'chat_quota', JSON.stringify(refused.r));
    assert.equal(typeof refused.r.error.message, 'string');
    const used = stored.reduce((n, m) => n + size(m), 0);
    assert.ok(used <= 65536 && used + size(stored[0]) > 65536, `${used} bytes stored`);

    // Nothing stored, nobody told.
    await b.c.call('ping');
    assert.equal(b.c.events.filter((e) => e.type === 'chat_message').length, stored.length);
    const h = await b.c.call('chat_history', { limit: 200 });
    assert.deepEqual(h.messages.map((m) => m.id), stored.map((m) => m.id));
    // A retry of a stored message is still answered, with the same message.
    const again = await a.c.call('chat_send', { text: stored[0].text, client_msg_id: stored[0].client_msg_id });
    assert.equal(again.message.id, stored[0].id);
    // The quota counts bytes: a small message still fits; another room is not affected.
    const small = await b.c.call('chat_send', { text: 'ok ?', client_msg_id: 'b-1' });
    assert.ok(used + size(small.message) <= 65536);
    stored.push(small.message);
    const other = await joined(srv, 'autre', 'Carole');
    await other.c.call('chat_send', { text: BIG, client_msg_id: 'c-1' });

    // kill -9 and restart on the same data: the count was committed with the messages.
    srv.kill();
    await srv.exited;
    srv = await startPalabre({ config, args: ['--data-dir', dataDir], keepDir: true, timeout: 15000 });
    const a2 = await joined(srv, 'quota', 'Alice');
    assert.equal(a2.data.last_message_id, stored.at(-1).id);
    const r = await a2.c.request('chat_send', { text: big(99), client_msg_id: 'after-restart' });
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.error.code, 'chat_quota');
    await a2.c.close();
  } finally {
    await srv.stop();
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  }
});

test('retention_days: messages older than the retention are deleted at start, in batches; 0 keeps them', { timeout: 120000 }, async () => {
  let srv = await startPalabre({ keepDir: true, timeout: 15000 });
  const dataDir = srv.dataDir;
  const db = path.join(dataDir, 'palabre.db');
  try {
    const a = await joined(srv, 'archive', 'Alice');
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await a.c.call('chat_send', { text: `m${i}`, client_msg_id: `r-${i}` })).message.id);
    await a.c.close();
    await srv.stop();
    // Two of them 400 days old, and 1,200 old ones in another room (more than one batch).
    const day = 86400000;
    sqlite(db, `UPDATE messages SET ts = ts - 400 * ${day} WHERE id IN (${ids[0]}, ${ids[1]});` +
      'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)' +
      ` INSERT INTO messages(room, sender, name, text, client_msg_id, ts, bytes) SELECT 'vieux', 'p_x', 'X', 'old ' || i, 'o-' || i, ${Date.now() - 500 * day} + i, 20 FROM n;`);

    // 0: kept forever.
    srv = await startPalabre({ config: { chat: { retention_days: 0 } }, args: ['--data-dir', dataDir], keepDir: true, timeout: 15000 });
    let c = await joined(srv, 'archive', 'Bob');
    await sleep(500);
    assert.deepEqual((await c.c.call('chat_history', {})).messages.map((m) => m.id), ids);
    await c.c.close();
    await srv.stop();

    // 365 (the default): the old ones go, the recent ones stay.
    srv = await startPalabre({ args: ['--data-dir', dataDir], keepDir: true, timeout: 15000 });
    c = await joined(srv, 'archive', 'Bob');
    const deadline = Date.now() + 30000;
    let left;
    for (;;) {
      left = sqlite(db, "SELECT count(*) FROM messages WHERE room = 'vieux'").trim();
      if (left === '0' || Date.now() > deadline) break;
      await sleep(200);
    }
    assert.equal(left, '0');
    assert.deepEqual((await c.c.call('chat_history', {})).messages.map((m) => m.id), ids.slice(2));
    const usage = sqlite(db, 'SELECT room, bytes, messages FROM room_usage ORDER BY room').trim();
    assert.match(usage, /^archive\|\d+\|2$/);
    // Ids keep growing after the deletions.
    const next = await c.c.call('chat_send', { text: 'encore', client_msg_id: 'r-next' });
    assert.ok(next.message.id > 1200 + ids.at(-1));
    await c.c.close();
  } finally {
    await srv.stop();
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  }
});

test('[chat] bad values stop the server with the key named', { timeout: 60000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-chatcfg-'));
  const f = path.join(dir, 'bad.ini');
  try {
    for (const [key, value] of [['retention_days', '-1'], ['retention_days', '36501'], ['retention_days', 'forever'],
      ['retention_days', ''], ['max_room_bytes', '0'], ['max_room_bytes', '65535'], ['max_room_bytes', '1099511627777'],
      ['max_room_bytes', '16M'], ['max_room_byte', '65536']]) {
      fs.writeFileSync(f, `[chat]\n${key} = ${value}\n`);
      const r = await runPalabre(['--config', f, '--data-dir', path.join(dir, 'd'), '--listen', '127.0.0.1:1'], { timeout: 15000 });
      assert.notEqual(r.code, 0, `${key} = ${value} accepted`);
      assert.match(r.stderr, new RegExp(`bad\\.ini:2: key '${key}'`), r.stderr);
    }
    // The edges are accepted (checked by a server that starts).
    const srv = await startPalabre({ config: { chat: { retention_days: 36500, max_room_bytes: 65536 } }, timeout: 15000 });
    await srv.stop();
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});
