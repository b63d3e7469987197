// Chat durability across kill -9: two clients send 200 messages while the
// server is killed with SIGKILL at random moments and restarted on the same
// data directory. Every acknowledged message must be in history exactly once,
// with the id it was acknowledged with, in each sender's order; the
// unacknowledged ones are resent (same client_msg_id) and stored once.
//
// The kill moments come from a seeded PRNG; the seed is printed, and
// DURABILITY_SEED=<n> replays a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { seconds } from '../lib/timeouts.mjs';

const BIN = process.env.PALABRE_BIN ?? 'build/palabre';
const PORT = 18000 + (process.pid % 1000);
const URL = `ws://127.0.0.1:${PORT}/ws`;
const ROOM = 'durability';
const PER_CLIENT = 100;
const WINDOW = 4; // sends in flight per client
const KILLS = 3;

// mulberry32: small, seedable, good enough to pick moments.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Server {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.proc = null;
    this.starts = 0;
  }
  async start() {
    const { spawn } = await import('node:child_process');
    // Two clients pipeline their sends (WINDOW in flight) as fast as the server
    // answers: the rate limiter is raised so that what is tested is storage and
    // order, not the limiter (whose rate_limited answers a pipelining client
    // resends out of order; integration/hardening tests the limiter).
    const ini = join(this.dataDir, 'palabre.ini');
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(ini, '[limits]\nmessages_per_second = 100000\n');
    this.proc = spawn(BIN, ['--listen', `127.0.0.1:${PORT}`, '--data-dir', this.dataDir,
                            '--config', ini], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    this.starts++;
    // Ready when a WebSocket opens.
    for (let i = 0; i < 200; i++) {
      if (this.proc.exitCode !== null) throw new Error(`palabre exited: ${this.stderr}`);
      if (await canOpen()) return;
      await sleep(25);
    }
    throw new Error(`palabre did not start: ${this.stderr}`);
  }
  kill() {
    const p = this.proc;
    p.kill('SIGKILL');
    return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', r)));
  }
  // SIGTERM; resolves to the exit code (0 expected: clean shutdown, no
  // sanitizer report) or null when the process was already gone.
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return null;
    const exited = new Promise((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    return exited;
  }
}

function canOpen() {
  return new Promise((resolve) => {
    const ws = new WebSocket(URL, { origin: `http://127.0.0.1:${PORT}` });
    ws.once('open', () => { ws.terminate(); resolve(true); });
    ws.once('error', () => resolve(false));
  });
}

// A chat client that survives server restarts: it reconnects, resumes (or
// joins again when the room was lost), and resends what was not acknowledged.
class Sender {
  constructor(label) {
    this.label = label;
    this.msgs = [];
    for (let i = 0; i < PER_CLIENT; i++) {
      this.msgs.push({ text: `${label}-${String(i).padStart(3, '0')}`,
                       cid: randomBytes(16).toString('hex'), id: null, sends: 0 });
    }
    this.next = 0; // first message never sent on this connection
    this.resumeToken = null;
    this.reqId = 0;
    this.pending = new Map(); // request id -> {resolve, reject}
    this.joins = 0;
    this.resumes = 0;
  }
  get acked() { return this.msgs.filter((m) => m.id !== null).length; }

  request(ws, body) {
    const id = `${this.label}${++this.reqId}`;
    return new Promise((resolve, reject) => {
      // a socket already closed (e.g. while a rate-limited send waited) rejects
      // at once: its close handler has run and would never reject this one
      if (ws.readyState !== WebSocket.OPEN) { reject(new Error('closed')); return; }
      this.pending.set(id, { resolve, reject });
      try { ws.send(JSON.stringify({ ...body, id })); } catch (e) { this.pending.delete(id); reject(e); }
    });
  }

  async connect() {
    for (;;) {
      const ws = new WebSocket(URL, { origin: `http://127.0.0.1:${PORT}` });
      const opened = await new Promise((resolve) => {
        ws.once('open', () => resolve(true));
        ws.once('error', () => resolve(false));
      });
      if (!opened) { await sleep(20); continue; }
      ws.on('error', () => {});
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.type !== 'response') return;
        const p = this.pending.get(m.id);
        if (p) { this.pending.delete(m.id); p.resolve(m); }
      });
      ws.once('close', () => {
        for (const p of this.pending.values()) p.reject(new Error('closed'));
        this.pending.clear();
      });
      try {
        let r;
        if (this.resumeToken) {
          r = await this.request(ws, { type: 'join', room: ROOM, name: this.label,
                                       resume_token: this.resumeToken });
          if (!r.ok && r.error?.code === 'resume_failed') r = null;
          else this.resumes++;
        }
        if (!r) r = await this.request(ws, { type: 'join', room: ROOM, name: this.label });
        if (!r.ok) throw new Error(`join refused: ${JSON.stringify(r.error)}`);
        this.resumeToken = r.data.resume_token;
        this.participantId = r.data.participant?.id;
        this.joins++;
        return ws;
      } catch (e) {
        if (e.message.startsWith('join refused')) throw e;
        ws.terminate();
        await sleep(20);
      }
    }
  }

  // Sends everything, WINDOW in flight, until every message is acknowledged.
  async run(onAck) {
    while (this.acked < PER_CLIENT) {
      const ws = await this.connect();
      // Resend, in order, whatever was not acknowledged.
      const todo = this.msgs.filter((m) => m.id === null);
      const inflight = new Set();
      let broken = false;
      for (const m of todo) {
        if (broken) break;
        while (inflight.size >= WINDOW) await Promise.race(inflight);
        if (broken) break;
        m.sends++;
        const p = this.request(ws, { type: 'chat_send', text: m.text, client_msg_id: m.cid })
          .then((r) => {
            assert.ok(r.ok, `chat_send refused: ${JSON.stringify(r.error)}`);
            const msg = r.data.message;
            assert.equal(msg.text, m.text);
            assert.equal(msg.client_msg_id, m.cid);
            if (m.id !== null) assert.equal(msg.id, m.id, 'a retry answered with another id');
            m.id = msg.id;
            m.ackedAs = this.participantId;
            onAck();
          }, () => { broken = true; })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
      ws.terminate();
    }
  }
}

