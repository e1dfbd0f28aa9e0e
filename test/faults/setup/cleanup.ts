import { spawn, spawnSync } from 'node:child_process';
import { pgCtlInvocation } from '../harness/postgres-cluster';

/**
 * Ends everything recorded in the run directory (see `runDir`): process groups, single processes (slapd),
 * PostgreSQL clusters, temp directories; then deletes the run directory. Plain JavaScript run by a separate
 * `node -e`, so that the watchdog can run it after jest is gone, and the teardown runs the very same code.
 *
 * argv: <pid to outlive, 0 for now> <run directory> <pg_ctl invocation as JSON, or null>
 */
const SCRIPT = `
const fs = require('node:fs');
const path = require('node:path');
const cp = require('node:child_process');
const [waitFor, dir, pgCtl] = process.argv.slice(1);
const list = (kind) => { try { return fs.readdirSync(path.join(dir, kind)); } catch { return []; } };
const read = (kind, f) => fs.readFileSync(path.join(dir, kind, f), 'utf8');
const kill = (pid) => { try { process.kill(pid, 'SIGKILL'); return 1; } catch { return 0; } };
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
function cleanUp() {
  let ended = 0;
  for (const pid of list('pids')) ended += kill(-Number(pid));
  for (const pid of list('procs')) ended += kill(Number(pid));
  const ctl = JSON.parse(pgCtl);
  for (const f of list('postgres')) {
    const data = read('postgres', f);
    if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
      if (ctl) cp.spawnSync(ctl[0], [...ctl.slice(1), '-D', data, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore', timeout: 15000 });
      try { ended += kill(Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\\n')[0])); } catch {}
      ended++;
    }
    fs.rmSync(path.dirname(data), { recursive: true, force: true });
  }
  for (const f of list('dirs')) fs.rmSync(read('dirs', f), { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  if (ended) console.log('faults: cleaned up ' + ended + ' processes or clusters left behind');
}
if (waitFor === '0') cleanUp();
else {
  const timer = setInterval(() => {
    if (!fs.existsSync(dir)) return process.exit(0);
    if (alive(Number(waitFor))) return;
    clearInterval(timer);
    cleanUp();
  }, 1000);
}
`;

const args = (waitFor: number, runDir: string) => [
  '-e',
  SCRIPT,
  String(waitFor),
  runDir,
  JSON.stringify(pgCtlInvocation()),
];

/**
 * The API, worker and PostgreSQL processes live in sessions of their own, so a CI runner that kills jest's
 * process group (a time-out, a cancelled job) would not reach them, and a jest killed by a signal runs no
 * exit hook. This detached process outlives jest on purpose: once jest is gone and the run directory is
 * still there (the teardown did not run), it cleans up; once the directory is gone, it just exits.
 */
export function startWatchdog(runDir: string): void {
  spawn(process.execPath, args(process.pid, runDir), { detached: true, stdio: 'ignore' }).unref();
}

export function cleanUpNow(runDir: string): void {
  spawnSync(process.execPath, args(0, runDir), { stdio: 'inherit', timeout: 60_000 });
}
