// The browser client's signaling connection (signaling/web/connection.js) on a
// stuck path: a server that takes the TCP connection and never finishes the
// WebSocket handshake, and one that takes a request and never answers it. In
// both the page must give that socket up and open another, or it would show
// "connecting" forever. Node runs the client's own module, with the `ws`
// package as its WebSocket; the servers are node's, on loopback.
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WS, { WebSocketServer } from 'ws';
import { seconds } from '../lib/timeouts.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

// A browser's WebSocket reports errors as events; ws emits them and throws if
// nobody listens (the client listens to close only, as browsers allow)
globalThis.WebSocket = class extends WS {
  constructor(...a) { super(...a); this.on('error', () => {}); }
};
const src = fs.readFileSync(path.join(ROOT, 'signaling/web/connection.js'), 'utf8');
const { createConnection } = await import(`data:text/javascript,${encodeURIComponent(src)}`);

// An HTTP server whose upgrades go to handle(n, req, socket, head), n from 1.
async function server(handle) {
  const srv = http.createServer((req, res) => res.writeHead(404).end());
  let n = 0;
  const held = [];
  srv.on('upgrade', (req, socket, head) => { held.push(socket); handle(++n, req, socket, head); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${srv.address().port}/ws`,
    upgrades: () => n,
    close() { for (const s of held) s.destroy(); srv.close(); },
  };
}

const events = () => {
  const log = [];
  const next = (what) => new Promise((resolve) => {
    const check = () => { const e = log.find((x) => x.what === what && !x.seen); if (e) { e.seen = true; resolve(e); } else setTimeout(check, 20); };
    check();
  });
  return { log, next, on: (what) => () => log.push({ what, at: Date.now() }) };
};

test('a handshake that never ends: after 10 s the socket is given up (onDown) and another one opens', { timeout: seconds(60) }, async () => {
  const wss = new WebSocketServer({ noServer: true });
  // the first upgrade is taken and left unanswered; the next ones are served
  const srv = await server((n, req, socket, head) => {
    if (n > 1) wss.handleUpgrade(req, socket, head, () => {});
  });
  const ev = events();
  const conn = createConnection({ url: srv.url, onOpen: ev.on('open'), onDown: ev.on('down') });
  try {
    const t0 = Date.now();
    conn.start();
    const down = await ev.next('down');
    assert.ok(down.at - t0 >= 9500, `gave up after ${down.at - t0} ms, not 10 s`);
    await ev.next('open');
    assert.equal(srv.upgrades(), 2);
    assert.ok(conn.isOpen);
    assert.deepEqual(ev.log.map((e) => e.what), ['down', 'open']);
  } finally {
    conn.stop();
    wss.close();
    srv.close();
  }
});

test('a request that gets no response: rejected with timeout after 15 s, the socket dropped, another one opens and is answered', { timeout: seconds(90) }, async () => {
  const wss = new WebSocketServer({ noServer: true });
  // first socket: requests are read and never answered; then answered
  const srv = await server((n, req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (m) => {
        const r = JSON.parse(m);
        if (n > 1) ws.send(JSON.stringify({ type: 'response', id: r.id, ok: true, data: { socket: n } }));
      });
    });
  });
  const ev = events();
  const conn = createConnection({ url: srv.url, onOpen: ev.on('open'), onDown: ev.on('down') });
  try {
    conn.start();
    await ev.next('open');
    const t0 = Date.now();
    const err = await conn.request('join', { room: 'salle' }).then(() => null, (e) => e);
    assert.equal(err?.code, 'timeout', JSON.stringify(err));
    assert.ok(Date.now() - t0 >= 14500, `timed out after ${Date.now() - t0} ms, not 15 s`);
    await ev.next('down');
    await ev.next('open');
    assert.equal(srv.upgrades(), 2);
    assert.deepEqual(await conn.request('join', { room: 'salle' }), { socket: 2 });
    assert.deepEqual(ev.log.map((e) => e.what), ['open', 'down', 'open']);
  } finally {
    conn.stop();
    wss.close();
    srv.close();
  }
});