// Reads the whole room through chat_history, newest page first, walking back.
function historyFromClient() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(URL, { origin: `http://127.0.0.1:${PORT}` });
    let all = [];
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`socket closed (${code}) before the whole history was read`)));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', id: 'j', room: ROOM, name: 'reader' })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type !== 'response') return;
      if (!m.ok) return reject(new Error(JSON.stringify(m.error)));
      if (m.id !== 'j') {
        all = [...m.data.messages, ...all];
        if (!m.data.has_more) { ws.close(); return resolve(all); }
      }
      ws.send(JSON.stringify({ type: 'chat_history', id: `h${all.length}`, limit: 200,
                               ...(all.length ? { before: all[0].id } : {}) }));
    });
  });
}

test('acknowledged chat messages survive kill -9, retries are stored once, in order', { timeout: seconds(60) }, async (t) => {
  const seed = Number(process.env.DURABILITY_SEED ?? (Date.now() % 1000000));
  const rand = prng(seed);
  // Kill after these numbers of acknowledged messages (of 2 x PER_CLIENT).
  const killAt = Array.from({ length: KILLS }, () => 10 + Math.floor(rand() * 170)).sort((a, b) => a - b);
  t.diagnostic(`DURABILITY_SEED=${seed} kill after ${killAt.join(', ')} acknowledged messages`);

  const dataDir = mkdtempSync(join(tmpdir(), 'pal-durability-'));
  const server = new Server(dataDir);
  await server.start();
  const senders = [new Sender('alice'), new Sender('bruno')];
  let acked = 0;
  let killing = Promise.resolve();
  const onAck = () => {
    acked++;
    if (killAt.length && acked >= killAt[0]) {
      killAt.shift();
      // SIGKILL now, with sends still in flight, then restart.
      killing = killing.then(async () => { await server.kill(); await server.start(); });
    }
  };
  try {
    await Promise.all(senders.map((s) => s.run(onAck)));
    await killing;
    assert.equal(server.starts, 1 + KILLS);

    const byCid = new Map();
    for (const s of senders) for (const m of s.msgs) byCid.set(m.cid, { ...m, sender: s.label });
    const resent = senders.flatMap((s) => s.msgs).filter((m) => m.sends > 1).length;
    t.diagnostic(`resent after a kill: ${resent}; joins: ${senders.map((s) => s.joins).join(', ')}; resumes: ${senders.map((s) => s.resumes).join(', ')}`);

    // 1. Through the protocol.
    const history = await historyFromClient();
    // 2. Straight from the SQLite file (WAL readers see every commit).
    const rows = JSON.parse(execFileSync('sqlite3', ['-json', join(dataDir, 'palabre.db'),
      `SELECT id, text, client_msg_id, sender FROM messages WHERE room = '${ROOM}' ORDER BY id`]).toString() || '[]');

    // A row stored under an earlier participant id than the one that got the
    // acknowledgement was committed before a kill and acknowledged only on its
    // retry: the idempotent path. (How many depends on the kill moment.)
    const lateAcks = rows.filter((r) => byCid.get(r.client_msg_id)?.ackedAs !== r.sender).length;
    t.diagnostic(`committed before a kill, acknowledged after it (retry answered as duplicate): ${lateAcks}`);

    for (const [name, list] of [['history', history], ['sqlite', rows]]) {
      assert.equal(list.length, 2 * PER_CLIENT, `${name}: every message stored exactly once`);
      const seen = new Set();
      let last = 0;
      for (const r of list) {
        assert.ok(r.id > last, `${name}: ids ascending`);
        last = r.id;
        assert.ok(!seen.has(r.client_msg_id), `${name}: ${r.text} stored twice`);
        seen.add(r.client_msg_id);
        const m = byCid.get(r.client_msg_id);
        assert.ok(m, `${name}: unknown message ${r.text}`);
        assert.equal(r.text, m.text);
        assert.equal(r.id, m.id, `${name}: ${m.text} stored with the id it was acknowledged with`);
      }
      for (const s of senders) {
        const texts = list.filter((r) => r.text.startsWith(`${s.label}-`)).map((r) => r.text);
        assert.deepEqual(texts, s.msgs.map((m) => m.text), `${name}: ${s.label}'s messages in order`);
      }
    }
    const code = await server.stop();
    assert.equal(code, 0, `palabre did not stop cleanly:\n${server.stderr}`);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
