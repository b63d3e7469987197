// What Palabre writes, checked by a real browser: headless Chromium accepts
// the server's answer to its publish offer and the server's subscribe offer,
// and Chromium's answer passes pal_sdp_check_answer. The SDP side runs through
// build/bench_sdp's text modes (bench/bench_sdp.c).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { seconds } from '../lib/timeouts.mjs';

const build = process.env.PALABRE_BUILD ?? 'build';
const tool = join(build, 'bench_sdp');
const dir = mkdtempSync(join(tmpdir(), 'palabre-sdp-'));
let browser, page, server;

function sdpTool(...args) {
  return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  server = createServer((req, res) => res.end('<!doctype html><title>sdp</title>'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--use-fake-ui-for-media-stream',
           '--use-fake-device-for-media-stream', '--disable-background-networking',
           '--allow-loopback-in-peer-connection'],
  });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
}, { timeout: seconds(120) });

after(async () => {
  await browser?.close();
  server?.close();
}, { timeout: seconds(120) });

test('Chromium accepts the answer to its publish offer (opus + VP8, recvonly)', { timeout: seconds(120) }, async () => {
  const offer = await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    window.pub = pc;
    for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription.sdp;
  });
  writeFileSync(join(dir, 'offer.sdp'), offer);
  const answer = sdpTool('answer-text', join(dir, 'offer.sdp'));
  const result = await page.evaluate(async (sdp) => {
    const pc = window.pub;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    return pc.getTransceivers().map((t) => ({
      dir: t.currentDirection,
      codec: t.sender.getParameters().codecs[0]?.mimeType,
    }));
  }, answer);
  assert.deepEqual(result, [
    { dir: 'sendonly', codec: 'audio/opus' },
    { dir: 'sendonly', codec: 'video/VP8' },
  ]);
});

test('Chromium accepts a subscribe offer and its answer passes pal_sdp_check_answer', { timeout: seconds(120) }, async () => {
  const offer = sdpTool('offer-text');
  const got = await page.evaluate(async (sdp) => {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const tracks = [];
    pc.ontrack = (e) => tracks.push({ kind: e.track.kind, stream: e.streams[0]?.id, mid: e.transceiver.mid });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    window.sub = { pc, tracks };
    return { answer: pc.localDescription.sdp, tracks: [...tracks] };
  }, offer);
  assert.deepEqual(got.tracks, [
    { kind: 'audio', stream: 's', mid: '0' },
    { kind: 'video', stream: 's', mid: '1' },
  ]);
  writeFileSync(join(dir, 'answer.sdp'), got.answer);
  sdpTool('check-answer', join(dir, 'answer.sdp')); // throws on a non-zero exit
  assert.match(got.answer, /a=setup:active/);
});

test('Chromium takes a new track in a recycled idle slot (same mid) on re-offer', { timeout: seconds(120) }, async () => {
  const offer = sdpTool('offer-text', 'reuse');
  const got = await page.evaluate(async (sdp) => {
    const { pc, tracks } = window.sub;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    const answer = pc.localDescription.sdp;
    pc.close();
    return { answer, tracks };
  }, offer);
  assert.deepEqual(got.tracks.at(-1), { kind: 'video', stream: 's2', mid: '2' });
  assert.equal(got.tracks.length, 3);
  writeFileSync(join(dir, 'answer2.sdp'), got.answer);
  sdpTool('check-answer', join(dir, 'answer2.sdp'), 'reuse');
  assert.match(got.answer, /a=mid:2\r\n(.*\r\n)*?a=recvonly/);
});
