import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root: the built processes resolve `@app/*` from ./dist relative to it. */
export const REPO_ROOT = resolve(__dirname, '../../..');

/**
 * Where this run records what it started, so that the global teardown (or the watchdog, if jest dies) can
 * end whatever a spec left behind: `pids/` process groups, `procs/` single processes, `postgres/` cluster
 * data directories, `dirs/` temp directories. Set by the suite's global setup; a spec run on its own gets a
 * directory of its own.
 */
export function runDir(): string {
  if (!process.env.FAULTS_RUN_DIR) {
    process.env.FAULTS_RUN_DIR = mkdtempSync(join(tmpdir(), 'are-faults-run-'));
  }
  const dir = process.env.FAULTS_RUN_DIR;
  for (const kind of RECORD_KINDS) mkdirSync(join(dir, kind), { recursive: true });
  return dir;
}

export const RECORD_KINDS = ['pids', 'procs', 'postgres', 'dirs'] as const;

/** Records something to clean up after a crash; the returned function forgets it once it is cleaned up. */
export function record(kind: (typeof RECORD_KINDS)[number], key: string, value: string): () => void {
  const marker = join(runDir(), kind, key);
  writeFileSync(marker, value);
  return () => rmSync(marker, { force: true });
}

/** A child started in its own process group, so that one signal reaches it and anything it spawned. */
export interface ChildHandle {
  name: string;
  pid: number;
  logFile: string;
  running(): boolean;
  /** Signals the whole process group. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** The process's output so far (stdout and stderr interleaved, as written). */
  output(): string;
  tail(lines?: number): string;
}

const live = new Map<number, string>();
// A jest worker that dies (or a spec that throws before its afterAll) must not leave API or worker processes
// behind to hold CI open; this runs on every exit of the test process, normal or not.
process.once('exit', () => {
  for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
});

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Runs `node <args>` from the repository root in a new process group, output going to a log file (a pipe
 * nobody reads could fill and stall the child). The environment is built from scratch: a built process
 * must not see jest's variables.
 */
export function spawnNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  logDir: string,
): ChildHandle {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      TMPDIR: process.env.TMPDIR ?? '/tmp',
      ...env,
    },
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${process.execPath}`);
  const pid = proc.pid;
  live.set(pid, name);
  const forget = record('pids', String(pid), name);
  let gone = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      gone = true;
      live.delete(pid);
      // The group leader is gone; anything it started goes with it.
      killGroup(pid, 'SIGKILL');
      forget();
      resolve();
    }),
  );
  proc.unref();

  const output = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    name,
    pid,
    logFile,
    running: () => !gone,
    signal: (sig) => killGroup(pid, sig),
    async stop(graceMs = 5_000) {
      if (gone) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    output,
    tail: (lines = 30) => output().trimEnd().split('\n').slice(-lines).join('\n'),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown by a probe when waiting longer cannot help (the process being waited for has died). */
export class GiveUp extends Error {}

/**
 * Polls `probe` every `intervalMs` until it answers something other than undefined, or fails with `what`
 * once `timeoutMs` has passed (at once if the probe throws GiveUp). Every wait of the suite is one of these.
 */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const BUILT = ['dist/apps/api/src/main.js', 'dist/apps/worker/src/main.js', 'dist/apps/cli/src/main.js'];
const SOURCES = ['apps', 'libs', 'migrations'];
const BUILD_CONFIG = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

/**
 * Builds `dist` when a compiled entry point is missing or older than a source or build setting: whatever runs
 * the built processes (the fault suite, the bench) must run the code as it is. `tag` prefixes the messages.
 */
export function buildIfStale(tag: string): void {
  const built = BUILT.map((f) => join(REPO_ROOT, f));
  const oldestBuild = built.every(existsSync) ? Math.min(...built.map((f) => statSync(f).mtimeMs)) : 0;
  const newestSource = Math.max(
    ...SOURCES.map((d) => newestTs(join(REPO_ROOT, d))),
    ...BUILD_CONFIG.map((f) => statSync(join(REPO_ROOT, f)).mtimeMs),
  );
  if (newestSource <= oldestBuild) return;
  process.stdout.write(`\n${tag}: dist is missing or older than the sources; npm run build\n`);
  const started = Date.now();
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  process.stdout.write(`${tag}: built in ${Date.now() - started} ms\n`);
}

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
