// A real OpenID Connect provider for the tests (issue 13): Debian's
// LemonLDAP::NG portal, headless, with its "Demo" users (dwho/dwho "Doctor
// Who", rtyler/rtyler "Rose Tyler"), behind Caddy (Debian) for TLS with a
// certificate from a test CA made here with the openssl CLI. Run inside the
// test's private network namespace (tests/run.sh): it listens on 127.0.0.2,
// so that its cookies and palabre's (127.0.0.1) never mix in the browser.
//
//   const op = await startProvider({ redirectUri, postLogoutUri });
//                             (each may be several URIs, space-separated:
//                             several palabre servers of one test file)
//   op.issuer                 'https://127.0.0.2:<port>'
//   op.ca                     the test CA (PEM); op.caFile its path
//   op.caSpki                 base64 SHA-256 of the CA's public key, for
//                             Chromium's --ignore-certificate-errors-spki-list
//   op.clientId, op.clientSecret
//   op.kid                    the signing key's current kid
//   await op.rotateKey()      new RS256 key and kid (a new configuration
//                             number, as the LLNG manager would save it)
//   await op.stop()
//
// The portal runs under plackup (HTTP::Server::PSGI, one request at a time)
// on a private port that only Caddy talks to: a browser's idle pre-connections
// would block that server, Caddy's reverse proxy does not. Configuration is a
// File backend (lmConf-<n>.json) in a temp dir; sessions in files there.
// The relying party "palabre" requires PKCE, signs ID tokens and userinfo
// with RS256 (the userinfo as application/jwt, as ProConnect does) and
// releases ProConnect-shaped claims: given_name, usual_name, email, uid, siret.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './palabre.mjs';
import { TIME_SCALE } from './timeouts.mjs';

