import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import { ApiKeyService } from '@app/auth';
import { ConfigError, loadAppConfig } from '@app/config';
import { DomainError, formatRateLimit } from '@app/domain';
import { ProviderService, TaskService } from '@app/engine';
import { ApiKeyStore, createDataSource, runMigrationsLocked } from '@app/persistence';
import { Command, EXIT, parseCommand, USAGE, UsageError } from './args';
import { createCliContext } from './cli.app';
import { BatchIo, runBatchCommand } from './batch-commands';
import { runTaskCommand } from './task-commands';

const io: BatchIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  writeOut: (text) => process.stdout.write(text),
  writeErr: (text) => process.stderr.write(text),
  outIsTty: process.stdout.isTTY === true,
  errIsTty: process.stderr.isTTY === true,
  readText,
};

/** A file that cannot be read is the operator's mistake to fix, like a bad option: a usage error. */
async function readText(path: string): Promise<string> {
  try {
    if (path !== '-') return await readFile(path, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path === '-' ? 'stdin' : path}: ${(e as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv);
  if (cmd.kind === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (cmd.kind.startsWith('task-') || cmd.kind.startsWith('provider-') || cmd.kind.startsWith('batch-'))
    return runWithEngine(cmd as EngineCommand);
  return runKeysAndMigrations(cmd);
}

type EngineCommand = Parameters<typeof runTaskCommand>[0] | Parameters<typeof runBatchCommand>[0];

/** Task, batch and provider commands: the engine's services in a Nest application context, no HTTP, no API key. */
async function runWithEngine(cmd: EngineCommand): Promise<number> {
  const app = await createCliContext(loadAppConfig());
  let waitingFor: string | null = null;
  const what = cmd.kind.startsWith('batch-') ? 'batch' : 'task';
  const interrupted = () => {
    // A batch's progress line on a terminal has no newline yet; the message goes below it, not over it.
    if (waitingFor && what === 'batch' && (io.outIsTty || io.errIsTty)) io.writeErr('\n');
    io.err(
      waitingFor
        ? `stopped waiting; ${what} ${waitingFor} goes on (${what} show ${waitingFor})`
        : 'interrupted',
    );
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  const onWaiting = (id: string) => (waitingFor = id);
  try {
    if (cmd.kind.startsWith('batch-'))
      return await runBatchCommand(cmd as Parameters<typeof runBatchCommand>[0], app.get(TaskService), io, {
        pollMs: 1000,
        onWaiting,
      });
    return await runTaskCommand(
      cmd as Parameters<typeof runTaskCommand>[0],
      { tasks: app.get(TaskService), providers: app.get(ProviderService) },
      io,
      { pollMs: 500, onWaiting },
    );
  } finally {
    process.off('SIGINT', interrupted);
    await app.close();
  }
}

/** API keys and migrations need PostgreSQL only (and no valid PROVIDERS_FILE). */
async function runKeysAndMigrations(cmd: Command): Promise<number> {
  const config = loadAppConfig({ ...process.env, PROVIDERS_FILE: '' });
  const dataSource = await createDataSource(config.databaseUrl).initialize();
  try {
    const applied =
      config.migrateOnStart || cmd.kind === 'migration-run' ? await runMigrationsLocked(dataSource) : [];
    const keys = new ApiKeyService(new ApiKeyStore(dataSource));
    switch (cmd.kind) {
      case 'migration-run':
        io.out(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
        return EXIT.ok;
      case 'api-key-create': {
        const { key, entity } = await keys.create(cmd.name, cmd.scopes, { disableLimit: cmd.disableLimit });
        const limit = entity.disableLimit
          ? `at most ${formatRateLimit({ max: entity.disableLimit, windowSeconds: entity.disableWindowSeconds as number })} Disable tasks`
          : 'no Disable limit';
        io.out(`Created API key "${entity.name}" with scopes ${entity.scopes.join(', ')} and ${limit}.`);
        io.out('Store it now; it is not shown again:');
        io.out(key);
        return EXIT.ok;
      }
      case 'api-key-list': {
        const rows = await keys.list();
        if (rows.length === 0) io.out('No API keys.');
        for (const k of rows) {
          const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
          const used = k.lastUsedAt ? k.lastUsedAt.toISOString() : 'never';
          const limit = k.disableLimit
            ? formatRateLimit({ max: k.disableLimit, windowSeconds: k.disableWindowSeconds as number })
            : 'none';
          io.out(
            `${k.name}\t${k.keyPrefix}…\t${k.scopes.join(',')}\tdisable limit ${limit}\t${state}\tcreated ${k.createdAt.toISOString()}\tlast used ${used}`,
          );
        }
        return EXIT.ok;
      }
      case 'api-key-revoke': {
        const done = await keys.revoke(cmd.name);
        io.out(done ? `Revoked ${cmd.name}.` : `No active API key named ${cmd.name}.`);
        return done ? EXIT.ok : EXIT.notSuccessful;
      }
      default:
        throw new UsageError(`unknown command ${cmd.kind}`);
    }
  } finally {
    await dataSource.destroy();
  }
}

/** Bad input is a usage error (2), whichever layer found it; everything else that stops a command is 3. */
function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT.usage;
  if (e instanceof DomainError) return e.httpStatus === 400 ? EXIT.usage : EXIT.error;
  return EXIT.error;
}

function report(e: unknown, json: boolean): void {
  const error =
    e instanceof DomainError
      ? { code: e.code, message: e.message, ...(e.details ?? {}) }
      : e instanceof UsageError
        ? { code: 'usage', message: e.message }
        : e instanceof ConfigError
          ? { code: 'invalidConfiguration', message: e.message }
          : { code: 'error', message: (e as Error)?.message ?? String(e) };
  if (json) io.out(JSON.stringify({ error }, null, 2));
  else io.err(`error: ${error.code === 'error' ? '' : `${error.code}: `}${error.message}`);
  if (e instanceof UsageError) io.err(`\n${USAGE}`);
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => process.exit(code),
  (e: unknown) => {
    report(e, argv.includes('--json'));
    process.exit(exitCodeOf(e));
  },
);
