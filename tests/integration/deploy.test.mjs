// The docker-compose deployment (docker-compose.yml, .env.example, deploy/):
// `docker-compose config` validates it, Caddy's optional profile included
// (images cannot be pulled or built on these machines), `caddy validate` the
// rendered deploy/Caddyfile (tests/e2e/caddy.test.mjs runs it in front of
// palabre), and its coturn and palabre configurations run natively,
// rendered from .env.example by deploy/render.sh as the containers render
// them. coturn runs in a namespace of its own (tests/lib/netns.mjs), where it
// finds a non-loopback address as on a real host (no listening-ip in the file).
// Only what cannot be the same here is given on the command line: the test
// certificate (the file names the container's mount), and the database, pid
// file and log in a temp dir instead of /var.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, connect, runPalabre, startPalabre } from '../lib/palabre.mjs';
import { Netns, SELF, link, unlinkSelf } from '../lib/netns.mjs';
import { startCoturn, testCertificate, turnCredential } from '../lib/coturn.mjs';
import { seconds, TIME_SCALE } from '../lib/timeouts.mjs';

const COMPOSE = '/usr/bin/docker-compose';
const NO_COMPOSE = !fs.existsSync(COMPOSE) &&
  'docker-compose is not installed (Debian package docker-compose: scripts/install-deps.sh test)';
const TURN_ADDR = '10.78.0.2';

// .env.example as docker-compose reads it: NAME=value lines, # comments
const ENV = Object.fromEntries(fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8').split('\n')
  .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

function render(template, env = ENV) {
  return execFileSync(path.join(ROOT, 'deploy/render.sh'), [path.join(ROOT, template)],
    { env: { PATH: process.env.PATH, ...env }, stdio: 'pipe', timeout: 10000 }).toString();
}

let dir, turnhost;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-deploy-'));
  turnhost = await Netns.create('turnhost');
  await link(SELF, 'd0', '10.78.0.1/24', turnhost, 'd1', `${TURN_ADDR}/24`);
}, { timeout: seconds(30) });

after(async () => {
  unlinkSelf();
  await turnhost?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, { timeout: seconds(30) });

// turnutils_uclient (Debian's coturn package): an allocation and two messages
// relayed between two clients. true when they went through.
async function allocates(username, credential, { tls = false } = {}) {
  const args = ['-u', username, '-w', credential, '-y', '-n', '2', '-m', '1', '-c',
    ...(tls ? ['-S', '-p', ENV.TURN_TLS_PORT] : []), TURN_ADDR];
  const out = await new Promise((resolve) => execFile('turnutils_uclient', args, { timeout: 20000 * TIME_SCALE },
    (err, stdout, stderr) => resolve(`${stdout}${stderr}`)));
  if (/Cannot complete Allocation/.test(out)) return false;
  assert.match(out, /tot_recv_msgs=[1-9]/, out);
  return true;
}

// Resolves once coturn answers a STUN Binding request on UDP 3478: it opens
// its TCP ports (what startCoturn waits for) before its UDP one, and a request
// sent in between is refused (ICMP port unreachable).
async function udpReady(deadlineMs) {
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => { /* refused: not yet */ });
  const answered = new Promise((resolve) => sock.on('message', (m) => { if (m.readUInt16BE(0) === 0x0101) resolve(true); }));
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request, no attribute
  request.writeUInt32BE(0x2112a442, 4); // magic cookie
  crypto.randomFillSync(request, 8, 12);
  try {
    while (Date.now() < deadlineMs) {
      sock.send(request, 3478, TURN_ADDR);
      if (await Promise.race([answered, new Promise((r) => setTimeout(() => r(false), 200))])) return;
    }
    throw new Error(`coturn does not answer on UDP ${TURN_ADDR}:3478`);
  } finally {
    sock.close();
  }
}

async function coturnWith(name, conf) {
  const sub = fs.mkdtempSync(path.join(dir, `${name}-`));
  const file = path.join(sub, 'turnserver.conf');
  fs.writeFileSync(file, conf);
  const cert = testCertificate(sub, TURN_ADDR);
  const turn = await startCoturn({ ns: turnhost, dir: sub, listen: TURN_ADDR, confFile: file,
    ports: [3478, Number(ENV.TURN_TLS_PORT)], args: ['--cert', cert.cert, '--pkey', cert.key] });
  try {
    await udpReady(Date.now() + 15000 * TIME_SCALE);
  } catch (e) {
    await turn.stop();
    throw e;
  }
  return turn;
}

