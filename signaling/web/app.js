// Palabre browser client: home (home.js: my rooms, create, open by name),
// pre-join (name; camera and microphone when media.js is present), the
// guest's waiting screen (lobby), room (participants, video area, chat,
// moderation), and the end screens (left, denied, removed, meeting ended).
// One page; the screen follows location: "/" or "/r/<room>[?name=..&autojoin=1]",
// with #invite=... (guests) or #token=... (token mode) read by identity.js.
//
// Media plugs in through media.js (createMedia(ctx), see loadMedia below); this
// file only gives it containers, the connection and the participant list.
import { createConnection } from './connection.js';
import { h } from './dom.js';
import { createDrainBanner } from './drain_banner.js';
import { homeScreen, ROOM_RE } from './home.js';
import { lang, t, formatTime } from './i18n.js';
import { readFragment, joinFields, invite } from './identity.js';
import { loadSignIn, oidcMode, signInUrl } from './signin.js';
import { createInviteDialog } from './invite_dialog.js';
import { createLobbyPanel } from './lobby_panel.js';
import { canModerate, participantMenu, createRoomControls } from './moderation.js';
import { main, show, field, setConnState, errorText, endScreen } from './ui.js';

const NAME_KEY = 'palabre.name';
const FIRST_PAGE = 50; // latest messages shown on join; earlier ones on demand
const HISTORY_PAGE = 200;
const MAX_REDIRECTS = 5; // a cluster's redirects in a row before giving up (a loop between nodes)
// chat_send errors after which the message stays pending and is sent again
const RETRY_CODES = new Set(['offline', 'timeout', 'storage_error', 'not_joined', 'rate_limited', 'shutting_down']);
// sessionStorage (this tab only): {name, resumeToken} while in a room, so that a
// reload goes back in at once as the same participant.
const inRoomKey = (room) => `palabre.room.${room}`;

// -------------------------------------------------------------------- storage

function readInRoom(room) {
  try { return JSON.parse(sessionStorage.getItem(inRoomKey(room)) || 'null'); } catch { return null; }
}

function writeInRoom(room, value) {
  try {
    if (value) sessionStorage.setItem(inRoomKey(room), JSON.stringify(value));
    else sessionStorage.removeItem(inRoomKey(room));
  } catch { /* storage unavailable: a reload shows the pre-join screen */ }
}

function savedName() {
  try { return localStorage.getItem(NAME_KEY) || ''; } catch { return ''; }
}

function saveName(name) {
  try { localStorage.setItem(NAME_KEY, name); } catch { /* private mode: not remembered */ }
}

function validName(name) {
  const n = [...name].length;
  return n >= 1 && n <= 64 && !/[\u0000-\u001f\u007f]/.test(name);
}

// -------------------------------------------------------------------- media hook

// media.js (the media issue) is optional: without it the client is chat-only.
async function loadMedia() {
  try {
    const mod = await import('./media.js');
    if (typeof mod.createMedia !== 'function') return null;
    if (!document.querySelector('link[href="/media.css"]')) {
      document.head.append(h('link', { rel: 'stylesheet', href: '/media.css' }));
    }
    return mod.createMedia;
  } catch {
    return null;
  }
}

// -------------------------------------------------------------------- pre-join

async function preJoinScreen(room, params) {
  const input = h('input', { type: 'text', name: 'name', autocomplete: 'name', maxlength: '64', required: true });
  input.value = params.get('name') || savedName();
  const f = field({ id: 'display-name', label: t('prejoin.name'), hint: t('prejoin.nameHint'), input });
  const mediaBox = h('div', { class: 'prejoin__media', id: 'prejoin-media' });
  const form = h('form', { class: 'card form', novalidate: true }, f.wrap,
    h('button', { type: 'submit', class: 'btn btn--primary' }, t('prejoin.join')));
  const session = createSession(room);
  const guest = !!invite(room);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!validName(name)) { f.setError(t('prejoin.nameInvalid')); input.focus(); return; }
    saveName(name);
    session.join(name);
  });
  const title = guest ? t('prejoin.guestTitle') : t('prejoin.title', { room });
  show(title,
    h('div', { class: 'container narrow' },
      h('h1', {}, title),
      guest ? h('p', { class: 'lead' }, t('prejoin.guestIntro')) : null,
      h('section', { class: 'prejoin', 'aria-label': t('prejoin.media') }, mediaBox),
      form,
      h('p', {}, h('a', { href: '/' }, t('prejoin.back')))));
  const autoName = (params.get('name') || '').trim();
  if (params.get('autojoin') === '1' && validName(autoName)) {
    saveName(autoName);
    session.join(autoName);
    return;
  }
  const back = readInRoom(room);
  if (back && validName(back.name)) {
    session.join(back.name, back.resumeToken);
    return;
  }
  const createMedia = await loadMedia();
  if (createMedia) session.attachMedia(createMedia, mediaBox);
}

