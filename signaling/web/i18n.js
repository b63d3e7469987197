// Every string the client shows, in French (default) and English.
// The language is the first of fr/en found in navigator.languages; French otherwise.

const STRINGS = {
  fr: {
    skip: 'Aller au contenu',
    tagline: 'Réunions de la collectivité',
    footer: 'Palabre — hébergé par votre collectivité',
    'home.title': 'Rejoindre ou créer une réunion',
    'home.intro': 'Saisissez le nom de la réunion. Si elle n’existe pas encore, elle sera créée.',
    'home.label': 'Nom de la réunion',
    'home.hint': 'De 1 à 64 caractères : lettres minuscules sans accent, chiffres et tirets. Exemple : conseil-municipal',
    'home.submit': 'Continuer',
    'home.invalid': 'Le nom de la réunion doit contenir de 1 à 64 caractères parmi : lettres minuscules sans accent (a à z), chiffres et tirets.',
    'home.badRoom': 'L’adresse « {room} » ne correspond pas à une réunion valide.',
    'prejoin.title': 'Rejoindre la réunion « {room} »',
    'prejoin.name': 'Votre nom',
    'prejoin.nameHint': 'Il sera visible des autres participants (64 caractères au plus).',
    'prejoin.nameInvalid': 'Saisissez votre nom (de 1 à 64 caractères).',
    'prejoin.join': 'Rejoindre',
    'prejoin.media': 'Caméra et micro',
    'prejoin.back': 'Choisir une autre réunion',
    'room.title': 'Réunion « {room} »',
    'room.leave': 'Quitter la réunion',
    'room.video': 'Vidéo',
    'room.videoEmpty': 'Aucune vidéo pour le moment.',
    'room.participants': 'Participants ({n})',
    'room.you': '(vous)',
    'role.host': 'Organisateur',
    'role.agent': 'Agent',
    'role.guest': 'Invité',
    'state.micOn': 'micro activé',
    'state.micOff': 'micro coupé',
    'state.camOn': 'caméra activée',
    'state.camOff': 'caméra coupée',
    'chat.title': 'Discussion',
    'chat.older': 'Afficher les messages précédents',
    'room.side': 'Participants et discussion',
    'chat.log': 'Messages de la discussion',
    'chat.empty': 'Aucun message pour l’instant.',
    'chat.input': 'Message',
    'chat.hint': 'Entrée pour envoyer, Maj + Entrée pour aller à la ligne.',
    'chat.send': 'Envoyer',
    'chat.pending': 'en attente d’envoi',
    'chat.failed': 'non envoyé : {msg}',
    'conn.connecting': 'Connexion…',
    'conn.connected': 'Connecté',
    'conn.reconnecting': 'Connexion perdue, reconnexion…',
    'conn.disconnected': 'Déconnecté',
    'left.title': 'Vous avez quitté la réunion',
    'left.rejoin': 'Rejoindre à nouveau',
    'left.home': 'Accueil',
    'error.join': 'Impossible de rejoindre la réunion : {msg}',
    'error.room_full': 'la réunion est complète',
    'error.too_many_rooms': 'le serveur a atteint son nombre maximal de réunions',
    'error.shutting_down': 'le serveur s’arrête',
  },
  en: {
    skip: 'Skip to content',
    tagline: 'Meetings of your local authority',
    footer: 'Palabre — hosted by your local authority',
    'home.title': 'Join or create a meeting',
    'home.intro': 'Enter the meeting name. If it does not exist yet, it will be created.',
    'home.label': 'Meeting name',
    'home.hint': '1 to 64 characters: lowercase letters without accents, digits and hyphens. Example: town-council',
    'home.submit': 'Continue',
    'home.invalid': 'The meeting name must have 1 to 64 characters among: lowercase letters without accents (a to z), digits and hyphens.',
    'home.badRoom': 'The address “{room}” is not a valid meeting.',
    'prejoin.title': 'Join the meeting “{room}”',
    'prejoin.name': 'Your name',
    'prejoin.nameHint': 'Other participants will see it (at most 64 characters).',
    'prejoin.nameInvalid': 'Enter your name (1 to 64 characters).',
    'prejoin.join': 'Join',
    'prejoin.media': 'Camera and microphone',
    'prejoin.back': 'Choose another meeting',
    'room.title': 'Meeting “{room}”',
    'room.leave': 'Leave the meeting',
    'room.video': 'Video',
    'room.videoEmpty': 'No video yet.',
    'room.participants': 'Participants ({n})',
    'room.you': '(you)',
    'role.host': 'Host',
    'role.agent': 'Agent',
    'role.guest': 'Guest',
    'state.micOn': 'microphone on',
    'state.micOff': 'microphone off',
    'state.camOn': 'camera on',
    'state.camOff': 'camera off',
    'chat.title': 'Chat',
    'chat.older': 'Show earlier messages',
    'room.side': 'Participants and chat',
    'chat.log': 'Chat messages',
    'chat.empty': 'No messages yet.',
    'chat.input': 'Message',
    'chat.hint': 'Enter to send, Shift + Enter for a new line.',
    'chat.send': 'Send',
    'chat.pending': 'waiting to be sent',
    'chat.failed': 'not sent: {msg}',
    'conn.connecting': 'Connecting…',
    'conn.connected': 'Connected',
    'conn.reconnecting': 'Connection lost, reconnecting…',
    'conn.disconnected': 'Disconnected',
    'left.title': 'You left the meeting',
    'left.rejoin': 'Join again',
    'left.home': 'Home',
    'error.join': 'Could not join the meeting: {msg}',
    'error.room_full': 'the meeting is full',
    'error.too_many_rooms': 'the server has reached its maximum number of meetings',
    'error.shutting_down': 'the server is stopping',
  },
};

export function pickLang(languages = navigator.languages || [navigator.language]) {
  for (const l of languages) {
    const p = String(l).slice(0, 2).toLowerCase();
    if (p === 'fr' || p === 'en') return p;
  }
  return 'fr';
}

export const lang = pickLang();

// t('room.title', {room: 'demo'}); unknown keys come back as the key itself.
export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.fr[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

export function formatTime(ms) {
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'fr-FR', { hour: '2-digit', minute: '2-digit' })
    .format(new Date(ms));
}
