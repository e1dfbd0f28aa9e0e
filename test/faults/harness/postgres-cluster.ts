import { execFile, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, record } from './processes';

const run = promisify(execFile);

/** A PostgreSQL server of the test's own, which it may stop and start at will. */
export interface PostgresCluster {
  port: number;
  /** Connection URL of a database in this cluster (user postgres, trust auth). */
  url(database: string): string;
  /** `pg_ctl stop -m fast`: sessions are ended and new connections refused until `start`. */
  stopFast(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (immediate) and deletes its files. */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL server binaries installed the Debian way (/usr/lib/postgresql/<major>/bin). */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors.length) throw new Error(`no PostgreSQL server binaries under ${root}/<major>/bin`);
  return join(root, majors[0], 'bin');
}

/** initdb and postgres refuse to run as root: as root, run them as the postgres user. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** How to run pg_ctl (as postgres when we are root), for a process that cannot import this module. */
export function pgCtlInvocation(): string[] | null {
  try {
    const [cmd, args] = asPostgres(join(binDir(), 'pg_ctl'), []);
    return [cmd, ...args];
  } catch {
    return null;
  }
}

const clusters = new Set<string>();
// A leaked postmaster would outlive jest and hold its port and files; stop it on any exit of this process.
process.once('exit', () => {
  for (const data of clusters) {
    immediateStopSync(data);
    rmSync(dirname(data), { recursive: true, force: true });
  }
});

/** Stops a cluster synchronously (for exit hooks and the global teardown): pg_ctl, then SIGKILL if need be. */
function immediateStopSync(dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const [cmd, args] = asPostgres(join(binDir(), 'pg_ctl'), [
    '-D',
    dataDir,
    '-m',
    'immediate',
    '-w',
    '-t',
    '10',
    'stop',
  ]);
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 15_000 });
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * initdb into a fresh temp directory (owned by postgres when we are root), trust authentication, a free port
 * on 127.0.0.1, no fsync (the data is thrown away), then `pg_ctl start`.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'are-faults-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const owner = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(owner.stdout), Number(group.stdout));
  }
  const forget = record('postgres', basename(dir), data);
  clusters.add(data);

  const pg = async (tool: string, args: string[], timeout = 60_000) => {
    const [cmd, full] = asPostgres(join(bin, tool), args);
    return run(cmd, full, { timeout, cwd: dir });
  };
  const cleanup = () => {
    immediateStopSync(data);
    clusters.delete(data);
    rmSync(dir, { recursive: true, force: true });
    forget();
  };

  const start = () => pg('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  let port = 0;
  try {
    await pg('initdb', [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    // A port picked by the OS can be taken by someone else before postgres binds it: try a few.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      appendFileSync(
        join(data, 'postgresql.conf'),
        [
          `port = ${port}`,
          `listen_addresses = '127.0.0.1'`,
          `unix_socket_directories = '${dir}'`,
          'max_connections = 100',
          'fsync = off',
          'full_page_writes = off',
          '',
        ].join('\n'),
      );
      try {
        await start();
        break;
      } catch (e) {
        const log = readFileSafe(join(dir, 'server.log'));
        if (attempt < 4 && /could not bind|Address already in use/i.test(log)) continue;
        throw new Error(`postgres did not start: ${(e as Error).message}\n${log.slice(-2000)}`, {
          cause: e,
        });
      }
    }
  } catch (e) {
    cleanup();
    throw e;
  }

  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async stopFast() {
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
    },
    async start() {
      await start();
    },
    async destroy() {
      cleanup();
    },
  };
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
