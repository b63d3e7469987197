// Moderation against a real palabre (open mode on loopback): the hard mute
// with real media (a Chromium publisher and subscriber on raw
// RTCPeerConnections, the server's per-track counters read with
// track_stats), remove with a ban that holds against the resume token, the
// same link and a reload with the same guest_key, end_meeting for everyone
// (the lobby too), the owner out of everyone's reach, moderators out of
// each other's, the journal in order, every moderator request refused to a
// participant and to a guest with nothing changed, bad fields refused, and a
// moderator named by the owner still one at the next meeting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, until } from '../lib/media_bridge.mjs';

import * as lib from '../lib/palabre.mjs';
import { newPc, trickle, answerOffers, publishCamera } from '../lib/raw_pc.mjs';
import { seconds } from '../lib/timeouts.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agentKey = () => randomBytes(16).toString('base64url'); // 22 characters
const guestKey = () => randomBytes(12).toString('base64url'); // 16 characters

let srv;
before(async () => {
  srv = await lib.startPalabre({ logLevel: 'info', timeout: 10000 });
}, { timeout: seconds(60) });
after(async () => {
  await srv?.stop();
}, { timeout: seconds(60) });

const open = () => lib.connect(srv.wsUrl, { origin: srv.url });

async function agent(room, name, fields = {}) {
  const c = await open();
  const data = await c.call('join', { room, name, agent_key: agentKey(), ...fields });
  return { c, data, id: data.participant.id };
}

// Guests wait in the lobby when the room or their link says so: the tests
// that want them straight in turn the room's lobby off (room_update) and
// give them a link without lobby.
async function guest(room, name, invite, key = guestKey()) {
  const c = await open();
  const data = await c.call('join', { room, name, invite, guest_key: key });
  return { c, data, id: data.participant.id, key };
}

async function refused(c, type, fields, code) {
  const r = await c.request(type, fields);
  assert.equal(r.ok, false, `${type} should be refused, got ${JSON.stringify(r.data)}`);
  assert.equal(r.error.code, code, `${type}: ${JSON.stringify(r.error)}`);
  return r.error;
}

// ---- the hard mute, with media ------------------------------------------------

async function trackStats(c, participantId) {
  const d = await c.call('track_stats', { participant_id: participantId });
  assert.equal(d.participant_id, participantId);
  const audio = d.tracks.find((t) => t.kind === 'audio');
  const video = d.tracks.find((t) => t.kind === 'video');
  assert.ok(audio && video, `an audio and a video track: ${JSON.stringify(d.tracks)}`);
  return { audio, video };
}

