// Access (docs/protocol.md, "Roles", "Lobby", "Invite links") against a real
// palabre with its real SQLite room store: stored rooms and their owner,
// invite links, the lobby (admit, deny), refused links, a guest's powers,
// locked rooms, and token mode with JWTs made here with Node's crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPalabre, connect, assertError } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

const newKey = () => crypto.randomBytes(16).toString('base64url'); // 22 chars, as the client's


// An open-mode agent in room (created, and owned, if it does not exist yet).
async function agentIn(srv, room, name, key = newKey(), extra = {}) {
  const c = await connect(srv.wsUrl);
  const data = await c.call('join', { room, name, agent_key: key, ...extra });
  return { c, data, id: data.participant.id, key };
}

// A guest holding an invite token (joins; the response may be the lobby's).
async function guestWith(srv, room, name, invite, extra = {}) {
  const c = await connect(srv.wsUrl);
  const r = await c.request('join', { room, name, invite, ...extra });
  return { c, r, data: r.data, id: r.data?.participant?.id };
}

// Every event up to now has been delivered: a ping's answer comes after
// anything queued before it (one ordered queue per connection).
async function settled(c) { await c.call('ping'); }

test('an agent creates a room and a link; a guest waits, is admitted; a second is denied', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const key = newKey();
    const a = await connect(srv.wsUrl);
    const auth = await a.call('auth', { agent_key: key, name: 'Alice' });
    const sub = 'local:' + crypto.createHash('sha256').update(key).digest('hex').slice(0, 32);
    assert.deepEqual(auth, { agent: { sub, name: 'Alice', email: null }, mode: 'open' });
    const created = await a.call('room_create', { room: 'conseil', title: 'Conseil municipal' });
    assert.deepEqual(created.room, {
      name: 'conseil', title: 'Conseil municipal', owner_name: 'Alice',
      settings: { lobby: true, locked: false, guest_chat: true }, your_role: 'owner',
    });
    assertError(await a.request('room_create', { room: 'conseil', title: 'Encore' }), 'room_exists', 'room');
    const mine = await a.call('rooms_mine');
    assert.deepEqual(mine.rooms.map((r) => [r.name, r.owner, r.title]), [['conseil', true, 'Conseil municipal']]);

    const joined = await a.call('join', { room: 'conseil', name: 'Alice' }); // the session's identity
    assert.equal(joined.participant.role, 'owner');
    assert.equal(joined.room_info.title, 'Conseil municipal');
    assert.equal(joined.room_info.your_role, 'owner');
    assert.deepEqual(joined.lobby, []);
    const alice = joined.participant.id;

    const link = await a.call('invite_create', { label: 'Cabinet Durand — étude voirie' });
    assert.match(link.token, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(link.path, `/r/conseil#invite=${link.token}`);
    assert.equal(link.url, null); // no [server] public_url
    assert.equal(link.invite.label, 'Cabinet Durand — étude voirie');
    assert.equal(link.invite.state, 'active');
    assert.equal(link.invite.max_uses, null);
    assert.equal(link.invite.lobby, true);
    assert.equal(link.invite.revoked, false);
    assert.equal(link.invite.created_by, 'Alice');
    const week = link.invite.expires_at - link.invite.created_at;
    assert.equal(week, 7 * 86400 * 1000);

    // the guest waits: no participant list, no history cursor
    const g = await guestWith(srv, 'conseil', 'Gaston', link.token);
    assert.equal(g.r.ok, true, JSON.stringify(g.r));
    assert.deepEqual(Object.keys(g.data).sort(), ['lobby', 'participant', 'resume_token', 'room', 'room_info']);
    assert.equal(g.data.lobby, true);
    assert.equal(g.data.participant.role, 'guest');
    assert.equal(g.data.room_info.title, 'Conseil municipal');
    assert.equal(g.data.room_info.your_role, 'guest');
    const knock = await a.event('lobby_knock');
    assert.deepEqual(knock.participant, {
      id: g.id, name: 'Gaston', role: 'guest', invite_label: 'Cabinet Durand — étude voirie',
    });
    // the agent chats; the waiting guest sees nothing of it, and can only leave, ping, auth
    const said = await a.call('chat_send', { text: 'bonjour', client_msg_id: 'm1' });
    for (const [type, fields] of [
      ['chat_send', { text: 'je suis là', client_msg_id: 'g1' }],
      ['chat_history', {}],
      ['set_state', { mic: true }],
      ['publish', { sdp: 'v=0' }],
      ['invite_list', {}],
    ]) assertError(await g.c.request(type, fields), 'in_lobby');
    await settled(g.c);
    assert.deepEqual(g.c.events, [], 'a waiting guest gets no room event');

    // admitted: the full join data, then a normal participant
    assert.deepEqual(await a.call('lobby_admit', { participant_id: g.id }), {});
    const adm = await g.c.event('admitted');
    assert.equal(adm.room, 'conseil');
    assert.equal(adm.participant.id, g.id);
    assert.deepEqual(adm.participants.map((p) => p.id), [alice]);
    assert.equal(adm.resumed, false);
    assert.equal(adm.resume_token, g.data.resume_token);
    assert.equal(adm.last_message_id, said.message.id);
    assert.equal(adm.receive, 'sfu');
    assert.deepEqual(adm.ice_servers, [], 'no [turn]: an empty list, given on admission');
    assert.equal(adm.room_info.your_role, 'guest');
    assert.deepEqual((await a.event('lobby_left')), { type: 'lobby_left', participant_id: g.id, reason: 'admitted' });
    assert.equal((await a.event('participant_joined')).participant.id, g.id);
    const mod = await a.event('moderation');
    assert.equal(mod.action, 'admit');
    assert.deepEqual(mod.by, { id: alice, name: 'Alice' });
    assert.deepEqual(mod.target, { id: g.id, name: 'Gaston' });
    await g.c.call('chat_send', { text: 'merci', client_msg_id: 'g2' });
    assert.equal((await a.event('chat_message')).message.text, 'merci');

    // a second guest with the same link is denied
    const h = await guestWith(srv, 'conseil', 'Hector', link.token);
    assert.equal(h.data.lobby, true);
    assert.equal((await a.event('lobby_knock')).participant.id, h.id);
    await a.call('lobby_deny', { participant_id: h.id, reason: 'Réunion complète' });
    assert.deepEqual(await h.c.event('denied'), { type: 'denied', reason: 'Réunion complète' });
    assert.deepEqual(await h.c.closed, { code: 4003, reason: 'denied' });
    assert.equal((await a.event('lobby_left', { filter: (e) => e.participant_id === h.id })).reason, 'denied');
    assertError(await a.request('lobby_admit', { participant_id: h.id }), 'unknown_participant', 'participant_id');
    // both uses counted
    const list = await a.call('invite_list');
    assert.equal(list.invites.length, 1);
    assert.equal(list.invites[0].uses, 2);
    // the admitted guest saw nobody of the lobby
    await settled(g.c);
    assert.ok(!g.c.events.some((e) => e.type.startsWith('lobby_')), JSON.stringify(g.c.events));
    await Promise.all([a.close(), g.c.close()]);
  } finally { await srv.stop(); }
});

