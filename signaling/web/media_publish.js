// The peer connections' life (both PCs): creation, trickle ICE, ICE restarts,
// rebuilds after a media_error; and the publish PC's negotiation: the browser
// offers its tracks with `publish` and applies the answer, again for a screen
// share and for an ICE restart (docs/protocol.md "Media (WebRTC)").
//
//   const peers = createPeers(m);   // m: the media state shared by media.js
//   peers.setupPublish(); await peers.negotiatePublish();
//   const pc = peers.newPc('subscribe'); peers.onRemoteCandidate('publish', candidate);
import { t } from './i18n.js';

const RESTART_AFTER_DISCONNECT_MS = 2000;

// Gives the msid of the m-section `mid` a track id starting with `screen-` (the
// browser cannot name its tracks; the server learns the screen share from this).
export function markScreenTrack(sdp, mid) {
  const parts = sdp.split(/(?=\r?\nm=)/);
  return parts.map((sec) => {
    if (!new RegExp(`\\r?\\na=mid:${mid}\\r?\\n`).test(sec + '\r\n')) return sec;
    return sec.replace(/(a=(?:ssrc:\d+ )?msid:\S+ )(?!screen-)(\S+)/g, '$1screen-$2');
  }).join('');
}

// 1 s, 2 s, ... 30 s between attempts, the first at once: a session the server
// keeps refusing (e.g. dtls_failed) does not loop quickly.
const retryDelay = (n) => (n === 1 ? 0 : Math.min(30000, 1000 * 2 ** (n - 2)));

// The camera as VP8 simulcast (docs/protocol.md "Simulcast"): rid q, h, f at
// 1/4, 1/2 and full resolution, lowest first, each with three temporal layers
// where the browser has scalabilityMode; the server forwards each subscriber
// the one its tile and its bandwidth allow. A camera below 960x540 (ours asks
// 640x360) is sent as h and f only: Chromium sends no more layers than a
// source of that size allows and drops the top ones (q/h/f from 640x360 comes
// out as 160x90 and 320x180, nothing full), which would leave everyone a
// quarter of the picture. A screen share stays one encoding.
export const SIMULCAST_RIDS = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f', scaleResolutionDownBy: 1 },
];

// Each layer's limits follow the height it is sent at, as in a production
// SFU's ladder (LiveKit, Jitsi: 180p, 360p, 720p), whatever its rid. The
// lowest (180p and below) is kept small and at 15 frames/s: it is what a
// subscriber on a short link receives of everyone, and 300 kbit/s must carry
// three of them with the audio. Measured with Chromium's fake devices: a
// talking Opus stream is ~55 kbit/s on the wire (34 kbit/s of RTP, 50
// packets/s with their SRTP, UDP, IP and Ethernet headers), a muted one still
// ~32 kbit/s (encoded silence, 50 packets/s); a 180p layer capped at 32 kbit/s
// is ~40 kbit/s on the wire. 3 x 40 + 55 + 2 x 32 = 240 kbit/s: the server's
// estimate settles some 20 % below the link's rate (it backs off at 85 % of
// what arrived), and the layers must fit in it, not in the link.
const LAYER_LIMITS = [
  { upTo: 180, maxBitrate: 32000, maxFramerate: 15 },
  { upTo: 360, maxBitrate: 500000 },
  { upTo: Infinity, maxBitrate: 1500000 },
];

export function simulcastEncodings(height) {
  const rids = height >= 540 ? SIMULCAST_RIDS : SIMULCAST_RIDS.slice(1);
  return rids.map((e) => {
    const { upTo, ...limits } = LAYER_LIMITS.find((l) => height / e.scaleResolutionDownBy <= l.upTo);
    return { ...e, ...limits };
  });
}

function addSimulcast(pc, trackOrKind, init) {
  if (window.__palabreHooks?.simulcast === false) return pc.addTransceiver(trackOrKind, init);
  const height = typeof trackOrKind === 'string' ? 360 : (trackOrKind.getSettings?.().height || 360);
  const encodings = simulcastEncodings(height);
  const withModes = encodings.map((e) => ({ ...e, scalabilityMode: 'L1T3' }));
  for (const sendEncodings of [withModes, encodings]) {
    try {
      return pc.addTransceiver(trackOrKind, { ...init, sendEncodings });
    } catch { /* scalabilityMode unknown to this browser: without it */ }
  }
  return pc.addTransceiver(trackOrKind, init);
}