test('hard mute: the mic track stops being forwarded (still received), set_state cannot unmute, allow_unmute brings it back', { timeout: seconds(240) }, async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const stops = [];
  try {
    const owner = await agent('hard-mute', 'Owner');
    assert.equal(owner.data.participant.role, 'owner');
    const pub = await agent('hard-mute', 'Publisher', { mic: true, camera: true });
    assert.equal(pub.data.participant.role, 'participant');

    const pubPage = await browser.newPage();
    await pubPage.goto(srv.url + '/healthz');
    stops.push(await publishCamera(pubPage, pub.c));

    // the owner subscribes: packets_forwarded counts what reaches it
    const subPage = await browser.newPage();
    await subPage.goto(srv.url + '/healthz');
    await subPage.evaluate((init) => eval(init), newPc('sub'));
    stops.push(trickle(subPage, owner.c, 'subscribe', 'sub'));
    await answerOffers(subPage, owner.c, (ev) => ev.sdp.includes(pub.id));
    await until(() => subPage.evaluate(async () => {
      let audio = 0, frames = 0;
      (await window.sub.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') audio += s.packetsReceived || 0;
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
      });
      return audio >= 20 && frames >= 5;
    }), seconds(60), 'the owner receives the publisher');

    const s0 = await trackStats(owner.c, pub.id);
    assert.ok(s0.audio.packets_forwarded > 0 && s0.audio.packets_received > 0, JSON.stringify(s0));
    assert.equal(s0.audio.blocked, false);

    // the moderator's hard mute of the microphone
    const m = await owner.c.call('mute', { participant_id: pub.id, kind: 'mic' });
    assert.equal(m.participant.mic_blocked, true);
    assert.equal(m.participant.mic, false);
    const upd = await pub.c.event('participant_updated', { filter: (e) => e.participant.id === pub.id && e.participant.mic_blocked });
    assert.equal(upd.participant.mic, false);
    // the stats request follows the block on the room's worker: from here on
    // nothing of the audio track is forwarded
    const s1 = await trackStats(owner.c, pub.id);
    assert.equal(s1.audio.blocked, true);
    assert.equal(s1.video.blocked, false);
    await sleep(2000);
    const s2 = await trackStats(owner.c, pub.id);
    assert.equal(s2.audio.packets_forwarded, s1.audio.packets_forwarded, 'audio forwarded while blocked');
    assert.ok(s2.audio.packets_received > s1.audio.packets_received, 'the publisher still sends, the server still receives');
    assert.ok(s2.video.packets_forwarded > s1.video.packets_forwarded, 'the camera is not concerned');

    // the blocked participant cannot turn the microphone back on
    const e = await refused(pub.c, 'set_state', { mic: true }, 'muted_by_moderator');
    assert.equal(e.field, 'mic');
    // it may read its own counters, not someone else's
    const own = await trackStats(pub.c, pub.id);
    assert.equal(own.audio.blocked, true);
    await refused(pub.c, 'track_stats', { participant_id: owner.id }, 'forbidden');
    await refused(owner.c, 'track_stats', { participant_id: 'p_000000000000' }, 'unknown_participant');

    // allowed again: it unmutes itself and the track flows
    const a = await owner.c.call('allow_unmute', { participant_id: pub.id, kind: 'mic' });
    assert.equal(a.participant.mic_blocked, false);
    assert.equal(a.participant.mic, false, 'allow_unmute lets it unmute, it does not unmute it');
    const st = await pub.c.call('set_state', { mic: true });
    assert.equal(st.participant.mic, true);
    const s3 = await trackStats(owner.c, pub.id);
    assert.equal(s3.audio.blocked, false);
    await sleep(2000);
    const s4 = await trackStats(owner.c, pub.id);
    assert.ok(s4.audio.packets_forwarded > s3.audio.packets_forwarded, 'forwarding resumed');

    const j = await owner.c.call('journal');
    assert.deepEqual(j.entries.slice(0, 2).map((x) => [x.action, x.detail, x.target.id]),
      [['allow_unmute', 'mic', pub.id], ['mute', 'mic', pub.id]]);
    await owner.c.close(); await pub.c.close();
  } finally {
    for (const s of stops) s();
    await browser.close();
  }
});

// ---- remove with ban ---------------------------------------------------------------

