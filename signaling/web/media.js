// Palabre browser media: camera/microphone preview and device choice, the two
// RTCPeerConnections of docs/protocol.md "Media (WebRTC)", the video grid.
//
//   const media = createMedia(ctx);  // ctx: see createMedia below
//   await media.preview();           // pre-join screen: local preview + device <select>s
//   await media.start();             // after join: publish, answer subscribe offers
//   media.setMic(false); media.setCamera(true); media.startScreenShare(); media.stop();
//
// Publish PC: the browser offers its tracks with `publish` and applies the answer;
// it offers again for a screen share and for an ICE restart. Subscribe PC: the
// server sends `subscribe_offer` events (versioned), the browser answers with
// `subscribe_answer`; after every negotiation the tracks are mapped to tiles by the
// offer's a=msid (stream id = participant id, track id `screen-...` = screen share).
// Trickle ICE both ways with `ice_candidate`. No STUN/TURN server from another host.
//
// Wiring in app.js (index.html also links /media.css):
//   import { createMedia } from './media.js';
//   const media = createMedia({ request, onEvent, videoArea: $('#video'), participants: () => list,
//     selfId: () => me?.id, selfName: () => me?.name, t, preJoinContainer: $('#prejoin-media') });
//   media.preview();                                   // pre-join screen shown
//   join({ ..., mic: media.state.mic, camera: media.state.camera }) then media.start();
//   media.stop();                                      // leave, kicked, server_shutdown
//
// Tests read window.__palabre (pcs, selfId, stats per participant, errors) and may
// set window.__palabreHooks = { publishOffer(sdp) → sdp } before the page loads to
// alter the offer text sent to the server (fingerprint mismatch test).

const STRINGS = {
  fr: {
    'media.camera': 'Caméra',
    'media.microphone': 'Microphone',
    'media.preview': 'Aperçu de votre caméra',
    'media.noCamera': 'Aucune caméra',
    'media.noMicrophone': 'Aucun microphone',
    'media.deviceDefault': 'Appareil {n}',
    'media.muteMic': 'Couper le micro',
    'media.muteCamera': 'Couper la caméra',
    'media.shareScreen': "Partager l'écran",
    'media.controls': 'Micro, caméra et partage',
    'media.grid': 'Participants en vidéo',
    'media.you': '{name} (vous)',
    'media.screenOf': 'Écran de {name}',
    'media.micOff': 'micro coupé',
    'media.cameraOff': 'caméra coupée',
    'media.speaking': 'parle',
    'media.joined': '{name} a rejoint la réunion',
    'media.left': '{name} a quitté la réunion',
    'media.errDevices': "Caméra ou micro indisponible : {msg}. Vous pouvez rejoindre sans.",
    'media.errConnect': 'La connexion audio/vidéo a échoué ({code}). Nouvelle tentative…',
    'media.errScreen': "Le partage d'écran n'a pas pu démarrer : {msg}",
    'media.reconnecting': 'Connexion audio/vidéo perdue, reconnexion…',
    'media.receiveMixed': 'Vue mixée (connexion faible)',
    'media.mixedView': 'Vue mixée de la réunion',
    'media.mixedOn': 'Vous recevez la vue mixée : un seul son et une seule image pour toute la réunion',
    'media.mixedOff': 'Vous recevez de nouveau chaque participant séparément',
  },
  en: {
    'media.camera': 'Camera',
    'media.microphone': 'Microphone',
    'media.preview': 'Your camera preview',
    'media.noCamera': 'No camera',
    'media.noMicrophone': 'No microphone',
    'media.deviceDefault': 'Device {n}',
    'media.muteMic': 'Mute microphone',
    'media.muteCamera': 'Turn camera off',
    'media.shareScreen': 'Share screen',
    'media.controls': 'Microphone, camera and sharing',
    'media.grid': 'Participants on video',
    'media.you': '{name} (you)',
    'media.screenOf': "{name}'s screen",
    'media.micOff': 'microphone off',
    'media.cameraOff': 'camera off',
    'media.speaking': 'speaking',
    'media.joined': '{name} joined the meeting',
    'media.left': '{name} left the meeting',
    'media.errDevices': 'Camera or microphone unavailable: {msg}. You can join without.',
    'media.errConnect': 'The audio/video connection failed ({code}). Retrying…',
    'media.errScreen': 'Screen sharing could not start: {msg}',
    'media.reconnecting': 'Audio/video connection lost, reconnecting…',
    'media.receiveMixed': 'Mixed view (weak connection)',
    'media.mixedView': 'Mixed view of the meeting',
    'media.mixedOn': 'You receive the mixed view: one sound and one picture for the whole meeting',
    'media.mixedOff': 'You receive each participant separately again',
  },
};

