import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ProviderConfig } from '@app/config';
import type { TestEngine } from '../harness/engine';
import { ensureBuilt, REPO_ROOT } from './built';

const CLI = 'dist/apps/cli/src/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface BuiltCli {
  /** A folder of the spec's own, removed by `remove`. */
  dir: string;
  run(args: string[], opts?: { stdin?: string; timeoutMs?: number }): Promise<CliRun>;
  remove(): void;
}

/**
 * The CLI as an operator runs it from the image (`node -r tsconfig-paths/register dist/apps/cli/src/main.js`),
 * with the processes' DATABASE_URL, REDIS_URL, QUEUE_PREFIX and PROVIDERS_FILE of `engine`, and no API key.
 */
export async function builtCli(engine: TestEngine, providers: ProviderConfig[]): Promise<BuiltCli> {
  await ensureBuilt([CLI]);
  const dir = mkdtempSync(join(tmpdir(), 'are-cli-'));
  const providersFile = join(dir, 'providers.yml');
  writeFileSync(providersFile, stringify({ providers }));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TS_NODE_BASEURL: './dist',
    DATABASE_URL: engine.config.databaseUrl,
    REDIS_URL: engine.config.redisUrl,
    QUEUE_PREFIX: engine.config.queuePrefix,
    PROVIDERS_FILE: providersFile,
    LOG_LEVEL: 'warn',
  };
  return {
    dir,
    run: (args, opts = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          ['-r', 'tsconfig-paths/register', CLI, ...args],
          { cwd: REPO_ROOT, env, timeout: opts.timeoutMs ?? 60_000 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
        child.stdin?.end(opts.stdin ?? '');
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
