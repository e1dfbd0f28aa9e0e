import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../../migrations';
import { ENTITIES } from './entities';

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    // The schema comes from migrations only.
    synchronize: false,
    migrationsRun: false,
    extra: {
      max: Number(process.env.DATABASE_POOL_SIZE || 10),
      // Without a bound, a request waits for ever on a server that accepts TCP but never answers (paused,
      // partitioned); with one it fails and the API answers 503 databaseUnavailable.
      connectionTimeoutMillis: Number(process.env.DATABASE_CONNECT_TIMEOUT_MS || 5000),
    },
  };
}

export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource(dataSourceOptions(databaseUrl));
}

// Any constant works as long as every process uses the same one.
const MIGRATION_LOCK_KEY = 727_100_001;

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so that several API and worker
 * processes starting together do not race; the ones that wait find nothing left to do.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}
