// palabre-load's simulcast publishing (scenario simulcast = 1) against
// palabre on 127.0.0.1 (tests/run.sh runs this in a private network
// namespace with only lo): 3 synthetic participants, each publishing Opus and
// VP8 as three encodings (rid q/h/f, the rid header extension, one SSRC each)
// and subscribing to the 2 others; the last one shows the others in 160x90
// tiles (small_tiles = 1: set_track_view). The server must see every camera as
// three layers (its log), switch that subscriber to the q layer (its
// /metrics, and the q-layer packets the tool receives), and deliver every
// track without loss.
//
// That first run is made with --no-transport-cc (publishers number nothing,
// subscribers send no feedback): the view alone chooses the layers, whatever
// the machine's load does to packet timing, and the server must then have no
// bandwidth estimate. The second run is the tool's default: its subscribers
// send transport-cc feedback (RTPFB FMT=15, bench/load/tcc.c) for what they
// receive, so the server's send-side estimator runs on it: the tool reads the
// estimates from /metrics at the end of the window, one per subscriber. (On
// a loaded machine the estimator may see the delays as congestion and lower
// or pause layers: that run asserts the estimates, not the layers.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPalabre } from '../lib/palabre.mjs';
import { runTool as run } from '../lib/run_tool.mjs';
import { seconds } from '../lib/timeouts.mjs';

const LOAD = join(process.env.PALABRE_BUILD ?? 'build', 'palabre-load');

async function layerSwitches(srv) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const m = text.match(/^palabre_media_layer_switches_total (\d+)$/m);
  assert.ok(m, 'palabre_media_layer_switches_total in /metrics');
  return Number(m[1]);
}

const NAME = 'simulcast publishing reaches the server as three layers; a small tile gets the q layer';
test(NAME, { timeout: seconds(180) }, async () => {
  const srv = await startPalabre({ logLevel: 'info' });
  const dir = mkdtempSync(join(tmpdir(), 'palabre-load-sim-'));
  try {
    const conf = join(dir, 'sim.conf');
    writeFileSync(conf, 'participants = 3\nrooms = 1\nsimulcast = 1\nsmall_tiles = 1\n' +
      'video_width = 640\nvideo_height = 360\nramp_per_s = 5\nduration_s = 6\n');
    const json = join(dir, 'sim.json');
    const before = await layerSwitches(srv);
    const { code, out } = await run(LOAD, ['--url', srv.wsUrl, '--scenario', conf,
      '--server-pid', String(srv.proc.pid), '--json', json, '--no-transport-cc'], 120000);
    assert.equal(code, 0, out);
    const after = await layerSwitches(srv);

    // every publisher's camera: three layers learnt from the offer's rids
    const sim = srv.output().match(/track \S+: simulcast, 3 layers/g) ?? [];
    assert.equal(sim.length, 3, srv.output());

    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(r.joined, 3, out);
    assert.equal(r.failed, 0, out);
    // 3 subscribers x 2 other publishers x (audio + video), each video
    // counted once whatever layer it came on
    assert.equal(r.streams_received, 12, out);
    assert.equal(r.unsignaled_packets, 0, out);
    assert.equal(r.other_packets, 0, out);
    assert.equal(r.lost_packets, 0, out);
    const [q, h, f] = r.simulcast.video_packets_by_layer;
    // the small tiles: q; the two others see the largest layer
    assert.ok(q > 0, `q-layer packets received: ${q} (${out})`);
    assert.ok(f > 0, `f-layer packets received: ${f}`);
    assert.ok(f > h, `f ${f} h ${h}`);
    // the small-tile subscriber saw both cameras go from f to q, and the
    // server counted those switches; or (a loaded machine: its view reached
    // the server before the cameras' first keyframes) it started on q, and
    // neither side saw a switch
    const sw = r.simulcast.layer_switches, server = after - before;
    if (sw === 0) {
      assert.equal(server, 0, `palabre_media_layer_switches_total ${before} -> ${after}`);
    } else {
      assert.ok(sw >= 2, out);
      assert.ok(r.simulcast.subscribers_switched >= 1, out);
      assert.ok(server >= 2, `palabre_media_layer_switches_total ${before} -> ${after}`);
    }
    assert.match(out, /\| video packets received per layer q \/ h \/ f \| \d+ \/ \d+ \/ \d+ \|/);
    // no feedback: the server numbered nothing and estimates nothing
    const tcc = r.transport_cc;
    assert.equal(tcc.feedback_packets, 0, JSON.stringify(tcc));
    assert.equal(tcc.arrivals_reported, 0, JSON.stringify(tcc));
    assert.equal(tcc.server_bwe_subscribers, 0, JSON.stringify(tcc));
    assert.equal(tcc.server_estimate_avg_bps, 0, JSON.stringify(tcc));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await srv.stop();
  }
});

const TCC = 'the tool\'s transport-cc feedback gives the server an estimate for each subscriber';
test(TCC, { timeout: seconds(180) }, async () => {
  const srv = await startPalabre();
  const dir = mkdtempSync(join(tmpdir(), 'palabre-load-sim-'));
  try {
    const conf = join(dir, 'tcc.conf');
    writeFileSync(conf, 'participants = 3\nrooms = 1\nsimulcast = 1\nvideo_width = 640\n' +
      'video_height = 360\nramp_per_s = 5\nduration_s = 4\n');
    const json = join(dir, 'tcc.json');
    const { code, out } = await run(LOAD, ['--url', srv.wsUrl, '--scenario', conf,
      '--json', json], 120000);
    assert.equal(code, 0, out);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(r.joined, 3, out);
    // the publishers number their packets (the server sends them
    // feedback); the subscribers report what the server numbered
    const tcc = r.transport_cc;
    assert.ok(tcc.publisher_feedback_received > 0, JSON.stringify(tcc));
    assert.ok(tcc.feedback_packets > 0, JSON.stringify(tcc));
    assert.ok(tcc.arrivals_reported > 0, JSON.stringify(tcc));
    assert.equal(tcc.send_errors, 0, JSON.stringify(tcc));
    // the server's /metrics at the end of the window: an estimate for each
    assert.equal(tcc.server_bwe_subscribers, 3, JSON.stringify(tcc));
    assert.ok(tcc.server_estimate_avg_bps > 0, JSON.stringify(tcc));
    assert.ok(tcc.server_estimate_min_bps > 0, JSON.stringify(tcc));
    assert.match(out, /\| server's bandwidth estimates \(subscribers \/ mean \/ lowest\) \| 3 \/ \d+ \/ \d+ kbit\/s \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await srv.stop();
  }
});

test('a simulcast scenario too small for a q layer is refused', { timeout: seconds(60) }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'palabre-load-sim-'));
  try {
    const conf = join(dir, 'tiny.conf');
    writeFileSync(conf, 'simulcast = 1\nvideo_width = 100\nvideo_height = 100\n');
    const { code, out } = await run(LOAD, ['--url', 'ws://127.0.0.1:9/ws', '--scenario', conf], 10000);
    assert.equal(code, 2);
    assert.match(out, /simulcast needs video of at least 128x128/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
