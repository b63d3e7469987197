// coturn (Debian's /usr/bin/turnserver) for the tests, never the system
// service: its own configuration, database, pid file and log in a temp dir.
//
//   const ca = testCertificate(dir, '10.77.2.2');  // { ca, cert, key, spki }: a test CA
//                                                 // and a server certificate for that IP
//   const turn = await startCoturn({ ns, dir, listen: '10.77.2.2', secret, cert: ca.cert, key: ca.key });
//     ns: a Netns (tests/lib/netns.mjs) or SELF; conf: more lines, or a whole
//     file given as confFile (then listen is only where to wait for it); args: more flags
//   turn.log()                   // the log so far
//   turn.refusals(username)      // its "Cannot find credentials of user <username>" lines
//   await turn.stop();
//
//   turnCredential(secret, username) → base64(HMAC-SHA1(secret, username)), as coturn checks it
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const turnCredential = (secret, username) =>
  crypto.createHmac('sha1', secret).update(username).digest('base64');

// A CA and a certificate it signs for `ip` (subjectAltName IP), made with
// the openssl command line; spki: the server key's SHA-256 SPKI hash, base64
// (Chromium's --ignore-certificate-errors-spki-list takes it).
export function testCertificate(dir, ip) {
  const f = (n) => path.join(dir, n);
  const sh = (script) => execFileSync('sh', ['-c', script], { cwd: dir, stdio: 'pipe', timeout: 20000 }).toString();
  fs.writeFileSync(f('server.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  sh(`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 2 -subj /CN=palabre-test-ca
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
        -subj /CN=${ip}
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
        -extfile server.ext`);
  const spki = sh('openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | ' +
    'openssl dgst -sha256 -binary | openssl base64 -A').trim();
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), spki };
}

async function tcpOpen(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function startCoturn({ ns, dir, listen, secret, cert, key, conf = '', confFile, ports = [3478, 443],
  args = [] }) {
  const log = path.join(dir, 'turn.log');
  let file = confFile;
  if (!file) {
    file = path.join(dir, 'turnserver.conf');
    fs.writeFileSync(file, [
      `listening-ip=${listen}`, `relay-ip=${listen}`, 'listening-port=3478', 'tls-listening-port=443',
      'min-port=49160', 'max-port=49400', 'realm=palabre.test', 'use-auth-secret',
      `static-auth-secret=${secret}`, 'fingerprint', 'no-multicast-peers', 'no-cli',
      ...(cert ? [`cert=${cert}`, `pkey=${key}`] : ['no-tls', 'no-dtls']), conf,
    ].join('\n') + '\n');
  }
  // the database, pid file and log of this run, never /var/lib/turn or /var/log
  const proc = ns.spawn('turnserver', ['-c', file, '--userdb', path.join(dir, 'turndb'),
    '--pidfile', path.join(dir, 'turnserver.pid'), '--log-file', log, '--simple-log', ...args],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const readLog = () => { try { return fs.readFileSync(log, 'utf8'); } catch { return ''; } };
  const deadline = Date.now() + 15000 * TIME_SCALE;
  for (const port of ports) {
    while (!(await tcpOpen(listen, port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`coturn is not listening on ${listen}:${port}: ${output}\n${readLog().slice(-3000)}`);
      }
      await sleep(100);
    }
  }
  return {
    proc, file,
    log: () => readLog() + output, // a configuration with log-file=stdout logs to output
    refusals: (username) => (readLog() + output).split('\n')
      .filter((l) => l.includes(`Cannot find credentials of user <${username}>`)),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}
