// Network faults inside the test's own network namespace (tests/run.sh runs each
// e2e file in `unshare --net` with only lo). This kernel has no netem: random
// loss comes from nftables `numgen random`. Never call this outside a private
// namespace: it would change the machine's firewall.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const TABLE = 'palabre_test';

function nft(script) {
  execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'inherit', 'inherit'] });
}

// True when this process's network namespace has no interface but lo (the
// namespace tests/run.sh makes), so the rules cannot touch real traffic.
export function inPrivateNetns() {
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString().trim().split('\n');
  return links.length === 1 && /^\d+: lo:/.test(links[0]);
}

// Drops `percent`% of the UDP packets from or to `ports` (both directions on lo).
export function addUdpLoss(ports, percent) {
  if (!inPrivateNetns()) throw new Error('refusing to change nftables outside a private network namespace');
  const set = [...new Set(ports)].join(', ');
  const when = percent >= 100 ? '' : `numgen random mod 100 < ${percent} `;
  clearLoss();
  nft(`table inet ${TABLE} {
  chain in {
    type filter hook input priority 0; policy accept;
    udp sport { ${set} } ${when}counter drop
    udp dport { ${set} } ${when}counter drop
  }
}
`);
}

export function clearLoss() {
  try {
    execFileSync('nft', ['delete', 'table', 'inet', TABLE], { stdio: 'ignore' });
  } catch { /* absent */ }
}

// Packets dropped so far by the loss rules.
export function droppedPackets() {
  const out = execFileSync('nft', ['list', 'table', 'inet', TABLE]).toString();
  return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

// ---------------------------------------------------------------- topologies
// Namespaces of our own, joined by veth pairs, inside the suite's private
// namespace (which stands for the server's host). Each namespace is held by a
// process (`unshare --net cat`) that lives as long as its stdin pipe: when the
// test process goes, for whatever reason, the holders exit and the kernel
// deletes their namespaces with their veth ends and nftables tables. Nothing
// goes through /run/netns, so nothing is left on the machine.
//
//   const router = await Netns.create('router');
//   await link(SELF, 's0', '10.77.1.2/24', router, 'r0', '10.77.1.1/24');
//   router.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
//   router.nft('table ip nat { ... }');
//   const child = router.spawn('turnserver', ['-c', conf]);   // a process inside it
//   router.wrapper(dir, '/usr/bin/chromium')  → a script path: that binary, run inside
//   await router.destroy();
//
// SELF is the test's own namespace (commands run directly).

const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 10000, ...opts }).toString();

export class Netns {
  constructor(name, holder) {
    this.name = name;
    this.holder = holder; // null for SELF
    this.pid = holder ? holder.pid : null;
  }

  // A command prefix that runs its arguments in this namespace.
  get prefix() { return this.pid ? ['nsenter', '-t', String(this.pid), '-n', '--'] : []; }

  run(cmd, args = [], opts) {
    const p = this.prefix;
    return p.length ? run(p[0], [...p.slice(1), cmd, ...args], opts) : run(cmd, args, opts);
  }

  spawn(cmd, args = [], opts = {}) {
    const p = this.prefix;
    return p.length ? spawn(p[0], [...p.slice(1), cmd, ...args], opts) : spawn(cmd, args, opts);
  }

  ip(...args) { return this.run('ip', args); }

  nft(script) { return this.run('nft', ['-f', '-'], { input: script }); }

  // An executable script that runs `binary` inside this namespace (for a
  // launcher that wants a path, as Playwright's executablePath).
  wrapper(dir, binary) {
    const file = path.join(dir, `in-${this.name}-${path.basename(binary)}`);
    fs.writeFileSync(file, `#!/bin/sh\nexec ${this.prefix.join(' ')} ${binary} "$@"\n`, { mode: 0o755 });
    return file;
  }

