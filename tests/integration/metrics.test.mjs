// /metrics: Prometheus text with the server's live figures; [server] metrics
// decides who may read it (docs/operations.md, Metrics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPalabre, connect } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

function parse(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    values.set(m[1], Number(m[2]));
  }
  return values;
}

async function metrics(srv) {
  const res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

test('metrics follow connections, rooms and participants; process figures are there', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre();
  try {
    let m = await metrics(srv);
    assert.equal(m.get('palabre_connections'), 0);
    assert.equal(m.get('palabre_rooms'), 0);
    assert.ok(m.get('process_resident_memory_bytes') > 1e6, 'RSS in bytes');
    assert.ok(m.has('process_cpu_seconds_total'));
    assert.ok(m.has('palabre_media_rtp_out_packets_total'));
    assert.equal(m.get('palabre_mixer_rooms'), 0);
    assert.equal(m.get('palabre_mixer_dropped_packets_total'), 0);
    assert.equal(m.get('palabre_media_sent_packets_total'), 0);
    assert.equal(m.get('palabre_media_send_dropped_packets_total'), 0);

    const a = await connect(srv.wsUrl, { origin: srv.url });
    const b = await connect(srv.wsUrl, { origin: srv.url });
    const c = await connect(srv.wsUrl, { origin: srv.url });
    await a.call('join', { room: 'metrics-a', name: 'A' });
    await b.call('join', { room: 'metrics-a', name: 'B' });
    await c.call('join', { room: 'metrics-b', name: 'C' });
    m = await metrics(srv);
    assert.equal(m.get('palabre_connections'), 3);
    assert.equal(m.get('palabre_rooms'), 2);
    assert.equal(m.get('palabre_participants'), 3);
    assert.equal(m.get('palabre_media_rooms') >= 0, true);

    await c.call('leave', {});
    await c.close();
    m = await metrics(srv);
    assert.equal(m.get('palabre_connections'), 2);
    assert.equal(m.get('palabre_rooms'), 1);
    assert.equal(m.get('palabre_participants'), 2);
    await a.close();
    await b.close();
  } finally {
    await srv.stop();
  }
});

test('metrics = off hides the page; a bad value names the key', { timeout: seconds(60) }, async () => {
  const srv = await startPalabre({ config: { server: { metrics: 'off' } } });
  try {
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 404);
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  } finally {
    await srv.stop();
  }
  await assert.rejects(startPalabre({ config: { server: { metrics: 'sometimes' } } }),
    /metrics.*off, loopback or on/);
});