test('revoked, expired and used-up links are refused with their codes', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await agentIn(srv, 'voirie', 'Alice');
    const once = await a.c.call('invite_create', { label: 'une fois', max_uses: 1 });
    assert.equal(once.invite.max_uses, 1);
    const revoked = await a.c.call('invite_create', { label: 'révoqué' });
    const old = await a.c.call('invite_create', { label: 'périmé', expires_in: 60 });
    assert.equal(old.invite.expires_at - old.invite.created_at, 60000);

    const first = await guestWith(srv, 'voirie', 'Un', once.token);
    assert.equal(first.r.ok, true, JSON.stringify(first.r));
    assertError((await guestWith(srv, 'voirie', 'Deux', once.token)).r, 'invite_used_up', 'invite');

    const rv = await a.c.call('invite_revoke', { invite_id: revoked.invite.id });
    assert.equal(rv.invite.revoked, true);
    assert.equal(rv.invite.state, 'revoked');
    assertError((await guestWith(srv, 'voirie', 'Trois', revoked.token)).r, 'invite_revoked', 'invite');

    // expiry: expires_in is at least 60 s, so the link's row is aged in the
    // real SQLite file (the server reads it on each use)
    execFileSync('sqlite3', [path.join(srv.dataDir, 'palabre.db'),
      `PRAGMA busy_timeout=5000; UPDATE invites SET expires_ms = expires_ms - 120000 WHERE id = ${old.invite.id};`]);
    assertError((await guestWith(srv, 'voirie', 'Quatre', old.token)).r, 'invite_expired', 'invite');

    const states = Object.fromEntries((await a.c.call('invite_list')).invites.map((i) => [i.label, i.state]));
    assert.deepEqual(states, { 'une fois': 'used_up', 'révoqué': 'revoked', 'périmé': 'expired' });
    // a made-up token, another room's link, an unknown room
    assertError((await guestWith(srv, 'voirie', 'Cinq', 'A'.repeat(22))).r, 'invite_invalid', 'invite');
    await agentIn(srv, 'autre', 'Bob');
    assertError((await guestWith(srv, 'autre', 'Six', once.token)).r, 'invite_invalid', 'invite');
    assertError((await guestWith(srv, 'nulle-part', 'Sept', once.token)).r, 'room_not_found', 'room');
    // bad fields
    assertError(await a.c.request('invite_create', { label: '' }), 'bad_field', 'label');
    assertError(await a.c.request('invite_create', { label: 'x', expires_in: 59 }), 'bad_field', 'expires_in');
    assertError(await a.c.request('invite_create', { label: 'x', expires_in: 90 * 86400 + 1 }), 'bad_field', 'expires_in');
    assertError(await a.c.request('invite_create', { label: 'x', max_uses: 0 }), 'bad_field', 'max_uses');
    assertError(await a.c.request('invite_revoke', { invite_id: 999999 }), 'invite_invalid', 'invite_id');
    await a.c.close();
  } finally { await srv.stop(); }
});

