// Palabre browser media: camera and microphone, the two RTCPeerConnections of
// docs/protocol.md "Media (WebRTC)", the video stage. This file holds the state
// and the actions; the parts live in their own modules, each given `m` (this
// state, the app's ctx and a few shared functions):
//   media_devices.js    getUserMedia, local tracks, pre-join preview and device choice
//   media_publish.js    both PCs' ICE and restarts; the publish PC's negotiation
//   media_subscribe.js  the subscribe PC: offers, answers, tracks → participants, stats
//   media_tiles.js      the tiles and their layout (grid_layout.js), pages
//
//   const media = createMedia(ctx);  // ctx: see createMedia below
//   await media.preview();           // pre-join screen: local preview + device <select>s
//   await media.start();             // after join: publish, answer subscribe offers
//   media.setMic(false); media.setCamera(true); media.startScreenShare(); media.stop();
//
// Publish PC: the browser offers its tracks with `publish` and applies the answer.
// Subscribe PC: the server offers (`subscribe_offer`), the browser answers. Trickle
// ICE both ways with `ice_candidate`. No STUN server; TURN only as the join hands it
// out (ice_servers: palabre's own coturn, with credentials that expire).
//
// Tests read window.__palabre (pcs, selfId, stats per participant, errors) and may
// set window.__palabreHooks = { publishOffer(sdp) → sdp } before the page loads to
// alter the offer text sent to the server (fingerprint mismatch test).
import { h } from './dom.js';
import { t } from './i18n.js';
import { createDevices, loadDevices } from './media_devices.js';
import { createPeers, markScreenTrack } from './media_publish.js';
import { createSubscribe, msidByMid } from './media_subscribe.js';
import { createTiles, icon, initials, MIXER_ID } from './media_tiles.js';

export { initials, markScreenTrack, msidByMid, MIXER_ID };

/**
 * ctx = {
 *   request(type, fields) → Promise<data>, rejects with {code, message}
 *   onEvent(type, handler)  — several handlers per type must be allowed; optional:
 *                             without it the app calls media.handleEvent(msg) for each event
 *   videoArea               — the grid container element (its size is the stage)
 *   participants()          — current list of {id, name, mic, camera, screen} (others)
 *   selfId                  — own participant id (string, or a function returning it)
 *   selfName                — optional: own name (string or function)
 *   iceServers()            — optional: the join's ice_servers (TURN), for each new PC
 *   preJoinContainer        — element for the preview and the device <select>s
 *   controls                — optional element for the buttons (else made after videoArea)
 * }
 */
