// The cluster's costs and behaviour (docs/benchmarks.md "## Cluster"), on the
// topology of tests/lib/cluster.mjs (redis-server and 3 nodes in namespaces):
//   1. joins per second, CONCURRENCY clients each joining a new room and
//      leaving, for SECONDS: one node without [cluster], then 3 nodes (clients
//      enter at a random node and follow redirects): the directory's cost
//   2. placement balance: rooms per node after those joins on 3 nodes
//   3. recovery after kill -9 of a home node: from the kill to both
//      participants joined again elsewhere, ROUNDS times
// Run by bench/cluster.sh in a private network namespace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { clusterTopology, joinRoom, startNode, startNodes, startRedis, stopNodes, NODE_PORT }
  from '../tests/lib/cluster.mjs';
import { startPalabreIn } from '../tests/lib/netns.mjs';
import { BIN } from '../tests/lib/palabre.mjs';

const SECONDS = Number(process.env.SECONDS_PER_RUN || 20);
const CONCURRENCY = Number(process.env.CONCURRENCY || 16);
const ROUNDS = Number(process.env.ROUNDS || 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-bench-cluster-'));
const topo = await clusterTopology(3);
let seq = 0;

async function joinRate(entries, label) {
  const deadline = Date.now() + SECONDS * 1000;
  let joins = 0, redirects = 0;
  const homes = new Map();
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      const entry = entries[Math.floor(Math.random() * entries.length)];
      const m = await joinRoom(entry, `bench-${process.pid}-${seq++}`, 'bench');
      joins++;
      redirects += m.hops;
      homes.set(m.node, (homes.get(m.node) || 0) + 1);
      await m.c.call('leave');
      await m.c.close();
    }
  }));
  const rate = joins / ((Date.now() - t0) / 1000);
  console.log(`${label}: ${joins} joins in ${SECONDS} s, ${rate.toFixed(1)} joins/s, ${redirects} redirects`);
  return { rate, homes };
}

try {
  // 1a. one node, no [cluster]
  const single = await startPalabreIn(topo.nodes[0].ns, { bin: BIN, dir, name: 'single', listen: `0.0.0.0:${NODE_PORT}`,
    base: `http://${topo.nodes[0].addr}:${NODE_PORT}`,
    ini: '[access]\nagents = open\n[limits]\nrooms_per_ip_per_minute = 1000000\nmax_rooms = 100000\n' });
  const one = await joinRate([`ws://${topo.nodes[0].addr}:${NODE_PORT}/ws`], 'one node');
  await single.stop();

  // 1b, 2. three nodes on Redis
  const redis = await startRedis(topo, fs.mkdtempSync(path.join(dir, 'redis-')));
  let nodes = await startNodes(topo, dir);
  const three = await joinRate(nodes.map((n) => n.ws), 'three nodes');
  console.log(`ratio three/one: ${(three.rate / one.rate).toFixed(2)}`);
  console.log(`placement (rooms per node): ${nodes.map((n) => `${n.id}=${three.homes.get(n.ws) || 0}`).join(' ')}`);

  // 3. recovery after kill -9
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const room = `recover-${r}`;
    const a = await joinRoom(nodes[0].ws, room, 'A');
    const b = await joinRoom(nodes[0].ws, room, 'B');
    const dead = nodes.find((n) => n.ws === a.node);
    const entry = nodes.find((n) => n !== dead);
    const t0 = Date.now();
    dead.proc.kill('SIGKILL');
    await Promise.all([a.c.closed, b.c.closed]);
    const [a2, b2] = await Promise.all([joinRoom(entry.ws, room, 'A'), joinRoom(entry.ws, room, 'B')]);
    times.push(Date.now() - t0);
    await a2.c.close(); await b2.c.close();
    await dead.exited;
    // the dead one starts again in its place (same id, fresh data dir)
    nodes[nodes.indexOf(dead)] = await startNode(topo, dir, dead.index);
  }
  console.log(`recovery after kill -9 (ms, lease_seconds 8): ${times.join(' ')}; max ${Math.max(...times)}`);
  await stopNodes(nodes);
  await redis.stop();
} finally {
  await topo.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
