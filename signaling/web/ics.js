// An invitation as an iCalendar event (RFC 5545), for the agent's calendar.
// Pure: no DOM, no clock, no randomness (the caller gives uid and now), so that
// tests/e2e/ics.test.mjs checks it under node.
//
//   buildIcs({ uid, now, start, end, summary, description, url }) → text
//     start, end, now: Date (written in UTC, "Z" form: no VTIMEZONE needed)
//
// What RFC 5545 asks of the text (3.1, 3.3.11):
//   - every line ends with CRLF;
//   - a line longer than 75 octets is folded: CRLF then one space, the space
//     counting in the next line's 75; never inside a UTF-8 sequence;
//   - in TEXT values, backslash, semicolon and comma are escaped with a
//     backslash, and a newline becomes "\n".

const MAX_OCTETS = 75;
const utf8 = new TextEncoder();

export function escapeText(value) {
  return String(value)
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n');
}

// One content line → its folded form (lines joined by CRLF, no final CRLF).
export function foldLine(line) {
  const out = [];
  let cur = '';
  let octets = 0;
  let limit = MAX_OCTETS;
  for (const ch of line) { // code points: a character is never cut
    const n = utf8.encode(ch).length;
    if (octets + n > limit) {
      out.push(cur);
      cur = ' ';
      octets = 1;
      limit = MAX_OCTETS;
    }
    cur += ch;
    octets += n;
  }
  out.push(cur);
  return out.join('\r\n');
}

// 2026-12-03T15:04:05.123Z → 20261203T150405Z
export function formatUtc(date) {
  return date.toISOString().replace(/\.\d{3}/, '').replace(/[-:]/g, '');
}

export function buildIcs({ uid, now, start, end, summary, description = '', url = '' }) {
  if (!(start instanceof Date) || Number.isNaN(start.getTime())) throw new RangeError('start: not a date');
  if (!(end instanceof Date) || Number.isNaN(end.getTime()) || end <= start) throw new RangeError('end: not after start');
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Palabre//Palabre//FR',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VEVENT',
    `UID:${escapeText(uid)}`,
    `DTSTAMP:${formatUtc(now)}`,
    `DTSTART:${formatUtc(start)}`,
    `DTEND:${formatUtc(end)}`,
    `SUMMARY:${escapeText(summary)}`,
  ];
  if (description) lines.push(`DESCRIPTION:${escapeText(description)}`);
  // URL's value is a URI (3.8.4.6), not TEXT: no escaping; a newline cannot be in it
  if (url) lines.push(`URL:${String(url).replace(/[\r\n]/g, '')}`);
  lines.push('END:VEVENT', 'END:VCALENDAR');
  return `${lines.map(foldLine).join('\r\n')}\r\n`;
}