export function createPeers(m) {
  const { state, ctx } = m;
  const hooks = () => window.__palabreHooks || {};
  const pcOf = (name) => (name === 'publish' ? state.pub : state.sub);

  function newPc(name) {
    const pc = new RTCPeerConnection({ iceServers: ctx.iceServers?.() || [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const current = () => pc === pcOf(name); // not a replaced one
    pc.addEventListener('icecandidate', (e) => current() && sendCandidate(name, e.candidate));
    pc.addEventListener('iceconnectionstatechange', () => current() && onIceState(name, pc));
    pc.addEventListener('connectionstatechange', () => {
      if (current() && pc.connectionState === 'connected') state.restarts[name] = 0; // ICE and DTLS up
    });
    return pc;
  }

  function sendCandidate(name, c) {
    const candidate = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
    if (name === 'publish' && !state.pubReady) { state.pubPendingCands.push(candidate); return; }
    ctx.request('ice_candidate', { pc: name, candidate }).catch((e) => m.recordError({ pc: name, ...e }));
  }

  async function addRemoteCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate || undefined);
    } catch (e) { m.recordError({ code: 'bad_candidate', message: String(e) }); }
  }

  // The server's candidates: applied once the PC has its remote description.
  function onRemoteCandidate(name, candidate) {
    const pc = pcOf(name);
    if (pc && pc.remoteDescription) addRemoteCandidate(pc, candidate);
    else if (name === 'publish') state.pubRemoteCands.push(candidate);
    else if (name === 'subscribe') state.subRemoteCands.push(candidate);
  }

  function onIceState(name, pc) {
    const s = pc.iceConnectionState;
    clearTimeout(state.restartTimers[name]);
    if (state.stopped) return;
    if (s === 'connected' || s === 'completed') { m.showError('', 'reconnecting'); return; }
    if (s === 'failed') restartIce(name);
    else if (s === 'disconnected') {
      state.restartTimers[name] = setTimeout(() => {
        if (pc.iceConnectionState === 'disconnected') restartIce(name);
      }, RESTART_AFTER_DISCONNECT_MS);
    }
  }

  function restartIce(name) {
    m.showError(t('media.reconnecting'), 'reconnecting');
    const n = state.restarts[name] = (state.restarts[name] || 0) + 1;
    state.restartTimers[name] = setTimeout(() => {
      if (state.stopped) return;
      state.restartCount[name] = (state.restartCount[name] || 0) + 1;
      if (name === 'publish') negotiatePublish({ iceRestart: true });
      else ctx.request('subscribe_restart', {}).catch((e) => m.recordError({ pc: 'subscribe', ...e }));
    }, retryDelay(n));
  }

  // Offers the publish PC's tracks and applies the answer; serialised.
  function negotiatePublish(opts = {}) {
    state.chain = state.chain.then(async () => {
      const pc = state.pub;
      if (!pc || state.stopped) return;
      const offer = await pc.createOffer(opts);
      await pc.setLocalDescription(offer);
      let sdp = pc.localDescription.sdp;
      if (state.pubTx.screen?.mid) sdp = markScreenTrack(sdp, state.pubTx.screen.mid);
      if (hooks().publishOffer) sdp = hooks().publishOffer(sdp);
      let data;
      try {
        data = await ctx.request('publish', { sdp });
      } catch (e) {
        m.recordError({ pc: 'publish', ...e });
        m.showError(t('media.errConnect', { code: e.code || 'error' }));
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        return;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      state.pubReady = true;
      for (const c of state.pubPendingCands.splice(0)) sendCandidate('publish', c);
      for (const c of state.pubRemoteCands.splice(0)) await addRemoteCandidate(pc, c);
    }).catch((e) => m.recordError({ pc: 'publish', code: 'negotiation', message: String(e) }));
    return state.chain;
  }

  function setupPublish() {
    const pc = newPc('publish');
    state.pub = pc;
    const stream = state.local || new MediaStream();
    // One transceiver per kind even without a device, so a later device or the
    // camera turned on needs no renegotiation.
    for (const kind of ['audio', 'video']) {
      const track = m.devices.localTrack(kind);
      if (track && kind === 'audio') track.enabled = state.mic;
      const init = { direction: 'sendonly', streams: [stream] };
      state.pubTx[kind] = kind === 'video' ? addSimulcast(pc, track || kind, init)
        : pc.addTransceiver(track || kind, init);
    }
    if (!state.camera) state.pubTx.video.sender.replaceTrack(null);
    if (state.screenTrack) {
      state.pubTx.screen = pc.addTransceiver(state.screenTrack, { direction: 'sendonly', streams: [stream] });
    }
  }

  // The server reports that it gave up on one of our PCs (media_error): its side
  // is gone, DTLS included, so an ICE restart cannot revive it. Build a new PC
  // (new DTLS handshake), after the same growing delay as ICE restarts.
  function rebuild(name) {
    const n = state.restarts[name] = (state.restarts[name] || 0) + 1;
    clearTimeout(state.restartTimers[name]);
    state.restartTimers[name] = setTimeout(() => {
      if (state.stopped || !state.started) return;
      state.restartCount[name] = (state.restartCount[name] || 0) + 1;
      if (name === 'publish') {
        state.pub?.close();
        state.pubReady = false;
        state.pubPendingCands = [];
        state.pubRemoteCands = [];
        state.pubTx = { audio: null, video: null, screen: null };
        setupPublish();
        negotiatePublish();
      } else {
        state.subChain = state.subChain.then(() => {
          state.sub?.close();
          state.sub = null; // the next subscribe_offer opens a new one
          state.subRemoteCands = [];
          return ctx.request('subscribe_restart', {});
        }).catch((e) => m.recordError({ pc: 'subscribe', ...e }));
      }
    }, retryDelay(n));
  }

  return { newPc, addRemoteCandidate, onRemoteCandidate, negotiatePublish, setupPublish, rebuild };
}
