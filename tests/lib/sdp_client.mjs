// What a WebRTC client says in SDP, without a browser: publish offers shaped
// like Chromium's (opus + VP8, BUNDLE, rtcp-mux, trickle, setup actpass) and
// answers to the server's subscribe offers (rejected m-lines stay rejected,
// the others are received). For protocol-level tests that need many
// participants; tests/e2e/ checks the same SDP against a real Chromium.
//
//   import { publishOffer, answerFor, mediaSections } from '../lib/sdp_client.mjs';
//   publishOffer({ mids: ['0', '1'] })   → SDP text (audio then video)
//   answerFor(offerSdp)                   → SDP text
//   mediaSections(sdp)                    → [{ kind, port, mid, direction, stream, track }]
import { randomBytes } from 'node:crypto';

const hex = (n) => randomBytes(n).toString('hex');
const fingerprint = () => [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
const ssrc = () => randomBytes(4).readUInt32BE(0) || 1;

export function publishOffer({ mids = ['0', '1'], kinds = ['audio', 'video'] } = {}) {
  const ufrag = hex(2), pwd = hex(12), fp = fingerprint(), stream = hex(8);
  let sdp = `v=0\r\no=- ${Date.now()} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n` +
    `a=group:BUNDLE ${mids.join(' ')}\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS ${stream}\r\n`;
  mids.forEach((mid, i) => {
    const audio = kinds[i % kinds.length] === 'audio';
    const s = ssrc();
    sdp += `m=${audio ? 'audio' : 'video'} 9 UDP/TLS/RTP/SAVPF ${audio ? '111' : '96 97'}\r\n` +
      'c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n' +
      `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\na=ice-options:trickle\r\n` +
      `a=fingerprint:sha-256 ${fp}\r\na=setup:actpass\r\na=mid:${mid}\r\n` +
      (audio ? 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n' : '') +
      'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n' +
      'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n' +
      `a=sendonly\r\na=msid:${stream} ${hex(8)}\r\na=rtcp-mux\r\na=rtcp-rsize\r\n` +
      (audio
        ? 'a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n'
        : 'a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n' +
          'a=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n' +
          'a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n') +
      `a=ssrc:${s} cname:${stream}\r\na=ssrc:${s} msid:${stream} x\r\n`;
  });
  return sdp;
}

// The m-sections of an SDP text, in order.
export function mediaSections(sdp) {
  return sdp.split(/\r\n(?=m=)/).slice(1).map((sec) => {
    const m = /^m=(\S+) (\d+) \S+ (\d+)/.exec(sec);
    const attr = (name) => { const r = new RegExp(`^a=${name}:(.*)$`, 'm').exec(sec); return r && r[1]; };
    const msid = (attr('msid') || '').split(' ');
    const dir = /^a=(sendonly|recvonly|sendrecv|inactive)$/m.exec(sec);
    return { kind: m[1], port: Number(m[2]), pt: Number(m[3]), mid: attr('mid'),
      direction: dir ? dir[1] : 'sendrecv', stream: msid[0] || null, track: msid[1] || null };
  });
}

// A browser's answer to a server subscribe offer (setup active: the server
// is the DTLS server). One ICE ufrag per answerer keeps the transport.
export function answerFor(offerSdp, ice = { ufrag: hex(2), pwd: hex(12), fp: fingerprint() }) {
  const secs = mediaSections(offerSdp);
  const bundled = secs.filter((s) => s.port !== 0).map((s) => s.mid);
  let sdp = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE ${bundled.join(' ')}\r\n` +
    'a=msid-semantic: WMS\r\n';
  for (const s of secs) {
    if (s.port === 0) {
      sdp += `m=${s.kind} 0 UDP/TLS/RTP/SAVPF ${s.pt}\r\nc=IN IP4 0.0.0.0\r\na=mid:${s.mid}\r\na=inactive\r\na=rtcp-mux\r\n`;
      continue;
    }
    sdp += `m=${s.kind} 9 UDP/TLS/RTP/SAVPF ${s.pt}\r\nc=IN IP4 0.0.0.0\r\n` +
      `a=ice-ufrag:${ice.ufrag}\r\na=ice-pwd:${ice.pwd}\r\na=ice-options:trickle\r\n` +
      `a=fingerprint:sha-256 ${ice.fp}\r\na=setup:active\r\na=mid:${s.mid}\r\n` +
      `a=${s.direction === 'sendonly' ? 'recvonly' : 'inactive'}\r\na=rtcp-mux\r\n` +
      `a=rtpmap:${s.pt} ${s.kind === 'audio' ? 'opus/48000/2' : 'VP8/90000'}\r\n`;
  }
  return sdp;
}
