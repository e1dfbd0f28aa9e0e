import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = resolve(__dirname, '../..');
const SOURCES = ['apps', 'libs', 'migrations'];
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newestTs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTs(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function stale(entryPoints: string[]): boolean {
  const built = entryPoints.map((f) => join(REPO_ROOT, f));
  if (!built.every(existsSync)) return true;
  const oldest = Math.min(...built.map((f) => statSync(f).mtimeMs));
  const newest = Math.max(
    ...SOURCES.map((d) => newestTs(join(REPO_ROOT, d))),
    ...SETTINGS.map((f) => statSync(join(REPO_ROOT, f)).mtimeMs),
  );
  return newest > oldest;
}

/**
 * The specs that run the compiled processes need `dist` to match the sources: `npm test` builds first (pretest);
 * a spec run on its own builds here when an entry point is missing or older than a source. Specs running side by
 * side take turns through a lock directory, so that one build does not overwrite another's output mid-run.
 */
export async function ensureBuilt(entryPoints: string[]): Promise<void> {
  if (!stale(entryPoints)) return;
  const lock = join(REPO_ROOT, '.tmp', 'build.lock');
  mkdirSync(join(REPO_ROOT, '.tmp'), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another spec is building; a lock older than any build is a leftover of a killed run.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000)
        rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${lock} held for 3 minutes`);
      await new Promise((r) => setTimeout(r, 250)); // waiting for the other spec's build to finish
    }
  }
  try {
    if (stale(entryPoints))
      await run('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, timeout: 170_000 });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