test('docker-compose config validates docker-compose.yml with .env.example, Caddy\'s profile included; every image is built from debian:12', { timeout: seconds(60), skip: NO_COMPOSE }, async () => {
  const out = execFileSync(COMPOSE, ['--env-file', '.env.example', '-f', 'docker-compose.yml', '--profile', 'caddy', 'config'],
    { cwd: ROOT, stdio: 'pipe', timeout: 50000 * TIME_SCALE }).toString();
  assert.match(out, /^ {2}palabre:$/m);
  assert.match(out, /^ {2}coturn:$/m);
  assert.match(out, /^ {2}caddy:$/m);
  assert.match(out, /dockerfile: deploy\/coturn\.Dockerfile/);
  assert.match(out, /dockerfile: deploy\/caddy\.Dockerfile/);
  assert.match(out, /^ {4}profiles:\n {4}- caddy$/m, 'Caddy is optional: a profile');
  assert.doesNotMatch(out, /^\s+image:/m, 'no service pulls an image');
  // the .env values reach the services that use them
  const users = { MEDIA_INTERFACE: 1, CADDY_TLS: 1, AGENTS: 1, DOMAIN: 3 };
  for (const [k, v] of Object.entries(ENV)) {
    const n = out.split('\n').filter((l) => l.trim() === `${k}: ${v}` || l.trim() === `${k}: '${v}'`).length;
    assert.ok(n >= (users[k] || 2), `${k} in ${n} services:\n${out}`);
  }
  // docker-compose stop (and an upgrade's up -d) sends SIGTERM, then SIGKILL after
  // stop_grace_period: it must outlast palabre's drain
  const drain = Number(render('deploy/palabre.ini').match(/^drain_seconds = (\d+)$/m)[1]);
  const grace = out.match(/^ {2}palabre:\n(?: {4}.*\n| {6}.*\n)*? {4}stop_grace_period: (\d+)m$/m);
  assert.ok(drain > 0 && grace && Number(grace[1]) * 60 > drain, `drain_seconds ${drain}, stop_grace_period ${grace?.[1]}m`);
  for (const f of ['Dockerfile', 'deploy/coturn.Dockerfile', 'deploy/caddy.Dockerfile']) {
    const from = fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').filter((l) => /^FROM\s/i.test(l));
    assert.deepEqual(from, ['FROM debian:12'], f);
  }
});

test('deploy/Caddyfile rendered from .env.example is a valid Caddy configuration (ACME for DOMAIN, proxy to palabre\'s listen)', { timeout: seconds(60) }, async () => {
  const conf = render('deploy/Caddyfile');
  assert.doesNotMatch(conf, /\$\{[A-Z]/);
  assert.match(conf, new RegExp(`^${ENV.DOMAIN.replace(/\./g, '\\.')} \\{$`, 'm'));
  assert.match(conf, new RegExp(`^\\s*tls ${ENV.CADDY_TLS}$`, 'm'), 'an e-mail address: ACME');
  const listen = render('deploy/palabre.ini').match(/^listen = (.*)$/m)[1];
  assert.match(conf, new RegExp(`^\\s*reverse_proxy ${listen}$`, 'm'), 'Caddy proxies to where palabre listens');
  const sub = fs.mkdtempSync(path.join(dir, 'caddy-'));
  fs.writeFileSync(path.join(sub, 'Caddyfile'), conf);
  const out = await new Promise((resolve) => execFile('caddy', ['validate', '--config', 'Caddyfile', '--adapter', 'caddyfile'],
    { cwd: sub, env: { PATH: process.env.PATH, HOME: sub, XDG_DATA_HOME: sub, XDG_CONFIG_HOME: sub }, timeout: 30000 * TIME_SCALE },
    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, text: `${stdout}${stderr}` })));
  assert.equal(out.code, 0, out.text);
  assert.match(out.text, /Valid configuration/);
});

test('deploy/render.sh stops on a template variable that is not set', { timeout: seconds(30) }, async () => {
  const { TURN_SECRET, ...rest } = ENV;
  assert.ok(TURN_SECRET);
  assert.throws(() => render('deploy/turnserver.conf', rest),
    (e) => /turnserver\.conf:\d+: \$\{TURN_SECRET\} is not set/.test(e.stderr.toString()));
  assert.throws(() => render('deploy/palabre.ini', { ...ENV, TURN_SECRET: '' }),
    (e) => /\$\{TURN_SECRET\} is not set/.test(e.stderr.toString()));
  // values are copied as they are, whatever they hold
  const odd = 'a/b|c&d\\e$f';
  assert.match(render('deploy/turnserver.conf', { ...ENV, TURN_SECRET: odd }), /^static-auth-secret=a\/b\|c&d\\e\$f$/m);
});

