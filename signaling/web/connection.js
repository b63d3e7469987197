// The signaling WebSocket (docs/protocol.md): request/response by id, events by
// type, and reconnection by itself with exponential backoff and jitter.
//
//   const conn = createConnection({ url, onOpen, onDown });
//   conn.on('chat_message', handler);      // several handlers per type
//   const data = await conn.request('ping'); // rejects with {code, message}
//   conn.start(); conn.stop();
//
// onOpen() runs on every (re)open, onDown() when an open socket is lost and a
// reconnection is scheduled. Pending requests are rejected with code "offline".
// A request without a response within 15 s is rejected with "timeout", and
// its socket is treated as lost (the server or the path is stuck); so is a
// socket whose opening handshake has not ended within 10 s.
// A close with a final code (4001 removed, 4002 meeting ended, 4003 denied) is
// not retried: onFinal(code, reason) runs instead.
//
// A cluster (docs/protocol.md, "Several nodes"): conn.redirect(url) moves the
// connection to the node that serves the room (the join's `redirect` error);
// when that connection is lost, the next attempt goes back to the first URL,
// whose node knows where the room lives now (it moved after a failure).

const BACKOFF_MIN_MS = 300;
const BACKOFF_MAX_MS = 5000;
const REQUEST_TIMEOUT_MS = 15000;
const OPEN_TIMEOUT_MS = 10000;
const FINAL_CODES = new Set([4001, 4002, 4003]);

export function createConnection({ url, onOpen = () => {}, onDown = () => {}, onFinal = () => {} }) {
  const handlers = new Map(); // type → [handler]
  const pending = new Map(); // id → {resolve, reject, timer}
  let ws = null;
  let nextId = 1;
  let attempt = 0;
  let retryTimer = null;
  let stopped = true;
  let current = url; // the node serving the room after a redirect, else url

  function open() {
    retryTimer = null;
    const sock = new WebSocket(current);
    ws = sock;
    // a handshake that never ends (a server or proxy that took the TCP
    // connection and went quiet) counts as a failed attempt, not a wait forever
    const openTimer = setTimeout(() => {
      if (sock.readyState === WebSocket.CONNECTING) dropAndRetry(sock);
    }, OPEN_TIMEOUT_MS);
    sock.addEventListener('open', () => {
      clearTimeout(openTimer);
      if (sock !== ws) return;
      attempt = 0;
      onOpen();
    });
    sock.addEventListener('message', (e) => {
      if (sock !== ws || typeof e.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      if (msg.type === 'response') {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.data || {});
        else p.reject(msg.error || { code: 'unknown', message: 'error' });
        return;
      }
      for (const h of handlers.get(msg.type) || []) {
        try { h(msg); } catch (err) { console.error(err); }
      }
    });
    sock.addEventListener('close', (ev) => {
      clearTimeout(openTimer);
      if (sock !== ws) return;
      ws = null;
      failPending();
      current = url;
      if (stopped) return;
      if (FINAL_CODES.has(ev.code)) {
        stopped = true;
        onFinal(ev.code, ev.reason);
        return;
      }
      retryLater();
    });
  }

  function retryLater() {
    // 300 ms, 600 ms, 1.2 s ... up to 5 s, with ±30 % jitter so clients spread out
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    attempt++;
    retryTimer = setTimeout(open, base * (0.7 + Math.random() * 0.6));
    onDown();
  }

  // A request got no response in time: this socket may look open and be dead
  // (a half-open TCP connection, a stuck proxy), and nothing would ever retry
  // what was asked on it, the join first. It is dropped and another one opened,
  // as after a loss: onDown, backoff, then onOpen joins again (resuming).
  function dropAndRetry(sock) {
    if (sock !== ws || stopped) return;
    ws = null;
    failPending();
    current = url;
    sock.close(1000);
    retryLater();
  }

  function failPending() {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject({ code: 'offline', message: 'connection lost' });
    }
    pending.clear();
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      open();
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = null;
      const sock = ws;
      ws = null;
      failPending();
      if (sock) sock.close(1000);
    },
    // Another node serves the room: reconnect there now (onOpen runs again).
    redirect(to) {
      if (stopped) return;
      const sock = ws;
      ws = null;
      failPending();
      if (sock) sock.close(1000);
      clearTimeout(retryTimer);
      attempt = 0;
      current = to;
      open();
    },
    get isOpen() { return !!ws && ws.readyState === WebSocket.OPEN; },
    // the URL of the node this connection is (or will be) open to
    get url() { return current; },
    on(type, handler) {
      if (!handlers.has(type)) handlers.set(type, []);
      handlers.get(type).push(handler);
    },
    request(type, fields = {}) {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        return Promise.reject({ code: 'offline', message: 'not connected' });
      }
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const sock = ws;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject({ code: 'timeout', message: 'no response' });
          dropAndRetry(sock);
        }, REQUEST_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        ws.send(JSON.stringify({ ...fields, type, id }));
      });
    },
  };
}
