// A Palabre cluster on one machine (issue 15), for tests and bench/cluster.sh:
// a real Debian redis-server with a password and N palabre nodes, each in its
// own network namespace, linked by a veth pair to the suite's namespace
// (SELF), which routes between them and where the clients run:
//
//   redis 10.89.0.2 ── 10.89.0.1 ┐
//   node0 10.89.1.2 ── 10.89.1.1 ├ SELF (clients; forwards between the links)
//   node1 10.89.2.2 ── 10.89.2.1 ┘ ...
//
//   const topo = await clusterTopology(3);          // namespaces, links, routes
//   const redis = await startRedis(topo, dir);       // redis.stop(), redis.restart()
//   const nodes = await startNodes(topo, dir, { drain_seconds: 30 });
//     nodes[i].url ('http://10.89.2.2:8080'), .ws, .id, .proc, .stop(), .exited
//   const m = await joinRoom(nodes[0].ws, 'room', 'Amélie');
//     follows redirect (with its ticket) and room_unavailable (after
//     retry_after_ms) until joined: m.c (the client), m.data, m.node (the
//     ws URL joined), m.hops (redirects followed)
//   redisCli(topo, 'GET', 'pal:node:node1')
//   ticketFor(room, 'node1') → a ticket that places a new room on node1
//   await topo.destroy();
//   await until('what', () => cond, ms)    polls cond every 100 ms, throws after ms
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Netns, SELF, link, unlinkSelf, startPalabreIn } from './netns.mjs';
import { BIN, connect } from './palabre.mjs';
import { TIME_SCALE } from './timeouts.mjs';

export const REDIS_PASSWORD = 'test-redis-password';
export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';
export const NODE_PORT = 8080;
const REDIS_PORT = 6379;

export async function clusterTopology(n) {
  const made = [];
  try {
    SELF.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const redis = await Netns.create('redis');
    made.push(redis);
    await link(SELF, 's0', '10.89.0.1/24', redis, 'r0', '10.89.0.2/24');
    redis.ip('route', 'add', 'default', 'via', '10.89.0.1');
    const nodes = [];
    for (let i = 0; i < n; i++) {
      const ns = await Netns.create(`node${i}`);
      made.push(ns);
      await link(SELF, `s${i + 1}`, `10.89.${i + 1}.1/24`, ns, 'n0', `10.89.${i + 1}.2/24`);
      ns.ip('route', 'add', 'default', 'via', `10.89.${i + 1}.1`);
      nodes.push({ ns, addr: `10.89.${i + 1}.2` });
    }
    return {
      redis: { ns: redis, addr: '10.89.0.2', port: REDIS_PORT }, nodes,
      async destroy() { unlinkSelf(); for (const ns of made.reverse()) await ns.destroy(); },
    };
  } catch (e) {
    unlinkSelf();
    for (const ns of made.reverse()) await ns.destroy();
    throw e;
  }
}

// A redirect ticket for room on node (signed with the tests' cluster secret,
// docs/protocol.md): a join carrying it places a new room on that node.
export function ticketFor(room, nodeId, expiresMs = Date.now() + 30000) {
  const body = `v1.${room}.${nodeId}.${expiresMs}`;
  return `${body}.${crypto.createHmac('sha256', CLUSTER_SECRET).update(body).digest('hex')}`;
}

export function redisCli(topo, ...args) {
  return execFileSync('redis-cli', ['-h', topo.redis.addr, '-p', String(topo.redis.port), '--no-auth-warning',
    '-a', REDIS_PASSWORD, ...args], { timeout: 10000 }).toString().trim();
}

