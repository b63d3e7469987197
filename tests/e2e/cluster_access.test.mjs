// A room's access state on a cluster (issue 15: "invite revocations, bans and
// room locks reach every node"). Same topology as cluster.test.mjs (a real
// redis-server with a password, palabre nodes in their own namespaces,
// protocol-level clients here), two nodes:
//   1. kill -9 of a room's home after its owner locked the room, banned an
//      agent and revoked one of two invite links: on the new home the owner
//      is still the owner (the first to come back is not), the room is still
//      locked (that first one waits in the lobby), the banned agent is
//      refused, the revoked link is refused and the other link works
//   2. the other nodes' copies follow the home at once (pub/sub): a room's
//      new title is in "my rooms" on another node, and still after a
//      redis-server restart (the subscription is made again)
//   3. kill -9 of the home: a participant that comes back to the new home
//      with the resume token of the old one is itself again (same id and
//      role, resumed false); one who had left, or a made-up token, is not
//   4. redis-server restarted empty: the home writes the meeting's state
//      (people, bans, the room) again, so that a kill -9 after it keeps them
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { clusterTopology, joinRoom, redisCli, removeTopology, sleep, startNodes, startRedis, stopCluster,
  until } from '../lib/cluster.mjs';
import { connect } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

let dir, topo, redis, nodes = [];
const clients = [];

const newKey = () => crypto.randomBytes(16).toString('base64url');
const nodeOf = (wsUrl) => nodes.find((n) => n.ws === wsUrl);
async function join(entry, room, name, fields) {
  const m = await joinRoom(entry.ws, room, name, { fields });
  clients.push(m.c);
  return m;
}
const access = (room, field) => redisCli(topo, 'HGET', `pal:room:${room}:access`, field);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-cluster-access-'));
  topo = await clusterTopology(2);
}, { timeout: seconds(60) });

after(() => removeTopology(topo, dir), { timeout: seconds(60) });

afterEach(async () => {
  const running = nodes;
  nodes = [];
  await stopCluster(clients, running, redis);
}, { timeout: seconds(60) });

async function startCluster() {
  redis = await startRedis(topo, fs.mkdtempSync(path.join(dir, 'redis-')));
  nodes = await startNodes(topo, dir);
}

test('after a failover the owner, the lock, the bans and the revoked links are the same on the new home', { timeout: seconds(180) }, async () => {
  await startCluster();
  const owner = newKey(), member = newKey(), banned = newKey();
  const o = await join(nodes[0], 'mairie', 'Odile', { agent_key: owner });
  assert.equal(o.data.participant.role, 'owner');
  const dead = nodeOf(o.node);
  const x = await join(nodes[0], 'mairie', 'Xavier', { agent_key: banned });
  assert.equal(x.node, o.node);
  const kept = await o.c.call('invite_create', { label: 'garde', lobby: false });
  const revoked = await o.c.call('invite_create', { label: 'revoque', lobby: false });
  await o.c.call('invite_revoke', { invite_id: revoked.invite.id });
  await o.c.call('remove', { participant_id: x.data.participant.id, ban: true });
  await o.c.call('room_update', { locked: true });
  // written through by the home (asynchronously): wait until Redis has it
  await until('the access state in Redis', () => {
    const room = access('mairie', 'room');
    const links = redisCli(topo, 'HVALS', 'pal:room:mairie:access').split('\n')
      .filter((v) => v.includes('"label"')).map((v) => JSON.parse(v));
    return room && JSON.parse(room).locked === true &&
      redisCli(topo, 'SCARD', 'pal:room:mairie:bans') !== '0' &&
      links.some((l) => l.label === 'revoque' && l.revoked_ms > 0);
  }, seconds(10));

  dead.proc.kill('SIGKILL');
  await o.c.closed;
  const live = nodes.find((n) => n !== dead);
  // the first one back on the new home: not the owner (it would be, were
  // the room created again there), and it waits (the room is locked)
  const m = await join(live, 'mairie', 'Martin', { agent_key: member });
  assert.notEqual(nodeOf(m.node), dead);
  assert.equal(m.data.lobby, true, 'a locked room: Martin waits in the lobby');
  assert.equal(m.data.participant.role, 'participant');
  assert.equal(m.data.room_info.settings.locked, true);
  const o2 = await join(live, 'mairie', 'Odile', { agent_key: owner });
  assert.equal(o2.node, m.node);
  assert.equal(o2.data.participant.role, 'owner', 'the owner keeps owner rights');
  assert.deepEqual(o2.data.lobby.map((p) => p.name), ['Martin']);
  // banned for the rest of the meeting, on whichever node serves it
  await assert.rejects(join(live, 'mairie', 'Xavier', { agent_key: banned }), /"code":"banned"/);
  // the revoked link is refused there, the other one works
  await assert.rejects(join(live, 'mairie', 'Rita', { invite: revoked.token }), /"code":"invite_revoked"/);
  const g = await join(live, 'mairie', 'Gilles', { invite: kept.token });
  assert.equal(g.node, m.node);
  assert.equal(g.data.participant.role, 'guest');
  assert.equal(g.data.lobby, true, 'locked: the guest waits too');
  nodes = nodes.filter((n) => n !== dead);
  await dead.exited;
});

