// Several nodes on Redis (issue 15). tests/run.sh runs this file in a private
// network namespace; tests/lib/cluster.mjs builds in it a real redis-server
// (password, nothing persisted) and three palabre nodes, each in its own
// namespace linked to this one by a veth pair; the clients (npm ws, at the
// protocol level) run here. Each test starts a fresh Redis and fresh nodes.
//   1. rooms spread over the nodes; a join on the wrong node is redirected
//      (url + ticket) and works there; a forged ticket is refused
//   2. two joins racing on two nodes for a new room: one room on one node
//   3. SIGSTOP of a home node past its lease, then SIGCONT: it stops serving
//      the room (its clients closed 4009), nobody is in two copies
//   4. kill -9 of a home node: its participants are in one meeting on another
//      node within 20 s, where every acknowledged chat message is, once
//   5. redis-server down for longer than a lease, then restarted empty: the
//      meeting goes on (chat between its participants, no close), the leases
//      are taken back, and new rooms are placed again within seconds
//   6. drain of a node: its meeting goes on to its end, new rooms go elsewhere
//   7. the browser client (Chromium) opened on a node that is not the room's
//      home follows the redirect by itself and is in the meeting; after a
//      kill -9 of the home it is back in the meeting by itself, with each
//      chat message shown once (ids are per node)
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS } from '../lib/media_e2e.mjs';
import { clusterTopology, joinRoom, redisCli, registry, removeTopology, sleep, startNodes, startRedis,
  stopCluster, ticketFor, until } from '../lib/cluster.mjs';
import { connect } from '../lib/palabre.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const LEASE_MS = 8000; // [cluster] lease_seconds default
let dir, topo, redis, nodes = [];
const clients = [];

const nodeOf = (wsUrl) => nodes.find((n) => n.ws === wsUrl);
async function join(entry, room, name, opts) {
  const m = await joinRoom(entry.ws, room, name, opts);
  clients.push(m.c);
  return m;
}
const home = (room) => redisCli(topo, 'GET', `pal:room:${room}:home`);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-cluster-'));
  topo = await clusterTopology(3);
}, { timeout: seconds(60) });

after(() => removeTopology(topo, dir), { timeout: seconds(60) });

async function startCluster(extra) {
  redis = await startRedis(topo, fs.mkdtempSync(path.join(dir, 'redis-')));
  nodes = await startNodes(topo, dir, extra);
}

afterEach(async () => {
  const running = nodes;
  nodes = [];
  await stopCluster(clients, running, redis);
}, { timeout: seconds(60) });

test('rooms spread over the nodes; a join on the wrong node is redirected with a ticket and works', { timeout: seconds(120) }, async () => {
  await startCluster();
  // every room asked at node0: placement decides, node0 redirects
  const perNode = new Map(nodes.map((n) => [n.id, 0]));
  for (let i = 0; i < 12; i++) {
    const m = await join(nodes[0], `spread-${i}`, `owner ${i}`);
    assert.ok(m.hops <= 1, `joined in at most one redirect (${m.hops})`);
    const n = nodeOf(m.node);
    assert.equal(home(`spread-${i}`).split(':')[0], n.id, 'the lease names the node that serves');
    perNode.set(n.id, perNode.get(n.id) + 1);
  }
  for (const [id, count] of perNode) assert.ok(count >= 2, `node ${id} got ${count} of 12 rooms: ${[...perNode]}`);

  // a second participant at a node that is not the home: redirect {url, ticket}
  const homeId = home('spread-0').split(':')[0];
  const wrong = nodes.find((n) => n.id !== homeId);
  const c = await connect(wrong.ws);
  clients.push(c);
  const r = await c.request('join', { room: 'spread-0', name: 'Bruno' });
  assert.equal(r.ok, false, `${wrong.id} (home ${homeId}): ${JSON.stringify(r)}`);
  assert.equal(r.error.code, 'redirect', JSON.stringify(r));
  assert.equal(r.error.url, nodes.find((n) => n.id === homeId).ws);
  assert.match(r.error.ticket, /^v1\.spread-0\./);
  const c2 = await connect(r.error.url);
  clients.push(c2);
  const data = await c2.call('join', { room: 'spread-0', name: 'Bruno', ticket: r.error.ticket });
  assert.deepEqual(data.participants.map((p) => p.name), ['owner 0'], 'in the same meeting as the first');

  // a ticket that was tampered with is refused, and changes nothing
  const forged = r.error.ticket.replace(/.$/, (ch) => (ch === '0' ? '1' : '0'));
  const c3 = await connect(r.error.url);
  clients.push(c3);
  const bad = await c3.request('join', { room: 'spread-0', name: 'Eve', ticket: forged });
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'bad_field');
  assert.equal(bad.error.field, 'ticket');
});

