// signaling/web/ics.js under node (no browser): the invitation's .ics text
// follows RFC 5545 (CRLF lines, folding at 75 octets, TEXT escaping). It lives
// with the e2e suites because tests/run.sh finds node suites in integration/
// and e2e/ only (as grid_layout's test in layout.test.mjs).
import '../lib/timeouts.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { seconds } from '../lib/timeouts.mjs';

// The client's modules are plain .js files without package.json: Debian 12's
// Node 18 would read them as CommonJS, so the module is loaded from its text.
const src = fs.readFileSync(new URL('../../signaling/web/ics.js', import.meta.url), 'utf8');
const { buildIcs, escapeText, foldLine, formatUtc } = await import(`data:text/javascript,${encodeURIComponent(src)}`);

const octets = (s) => Buffer.byteLength(s, 'utf8');
// RFC 5545 3.1: unfolding removes every CRLF followed by one space or tab
const unfold = (text) => text.replace(/\r\n[ \t]/g, '');

const base = {
  uid: 'b3f1c2d4-0000-4000-8000-000000000001@palabre',
  now: new Date(Date.UTC(2026, 11, 3, 15, 4, 5, 123)),
  start: new Date(Date.UTC(2026, 11, 10, 9, 30)),
  end: new Date(Date.UTC(2026, 11, 10, 10, 30)),
  summary: 'Conseil municipal',
  description: 'Rejoindre : https://visio.example.fr/r/conseil#invite=abc',
  url: 'https://visio.example.fr/r/conseil#invite=abc',
};

test('escaping: backslash, semicolon, comma and newlines in TEXT values', { timeout: seconds(10) }, () => {
  assert.equal(escapeText('a\\b;c,d\ne\r\nf\rg'), 'a\\\\b\\;c\\,d\\ne\\nf\\ng');
  // the backslash is escaped first: an escape added for ";" is not doubled
  assert.equal(escapeText(';'), '\\;');
  const ics = buildIcs({ ...base, summary: 'Voirie, étude; lot 2\\3', description: 'ligne 1\nligne 2' });
  const lines = unfold(ics).split('\r\n');
  assert.ok(lines.includes('SUMMARY:Voirie\\, étude\\; lot 2\\\\3'), lines.join('|'));
  assert.ok(lines.includes('DESCRIPTION:ligne 1\\nligne 2'));
});

test('every line ends with CRLF, no bare LF or CR, the text ends with CRLF', { timeout: seconds(10) }, () => {
  const ics = buildIcs(base);
  assert.ok(ics.endsWith('\r\n'));
  assert.equal(ics.replace(/\r\n/g, '').includes('\n'), false, 'a bare LF');
  assert.equal(ics.replace(/\r\n/g, '').includes('\r'), false, 'a bare CR');
  const lines = ics.split('\r\n');
  assert.equal(lines.at(-1), '');
  assert.equal(lines[0], 'BEGIN:VCALENDAR');
  assert.equal(lines.at(-2), 'END:VCALENDAR');
});

test('folding: lines of at most 75 octets, continuation starts with one space, multi-byte characters never cut', { timeout: seconds(10) }, () => {
  const long = `Réunion ${'é'.repeat(100)} — ${'x'.repeat(150)} 日本語 😀`;
  const folded = foldLine(`SUMMARY:${escapeText(long)}`);
  const parts = folded.split('\r\n');
  assert.ok(parts.length >= 4, `${parts.length} lines`);
  for (const [i, p] of parts.entries()) {
    assert.ok(octets(p) <= 75, `line ${i}: ${octets(p)} octets`);
    if (i > 0) assert.equal(p[0], ' ');
    assert.equal(p.includes('\uFFFD'), false);
  }
  // the first line is filled to 74-75 octets (not cut early)
  assert.ok(octets(parts[0]) >= 74);
  assert.equal(unfold(folded), `SUMMARY:${escapeText(long)}`);
  // a line of exactly 75 octets stays one line; 76 is folded
  assert.equal(foldLine('D'.repeat(75)), 'D'.repeat(75));
  assert.equal(foldLine('D'.repeat(76)), `${'D'.repeat(75)}\r\n D`);

  const ics = buildIcs({ ...base, description: long, url: `${base.url}${'a'.repeat(120)}` });
  for (const line of ics.split('\r\n')) assert.ok(octets(line) <= 75, `${octets(line)}: ${line}`);
  const lines = unfold(ics).split('\r\n');
  assert.ok(lines.includes(`DESCRIPTION:${escapeText(long)}`));
  assert.ok(lines.includes(`URL:${base.url}${'a'.repeat(120)}`));
});

test('the event: UID, DTSTAMP, DTSTART/DTEND in UTC, SUMMARY, DESCRIPTION and URL with the link', { timeout: seconds(10) }, () => {
  assert.equal(formatUtc(base.now), '20261203T150405Z');
  const lines = unfold(buildIcs(base)).split('\r\n');
  for (const want of ['VERSION:2.0', 'BEGIN:VEVENT', 'END:VEVENT', `UID:${base.uid}`, 'DTSTAMP:20261203T150405Z',
    'DTSTART:20261210T093000Z', 'DTEND:20261210T103000Z', 'SUMMARY:Conseil municipal',
    `DESCRIPTION:${escapeText(base.description)}`, `URL:${base.url}`]) {
    assert.ok(lines.includes(want), `missing ${want}`);
  }
  assert.ok(lines.some((l) => l.startsWith('PRODID:')));
  // VCALENDAR holds exactly one VEVENT
  assert.equal(lines.filter((l) => l === 'BEGIN:VEVENT').length, 1);
  // an end before the start is refused, as is an invalid date
  assert.throws(() => buildIcs({ ...base, end: base.start }), RangeError);
  assert.throws(() => buildIcs({ ...base, start: new Date('nope') }), RangeError);
});
