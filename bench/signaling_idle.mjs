// Memory of idle WebSocket connections: RSS of palabre before and after N
// idle connections (joined or not). Usage: node bench/signaling_idle.mjs [N]
// Prints one line per phase: connections, RSS KiB, KiB per connection.
import fs from 'node:fs';
import { startPalabre, connect } from '../tests/lib/palabre.mjs';

const N = +(process.argv[2] || 1000);
const rss = (pid) => +fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];
// every connection comes from 127.0.0.1 and idles before its join: per-address limits and
// the join timeout raised
const srv = await startPalabre({ config: { limits: { max_participants_per_room: 100000,
  connections_per_ip: 100000, rooms_per_ip_per_minute: 100000, join_timeout_seconds: 3600 } },
logLevel: 'warn' });
const pid = srv.proc.pid;
// warm-up: one connection so lws allocates its pools
const w = await connect(srv.wsUrl); await w.call('ping'); await w.close();
const base = rss(pid);
const clients = [];
for (let i = 0; i < N; i++) clients.push(await connect(srv.wsUrl));
await clients[N - 1].call('ping');
const idle = rss(pid);
console.log(`idle, not joined: ${N} connections, RSS ${base} -> ${idle} KiB, ${((idle - base) / N).toFixed(1)} KiB/connection`);
for (let i = 0; i < N; i++) await clients[i].call('join', { room: `r${i % 50}`, name: `n${i}` });
const joined = rss(pid);
console.log(`idle, joined (50 rooms): ${N} connections, RSS ${base} -> ${joined} KiB, ${((joined - base) / N).toFixed(1)} KiB/connection`);
for (const c of clients) c.ws.terminate();
await srv.stop();
