import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/processes';
import { startWatchdog } from './cleanup';

const BUILT = ['dist/apps/api/src/main.js', 'dist/apps/worker/src/main.js', 'dist/apps/cli/src/main.js'];
const SOURCES = ['apps', 'libs', 'migrations'];
const CONFIG = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** Newest modification time of the .ts files under `dir` (recursively). */
function newestTs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTs(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The fault suite runs the built processes, so `dist` must match the sources: build when any compiled entry
 * point is missing or older than a source or build setting (after `npm test`, whose pretest builds, it is not).
 * Also makes the run directory where processes and clusters are recorded for the teardown, and starts the
 * watchdog that cleans up after a jest that dies without its teardown.
 */
export default async function globalSetup(): Promise<void> {
  if (!existsSync('/usr/sbin/slapd')) {
    throw new Error('the fault suite needs slapd: apt-get install -y slapd ldap-utils');
  }
  const built = BUILT.map((f) => join(REPO_ROOT, f));
  const oldestBuild = built.every(existsSync) ? Math.min(...built.map((f) => statSync(f).mtimeMs)) : 0;
  const newestSource = Math.max(
    ...SOURCES.map((d) => newestTs(join(REPO_ROOT, d))),
    ...CONFIG.map((f) => statSync(join(REPO_ROOT, f)).mtimeMs),
  );
  if (newestSource > oldestBuild) {
    process.stdout.write('\nfaults: dist is missing or older than the sources; npm run build\n');
    const started = Date.now();
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    process.stdout.write(`faults: built in ${Date.now() - started} ms\n`);
  }
  process.env.FAULTS_RUN_DIR = mkdtempSync(join(tmpdir(), 'are-faults-run-'));
  startWatchdog(process.env.FAULTS_RUN_DIR);
}