test('remove with ban: the guest is told and closed 4001; its resume token, the same link and a reload with its guest_key are banned', { timeout: seconds(60) }, async () => {
  const room = 'remove-ban';
  const owner = await agent(room, 'Owner');
  const other = await agent(room, 'Other');
  await owner.c.call('room_update', { lobby: false });
  const inv = await owner.c.call('invite_create', { label: 'Cabinet Durand', lobby: false });
  const g = await guest(room, 'Guest', inv.token);
  assert.equal(g.data.participant.role, 'guest');
  // is_agent tells agents from guests, also once the guest is a moderator
  assert.equal(g.data.participant.is_agent, false);
  assert.equal(owner.data.participant.is_agent, true);
  const promoted = await owner.c.call('set_role', { participant_id: g.id, role: 'moderator' });
  assert.equal(promoted.participant.is_agent, false);
  await owner.c.call('set_role', { participant_id: g.id, role: 'guest' });
  assert.equal(g.data.lobby, undefined, 'in the meeting');

  await owner.c.call('remove', { participant_id: g.id, ban: true, reason: 'propos injurieux' });
  const removed = await g.c.event('removed');
  assert.deepEqual(removed.by, { id: owner.id, name: 'Owner' });
  assert.equal(removed.ban, true);
  assert.equal(removed.reason, 'propos injurieux');
  const closed = await g.c.closed;
  assert.equal(closed.code, 4001);
  assert.equal(closed.reason, 'removed');
  const left = await other.c.event('participant_left', { filter: (e) => e.participant_id === g.id });
  assert.equal(left.reason, 'removed');
  const mod = await other.c.event('moderation', { filter: (e) => e.action === 'ban' });
  assert.deepEqual(mod.target, { id: g.id, name: 'Guest' });

  // its resume token
  const c1 = await open();
  const e1 = await refused(c1, 'join', { room, name: 'Guest', resume_token: g.data.resume_token }, 'banned');
  assert.match(e1.message, /removed/);
  // the same link, another browser
  const c2 = await open();
  await refused(c2, 'join', { room, name: 'Guest', invite: inv.token, guest_key: guestKey() }, 'banned');
  // a banned holder's attempt takes no use of the link
  const uses = (await owner.c.call('invite_list')).invites.find((i) => i.id === inv.invite.id).uses;
  assert.equal(uses, 1, 'only the first entry counted');
  // a reload with the same guest_key, even through another link
  const inv2 = await owner.c.call('invite_create', { label: 'Autre lien', lobby: false });
  const c3 = await open();
  await refused(c3, 'join', { room, name: 'Guest', invite: inv2.token, guest_key: g.key }, 'banned');
  // someone else with that other link comes in
  const g2 = await guest(room, 'Someone else', inv2.token);
  assert.equal(g2.data.participant.role, 'guest');

  // remove without ban: closed, but may come back
  await owner.c.call('remove', { participant_id: g2.id });
  assert.equal((await g2.c.event('removed')).ban, false);
  assert.equal((await g2.c.closed).code, 4001);
  const back = await guest(room, 'Someone else', inv2.token, g2.key);
  assert.equal(back.data.participant.role, 'guest');

  for (const c of [owner.c, other.c, c1, c2, c3, back.c]) await c.close();
});

// ---- end_meeting --------------------------------------------------------------------

test('end_meeting: everyone, the lobby included, gets meeting_ended then close 4002', { timeout: seconds(60) }, async () => {
  const room = 'end-all';
  const owner = await agent(room, 'Owner');
  const part = await agent(room, 'Agent');
  await owner.c.call('room_update', { lobby: false });
  const direct = await owner.c.call('invite_create', { label: 'Direct', lobby: false });
  const lobby = await owner.c.call('invite_create', { label: 'Lobby', lobby: true });
  const g = await guest(room, 'Guest', direct.token);
  const w = await guest(room, 'Waiting', lobby.token);
  assert.equal(w.data.lobby, true);
  await owner.c.event('lobby_knock', { filter: (e) => e.participant.id === w.id });

  await owner.c.call('end_meeting', { reason: 'séance levée' });
  for (const [who, p] of [['owner', owner], ['agent', part], ['guest', g], ['waiting guest', w]]) {
    const ev = await p.c.event('meeting_ended');
    assert.deepEqual(ev.by, { id: owner.id, name: 'Owner' }, who);
    assert.equal(ev.reason, 'séance levée', who);
    const closed = await p.c.closed;
    assert.equal(closed.code, 4002, who);
    assert.equal(closed.reason, 'meeting ended', who);
  }
  // before its own close, the owner heard the others leave for that reason
  const left = owner.c.events.filter((e) => e.type === 'participant_left').map((e) => [e.participant_id, e.reason]);
  assert.deepEqual(left.sort(), [[g.id, 'ended'], [part.id, 'ended']].sort());
  // the meeting is over: a resume finds nothing
  const c = await open();
  await refused(c, 'join', { room, name: 'Agent', resume_token: part.data.resume_token }, 'resume_failed');
  await c.close();
});

