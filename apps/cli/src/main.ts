import 'reflect-metadata';
import { ApiKeyService } from '@app/auth';
import { ConfigError, loadAppConfig } from '@app/config';
import { DomainError, formatRateLimit } from '@app/domain';
import { ProviderService, TaskService } from '@app/engine';
import { ApiKeyStore, createDataSource, runMigrationsLocked } from '@app/persistence';
import { Command, EXIT, parseCommand, USAGE, UsageError } from './args';
import { createCliContext } from './cli.app';
import { Io, runTaskCommand } from './task-commands';

const io: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

async function main(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv);
  if (cmd.kind === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (cmd.kind.startsWith('task-') || cmd.kind.startsWith('provider-'))
    return runWithEngine(cmd as Parameters<typeof runTaskCommand>[0]);
  return runKeysAndMigrations(cmd);
}

/** Task and provider commands: the engine's services in a Nest application context, no HTTP, no API key. */
async function runWithEngine(cmd: Parameters<typeof runTaskCommand>[0]): Promise<number> {
  const app = await createCliContext(loadAppConfig());
  let waitingFor: string | null = null;
  const interrupted = () => {
    io.err(
      waitingFor ? `stopped waiting; task ${waitingFor} goes on (task show ${waitingFor})` : 'interrupted',
    );
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    return await runTaskCommand(
      cmd,
      { tasks: app.get(TaskService), providers: app.get(ProviderService) },
      io,
      { pollMs: 500, onWaiting: (id) => (waitingFor = id) },
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