test('two joins racing on two nodes for a new room end in one room on one node', { timeout: seconds(120) }, async () => {
  await startCluster();
  for (let k = 0; k < 5; k++) {
    const room = `race-${k}`;
    const [a, b] = await Promise.all([join(nodes[0], room, 'A'), join(nodes[1], room, 'B')]);
    assert.equal(a.node, b.node, `${room}: both on one node`);
    assert.equal(home(room).split(':')[0], nodeOf(a.node).id);
    // each sees the other: the same copy of the room
    const late = a.data.participants.length ? a : b;
    const early = late === a ? b : a;
    assert.equal(late.data.participants.length, 1, `${room}: the later join sees the first`);
    await early.c.event('participant_joined', { filter: (e) => e.participant.id === late.data.participant.id });
  }
});

test('SIGSTOP of a home node past its lease, then SIGCONT: it stops serving the room', { timeout: seconds(150) }, async () => {
  await startCluster();
  const a = await join(nodes[0], 'paused', 'Amélie');
  const first = nodeOf(a.node);
  const epoch1 = Number(home('paused').split(':')[1]);
  first.proc.kill('SIGSTOP');
  try {
    // the lease expires in Redis; a join elsewhere places the room again
    await sleep(LEASE_MS + 1000);
    const other = nodes.find((n) => n !== first);
    const b = await join(other, 'paused', 'Bruno');
    const second = nodeOf(b.node);
    assert.notEqual(second, first, 'placed on a live node');
    const [holder, epoch2] = home('paused').split(':');
    assert.equal(holder, second.id);
    assert.ok(Number(epoch2) > epoch1, `a new epoch (${epoch1} then ${epoch2})`);
  } finally {
    first.proc.kill('SIGCONT');
  }
  // the paused node finds it lost the room and sends its participant away
  const closed = await Promise.race([a.c.closed, sleep(seconds(15)).then(() => null)]);
  assert.ok(closed, 'the old home closed its participant');
  assert.equal(closed.code, 4009, JSON.stringify(closed));
  await until('the old home to report no room', () => registry(topo, first.id)?.rooms === 0, seconds(10));
  // Amélie comes back through her old node and lands in the one copy
  const again = await join(first, 'paused', 'Amélie');
  assert.notEqual(nodeOf(again.node), first);
  assert.deepEqual(again.data.participants.map((p) => p.name), ['Bruno']);
});

test('kill -9 of a home node: its participants are in one meeting on another node within 20 s', { timeout: seconds(150) }, async () => {
  await startCluster();
  const a = await join(nodes[1], 'failover', 'Amélie');
  const dead = nodeOf(a.node);
  const b = await join(nodes[1], 'failover', 'Bruno');
  assert.equal(b.node, a.node);
  // acknowledged chat, from both, just before the crash
  const acked = [];
  for (let i = 0; i < 5; i++) {
    for (const [m, who] of [[a, 'a'], [b, 'b']]) {
      const cmid = `${who}-${i}-${Math.random().toString(36).slice(2)}`;
      await m.c.call('chat_send', { text: `message ${who}${i}`, client_msg_id: cmid });
      acked.push(cmid);
    }
  }
  const entry = nodes.find((n) => n !== dead);
  const t0 = Date.now();
  dead.proc.kill('SIGKILL');
  await a.c.closed;
  await b.c.closed;
  // as the browser client: back through a live node, redirected, retried
  const [a2, b2] = await Promise.all([join(entry, 'failover', 'Amélie'), join(entry, 'failover', 'Bruno')]);
  const took = Date.now() - t0;
  assert.equal(a2.node, b2.node, 'one meeting');
  assert.notEqual(nodeOf(a2.node), dead);
  assert.ok(took < 20000 * TIME_SCALE, `back in a meeting in ${took} ms`);
  const seen = [a2, b2].map((m) => m.data.participants.length).sort();
  assert.deepEqual(seen, [0, 1], 'the later of the two sees the first');
  // the new home serves the chat: every acknowledged message, once
  const history = await a2.c.call('chat_history', { limit: 200 });
  const ids = history.messages.map((m) => m.client_msg_id);
  assert.deepEqual([...ids].sort(), [...acked].sort(), 'no acknowledged message lost or duplicated');
  // a client that resends one it was not sure of gets the stored one back
  const again = await b2.c.call('chat_send', { text: 'message b4', client_msg_id: acked[9] });
  assert.equal(again.message.client_msg_id, acked[9]);
  const after = await a2.c.call('chat_history', { limit: 200 });
  assert.equal(after.messages.length, acked.length, 'the resend was not stored twice');
  nodes = nodes.filter((n) => n !== dead);
  await dead.exited;
});

test('redis-server down past a lease, then restarted: the meeting goes on, new rooms are placed again', { timeout: seconds(150) }, async () => {
  await startCluster();
  const a = await join(nodes[2], 'steady', 'Amélie');
  const b = await join(nodes[2], 'steady', 'Bruno');
  const lease = home('steady');
  await redis.stop();
  // longer than a lease without Redis: the meeting is still served (nobody
  // can take the room from a Redis that is down), chat is acknowledged
  await sleep(LEASE_MS + 2000);
  let got = b.c.event('chat_message');
  await a.c.call('chat_send', { text: 'sans Redis', client_msg_id: 'm0' });
  assert.equal((await got).message.text, 'sans Redis');
  await redis.start(); // empty: nothing was saved (startRedis), the directory is gone
  // the nodes register again and take their leases back by themselves
  await until('the lease taken back', () => home('steady') === lease, seconds(10));
  await until('every node registered again', () => nodes.every((n) => registry(topo, n.id)), seconds(10));
  got = b.c.event('chat_message', { filter: (e) => e.message.client_msg_id === 'm1' });
  await a.c.call('chat_send', { text: 'toujours là', client_msg_id: 'm1' });
  assert.equal((await got).message.text, 'toujours là');
  // new rooms are placed again
  const n = await join(nodes[0], 'after-restart', 'Chloé', { timeoutMs: seconds(10) });
  assert.ok(home('after-restart').startsWith(`${nodeOf(n.node).id}:`));
  // nobody was closed
  assert.equal(await Promise.race([a.c.closed, b.c.closed, sleep(100).then(() => 'open')]), 'open');
});