// ACCESS: every request that needs the owner or a moderator.
const MODERATOR_REQUESTS = (target, other) => [
  ['lobby_admit', { participant_id: other }],
  ['lobby_deny', { participant_id: other }],
  ['lobby_admit_all', {}],
  ['invite_create', { label: 'pirate' }],
  ['invite_list', {}],
  ['invite_revoke', { invite_id: 1 }],
  ['mute', { participant_id: target, kind: 'mic' }],
  ['allow_unmute', { participant_id: target, kind: 'mic' }],
  ['mute_all', {}],
  ['remove', { participant_id: target, ban: true }],
  ['room_update', { locked: true, title: 'Pris' }],
  ['end_meeting', {}],
  ['set_role', { participant_id: target, role: 'participant' }],
  ['journal', {}],
];

test('a guest cannot call any moderator request: each forbidden, nothing changed', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const key = newKey();
    const owner = await connect(srv.wsUrl);
    await owner.call('auth', { agent_key: key, name: 'Alice' });
    await owner.call('room_create', { room: 'bureau', title: 'Bureau', settings: { lobby: false } });
    const o = await owner.call('join', { room: 'bureau', name: 'Alice' });
    const bob = await agentIn(srv, 'bureau', 'Bob', newKey(), { mic: true });
    assert.equal(bob.data.participant.role, 'participant');
    const straight = await owner.call('invite_create', { label: 'direct', lobby: false });
    const waiting = await owner.call('invite_create', { label: 'attente', lobby: true });
    const g = await guestWith(srv, 'bureau', 'Gaston', straight.token);
    assert.equal(g.data.participant.role, 'guest');
    assert.ok(Array.isArray(g.data.participants), 'straight in: the room lobby is off, the link says no lobby');
    // link and room setting: the lobby when either says so
    const w = await guestWith(srv, 'bureau', 'Wanda', waiting.token);
    assert.equal(w.data.lobby, true);
    await owner.event('lobby_knock');
    const before = await owner.call('invite_list');

    for (const target of [o.participant.id, bob.id]) {
      for (const [type, fields] of MODERATOR_REQUESTS(target, w.id)) {
        const e = assertError(await g.c.request(type, fields), 'forbidden');
        assert.match(e.message, /owner|moderator/, `${type}: the message names the role needed`);
      }
    }
    // nothing changed: same links, nobody removed, muted or admitted, same room
    assert.deepEqual(await owner.call('invite_list'), before);
    await settled(owner);
    await settled(bob.c);
    await settled(w.c);
    const seen = [...owner.events, ...bob.c.events, ...w.c.events].map((e) => e.type);
    for (const t of ['participant_left', 'participant_updated', 'lobby_left', 'admitted', 'denied',
      'removed', 'meeting_ended', 'room_updated', 'moderation'])
      assert.ok(!seen.includes(t), `${t} after a guest's refused request: ${seen}`);
    const info = (await owner.call('rooms_mine')).rooms[0];
    assert.deepEqual([info.title, info.settings.locked], ['Bureau', false]);
    // the guest is still a guest, still in
    assert.equal((await g.c.call('set_state', { mic: true })).participant.role, 'guest');
    // the agent participant has no moderator power either
    assertError(await bob.c.request('invite_create', { label: 'x' }), 'forbidden');
    assertError(await bob.c.request('lobby_admit', { participant_id: w.id }), 'forbidden');
    // guests cannot own rooms
    assertError(await g.c.request('room_create', { room: 'a-moi', title: 'À moi' }), 'forbidden');
    await Promise.all([owner.close(), bob.c.close(), g.c.close(), w.c.close()]);
  } finally { await srv.stop(); }
});

