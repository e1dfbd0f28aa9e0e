import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Client, Pool } from 'pg';
import { stringify } from 'yaml';
import type { ProviderConfig } from '@app/config';
import { redisOptionsFromUrl, targetQueueName } from '@app/queue';
import { ChildHandle, freePort, GiveUp, pollUntil, record, REPO_ROOT, spawnNode } from './processes';

const run = promisify(execFile);

export const SHARED_POSTGRES_ADMIN_URL =
  process.env.TEST_DATABASE_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const API_MAIN = 'dist/apps/api/src/main.js';
const WORKER_MAIN = 'dist/apps/worker/src/main.js';
const CLI_MAIN = 'dist/apps/cli/src/main.js';

export interface FaultEngineOptions {
  label: string;
  providers: ProviderConfig[];
  /** Worker processes to start with the API. */
  workers: number;
  /** PostgreSQL to create the engine's database in, as an admin URL; the machine's shared one by default. */
  adminUrl?: string;
  /** Environment over the suite's defaults (RECONCILE_INTERVAL_MS, WORKER_CONCURRENCY…). */
  env?: Record<string, string>;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface PostResult {
  account: string;
  status: number;
  /** The task id when accepted (202). */
  id?: string;
  retryAfter: string | null;
  code?: string;
  /** Network-level failure (the API itself unreachable), which no test here expects. */
  networkError?: string;
}

export interface TaskCounts {
  accepted: number;
  ended: number;
  byStatus: Record<string, number>;
  /** Targets by `<provider>:<status>/<outcome or error code>`. */
  targets: Record<string, number>;
  failedTargets: number;
  /** Tasks whose number of `task.completed` events is not exactly one. */
  completedEventsNotOne: number;
  retriedTargets: number;
  maxAttempts: number;
  warnings: number;
}

/**
 * The built API and worker (`node dist/apps/…/main.js`, as `npm run start:*` runs them) as child processes of
 * the test, on a database and a BullMQ prefix of their own, with the providers in a YAML file in a temp
 * directory: the deployment shape, so that a fault can be dealt to one process (SIGKILL) or to the
 * infrastructure under all of them.
 */
export class FaultEngine {
  readonly dir: string;
  readonly queuePrefix: string;
  api!: ChildHandle;
  readonly workers: ChildHandle[] = [];
  baseUrl = '';
  key = '';
  databaseUrl = '';
  private pool: Pool | null = null;
  private queues: Queue[] = [];
  private workerSeq = 0;
  private dbName: string;
  private env: Record<string, string> = {};
  private readonly forgetDir: () => void;

