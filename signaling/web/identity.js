// Who this browser is to the server (docs/protocol.md, "auth" and "join"):
//   - open mode: an agent_key, 16 random bytes in base64url, kept in
//     localStorage ("palabre.agent_key"), so that "my rooms" survive reloads;
//   - token mode: a JWT handed over in the page's fragment (#token=...), kept
//     in sessionStorage (this tab only);
//   - guest: an invite token from the link /r/<room>#invite=..., kept in
//     sessionStorage for reloads, and a random guest_key (sessionStorage).
// Fragments never reach the server's logs or a Referer; they are removed from
// the address bar as soon as they are read (readFragment).

const AGENT_KEY = 'palabre.agent_key';
const TOKEN_KEY = 'palabre.token';
const GUEST_KEY = 'palabre.guest_key';
const inviteKey = (room) => `palabre.invite.${room}`;

function get(store, key) {
  try { return store.getItem(key); } catch { return null; }
}

function set(store, key, value) {
  try {
    if (value == null) store.removeItem(key); else store.setItem(key, value);
  } catch { /* storage unavailable: only this page knows it */ }
}

function randomKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const B64URL = /^[A-Za-z0-9_-]+$/;

// Reads #token= and #invite= (room: the room of the page, for the invite),
// stores them and takes the fragment out of the address bar.
export function readFragment(room) {
  const frag = location.hash.slice(1);
  if (!frag) return;
  const params = new URLSearchParams(frag);
  const token = params.get('token');
  const invite = params.get('invite');
  if (token) set(sessionStorage, TOKEN_KEY, token);
  if (invite && room && B64URL.test(invite)) set(sessionStorage, inviteKey(room), invite);
  if (token || invite) history.replaceState(history.state, '', location.pathname + location.search);
}

export function agentKey() {
  let k = get(localStorage, AGENT_KEY);
  if (!k || !B64URL.test(k) || k.length < 22) {
    k = randomKey();
    set(localStorage, AGENT_KEY, k);
  }
  return k;
}

export const token = () => get(sessionStorage, TOKEN_KEY);
export const invite = (room) => get(sessionStorage, inviteKey(room));
export const forgetInvite = (room) => set(sessionStorage, inviteKey(room), null);

function guestKey() {
  let k = get(sessionStorage, GUEST_KEY);
  if (!k) { k = randomKey(); set(sessionStorage, GUEST_KEY, k); }
  return k;
}

// Fields of `auth` (home page) and of an agent's `join`: the server reads the
// one of its mode (token, or agent_key), so both go when we have a token.
export function authFields() {
  const tok = token();
  return tok ? { token: tok, agent_key: agentKey() } : { agent_key: agentKey() };
}

// Credential fields of `join`: a guest with an invite for this room, else an agent.
export function joinFields(room) {
  const inv = invite(room);
  if (inv) return { invite: inv, guest_key: guestKey() };
  return authFields();
}
