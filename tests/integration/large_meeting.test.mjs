// A council meeting of 100 with cameras (issue 10: meetings stopped growing
// at 32 publishers): 100 WebSocket clients join one room and publish an
// audio and a video track each (real SDP offers, tests/lib/sdp_client.mjs);
// every participant's subscribe offer must carry an active (sendonly)
// m-line for every other participant's audio and video.
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPalabre, connect } from '../lib/palabre.mjs';
import { publishOffer, answerFor, mediaSections } from '../lib/sdp_client.mjs';

const N = 100;
const SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The limits a meeting of 100 needs (add keys here as limits appear).
const CONFIG = {
  limits: {
    max_participants_per_room: N,
    // every participant of the test comes from 127.0.0.1
    connections_per_ip: 2 * N,
  },
  media: { media_workers: 1 },
};

function latestOffer(c) {
  let best = null;
  for (const e of c.events)
    if (e.type === 'subscribe_offer' && (!best || e.version > best.version)) best = e;
  return best;
}

// What is missing from one participant's latest offer: the others' audio
// and video tracks that are not in an active m-line.
function missing(p, all) {
  const offer = latestOffer(p.c);
  if (!offer) return all.length - 1;
  const active = mediaSections(offer.sdp).filter((s) => s.port !== 0 && s.direction === 'sendonly');
  let n = 0;
  for (const q of all) {
    if (q === p) continue;
    for (const kind of ['audio', 'video'])
      if (!active.some((s) => s.stream === q.id && s.kind === kind)) n++;
  }
  return n;
}

test(`a meeting of ${N} with cameras: everyone is offered everyone else`, { timeout: 600000 * SCALE }, async () => {
  const srv = await startPalabre({ config: CONFIG, timeout: 20000 });
  const all = [];
  try {
    for (let i = 0; i < N; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, N - i) }, async (_, k) => {
        // a loaded machine; the sanitizer build is slower still
        const c = await connect(srv.wsUrl, { timeout: 60000 * SCALE });
        const data = await c.call('join', { room: 'conseil', name: `Élu ${i + k}`, camera: true, mic: true });
        return { c, id: data.participant.id, answered: 0 };
      }));
      all.push(...batch);
    }
    // Everyone publishes; nobody answers yet (offers queue up as "dirty").
    for (let i = 0; i < N; i += 10) {
      await Promise.all(all.slice(i, i + 10).map(async (p) => {
        const r = await p.c.request('publish', { sdp: publishOffer() });
        assert.equal(r.ok, true, JSON.stringify(r.error));
        assert.match(r.data.sdp, /a=recvonly/);
      }));
    }
    // Now every browser answers its offers until nothing new comes.
    // Done when nothing is missing; failed when no offer came for 30 s
    // while something is (the server has given up offering it).
    let lastOffer = Date.now();
    for (;;) {
      let pending = 0;
      for (let i = 0; i < N; i += 10) await Promise.all(all.slice(i, i + 10).map(async (p) => {
        const offer = latestOffer(p.c);
        if (!offer || offer.version <= p.answered) return;
        pending++;
        const r = await p.c.request('subscribe_answer', { sdp: answerFor(offer.sdp), version: offer.version });
        assert.equal(r.ok, true, JSON.stringify(r.error));
        p.answered = offer.version;
      }));
      const short = all.map((p) => missing(p, all));
      if (!pending && short.every((n) => n === 0)) break;
      if (pending) lastOffer = Date.now();
      else if (Date.now() - lastOffer > 30000 * SCALE)
        assert.fail(`no new offer for ${30 * SCALE} s and ${short.filter((n) => n).length} participants lack ` +
          `tracks (at most ${Math.max(...short)} of ${2 * (N - 1)})`);
      await sleep(pending ? 50 : 500);
    }
    for (const p of all) {
      const secs = mediaSections(latestOffer(p.c).sdp);
      const active = secs.filter((s) => s.port !== 0 && s.direction === 'sendonly');
      assert.equal(active.length, 2 * (N - 1), `${p.id}: ${active.length} active m-lines`);
      assert.equal(missing(p, all), 0);
      assert.ok(!active.some((s) => s.stream === p.id), 'nobody is offered their own tracks');
      assert.ok(secs.length <= 255);
    }
    assert.doesNotMatch(srv.output(), /not offered|subscribe offer not sent/);
  } finally {
    await Promise.all(all.map((p) => p.c.close().catch(() => {})));
    await srv.stop();
  }
});