// -------------------------------------------------------------------- room session

function createSession(room) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const s = {
    joined: false, left: false, name: '', self: null, resumeToken: null,
    others: new Map(), // id → participant
    messages: new Map(), // server id → li
    lastId: 0,
    outbox: [], // {client_msg_id, text, li} not yet acknowledged, in order
    flushing: false,
    media: null,
    // the video grid (in its own box: media.js puts its status and alert
    // regions next to it) and the media controls exist before the room screen
    // so that media.js, created before the join, keeps them when the room opens
    grid: h('div', { class: 'video-grid', id: 'video-grid' }),
    videoBox: null,
    controls: h('div', { class: 'room__controls' }),
    ui: null,
    waiting: false, // in the lobby: the waiting screen, no room, no media
    roomInfo: null, // RoomInfo {name, title, owner_name, settings, your_role}
    ended: false,
    lobby: null, invites: null, roomControls: null, // moderators' tools
    ticket: null, // a cluster's redirect ticket for the next join
    redirects: 0, // redirects followed since the last successful join
    node: null, // the WebSocket URL of the node the last join was answered by
  };
  s.videoBox = h('div', { class: 'room__video-box' }, s.grid);
  s.drain = createDrainBanner(); // kept across screens, like the video box
  // onDown: a lost connection (a redirect to a node that just died included)
  // ends a run of redirects: only redirects between live nodes count as a loop
  const conn = createConnection({ url, onOpen: () => enter(),
    onDown: () => { s.redirects = 0; setConnState('reconnecting'); },
    // closed for good without its event (lost): the code says why
    onFinal: (code) => finish({ 4001: 'removed', 4002: 'ended', 4003: 'denied' }[code], {}) });

  // a moderation request from the menus and dialogs: data, or null after
  // showing why it was refused
  async function run(type, fields) {
    try {
      return await conn.request(type, fields);
    } catch (e) {
      s.ui?.alert(t('error.action', { msg: errorText(e) }));
      return null;
    }
  }

  conn.on('participant_joined', ({ participant }) => {
    if (s.self && participant.id === s.self.id) return;
    s.others.set(participant.id, participant); renderParticipants();
  });
  conn.on('participant_updated', ({ participant }) => {
    if (s.self && participant.id === s.self.id) setSelf(participant);
    else s.others.set(participant.id, participant);
    renderParticipants();
  });
  conn.on('admitted', (data) => { if (s.waiting) joined(data); });
  conn.on('denied', ({ reason, timeout }) => finish(timeout ? 'lobbyTimeout' : 'denied', { reason }));
  conn.on('removed', ({ by, ban, reason }) => finish(ban ? 'banned' : 'removed', { by, reason }));
  conn.on('meeting_ended', ({ by, reason }) => finish('ended', { by, reason }));
  conn.on('room_updated', ({ room: info }) => { s.roomInfo = info; updateRoom(); });
  conn.on('lobby_knock', ({ participant }) => s.lobby?.knock(participant));
  conn.on('lobby_left', ({ participant_id: id }) => s.lobby?.left(id));
  conn.on('moderation', ({ action, by, target, detail }) => {
    const key = `mod.${action}`;
    const kind = typeof detail === 'string' ? detail : detail?.kind;
    const text = t(key, { by: by?.name || '?', target: target?.name || '', what: t(kind === 'camera' ? 'mod.camera' : 'mod.mic') });
    if (text !== key && s.ui) s.ui.announce(text);
  });
  conn.on('participant_left', ({ participant_id: id }) => { s.others.delete(id); renderParticipants(); });
  conn.on('chat_message', ({ message }) => addMessage(message));
  conn.on('server_shutdown', () => setConnState('reconnecting'));
  conn.on('server_draining', (ev) => s.drain.show(ev));

  // The receive mode rides on the join, so that the server's first subscribe
  // offer is already the mix. media.js's state is the URL's receive=mixed
  // until the participant switches (then set_receive).
  function receiveField() {
    const mixed = s.media ? s.media.state.mixed
      : new URLSearchParams(location.search).get('receive') === 'mixed';
    return mixed ? { receive: 'mixed' } : {};
  }

  // (Re)join once the socket is open: resume if we can, then catch up on chat.
  async function enter() {
    let data;
    try {
      const fields = { room, name: s.name, ...joinFields(room), ...receiveField() };
      if (s.resumeToken) fields.resume_token = s.resumeToken;
      if (s.ticket) fields.ticket = s.ticket; // from the redirect that brought us to this node
      s.ticket = null;
      try {
        data = await conn.request('join', fields);
      } catch (e) {
        if (e.code !== 'resume_failed') throw e;
        s.resumeToken = null;
        delete fields.resume_token;
        data = await conn.request('join', fields);
      }
    } catch (e) {
      if (e.code === 'offline' || e.code === 'timeout' || e.code === 'shutting_down') return; // retried on reopen
      // a cluster: the room lives on another node, or is moving (docs/protocol.md)
      if (e.code === 'redirect' && typeof e.url === 'string' && s.redirects < MAX_REDIRECTS) {
        s.redirects++;
        s.ticket = e.ticket;
        conn.redirect(e.url);
        return;
      }
      if (e.code === 'room_unavailable') {
        setConnState('reconnecting');
        setTimeout(() => { if (conn.isOpen) enter(); }, e.retry_after_ms || 1000);
        return;
      }
      conn.stop();
      setConnState('disconnected');
      // OpenID Connect: a session that expired (or none) goes through
      // sign-in and comes back to this room (not when signed in already:
      // that account is not an agent's, and sign-in would loop)
      if (e.code === 'auth_required' && oidcMode() && !(await loadSignIn()).signed_in) {
        location.assign(signInUrl(`/r/${room}`));
        return;
      }
      if (s.joined || s.waiting) { finish('refused', { error: e }); return; }
      showJoinError(t('error.join', { msg: errorText(e) }));
      return;
    }
    if (data.lobby === true) { waiting(data); return; }
    await joined(data);
  }

  // In the lobby (join response or a resume while waiting): the room's title
  // and nothing else until `admitted` or `denied`.
  function waiting(data) {
    s.redirects = 0;
    const first = !s.waiting;
    s.waiting = true;
    s.self = data.participant;
    s.roomInfo = data.room_info || s.roomInfo;
    s.resumeToken = data.resume_token;
    writeInRoom(room, { name: s.name, resumeToken: s.resumeToken });
    if (first) {
      s.media?.stop?.(); // the camera preview goes too: nothing is captured while waiting
      waitingScreen();
    }
    setConnState('connected');
  }

  // A normal join response, or the data of `admitted` (the same fields).
  async function joined(data) {
    s.redirects = 0;
    const first = !s.joined;
    // a cluster moved the room to another node (failover): message ids are
    // that node's, the chat is read again from its latest page
    if (!first && s.node && s.node !== conn.url) resetChat();
    s.node = conn.url;
    s.waiting = false;
    s.joined = true;
    s.self = data.participant;
    s.roomInfo = data.room_info || s.roomInfo;
    s.resumeToken = data.resume_token;
    s.iceServers = data.ice_servers || []; // TURN with this join's credentials ([turn])
    writeInRoom(room, { name: s.name, resumeToken: s.resumeToken });
    s.others = new Map((data.participants || []).map((p) => [p.id, p]));
    if (first) roomScreen();
    setSelf(data.participant);
    if (Array.isArray(data.lobby)) s.lobby.set(data.lobby);
    updateRoom();
    renderParticipants();
    setConnState('connected');
    try {
      await syncHistory(first);
    } catch (e) { // the socket went away: done again on reopen
      if (!RETRY_CODES.has(e.code)) console.error('chat_history', e);
      return;
    }
    flushOutbox();
    if (first) startMedia();
  }

  // First join (or nothing seen yet): the latest page. After a reconnect:
  // everything after the last id seen, page by page.
  async function syncHistory(first) {
    if (!s.lastId) {
      const d = await conn.request('chat_history', { limit: first ? FIRST_PAGE : HISTORY_PAGE });
      for (const m of d.messages) addMessage(m);
      s.ui.older.hidden = !d.has_more;
      return;
    }
    for (;;) {
      const d = await conn.request('chat_history', { after: s.lastId, limit: HISTORY_PAGE });
      for (const m of d.messages) addMessage(m);
      if (!d.has_more || !d.messages.length) return;
    }
  }

  // Sends the outbox in order; stops at the first failure (retried after reconnect).
  async function flushOutbox() {
    if (s.flushing) return;
    s.flushing = true;
    try {
      while (s.outbox.length && conn.isOpen) {
        const item = s.outbox[0];
        try {
          const d = await conn.request('chat_send', { text: item.text, client_msg_id: item.client_msg_id });
          dropFromOutbox(item);
          addMessage(d.message);
        } catch (e) {
          if (RETRY_CODES.has(e.code)) break;
          s.outbox.splice(s.outbox.indexOf(item), 1); // refused for good (bad text): say so, do not retry
          item.li.classList.remove('msg--pending');
          item.li.classList.add('msg--failed');
          item.li.querySelector('.msg__status').textContent = t('chat.failed', { msg: e.message || e.code });
        }
      }
    } finally {
      s.flushing = false;
    }
  }

  function dropFromOutbox(item) {
    const i = s.outbox.indexOf(item);
    if (i >= 0) s.outbox.splice(i, 1);
    item.li.remove();
  }

  function send(text) {
    const item = { client_msg_id: crypto.randomUUID(), text };
    item.li = messageItem({ name: s.name, text, ts: Date.now() }, true);
    item.li.dataset.clientMsgId = item.client_msg_id;
    s.outbox.push(item);
    s.ui.list.append(item.li);
    updateEmpty();
    scrollLog();
    flushOutbox();
  }

  // Inserts a message in id order, once (dedupe by the server's id).
  function resetChat() {
    for (const li of s.messages.values()) li.remove();
    s.messages.clear();
    s.lastId = 0;
  }

  function addMessage(m, scroll = true) {
    if (!s.ui || s.messages.has(m.id)) return;
    // our own message stored before an acknowledgement was lost (seen again in the
    // history after a reconnect): not pending any more. client_msg_id is a random UUID.
    const mine = m.client_msg_id && s.outbox.find((o) => o.client_msg_id === m.client_msg_id);
    if (mine) dropFromOutbox(mine);
    const li = messageItem(m, false);
    s.messages.set(m.id, li);
    if (m.id > s.lastId) s.lastId = m.id;
    const list = s.ui.list;
    let before = list.querySelector('.msg--pending, .msg--failed');
    for (const other of list.querySelectorAll('.msg[data-id]')) {
      if (Number(other.dataset.id) > m.id) { before = other; break; }
    }
    list.insertBefore(li, before);
    updateEmpty();
    if (scroll) scrollLog();
  }

  function messageItem(m, pending) {
    const text = h('p', { class: 'msg__text' });
    text.textContent = m.text; // never HTML
    const head = h('p', { class: 'msg__head' }, h('span', { class: 'msg__author' }, m.name || '?'), ' ',
      h('time', { class: 'msg__time', datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)));
    const li = h('li', { class: pending ? 'msg msg--pending' : 'msg' }, head, text);
    if (!pending) li.dataset.id = String(m.id);
    if (pending) li.append(h('p', { class: 'msg__status' }, t('chat.pending')));
    return li;
  }

  // The "earlier messages" button: one page before the oldest message shown.
  async function loadOlder() {
    const first = s.ui.list.querySelector('.msg[data-id]');
    if (!first) return;
    try {
      const d = await conn.request('chat_history', { before: Number(first.dataset.id), limit: HISTORY_PAGE });
      for (const m of d.messages) addMessage(m, false);
      s.ui.older.hidden = !d.has_more;
    } catch { /* offline: the button stays */ }
  }

  function updateEmpty() { s.ui.empty.hidden = s.ui.list.children.length > 0; }
  function scrollLog() { s.ui.log.scrollTop = s.ui.log.scrollHeight; }

  function renderParticipants() {
    if (!s.ui) return;
    const all = [s.self, ...s.others.values()].filter(Boolean);
    s.ui.count.textContent = t('room.participants', { n: all.length });
    // the list is made again: focus on one of its buttons goes to its successor
    const key = s.ui.people.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    s.ui.people.replaceChildren(...all.map((p) => {
      const me = p.id === s.self.id;
      const mic = p.mic_blocked ? t('state.micBlocked') : p.mic ? t('state.micOn') : t('state.micOff');
      const cam = p.camera_blocked ? t('state.camBlocked') : p.camera ? t('state.camOn') : t('state.camOff');
      return h('li', { class: 'person', 'data-participant-id': p.id },
        h('span', { class: 'person__name' }, p.name, me ? ` ${t('room.you')}` : ''),
        h('span', { class: `person__role role--${p.role}` }, t(`role.${p.role}`)),
        h('span', { class: 'person__state' }, `${mic}, ${cam}`),
        participantMenu(s.self, p, run));
    }));
    if (key) {
      const pid = key.split(':')[1];
      (s.ui.people.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) ||
        s.ui.people.querySelector(`[data-focus-key="${CSS.escape(`menu:${pid}`)}"]`))?.focus();
    }
    s.media?.refresh?.();
  }

  // Our own participant as the server has it: role (moderators' tools) and
  // the hard-mute flags (media controls).
  function setSelf(p) {
    s.self = p;
    s.media?.setBlocked?.({ mic: p.mic_blocked, camera: p.camera_blocked });
    updateModTools();
  }

  function updateModTools() {
    if (!s.ui) return;
    const mod = canModerate(s.self);
    s.lobby.setVisible(mod);
    if (mod && !s.invites) {
      s.invites = createInviteDialog({ request: (type, f) => conn.request(type, f), room, title: () => s.roomInfo?.title });
      s.roomControls = createRoomControls({ run, info: () => s.roomInfo });
      s.ui.modTools.append(s.invites.button, s.roomControls.button);
    } else if (!mod && s.invites) {
      s.invites.remove();
      s.roomControls.remove();
      s.invites = s.roomControls = null;
      s.lobby.set([]);
    }
  }

  // Title, settings: the heading, the guests' chat, the room dialog.
  function updateRoom() {
    if (!s.ui) return;
    const title = s.roomInfo?.title || room;
    s.ui.title.textContent = t('room.title', { room: title });
    document.title = `${t('room.title', { room: title })} — Palabre`;
    const muted = s.self?.role === 'guest' && s.roomInfo?.settings?.guest_chat === false;
    s.ui.setChatAllowed(!muted);
    s.roomControls?.update(s.roomInfo);
  }

  function waitingScreen() {
    const title = s.roomInfo?.title || room;
    const leaveBtn = h('button', { type: 'button', class: 'btn btn--secondary' }, t('wait.leave'));
    leaveBtn.addEventListener('click', leave);
    show(t('wait.title', { title }),
      h('div', { class: 'container narrow waiting', 'data-screen': 'waiting' },
        h('h1', {}, title), s.drain.el,
        h('p', { class: 'lead', role: 'status' }, t('wait.text')),
        h('p', {}, t('wait.hint')),
        h('p', { class: 'actions' }, leaveBtn)));
  }

  // The visit ends: denied, removed (banned), meeting ended, refused on a
  // rejoin. Says why; nothing reconnects.
  function finish(kind, { by, reason, error } = {}) {
    if (s.ended || s.left || !kind) return;
    s.ended = true;
    s.left = true;
    writeInRoom(room, null);
    conn.stop();
    s.media?.stop?.();
    s.invites?.remove();
    s.roomControls?.remove();
    setConnState('disconnected');
    const who = by?.name ? t('end.by', { name: by.name }) : '';
    const why = reason ? t('end.reason', { reason }) : '';
    const text = kind === 'refused' ? t('error.join', { msg: errorText(error) })
      : [t(`end.${kind}`), who, why].filter(Boolean).join(' ');
    endScreen({ kind, title: t(`end.${kind}Title`), text });
  }

  function showJoinError(msg) {
    const old = main().querySelector('.notice--error');
    if (old) old.remove();
    main().querySelector('h1')?.after(h('p', { class: 'notice notice--error', role: 'alert' }, msg));
  }

  function roomScreen() {
    const list = h('ol', { class: 'chat__list' });
    const empty = h('p', { class: 'chat__empty' }, t('chat.empty'));
    const older = h('button', { type: 'button', class: 'btn btn--secondary btn--small', hidden: true }, t('chat.older'));
    older.addEventListener('click', () => loadOlder());
    const log = h('div', { class: 'chat__log', role: 'log', 'aria-label': t('chat.log'), tabindex: '0' }, older, empty, list);
    const input = h('textarea', { id: 'chat-input', name: 'message', rows: '2', maxlength: '4000',
      'aria-describedby': 'chat-hint' });
    const form = h('form', { class: 'chat__form' },
      h('label', { for: 'chat-input', class: 'field__label' }, t('chat.input')),
      h('p', { id: 'chat-hint', class: 'field__hint' }, t('chat.hint')),
      h('div', { class: 'chat__row' }, input, h('button', { type: 'submit', class: 'btn btn--primary' }, t('chat.send'))));
    const submit = () => {
      const text = input.value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim();
      if (!text) return;
      input.value = '';
      send(text);
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    const people = h('ul', { class: 'people' });
    const count = h('h2', { id: 'people-title' });
    const { grid, controls } = s;
    const videoEmpty = h('p', { class: 'video-empty' }, t('room.videoEmpty'));
    // the empty state follows the grid's content (tiles come from media.js)
    new MutationObserver(() => { videoEmpty.hidden = grid.children.length > 0; })
      .observe(grid, { childList: true });
    const alertBox = h('p', { class: 'notice notice--error', role: 'alert', hidden: true });
    const leaveBtn = h('button', { type: 'button', class: 'btn btn--danger', id: 'leave' }, t('room.leave'));
    leaveBtn.addEventListener('click', leave);
    const title = h('h1', {}, t('room.title', { room: s.roomInfo?.title || room }));
    const modTools = h('div', { class: 'room__mod' });
    const live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
    const chatHint = form.querySelector('#chat-hint');
    const sendBtn = form.querySelector('button[type="submit"]');
    s.lobby = createLobbyPanel({ request: (type, f) => conn.request(type, f),
      onError: (e) => s.ui.alert(t('error.action', { msg: errorText(e) })) });
    show(t('room.title', { room: s.roomInfo?.title || room }),
      h('div', { class: 'room' },
        h('div', { class: 'room__bar' }, title, controls, leaveBtn),
        s.drain.el, alertBox, live,
        h('div', { class: 'room__body' },
          h('section', { class: 'room__video', 'aria-labelledby': 'video-title' },
            h('h2', { id: 'video-title', class: 'sr-only' }, t('room.video')), videoEmpty, s.videoBox),
          h('aside', { class: 'room__side', 'aria-label': t('room.side') },
            s.lobby.live, s.lobby.el,
            // it scrolls when the list is long: reachable from the keyboard
            // moderators' Inviter and room buttons head the list: no row of
            // their own, the stage keeps its height (phones too)
            h('section', { class: 'panel panel--people', 'aria-labelledby': 'people-title', tabindex: '0' },
              h('div', { class: 'panel__head' }, count, modTools), people),
            h('section', { class: 'panel chat', 'aria-labelledby': 'chat-title' },
              h('h2', { id: 'chat-title' }, t('chat.title')), log, form)))));
    s.ui = {
      list, log, empty, people, older, count, grid, controls, title, modTools,
      alert(msg) { alertBox.textContent = msg; alertBox.hidden = false; },
      announce(msg) { live.textContent = msg; },
      setChatAllowed(on) {
        input.disabled = !on;
        sendBtn.disabled = !on;
        chatHint.textContent = on ? t('chat.hint') : t('chat.guestsOff');
      },
    };
  }

  async function leave() {
    s.left = true;
    writeInRoom(room, null);
    try { await conn.request('leave'); } catch { /* gone anyway */ }
    conn.stop();
    s.media?.stop?.();
    s.invites?.remove();
    s.roomControls?.remove();
    setConnState('disconnected');
    const again = h('a', { href: location.pathname, class: 'btn btn--primary' }, t('left.rejoin'));
    show(t('left.title'), h('div', { class: 'container narrow' }, h('h1', {}, t('left.title')),
      h('p', { class: 'actions' }, again, ' ', h('a', { href: '/', class: 'btn btn--secondary' }, t('left.home')))));
  }

  function mediaCtx(extra) {
    return {
      // set_state answers with our participant as the server now has it: our
      // own entry of the list shows it (others see it through participant_updated)
      request: async (type, fields) => {
        const data = await conn.request(type, fields);
        if (type === 'set_state' && data.participant?.id && data.participant.id === s.self?.id) {
          s.self = data.participant;
          renderParticipants();
        }
        return data;
      },
      onEvent: (type, handler) => conn.on(type, handler),
      participants: () => [...s.others.values()],
      selfId: () => s.self?.id,
      selfName: () => s.self?.name || s.name,
      iceServers: () => s.iceServers || [],
      ...extra,
    };
  }

  async function ensureMedia() {
    if (s.media) return;
    const createMedia = await loadMedia();
    if (!createMedia || s.left || s.media) return;
    s.media = createMedia(mediaCtx({ videoArea: s.grid, controls: s.controls }));
  }

  async function startMedia() {
    await ensureMedia();
    if (!s.media || s.left) return;
    s.media.start({ selfId: s.self.id, selfName: s.self.name }).catch(console.error);
  }

  return {
    get joined() { return s.joined; },
    join(name, resumeToken = null) {
      if (s.joined || s.name) return;
      s.name = name;
      s.resumeToken = resumeToken;
      setConnState('connecting');
      // media.js must listen before the join is sent: the server's first
      // subscribe_offer follows the join response at once.
      ensureMedia().finally(() => conn.start());
    },
    // Pre-join: media.js shows the preview and device choice in box.
    attachMedia(createMedia, box) {
      if (s.media || s.name) return;
      s.media = createMedia(mediaCtx({ videoArea: s.grid, controls: s.controls, preJoinContainer: box }));
      s.media.preview().catch(console.error);
    },
  };
}

// -------------------------------------------------------------------- routing

async function route() {
  document.documentElement.lang = lang;
  document.getElementById('skip-link').textContent = t('skip');
  document.getElementById('tagline').textContent = t('tagline');
  document.getElementById('footer-text').textContent = t('footer');
  const m = location.pathname.match(/^\/r\/([^/]*)\/?$/);
  let room = null;
  if (m) {
    try { room = decodeURIComponent(m[1]); } catch { room = m[1]; }
  }
  // the fragment's token or invite leaves the address bar at once, before
  // anything waits on the network
  readFragment(room && ROOM_RE.test(room) ? room : null);
  await loadSignIn(); // OpenID Connect: who is signed in (signin.js), for the header and the screens
  if (!m) { homeScreen(); return; }
  if (!ROOM_RE.test(room)) { homeScreen(t('home.badRoom', { room })); return; }
  preJoinScreen(room, new URLSearchParams(location.search));
}

// boot.js: the modules loaded and ran (otherwise it reloads the page)
window.__palabreBooted = true;
route();