  static async create(name) {
    if (!inPrivateNetnsOrOurs()) throw new Error('refusing to build a topology outside a private network namespace');
    const holder = spawn('unshare', ['--net', 'cat'], { stdio: ['pipe', 'ignore', 'inherit'] });
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    holder.gone = gone;
    await new Promise((resolve, reject) => {
      holder.once('spawn', resolve);
      holder.once('error', reject);
    });
    const ns = new Netns(name, holder);
    // unshare has made the namespace once it has exec'd cat: wait for that
    const own = fs.readlinkSync('/proc/self/ns/net');
    const deadline = Date.now() + 5000;
    for (;;) {
      let cur = null;
      try { cur = fs.readlinkSync(`/proc/${holder.pid}/ns/net`); } catch { /* not yet */ }
      let comm = '';
      try { comm = fs.readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim(); } catch { /* not yet */ }
      if (cur && cur !== own && comm === 'cat') break;
      if (Date.now() > deadline) throw new Error(`namespace ${name} did not appear`);
      await new Promise((r) => setTimeout(r, 20));
    }
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  async destroy() {
    if (!this.holder) return;
    this.holder.stdin.end(); // cat exits; the namespace goes with its last process
    const t = setTimeout(() => this.holder.kill('SIGKILL'), 2000);
    await this.holder.gone;
    clearTimeout(t);
  }
}

export const SELF = new Netns('self', null);
const selfLinks = new Set();

// Deletes the veth ends made in SELF (with their routes and peer ends).
export function unlinkSelf() {
  for (const ifname of selfLinks) {
    try { SELF.ip('link', 'del', ifname); } catch { /* its peer's namespace went first */ }
  }
  selfLinks.clear();
}

// Namespaces made by Netns.create are children of this one, so the check is
// on the suite's namespace itself: only lo, or veths we added (names s*).
let privateChecked = false;
function inPrivateNetnsOrOurs() {
  if (privateChecked) return true;
  privateChecked = inPrivateNetns();
  return privateChecked;
}

// A veth pair: end a in namespace na with address addrA (CIDR), end b in nb.
export async function link(na, ifA, addrA, nb, ifB, addrB) {
  // made inside na, the peer end moved to nb by its holder's pid
  const peerNs = nb.pid ? ['netns', String(nb.pid)] : ['netns', String(process.pid)];
  na.ip('link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, ...peerNs);
  // the kernel deletes a namespace (and the veth pairs in it) some time after
  // its last process: the end in SELF is deleted at once by unlink()
  if (na === SELF) selfLinks.add(ifA);
  if (nb === SELF) selfLinks.add(ifB);
  // No duplicate address detection on these links: with it, each IPv6
  // address (the link-local one too) turns from tentative to usable a second
  // or two after the link comes up, and Chromium, already running by then,
  // takes that for a network change and fails every request in flight
  // (net::ERR_NETWORK_CHANGED: a page's module never loads). Without it the
  // addresses are final before link() returns.
  noDad(na, ifA);
  noDad(nb, ifB);
  na.ip('addr', 'add', addrA, 'dev', ifA);
  na.ip('link', 'set', ifA, 'up');
  nb.ip('addr', 'add', addrB, 'dev', ifB);
  nb.ip('link', 'set', ifB, 'up');
  await settled(na, ifA);
  await settled(nb, ifB);
}

// The kernel finishes bringing a link up about a second later (its link
// watcher: operstate UP, then the IPv6 link-local address). A Chromium
// started before that sees a network change and fails the requests it has in
// flight (net::ERR_NETWORK_CHANGED), so link() returns once the link is final.
async function settled(ns, ifname, ms = 10000) {
  const deadline = Date.now() + ms;
  const v6 = () => { try { return ns.run('sysctl', ['-n', `net.ipv6.conf.${ifname}.disable_ipv6`]).trim() === '0'; } catch { return false; } };
  const hasV6 = v6();
  for (;;) {
    const up = / state UP /.test(ns.ip('-o', 'link', 'show', 'dev', ifname));
    const ll = !hasV6 || ns.ip('-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'link').includes('fe80::');
    if (up && ll) return;
    if (Date.now() > deadline) throw new Error(`link ${ifname} in ${ns.name} not up after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function noDad(ns, ifname) {
  try {
    ns.run('sysctl', ['-qw', `net.ipv6.conf.${ifname}.accept_dad=0`]);
  } catch { /* IPv6 off in that namespace: no address to detect */ }
}

// The reach topology (tests/e2e/turn.test.mjs):
//
//   client 192.168.77.2 ── 192.168.77.1 router 10.77.1.1 ── 10.77.1.2 server (SELF)
//   (behind the router's              │ masquerades the
//    masquerading NAT)                │ client's network
//                                   10.77.2.1 ── 10.77.2.2 coturn
//
// The server and coturn have routable addresses; the client reaches both
// only through the NAT. Returns { router, coturn, client, addr, destroy() }.
export async function natTopology() {
  const addr = { server: '10.77.1.2', coturn: '10.77.2.2', client: '192.168.77.2', nat: '10.77.1.1' };
  const made = [];
  try {
    const router = await Netns.create('router'); made.push(router);
    const coturn = await Netns.create('coturn'); made.push(coturn);
    const client = await Netns.create('client'); made.push(client);
    await link(SELF, 's0', '10.77.1.2/24', router, 'r0', '10.77.1.1/24');
    await link(router, 'r1', '10.77.2.1/24', coturn, 't0', '10.77.2.2/24');
    await link(router, 'rl', '192.168.77.1/24', client, 'c0', '192.168.77.2/24');
    SELF.ip('route', 'add', '10.77.2.0/24', 'via', '10.77.1.1');
    coturn.ip('route', 'add', 'default', 'via', '10.77.2.1');
    client.ip('route', 'add', 'default', 'via', '192.168.77.1');
    router.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    router.nft(`table ip palabre_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 192.168.77.0/24 oifname != "rl" masquerade
  }
}
`);
    return {
      router, coturn, client, addr,
      async destroy() { unlinkSelf(); for (const ns of made.reverse()) await ns.destroy(); },
    };
  } catch (e) {
    unlinkSelf();
    for (const ns of made.reverse()) await ns.destroy();
    throw e;
  }
}

// Firewall rules in the client's namespace (its output hook), replacing the
// previous ones: `rules` are nftables statements, each counted. Returns the
// packets they dropped so far with droppedBy(ns).
export function clientFirewall(ns, rules) {
  try { ns.run('nft', ['delete', 'table', 'inet', 'palabre_fw']); } catch { /* none yet */ }
  if (!rules.length) return;
  ns.nft(`table inet palabre_fw {
  chain out {
    type filter hook output priority 0; policy accept;
${rules.map((r) => `    ${r} counter drop`).join('\n')}
  }
}
`);
}

export function droppedBy(ns) {
  let out = '';
  try { out = ns.run('nft', ['list', 'table', 'inet', 'palabre_fw']); } catch { return 0; }
  return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

// The 1:1 NAT topology (tests/e2e/nat.test.mjs): the server has only a private
// address; its gateway owns the public one and forwards it whole (dnat in,
// snat out), as a cloud VM's floating IP does. Its forward chain lets in only
// what docs/operations.md ("NAT") says to open: TCP `httpPort` (a port or a
// list) and UDP
// `udp[0]`–`udp[1]` to the server, and replies.
//
//   client 192.168.77.2 ── 192.168.77.1 SELF 203.0.113.20 ── 203.0.113.10 gw 10.77.2.1 ── 10.77.2.2 server
//   (behind SELF's masquerading NAT)        (1:1 NAT: 203.0.113.10 ↔ 10.77.2.2)
//
// 203.0.113.0/24 is a documentation range, used only on these veth links.
// Nothing routes 10.77.2.0/24 outside gw: the server's private address is
// unreachable from the client; SELF lets into the client's LAN only replies. Returns { gw, server, client, addr, destroy() }.
export async function oneToOneNatTopology({ httpPort, udp }) {
  const addr = { server: '10.77.2.2', public: '203.0.113.10', client: '192.168.77.2', clientNat: '203.0.113.20' };
  const made = [];
  try {
    const gw = await Netns.create('gw'); made.push(gw);
    const server = await Netns.create('server'); made.push(server);
    const client = await Netns.create('client'); made.push(client);
    await link(SELF, 'sw', '203.0.113.20/24', gw, 'gw', '203.0.113.10/24');
    await link(gw, 'gl', '10.77.2.1/24', server, 'v0', '10.77.2.2/24');
    await link(SELF, 'sl', '192.168.77.1/24', client, 'c0', '192.168.77.2/24');
    server.ip('route', 'add', 'default', 'via', '10.77.2.1');
    client.ip('route', 'add', 'default', 'via', '192.168.77.1');
    gw.ip('route', 'add', 'default', 'via', '203.0.113.20');
    for (const ns of [SELF, gw]) ns.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    SELF.nft(`table ip palabre_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 192.168.77.0/24 oifname "sw" masquerade
  }
  # a home or 4G NAT: from outside, only replies to what the client sent
  # (without it, the gateway's default route would reach 192.168.77.0/24,
  # which no router on the Internet does)
  chain lan_in {
    type filter hook forward priority 0; policy accept;
    oifname "sl" ct state established,related accept
    oifname "sl" counter drop
  }
}
`);
    gw.nft(`table ip palabre_nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "gw" ip daddr ${addr.public} dnat to ${addr.server}
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "gw" ip saddr ${addr.server} snat to ${addr.public}
  }
  chain gate {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "gl" accept
    iifname "gw" ip daddr ${addr.server} tcp dport { ${[].concat(httpPort).join(', ')} } accept
    iifname "gw" ip daddr ${addr.server} udp dport ${udp[0]}-${udp[1]} accept
  }
}
`);
    return {
      gw, server, client, addr,
      async destroy() {
        unlinkSelf();
        try { SELF.run('nft', ['delete', 'table', 'ip', 'palabre_nat']); } catch { /* absent */ }
        for (const ns of made.reverse()) await ns.destroy();
      },
    };
  } catch (e) {
    unlinkSelf();
    try { SELF.run('nft', ['delete', 'table', 'ip', 'palabre_nat']); } catch { /* absent */ }
    for (const ns of made.reverse()) await ns.destroy();
    throw e;
  }
}

// palabre run by `ns` (SELF: this namespace) with the configuration text `ini`
// in a fresh folder under `dir`, listening on `listen` (host:port); waits until
// `base`/healthz answers from here. stop() fails when palabre does not exit 0
// on SIGTERM (a crash, a sanitizer report). proc is the process (signals),
// exited resolves to {code, signal}.
export async function startPalabreIn(ns, { bin, dir, name, listen, base, ini, timeoutMs = 15000 }) {
  const sdir = fs.mkdtempSync(path.join(dir, `${name}-`));
  const conf = path.join(sdir, 'palabre.ini');
  fs.writeFileSync(conf, ini);
  const proc = ns.spawn(bin, ['--listen', listen, '--data-dir', path.join(sdir, 'data'), '--config', conf,
    '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const srv = {
    base, proc, exited, output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await exited;
      if (r.code !== 0) throw new Error(`palabre exited with ${r.code} (${r.signal}) on SIGTERM:\n${output}`);
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`palabre exited (${proc.exitCode}): ${output}`);
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) { await srv.stop().catch(() => {}); throw new Error(`palabre did not answer on ${base}: ${output}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return srv;
}