  private constructor(private readonly opts: FaultEngineOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `are-faults-${opts.label}-`));
    this.forgetDir = record('dirs', basename(this.dir), this.dir);
    this.queuePrefix = `faults-${opts.label}-${randomBytes(4).toString('hex')}`;
    this.dbName = `are_faults_${opts.label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  }

  static async start(opts: FaultEngineOptions): Promise<FaultEngine> {
    const engine = new FaultEngine(opts);
    try {
      await engine.boot();
    } catch (e) {
      await engine.stop();
      throw e;
    }
    return engine;
  }

  private async boot(): Promise<void> {
    const adminUrl = this.opts.adminUrl ?? SHARED_POSTGRES_ADMIN_URL;
    await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${this.dbName}`));
    const url = new URL(adminUrl);
    url.pathname = `/${this.dbName}`;
    this.databaseUrl = url.toString();
    this.pool = new Pool({ connectionString: this.databaseUrl, max: 3 });
    // The test's own pool sees the PostgreSQL outage too; its idle clients dying must not crash jest.
    this.pool.on('error', () => undefined);

    const providersFile = join(this.dir, 'providers.yml');
    writeFileSync(providersFile, stringify({ providers: this.opts.providers }));
    const port = await freePort();
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.env = {
      TS_NODE_BASEURL: './dist',
      DATABASE_URL: this.databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: this.queuePrefix,
      PROVIDERS_FILE: providersFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      RECONCILE_INTERVAL_MS: '1000',
      WORKER_CONCURRENCY: '10',
      SHUTDOWN_GRACE_MS: '5000',
      API_RATE_LIMIT: 'none',
      // Several workers share this machine: their metrics listeners (default 3001) would collide.
      WORKER_PORT: '0',
      LOG_LEVEL: 'info',
      ...this.opts.env,
    };

    // The CLI applies the migrations and prints the key on its last line, as an operator would run it.
    const { stdout } = await run(
      process.execPath,
      [
        '-r',
        'tsconfig-paths/register',
        CLI_MAIN,
        'api-key',
        'create',
        '--name',
        'faults',
        '--scopes',
        'admin',
      ],
      { cwd: REPO_ROOT, env: { ...this.env, PATH: process.env.PATH ?? '' }, timeout: 60_000 },
    );
    this.key = stdout.trim().split('\n').pop() as string;
    if (!/^are_/.test(this.key)) throw new Error(`api-key create printed no key: ${stdout}`);

    this.queues = this.opts.providers.map(
      (p) =>
        new Queue(targetQueueName(p.id), {
          connection: redisOptionsFromUrl(REDIS_URL),
          prefix: this.queuePrefix,
        }),
    );
    await this.startApi();
    for (let i = 0; i < this.opts.workers; i++) await this.startWorker();
  }

  async startApi(): Promise<ChildHandle> {
    const api = spawnNode('api', ['-r', 'tsconfig-paths/register', API_MAIN], this.env, this.dir);
    this.api = api;
    await pollUntil('the API to answer /health/ready', 60_000, async () => {
      if (!api.running()) throw new GiveUp(`the API exited during start-up:\n${api.tail()}`);
      const res = await fetch(`${this.baseUrl}/health/ready`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    });
    return api;
  }

  /** Starts one more worker process; resolves once its BullMQ workers listen on every provider queue. */
  async startWorker(): Promise<ChildHandle> {
    const before = await this.workerConnections();
    const w = spawnNode(
      `worker-${++this.workerSeq}`,
      ['-r', 'tsconfig-paths/register', WORKER_MAIN],
      this.env,
      this.dir,
    );
    this.workers.push(w);
    await pollUntil('the new worker to listen on its queues', 60_000, async () => {
      if (!w.running()) throw new GiveUp(`${w.name} exited during start-up:\n${w.tail()}`);
      const now = await this.workerConnections();
      return now.every((n, i) => n > before[i]) ? true : undefined;
    });
    return w;
  }

  /** BullMQ worker connections per provider queue (a SIGKILLed process's connections vanish with it). */
  async workerConnections(): Promise<number[]> {
    return Promise.all(this.queues.map((q) => q.getWorkersCount()));
  }

  /** Job counts summed over the provider queues. */
  async jobCounts(): Promise<Record<string, number>> {
    const all = await Promise.all(
      this.queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')),
    );
    const sum: Record<string, number> = {};
    for (const c of all) for (const [k, v] of Object.entries(c)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  async postDisable(account: string, extra: Record<string, unknown> = {}): Promise<PostResult> {
    try {
      const res = await this.request('POST', '/api/v1/tasks/disable-account', { account, ...extra });
      return {
        account,
        status: res.status,
        id: res.status === 202 ? res.body.id : undefined,
        retryAfter: res.headers.get('retry-after'),
        code: res.body?.error?.code,
      };
    } catch (e) {
      return { account, status: 0, retryAfter: null, networkError: (e as Error).message };
    }
  }

  /**
   * Posts one Disable per account, `width` requests at a time (the batches a SOAR playbook would send);
   * `onResult` sees each answer as it comes, so a test can deal its fault part-way through.
   */
  async postDisables(
    accounts: string[],
    opts: { width?: number; extra?: Record<string, unknown>; onResult?: (r: PostResult) => void } = {},
  ): Promise<PostResult[]> {
    const width = opts.width ?? 16;
    const out: PostResult[] = new Array(accounts.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(width, accounts.length) }, async () => {
        while (next < accounts.length) {
          const i = next++;
          out[i] = await this.postDisable(accounts[i], opts.extra);
          opts.onResult?.(out[i]);
        }
      }),
    );
    return out;
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await (this.pool as Pool).query(sql, params)).rows as T[];
  }

  /** How many of these tasks have left inProgress (read from PostgreSQL, so polling does not load the API). */
  async endedCount(ids: string[]): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status <> 'inProgress'`,
      [ids],
    );
    return row.n;
  }

  async waitAllEnded(ids: string[], timeoutMs: number): Promise<number> {
    const started = Date.now();
    await pollUntil(`${ids.length} tasks to end`, timeoutMs, async () =>
      (await this.endedCount(ids)) === ids.length ? true : undefined,
    ).catch(async (e: Error) => {
      const stuck = await this.query(
        `SELECT t.id, t.status, tt.provider, tt.status AS target, tt.attempts, tt.error_code, tt.updated_at
           FROM tasks t JOIN task_targets tt ON tt.task_id = t.id
          WHERE t.id = ANY($1) AND t.status = 'inProgress' LIMIT 5`,
        [ids],
      ).catch(() => []);
      throw new Error(
        `${e.message}; ${ids.length - (await this.endedCount(ids).catch(() => -1))} still inProgress, e.g. ${JSON.stringify(stuck)}; jobs ${JSON.stringify(await this.jobCounts().catch(() => ({})))}`,
      );
    });
    return Date.now() - started;
  }

  async counts(ids: string[]): Promise<TaskCounts> {
    const statuses = await this.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM tasks WHERE id = ANY($1) GROUP BY status`,
      [ids],
    );
    const byStatus = Object.fromEntries(statuses.map((r) => [r.status, r.n]));
    const targets = await this.query<{ k: string; n: number }>(
      `SELECT provider || ':' || status || '/' || COALESCE(outcome, error_code, '-') AS k, count(*)::int AS n
         FROM task_targets WHERE task_id = ANY($1) GROUP BY 1 ORDER BY 1`,
      [ids],
    );
    const [t] = await this.query<{ failed: number; retried: number; max: number; warnings: number }>(
      `SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed,
              count(*) FILTER (WHERE attempts > 1)::int AS retried,
              COALESCE(max(attempts), 0)::int AS max,
              count(*) FILTER (WHERE jsonb_array_length(warnings) > 0)::int AS warnings
         FROM task_targets WHERE task_id = ANY($1)`,
      [ids],
    );
    const [ev] = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         SELECT t.id FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id AND e.type = 'task.completed'
          WHERE t.id = ANY($1) GROUP BY t.id HAVING count(e.id) <> 1) x`,
      [ids],
    );
    return {
      accepted: ids.length,
      ended: ids.length - (byStatus.inProgress ?? 0),
      byStatus,
      targets: Object.fromEntries(targets.map((r) => [r.k, r.n])),
      failedTargets: t.failed,
      completedEventsNotOne: ev.n,
      retriedTargets: t.retried,
      maxAttempts: t.max,
      warnings: t.warnings,
    };
  }

  /** What a Redis restart without persistence does: every key under this engine's prefix is gone. */
  async deleteQueueKeys(): Promise<number> {
    const redis = new IORedis(REDIS_URL);
    try {
      let removed = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.queuePrefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) removed += await redis.del(...keys);
      } while (cursor !== '0');
      return removed;
    } finally {
      redis.disconnect();
    }
  }

  /** Log lines (JSON) of every process of this engine whose `msg` matches. */
  logLines(match: RegExp): Array<{ process: string; line: Record<string, unknown> }> {
    const out: Array<{ process: string; line: Record<string, unknown> }> = [];
    for (const p of [this.api, ...this.workers].filter(Boolean)) {
      for (const raw of p.output().split('\n')) {
        if (!raw.startsWith('{')) continue;
        try {
          const line = JSON.parse(raw) as Record<string, unknown>;
          if (match.test(String(line.msg))) out.push({ process: p.name, line });
        } catch {
          /* a partial line */
        }
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.api, ...this.workers].filter(Boolean).map((p) => p.stop(5_000)));
    await Promise.allSettled(this.queues.map((q) => q.close()));
    await this.deleteQueueKeys().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
    if (this.databaseUrl) {
      await withClient(this.opts.adminUrl ?? SHARED_POSTGRES_ADMIN_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`),
      ).catch(() => undefined);
    }
    if (process.env.FAULTS_KEEP_LOGS) console.log(`faults: logs of ${this.opts.label} kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
    this.forgetDir();
  }
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** One line per scenario, greppable: `faults: <scenario> key=value …`. */
export function report(scenario: string, fields: Record<string, unknown>): void {
  const parts = Object.entries(fields).map(
    ([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
  );
  console.log(`faults: ${scenario} ${parts.join(' ')}`);
}