// Inline icons (no icon font, no emoji font needed); decorative, aria-hidden.
const ICONS = {
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/>',
  camera: '<path d="M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z"/>',
  screen: '<path d="M20 3H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h6v2H8v1h8v-1h-2v-2h6a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 13H4V5h16z"/>',
  mixed: '<path d="M3 3h8v8H3zm10 0h8v8h-8zM3 13h8v8H3zm10 0h8v8h-8z"/>',
  micOff: '<path d="M19 11h-2a5 5 0 0 1-.7 2.5l1.5 1.5A7 7 0 0 0 19 11zM15 11V5a3 3 0 0 0-5.9-.8L15 10.1zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.4 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.4-1.3l3.3 3.3 1.3-1.3z"/>',
};

function icon(name) {
  const span = document.createElement('span');
  span.className = 'media-icon';
  span.setAttribute('aria-hidden', 'true');
  span.innerHTML = `<svg viewBox="0 0 24 24" width="20" height="20" fill="currentColor" focusable="false">${ICONS[name]}</svg>`;
  return span;
}

const STORE_KEY = 'palabre.devices';
// The stream id (msid) of the room mixer's tracks in subscribe offers.
export const MIXER_ID = 'mixer';
const RESTART_AFTER_DISCONNECT_MS = 2000;

function pickLang() {
  const want = (document.documentElement.lang || navigator.language || 'fr').toLowerCase();
  return want.startsWith('en') ? 'en' : 'fr';
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => [...w][0] || '').join('').toUpperCase() || '?';
}

// Parses what media.js needs from a remote offer: mid → {pid, trackId, kind}.
export function msidByMid(sdp) {
  const out = new Map();
  let cur = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      cur = { kind: line.slice(2).split(' ')[0], mid: null, pid: null, trackId: '' };
    } else if (cur && line.startsWith('a=mid:')) {
      cur.mid = line.slice(6).trim();
      out.set(cur.mid, cur);
    } else if (cur && line.startsWith('a=msid:')) {
      const [pid, trackId] = line.slice(7).trim().split(/\s+/);
      cur.pid = pid;
      cur.trackId = trackId || '';
    }
  }
  return out;
}

// Gives the msid of the m-section `mid` a track id starting with `screen-` (the
// browser cannot name its tracks; the server learns the screen share from this).
export function markScreenTrack(sdp, mid) {
  const parts = sdp.split(/(?=\r?\nm=)/);
  return parts.map((sec) => {
    if (!new RegExp(`\\r?\\na=mid:${mid}\\r?\\n`).test(sec + '\r\n')) return sec;
    return sec.replace(/(a=(?:ssrc:\d+ )?msid:\S+ )(?!screen-)(\S+)/g, '$1screen-$2');
  }).join('');
}

/**
 * ctx = {
 *   request(type, fields) → Promise<data>, rejects with {code, message}
 *   onEvent(type, handler)  — several handlers per type must be allowed; optional:
 *                             without it the app calls media.handleEvent(msg) for each event
 *   videoArea               — the grid container element
 *   participants()          — current list of {id, name, mic, camera, screen} (others)
 *   selfId                  — own participant id (string, or a function returning it)
 *   selfName                — optional: own name (string or function)
 *   t(key, vars)            — optional i18n; media.js falls back to its own strings
 *   preJoinContainer        — element for the preview and the device <select>s
 *   controls                — optional element for the buttons (else made after videoArea)
 * }
 */
