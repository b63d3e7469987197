// Moderators' lobby panel: who knocks (name and the invite link's label),
// admit, deny, admit all. A knock is announced by a polite live region
// (role="status") that stays in the page, so screen readers read it even when
// the panel was empty before.
//
//   const lobby = createLobbyPanel({ request, onError });
//   lobby.el;  lobby.set([participants]);  lobby.knock(p);  lobby.left(id);
import { h } from './dom.js';
import { t } from './i18n.js';

export function createLobbyPanel({ request, onError }) {
  const waiting = new Map(); // id → {id, name, role, invite_label}
  const live = h('p', { class: 'lobby__live', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'lobby__list' });
  const empty = h('p', { class: 'lobby__empty' }, t('lobby.empty'));
  const allBtn = h('button', { type: 'button', class: 'btn btn--secondary btn--inline', hidden: true },
    t('lobby.admitAll'));
  const title = h('h2', { id: 'lobby-title' });
  const el = h('section', { class: 'panel panel--lobby', 'aria-labelledby': 'lobby-title', hidden: true },
    title, live, empty, list, allBtn);

  allBtn.addEventListener('click', async () => {
    try {
      await request('lobby_admit_all');
      // lobby_left (admitted) removes each one; the list also goes at once
      for (const id of [...waiting.keys()]) remove(id);
    } catch (e) { onError(e); }
  });

  function act(p, type) {
    return async () => {
      try {
        await request(type, { participant_id: p.id });
        remove(p.id);
      } catch (e) { onError(e); }
    };
  }

  function render() {
    title.textContent = t('lobby.title', { n: waiting.size });
    list.replaceChildren(...[...waiting.values()].map((p) => h('li', { class: 'lobby__item', 'data-participant-id': p.id },
      h('p', { class: 'lobby__who' }, h('span', { class: 'person__name' }, p.name),
        p.invite_label ? h('span', { class: 'lobby__label' }, ` — ${p.invite_label}`) : null),
      h('p', { class: 'lobby__actions' },
        h('button', { type: 'button', class: 'btn btn--primary btn--inline', onclick: act(p, 'lobby_admit'),
          'aria-label': t('lobby.admitWho', { name: p.name }) }, t('lobby.admit')),
        ' ',
        h('button', { type: 'button', class: 'btn btn--danger btn--inline', onclick: act(p, 'lobby_deny'),
          'aria-label': t('lobby.denyWho', { name: p.name }) }, t('lobby.deny'))))));
    empty.hidden = waiting.size > 0;
    allBtn.hidden = waiting.size < 2;
  }

  function remove(id) {
    if (!waiting.delete(id)) return;
    // focus was on a button of the one that went: keep it in the panel
    const focusLost = !el.contains(document.activeElement);
    render();
    if (focusLost && document.activeElement === document.body) (list.querySelector('button') || title).focus?.();
  }

  render();
  return {
    el,
    // shown to moderators only (the room's role can change during the meeting)
    setVisible(on) { el.hidden = !on; },
    set(people) {
      waiting.clear();
      for (const p of people || []) waiting.set(p.id, p);
      render();
    },
    knock(p) {
      waiting.set(p.id, p);
      render();
      live.textContent = p.invite_label
        ? t('lobby.knockLabel', { name: p.name, label: p.invite_label })
        : t('lobby.knock', { name: p.name });
    },
    left(id) { remove(id); },
    get count() { return waiting.size; },
  };
}