export const OP_HOST = '127.0.0.2';
// The siret claim of the Demo users (a mairie's for dwho and msmith, a
// company's for rtyler), for [oidc] agent_siret.
export const SIRETS = { dwho: '21750001600019', rtyler: '41816609600069' };
const PSGI = '/usr/share/lemonldap-ng/portal/htdocs/index.psgi';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The test CA and a leaf for host (IP SAN), in dir. Returns the PEMs.
export function makeCa(dir, host) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Palabre OIDC test CA');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'op.key', '-out', 'op.csr', '-subj', `/CN=${host}`);
  fs.writeFileSync(path.join(dir, 'op.ext'), `subjectAltName=IP:${host}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'op.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x4242',
    '-days', '2', '-sha256', '-extfile', 'op.ext', '-out', 'op.pem');
  // the chain (leaf, then CA): Chromium matches the CA's key only in a chain it is sent
  fs.writeFileSync(path.join(dir, 'op-chain.pem'),
    fs.readFileSync(path.join(dir, 'op.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'));
  const caSpki = execFileSync('sh', ['-c',
    'openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64'],
  { cwd: dir }).toString().trim();
  return { ca: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'), caSpki };
}

function rsaKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    pub: publicKey.export({ type: 'spki', format: 'pem' }),
  };
}

function lmConf({ num, issuer, dir, key, kid, clientId, clientSecret, redirectUri, postLogoutUri }) {
  const store = (name) => ({
    Directory: path.join(dir, name), LockDirectory: path.join(dir, name, 'lock'),
  });
  return {
    cfgNum: num, cfgVersion: '2.16.1', cfgAuthor: 'palabre tests', cfgDate: String(Math.floor(Date.now() / 1000)),
    authentication: 'Demo', userDB: 'Same', passwordDB: 'Demo', registerDB: 'Null',
    demoExportedVars: { cn: 'cn', mail: 'mail', uid: 'uid' },
    portal: `${issuer}/`, domain: OP_HOST, securedCookie: 1, cookieName: 'lemonldap',
    globalStorage: 'Apache::Session::File', globalStorageOptions: store('sessions'),
    persistentStorage: 'Apache::Session::File', persistentStorageOptions: store('psessions'),
    localSessionStorage: '', localSessionStorageOptions: {},
    // Debian's portal loads a captcha module at start even when no form uses
    // one; the default needs GD::SecurityImage (not installed): a no-op one
    captcha: '::Captcha::PalabreNone', // see writeShims
    notification: 0, loginHistoryEnabled: 0, portalCheckLogins: 0, portalDisplayLogout: 1,
    locationRules: {}, exportedHeaders: {}, groups: {}, vhostOptions: {},
    // ProConnect's claims, from the demo users' cn ("Doctor Who"): given_name
    // "Doctor", usual_name "Who"; a siret per user (SIRETS): dwho works at a
    // mairie, rtyler at a private company. Macros are Perl expressions over the
    // session's attributes (here the Demo backend's exported cn and uid),
    // computed at sign-in (LLNG's "macros", Lemonldap::NG::Portal::Main::Process
    // setMacros), then released as claims through the RP's exported variables
    macros: {
      given_name: '(split(/ /, $cn, 2))[0]',
      usual_name: '(split(/ /, $cn, 2))[1]',
      siret: `$uid eq "rtyler" ? "${SIRETS.rtyler}" : "${SIRETS.dwho}"`,
    },
    issuerDBOpenIDConnectActivation: 1,
    oidcServiceMetaDataIssuer: issuer,
    oidcServicePrivateKeySig: key.priv, oidcServicePublicKeySig: key.pub, oidcServiceKeyIdSig: kid,
    oidcServiceAllowAuthorizationCodeFlow: 1,
    oidcRPMetaDataOptions: {
      palabre: {
        oidcRPMetaDataOptionsClientID: clientId,
        oidcRPMetaDataOptionsClientSecret: clientSecret,
        oidcRPMetaDataOptionsRedirectUris: redirectUri,
        oidcRPMetaDataOptionsPostLogoutRedirectUris: postLogoutUri,
        oidcRPMetaDataOptionsRequirePKCE: 1,
        oidcRPMetaDataOptionsIDTokenSignAlg: 'RS256',
        oidcRPMetaDataOptionsUserInfoSignAlg: 'RS256',
        oidcRPMetaDataOptionsBypassConsent: 1,
        oidcRPMetaDataOptionsLogoutBypassConfirm: 1,
        oidcRPMetaDataOptionsIDTokenExpiration: 300,
        oidcRPMetaDataOptionsUserIDAttr: 'uid',
      },
    },
    // scope -> claims released with it, per RP. A top-level key (the portal
    // reads $conf->{oidcRPMetaDataOptionsExtraClaims}->{$rp},
    // Lemonldap::NG::Portal::Lib::OpenIDConnect loadRPs), not one of the RP's
    // options: nested there, it is ignored and no siret is ever released
    oidcRPMetaDataOptionsExtraClaims: {
      palabre: { usual_name: 'usual_name', siret: 'siret', uid: 'uid' },
    },
    oidcRPMetaDataExportedVars: {
      palabre: {
        email: 'mail', name: 'cn', given_name: 'given_name', usual_name: 'usual_name',
        siret: 'siret', uid: 'uid',
      },
    },
  };
}

// Perl modules Debian's portal loads but does not depend on (install-deps
// installs it without its Recommends): the default captcha
// (GD::SecurityImage, a Recommends) is loaded at start even when no form
// uses it; the issuers import IO::String (a Recommends) to replay a POSTed
// authorization request after login; the OpenID Connect issuer imports
// String::Random (not even recommended: a packaging gap) for dynamic client
// registration only, which is off here. When they are missing, the tests put
// stand-ins on PERL5LIB: a no-op captcha plugin named in the configuration,
// IO::String as Perl's own in-memory file handle, and a random_string that
// the enabled code paths never call. Installing libgd-securityimage-perl,
// libio-string-perl and libstring-random-perl makes them unused.
function writeShims(lib) {
  const missing = (m) => {
    try { execFileSync('perl', [`-M${m}`, '-e1'], { stdio: 'ignore' }); return false; } catch { return true; }
  };
  fs.mkdirSync(path.join(lib, 'Lemonldap/NG/Portal/Captcha'), { recursive: true });
  fs.writeFileSync(path.join(lib, 'Lemonldap/NG/Portal/Captcha/PalabreNone.pm'), [
    'package Lemonldap::NG::Portal::Captcha::PalabreNone;', 'use strict;', 'use Mouse;',
    "extends 'Lemonldap::NG::Portal::Main::Plugin';", 'sub init { 1 }', '1;', ''].join('\n'));
  if (missing('IO::String')) {
    fs.mkdirSync(path.join(lib, 'IO'), { recursive: true });
    fs.writeFileSync(path.join(lib, 'IO/String.pm'), [
      'package IO::String;', 'use strict;',
      "sub new { my ($class, $s) = @_; $s //= ''; open(my $fh, '<', \\$s) or die; return $fh }", '1;', ''].join('\n'));
  }
  if (missing('String::Random')) {
    fs.mkdirSync(path.join(lib, 'String'), { recursive: true });
    fs.writeFileSync(path.join(lib, 'String/Random.pm'), [
      'package String::Random;', 'use strict;', "use Exporter 'import';", 'our @EXPORT_OK = qw(random_string);',
      "sub random_string { die 'String::Random stand-in: dynamic registration is not enabled in these tests' }",
      '1;', ''].join('\n'));
  }
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

export async function startProvider({ redirectUri, postLogoutUri, timeout = 30000 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palabre-llng-'));
  for (const d of ['conf', 'sessions/lock', 'psessions/lock', 'caddy']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const { ca, caSpki } = makeCa(dir, OP_HOST);
  const port = await freePort(), backPort = await freePort();
  const issuer = `https://${OP_HOST}:${port}`;
  const clientId = 'palabre';
  const clientSecret = crypto.randomBytes(24).toString('base64url');
  let num = 1, kid = `k${num}`;
  const writeConf = () => {
    const conf = lmConf({ num, issuer, dir, key: rsaKey(), kid, clientId, clientSecret, redirectUri, postLogoutUri });
    const f = path.join(dir, 'conf', `lmConf-${num}.json`);
    fs.writeFileSync(`${f}.tmp`, JSON.stringify(conf, null, 1));
    fs.renameSync(`${f}.tmp`, f);
  };
  writeConf();
  // checkTime: the portal rereads the configuration number every second (rotation)
  fs.writeFileSync(path.join(dir, 'lemonldap-ng.ini'), [
    '[all]', `logLevel = ${process.env.LLNG_LOGLEVEL || 'warn'}`, 'checkTime = 1',
    '[configuration]', 'type = File', `dirName = ${path.join(dir, 'conf')}`,
    '[portal]', 'staticPrefix = /static', 'templateDir = /usr/share/lemonldap-ng/portal/templates',
    'languages = fr, en', '',
  ].join('\n'));
  writeShims(path.join(dir, 'perl'));
  fs.writeFileSync(path.join(dir, 'Caddyfile'), [
    '{', '\tadmin off', '\tauto_https disable_redirects', `\tstorage file_system ${path.join(dir, 'caddy')}`,
    '\tskip_install_trust', '}',
    `https://${OP_HOST}:${port} {`, `\tbind ${OP_HOST}`,
    `\ttls ${path.join(dir, 'op-chain.pem')} ${path.join(dir, 'op.key')}`,
    '\thandle_path /static/* {', '\t\troot * /usr/share/lemonldap-ng/portal/htdocs/static', '\t\tfile_server', '\t}',
    '\thandle_path /javascript/* {', '\t\troot * /usr/share/javascript', '\t\tfile_server', '\t}',
    `\treverse_proxy 127.0.0.1:${backPort}`, '}', '',
  ].join('\n'));
  let output = '';
  const env = {
    ...process.env, PERL5LIB: path.join(dir, 'perl'), LLNG_DEFAULTCONFFILE: path.join(dir, 'lemonldap-ng.ini'),
    LLNG_DEFAULTLOGGER: 'Lemonldap::NG::Common::Logger::Std', HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir,
  };
  const procs = [
    spawn('plackup', ['-s', 'HTTP::Server::PSGI', '--host', '127.0.0.1', '--port', String(backPort), PSGI],
      { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
    spawn('caddy', ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
      { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
  ];
  for (const p of procs) {
    p.stdout.on('data', (d) => { output += d; });
    p.stderr.on('data', (d) => { output += d; });
  }
  const op = {
    issuer, ca, caSpki, caFile: path.join(dir, 'ca.pem'), clientId, clientSecret, dir,
    get kid() { return kid; },
    output: () => output,
    async discovery() { return JSON.parse((await get(`${issuer}/.well-known/openid-configuration`, ca)).body); },
    async jwks() { return JSON.parse((await get(`${issuer}/oauth2/jwks`, ca)).body); },
    // A new signing key under a new kid; resolves once the portal serves it.
    async rotateKey() {
      num += 1;
      kid = `k${num}`;
      writeConf();
      const deadline = Date.now() + timeout * TIME_SCALE;
      for (;;) {
        try { if ((await op.jwks()).keys.some((k) => k.kid === kid)) return; } catch { /* reloading */ }
        if (Date.now() > deadline) throw new Error(`the provider did not take the new key:\n${output}`);
        await sleep(200);
      }
    },
    async stop() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null
        : new Promise((r) => p.on('exit', r)))));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + timeout * TIME_SCALE;
  for (;;) {
    try {
      const d = await op.discovery();
      if (d.issuer === issuer) break;
    } catch { /* not up yet */ }
    if (procs.some((p) => p.exitCode !== null)) { await op.stop(); throw new Error(`provider exited:\n${output}`); }
    if (Date.now() > deadline) { await op.stop(); throw new Error(`provider did not start:\n${output}`); }
    await sleep(200);
  }
  return op;
}