test('locked room: agents wait; a waiting guest is shown to the owner who comes; guest chat off', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const key = newKey();
    const o = await connect(srv.wsUrl);
    await o.call('auth', { agent_key: key, name: 'Alice' });
    await o.call('room_create', { room: 'huis-clos', title: 'Huis clos',
      settings: { locked: true, guest_chat: false } });
    // the owner is let in, even locked
    const first = await o.call('join', { room: 'huis-clos', name: 'Alice' });
    assert.equal(first.participant.role, 'owner');
    const link = await o.call('invite_create', { label: 'Presse' });
    await o.call('leave');
    // nobody who moderates is there: the guest waits, and so does an agent (locked)
    const g = await guestWith(srv, 'huis-clos', 'Gaston', link.token);
    assert.equal(g.data.lobby, true);
    const b = await agentIn(srv, 'huis-clos', 'Bob');
    assert.equal(b.data.lobby, true);
    assert.equal(b.data.participant.role, 'participant');
    assertError(await b.c.request('chat_send', { text: 'x', client_msg_id: 'b' }), 'in_lobby');
    // the owner comes back (same agent_key, new connection): both are shown
    const back = await agentIn(srv, 'huis-clos', 'Alice', key);
    assert.equal(back.data.participant.role, 'owner');
    assert.deepEqual(back.data.lobby.map((p) => [p.id, p.role, p.invite_label]).sort(),
      [[g.id, 'guest', 'Presse'], [b.id, 'participant', null]].sort());
    assert.deepEqual(await back.c.call('lobby_admit_all'), { admitted: 2 });
    await g.c.event('admitted');
    await b.c.event('admitted');
    // guest chat is off in this room; agents chat
    assertError(await g.c.request('chat_send', { text: 'x', client_msg_id: 'g' }), 'forbidden');
    await b.c.call('chat_send', { text: 'ok', client_msg_id: 'b' });
    // an agent joining with role guest takes fewer powers
    const c = await agentIn(srv, 'huis-clos', 'Alice bis', key, { role: 'guest' });
    assert.equal(c.data.participant.role, 'guest');
    assert.equal(c.data.lobby, true);
    await Promise.all([o.close(), g.c.close(), b.c.close(), back.c.close(), c.c.close()]);
  } finally { await srv.stop(); }
});

