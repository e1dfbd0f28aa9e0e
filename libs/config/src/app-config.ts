import { ConfigError } from './config-error';
import { loadProvidersFile, ProviderConfig } from './providers.config';

/** Process-wide settings from the environment (CONTRACT §1), read once at start-up. */
export interface AppConfig {
  databaseUrl: string;
  redisUrl: string;
  /** Namespaces BullMQ keys, so that test runs and several deployments can share one Redis. */
  queuePrefix: string;
  port: number;
  providersFile: string | null;
  providers: ProviderConfig[];
  /** Run pending migrations at start-up (under an advisory lock). */
  migrateOnStart: boolean;
  /** How often the worker re-queues targets that PostgreSQL says are unfinished. */
  reconcileIntervalMs: number;
  workerConcurrency: number;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/account_response';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const providersFile = env.PROVIDERS_FILE || null;
  return {
    databaseUrl: env.DATABASE_URL || DEFAULT_DATABASE_URL,
    redisUrl: env.REDIS_URL || DEFAULT_REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX || 'are',
    port: intFromEnv(env, 'PORT', 3000),
    providersFile,
    providers: providersFile ? loadProvidersFile(providersFile, env) : [],
    migrateOnStart: (env.MIGRATE_ON_START ?? 'true') !== 'false',
    reconcileIntervalMs: intFromEnv(env, 'RECONCILE_INTERVAL_MS', 15_000),
    workerConcurrency: intFromEnv(env, 'WORKER_CONCURRENCY', 10),
  };
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`${name}: must be a non-negative integer, got ${raw}`);
  return n;
}
