// Runs a command-line tool (palabre-load, ...) to its end: resolves with its
// exit code and its stdout + stderr; rejects (and kills it) after timeoutMs.
import { spawn } from 'node:child_process';

export function runTool(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`timeout: ${out}`)); }, timeoutMs);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}
