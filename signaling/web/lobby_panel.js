// Moderators' lobby panel: who knocks (name and the invite link's label),
// admit, deny, admit all. The panel shows only while someone waits (the room
// keeps its height for the stage and the chat); a knock is announced by a
// polite live region (role="status", lobby.live) that stays in the page even
// when the panel is hidden, so that screen readers read it.
//
//   const lobby = createLobbyPanel({ request, onError });
//   lobby.el, lobby.live (both into the page);  lobby.set([participants]);
//   lobby.knock(p);  lobby.left(id);
import { h } from './dom.js';
import { t } from './i18n.js';

export function createLobbyPanel({ request, onError }) {
  const waiting = new Map(); // id → {id, name, role, invite_label}
  const live = h('p', { class: 'lobby__live sr-only', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'lobby__list' });
  const allBtn = h('button', { type: 'button', class: 'btn btn--secondary btn--inline', hidden: true },
    t('lobby.admitAll'));
  const title = h('h2', { id: 'lobby-title' });
  const el = h('section', { class: 'panel panel--lobby', 'aria-labelledby': 'lobby-title', hidden: true },
    title, list, allBtn);
  let visible = false;

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
    allBtn.hidden = waiting.size < 2;
    el.hidden = !visible || waiting.size === 0;
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
    live,
    // shown to moderators only (the room's role can change during the meeting)
    setVisible(on) { visible = on; render(); },
    // the lobby as the join found it: those who came before any moderator
    set(people) {
      waiting.clear();
      for (const p of people || []) waiting.set(p.id, p);
      render();
      if (visible && waiting.size) live.textContent = t('lobby.waitingN', { n: waiting.size });
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