// IPv6 addresses are tentative (unusable) until duplicate address detection
// has run, a second or two after the link comes up: waits until `ns` has none.
export async function ipv6Settled(ns, ms = 10000) {
  const deadline = Date.now() + ms;
  while (ns.ip('-6', '-o', 'addr', 'show', 'tentative').trim()) {
    if (Date.now() > deadline) throw new Error(`IPv6 addresses still tentative in ${ns.name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The two address families (tests/e2e/ipv6.test.mjs): this namespace (the
// server's host, dual-stack) and two client namespaces with one family each.
//
//   c4 10.77.4.2 ── 10.77.4.1 s4   SELF   s6 fd77:6::1 ── fd77:6::2 c6
//   (IPv4 only: IPv6 disabled)   (server)   (IPv6 only: no IPv4 but lo)
//
// Each client's default route goes to SELF, and each lets in only replies to
// what it sent (and IPv6 neighbour discovery), as a home router's firewall
// does (RFC 6092 for IPv6): the server cannot reach a client first, so media
// connect only through addresses the server announced. SELF gets an IPv6 default route
// too (through c6, which forwards nothing): Chromium gathers IPv6 candidates,
// its ::1 included, only when the host has an IPv6 default route on a real
// interface. fd77:6::/64 is a unique local (ULA) prefix, 10.77.4.0/24 private:
// nothing leaves the namespaces. Returns { c4, c6, addr, destroy() }.
export async function familyTopology() {
  const addr = { v4: '10.77.4.1', client4: '10.77.4.2', v6: 'fd77:6::1', client6: 'fd77:6::2' };
  const made = [];
  try {
    const c4 = await Netns.create('c4'); made.push(c4);
    const c6 = await Netns.create('c6'); made.push(c6);
    c4.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await link(SELF, 's4', `${addr.v4}/24`, c4, 'c4', `${addr.client4}/24`);
    await link(SELF, 's6', `${addr.v6}/64`, c6, 'c6', `${addr.client6}/64`);
    await ipv6Settled(SELF);
    await ipv6Settled(c6);
    c4.ip('route', 'add', 'default', 'via', addr.v4);
    c6.ip('-6', 'route', 'add', 'default', 'via', addr.v6);
    SELF.ip('-6', 'route', 'add', 'default', 'via', addr.client6);
    for (const ns of [c4, c6]) {
      ns.nft(`table inet palabre_fw {
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "lo" accept
    ct state established,related accept
    meta l4proto ipv6-icmp accept
    counter drop
  }
}
`);
    }
    return {
      c4, c6, addr,
      async destroy() { unlinkSelf(); for (const ns of made.reverse()) await ns.destroy(); },
    };
  } catch (e) {
    unlinkSelf();
    for (const ns of made.reverse()) await ns.destroy();
    throw e;
  }
}
