import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig, ProviderConfig } from '@app/config';
import { checksPassed, DirectoryRegistry, ProviderCheck } from '@app/directories';
import { notFound, ProviderKind } from '@app/domain';
import { AppLogger } from '@app/logging';
import { LastTargetResult, ProviderStatusStore } from '@app/persistence';
import { TargetDispatcher, workerLimiter } from '@app/queue';

/** How long the provider list waits for Redis before showing the queues as unknown. */
const QUEUE_READ_TIMEOUT_MS = 2000;
/** Whatever the directory does, a test answers within this much more than its provider's timeoutMs allows. */
const TEST_MARGIN_MS = 5000;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface QueueView {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** BullMQ 6 keeps a paused queue's jobs in `waiting`; this says whether the queue is paused. */
  paused: boolean;
  /** When the provider's rate-limit pause (a directory's 429 / Retry-After) ends; null when there is none. */
  rateLimitedUntil: string | null;
}

export interface LastResultView {
  at: string;
  taskId: string;
  outcome: string | null;
  error: { code: string; message: string } | null;
}

export interface ProviderView {
  id: string;
  kind: ProviderKind;
  /** null when Redis did not answer; `queueError` says why. */
  queue: QueueView | null;
  queueError?: string;
  lastSuccess: LastResultView | null;
  lastError: LastResultView | null;
}

export interface ProviderTestResult {
  provider: string;
  kind: ProviderKind;
  ok: boolean;
  checks: ProviderCheck[];
}

/**
 * CONTRACT §5 `GET /api/v1/providers` and `POST /api/v1/providers/{id}/test`, for the API and the CLI. The
 * queue counts come from BullMQ, the last results from PostgreSQL. A test builds the provider's adapter on
 * first use: the API process never acts on a directory, so it builds nothing unless asked to test.
 */
@Injectable()
export class ProviderService implements OnApplicationShutdown {
  private readonly registries = new Map<string, DirectoryRegistry>();
  /** A second test of a provider while one runs gets the same answer: bind storms can lock a service account. */
  private readonly running = new Map<string, Promise<ProviderTestResult>>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dispatcher: TargetDispatcher,
    private readonly store: ProviderStatusStore,
    private readonly logger: AppLogger,
  ) {}

  async list(): Promise<{ items: ProviderView[] }> {
    const providers = this.config.providers;
    const [history, queues] = await Promise.all([
      this.store.history(providers.map((p) => p.id)),
      Promise.all(providers.map((p) => this.queueView(p))),
    ]);
    return {
      items: providers.map((p, i) => {
        const h = history.get(p.id);
        return {
          id: p.id,
          kind: p.kind,
          ...queues[i],
          lastSuccess: resultView(h?.lastSuccess ?? null),
          lastError: resultView(h?.lastError ?? null),
        };
      }),
    };
  }

  test(id: string): Promise<ProviderTestResult> {
    const config = this.providerConfig(id);
    let run = this.running.get(id);
    if (!run) {
      run = this.runTest(config).finally(() => this.running.delete(id));
      this.running.set(id, run);
    }
    return run;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.registries.values()].map((r) => r.closeAll()));
    this.registries.clear();
  }

  private providerConfig(id: string): ProviderConfig {
    const config = this.config.providers.find((p) => p.id === id);
    if (!config) {
      const known = this.config.providers.map((p) => p.id).join(', ') || 'none';
      throw notFound('providerNotFound', `No provider with id ${id}. Configured: ${known}.`);
    }
    return config;
  }

  private async runTest(config: ProviderConfig): Promise<ProviderTestResult> {
    let registry = this.registries.get(config.id);
    if (!registry) {
      try {
        registry = new DirectoryRegistry([config], { logger: this.logger });
      } catch (e) {
        const checks: ProviderCheck[] = [{ name: 'configuration', ok: false, message: (e as Error).message }];
        return { provider: config.id, kind: config.kind, ok: false, checks };
      }
      this.registries.set(config.id, registry);
    }
    const limitMs = (config.timeoutMs ?? DEFAULT_TIMEOUT_MS) * 3 + TEST_MARGIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ProviderCheck[]>((resolve) => {
      timer = setTimeout(
        () =>
          resolve([
            {
              name: 'reachable',
              ok: false,
              message: `the test did not finish within ${limitMs} ms (three times timeoutMs, plus a margin)`,
            },
          ]),
        limitMs,
      );
    });
    const checks = await Promise.race([
      registry
        .get(config.id)
        .test()
        .catch((e: unknown): ProviderCheck[] => [
          { name: 'reachable', ok: false, message: `the test failed: ${(e as Error).message}` },
        ]),
      timedOut,
    ]).finally(() => clearTimeout(timer));
    const ok = checksPassed(checks);
    this.logger.info('provider tested', { provider: config.id, ok, failed: checks.filter((c) => !c.ok) });
    return { provider: config.id, kind: config.kind, ok, checks };
  }

  private async queueView(config: ProviderConfig): Promise<Pick<ProviderView, 'queue' | 'queueError'>> {
    const queue = this.dispatcher.queue(config.id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${QUEUE_READ_TIMEOUT_MS} ms`)),
        QUEUE_READ_TIMEOUT_MS,
      );
    });
    const read = Promise.all([
      queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
      queue.isPaused(),
      // Positive only while the window's count has reached the workers' max, which a directory's pause
      // (worker.rateLimit) sets it beyond.
      queue.getRateLimitTtl(workerLimiter(config.rateLimit).max),
    ]);
    read.catch(() => undefined);
    try {
      const [counts, paused, ttl] = await Promise.race([read, timeout]);
      return {
        queue: {
          waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
          active: counts.active ?? 0,
          delayed: counts.delayed ?? 0,
          failed: counts.failed ?? 0,
          paused,
          rateLimitedUntil: ttl > 0 ? new Date(Date.now() + ttl).toISOString() : null,
        },
      };
    } catch (e) {
      return { queue: null, queueError: (e as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}

function resultView(r: LastTargetResult | null): LastResultView | null {
  if (!r) return null;
  return { at: new Date(r.finishedAt).toISOString(), taskId: r.taskId, outcome: r.outcome, error: r.error };
}