// ---- powers ---------------------------------------------------------------------------

test('nobody can remove, mute or demote the owner; a moderator cannot act on another moderator', { timeout: seconds(60) }, async () => {
  const room = 'powers';
  const owner = await agent(room, 'Owner');
  const a = await agent(room, 'Mod A');
  const b = await agent(room, 'Mod B');
  const p = await agent(room, 'Agent');
  assert.equal((await owner.c.call('set_role', { participant_id: a.id, role: 'moderator' })).participant.role, 'moderator');
  assert.equal((await owner.c.call('set_role', { participant_id: b.id, role: 'moderator' })).participant.role, 'moderator');
  await a.c.event('participant_updated', { filter: (e) => e.participant.id === b.id && e.participant.role === 'moderator' });
  const journalBefore = (await owner.c.call('journal')).entries.length;

  for (const [type, fields] of [
    ['remove', { participant_id: owner.id }],
    ['remove', { participant_id: owner.id, ban: true }],
    ['mute', { participant_id: owner.id, kind: 'mic' }],
    ['mute', { participant_id: owner.id, kind: 'camera' }],
    ['set_role', { participant_id: owner.id, role: 'participant' }],
    ['set_role', { participant_id: owner.id, role: 'guest' }],
  ]) {
    const e = await refused(a.c, type, fields, 'forbidden');
    assert.match(e.message, /owner/, `${type}: ${e.message}`);
  }
  for (const [type, fields] of [
    ['remove', { participant_id: b.id }],
    ['mute', { participant_id: b.id, kind: 'mic' }],
    ['allow_unmute', { participant_id: b.id, kind: 'mic' }],
    ['set_role', { participant_id: b.id, role: 'participant' }],
  ])
    await refused(a.c, type, fields, 'forbidden');
  // nor on oneself; the owner neither on itself
  await refused(a.c, 'remove', { participant_id: a.id }, 'forbidden');
  await refused(owner.c, 'set_role', { participant_id: owner.id, role: 'guest' }, 'forbidden');
  await refused(owner.c, 'remove', { participant_id: owner.id }, 'forbidden');

  // nothing changed: as a newcomer sees it, and in the journal
  const seen = await agent(room, 'Observer');
  const byId = Object.fromEntries(seen.data.participants.map((x) => [x.id, x]));
  assert.equal(byId[owner.id].role, 'owner');
  assert.equal(byId[owner.id].mic_blocked, false);
  assert.equal(byId[owner.id].camera_blocked, false);
  assert.equal(byId[b.id].role, 'moderator');
  assert.equal(byId[b.id].mic_blocked, false);
  assert.equal((await owner.c.call('journal')).entries.length, journalBefore);
  assert.equal(owner.c.events.filter((e) => e.type === 'removed').length, 0);

  // what a moderator may do: a participant; the owner: a moderator
  assert.equal((await a.c.call('mute', { participant_id: p.id, kind: 'mic' })).participant.mic_blocked, true);
  assert.equal((await owner.c.call('set_role', { participant_id: b.id, role: 'participant' })).participant.role, 'participant');
  // a promoted moderator gets powers at once, a demoted one loses them
  await refused(b.c, 'mute_all', {}, 'forbidden');
  const all = await a.c.call('mute_all', { kind: 'camera' });
  assert.equal(all.muted, 3, 'b, the agent and the observer; not the owner nor a');

  for (const x of [owner, a, b, p, seen]) await x.c.close();
});