test('a change on the home reaches the other nodes\' copies at once, also after a redis-server restart', { timeout: seconds(180) }, async () => {
  await startCluster();
  const owner = newKey();
  const o = await join(nodes[0], 'syndicat', 'Odile', { agent_key: owner });
  const other = nodes.find((n) => n !== nodeOf(o.node));
  const b = await connect(other.ws);
  clients.push(b);
  await b.call('auth', { agent_key: owner, name: 'Odile' });
  const titleThere = async () => (await b.call('rooms_mine')).rooms.find((r) => r.name === 'syndicat')?.title;
  // the room was created on its home: the other node has it in "my rooms"
  await until('the room on the other node', async () => (await titleThere()) === 'syndicat', seconds(10));
  await o.c.call('room_update', { title: 'Syndicat des eaux' });
  await until('the new title on the other node', async () => (await titleThere()) === 'Syndicat des eaux', seconds(10));
  // redis-server restarted (empty): the nodes subscribe again by themselves
  await redis.restart();
  await until('the nodes registered again', () => nodes.every((n) => redisCli(topo, 'EXISTS', `pal:node:${n.id}`) === '1'), seconds(15));
  await until('the lease taken back', () => redisCli(topo, 'EXISTS', 'pal:room:syndicat:home') === '1', seconds(15));
  await sleep(1000); // the subscription is made right after the lease round
  await o.c.call('room_update', { title: 'Syndicat des eaux et forêts' });
  await until('the title after the restart', async () => (await titleThere()) === 'Syndicat des eaux et forêts', seconds(10));
});

test('after a failover a participant who comes back with its resume token is itself again: same id, same role', { timeout: seconds(180) }, async () => {
  await startCluster();
  const a = await join(nodes[0], 'relais', 'Amélie', { agent_key: newKey() });
  const dead = nodeOf(a.node);
  const b = await join(nodes[0], 'relais', 'Bruno', { agent_key: newKey() });
  const g = await join(nodes[0], 'relais', 'Gaston', { agent_key: newKey(), role: 'guest' });
  await a.c.call('set_role', { participant_id: b.data.participant.id, role: 'moderator' });
  // who is in the meeting, written through by the home
  await until('the people in Redis', () => {
    const people = redisCli(topo, 'HVALS', 'pal:room:relais:people').split('\n').filter(Boolean).map((v) => JSON.parse(v));
    return people.length === 3 && people.some((p) => p.id === b.data.participant.id && p.role === 'moderator');
  }, seconds(10));
  // Gaston leaves before the crash: he is not kept
  await g.c.call('leave');
  await until('Gaston gone from Redis', () => redisCli(topo, 'HLEN', 'pal:room:relais:people') === '2', seconds(10));

  dead.proc.kill('SIGKILL');
  await a.c.closed;
  const live = nodes.find((n) => n !== dead);
  const a2 = await join(live, 'relais', 'Amélie', { resume_token: a.data.resume_token });
  assert.notEqual(nodeOf(a2.node), dead);
  assert.equal(a2.data.participant.id, a.data.participant.id, 'same participant id');
  assert.equal(a2.data.participant.role, 'owner');
  assert.equal(a2.data.resumed, false, 'a new home: new PeerConnections, nothing else resumed');
  const joined = a2.c.event('participant_joined');
  const b2 = await join(live, 'relais', 'Bruno', { resume_token: b.data.resume_token });
  assert.equal(b2.data.participant.id, b.data.participant.id);
  assert.equal(b2.data.participant.role, 'moderator');
  assert.deepEqual(b2.data.participants.map((p) => p.id), [a.data.participant.id]);
  assert.equal((await joined).participant.id, b.data.participant.id);
  // a token the old home did not give (or gave someone who left) is refused
  await assert.rejects(join(live, 'relais', 'Gaston', { resume_token: g.data.resume_token }), /"code":"resume_failed"/);
  await assert.rejects(join(live, 'relais', 'X', { resume_token: 'ab'.repeat(32) }), /"code":"resume_failed"/);
  nodes = nodes.filter((n) => n !== dead);
  await dead.exited;
});

test('after a redis-server restart the home writes its meeting\'s state again: a failover then keeps the bans and who is who', { timeout: seconds(180) }, async () => {
  await startCluster();
  const banned = newKey();
  const o = await join(nodes[1], 'comite', 'Odile', { agent_key: newKey() });
  const dead = nodeOf(o.node);
  const x = await join(nodes[1], 'comite', 'Xavier', { agent_key: banned });
  const m = await join(nodes[1], 'comite', 'Martin', { agent_key: newKey() });
  await o.c.call('remove', { participant_id: x.data.participant.id, ban: true });
  const written = () => redisCli(topo, 'HLEN', 'pal:room:comite:people') === '2' &&
    redisCli(topo, 'SCARD', 'pal:room:comite:bans') !== '0' &&
    redisCli(topo, 'HEXISTS', 'pal:room:comite:access', 'room') === '1';
  await until('the meeting in Redis', written, seconds(10));
  await redis.restart(); // empty: nothing was saved
  assert.equal(written(), false);
  await until('the meeting written again', written, seconds(20));

  dead.proc.kill('SIGKILL');
  await o.c.closed;
  const live = nodes.find((n) => n !== dead);
  const m2 = await join(live, 'comite', 'Martin', { resume_token: m.data.resume_token });
  assert.equal(m2.data.participant.id, m.data.participant.id);
  await assert.rejects(join(live, 'comite', 'Xavier', { agent_key: banned }), /"code":"banned"/);
  nodes = nodes.filter((n) => n !== dead);
  await dead.exited;
});