test('a waiting guest who leaves or drops: lobby_left; rooms per agent are bounded', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { access: { agents: 'open', max_rooms_per_agent: 2 },
    limits: { resume_seconds: 1 } } });
  try {
    const key = newKey();
    const a = await agentIn(srv, 'un', 'Alice', key);
    const link = await a.c.call('invite_create', { label: 'l' });
    const g = await guestWith(srv, 'un', 'G', link.token);
    await a.c.event('lobby_knock');
    await g.c.call('leave');
    assert.deepEqual(await a.c.event('lobby_left'), { type: 'lobby_left', participant_id: g.id, reason: 'left' });
    // a waiting guest whose connection drops: gone when its resume window ends
    const d = await guestWith(srv, 'un', 'D', link.token);
    await a.c.event('lobby_knock', { filter: (e) => e.participant.id === d.id });
    d.c.ws.terminate();
    assert.deepEqual(await a.c.event('lobby_left', { filter: (e) => e.participant_id === d.id }),
      { type: 'lobby_left', participant_id: d.id, reason: 'timeout' });
    await settled(a.c);
    assert.ok(!a.c.events.some((e) => e.type === 'participant_left'), 'nobody left the meeting');
    const c = await connect(srv.wsUrl);
    await c.call('auth', { agent_key: key });
    await c.call('room_create', { room: 'deux', title: 'Deux' });
    assertError(await c.request('room_create', { room: 'trois', title: 'Trois' }), 'room_quota', 'room');
    // a join that would create a third room is refused the same way
    const q = await connect(srv.wsUrl);
    assertError(await q.request('join', { room: 'quatre', name: 'Alice', agent_key: key }), 'room_quota', 'room');
    await q.close();
    await Promise.all([a.c.close(), c.close()]);
  } finally { await srv.stop(); }
});

test('a guest nobody admits is let go after lobby_wait_seconds: denied with timeout, close 4003, lobby_left', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { access: { agents: 'open', lobby_wait_seconds: 5 } } });
  try {
    const a = await agentIn(srv, 'attente', 'Alice');
    const link = await a.c.call('invite_create', { label: 'l' });
    const g = await guestWith(srv, 'attente', 'G', link.token);
    assert.equal(g.data.lobby, true);
    const since = Date.now();
    await a.c.event('lobby_knock');
    // a second guest, admitted in time, stays
    const h = await guestWith(srv, 'attente', 'H', link.token);
    await a.c.event('lobby_knock', { filter: (e) => e.participant.id === h.id });
    await a.c.call('lobby_admit', { participant_id: h.id });
    const denied = await g.c.event('denied', { timeout: seconds(20) });
    assert.deepEqual(denied, { type: 'denied', reason: null, timeout: true });
    assert.ok(Date.now() - since >= 4500, `let go after ${Date.now() - since} ms`);
    assert.deepEqual(await g.c.closed, { code: 4003, reason: 'lobby timeout' });
    assert.deepEqual(await a.c.event('lobby_left', { filter: (e) => e.participant_id === g.id }),
      { type: 'lobby_left', participant_id: g.id, reason: 'timeout' });
    // the admitted one is still in the meeting: she can chat, and nobody left
    await h.c.call('chat_send', { text: 'bonjour', client_msg_id: 'm1' });
    await a.c.event('chat_message', { filter: (e) => e.message.text === 'bonjour' });
    assert.ok(!a.c.events.some((e) => e.type === 'participant_left'), 'nobody left the meeting');
    await Promise.all([a.c.close(), h.c.close()]);
  } finally { await srv.stop(); }
});

