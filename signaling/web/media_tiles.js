// The video stage: one tile per participant (video, or the initials when the
// camera is off or nothing is received yet; the participant's <audio>), one per
// screen share, one for the room's mix; laid out by grid_layout.js to fill the
// stage at any size and count, a page at a time past what fits legibly, with
// previous/next buttons.
//
//   const tiles = createTiles(m);   // m: the media state shared by media.js
//   tiles.render();                 // after any change of participants, tracks or state
//   tiles.markSpeaker(id); tiles.clear(); tiles.onQuality(ev) (track_quality)
import { h } from './dom.js';
import { t } from './i18n.js';
import { planStage } from './grid_layout.js';
import { createViews } from './media_views.js';

// The stream id (msid) of the room mixer's tracks in subscribe offers.
export const MIXER_ID = 'mixer';
const SMALL_TILE = 240; // px: smaller type in the caption and the initials below this width

// Inline icons (no icon font, no emoji font needed); decorative, aria-hidden.
const ICONS = {
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/>',
  camera: '<path d="M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z"/>',
  screen: '<path d="M20 3H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h6v2H8v1h8v-1h-2v-2h6a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 13H4V5h16z"/>',
  mixed: '<path d="M3 3h8v8H3zm10 0h8v8h-8zM3 13h8v8H3zm10 0h8v8h-8z"/>',
  micOff: '<path d="M19 11h-2a5 5 0 0 1-.7 2.5l1.5 1.5A7 7 0 0 0 19 11zM15 11V5a3 3 0 0 0-5.9-.8L15 10.1zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.4 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.4-1.3l3.3 3.3 1.3-1.3z"/>',
};

export function icon(name) {
  const span = h('span', { class: 'media-icon', 'aria-hidden': 'true' });
  span.innerHTML = `<svg viewBox="0 0 24 24" width="20" height="20" fill="currentColor" focusable="false">${ICONS[name]}</svg>`;
  return span;
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => [...w][0] || '').join('').toUpperCase() || '?';
}

const featured = (tile) => tile.classList.contains('media-tile-screen') || tile.classList.contains('media-tile-mixed');

function setStream(media, track) {
  const cur = media.srcObject?.getTracks()[0];
  if (cur === track || (!cur && !track)) return;
  media.srcObject = track ? new MediaStream([track]) : null;
  if (track) media.play?.().catch(() => {});
}