export function createMedia(ctx) {
  const state = {
    mic: true, camera: true, screen: false,
    // hard mute by a moderator: the control stays off until allow_unmute
    blocked: { mic: false, camera: false },
    devices: loadDevices(),
    local: null, // MediaStream from getUserMedia (audio + video tracks)
    screenTrack: null,
    pub: null, sub: null,
    pubTx: { audio: null, video: null, screen: null },
    pubReady: false, pubPendingCands: [], pubRemoteCands: [],
    subVersion: -1, subOffers: [], subMids: new Map(), subRemoteCands: [],
    remote: new Map(), // pid → {audio, video, screen} MediaStreamTrack
    latest: new Map(), // pid → participant object from the newest event
    known: new Set(), // pids shown, for join/leave announcements
    activeSpeaker: null,
    started: false, stopped: false, announceJoins: false,
    chain: Promise.resolve(), // serialises negotiations on the publish PC
    subChain: Promise.resolve(),
    restartTimers: {}, restarts: {}, restartCount: {},
    errors: [], alertKind: null,
    statsTimer: null,
    // receive=mixed in the page's URL: one mixed audio and one composite video
    mixed: new URLSearchParams(location.search).get('receive') === 'mixed',
  };

  // --------------------------------------------------------------- DOM

  const grid = ctx.videoArea;
  grid.classList.add('media-grid');
  if (!grid.getAttribute('aria-label')) grid.setAttribute('aria-label', t('media.grid'));
  const live = h('div', { class: 'sr-only', 'aria-live': 'polite', role: 'status' });
  const alertBox = h('div', { class: 'media-alert', role: 'alert', hidden: true });
  grid.after(live, alertBox);

  let controls = ctx.controls;
  if (!controls) {
    controls = h('div', { class: 'media-controls' });
    alertBox.after(controls);
  }
  controls.setAttribute('role', 'toolbar');
  controls.setAttribute('aria-label', t('media.controls'));
  const micBtn = toggleButton('mic', t('media.muteMic'), () => setMic(!state.mic));
  const camBtn = toggleButton('camera', t('media.muteCamera'), () => setCamera(!state.camera));
  const screenBtn = toggleButton('screen', t('media.shareScreen'), () =>
    (state.screen ? stopScreenShare() : startScreenShare()));
  if (!navigator.mediaDevices?.getDisplayMedia) screenBtn.hidden = true;
  const mixedBtn = toggleButton('mixed', t('media.receiveMixed'), () => setReceiveMixed(!state.mixed));
  // why a control is disabled (hard mute), next to the buttons
  const blockedNote = h('p', { class: 'media-blocked-note', id: 'media-blocked-note', hidden: true });
  controls.append(micBtn, camBtn, screenBtn, mixedBtn, blockedNote);
  controls.addEventListener('keydown', rovingFocus);
  controls.hidden = true;
  updateButtons();

  function toggleButton(name, label, onclick) {
    return h('button', { type: 'button', class: `media-btn media-btn-${name}`, 'aria-pressed': 'false', onclick },
      icon(name), h('span', { class: 'media-btn-label' }, label));
  }

  // Arrow keys move between the toolbar's buttons (WAI-ARIA toolbar pattern).
  function rovingFocus(e) {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const btns = [...controls.querySelectorAll('button:not([hidden])')];
    const i = btns.indexOf(document.activeElement);
    if (i < 0) return;
    const next = btns[(i + (e.key === 'ArrowRight' ? 1 : btns.length - 1)) % btns.length];
    next.focus();
    e.preventDefault();
  }

  function updateButtons() {
    micBtn.setAttribute('aria-pressed', String(!state.mic));
    camBtn.setAttribute('aria-pressed', String(!state.camera));
    screenBtn.setAttribute('aria-pressed', String(state.screen));
    mixedBtn.setAttribute('aria-pressed', String(state.mixed));
    const { mic, camera } = state.blocked;
    micBtn.disabled = mic;
    camBtn.disabled = camera;
    for (const [btn, on] of [[micBtn, mic], [camBtn, camera]]) {
      if (on) btn.setAttribute('aria-describedby', blockedNote.id); else btn.removeAttribute('aria-describedby');
    }
    blockedNote.hidden = !mic && !camera;
    blockedNote.textContent = mic && camera ? t('media.blockedBoth') : mic ? t('media.blockedMic')
      : camera ? t('media.blockedCamera') : '';
  }

  // The participant's mic_blocked / camera_blocked as the server has them
  // (participant_updated). Blocked: the track stops being sent and the
  // control is disabled; allowed again: the control comes back, still off.
  async function setBlocked({ mic = false, camera = false } = {}) {
    const was = state.blocked;
    state.blocked = { mic: !!mic, camera: !!camera };
    if (state.blocked.mic && !was.mic) {
      state.mic = false;
      const track = devices.localTrack('audio');
      if (track) track.enabled = false;
    }
    updateButtons();
    render();
    // the server already turned our state off (set_state is not needed)
    if (state.blocked.camera && !was.camera && state.camera) {
      state.camera = false;
      updateButtons();
      await devices.swapLocalTrack('video', null);
      render();
    }
    if (was.mic !== state.blocked.mic || was.camera !== state.blocked.camera) {
      m.announce(t(state.blocked.mic || state.blocked.camera ? 'media.blockedNow' : 'media.unblockedNow'));
    }
  }

  // What the modules share (see the list at the top).
  const m = {
    state, ctx, grid,
    // selfId/selfName: functions, values, or given later to start({selfId, selfName})
    selfId: () => (typeof ctx.selfId === 'function' ? ctx.selfId() : ctx.selfId),
    selfName: () => (typeof ctx.selfName === 'function' ? ctx.selfName() : ctx.selfName) || '',
    // One alert at a time. `kind` 'reconnecting' never hides an error, and an
    // ICE recovery clears only the reconnecting notice.
    showError(msg, kind = 'error') {
      if (kind === 'reconnecting' && state.alertKind === 'error' && !alertBox.hidden) return;
      if (!msg && kind === 'reconnecting' && state.alertKind !== 'reconnecting') return;
      state.alertKind = kind;
      alertBox.textContent = msg;
      alertBox.hidden = !msg;
    },
    recordError(err) {
      state.errors.push(err);
      if (state.errors.length > 50) state.errors.shift();
    },
    announce(msg) { live.textContent = msg; },
    render: () => tiles.render(),
    exposeForTests: () => exposeForTests(),
  };
  const devices = m.devices = createDevices(m);
  const peers = createPeers(m);
  const sub = createSubscribe(m, peers);
  const tiles = createTiles(m);
  const render = m.render;

  // --------------------------------------------------------------- events

  // Server events: through ctx.onEvent (several handlers per type), or, without
  // it, the app passes every event to media.handleEvent(msg).
  const handlers = new Map();
  const on = (type, fn) => {
    handlers.set(type, fn);
    if (ctx.onEvent) ctx.onEvent(type, fn);
  };
  function handleEvent(msg) {
    const fn = msg && handlers.get(msg.type);
    if (fn) fn(msg);
  }

  on('subscribe_offer', sub.onOffer);
  on('ice_candidate', ({ pc, candidate }) => peers.onRemoteCandidate(pc, candidate));
  on('active_speaker', ({ participant_id: id }) => {
    state.activeSpeaker = id;
    tiles.markSpeaker(id);
  });
  on('track_quality', (ev) => tiles.onQuality(ev)); // a tile reduced or paused for bandwidth
  on('media_error', (ev) => {
    m.recordError(ev);
    m.showError(t('media.errConnect', { code: ev.code }));
    if (state.started && (ev.pc === 'publish' || ev.pc === 'subscribe')) peers.rebuild(ev.pc);
  });
  on('participant_joined', ({ participant }) => {
    state.latest.set(participant.id, participant);
    render();
  });
  on('participant_updated', ({ participant }) => {
    state.latest.set(participant.id, { ...(state.latest.get(participant.id) || {}), ...participant });
    render();
  });
  on('participant_left', ({ participant_id: id }) => {
    const p = state.latest.get(id) || (ctx.participants?.() || []).find((q) => q.id === id) || { id };
    state.latest.set(id, { ...p, gone: true });
    state.known.delete(id);
    state.remote.delete(id);
    m.announce(t('media.left', { name: p.name || '' }));
    render();
  });

  // --------------------------------------------------------------- actions

  // The server's view of our own state (set_state); the app shows it in its list.
  const sendState = (fields) => ctx.request('set_state', fields).catch((e) => m.recordError(e));

  // After the join response. opts: {selfId, selfName} if ctx did not give them.
  async function start(opts = {}) {
    if (opts.selfId) ctx.selfId = opts.selfId;
    if (opts.selfName) ctx.selfName = opts.selfName;
    if (state.started) return;
    state.started = true;
    state.stopped = false;
    // receive=mixed went with the join (app.js): the first subscribe offer
    // is already the mix
    if (!state.local) state.local = await devices.getLocal();
    if (!devices.localTrack('video')) state.camera = false;
    if (!devices.localTrack('audio')) state.mic = false;
    if (state.blocked.mic) {
      state.mic = false;
      const track = devices.localTrack('audio');
      if (track) track.enabled = false;
    }
    if (state.blocked.camera) { state.camera = false; await devices.swapLocalTrack('video', null); }
    controls.hidden = false;
    updateButtons();
    peers.setupPublish();
    exposeForTests();
    render(); // those already here are not announced
    state.announceJoins = true;
    sub.drain();
    await peers.negotiatePublish();
    await sendState({ mic: state.mic, camera: state.camera });
  }

  // Switches between one track per participant and the room's mix; the server
  // renegotiates the subscribe PC (no rejoin).
  async function setReceiveMixed(on) {
    const before = state.mixed;
    state.mixed = !!on;
    updateButtons();
    render();
    if (!state.started) return;
    try {
      await ctx.request('set_receive', { mode: state.mixed ? 'mixed' : 'sfu' });
      m.announce(t(state.mixed ? 'media.mixedOn' : 'media.mixedOff'));
    } catch (e) {
      m.recordError(e);
      state.mixed = before;
      updateButtons();
      render();
    }
  }

  async function setMic(on) {
    if (on && state.blocked.mic) return;
    const track = devices.localTrack('audio');
    state.mic = !!on && !!track;
    if (track) track.enabled = state.mic;
    updateButtons();
    render();
    if (state.started) await sendState({ mic: state.mic });
  }

  async function setCamera(on) {
    if (on && state.blocked.camera) return;
    state.camera = !!on; // the button answers at once; corrected below if no camera
    updateButtons();
    if (on) {
      const s = await devices.getLocal(['video']);
      const track = s.getVideoTracks()[0] || null;
      state.camera = !!track;
      await devices.swapLocalTrack('video', track);
    } else {
      state.camera = false;
      await devices.swapLocalTrack('video', null); // the camera light goes off
    }
    updateButtons();
    render();
    if (state.started) await sendState({ camera: state.camera });
  }

  async function startScreenShare() {
    if (state.screen || !state.pub) return;
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10 } }, audio: false });
    } catch (e) {
      m.showError(t('media.errScreen', { msg: e.message || e.name }));
      return;
    }
    const track = s.getVideoTracks()[0];
    track.contentHint = 'detail';
    track.addEventListener('ended', () => stopScreenShare()); // the browser's own "stop sharing"
    state.screenTrack = track;
    state.screen = true;
    const tx = state.pubTx.screen;
    if (tx) {
      await tx.sender.replaceTrack(track);
      tx.direction = 'sendonly';
    } else {
      state.pubTx.screen = state.pub.addTransceiver(track, { direction: 'sendonly', streams: [state.local || new MediaStream()] });
    }
    updateButtons();
    render();
    await peers.negotiatePublish();
    await sendState({ screen: true });
  }

  async function stopScreenShare() {
    if (!state.screen) return;
    state.screen = false;
    state.screenTrack?.stop();
    state.screenTrack = null;
    const tx = state.pubTx.screen;
    if (tx) {
      await tx.sender.replaceTrack(null);
      tx.direction = 'inactive';
    }
    updateButtons();
    render();
    if (state.pub) await peers.negotiatePublish();
    await sendState({ screen: false });
  }

  function stop() {
    state.stopped = true;
    state.started = false;
    state.announceJoins = false;
    for (const k of Object.keys(state.restartTimers)) clearTimeout(state.restartTimers[k]);
    clearInterval(state.statsTimer);
    state.pub?.close();
    state.sub?.close();
    state.pub = state.sub = null;
    state.pubTx = { audio: null, video: null, screen: null };
    state.pubReady = false;
    state.subVersion = -1;
    state.subOffers = [];
    state.pubPendingCands = []; state.pubRemoteCands = []; state.subRemoteCands = [];
    state.local?.getTracks().forEach((tr) => tr.stop());
    state.screenTrack?.stop();
    state.local = state.screenTrack = null;
    state.screen = false;
    state.remote = new Map();
    controls.hidden = true;
    tiles.clear();
    devices.stopPreview();
    exposeForTests();
  }

  function onRemoteStats(cb, intervalMs = 2000) {
    clearInterval(state.statsTimer);
    state.statsTimer = setInterval(() => sub.remoteStats().then(cb, () => {}), intervalMs);
    return () => clearInterval(state.statsTimer);
  }

  // window.__palabre: what the e2e tests read (getters, so always current).
  function exposeForTests() {
    if (window.__palabre?.media === api) return;
    window.__palabre = {
      get pcs() { return { publish: state.pub, subscribe: state.sub }; },
      get selfId() { return m.selfId(); },
      get errors() { return state.errors; },
      get iceRestarts() { return { ...state.restartCount }; },
      remoteStats: sub.remoteStats,
      request: ctx.request, // lets a test leave the room as the app would
      media: api,
    };
  }

  const api = {
    preview: devices.preview, start, stop, setMic, setCamera, setBlocked, startScreenShare, stopScreenShare, setReceiveMixed,
    getRemoteStats: sub.remoteStats, onRemoteStats, handleEvent,
    refresh: render,
    get state() { return { mic: state.mic, camera: state.camera, screen: state.screen, mixed: state.mixed }; },
    get localStream() { return state.local; },
  };
  exposeForTests();
  return api;
}