test('journal lists the actions in order, newest first, by pages', { timeout: seconds(60) }, async () => {
  const room = 'journal';
  const owner = await agent(room, 'Owner');
  const x = await agent(room, 'X');
  const y = await agent(room, 'Y');
  await owner.c.call('mute', { participant_id: x.id, kind: 'mic' });
  await owner.c.call('allow_unmute', { participant_id: x.id, kind: 'mic' });
  const locked = await owner.c.call('room_update', { locked: true });
  assert.equal(locked.room.settings.locked, true);
  const upd = await x.c.event('room_updated', { filter: (e) => e.room.settings.locked });
  assert.equal(upd.room.your_role, 'participant');
  await owner.c.call('room_update', { locked: false, title: 'Conseil municipal' });
  await owner.c.call('set_role', { participant_id: x.id, role: 'moderator' });
  await owner.c.call('remove', { participant_id: y.id });
  const want = [
    ['remove', y.id, null], ['promote', x.id, 'moderator'], ['unlock', null, null],
    ['title', null, 'Conseil municipal'], ['lock', null, null], ['allow_unmute', x.id, 'mic'],
    ['mute', x.id, 'mic'],
  ];
  const all = await owner.c.call('journal');
  assert.equal(all.has_more, false);
  assert.deepEqual(all.entries.map((e) => [e.action, e.target?.id ?? null, e.detail ?? null]), want);
  for (const e of all.entries) assert.deepEqual(e.by, { id: owner.id, name: 'Owner' });
  const ids = all.entries.map((e) => e.id);
  assert.deepEqual([...ids].sort((p, q) => q - p), ids);
  const page1 = await owner.c.call('journal', { limit: 3 });
  assert.equal(page1.has_more, true);
  const page2 = await owner.c.call('journal', { limit: 3, before: page1.entries[2].id });
  const page3 = await owner.c.call('journal', { limit: 3, before: page2.entries[2].id });
  assert.equal(page3.has_more, false);
  assert.deepEqual([...page1.entries, ...page2.entries, ...page3.entries].map((e) => e.id), ids);
  // every action was announced to the room as it happened
  await x.c.event('moderation', { filter: (e) => e.action === 'remove' });
  const seen = x.c.events.filter((e) => e.type === 'moderation').map((e) => e.action);
  assert.deepEqual(seen, want.map((w) => w[0]).reverse());
  await refused(owner.c, 'journal', { limit: 0 }, 'bad_field');
  await owner.c.close(); await x.c.close();
});

// ---- what participants and guests cannot do ------------------------------------------

test('every moderator request by a participant and by a guest: forbidden, nothing changed', { timeout: seconds(90) }, async () => {
  const room = 'no-powers';
  const owner = await agent(room, 'Owner');
  const p = await agent(room, 'Agent');
  await owner.c.call('room_update', { lobby: false });
  const inv = await owner.c.call('invite_create', { label: 'Partner', lobby: false });
  const lobbyInv = await owner.c.call('invite_create', { label: 'Waiting room', lobby: true });
  const g = await guest(room, 'Guest', inv.token);
  const w = await guest(room, 'Waiting', lobbyInv.token);
  assert.equal(w.data.lobby, true);
  await owner.c.event('lobby_knock', { filter: (e) => e.participant.id === w.id });
  const before = {
    journal: (await owner.c.call('journal')).entries.length,
    invites: JSON.stringify((await owner.c.call('invite_list')).invites),
    rooms: JSON.stringify((await owner.c.call('rooms_mine')).rooms),
  };

  const requests = (self, other) => [
    ['mute', { participant_id: other, kind: 'mic' }],
    ['allow_unmute', { participant_id: other, kind: 'mic' }],
    ['mute_all', {}],
    ['remove', { participant_id: other, ban: true }],
    ['room_update', { title: 'Pris', locked: true, guest_chat: false, lobby: false }],
    ['end_meeting', {}],
    ['set_role', { participant_id: self, role: 'moderator' }],
    ['set_role', { participant_id: other, role: 'guest' }],
    ['journal', {}],
    ['lobby_admit', { participant_id: w.id }],
    ['lobby_deny', { participant_id: w.id }],
    ['lobby_admit_all', {}],
    ['invite_create', { label: 'Mine' }],
    ['invite_list', {}],
    ['invite_revoke', { invite_id: inv.invite.id }],
    ['track_stats', { participant_id: other }],
  ];
  const mark = new Map([owner, p, g, w].map((x) => [x, x.c.events.length]));
  for (const [who, x, other] of [['participant', p, g.id], ['guest', g, p.id]]) {
    for (const [type, fields] of requests(x.id, other)) {
      const e = await refused(x.c, type, fields, 'forbidden');
      assert.ok(e.message, `${who} ${type}`);
    }
  }

  // nothing changed
  assert.equal((await owner.c.call('journal')).entries.length, before.journal);
  assert.equal(JSON.stringify((await owner.c.call('invite_list')).invites), before.invites);
  assert.equal(JSON.stringify((await owner.c.call('rooms_mine')).rooms), before.rooms);
  const seen = await agent(room, 'Observer');
  const byId = Object.fromEntries(seen.data.participants.map((x) => [x.id, x]));
  for (const [id, role] of [[owner.id, 'owner'], [p.id, 'participant'], [g.id, 'guest']]) {
    assert.equal(byId[id]?.role, role);
    assert.equal(byId[id].mic_blocked, false);
  }
  assert.equal(byId[w.id], undefined, 'still waiting');
  for (const x of [owner, p, g, w]) {
    const since = x.c.events.slice(mark.get(x)).map((e) => e.type);
    for (const t of ['removed', 'meeting_ended', 'admitted', 'denied', 'room_updated', 'moderation',
      'participant_updated', 'participant_left', 'lobby_left'])
      assert.ok(!since.includes(t), `${x.data.participant.name} got ${t}`);
  }
  // and the guest is still in: its chat goes through
  await g.c.call('chat_send', { text: 'toujours là', client_msg_id: 'm1' });
  for (const x of [owner, p, g, w, seen]) await x.c.close();
});

