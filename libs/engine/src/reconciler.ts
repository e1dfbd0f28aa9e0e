import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { AppMetrics } from '@app/metrics';
import { IdempotencyStore, TaskStore } from '@app/persistence';
import { TargetDispatcher } from '@app/queue';

/** A target younger than this may simply not have reached the queue yet. */
const GRACE_MS = 5_000;

/**
 * Makes the queue a copy of what PostgreSQL knows: every unfinished target gets a job again if Redis lost
 * it (a restart without persistence) or BullMQ gave up on it without the result reaching PostgreSQL.
 * Runs at worker start and then periodically; running in several workers at once is harmless because job
 * ids are deterministic.
 */
@Injectable()
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly store: TaskStore,
    private readonly dispatcher: TargetDispatcher,
    private readonly logger: AppLogger,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly idempotency: IdempotencyStore,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  start(intervalMs: number): void {
    void this.tick();
    if (intervalMs > 0) this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One pass, after any pass already running; returns how many targets were queued again. */
  tick(graceMs = GRACE_MS): Promise<number> {
    const next = (this.running ?? Promise.resolve(0)).then(() => this.pass(graceMs));
    this.running = next;
    void next.finally(() => {
      if (this.running === next) this.running = null;
    });
    return next;
  }

  private async pass(graceMs: number): Promise<number> {
    try {
      const configured = this.config.providers.map((p) => p.id);
      // A provider removed from PROVIDERS_FILE has no worker: its targets would stay unfinished for ever and
      // block every later Enable of their accounts (CONTRACT §4.1).
      for (const { taskId, provider } of await this.store.unfinishedTargetsOutside(configured)) {
        await this.store.finishTarget(taskId, provider, null, {
          status: 'failed',
          outcome: null,
          error: { code: 'providerNotConfigured', message: `Provider ${provider} is no longer configured.` },
        });
        this.logger.warn('target of a provider no longer configured failed', { taskId, provider });
      }
      const unfinished = await this.store.unfinishedTargets(graceMs);
      const added = await this.dispatcher.requeueMissing(
        unfinished.filter((t) => configured.includes(t.provider)),
      );
      this.metrics?.reconcilerRequeue(added);
      if (added) this.logger.info('reconciler queued unfinished targets again', { added });
      const swept = await this.idempotency.sweepExpired();
      if (swept) this.logger.info('expired Idempotency-Key records deleted', { swept });
      return added;
    } catch (e) {
      this.logger.warn('reconciler pass failed; will try again', { error: (e as Error).message });
      return 0;
    }
  }
}