test('removed with a ban: the resume token, the same link, the same guest_key or agent_key are refused banned', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const a = await agentIn(srv, 'ban', 'Alice');
    const link = await a.c.call('invite_create', { label: 'l', lobby: false });
    const other = await a.c.call('invite_create', { label: 'autre', lobby: false });
    await a.c.call('room_update', { lobby: false });
    const guestKey = newKey();
    const g = await guestWith(srv, 'ban', 'Gaston', link.token, { guest_key: guestKey });
    assert.ok(Array.isArray(g.data.participants), JSON.stringify(g.data));
    const bob = await agentIn(srv, 'ban', 'Bob');
    await a.c.call('remove', { participant_id: g.id, ban: true });
    await a.c.call('remove', { participant_id: bob.id, ban: true });
    assert.equal((await g.c.closed).code, 4001);
    const r = await connect(srv.wsUrl);
    assertError(await r.request('join', { room: 'ban', name: 'Gaston', resume_token: g.data.resume_token }), 'banned');
    assertError(await r.request('join', { room: 'ban', name: 'Gaston', invite: link.token }), 'banned');
    assertError(await r.request('join', { room: 'ban', name: 'Gaston', invite: other.token, guest_key: guestKey }), 'banned');
    assertError(await r.request('join', { room: 'ban', name: 'Bob', agent_key: bob.key }), 'banned');
    // others still come in
    assert.equal((await r.call('join', { room: 'ban', name: 'Nina', invite: other.token })).participant.role, 'guest');
    await Promise.all([a.c.close(), r.close()]);
  } finally { await srv.stop(); }
});

// ---- token mode ----------------------------------------------------------

const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function jwt(header, claims, sign) {
  const input = `${b64u(header)}.${b64u(claims)}`;
  return `${input}.${sign ? sign(Buffer.from(input)) : ''}`;
}