test('bad fields: each refused with its code and field, nothing changed', { timeout: seconds(60) }, async () => {
  const room = 'bad-fields';
  const owner = await agent(room, 'Owner');
  const p = await agent(room, 'Agent');
  await owner.c.call('room_update', { lobby: false });
  const inv = await owner.c.call('invite_create', { label: 'Partner', lobby: false });
  const g = await guest(room, 'Guest', inv.token);
  const journal = (await owner.c.call('journal')).entries.length;
  for (const [type, fields, code, field] of [
    ['mute', { kind: 'mic' }, 'missing_field', 'participant_id'],
    ['mute', { participant_id: p.id }, 'missing_field', 'kind'],
    ['mute', { participant_id: p.id, kind: 'voice' }, 'bad_field', 'kind'],
    ['mute', { participant_id: 'p_000000000000', kind: 'mic' }, 'unknown_participant', 'participant_id'],
    ['mute_all', { kind: 7 }, 'bad_field', 'kind'],
    ['remove', { participant_id: p.id, ban: 'yes' }, 'bad_field', 'ban'],
    ['remove', { participant_id: p.id, reason: 'x'.repeat(201) }, 'bad_field', 'reason'],
    ['room_update', {}, 'missing_field', 'title'],
    ['room_update', { title: '' }, 'bad_field', 'title'],
    ['room_update', { title: 't'.repeat(121) }, 'bad_field', 'title'],
    ['room_update', { locked: 'no' }, 'bad_field', 'locked'],
    ['end_meeting', { reason: 5 }, 'bad_field', 'reason'],
    ['set_role', { participant_id: p.id, role: 'owner' }, 'bad_field', 'role'],
    ['set_role', { participant_id: g.id, role: 'participant' }, 'bad_field', 'role'],
    ['journal', { limit: 201 }, 'bad_field', 'limit'],
    ['journal', { before: 'x' }, 'bad_field', 'before'],
    ['track_stats', { participant_id: 12 }, 'bad_field', 'participant_id'],
  ]) {
    const e = await refused(owner.c, type, fields, code);
    assert.equal(e.field, field, `${type} ${JSON.stringify(fields)}: ${JSON.stringify(e)}`);
  }
  assert.equal((await owner.c.call('journal')).entries.length, journal);
  const seen = await agent(room, 'Observer');
  const byId = Object.fromEntries(seen.data.participants.map((x) => [x.id, x]));
  assert.equal(byId[p.id].role, 'participant');
  assert.equal(byId[p.id].mic_blocked, false);
  assert.equal(byId[g.id].role, 'guest');
  assert.equal(seen.data.room_info.title, room);
  assert.equal(seen.data.room_info.settings.locked, false);
  // a guest promoted comes back to guest, never to participant
  assert.equal((await owner.c.call('set_role', { participant_id: g.id, role: 'moderator' })).participant.role, 'moderator');
  assert.equal((await owner.c.call('set_role', { participant_id: g.id, role: 'guest' })).participant.role, 'guest');
  for (const x of [owner, p, g, seen]) await x.c.close();
});

