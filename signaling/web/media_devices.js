// Camera and microphone: getUserMedia with the remembered devices, the local
// tracks, and the pre-join preview with its device <select>s.
//
//   const devices = createDevices(m);  // m: the media state shared by media.js
//   await devices.getLocal(['video']); devices.localTrack('audio');
//   await devices.swapLocalTrack('video', track | null); await devices.preview();
import { h } from './dom.js';
import { t } from './i18n.js';

const STORE_KEY = 'palabre.devices';

// {audio: deviceId, video: deviceId} chosen earlier on this browser
export function loadDevices() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY)) || {}; } catch { return {}; }
}

export function createDevices(m) {
  const { state } = m;
  let previewVideo = null;
  const selects = {};

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
          try {
            (await navigator.mediaDevices.getUserMedia({ [k]: constraints(k) })).getTracks().forEach((tr) => s.addTrack(tr));
          } catch { /* absent */ }
        }
        if (s.getTracks().length) return s;
      }
      m.showError(t('media.errDevices', { msg: e.message || e.name }));
      return new MediaStream();
    }
  }

  function localTrack(kind) {
    return state.local?.getTracks().find((tr) => tr.kind === kind && tr.readyState === 'live') || null;
  }

  // Replaces the local track of `kind` (device change, camera back on) everywhere.
  async function swapLocalTrack(kind, track) {
    const old = state.local?.getTracks().filter((tr) => tr.kind === kind) || [];
    if (!state.local) state.local = new MediaStream();
    for (const tr of old) { state.local.removeTrack(tr); tr.stop(); }
    if (track) {
      if (kind === 'audio') track.enabled = state.mic;
      state.local.addTrack(track);
    }
    const tx = state.pubTx[kind];
    if (tx) await tx.sender.replaceTrack(track);
    if (previewVideo) previewVideo.srcObject = state.local;
    m.render();
  }

  async function preview() {
    const box = m.ctx.preJoinContainer;
    if (!box) return;
    box.classList.add('media-prejoin');
    if (!state.local) state.local = await getLocal();
    if (!previewVideo) {
      previewVideo = h('video', { class: 'media-preview', autoplay: true, playsinline: true, 'aria-label': t('media.preview') });
      previewVideo.muted = true;
      const row = h('div', { class: 'media-devices' });
      for (const [kind, label, none] of [['video', 'media.camera', 'media.noCamera'], ['audio', 'media.microphone', 'media.noMicrophone']]) {
        const id = `media-select-${kind}`;
        const sel = h('select', { id, class: 'media-select', 'data-kind': kind, onchange: () => chooseDevice(kind, sel.value) });
        selects[kind] = { sel, none };
        row.append(h('div', { class: 'media-field' }, h('label', { for: id }, t(label)), sel));
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
        const o = h('option', { value: d.deviceId }, d.label || t('media.deviceDefault', { n: i + 1 }));
        o.selected = d.deviceId === current;
        return o;
      }));
      if (!list.length) sel.append(h('option', { value: '' }, t(none)));
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

  function stopPreview() {
    if (previewVideo) previewVideo.srcObject = null;
  }

  return { getLocal, localTrack, swapLocalTrack, preview, stopPreview };
}
