import { parseRateLimit, RateLimit } from '@app/domain';
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
  webhooks: WebhookConfig;
  /**
   * API_RATE_LIMIT: requests one API key may make per window, across every API process (counted in Redis);
   * `none` turns it off. Absent (as in tests that build a config by hand): off.
   */
  apiRateLimit?: RateLimit | null;
  /**
   * WORKER_PORT: the worker's own HTTP listener (/metrics, /health/live, /health/ready), 3001 by default; 0 turns
   * it off. Absent (as in tests that build a config by hand): off.
   */
  workerPort?: number;
  /**
   * METRICS_TOKEN: when set, GET /metrics (API and worker) wants `Authorization: Bearer <token>`. Unset: open,
   * like /health; then keep the metrics port off the public network.
   */
  metricsToken?: string | null;
}

/** CONTRACT §8: outbound webhooks (standing subscriptions and per-task callbackUrl). */
export interface WebhookConfig {
  /** WEBHOOK_ALLOW_PRIVATE: let deliveries reach private, loopback, link-local… addresses (off by default). */
  allowPrivate: boolean;
  /** WEBHOOK_ALLOWED_HOSTS: host names, IP addresses or CIDR ranges allowed even though they are private. */
  allowedHosts: string[];
  /** WEBHOOK_TIMEOUT_MS: one attempt, from connect to the response's status line. */
  timeoutMs: number;
  /** WEBHOOK_RETRY_SCHEDULE: the waits before each retry after the first, immediate, attempt. */
  retryScheduleMs: number[];
  /** WEBHOOK_CALLBACK_SECRET: `whsec_…` secret(s) signing per-task callbacks; several while rotating. */
  callbackSecrets: string[];
  /** WEBHOOK_ENCRYPTION_KEY: base64 of 32 bytes; subscription secrets are sealed with it at rest. */
  encryptionKey: string | null;
  /** WEBHOOK_POLL_INTERVAL_MS: how often a worker looks for new events and due deliveries. */
  pollIntervalMs: number;
  /** WEBHOOK_CONCURRENCY: deliveries in flight per worker. */
  concurrency: number;
}

/**
 * Svix's schedule (https://docs.svix.com/retries): after the immediate attempt, 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 10 h; eight attempts over about 27.6 hours, so a receiver down for a day still gets everything.
 */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

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
    webhooks: loadWebhookConfig(env),
    apiRateLimit: loadApiRateLimit(env),
    workerPort: portFromEnv(env, 'WORKER_PORT', 3001),
    metricsToken: loadMetricsToken(env),
  };
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const port = intFromEnv(env, name, fallback);
  if (port > 65535) throw new ConfigError(`${name}: must be a TCP port (0 to 65535), got ${port}`);
  return port;
}

function loadMetricsToken(env: NodeJS.ProcessEnv): string | null {
  const token = env.METRICS_TOKEN?.trim() || null;
  // Never echo the value: it is a secret.
  if (token && !/^[\x21-\x7e]{16,256}$/.test(token))
    throw new ConfigError('METRICS_TOKEN: must be 16 to 256 visible ASCII characters, without spaces');
  return token;
}

export const DEFAULT_API_RATE_LIMIT = '1200/1m';

function loadApiRateLimit(env: NodeJS.ProcessEnv): RateLimit | null {
  const spec = (env.API_RATE_LIMIT ?? DEFAULT_API_RATE_LIMIT).trim();
  if (spec === 'none') return null;
  try {
    return parseRateLimit(spec, 'API_RATE_LIMIT');
  } catch (e) {
    throw new ConfigError(`API_RATE_LIMIT: ${(e as Error).message}, or none; got ${spec}`);
  }
}

export function loadWebhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const allowPrivate = (env.WEBHOOK_ALLOW_PRIVATE ?? 'false').trim();
  if (allowPrivate !== 'true' && allowPrivate !== 'false')
    throw new ConfigError(`WEBHOOK_ALLOW_PRIVATE: must be true or false, got ${allowPrivate}`);
  const schedule = env.WEBHOOK_RETRY_SCHEDULE?.trim()
    ? list(env.WEBHOOK_RETRY_SCHEDULE).map((d) => durationMs('WEBHOOK_RETRY_SCHEDULE', d))
    : [...DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS];
  const callbackSecrets = list(env.WEBHOOK_CALLBACK_SECRET ?? '', /[\s,]+/);
  for (const s of callbackSecrets) {
    // Never echo the value: it is a secret.
    if (!isWhsecSecret(s))
      throw new ConfigError('WEBHOOK_CALLBACK_SECRET: each secret must be whsec_<base64 of 24-64 bytes>');
  }
  const encryptionKey = env.WEBHOOK_ENCRYPTION_KEY?.trim() || null;
  if (encryptionKey && !/^[A-Za-z0-9+/]{43}=$/.test(encryptionKey))
    throw new ConfigError('WEBHOOK_ENCRYPTION_KEY: must be the base64 of 32 random bytes');
  return {
    allowPrivate: allowPrivate === 'true',
    allowedHosts: list(env.WEBHOOK_ALLOWED_HOSTS ?? '').map((h) => h.toLowerCase()),
    timeoutMs: Math.max(1, intFromEnv(env, 'WEBHOOK_TIMEOUT_MS', 15_000)),
    retryScheduleMs: schedule,
    callbackSecrets,
    encryptionKey,
    pollIntervalMs: Math.max(10, intFromEnv(env, 'WEBHOOK_POLL_INTERVAL_MS', 500)),
    concurrency: Math.max(1, intFromEnv(env, 'WEBHOOK_CONCURRENCY', 20)),
  };
}

/** Standard Webhooks secret format: `whsec_` and the base64 of 24 to 64 random bytes. */
export function isWhsecSecret(s: string): boolean {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m || m[1].length % 4 !== 0) return false;
  const n = Buffer.from(m[1], 'base64').length;
  return n >= 24 && n <= 64;
}

function list(raw: string, separator: RegExp = /,/): string[] {
  return raw
    .split(separator)
    .map((s) => s.trim())
    .filter(Boolean);
}

function durationMs(name: string, raw: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(raw);
  if (!m) throw new ConfigError(`${name}: ${raw} is not a duration (e.g. 500ms, 5s, 30m, 2h)`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`${name}: must be a non-negative integer, got ${raw}`);
  return n;
}