test('a moderator named by the owner keeps the role across meetings', { timeout: seconds(60) }, async () => {
  const room = 'named-mod';
  const owner = await agent(room, 'Owner');
  const key = agentKey();
  const m = await agent(room, 'Named', { agent_key: key });
  assert.equal(m.data.participant.role, 'participant');
  await owner.c.call('set_role', { participant_id: m.id, role: 'moderator' });
  await m.c.call('leave');
  const again = await agent(room, 'Named', { agent_key: key });
  assert.equal(again.data.participant.role, 'moderator');
  assert.equal(again.data.room_info.your_role, 'moderator');
  // taken back by the owner: a participant on the next join
  await owner.c.call('set_role', { participant_id: again.id, role: 'participant' });
  await again.c.call('leave');
  const third = await agent(room, 'Named', { agent_key: key });
  assert.equal(third.data.participant.role, 'participant');
  for (const x of [owner, m, again, third]) await x.c.close();
});

test('a hard mute holds across a rejoin with the same identity until allowed', { timeout: seconds(60) }, async () => {
  const room = 'held-mute';
  const owner = await agent(room, 'Owner');
  await owner.c.call('room_update', { lobby: false });
  const key = agentKey();
  const a = await agent(room, 'Agent', { agent_key: key });
  const inv = await owner.c.call('invite_create', { label: 'Partner', lobby: false });
  const g = await guest(room, 'Guest', inv.token);
  await owner.c.call('mute', { participant_id: a.id, kind: 'mic' });
  await owner.c.call('mute', { participant_id: g.id, kind: 'camera' });
  await a.c.call('leave');
  await g.c.close(); // a reload: the same guest_key comes back
  const a2 = await agent(room, 'Agent', { agent_key: key });
  const u = await a2.c.event('participant_updated', { filter: (e) => e.participant.id === a2.id });
  assert.equal(u.participant.mic_blocked, true);
  assert.equal((await refused(a2.c, 'set_state', { mic: true }, 'muted_by_moderator')).field, 'mic');
  const g2 = await guest(room, 'Guest', inv.token, g.key);
  const gu = await g2.c.event('participant_updated', { filter: (e) => e.participant.id === g2.id });
  assert.equal(gu.participant.camera_blocked, true);
  assert.equal(gu.participant.mic_blocked, false);
  await refused(g2.c, 'set_state', { camera: true }, 'muted_by_moderator');
  await refused(g2.c, 'set_state', { screen: true }, 'muted_by_moderator');
  assert.equal((await g2.c.call('set_state', { mic: true })).participant.mic, true);
  // someone else with the same link is not concerned
  const g3 = await guest(room, 'Other guest', inv.token);
  assert.equal((await g3.c.call('set_state', { camera: true })).participant.camera, true);
  // allowed: the next rejoin is free
  await owner.c.call('allow_unmute', { participant_id: a2.id, kind: 'mic' });
  await a2.c.call('leave');
  const a3 = await agent(room, 'Agent', { agent_key: key });
  assert.equal((await a3.c.call('set_state', { mic: true })).participant.mic, true);
  for (const x of [owner, a, a2, g2, g3, a3]) await x.c.close();
});
