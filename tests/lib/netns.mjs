// Network faults inside the test's own network namespace (tests/run.sh runs each
// e2e file in `unshare --net` with only lo). This kernel has no netem: random
// loss comes from nftables `numgen random`. Never call this outside a private
// namespace: it would change the machine's firewall.
import { execFileSync } from 'node:child_process';

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
