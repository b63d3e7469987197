// A modal <dialog> (showModal: the rest of the page is inert, focus moves
// into it, Escape closes it) that gives focus back to what opened it.
//
//   const d = createDialog({ id: 'invite-dialog', title: 'Inviter' });
//   d.body.append(...); d.open(); d.close();
import { h } from './dom.js';
import { t } from './i18n.js';

export function createDialog({ id, title, onOpen = () => {} }) {
  const titleId = `${id}-title`;
  const body = h('div', { class: 'dialog__body' });
  const closeBtn = h('button', { type: 'button', class: 'btn btn--secondary btn--close' }, t('dialog.close'));
  const dialog = h('dialog', { id, class: 'dialog', 'aria-labelledby': titleId },
    h('div', { class: 'dialog__head' }, h('h2', { id: titleId }, title), closeBtn), body);
  let opener = null;
  closeBtn.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    const back = opener;
    opener = null;
    if (back?.isConnected) back.focus();
  });
  document.body.append(dialog);
  return {
    dialog,
    body,
    open() {
      if (dialog.open) return;
      opener = document.activeElement;
      dialog.showModal();
      // the first field, else the close button (showModal's own choice may
      // be the close button in the head even when the form comes first)
      const first = body.querySelector('input, select, textarea, button');
      (first || closeBtn).focus();
      onOpen();
    },
    close() { if (dialog.open) dialog.close(); },
    remove() { dialog.close(); dialog.remove(); },
  };
}
