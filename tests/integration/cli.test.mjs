// palabre's operations subcommands (cli.c) and its refusals to start:
//   palabre token / jwks with keys made by the openssl CLI (EC P-256 in PKCS#8
//   and SEC1 form, RSA), checked by Node's crypto (signature, RFC 7638 kid)
//   and by a token-mode palabre; palabre invite against a live server's
//   rooms (room_create over the WebSocket, then the link used by a guest);
//   a non-loopback listen without [access], token mode without jwks_file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect, runPalabre, startPalabre } from '../lib/palabre.mjs';
import { seconds } from '../lib/timeouts.mjs';

const ISS = 'https://portail.example.fr';
const AUD = 'palabre';
const JWT_LINE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\n$/;

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// The three key forms an operator may hold, made by the openssl CLI.
function makeKeys(dir) {
  const keys = {
    ec_pkcs8: path.join(dir, 'ec-pkcs8.pem'),
    ec_sec1: path.join(dir, 'ec-sec1.pem'),
    rsa: path.join(dir, 'rsa.pem'),
  };
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', keys.ec_pkcs8], { stdio: 'ignore' });
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keys.ec_sec1],
    { stdio: 'ignore' });
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
    '-out', keys.rsa], { stdio: 'ignore' });
  assert.match(fs.readFileSync(keys.ec_pkcs8, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(fs.readFileSync(keys.ec_sec1, 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);
  return keys;
}

// RFC 7638: SHA-256 of the required members in lexical order, base64url.
function thumbprint(jwk) {
  const canon = jwk.kty === 'EC'
    ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
    : JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash('sha256').update(canon).digest('base64url');
}

test('palabre token signs with EC PKCS#8, EC SEC1 and RSA keys; Node verifies each against palabre jwks', { timeout: seconds(90) }, async () => {
  const dir = tmpdir('palabre-cli-keys-');
  try {
    const keys = makeKeys(dir);
    for (const [form, file] of Object.entries(keys)) {
      const j = await runPalabre(['jwks', '--key', file]);
      assert.equal(j.code, 0, `${form}: ${j.stderr}`);
      const jwks = JSON.parse(j.stdout);
      assert.equal(jwks.keys.length, 1);
      const jwk = jwks.keys[0];
      assert.equal(jwk.d, undefined, 'no private member in the JWKS');
      assert.equal(jwk.use, 'sig');
      assert.equal(jwk.alg, form === 'rsa' ? 'RS256' : 'ES256');
      assert.equal(jwk.kid, thumbprint(jwk), `${form}: kid is the RFC 7638 thumbprint`);
      // the JWKS is the key's public half, as Node reads the PEM itself
      const mine = crypto.createPublicKey(fs.readFileSync(file)).export({ format: 'jwk' });
      for (const m of form === 'rsa' ? ['n', 'e'] : ['crv', 'x', 'y']) assert.equal(jwk[m], mine[m], `${form}: ${m}`);

      const before = Math.floor(Date.now() / 1000);
      const t = await runPalabre(['token', '--key', file, '--sub', 'agent-42', '--name', 'Élise Martin',
        '--email', 'elise@mairie.example.fr', '--ttl', '1h', '--iss', ISS, '--aud', AUD]);
      assert.equal(t.code, 0, `${form}: ${t.stderr}`);
      assert.equal(t.stderr, '');
      const m = t.stdout.match(JWT_LINE);
      assert.ok(m, `${form}: one line holding a compact JWT, got ${JSON.stringify(t.stdout)}`);
      const header = JSON.parse(Buffer.from(m[1], 'base64url'));
      const claims = JSON.parse(Buffer.from(m[2], 'base64url'));
      assert.equal(header.alg, jwk.alg);
      assert.equal(header.kid, jwk.kid);
      assert.equal(claims.sub, 'agent-42');
      assert.equal(claims.name, 'Élise Martin');
      assert.equal(claims.email, 'elise@mairie.example.fr');
      assert.equal(claims.iss, ISS);
      assert.equal(claims.aud, AUD);
      assert.equal(claims.exp - claims.iat, 3600);
      assert.equal(claims.nbf, claims.iat);
      assert.ok(claims.iat >= before - 1 && claims.iat <= Math.floor(Date.now() / 1000) + 1);
      const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
      const data = Buffer.from(`${m[1]}.${m[2]}`);
      const sig = Buffer.from(m[3], 'base64url');
      const ok = form === 'rsa'
        ? crypto.verify('sha256', data, key, sig)
        : crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      assert.equal(ok, true, `${form}: Node verifies the signature`);
      // and a byte changed in the claims does not verify (the check can fail)
      const forged = Buffer.from(`${m[1]}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}`);
      assert.equal(form === 'rsa' ? crypto.verify('sha256', forged, key, sig)
        : crypto.verify('sha256', forged, { key, dsaEncoding: 'ieee-p1363' }, sig), false);
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('palabre token: iss and aud from --config [access], refusals exit 1 or 2 with a message', { timeout: seconds(60) }, async () => {
  const dir = tmpdir('palabre-cli-token-');
  try {
    const key = path.join(dir, 'ec.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], { stdio: 'ignore' });
    const ini = path.join(dir, 'palabre.ini');
    fs.writeFileSync(ini, `[access]\nissuer = ${ISS}\naudience = ${AUD}\n`);
    let r = await runPalabre(['token', '--key', key, '--sub', 's', '--name', 'N', '--ttl', '15m', '--config', ini]);
    assert.equal(r.code, 0, r.stderr);
    const claims = JSON.parse(Buffer.from(r.stdout.match(JWT_LINE)[2], 'base64url'));
    assert.equal(claims.iss, ISS);
    assert.equal(claims.aud, AUD);
    assert.equal(claims.exp - claims.iat, 900);
    assert.equal(claims.email, undefined);

    r = await runPalabre(['token', '--key', key, '--sub', 's', '--name', 'N', '--ttl', '1h']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no issuer: give --iss, or --config with \[access\] issuer/);
    r = await runPalabre(['token', '--key', key, '--sub', 's', '--name', 'N', '--ttl', '1y', '--iss', ISS, '--aud', AUD]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ttl 1y: expected a number and a unit/);
    r = await runPalabre(['token', '--key', key, '--name', 'N', '--ttl', '1h', '--iss', ISS, '--aud', AUD]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sub is needed/);
    r = await runPalabre(['token', '--key', path.join(dir, 'missing.pem'), '--sub', 's', '--name', 'N', '--ttl', '1h',
      '--iss', ISS, '--aud', AUD]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.pem/);
    r = await runPalabre(['jwks', '--key', ini]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a PEM private or public key/);
    // the subcommands are in --help
    r = await runPalabre(['--help']);
    assert.equal(r.code, 0);
    for (const sub of ['token', 'jwks', 'invite']) assert.match(r.stdout, new RegExp(`palabre ${sub} `));
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('a token from palabre token lets an agent into a token-mode palabre that reads palabre jwks', { timeout: seconds(60) }, async () => {
  const dir = tmpdir('palabre-cli-mode-');
  let srv;
  try {
    const keys = makeKeys(dir);
    // a keys file with the three public keys, as an operator would assemble it
    const all = { keys: [] };
    for (const file of Object.values(keys)) {
      const r = await runPalabre(['jwks', '--key', file]);
      all.keys.push(...JSON.parse(r.stdout).keys);
    }
    const jwksFile = path.join(dir, 'jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify(all));
    srv = await startPalabre({ config: { access: { agents: 'token', jwks_file: jwksFile, issuer: ISS, audience: AUD } } });
    for (const [form, file] of Object.entries(keys)) {
      const t = await runPalabre(['token', '--key', file, '--sub', `sub-${form}`, '--name', `Agent ${form}`,
        '--ttl', '5m', '--iss', ISS, '--aud', AUD]);
      const c = await connect(srv.wsUrl);
      const d = await c.call('auth', { token: t.stdout.trim() });
      assert.equal(d.mode, 'token');
      assert.equal(d.agent.sub, `sub-${form}`);
      assert.equal(d.agent.name, `Agent ${form}`);
      await c.close();
    }
    // the same key for another audience: refused, with the reason
    const t = await runPalabre(['token', '--key', keys.ec_sec1, '--sub', 's', '--name', 'N', '--ttl', '5m',
      '--iss', ISS, '--aud', 'autre-service']);
    const c = await connect(srv.wsUrl);
    const r = await c.request('auth', { token: t.stdout.trim() });
    assert.equal(r.ok, false);
    assert.equal(r.error.code, 'bad_token');
    assert.match(r.error.message, /wrong audience/);
    await c.close();
  } finally {
    if (srv) await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('palabre invite prints URL/r/ROOM#invite=TOKEN for a stored room; the link lets a guest in; unknown room and 91d refused', { timeout: seconds(90) }, async () => {
  const dir = tmpdir('palabre-cli-invite-');
  const srv = await startPalabre();
  try {
    // the room exists as the server stores it: an agent creates it (and,
    // its owner, stays in it to list the links at the end)
    const a = await connect(srv.wsUrl);
    await a.call('auth', { agent_key: crypto.randomBytes(16).toString('base64url') });
    // (the room's own lobby setting off: the link's flag decides)
    await a.call('room_create', { room: 'conseil', title: 'Conseil municipal', settings: { lobby: false } });
    assert.equal((await a.call('join', { room: 'conseil', name: 'Alice' })).participant.role, 'owner');

    // while the server runs (its own connection to the same database)
    let r = await runPalabre(['invite', '--data-dir', srv.dataDir, '--room', 'conseil',
      '--label', 'Cabinet Durand — étude voirie', '--expires', '7d', '--base-url', 'https://visio.example.fr/']);
    assert.equal(r.code, 0, r.stderr);
    const m = r.stdout.match(/^https:\/\/visio\.example\.fr\/r\/conseil#invite=([A-Za-z0-9_-]{22})\n$/);
    assert.ok(m, `a link, got ${JSON.stringify(r.stdout)}`);
    // a guest holding it waits in the lobby (the link's default: lobby)
    const g = await connect(srv.wsUrl);
    const d = await g.call('join', { room: 'conseil', name: 'Gaston', invite: m[1] });
    assert.equal(d.lobby, true);
    assert.equal(d.participant.role, 'guest');
    await g.close();

    // --no-lobby and --max-uses 1: straight in once, then used up
    r = await runPalabre(['invite', '--data-dir', srv.dataDir, '--room', 'conseil', '--label', 'Une fois',
      '--expires', '2h', '--max-uses', '1', '--no-lobby', '--base-url', 'http://127.0.0.1:8080']);
    assert.equal(r.code, 0, r.stderr);
    const once = r.stdout.match(/^http:\/\/127\.0\.0\.1:8080\/r\/conseil#invite=([A-Za-z0-9_-]{22})\n$/)[1];
    const g1 = await connect(srv.wsUrl);
    const d1 = await g1.call('join', { room: 'conseil', name: 'Une', invite: once });
    assert.notEqual(d1.lobby, true);
    assert.ok(Array.isArray(d1.participants));
    await g1.close();
    const g2 = await connect(srv.wsUrl);
    const r2 = await g2.request('join', { room: 'conseil', name: 'Deux', invite: once });
    assert.equal(r2.ok, false);
    assert.equal(r2.error.code, 'invite_used_up');
    await g2.close();

    // the owner's list shows what the CLI stored
    const list = (await a.call('invite_list')).invites;
    assert.deepEqual(list.map((i) => [i.label, i.created_by, i.max_uses, i.uses, i.lobby, i.state]), [
      ['Une fois', 'palabre invite', 1, 1, false, 'used_up'],
      ['Cabinet Durand — étude voirie', 'palabre invite', null, 1, true, 'active'],
    ]);
    const week = list[1].expires_at - list[1].created_at;
    assert.equal(week, 7 * 86400 * 1000);
    await a.close();

    // refusals: exit 1 and a clear message, no link printed
    r = await runPalabre(['invite', '--data-dir', srv.dataDir, '--room', 'nulle-part', '--label', 'L',
      '--expires', '1d', '--base-url', 'https://visio.example.fr']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /room 'nulle-part' does not exist/);
    r = await runPalabre(['invite', '--data-dir', srv.dataDir, '--room', 'conseil', '--label', 'L',
      '--expires', '91d', '--base-url', 'https://visio.example.fr']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--expires 91d: a link lasts at most 90 days/);
    r = await runPalabre(['invite', '--data-dir', srv.dataDir, '--room', 'conseil', '--label', 'L', '--expires', '90d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no base URL.*--base-url.*\[server\] public_url/);
    // a directory without a database: refused, and none is created there
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    r = await runPalabre(['invite', '--data-dir', empty, '--room', 'conseil', '--label', 'L', '--base-url', 'https://x.fr']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /room 'conseil' does not exist/);
    assert.deepEqual(fs.readdirSync(empty), []);

    // the base URL and the data directory from --config
    const ini = path.join(dir, 'palabre.ini');
    fs.writeFileSync(ini, `[server]\ndata_dir = ${srv.dataDir}\npublic_url = https://visio.mairie.example.fr\n`);
    r = await runPalabre(['invite', '--config', ini, '--room', 'conseil', '--label', 'Défaut']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^https:\/\/visio\.mairie\.example\.fr\/r\/conseil#invite=[A-Za-z0-9_-]{22}\n$/);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a palabre started on a non-loopback address with no [access] section exits non-zero with the message', { timeout: seconds(60) }, async () => {
  const dir = tmpdir('palabre-cli-listen-');
  // a port held here on every address: had palabre tried to bind first, it
  // would fail with a bind error, not with the [access] message
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(0, '0.0.0.0', resolve));
  const port = holder.address().port;
  try {
    const data = path.join(dir, 'data');
    let r = await runPalabre(['--listen', `0.0.0.0:${port}`, '--data-dir', data]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /0\.0\.0\.0:\d+ is not a loopback address and the configuration has no \[access\] section/);
    assert.match(r.stderr, /\[access\] agents = token/);
    assert.match(r.stderr, /agents = open/);
    assert.equal(fs.existsSync(data), false, 'nothing done before the refusal (no data directory)');
    r = await runPalabre(['--listen', `[::]:${port}`, '--data-dir', data]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[access\] section/);

    // token mode without its key file: refused, naming the key
    const ini = path.join(dir, 'token.ini');
    fs.writeFileSync(ini, `[access]\nagents = token\nissuer = ${ISS}\naudience = ${AUD}\n`);
    r = await runPalabre(['--listen', `127.0.0.1:${port}`, '--data-dir', data, '--config', ini]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[access\] agents = token needs \[access\] jwks_file/);
    // with a key file that holds no usable key: refused too, naming the file
    const jwks = path.join(dir, 'jwks.json');
    fs.writeFileSync(jwks, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
    fs.appendFileSync(ini, `jwks_file = ${jwks}\n`);
    r = await runPalabre(['--listen', `127.0.0.1:${port}`, '--data-dir', data, '--config', ini]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /jwks\.json: no usable key/);
  } finally {
    holder.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
