// Moderation in the room: the menu of each participant (mute microphone or
// camera, allow unmute, remove, remove and ban, promote or step back) and the
// "Manage the room" dialog (lock, guests' chat, lobby, mute all, end the
// meeting after a confirmation). Shown only to those who may use them; the
// server checks every request again (docs/protocol.md "Roles and powers").
import { createDialog } from './dialog.js';
import { h } from './dom.js';
import { t } from './i18n.js';

export const canModerate = (p) => p?.role === 'owner' || p?.role === 'moderator';

// The actions `self` may take on `target`: owner > moderator > participant >
// guest; nobody acts on the owner or on themselves; a moderator does not act
// on another moderator (only the owner does).
export function powersOver(self, target) {
  if (!self || !target || self.id === target.id || !canModerate(self) || target.role === 'owner') return [];
  if (self.role === 'moderator' && target.role === 'moderator') return [];
  const acts = [target.mic_blocked ? 'allow_mic' : 'mute_mic', target.camera_blocked ? 'allow_camera' : 'mute_camera'];
  if (target.role !== 'moderator') acts.push('promote');
  else if (self.role === 'owner') acts.push('demote');
  acts.push('remove', 'ban');
  return acts;
}

function requestFor(action, p) {
  const id = { participant_id: p.id };
  switch (action) {
    case 'mute_mic': return ['mute', { ...id, kind: 'mic' }];
    case 'mute_camera': return ['mute', { ...id, kind: 'camera' }];
    case 'allow_mic': return ['allow_unmute', { ...id, kind: 'mic' }];
    case 'allow_camera': return ['allow_unmute', { ...id, kind: 'camera' }];
    case 'promote': return ['set_role', { ...id, role: 'moderator' }];
    // a guest promoted for the meeting goes back to guest, an agent to participant
    case 'demote': return ['set_role', { ...id, role: p.is_agent ? 'participant' : 'guest' }];
    case 'remove': return ['remove', id];
    case 'ban': return ['remove', { ...id, ban: true }];
    default: throw new Error(action);
  }
}

const openMenus = new Set(); // participant ids whose menu is open (kept across renders)

// A disclosure (button + group of buttons) in the participant's entry, or null
// when self may do nothing to p. run(type, fields) sends the request.
export function participantMenu(self, p, run) {
  const acts = powersOver(self, p);
  if (!acts.length) { openMenus.delete(p.id); return null; }
  const groupId = `pm-${p.id}`;
  const open = openMenus.has(p.id);
  const toggle = h('button', { type: 'button', class: 'btn btn--secondary btn--inline person__menu-btn',
    'aria-expanded': String(open), 'aria-controls': groupId, 'data-focus-key': `menu:${p.id}` },
  t('pm.open'), h('span', { class: 'sr-only' }, ` ${t('pm.for', { name: p.name })}`));
  const group = h('ul', { id: groupId, class: 'person__menu', 'aria-label': t('pm.label', { name: p.name }), hidden: !open },
    ...acts.map((a) => h('li', {}, h('button', {
      type: 'button', class: `btn btn--inline ${a === 'remove' || a === 'ban' ? 'btn--danger' : 'btn--secondary'}`,
      'data-action': a, 'data-focus-key': `act:${p.id}:${a}`,
      onclick: async () => {
        const [type, fields] = requestFor(a, p);
        if (await run(type, fields)) { openMenus.delete(p.id); toggle.focus(); }
      },
    }, t(`pm.${a}`)))));
  const setOpen = (on) => {
    if (on) openMenus.add(p.id); else openMenus.delete(p.id);
    toggle.setAttribute('aria-expanded', String(on));
    group.hidden = !on;
  };
  toggle.addEventListener('click', () => {
    setOpen(!openMenus.has(p.id));
    if (openMenus.has(p.id)) group.querySelector('button').focus();
  });
  group.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); setOpen(false); toggle.focus(); }
  });
  return h('div', { class: 'person__menu-box' }, toggle, group);
}

// The room's settings and meeting-wide actions, in a dialog.
export function createRoomControls({ run, info }) {
  const d = createDialog({ id: 'room-dialog', title: t('rc.title'), onOpen: () => update(info()) });
  const button = h('button', { type: 'button', class: 'btn btn--secondary', id: 'room-manage',
    'aria-haspopup': 'dialog', onclick: () => d.open() }, t('rc.open'));
  const checks = {};
  const settings = h('fieldset', { class: 'rc__settings' }, h('legend', {}, t('rc.settings')));
  for (const key of ['locked', 'guest_chat', 'lobby']) {
    const box = h('input', { type: 'checkbox', id: `rc-${key}`, 'aria-describedby': `rc-${key}-hint` });
    box.addEventListener('change', async () => {
      const want = box.checked;
      if (!await run('room_update', { [key]: want })) box.checked = !want;
    });
    checks[key] = box;
    settings.append(h('div', { class: 'field field--check' }, box,
      h('label', { for: `rc-${key}` }, t(`rc.${key}`)),
      h('p', { class: 'field__hint', id: `rc-${key}-hint` }, t(`rc.${key}Hint`))));
  }
  const status = h('p', { class: 'rc__status', role: 'status' });
  const muteAll = h('button', { type: 'button', class: 'btn btn--secondary' }, t('rc.muteAll'));
  muteAll.addEventListener('click', async () => {
    const r = await run('mute_all', { kind: 'mic' });
    if (r) status.textContent = t('rc.mutedAll', { n: r.muted ?? 0 });
  });
  const end = h('button', { type: 'button', class: 'btn btn--danger' }, t('rc.end'));
  const confirmYes = h('button', { type: 'button', class: 'btn btn--danger', id: 'rc-end-confirm' }, t('rc.endYes'));
  const confirmNo = h('button', { type: 'button', class: 'btn btn--secondary' }, t('rc.endNo'));
  const confirmBox = h('div', { class: 'rc__confirm', role: 'group', 'aria-labelledby': 'rc-confirm-q', hidden: true },
    h('p', { id: 'rc-confirm-q' }, t('rc.endQuestion')), h('p', { class: 'actions' }, confirmYes, confirmNo));
  end.addEventListener('click', () => { confirmBox.hidden = false; confirmNo.focus(); });
  confirmNo.addEventListener('click', () => { confirmBox.hidden = true; end.focus(); });
  confirmYes.addEventListener('click', async () => { if (await run('end_meeting', {})) d.close(); });
  d.body.append(settings, h('p', { class: 'actions' }, muteAll, end), confirmBox, status);

  function update(ri) {
    const s = ri?.settings || {};
    for (const [k, box] of Object.entries(checks)) box.checked = !!s[k];
  }
  return { button, update, remove: () => { d.remove(); button.remove(); } };
}