async function waitRedis(topo, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (redisCli(topo, 'PING') === 'PONG') return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('redis-server did not answer');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// redis-server in its namespace, password required, nothing persisted (a
// restart loses every key: the worst case for the nodes' resynchronisation).
export async function startRedis(topo, dir) {
  const conf = path.join(dir, 'redis.conf');
  fs.writeFileSync(conf, `bind ${topo.redis.addr}\nport ${topo.redis.port}\nrequirepass ${REDIS_PASSWORD}\n` +
    `save ""\nappendonly no\ndir ${dir}\nlogfile ""\n`);
  const r = { proc: null, log: '' };
  r.start = async () => {
    r.proc = topo.redis.ns.spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    r.proc.stdout.on('data', (d) => { r.log += d; });
    r.proc.stderr.on('data', (d) => { r.log += d; });
    r.exited = new Promise((res) => r.proc.once('exit', res));
    await waitRedis(topo, 10000 * TIME_SCALE);
  };
  r.stop = async () => {
    if (r.proc && r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    if (r.proc) await r.exited;
  };
  r.restart = async () => { await r.stop(); await r.start(); };
  await r.start();
  return r;
}

export async function startNode(topo, dir, i, extra = {}) {
  const { ns, addr } = topo.nodes[i];
  const id = `node${i}`;
  const url = `http://${addr}:${NODE_PORT}`;
  const cluster = { redis: `${topo.redis.addr}:${topo.redis.port}`, redis_password: REDIS_PASSWORD,
    node_id: id, public_url: url, secret: CLUSTER_SECRET, ...(extra.cluster || {}) };
  // a page from one node opens the home node's WebSocket: every node's origin is allowed
  const origins = topo.nodes.map((n) => `http://${n.addr}:${NODE_PORT}`).join(', ');
  const ini = `[server]\ndrain_seconds = ${extra.drain_seconds ?? 0}\nallowed_origins = ${origins}\n` +
    `[access]\nagents = open\n` +
    `[limits]\nrooms_per_ip_per_minute = 1000000\nmax_rooms = 100000\n[cluster]\n` +
    Object.entries(cluster).map(([k, v]) => `${k} = ${v}\n`).join('');
  const srv = await startPalabreIn(ns, { bin: BIN, dir, name: id, listen: `0.0.0.0:${NODE_PORT}`, base: url, ini,
    timeoutMs: 15000 * TIME_SCALE });
  return { ...srv, id, url, ws: `ws://${addr}:${NODE_PORT}/ws`, index: i };
}

export async function startNodes(topo, dir, extra = {}) {
  const nodes = [];
  for (let i = 0; i < topo.nodes.length; i++) nodes.push(await startNode(topo, dir, i, extra));
  // every node registered (within 2 s of its start, by the issue)
  const deadline = Date.now() + 10000 * TIME_SCALE;
  for (;;) {
    const live = nodes.filter((n) => redisCli(topo, 'EXISTS', `pal:node:${n.id}`) === '1');
    if (live.length === nodes.length) return nodes;
    if (Date.now() > deadline) throw new Error(`nodes not registered: ${nodes.length - live.length} missing`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The registry entry of a node (null when its key expired).
export function registry(topo, id) {
  const v = redisCli(topo, 'GET', `pal:node:${id}`);
  return v ? JSON.parse(v) : null;
}

// Joins `room` starting at wsUrl as a client does: follows `redirect` to its
// url with its ticket, waits retry_after_ms on `room_unavailable`, until
// joined or timeoutMs. Other errors throw.
export async function joinRoom(wsUrl, room, name, { timeoutMs = 30000 * TIME_SCALE, fields = {} } = {}) {
  const deadline = Date.now() + timeoutMs;
  let url = wsUrl, ticket = null, hops = 0, last = null;
  while (Date.now() < deadline) {
    let c;
    try {
      c = await connect(url);
    } catch (e) { // a dead node: back to the entry node
      last = e.message;
      url = wsUrl; ticket = null; hops = 0;
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    const r = await c.request('join', { room, name, ...fields, ...(ticket ? { ticket } : {}) }).catch((e) => ({ ok: false, error: { code: 'lost', message: String(e) } }));
    if (r.ok) return { c, data: r.data, node: url, hops };
    await c.close();
    last = JSON.stringify(r.error);
    if (r.error.code === 'redirect') {
      url = r.error.url; ticket = r.error.ticket; hops++;
      if (hops > 10) throw new Error(`more than 10 redirects: ${last}`);
    } else if (r.error.code === 'room_unavailable' || r.error.code === 'lost') {
      url = wsUrl; ticket = null;
      await new Promise((res) => setTimeout(res, r.error.retry_after_ms || 300));
    } else {
      throw new Error(`join ${room} failed: ${last}`);
    }
  }
  throw new Error(`join ${room}: not joined in time (last: ${last})`);
}

// Every node's process, stopped: SIGCONT first (a test may have left one
// stopped), then SIGTERM. Throws, with its output, when a node did not exit 0
// (a crash, a sanitizer report, a leak).
export async function stopNodes(nodes) {
  for (const n of nodes) {
    try { n.proc.kill('SIGCONT'); } catch { /* gone */ }
    if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
  }
  const bad = [];
  for (const n of nodes) {
    const r = await n.exited;
    if (r.code !== 0) bad.push(`${n.id} exited with ${r.code} (${r.signal}):\n${n.output()}`);
  }
  if (bad.length) throw new Error(bad.join('\n'));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn every 100 ms until it returns something truthy (returned), or
// throws after timeoutMs naming what was awaited.
export async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The end of a test: its clients closed, its nodes stopped (stopNodes: throws
// on a crash or a sanitizer report), its redis-server stopped.
export async function stopCluster(clients, nodes, redis) {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await stopNodes(nodes);
  await redis?.stop();
}

// The end of a test file: the namespaces and the temporary directory gone.
export async function removeTopology(topo, dir) {
  await topo?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