test('coturn runs deploy/turnserver.conf; palabre with deploy/palabre.ini hands out credentials it accepts over UDP and TLS', { timeout: seconds(120) }, async () => {
  const turnConf = render('deploy/turnserver.conf');
  assert.match(turnConf, new RegExp(`^static-auth-secret=${ENV.TURN_SECRET}$`, 'm'));
  assert.doesNotMatch(turnConf, /\$\{[A-Z]/);
  const conf = path.join(dir, 'palabre.ini');
  fs.writeFileSync(conf, render('deploy/palabre.ini'));
  // the file as it is, but for where it listens and keeps its data (flags win):
  // a free port on 127.0.0.1 and a temp dir instead of /var/lib/palabre
  const srv = await startPalabre({ args: ['--config', conf], logLevel: 'warn' });
  let turn;
  try {
    turn = await coturnWith('deploy', turnConf);
    const c = await connect(srv.wsUrl);
    const data = await c.call('join', { room: 'deploy', name: 'Ops' });
    c.close();
    const [server] = data.ice_servers;
    const host = `turn.${ENV.DOMAIN}`;
    assert.deepEqual(server.urls, [`turn:${host}:3478?transport=udp`, `turn:${host}:3478?transport=tcp`,
      `turns:${host}:${ENV.TURN_TLS_PORT}?transport=tcp`]);

    assert.equal(await allocates(server.username, server.credential), true, 'a relay with the join\'s credentials');
    assert.equal(await allocates(server.username, server.credential, { tls: true }), true, 'the same over TLS');
    const forged = turnCredential('not-the-secret', server.username);
    assert.equal(await allocates(server.username, forged), false, 'no relay with a forged credential');
    assert.ok(turn.refusals(server.username).length > 0, turn.log().slice(-2000));
  } finally {
    await turn?.stop();
    await srv.stop();
  }
});

test('rotating the secret as docs/operations.md says: coturn with both secrets accepts both, then only the new one', { timeout: seconds(120) }, async () => {
  const oldSecret = ENV.TURN_SECRET;
  const newSecret = 'the-new-secret-after-rotation';
  const cred = (secret) => {
    const username = `${Math.floor(Date.now() / 1000) + 600}:p_rotation`;
    return [username, turnCredential(secret, username)];
  };
  const both = render('deploy/turnserver.conf').replace(/^(static-auth-secret=.*)$/m, `$1\nstatic-auth-secret=${newSecret}`);
  let turn = await coturnWith('both', both);
  try {
    assert.equal(await allocates(...cred(oldSecret)), true, 'old secret accepted during the rotation');
    assert.equal(await allocates(...cred(newSecret)), true, 'new secret accepted during the rotation');
  } finally {
    await turn.stop();
  }
  turn = await coturnWith('new', render('deploy/turnserver.conf', { ...ENV, TURN_SECRET: newSecret }));
  try {
    assert.equal(await allocates(...cred(oldSecret)), false, 'old secret refused once removed');
    assert.equal(await allocates(...cred(newSecret)), true, 'new secret accepted');
  } finally {
    await turn.stop();
  }
});

test('upgrade and rollback as docs/operations.md says: the online backup restores; a build older than the database refuses to start and changes nothing', { timeout: seconds(120) }, async () => {
  // a running server with a chat message, backed up while it runs
  const srv = await startPalabre({ keepDir: true, logLevel: 'warn' });
  const db = path.join(srv.dataDir, 'palabre.db');
  const backup = path.join(dir, 'palabre-backup.db');
  try {
    const c = await connect(srv.wsUrl);
    await c.call('join', { room: 'upgrade', name: 'Ops' });
    await c.call('chat_send', { text: 'avant la mise à jour', client_msg_id: 'u1' });
    execFileSync('sqlite3', [db, `.backup '${backup}'`], { timeout: 20000 });
    c.close();
  } finally {
    await srv.stop();
  }
  const schema = (file) => execFileSync('sqlite3', [file, 'SELECT version FROM schema_version'], { timeout: 10000 }).toString().trim();
  const version = Number(schema(db));
  assert.ok(version >= 1);
  assert.equal(schema(backup), String(version));

  // what a newer build leaves once it has migrated the file: a later version
  execFileSync('sqlite3', [db, `UPDATE schema_version SET version = ${version + 1}`], { timeout: 10000 });
  const before = fs.readFileSync(db);
  const r = await runPalabre(['--listen', `127.0.0.1:${srv.port}`, '--data-dir', srv.dataDir], { timeout: seconds(15) });
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, new RegExp(`schema_version ${version + 1} is newer than this build's ${version}`));
  assert.ok(fs.readFileSync(db).equals(before), 'the database is left as it was');

  // rollback: the backup taken before the upgrade, in place of the file and its WAL
  for (const f of ['palabre.db-wal', 'palabre.db-shm']) fs.rmSync(path.join(srv.dataDir, f), { force: true });
  fs.copyFileSync(backup, db);
  const back = await startPalabre({ args: ['--data-dir', srv.dataDir], logLevel: 'warn' });
  try {
    const c = await connect(back.wsUrl);
    await c.call('join', { room: 'upgrade', name: 'Ops' });
    const h = await c.call('chat_history', {});
    assert.deepEqual(h.messages.map((m) => m.text), ['avant la mise à jour']);
    c.close();
  } finally {
    await back.stop();
    fs.rmSync(srv.dir, { recursive: true, force: true });
  }
});
