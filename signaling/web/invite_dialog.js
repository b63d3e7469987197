// The "Inviter" dialog (moderators): create a link (label, expiry in days,
// optional number of uses, lobby or not), copy it, download it as an .ics
// event, list the room's links with their state and revoke them.
//
//   const inv = createInviteDialog({ request, room, title: () => roomTitle });
//   inv.button (opens it), inv.remove()
import { createDialog } from './dialog.js';
import { h } from './dom.js';
import { buildIcs } from './ics.js';
import { t, lang } from './i18n.js';
import { field, errorText } from './ui.js';

const DAY_S = 86400;
const MAX_DAYS = 90;

const dateFmt = () => new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'fr-FR', { dateStyle: 'medium', timeStyle: 'short' });
const pad = (n) => String(n).padStart(2, '0');
const localDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

export function createInviteDialog({ request, room, title }) {
  const d = createDialog({ id: 'invite-dialog', title: t('invite.title'), onOpen: () => refresh() });
  const button = h('button', { type: 'button', class: 'btn btn--secondary', id: 'invite-open',
    'aria-haspopup': 'dialog', onclick: () => d.open() }, t('invite.open'));

  // ---- create
  const label = h('input', { type: 'text', name: 'label', maxlength: '120', required: true, autocomplete: 'off' });
  const days = h('input', { type: 'number', name: 'days', min: '1', max: String(MAX_DAYS), step: '1', value: '7', required: true });
  const uses = h('input', { type: 'number', name: 'uses', min: '1', max: '10000', step: '1' });
  const lobby = h('input', { type: 'checkbox', name: 'lobby', id: 'invite-lobby', checked: true });
  const fLabel = field({ id: 'invite-label', label: t('invite.label'), hint: t('invite.labelHint'), input: label });
  const fDays = field({ id: 'invite-days', label: t('invite.days'), hint: t('invite.daysHint'), input: days });
  const fUses = field({ id: 'invite-uses', label: t('invite.uses'), hint: t('invite.usesHint'), input: uses });
  const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, t('invite.create'));
  const form = h('form', { class: 'form invite__form', novalidate: true },
    fLabel.wrap, fDays.wrap, fUses.wrap,
    h('div', { class: 'field field--check' }, lobby, h('label', { for: 'invite-lobby' }, t('invite.lobby'))),
    submit);

  // ---- the link just made (its token is shown only once: the server keeps a hash)
  const linkInput = h('input', { type: 'text', id: 'invite-link', readonly: true, class: 'invite__link' });
  const copyBtn = h('button', { type: 'button', class: 'btn btn--secondary' }, t('invite.copy'));
  const copied = h('p', { class: 'invite__copied', role: 'status' });
  const icsDate = h('input', { type: 'date', id: 'ics-date', required: true });
  const icsTime = h('input', { type: 'time', id: 'ics-time', value: '09:00', required: true });
  const icsDur = h('input', { type: 'number', id: 'ics-duration', min: '5', max: '1440', step: '5', value: '60' });
  const icsBtn = h('button', { type: 'button', class: 'btn btn--secondary' }, t('invite.ics'));
  const icsErr = h('p', { class: 'field__error', role: 'alert', hidden: true });
  const result = h('section', { class: 'invite__result', 'aria-labelledby': 'invite-result-title', hidden: true },
    h('h3', { id: 'invite-result-title', tabindex: '-1' }, t('invite.created')),
    h('label', { for: 'invite-link', class: 'field__label' }, t('invite.link')),
    h('div', { class: 'invite__row' }, linkInput, copyBtn), copied,
    h('fieldset', { class: 'invite__ics' }, h('legend', {}, t('invite.icsLegend')),
      h('div', { class: 'invite__row' },
        h('div', { class: 'field' }, h('label', { for: 'ics-date', class: 'field__label' }, t('invite.icsDate')), icsDate),
        h('div', { class: 'field' }, h('label', { for: 'ics-time', class: 'field__label' }, t('invite.icsTime')), icsTime),
        h('div', { class: 'field' }, h('label', { for: 'ics-duration', class: 'field__label' }, t('invite.icsDuration')), icsDur)),
      icsErr, icsBtn));

  // ---- the room's links
  const listStatus = h('p', { class: 'invite__status', role: 'status' });
  const list = h('ul', { class: 'invite__list' });
  const listBox = h('section', { class: 'invite__links', 'aria-labelledby': 'invite-list-title' },
    h('h3', { id: 'invite-list-title' }, t('invite.list')), listStatus, list);

  d.body.append(form, result, listBox);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of [fLabel, fDays, fUses]) f.setError('');
    const lv = label.value.trim();
    const n = Number(days.value);
    const u = uses.value.trim() === '' ? null : Number(uses.value);
    if (!lv || [...lv].length > 120) { fLabel.setError(t('invite.labelInvalid')); label.focus(); return; }
    if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) { fDays.setError(t('invite.daysInvalid')); days.focus(); return; }
    if (u !== null && (!Number.isInteger(u) || u < 1 || u > 10000)) { fUses.setError(t('invite.usesInvalid')); uses.focus(); return; }
    const fields = { label: lv, expires_in: n * DAY_S, lobby: lobby.checked };
    if (u !== null) fields.max_uses = u;
    submit.disabled = true;
    try {
      const r = await request('invite_create', fields);
      showLink(r.url || `${location.origin}${r.path}`, r.invite);
      form.reset();
      days.value = '7';
      lobby.checked = true;
      refresh();
    } catch (err) {
      fLabel.setError(errorText(err));
      label.focus();
    } finally {
      submit.disabled = false;
    }
  });

  let last = null; // {link, invite}
  function showLink(link, invite) {
    last = { link, invite };
    linkInput.value = link;
    copied.textContent = '';
    icsErr.hidden = true;
    if (!icsDate.value) icsDate.value = localDate(new Date(Date.now() + DAY_S * 1000));
    result.hidden = false;
    linkInput.focus();
    linkInput.select();
  }

  copyBtn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(linkInput.value);
    } catch {
      linkInput.select(); // no clipboard permission: selected for Ctrl+C
      document.execCommand?.('copy');
    }
    copied.textContent = t('invite.copied');
  });

  icsBtn.addEventListener('click', () => {
    if (!last) return;
    const start = new Date(`${icsDate.value}T${icsTime.value || '09:00'}`);
    const minutes = Number(icsDur.value) || 60;
    if (Number.isNaN(start.getTime())) {
      icsErr.textContent = t('invite.icsInvalid');
      icsErr.hidden = false;
      icsDate.focus();
      return;
    }
    icsErr.hidden = true;
    const summary = title() || room;
    const text = buildIcs({
      uid: `${crypto.randomUUID()}@${location.hostname || 'palabre'}`,
      now: new Date(),
      start,
      end: new Date(start.getTime() + minutes * 60000),
      summary,
      description: t('invite.icsDescription', { title: summary, link: last.link }),
      url: last.link,
    });
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/calendar;charset=utf-8' })),
      download: `${room}.ics`, hidden: true });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });

  async function refresh() {
    try {
      const r = await request('invite_list');
      render(r.invites || []);
    } catch (e) {
      listStatus.textContent = errorText(e);
    }
  }

  function render(invites) {
    const fmt = dateFmt();
    listStatus.textContent = invites.length ? '' : t('invite.none');
    list.replaceChildren(...invites.map((inv) => {
      const state = inv.state || 'active';
      const revoke = h('button', { type: 'button', class: 'btn btn--danger btn--inline',
        'aria-label': t('invite.revokeWho', { label: inv.label }) }, t('invite.revoke'));
      revoke.addEventListener('click', async () => {
        try {
          await request('invite_revoke', { invite_id: inv.id });
          listStatus.textContent = t('invite.revoked', { label: inv.label });
          await refresh();
          (list.querySelector('button') || label).focus();
        } catch (e) { listStatus.textContent = errorText(e); }
      });
      return h('li', { class: 'invite__item', 'data-invite-id': inv.id, 'data-state': state },
        h('p', { class: 'invite__label' }, inv.label, ' ',
          h('span', { class: `invite__state invite__state--${state}` }, t(`invite.state.${state}`))),
        h('p', { class: 'invite__meta' },
          t('invite.meta', {
            expires: fmt.format(new Date(inv.expires_at)),
            uses: inv.max_uses == null ? t('invite.usesOf', { n: inv.uses }) : t('invite.usesOfMax', { n: inv.uses, max: inv.max_uses }),
            lobby: inv.lobby ? t('invite.withLobby') : t('invite.noLobby'),
          })),
        state === 'active' ? revoke : null);
    }));
  }

  return { button, open: () => d.open(), remove: () => { d.remove(); button.remove(); } };
}
