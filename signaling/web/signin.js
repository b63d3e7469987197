// OpenID Connect sign-in in the page header ([access] agents = oidc; the
// server's /oidc/* routes, docs/protocol.md "Sign-in with OpenID Connect"):
//   - signed out: a "Se connecter" / "Sign in" link to /oidc/login, which
//     brings the browser back to the page it left (return_to);
//   - signed in: the agent's name, a button that opens a small menu (a
//     disclosure: Enter or Space opens it, Escape closes it and gives the
//     focus back) with "Se déconnecter" / "Sign out" (/oidc/logout).
// The session itself is an HttpOnly cookie: this script never sees it; it
// asks /oidc/me who is signed in. On a server in another mode /oidc/me
// answers {"mode": "off"} (not a 404: no error in the console) and nothing
// is shown.
import { h } from './dom.js';
import { t } from './i18n.js';

let me = { mode: 'other' };

export const oidcMode = () => me.mode === 'oidc';
export const signedIn = () => me.mode === 'oidc' && me.signed_in === true;
export const signedInAgent = () => signedIn() && me.agent === true;

export function signInUrl(path = location.pathname) {
  return `/oidc/login?return_to=${encodeURIComponent(path)}`;
}

export function signInLink(cls = 'btn btn--primary') {
  return h('a', { class: cls, href: signInUrl() }, t('signin.button'));
}

// Asks the server who is signed in, and fills the header. Never throws.
export async function loadSignIn() {
  try {
    const r = await fetch('/oidc/me', { credentials: 'same-origin', cache: 'no-store' });
    me = r.ok ? await r.json() : { mode: 'other' };
  } catch {
    me = { mode: 'other' };
  }
  render();
  return me;
}

function render() {
  const inner = document.querySelector('.site-header__inner');
  document.getElementById('account')?.remove();
  if (!inner || !oidcMode()) return;
  if (!signedIn()) {
    inner.append(h('div', { class: 'account', id: 'account' }, signInLink('btn btn--secondary account__signin')));
    return;
  }
  const menu = h('ul', { class: 'account__menu', id: 'account-menu', hidden: true },
    h('li', {}, h('a', { href: '/oidc/logout', class: 'account__signout' }, t('signin.out'))));
  const button = h('button', {
    type: 'button', class: 'account__button', 'aria-expanded': 'false', 'aria-controls': 'account-menu',
  }, h('span', { class: 'account__name' }, me.name || me.email || ''),
  h('span', { class: 'sr-only' }, ` — ${t('signin.menu')}`));
  const close = (focus) => {
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (focus) button.focus();
  };
  button.addEventListener('click', () => {
    const open = menu.hidden;
    menu.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) menu.querySelector('a').focus();
  });
  const box = h('div', { class: 'account', id: 'account' }, button, menu);
  box.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !menu.hidden) close(true); });
  box.addEventListener('focusout', (e) => { if (!box.contains(e.relatedTarget)) close(false); });
  inner.append(box);
}
