import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import type { AddressInfo } from 'node:net';
import { INestApplication, INestApplicationContext } from '@nestjs/common';
import { createApiApplication } from '../../apps/api/src/api.app';
import { createWorkerApplication } from '../../apps/worker/src/worker.app';
import { ApiKeyService } from '@app/auth';
import { AppConfig, DEFAULT_REDIS_URL, ProviderConfig, WebhookConfig } from '@app/config';
import { TaskView } from '@app/engine';
import { createTestDatabase, TestDatabase } from './database';

export interface EngineOptions {
  label: string;
  providers: ProviderConfig[];
  /** How many worker processes (Nest application contexts) to start; 0 for API-only specs. */
  workers?: number;
  /** Webhook settings over the test defaults (private targets refused, a fast schedule, an encryption key). */
  webhooks?: Partial<WebhookConfig>;
  /** Per-key request rate limit (off unless a spec sets it). */
  apiRateLimit?: AppConfig['apiRateLimit'];
  /**
   * The workers' own HTTP listener (WORKER_PORT). Off unless a spec asks: workers of one engine share this config,
   * and specs run side by side, so a fixed port would collide.
   */
  workerPort?: number;
}

export interface TestEngine {
  baseUrl: string;
  config: AppConfig;
  api: INestApplication;
  workers: INestApplicationContext[];
  db: TestDatabase;
  /** A key with every scope, named `test-admin`. */
  adminKey: string;
  createKey(name: string, scopes: string[]): Promise<string>;
  request(
    method: string,
    path: string,
    init?: { body?: unknown; key?: string | null; headers?: Record<string, string> },
  ): Promise<HttpResult>;
  waitForTask(id: string, timeoutMs?: number): Promise<TaskView>;
  /** Polls GET /api/v1/batches/{id} until it says `done`; returns that answer. */
  waitForBatch(id: string, timeoutMs?: number): Promise<BatchView>;
  /** Every task of a batch, through GET /api/v1/tasks?batchId= page by page. */
  listBatchTasks(id: string): Promise<TaskView[]>;
  startWorker(): Promise<INestApplicationContext>;
  stop(): Promise<void>;
}

/** GET /api/v1/batches/{id}, as the API answers it (CONTRACT §5). */
export interface BatchView {
  id: string;
  action: string;
  requested: number;
  accepted: number;
  rejected: number;
  counts: Record<string, number>;
  done: boolean;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * The real API and worker applications, in this process, on a database of their own and a queue prefix of
 * their own, against the machine's real PostgreSQL and Redis.
 */
export async function startEngine(opts: EngineOptions): Promise<TestEngine> {
  const db = await createTestDatabase(opts.label);
  const config: AppConfig = {
    databaseUrl: db.url,
    redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    queuePrefix: `test-${randomBytes(4).toString('hex')}`,
    port: 0,
    providersFile: null,
    providers: opts.providers,
    migrateOnStart: true,
    reconcileIntervalMs: 0, // specs drive the reconciler themselves
    workerConcurrency: 5,
    webhooks: {
      allowPrivate: false,
      allowedHosts: [],
      timeoutMs: 2_000,
      // The default schedule spans a day; specs retry in well under a second.
      retryScheduleMs: [200, 400, 800, 1_600],
      callbackSecrets: [],
      encryptionKey: randomBytes(32).toString('base64'),
      pollIntervalMs: 50,
      concurrency: 10,
      ...opts.webhooks,
    },
    apiRateLimit: opts.apiRateLimit ?? null,
    workerPort: opts.workerPort ?? 0,
  };
  process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'warn';
  const api = await createApiApplication(config);
  await api.listen(0, '127.0.0.1');
  const { port } = api.getHttpServer().address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const workers: INestApplicationContext[] = [];
  const startWorker = async () => {
    const w = await createWorkerApplication(config);
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 1); i++) await startWorker();

  const keys = api.get(ApiKeyService);
  const createKey = async (name: string, scopes: string[]) => (await keys.create(name, scopes)).key;
  const adminKey = await createKey('test-admin', ['admin']);

  const request: TestEngine['request'] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const key = init.key === undefined ? adminKey : init.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = headers['content-type'] ?? 'application/json';
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    }
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };

  const waitForTask = async (id: string, timeoutMs = 30_000): Promise<TaskView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await request('GET', `/api/v1/tasks/${id}`);
      if (res.status !== 200) throw new Error(`GET task ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      if (res.body.status !== 'inProgress') return res.body as TaskView;
      if (Date.now() > deadline) throw new Error(`task ${id} still inProgress: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 50)); // polling interval, not a stand-in for synchronisation
    }
  };

  const waitForBatch = async (id: string, timeoutMs = 90_000): Promise<BatchView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await request('GET', `/api/v1/batches/${id}`);
      if (res.status !== 200) throw new Error(`GET batch ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      if (res.body.done) return res.body as BatchView;
      if (Date.now() > deadline) throw new Error(`batch ${id} not done: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 50)); // polling interval, not a stand-in for synchronisation
    }
  };

  const listBatchTasks = async (id: string): Promise<TaskView[]> => {
    const all: TaskView[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `batchId=${id}&limit=50${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await request('GET', `/api/v1/tasks?${query}`);
      if (res.status !== 200)
        throw new Error(`GET tasks of batch ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      all.push(...(res.body.items as TaskView[]));
      cursor = res.body.nextCursor;
    } while (cursor);
    return all;
  };

  return {
    baseUrl,
    config,
    api,
    workers,
    db,
    adminKey,
    createKey,
    request,
    waitForTask,
    waitForBatch,
    listBatchTasks,
    startWorker,
    async stop() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await api.close();
      await db.drop();
    },
  };
}

/**
 * What a Redis restart without persistence does to this engine: every key of its queues is gone. Only this
 * engine's prefix is touched, so specs running beside it keep their jobs.
 */
export async function loseAllQueuedJobs(engine: TestEngine): Promise<number> {
  const redis = new IORedis(engine.config.redisUrl);
  try {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${engine.config.queuePrefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) removed += await redis.del(...keys);
    } while (cursor !== '0');
    return removed;
  } finally {
    redis.disconnect();
  }
}
