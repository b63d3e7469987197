// The home page: "my rooms" (rooms_mine after auth), a form that creates a
// room (room_create: slug and title), and the form that opens a room by name.
// Token mode without a token: only a message that sign-in is needed.
import { createConnection } from './connection.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { authFields } from './identity.js';
import { oidcMode, signedIn, signInLink } from './signin.js';
import { show, field, errorText } from './ui.js';

export const ROOM_RE = /^[a-z0-9-]{1,64}$/;

// "Conseil municipal — Étude" → "conseil-municipal-etude"
export function slugify(title) {
  return title.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '');
}

const wsUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

export function homeScreen(notice) {
  const status = h('p', { class: 'rooms__status', role: 'status' }, t('home.loading'));
  const list = h('ul', { class: 'rooms', hidden: true });
  const mine = h('section', { class: 'card', 'aria-labelledby': 'mine-title' },
    h('h2', { id: 'mine-title' }, t('home.mine')), status, list);
  const create = createForm();
  const join = joinForm();
  const box = h('div', { class: 'container narrow home' },
    h('h1', {}, t('home.title')),
    notice ? h('p', { class: 'notice notice--error', role: 'alert' }, notice) : null,
    mine, create.el, join);
  show(t('home.title'), box);

  const conn = createConnection({ url: wsUrl(), onOpen: () => load() });
  create.conn = conn;
  conn.start();

  async function load() {
    try {
      await conn.request('auth', authFields());
      const d = await conn.request('rooms_mine');
      render(d.rooms || []);
    } catch (e) {
      if (e.code === 'offline' || e.code === 'timeout') return; // again on reopen
      if (e.code === 'auth_required' || e.code === 'bad_token') { signIn(e); return; }
      status.textContent = t('home.mineError', { msg: errorText(e) });
    }
  }

  function render(rooms) {
    list.replaceChildren(...rooms.map((r) => h('li', { class: 'rooms__item', 'data-room': r.name },
      h('a', { href: `/r/${r.name}`, class: 'rooms__link' }, r.title || r.name),
      ' ', h('span', { class: 'rooms__slug' }, `/r/${r.name}`),
      ' ', h('span', { class: `person__role role--${r.your_role}` }, t(r.owner ? 'role.owner' : `role.${r.your_role || 'participant'}`)))));
    list.hidden = rooms.length === 0;
    status.textContent = rooms.length ? t('home.mineCount', { n: rooms.length }) : t('home.mineEmpty');
  }

  // Token mode and no (valid) token: nothing here works without signing in.
  function signIn(e) {
    conn.stop();
    // OpenID Connect: the way in is the sign-in button (signin.js)
    const text = oidcMode() ? t(signedIn() ? 'home.notAgent' : 'home.signInOidc')
      : e.code === 'bad_token' ? t('error.bad_token_home', { msg: e.message || '' }) : t('home.signIn');
    box.replaceChildren(h('h1', {}, t('home.signInTitle')),
      h('p', { class: 'notice notice--error', role: 'alert' }, text),
      oidcMode() && !signedIn() ? h('p', { class: 'actions' }, signInLink()) : null);
    box.querySelector('h1').tabIndex = -1;
    box.querySelector('h1').focus();
  }
}

function createForm() {
  const title = h('input', { type: 'text', name: 'title', autocomplete: 'off', maxlength: '120', required: true });
  const slug = h('input', { type: 'text', name: 'room', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'none', maxlength: '64', required: true });
  const ft = field({ id: 'create-title', label: t('create.title'), hint: t('create.titleHint'), input: title });
  const fs = field({ id: 'create-room', label: t('create.room'), hint: t('home.hint'), input: slug });
  let slugEdited = false;
  slug.addEventListener('input', () => { slugEdited = slug.value !== ''; });
  title.addEventListener('input', () => { if (!slugEdited) slug.value = slugify(title.value); });
  const btn = h('button', { type: 'submit', class: 'btn btn--primary' }, t('create.submit'));
  const form = h('form', { class: 'form', novalidate: true }, ft.wrap, fs.wrap, btn);
  const self = {
    conn: null,
    el: h('section', { class: 'card', 'aria-labelledby': 'create-heading' },
      h('h2', { id: 'create-heading' }, t('create.heading')), form),
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    ft.setError(''); fs.setError('');
    const tv = title.value.trim();
    const room = slug.value.trim();
    if (!tv || [...tv].length > 120) { ft.setError(t('create.titleInvalid')); title.focus(); return; }
    if (!ROOM_RE.test(room)) { fs.setError(t('home.invalid')); slug.focus(); return; }
    btn.disabled = true;
    try {
      await self.conn.request('room_create', { room, title: tv });
      location.assign(`/r/${room}`);
    } catch (err) {
      btn.disabled = false;
      fs.setError(errorText(err));
      slug.focus();
    }
  });
  return self;
}

function joinForm() {
  const input = h('input', { type: 'text', name: 'room', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'none', maxlength: '64', required: true });
  const f = field({ id: 'room-name', label: t('home.label'), hint: t('home.hint'), input });
  const form = h('form', { class: 'form', novalidate: true }, f.wrap,
    h('button', { type: 'submit', class: 'btn btn--primary' }, t('home.submit')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const room = input.value.trim();
    if (!ROOM_RE.test(room)) { f.setError(t('home.invalid')); input.focus(); return; }
    location.assign(`/r/${room}`);
  });
  return h('section', { class: 'card', 'aria-labelledby': 'join-heading' },
    h('h2', { id: 'join-heading' }, t('home.joinHeading')), h('p', {}, t('home.intro')), form);
}
