// palabre-load's smoke scenario against palabre on 127.0.0.1 (tests/run.sh
// runs this inside a private network namespace whose only interface is lo):
// 4 synthetic WebRTC participants (real ICE, DTLS, SRTP) in one room, each
// publishing Opus and VP8 and subscribing to the 3 others. Its JSON must show
// every subscriber receiving every publisher's audio and video, no loss on
// loopback, and the server's CPU and RSS read from /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPalabre } from '../lib/palabre.mjs';
import { runTool as run } from '../lib/run_tool.mjs';
import { seconds } from '../lib/timeouts.mjs';

const LOAD = join(process.env.PALABRE_BUILD ?? 'build', 'palabre-load');

test('smoke scenario: every subscriber receives every publisher, no loss on loopback', { timeout: seconds(180) }, async () => {
  const srv = await startPalabre({ logLevel: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'palabre-load-'));
  try {
    const json = join(dir, 'smoke.json');
    const plot = join(dir, 'smoke.svg');
    const { code, out } = await run(LOAD, ['--url', srv.wsUrl, '--scenario', 'smoke',
      '--server-pid', String(srv.proc.pid), '--json', json, '--plot', plot], 90000);
    assert.equal(code, 0, out);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(r.participants, 4);
    assert.equal(r.joined, 4, out);
    assert.equal(r.failed, 0, out);
    // 4 subscribers x 3 other publishers x (audio + video)
    assert.equal(r.streams_expected, 24);
    assert.equal(r.streams_received, 24, out);
    assert.equal(r.every_subscriber_received_every_publisher, true);
    // per participant: the 3 others' audio and video, on SSRCs the offers announced
    assert.deepEqual(r.tracks_per_participant,
      { expected: 6, min: 6, median: 6, max: 6, participants_with_all: 4 });
    assert.equal(r.unsignaled_packets, 0, out);
    assert.equal(r.lost_packets, 0, out);
    assert.equal(r.loss_ratio, 0);
    assert.equal(r.other_packets, 0, 'packets without our trailer or from another room');
    // 4 publishers x 18 s x 50 audio packets/s would be 3600; a busy shared
    // machine makes the tool skip late frames (late_frames): this only checks
    // that they sent through the whole run, not at which rate.
    assert.ok(r.packets_sent.audio > 800, `audio sent ${r.packets_sent.audio}`);
    assert.ok(r.forwarded_packets > 3 * r.packets_sent.audio / 2, `forwarded ${r.forwarded_packets}`);
    assert.ok(r.delay_ms.p50 > 0 && r.delay_ms.p99 >= r.delay_ms.p50);
    assert.ok(r.server_cpu_us_per_forwarded_packet > 0);
    assert.ok(r.server_rss_kib > 1000);
    assert.ok(r.tool_cpu_percent_per_participant > 0);
    // true when the tool fell behind (late frames) or used most of its thread
    assert.equal(r.tool_saturated, r.late_frames > 0 || r.tool_cpu_percent > 85);
    assert.ok(r.timeline.length >= 15);
    assert.match(readFileSync(plot, 'utf8'), /^<svg[^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    assert.match(out, /\| forwarding delay p50/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await srv.stop();
  }
});

test('an unknown scenario is refused with a clear message', { timeout: seconds(60) }, async () => {
  const { code, out } = await run(LOAD, ['--url', 'ws://127.0.0.1:9/ws', '--scenario', 'nope'], 10000);
  assert.equal(code, 2);
  assert.match(out, /scenario 'nope'/);
});