export function createMedia(ctx) {
  const lang = pickLang();
  const tr = (key, vars = {}) => {
    let s = null;
    if (ctx.t) { try { s = ctx.t(key, vars); } catch { s = null; } }
    if (!s || s === key) s = STRINGS[lang][key] || STRINGS.fr[key] || key;
    return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
  };
  // selfId/selfName: functions, values, or given later to start({selfId, selfName})
  const selfId = () => (typeof ctx.selfId === 'function' ? ctx.selfId() : ctx.selfId);
  const selfName = () => (typeof ctx.selfName === 'function' ? ctx.selfName() : ctx.selfName) || '';
  const hooks = () => window.__palabreHooks || {};

  const state = {
    mic: true, camera: true, screen: false,
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
  if (!grid.getAttribute('aria-label')) grid.setAttribute('aria-label', tr('media.grid'));
  const live = el('div', { class: 'media-sr-only', 'aria-live': 'polite', role: 'status' });
  const alertBox = el('div', { class: 'media-alert', role: 'alert', hidden: '' });
  grid.after(live, alertBox);

  let controls = ctx.controls;
  if (!controls) {
    controls = el('div', { class: 'media-controls' });
    alertBox.after(controls);
  }
  controls.setAttribute('role', 'toolbar');
  controls.setAttribute('aria-label', tr('media.controls'));
  const micBtn = toggleButton('mic', tr('media.muteMic'), () => setMic(!state.mic));
  const camBtn = toggleButton('camera', tr('media.muteCamera'), () => setCamera(!state.camera));
  const screenBtn = toggleButton('screen', tr('media.shareScreen'), () =>
    (state.screen ? stopScreenShare() : startScreenShare()));
  if (!navigator.mediaDevices?.getDisplayMedia) screenBtn.hidden = true;
  const mixedBtn = toggleButton('mixed', tr('media.receiveMixed'), () => setReceiveMixed(!state.mixed));
  controls.append(micBtn, camBtn, screenBtn, mixedBtn);
  controls.addEventListener('keydown', rovingFocus);
  controls.hidden = true;
  updateButtons();

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }

  function toggleButton(name, label, onClick) {
    const b = el('button', { type: 'button', class: `media-btn media-btn-${name}`, 'aria-pressed': 'false' },
      icon(name), el('span', { class: 'media-btn-label' }, label));
    b.addEventListener('click', onClick);
    return b;
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
  }

  // One alert at a time. `kind` 'reconnecting' never hides an error, and an
  // ICE recovery clears only the reconnecting notice.
  function showError(msg, kind = 'error') {
    if (kind === 'reconnecting' && state.alertKind === 'error' && !alertBox.hidden) return;
    if (!msg && kind === 'reconnecting' && state.alertKind !== 'reconnecting') return;
    state.alertKind = kind;
    alertBox.textContent = msg;
    alertBox.hidden = !msg;
  }

  function announce(msg) {
    live.textContent = msg;
  }

  function recordError(err) {
    state.errors.push(err);
    if (state.errors.length > 50) state.errors.shift();
  }

  // --------------------------------------------------------------- devices

  function loadDevices() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY)) || {}; } catch { return {}; }
  }

  function saveDevices() {
    try { localStorage.setItem(STORE_KEY, JSON.stringify(state.devices)); } catch { /* private mode */ }
  }

  function constraints(kind) {
    const id = state.devices[kind];
    if (kind === 'audio') return id ? { deviceId: { exact: id } } : true;
    const base = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } };
    return id ? { ...base, deviceId: { exact: id } } : base;
  }

  async function getLocal(kinds = ['audio', 'video']) {
    const want = {};
    for (const k of kinds) want[k] = constraints(k);
    try {
      return await navigator.mediaDevices.getUserMedia(want);
    } catch (e) {
      if (kinds.length === 2) { // one of the two may be missing or busy: try each alone
        const s = new MediaStream();
        for (const k of kinds) {
          try { (await navigator.mediaDevices.getUserMedia({ [k]: constraints(k) })).getTracks().forEach((t) => s.addTrack(t)); } catch { /* absent */ }
        }
        if (s.getTracks().length) return s;
      }
      showError(tr('media.errDevices', { msg: e.message || e.name }));
      return new MediaStream();
    }
  }

  function localTrack(kind) {
    return state.local?.getTracks().find((t) => t.kind === kind && t.readyState === 'live') || null;
  }

  // Replaces the local track of `kind` (device change, camera back on) everywhere.
  async function swapLocalTrack(kind, track) {
    const old = state.local?.getTracks().filter((t) => t.kind === kind) || [];
    if (!state.local) state.local = new MediaStream();
    for (const t of old) { state.local.removeTrack(t); t.stop(); }
    if (track) {
      if (kind === 'audio') track.enabled = state.mic;
      state.local.addTrack(track);
    }
    const tx = state.pubTx[kind];
    if (tx) await tx.sender.replaceTrack(track);
    refreshPreviews();
  }

  let previewVideo = null;
  let selects = {};

  async function preview() {
    const box = ctx.preJoinContainer;
    if (!box) return;
    box.classList.add('media-prejoin');
    if (!state.local) state.local = await getLocal();
    if (!previewVideo) {
      previewVideo = el('video', { class: 'media-preview', autoplay: '', playsinline: '', 'aria-label': tr('media.preview') });
      previewVideo.muted = true;
      const row = el('div', { class: 'media-devices' });
      for (const [kind, label, none] of [['video', 'media.camera', 'media.noCamera'], ['audio', 'media.microphone', 'media.noMicrophone']]) {
        const id = `media-select-${kind}`;
        const sel = el('select', { id, class: 'media-select', 'data-kind': kind });
        sel.addEventListener('change', () => chooseDevice(kind, sel.value));
        selects[kind] = { sel, none };
        row.append(el('div', { class: 'media-field' }, el('label', { for: id }, tr(label)), sel));
      }
      box.append(previewVideo, row);
    }
    previewVideo.srcObject = state.local;
    await fillSelects();
    navigator.mediaDevices.addEventListener?.('devicechange', fillSelects);
  }

  async function fillSelects() {
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { /* none */ }
    for (const [kind, { sel, none }] of Object.entries(selects)) {
      const list = devices.filter((d) => d.kind === `${kind}input`);
      const current = localTrack(kind)?.getSettings().deviceId || state.devices[kind] || '';
      sel.replaceChildren(...list.map((d, i) => {
        const o = el('option', { value: d.deviceId }, d.label || tr('media.deviceDefault', { n: i + 1 }));
        o.selected = d.deviceId === current;
        return o;
      }));
      if (!list.length) sel.append(el('option', { value: '' }, tr(none)));
      sel.disabled = !list.length;
    }
  }

  async function chooseDevice(kind, deviceId) {
    state.devices[kind] = deviceId;
    saveDevices();
    if (kind === 'video' && !state.camera) return; // used when the camera is turned back on
    const s = await getLocal([kind]);
    await swapLocalTrack(kind, s.getTracks()[0] || null);
  }

  function refreshPreviews() {
    if (previewVideo) previewVideo.srcObject = state.local;
    render();
  }

  // --------------------------------------------------------------- publish PC

  function newPc(name) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const current = () => pc === (name === 'publish' ? state.pub : state.sub); // not a replaced one
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
    ctx.request('ice_candidate', { pc: name, candidate }).catch((e) => recordError({ pc: name, ...e }));
  }

  async function addRemoteCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate || undefined);
    } catch (e) { recordError({ code: 'bad_candidate', message: String(e) }); }
  }

  function onIceState(name, pc) {
    const s = pc.iceConnectionState;
    clearTimeout(state.restartTimers[name]);
    if (state.stopped) return;
    if (s === 'connected' || s === 'completed') { showError('', 'reconnecting'); return; }
    if (s === 'failed') restartIce(name);
    else if (s === 'disconnected') {
      state.restartTimers[name] = setTimeout(() => {
        if (pc.iceConnectionState === 'disconnected') restartIce(name);
      }, RESTART_AFTER_DISCONNECT_MS);
    }
  }

  // ICE restart, with a growing delay between attempts (1 s, 2 s, ... 30 s) so that a
  // session the server keeps refusing (e.g. dtls_failed) does not loop quickly.
  function restartIce(name) {
    showError(tr('media.reconnecting'), 'reconnecting');
    const n = state.restarts[name] = (state.restarts[name] || 0) + 1;
    const delay = n === 1 ? 0 : Math.min(30000, 1000 * 2 ** (n - 2));
    state.restartTimers[name] = setTimeout(() => {
      if (state.stopped) return;
      state.restartCount[name] = (state.restartCount[name] || 0) + 1;
      if (name === 'publish') negotiatePublish({ iceRestart: true });
      else ctx.request('subscribe_restart', {}).catch((e) => recordError({ pc: 'subscribe', ...e }));
    }, delay);
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
        recordError({ pc: 'publish', ...e });
        showError(tr('media.errConnect', { code: e.code || 'error' }));
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        return;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      state.pubReady = true;
      for (const c of state.pubPendingCands.splice(0)) sendCandidate('publish', c);
      for (const c of state.pubRemoteCands.splice(0)) await addRemoteCandidate(pc, c);
    }).catch((e) => recordError({ pc: 'publish', code: 'negotiation', message: String(e) }));
    return state.chain;
  }

  function setupPublish() {
    const pc = newPc('publish');
    state.pub = pc;
    const stream = state.local || new MediaStream();
    // One transceiver per kind even without a device, so a later device or the
    // camera turned on needs no renegotiation.
    for (const kind of ['audio', 'video']) {
      const track = localTrack(kind);
      if (track && kind === 'audio') track.enabled = state.mic;
      state.pubTx[kind] = pc.addTransceiver(track || kind, { direction: 'sendonly', streams: [stream] });
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
    const delay = n === 1 ? 0 : Math.min(30000, 1000 * 2 ** (n - 2));
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
        }).catch((e) => recordError({ pc: 'subscribe', ...e }));
      }
    }, delay);
  }

  // --------------------------------------------------------------- subscribe PC

  function onSubscribeOffer(ev) {
    state.subOffers.push(ev);
    if (state.started) drainSubscribeOffers();
  }

  function drainSubscribeOffers() {
    state.subChain = state.subChain.then(async () => {
      while (state.subOffers.length && !state.stopped) {
        const ev = state.subOffers.shift();
        if (ev.version <= state.subVersion) continue;
        if (state.subOffers.some((o) => o.version > ev.version)) continue; // a newer one replaces it
        await answerSubscribe(ev);
      }
    }).catch((e) => recordError({ pc: 'subscribe', code: 'negotiation', message: String(e) }));
  }

  async function answerSubscribe({ sdp, version }) {
    if (!state.sub) {
      state.sub = newPc('subscribe');
      state.sub.addEventListener('track', () => mapRemoteTracks());
      exposeForTests();
    }
    const pc = state.sub;
    state.subMids = msidByMid(sdp);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    state.subVersion = version;
    try {
      await ctx.request('subscribe_answer', { sdp: pc.localDescription.sdp, version });
    } catch (e) {
      recordError({ pc: 'subscribe', ...e }); // version_mismatch: a newer offer is on its way
    }
    for (const c of state.subRemoteCands.splice(0)) await addRemoteCandidate(pc, c);
    mapRemoteTracks();
  }

  // Rebuilds pid → tracks from the subscribe PC's receiving transceivers and the
  // last offer's msid lines.
  function mapRemoteTracks() {
    const remote = new Map();
    for (const tx of state.sub?.getTransceivers() || []) {
      const info = state.subMids.get(tx.mid);
      const dir = tx.currentDirection;
      if (!info || !info.pid || tx.stopped || !(dir === 'recvonly' || dir === 'sendrecv')) continue;
      const entry = remote.get(info.pid) || {};
      const slot = info.trackId.startsWith('screen-') ? 'screen' : info.kind;
      entry[slot] = tx.receiver.track;
      entry[`${slot}Mid`] = tx.mid;
      remote.set(info.pid, entry);
    }
    state.remote = remote;
    render();
  }

  // --------------------------------------------------------------- tiles

  function everyone() {
    const list = [];
    const me = selfId();
    if (me) list.push({ id: me, name: selfName(), mic: state.mic, camera: state.camera, screen: state.screen, self: true });
    for (const p of (ctx.participants?.() || [])) {
      if (p.id === me) continue;
      list.push({ ...p, ...(state.latest.get(p.id) || {}) });
    }
    // participants announced by events that the app's list does not show yet
    for (const [id, p] of state.latest) {
      if (id !== me && !p.gone && !list.some((q) => q.id === id)) list.push(p);
    }
    return list.filter((p) => !state.latest.get(p.id)?.gone);
  }

  function tileFor(id, screen) {
    const key = screen ? `${id}:screen` : id;
    let tile = grid.querySelector(`[data-tile="${CSS.escape(key)}"]`);
    if (tile) return tile;
    const video = el('video', { class: 'media-video', autoplay: '', playsinline: '' });
    video.muted = true; // sound goes through the participant's <audio>
    const ph = el('div', { class: 'media-placeholder', 'aria-hidden': 'true' });
    const name = el('span', { class: 'media-name' });
    const mic = el('span', { class: 'media-mic-off', role: 'img', hidden: '' }, icon('micOff'));
    tile = el('figure', { class: 'media-tile', 'data-tile': key, 'data-participant-id': id },
      video, ph, el('figcaption', { class: 'media-caption' }, mic, name));
    if (screen) {
      tile.classList.add('media-tile-screen');
      tile.dataset.screen = 'true';
    } else {
      const audio = el('audio', { class: 'media-audio', autoplay: '' });
      tile.append(audio);
    }
    grid.append(tile);
    return tile;
  }

  function setStream(media, track) {
    const cur = media.srcObject?.getTracks()[0];
    if (cur === track || (!cur && !track)) return;
    media.srcObject = track ? new MediaStream([track]) : null;
    if (track) media.play?.().catch(() => {});
  }

  function render() {
    const people = everyone();
    const wanted = new Set();
    for (const p of people) {
      const r = p.self ? { video: localTrack('video'), screen: state.screenTrack } : (state.remote.get(p.id) || {});
      const tile = tileFor(p.id, false);
      wanted.add(tile);
      const cameraOn = p.camera !== false && !!r.video;
      tile.dataset.camera = cameraOn ? 'on' : 'off';
      tile.dataset.mic = p.mic === false ? 'off' : 'on';
      tile.classList.toggle('media-self', !!p.self);
      tile.classList.toggle('media-speaking', state.activeSpeaker === p.id);
      const shown = p.self ? tr('media.you', { name: p.name || '' }) : (p.name || '');
      tile.querySelector('.media-name').textContent = shown;
      tile.querySelector('.media-placeholder').textContent = initials(p.name);
      const micIcon = tile.querySelector('.media-mic-off');
      micIcon.hidden = p.mic !== false;
      micIcon.setAttribute('aria-label', tr('media.micOff'));
      // receiving the mix, a camera that is on shows in the composite, not here
      const camOffShown = state.mixed && !p.self ? p.camera === false : !cameraOn;
      const status = [p.mic === false && tr('media.micOff'), camOffShown && tr('media.cameraOff'),
        state.activeSpeaker === p.id && tr('media.speaking')].filter(Boolean).join(', ');
      tile.setAttribute('aria-label', status ? `${shown}, ${status}` : shown);
      setStream(tile.querySelector('video'), cameraOn ? r.video : null);
      if (!p.self) setStream(tile.querySelector('audio'), r.audio || null);
      if (r.screen && p.screen !== false) {
        const st = tileFor(p.id, true);
        wanted.add(st);
        st.dataset.camera = 'on';
        const label = tr('media.screenOf', { name: p.name || '' });
        st.querySelector('.media-name').textContent = label;
        st.setAttribute('aria-label', label);
        st.querySelector('.media-placeholder').textContent = initials(p.name);
        setStream(st.querySelector('video'), r.screen);
      }
      if (!p.self && !state.known.has(p.id) && state.announceJoins) announce(tr('media.joined', { name: p.name || '' }));
      state.known.add(p.id);
    }
    const mix = state.remote.get(MIXER_ID);
    if (mix) { // the room's mix: its composite and the sound of everyone else
      const tile = tileFor(MIXER_ID, false);
      wanted.add(tile);
      tile.classList.add('media-tile-mixed');
      tile.dataset.camera = mix.video ? 'on' : 'off';
      const label = tr('media.mixedView');
      tile.querySelector('.media-name').textContent = label;
      tile.querySelector('.media-placeholder').textContent = '';
      tile.setAttribute('aria-label', label);
      setStream(tile.querySelector('video'), mix.video || null);
      setStream(tile.querySelector('audio'), mix.audio || null);
      if (tile !== grid.firstElementChild) grid.prepend(tile);
    }
    for (const tile of [...grid.querySelectorAll('.media-tile')]) {
      if (wanted.has(tile)) continue;
      for (const m of tile.querySelectorAll('video, audio')) m.srcObject = null;
      tile.remove();
    }
    grid.dataset.count = String(grid.querySelectorAll('.media-tile').length);
  }

  // --------------------------------------------------------------- events

  // Server events: through ctx.onEvent (several handlers per type), or, without
  // it, the app passes every event to media.handleEvent(msg).
  const handlers = new Map();
  const on = (type, h) => {
    handlers.set(type, h);
    if (ctx.onEvent) ctx.onEvent(type, h);
  };
  function handleEvent(msg) {
    const h = msg && handlers.get(msg.type);
    if (h) h(msg);
  }

  on('subscribe_offer', onSubscribeOffer);
  on('ice_candidate', ({ pc, candidate }) => {
    if (pc === 'publish') {
      if (state.pub && state.pub.remoteDescription) addRemoteCandidate(state.pub, candidate);
      else state.pubRemoteCands.push(candidate);
    } else if (pc === 'subscribe') {
      if (state.sub && state.sub.remoteDescription) addRemoteCandidate(state.sub, candidate);
      else state.subRemoteCands.push(candidate);
    }
  });
  on('active_speaker', ({ participant_id: id }) => {
    state.activeSpeaker = id;
    for (const tile of grid.querySelectorAll('.media-tile')) {
      tile.classList.toggle('media-speaking', tile.dataset.participantId === id && !tile.dataset.screen);
    }
  });
  on('media_error', (ev) => {
    recordError(ev);
    showError(tr('media.errConnect', { code: ev.code }));
    if (state.started && (ev.pc === 'publish' || ev.pc === 'subscribe')) rebuild(ev.pc);
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
    announce(tr('media.left', { name: p.name || '' }));
    render();
  });

  // --------------------------------------------------------------- actions

  // After the join response. opts: {selfId, selfName} if ctx did not give them.
  async function start(opts = {}) {
    if (opts.selfId) ctx.selfId = opts.selfId;
    if (opts.selfName) ctx.selfName = opts.selfName;
    if (state.started) return;
    state.started = true;
    state.stopped = false;
    // receive=mixed went with the join (app.js): the first subscribe offer
    // is already the mix
    if (!state.local) state.local = await getLocal();
    if (!localTrack('video')) state.camera = false;
    if (!localTrack('audio')) state.mic = false;
    controls.hidden = false;
    updateButtons();
    setupPublish();
    exposeForTests();
    render(); // those already here are not announced
    state.announceJoins = true;
    drainSubscribeOffers();
    await negotiatePublish();
    ctx.request('set_state', { mic: state.mic, camera: state.camera }).catch((e) => recordError(e));
  }

  function sendReceiveMode() {
    return ctx.request('set_receive', { mode: state.mixed ? 'mixed' : 'sfu' }).catch((e) => {
      recordError(e);
      throw e;
    });
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
      await sendReceiveMode();
      announce(tr(state.mixed ? 'media.mixedOn' : 'media.mixedOff'));
    } catch {
      state.mixed = before;
      updateButtons();
      render();
    }
  }

  async function setMic(on) {
    const track = localTrack('audio');
    state.mic = !!on && !!track;
    if (track) track.enabled = state.mic;
    updateButtons();
    render();
    if (state.started) await ctx.request('set_state', { mic: state.mic }).catch((e) => recordError(e));
  }

  async function setCamera(on) {
    state.camera = !!on; // the button answers at once; corrected below if no camera
    updateButtons();
    if (on) {
      const s = await getLocal(['video']);
      const track = s.getVideoTracks()[0] || null;
      state.camera = !!track;
      await swapLocalTrack('video', track);
    } else {
      state.camera = false;
      await swapLocalTrack('video', null); // the camera light goes off
    }
    updateButtons();
    render();
    if (state.started) await ctx.request('set_state', { camera: state.camera }).catch((e) => recordError(e));
  }

  async function startScreenShare() {
    if (state.screen || !state.pub) return;
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10 } }, audio: false });
    } catch (e) {
      showError(tr('media.errScreen', { msg: e.message || e.name }));
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
    await negotiatePublish();
    await ctx.request('set_state', { screen: true }).catch((e) => recordError(e));
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
    if (state.pub) await negotiatePublish();
    await ctx.request('set_state', { screen: false }).catch((e) => recordError(e));
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
    state.local?.getTracks().forEach((t) => t.stop());
    state.screenTrack?.stop();
    state.local = state.screenTrack = null;
    state.screen = false;
    state.remote = new Map();
    controls.hidden = true;
    for (const m of grid.querySelectorAll('video, audio')) m.srcObject = null;
    grid.querySelectorAll('.media-tile').forEach((t) => t.remove());
    if (previewVideo) previewVideo.srcObject = null;
    exposeForTests();
  }

  // Per remote participant: inbound audio/video counters of the subscribe PC.
  async function getRemoteStats() {
    const out = {};
    for (const tx of state.sub?.getTransceivers() || []) {
      const info = state.subMids.get(tx.mid);
      if (!info?.pid || tx.stopped) continue;
      const slot = info.trackId.startsWith('screen-') ? 'screen' : info.kind;
      let stats;
      try { stats = await tx.receiver.getStats(); } catch { continue; }
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        const o = (out[info.pid] ||= {});
        o[slot] = {
          packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
          framesDecoded: r.framesDecoded || 0, freezeCount: r.freezeCount || 0,
          totalFreezesDuration: r.totalFreezesDuration || 0, nackCount: r.nackCount || 0,
          keyFramesDecoded: r.keyFramesDecoded || 0, audioLevel: r.audioLevel || 0,
          totalAudioEnergy: r.totalAudioEnergy || 0, bytesReceived: r.bytesReceived || 0,
        };
      });
    }
    return out;
  }

  function onRemoteStats(cb, intervalMs = 2000) {
    clearInterval(state.statsTimer);
    state.statsTimer = setInterval(() => getRemoteStats().then(cb, () => {}), intervalMs);
    return () => clearInterval(state.statsTimer);
  }

  // window.__palabre: what the e2e tests read (getters, so always current).
  function exposeForTests() {
    if (window.__palabre?.media === api) return;
    window.__palabre = {
      get pcs() { return { publish: state.pub, subscribe: state.sub }; },
      get selfId() { return selfId(); },
      get errors() { return state.errors; },
      get iceRestarts() { return { ...state.restartCount }; },
      remoteStats: getRemoteStats,
      request: ctx.request, // lets a test leave the room as the app would
      media: api,
    };
  }

  const api = {
    preview, start, stop, setMic, setCamera, startScreenShare, stopScreenShare, setReceiveMixed,
    getRemoteStats, onRemoteStats, handleEvent,
    refresh: render,
    get state() { return { mic: state.mic, camera: state.camera, screen: state.screen, mixed: state.mixed }; },
    get localStream() { return state.local; },
  };
  exposeForTests();
  return api;
}