test('drain of one node: its meeting goes on to its end, new rooms go elsewhere', { timeout: seconds(150) }, async () => {
  await startCluster({ drain_seconds: 60 });
  const a = await join(nodes[0], 'council', 'Amélie');
  const draining = nodeOf(a.node);
  const b = await join(draining, 'council', 'Bruno');
  draining.proc.kill('SIGTERM');
  await until('the registry to show the drain', () => registry(topo, draining.id)?.state === 'draining', seconds(10));
  for (let i = 0; i < 6; i++) {
    const m = await join(draining, `new-${i}`, 'Chloé');
    assert.notEqual(nodeOf(m.node), draining, `new-${i} placed elsewhere`);
  }
  // the meeting on the draining node goes on
  const got = b.c.event('chat_message');
  await a.c.call('chat_send', { text: 'on continue', client_msg_id: 'd1' });
  assert.equal((await got).message.text, 'on continue');
  // its end: the node stops by itself, cleanly
  await a.c.call('leave');
  await b.c.call('leave');
  const r = await draining.exited;
  assert.equal(r.code, 0, draining.output());
  nodes = nodes.filter((n) => n !== draining);
});

test('the browser client follows a redirect by itself, and comes back by itself after a kill -9 of the home', { timeout: seconds(150) }, async () => {
  await startCluster();
  const a = await join(nodes[0], 'navigateur', 'Amélie');
  const homeNode = nodeOf(a.node);
  const other = nodes.find((n) => n !== homeNode);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${nodes.map((n) => n.url).join(',')}`] });
  try {
    const page = await browser.newPage();
    const sockets = [], trace = [];
    page.on('websocket', (ws) => {
      sockets.push(ws.url());
      trace.push(`open ${ws.url()}`);
      ws.on('framereceived', (f) => trace.push(`< ${String(f.payload).slice(0, 160)}`));
      ws.on('close', () => trace.push(`closed ${ws.url()}`));
      ws.on('socketerror', (e) => trace.push(`error ${ws.url()} ${e}`));
    });
    page.on('console', (m) => trace.push(`console ${m.type()}: ${m.text()}`));
    const joined = a.c.event('participant_joined', { timeout: seconds(60), filter: (e) => e.participant.name === 'Chloé' });
    await page.goto(`${other.url}/r/navigateur?name=Chlo%C3%A9&autojoin=1`);
    await page.waitForFunction(() => window.__palabre?.selfId, null, { timeout: seconds(60), polling: 100 });
    await joined;
    assert.deepEqual(sockets, [other.ws, homeNode.ws], 'first the node of the page, then the home');

    // the other nodes hold chat of other rooms: their message ids are ahead
    for (const n of nodes.filter((x) => x !== homeNode)) {
      const c = await connect(n.ws);
      clients.push(c);
      await c.call('join', { room: `autre-${n.id}`, name: 'X', ticket: ticketFor(`autre-${n.id}`, n.id) });
      for (let i = 0; i < 5; i++) await c.call('chat_send', { text: `ailleurs ${i}`, client_msg_id: `x-${n.id}-${i}` });
    }
    for (let i = 0; i < 3; i++) await a.c.call('chat_send', { text: `avant ${i}`, client_msg_id: `avant-${i}` });
    const texts = () => page.$$eval('.msg[data-id] .msg__text', (ps) => ps.map((p) => p.textContent));
    await until('the browser to show the chat', async () => (await texts()).length === 3, seconds(20));

    homeNode.proc.kill('SIGKILL');
    nodes = nodes.filter((n) => n !== homeNode);
    const back = await join(other, 'navigateur', 'Amélie');
    assert.notEqual(back.node, homeNode.ws);
    // Chloé's page comes back by itself, before or after Amélie
    if (!back.data.participants.some((p) => p.name === 'Chloé')) {
      await back.c.event('participant_joined', { timeout: seconds(60), filter: (e) => e.participant.name === 'Chloé' })
        .catch((e) => { throw new Error(`${e.message || e}\n${trace.slice(-40).join('\n')}`); });
    }
    await until('the history of the new home', async () => (await texts()).length >= 3, seconds(20));
    await sleep(1000); // a duplicate would come with the same history page
    assert.deepEqual((await texts()).sort(), ['avant 0', 'avant 1', 'avant 2'], 'each message once');
  } finally {
    await browser.close();
  }
});
