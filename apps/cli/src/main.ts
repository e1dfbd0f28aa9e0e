import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ApiKeyService, DEFAULT_DISABLE_LIMIT } from '@app/auth';
import { loadAppConfig } from '@app/config';
import { DomainError, formatRateLimit } from '@app/domain';
import { ApiKeyStore, createDataSource, runMigrationsLocked } from '@app/persistence';

const USAGE = `Usage: npm run cli -- <command>
  api-key create --name <name> --scopes <scope,scope> [--disable-limit <n>/<duration> | none]
                                                        prints the new key once; the disable limit
                                                        (default ${DEFAULT_DISABLE_LIMIT} without admin, none with it)
                                                        caps the Disable tasks the key may create
  api-key list
  api-key revoke <name>
  migration run
Scopes: tasks:read, tasks:write, webhooks:manage, admin`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      'disable-limit': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [group, command, arg] = positionals;
  if (values.help || !group) return usage(0);

  const config = loadAppConfig({ ...process.env, PROVIDERS_FILE: '' });
  const dataSource = await createDataSource(config.databaseUrl).initialize();
  try {
    const applied =
      config.migrateOnStart || group === 'migration' ? await runMigrationsLocked(dataSource) : [];
    if (group === 'migration' && command === 'run') {
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
      return 0;
    }
    if (group !== 'api-key') return usage(2);
    const keys = new ApiKeyService(new ApiKeyStore(dataSource));
    switch (command) {
      case 'create': {
        if (!values.name || !values.scopes) return usage(2);
        const scopes = values.scopes
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const { key, entity } = await keys.create(values.name, scopes, {
          disableLimit: values['disable-limit'],
        });
        const limit = entity.disableLimit
          ? `at most ${formatRateLimit({ max: entity.disableLimit, windowSeconds: entity.disableWindowSeconds as number })} Disable tasks`
          : 'no Disable limit';
        console.log(`Created API key "${entity.name}" with scopes ${entity.scopes.join(', ')} and ${limit}.`);
        console.log('Store it now; it is not shown again:');
        console.log(key);
        return 0;
      }
      case 'list': {
        const rows = await keys.list();
        if (rows.length === 0) console.log('No API keys.');
        for (const k of rows) {
          const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
          const used = k.lastUsedAt ? k.lastUsedAt.toISOString() : 'never';
          const limit = k.disableLimit
            ? formatRateLimit({ max: k.disableLimit, windowSeconds: k.disableWindowSeconds as number })
            : 'none';
          console.log(
            `${k.name}\t${k.keyPrefix}…\t${k.scopes.join(',')}\tdisable limit ${limit}\t${state}\tcreated ${k.createdAt.toISOString()}\tlast used ${used}`,
          );
        }
        return 0;
      }
      case 'revoke': {
        if (!arg) return usage(2);
        const done = await keys.revoke(arg);
        console.log(done ? `Revoked ${arg}.` : `No active API key named ${arg}.`);
        return done ? 0 : 1;
      }
      default:
        return usage(2);
    }
  } finally {
    await dataSource.destroy();
  }
}

function usage(code: number): number {
  (code === 0 ? console.log : console.error)(USAGE);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(e instanceof DomainError ? `${e.code}: ${e.message}` : `error: ${e.message}`);
    process.exit(1);
  },
);
