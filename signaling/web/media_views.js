// Tile view reporting (docs/protocol.md "set_track_view"): after the stage is
// laid out, tells the server how big each remote video tile is on screen (in
// device pixels) and whether it shows at all, so that it forwards the smallest
// simulcast layer that fills the tile and nothing for a hidden one. Debounced:
// a resize sends once it settles, and only what changed.
//
//   const views = createViews(m);  // m: the media state shared by media.js
//   views.schedule(grid);          // after every layout
const DEBOUNCE_MS = 250;

export function createViews(m) {
  const { state, ctx } = m;
  const sent = new Map(); // `${pid}:${source}:${mid}` → "w x h visible" last told
  let timer = 0;

  function schedule(grid) {
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

  return { schedule };
}
