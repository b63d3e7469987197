// [mixer] max_rooms against a real palabre: past the cap, set_receive
// "mixed" gets mixer_busy and a join asking for the mix gets in on
// individual tracks (data.receive "sfu", data.receive_error); both do get
// one m-line per published track. A room stops counting when its last
// mixed participant switches to sfu or leaves.
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPalabre, connect } from '../lib/palabre.mjs';
import { publishOffer, answerFor, mediaSections } from '../lib/sdp_client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function joined(srv, room, name, extra = {}) {
  const c = await connect(srv.wsUrl, { timeout: 20000 });
  const data = await c.call('join', { room, name, ...extra });
  return { c, data, id: data.participant.id, answered: 0 };
}

// Answers p's offers until the latest one satisfies pred (sdp → bool).
async function offerSuch(p, pred, what) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const offers = p.c.events.filter((e) => e.type === 'subscribe_offer');
    const last = offers[offers.length - 1];
    if (last && last.version > p.answered) {
      await p.c.call('subscribe_answer', { sdp: answerFor(last.sdp), version: last.version });
      p.answered = last.version;
    }
    if (last && pred(last.sdp)) return last.sdp;
    if (Date.now() > deadline) assert.fail(`no offer with ${what}: ${last && last.sdp}`);
    await sleep(50);
  }
}

const sends = (sdp, stream) => mediaSections(sdp).filter((s) => s.port && s.direction === 'sendonly' && s.stream === stream);

test('[mixer] max_rooms: mixer_busy past the cap, individual tracks instead, the place freed', { timeout: 120000 }, async () => {
  const srv = await startPalabre({ config: { mixer: { max_rooms: 1 }, media: { media_workers: 1 } }, timeout: 20000 });
  const ps = [];
  try {
    const a = await joined(srv, 'salle-a', 'Alice', { receive: 'mixed' });
    ps.push(a);
    assert.equal(a.data.receive, 'mixed');
    assert.equal(a.data.receive_error, undefined);
    const a2 = await joined(srv, 'salle-a', 'Anne', { receive: 'mixed' }); // same room: shares the place
    ps.push(a2);
    assert.equal(a2.data.receive, 'mixed');

    const b = await joined(srv, 'salle-b', 'Bernard');
    ps.push(b);
    assert.equal(b.data.receive, 'sfu');
    const pub = await joined(srv, 'salle-b', 'Béatrice');
    ps.push(pub);
    await pub.c.call('publish', { sdp: publishOffer() });

    // set_receive mixed in a second room: refused, still on individual tracks
    const r = await b.c.request('set_receive', { mode: 'mixed' });
    assert.equal(r.ok, false);
    assert.equal(r.error.code, 'mixer_busy');
    assert.equal(r.error.field, 'mode');
    assert.match(r.error.message, /at most 1 room/);
    let sdp = await offerSuch(b, (s) => sends(s, pub.id).length === 2, "Béatrice's two tracks");
    assert.equal(sends(sdp, 'mixer').length, 0);

    // a join asking for the mix: in the room, on individual tracks
    const c = await joined(srv, 'salle-b', 'Claude', { receive: 'mixed' });
    ps.push(c);
    assert.equal(c.data.receive, 'sfu');
    assert.equal(c.data.receive_error.code, 'mixer_busy');
    assert.match(c.data.receive_error.message, /max_rooms/);
    sdp = await offerSuch(c, (s) => sends(s, pub.id).length === 2, "Béatrice's two tracks");
    assert.equal(sends(sdp, 'mixer').length, 0);

    // salle-a stops counting when its last mixed participant goes
    assert.deepEqual(await a.c.call('set_receive', { mode: 'sfu' }), { mode: 'sfu' });
    assert.equal((await b.c.request('set_receive', { mode: 'mixed' })).error.code, 'mixer_busy');
    await a2.c.call('leave');
    assert.deepEqual(await b.c.call('set_receive', { mode: 'mixed' }), { mode: 'mixed' });
    sdp = await offerSuch(b, (s) => sends(s, 'mixer').length === 2, 'the mix');
    assert.equal(sends(sdp, pub.id).length, 0);
    // now salle-a is the one refused
    assert.equal((await a.c.request('set_receive', { mode: 'mixed' })).error.code, 'mixer_busy');
    assert.match(srv.output(), /receive mixed refused/);
  } finally {
    await Promise.all(ps.map((p) => p.c.close().catch(() => {})));
    await srv.stop();
  }
});
