// Tile view reporting (docs/protocol.md "set_track_view"): after the stage is
// laid out, tells the server how big each remote video tile is on screen (in
// device pixels) and whether it shows at all, so that it forwards the smallest
// simulcast layer that fills the tile and nothing for a hidden one. Debounced:
// a resize sends once it settles, and only what changed.
//
// It also shows what the server says of each track (docs/protocol.md
// "track_quality"): a tile whose video the subscriber's bandwidth reduced or
// paused gets a small indicator, "Video reduced (network)" / "Video paused
// (network)", announced by screen readers when it appears.
//
//   const views = createViews(m);  // m: the media state shared by media.js
//   views.schedule(grid);          // after every layout
//   views.onQuality(ev);           // a track_quality event
import { h } from './dom.js';
import { t } from './i18n.js';

const DEBOUNCE_MS = 250;

export function createViews(m) {
  const { state, ctx } = m;
  const sent = new Map(); // `${pid}:${source}:${mid}` → "w x h visible" last told
  const quality = new Map(); // `${pid}:${source}` → 'reduced' | 'paused' (bandwidth only)
  let timer = 0;
  let lastGrid = null;

  function schedule(grid) {
    lastGrid = grid;
    showQuality(grid);
    clearTimeout(timer);
    timer = setTimeout(() => report(grid), DEBOUNCE_MS);
  }

  function report(grid) {
    if (state.stopped || !state.started) return;
    const dpr = window.devicePixelRatio || 1;
    const seen = new Set();
    for (const tile of grid.querySelectorAll('.media-tile')) {
      const pid = tile.dataset.participantId;
      const source = tile.dataset.screen ? 'screen' : 'camera';
      const r = state.remote.get(pid);
      const mid = r?.[source === 'screen' ? 'screenMid' : 'videoMid'];
      if (!mid || tile.classList.contains('media-self')) continue;
      const key = `${pid}:${source}:${mid}`;
      seen.add(key);
      const visible = !tile.hidden && tile.dataset.camera === 'on' && !state.mixed;
      const width = visible ? Math.round(tile.clientWidth * dpr) : 0;
      const height = visible ? Math.round(tile.clientHeight * dpr) : 0;
      const said = `${width}x${height} ${visible}`;
      if (sent.get(key) === said) continue;
      sent.set(key, said);
      ctx.request('set_track_view', { participant_id: pid, source, width, height, visible })
        .catch((e) => {
          sent.delete(key); // told again at the next layout
          // the participant left or unpublished meanwhile: not an error of ours
          if (e?.code !== 'unknown_track' && e?.code !== 'unknown_participant') m.recordError?.(e);
        });
    }
    for (const key of [...sent.keys()]) if (!seen.has(key)) sent.delete(key);
  }

  // track_quality {participant_id, source, layer, paused, reason}
  function onQuality(ev) {
    const key = `${ev.participant_id}:${ev.source}`;
    if (ev.reason === 'bandwidth') quality.set(key, ev.paused ? 'paused' : 'reduced');
    else quality.delete(key);
    if (lastGrid) showQuality(lastGrid);
  }

  // The indicator of each tile, as the last track_quality said (kept across layouts).
  function showQuality(grid) {
    for (const tile of grid.querySelectorAll('.media-tile')) {
      const source = tile.dataset.screen ? 'screen' : 'camera';
      const q = tile.classList.contains('media-self') ? undefined
        : quality.get(`${tile.dataset.participantId}:${source}`);
      let badge = tile.querySelector('.media-quality');
      if (!q) {
        if (badge) badge.remove();
        tile.removeAttribute('data-quality');
        continue;
      }
      const text = t(q === 'paused' ? 'media.videoPausedNetwork' : 'media.videoReduced');
      if (!badge) {
        // role=status: announced once when it appears or changes, not on every layout
        badge = h('span', { class: 'media-quality', role: 'status' });
        (tile.querySelector('.media-caption') || tile).append(badge);
      }
      if (badge.textContent !== text) badge.textContent = text;
      tile.dataset.quality = q;
    }
  }

  return { schedule, onQuality };
}
