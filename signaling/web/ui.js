// Screen-level helpers shared by the client's screens: show a screen, a form
// field with hint and error, the header's connection state, a closing screen.
import { h } from './dom.js';
import { t } from './i18n.js';

export const main = () => document.getElementById('main');

// room: the screen is an application filling the window (no page scroll).
// The new screen's h1 takes the focus, so a screen reader reads where we are.
export function show(title, ...content) {
  document.title = `${title} — Palabre`;
  document.body.classList.toggle('in-room', content[0]?.classList?.contains('room') ?? false);
  main().replaceChildren(...content);
  const h1 = main().querySelector('h1');
  if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
}

export function field({ id, label, hint, input }) {
  const hintId = `${id}-hint`;
  const errId = `${id}-error`;
  input.id = id;
  input.setAttribute('aria-describedby', hint ? `${hintId} ${errId}` : errId);
  const err = h('p', { class: 'field__error', id: errId, hidden: true });
  const wrap = h('div', { class: 'field' },
    h('label', { class: 'field__label', for: id }, label),
    hint ? h('p', { class: 'field__hint', id: hintId }, hint) : null, input, err);
  return {
    wrap,
    setError(msg) {
      err.textContent = msg || '';
      err.hidden = !msg;
      wrap.classList.toggle('field--error', !!msg);
      if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    },
  };
}

export function setConnState(state) {
  const el = document.getElementById('conn-status');
  el.hidden = false;
  el.dataset.state = state;
  el.textContent = t(`conn.${state}`);
}

// The message of an error code (i18n "error.<code>"), else the server's text.
export function errorText(e) {
  const key = `error.${e?.code}`;
  const s = t(key);
  return s !== key ? s : (e?.message || e?.code || '?');
}

// The end of a visit (left, denied, removed, ended): a title, what happened,
// and the ways on. kind: a data-end attribute the tests and styles read.
export function endScreen({ kind, title, text, actions = [] }) {
  show(title, h('div', { class: 'container narrow end', 'data-end': kind },
    h('h1', {}, title),
    text ? h('p', { class: 'lead end__text' }, text) : null,
    h('p', { class: 'actions' }, ...actions,
      h('a', { href: '/', class: actions.length ? 'btn btn--secondary' : 'btn btn--primary' }, t('left.home')))));
}