export function createTiles(m) {
  const { state, ctx, grid } = m;
  let page = 0;
  const views = createViews(m);

  const status = h('p', { class: 'media-pager-status', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'media-pager-btn', onclick: () => turn(-1) }, t('media.pagePrev'));
  const next = h('button', { type: 'button', class: 'media-pager-btn', onclick: () => turn(1) }, t('media.pageNext'));
  const pager = h('nav', { class: 'media-pager', 'aria-label': t('media.pages'), hidden: true }, prev, status, next);
  grid.after(pager);
  new ResizeObserver(() => layout()).observe(grid);
  // a burst of joins or events lays the stage out once, at the next frame
  let pending = 0;
  const scheduleLayout = () => { pending ||= requestAnimationFrame(() => { pending = 0; layout(); }); };

  function turn(delta) {
    page += delta;
    layout();
    // a button that just became disabled loses the focus: give it to the other one
    if (document.activeElement === document.body || document.activeElement?.disabled) {
      (prev.disabled ? next : prev).focus();
    }
  }

  // The stage's height, for the layout. With --stage-fit: content (the page's
  // CSS, when the stage is above the chat: phones), the stage is only as tall
  // as its tiles and leaves the rest to the chat; the space it may take is
  // measured with the grid asking for the whole window.
  function fitToContent() {
    return getComputedStyle(grid).getPropertyValue('--stage-fit').trim() === 'content';
  }

  // Places every tile; the others than the featured ones a page at a time.
  function layout() {
    cancelAnimationFrame(pending);
    pending = 0;
    const all = [...grid.querySelectorAll('.media-tile')];
    const fit = fitToContent();
    grid.style.height = fit && all.length ? `${window.innerHeight}px` : '';
    const width = grid.clientWidth, height = grid.clientHeight;
    if (!width || !height) return; // not on screen yet: the resize observer calls again
    const feat = all.filter(featured);
    const others = all.filter((tile) => !featured(tile));
    const plan = planStage({ width, height, featured: feat.length, others: others.length, page, shrink: fit });
    page = plan.page;
    const rects = [...plan.featured, ...plan.others];
    const top = fit ? Math.min(...rects.map((r) => r.y)) : 0;
    if (fit) grid.style.height = `${Math.max(...rects.map((r) => r.y + r.h)) - top}px`;
    const at = (r) => r && { ...r, y: r.y - top };
    feat.forEach((tile, i) => place(tile, at(plan.featured[i])));
    others.forEach((tile, i) => place(tile, at(plan.others[i - page * plan.perPage])));
    pager.hidden = plan.pages < 2;
    prev.disabled = page === 0;
    next.disabled = page >= plan.pages - 1;
    const said = t('media.page', { n: page + 1, total: plan.pages });
    if (status.textContent !== said) status.textContent = said; // a live region: only changes are read
    grid.dataset.pages = String(plan.pages);
    grid.dataset.laidOut = String(all.length); // tests wait for this
    views.schedule(grid);
  }

  function place(tile, r) {
    tile.hidden = !r;
    if (!r) return;
    tile.style.left = `${r.x}px`;
    tile.style.top = `${r.y}px`;
    tile.style.width = `${r.w}px`;
    tile.style.height = `${r.h}px`;
    tile.classList.toggle('media-tile-small', r.w < SMALL_TILE);
  }

  // Self first, then the app's list, then those only events have told of yet.
  function everyone() {
    const list = [];
    const me = m.selfId();
    if (me) list.push({ id: me, name: m.selfName(), mic: state.mic, camera: state.camera, screen: state.screen, self: true });
    for (const p of (ctx.participants?.() || [])) {
      if (p.id === me) continue;
      list.push({ ...p, ...(state.latest.get(p.id) || {}) });
    }
    for (const [id, p] of state.latest) {
      if (id !== me && !p.gone && !list.some((q) => q.id === id)) list.push(p);
    }
    return list.filter((p) => !state.latest.get(p.id)?.gone);
  }

  function tileFor(id, screen) {
    const key = screen ? `${id}:screen` : id;
    let tile = grid.querySelector(`[data-tile="${CSS.escape(key)}"]`);
    if (tile) return tile;
    const video = h('video', { class: 'media-video', autoplay: true, playsinline: true });
    video.muted = true; // sound goes through the participant's <audio>
    tile = h('figure', { class: 'media-tile', 'data-tile': key, 'data-participant-id': id },
      video, h('div', { class: 'media-placeholder', 'aria-hidden': 'true' }),
      h('figcaption', { class: 'media-caption' },
        h('span', { class: 'media-mic-off', role: 'img', hidden: true }, icon('micOff')),
        h('span', { class: 'media-name' })));
    if (screen) {
      tile.classList.add('media-tile-screen');
      tile.dataset.screen = 'true';
    } else {
      tile.append(h('audio', { class: 'media-audio', autoplay: true }));
    }
    grid.append(tile);
    return tile;
  }

  function renderPerson(p, wanted) {
    const r = p.self ? { video: m.devices.localTrack('video'), screen: state.screenTrack } : (state.remote.get(p.id) || {});
    const tile = tileFor(p.id, false);
    wanted.add(tile);
    const cameraOn = p.camera !== false && !!r.video;
    tile.dataset.camera = cameraOn ? 'on' : 'off';
    tile.dataset.mic = p.mic === false ? 'off' : 'on';
    tile.classList.toggle('media-self', !!p.self);
    tile.classList.toggle('media-speaking', state.activeSpeaker === p.id);
    const shown = p.self ? t('media.you', { name: p.name || '' }) : (p.name || '');
    tile.querySelector('.media-name').textContent = shown;
    tile.querySelector('.media-placeholder').textContent = initials(p.name);
    const micIcon = tile.querySelector('.media-mic-off');
    micIcon.hidden = p.mic !== false;
    micIcon.setAttribute('aria-label', t('media.micOff'));
    // receiving the mix, a camera that is on shows in the composite, not here
    const camOffShown = state.mixed && !p.self ? p.camera === false : !cameraOn;
    const status = [p.mic === false && t('media.micOff'), camOffShown && t('media.cameraOff'),
      state.activeSpeaker === p.id && t('media.speaking')].filter(Boolean).join(', ');
    tile.setAttribute('aria-label', status ? `${shown}, ${status}` : shown);
    setStream(tile.querySelector('video'), cameraOn ? r.video : null);
    if (!p.self) setStream(tile.querySelector('audio'), r.audio || null);
    if (r.screen && p.screen !== false) {
      const st = tileFor(p.id, true);
      wanted.add(st);
      st.dataset.camera = 'on';
      const label = t('media.screenOf', { name: p.name || '' });
      st.querySelector('.media-name').textContent = label;
      st.setAttribute('aria-label', label);
      st.querySelector('.media-placeholder').textContent = initials(p.name);
      setStream(st.querySelector('video'), r.screen);
    }
    if (!p.self && !state.known.has(p.id) && state.announceJoins) m.announce(t('media.joined', { name: p.name || '' }));
    state.known.add(p.id);
  }

  function renderMix(mix, wanted) { // the room's mix: its composite and the sound of everyone else
    const tile = tileFor(MIXER_ID, false);
    wanted.add(tile);
    tile.classList.add('media-tile-mixed');
    tile.dataset.camera = mix.video ? 'on' : 'off';
    const label = t('media.mixedView');
    tile.querySelector('.media-name').textContent = label;
    tile.querySelector('.media-placeholder').textContent = '';
    tile.setAttribute('aria-label', label);
    setStream(tile.querySelector('video'), mix.video || null);
    setStream(tile.querySelector('audio'), mix.audio || null);
    if (tile !== grid.firstElementChild) grid.prepend(tile);
  }

  function render() {
    const wanted = new Set();
    for (const p of everyone()) renderPerson(p, wanted);
    const mix = state.remote.get(MIXER_ID);
    if (mix) renderMix(mix, wanted);
    for (const tile of [...grid.querySelectorAll('.media-tile')]) {
      if (wanted.has(tile)) continue;
      for (const el of tile.querySelectorAll('video, audio')) el.srcObject = null;
      tile.remove();
    }
    grid.dataset.count = String(grid.querySelectorAll('.media-tile').length);
    scheduleLayout();
  }

  function markSpeaker(id) {
    for (const tile of grid.querySelectorAll('.media-tile')) {
      tile.classList.toggle('media-speaking', tile.dataset.participantId === id && !tile.dataset.screen);
    }
  }

  function clear() {
    for (const el of grid.querySelectorAll('video, audio')) el.srcObject = null;
    grid.querySelectorAll('.media-tile').forEach((tile) => tile.remove());
    layout();
    pager.hidden = true;
  }

  return { render, markSpeaker, clear, onQuality: views.onQuality };
}