function tokenSetup() {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = { keys: [
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec1', alg: 'ES256', use: 'sig' },
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa1', alg: 'RS256', use: 'sig' },
  ] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-jwks-'));
  const jwksFile = path.join(dir, 'jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify(jwks));
  const es256 = (data) => crypto.sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const rs256 = (data) => crypto.sign('sha256', data, rsa.privateKey).toString('base64url');
  return { ec, rsa, dir, jwksFile, es256, rs256 };
}

test('token mode: valid JWT in as agent; each bad token refused bad_token naming why; invite', { timeout: seconds(60) }, async () => {
  const k = tokenSetup();
  const ISS = 'https://portail.example.fr', AUD = 'palabre';
  const srv = await startPalabre({ config: { access: {
    agents: 'token', jwks_file: k.jwksFile, issuer: ISS, audience: AUD } } });
  try {
    const now = Math.floor(Date.now() / 1000);
    const claims = (over = {}) => ({ iss: ISS, aud: AUD, sub: 'agent-42', name: 'Élise Martin',
      email: 'elise@mairie.example.fr', iat: now, nbf: now, exp: now + 3600, ...over });
    const good = jwt({ alg: 'ES256', kid: 'ec1', typ: 'JWT' }, claims(), k.es256);

    // valid: in as an agent, named by the token (the join's name is ignored)
    const a = await connect(srv.wsUrl);
    const d = await a.call('join', { room: 'mairie', name: 'Quelqu’un', token: good });
    assert.equal(d.participant.name, 'Élise Martin');
    assert.equal(d.participant.role, 'owner');
    assert.equal(d.room_info.owner_name, 'Élise Martin');
    // RS256 with the other key, by auth
    const r = await connect(srv.wsUrl);
    const rsTok = jwt({ alg: 'RS256', kid: 'rsa1' }, claims({ sub: 'agent-7', name: 'Rémi' }), k.rs256);
    assert.deepEqual(await r.call('auth', { token: rsTok }),
      { agent: { sub: 'agent-7', name: 'Rémi', email: 'elise@mairie.example.fr' }, mode: 'token' });
    assert.equal((await r.call('join', { room: 'mairie', name: 'x' })).participant.role, 'participant');

    const hmacWithPublicPem = (data) => crypto.createHmac('sha256',
      k.ec.publicKey.export({ format: 'pem', type: 'spki' })).update(data).digest('base64url');
    const bad = [
      ['expired', jwt({ alg: 'ES256', kid: 'ec1' }, claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), k.es256), /expired/],
      ['not yet valid', jwt({ alg: 'ES256', kid: 'ec1' }, claims({ nbf: now + 3600, exp: now + 7200 }), k.es256), /not yet valid/],
      ['wrong audience', jwt({ alg: 'ES256', kid: 'ec1' }, claims({ aud: 'autre' }), k.es256), /audience/],
      ['wrong issuer', jwt({ alg: 'ES256', kid: 'ec1' }, claims({ iss: 'https://pirate.example' }), k.es256), /issuer/],
      ['alg none', jwt({ alg: 'none', kid: 'ec1' }, claims(), null), /none/],
      ['HS256 with the public key', jwt({ alg: 'HS256', kid: 'ec1' }, claims(), hmacWithPublicPem), /HS256/],
      ['unknown kid', jwt({ alg: 'ES256', kid: 'zz9' }, claims(), k.es256), /unknown key id/],
      ['bad signature', jwt({ alg: 'ES256', kid: 'ec1' }, claims(), k.es256).replace(/\.[^.]+$/, '.' + 'A'.repeat(86)), /signature/],
    ];
    for (const [what, token, why] of bad) {
      const c = await connect(srv.wsUrl);
      const e = assertError(await c.request('join', { room: 'mairie', name: 'X', token }), 'bad_token', 'token');
      assert.match(e.message, why, `${what}: ${e.message}`);
      assertError(await c.request('auth', { token }), 'bad_token', 'token');
      await c.close();
    }
    // no token: auth_required (an agent_key means nothing in token mode)
    const n = await connect(srv.wsUrl);
    assertError(await n.request('join', { room: 'mairie', name: 'X' }), 'auth_required');
    assertError(await n.request('join', { room: 'mairie', name: 'X', agent_key: newKey() }), 'auth_required');
    assertError(await n.request('rooms_mine'), 'auth_required');
    // an invite still lets a guest in, without a token
    const link = await a.call('invite_create', { label: 'Partenaire' });
    const g = await n.call('join', { room: 'mairie', name: 'Gaston', invite: link.token });
    assert.equal(g.lobby, true);
    assert.equal(g.participant.role, 'guest');
    assert.equal((await a.event('lobby_knock')).participant.name, 'Gaston');
    // my rooms, by the token's sub
    assert.deepEqual((await a.call('rooms_mine')).rooms.map((x) => x.name), ['mairie']);
    await Promise.all([a.close(), r.close(), n.close()]);
  } finally {
    await srv.stop();
    fs.rmSync(k.dir, { recursive: true, force: true });
  }
});

test('token mode with an unreadable JWKS file: palabre refuses to start, saying why', { timeout: seconds(30) }, async () => {
  await assert.rejects(startPalabre({ config: { access: {
    agents: 'token', jwks_file: '/nonexistent/jwks.json', issuer: 'i', audience: 'a' } } }),
  /jwks/);
});

test('a participant promoted to moderator is shown who already waits', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    const owner = await agentIn(srv, 'salle-promo', 'Olga');
    const bob = await agentIn(srv, 'salle-promo', 'Bob');
    assert.equal(bob.data.participant.role, 'participant');
    assert.equal(bob.data.lobby, undefined, 'a participant is not shown the lobby');
    const link = await owner.c.call('invite_create', { label: 'Partenaire' });
    const g = await guestWith(srv, 'salle-promo', 'Gaston', link.token);
    assert.equal(g.data.lobby, true);
    await owner.c.event('lobby_knock');
    await settled(bob.c);
    assert.equal(bob.c.events.some((e) => e.type === 'lobby_knock'), false, 'participants hear no knock');
    await owner.c.call('set_role', { participant_id: bob.id, role: 'moderator' });
    const knock = await bob.c.event('lobby_knock');
    assert.equal(knock.participant.id, g.id);
    assert.equal(knock.participant.invite_label, 'Partenaire');
    // and can act on it at once
    assert.deepEqual(await bob.c.call('lobby_admit', { participant_id: g.id }), {});
    assert.equal((await g.c.event('admitted')).participant.id, g.id);
    for (const x of [owner.c, bob.c, g.c]) await x.close();
  } finally { await srv.stop(); }
});
