import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { getSharedConfigToken } from '@nestjs/bullmq';
import { Queue, QueueOptions } from 'bullmq';
import { APP_CONFIG, AppConfig } from '@app/config';
import {
  BACKOFF_BASE_MS,
  DEFAULT_MAX_ATTEMPTS,
  TargetJobData,
  targetJobId,
  targetQueueName,
} from './target-queues';

/** Puts target jobs on their provider's queue. Safe to call again for the same target at any time. */
@Injectable()
export class TargetDispatcher implements OnModuleDestroy {
  private readonly queues = new Map<string, Queue<TargetJobData>>();

  constructor(
    @Inject(getSharedConfigToken()) private readonly bullOptions: QueueOptions,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  queue(provider: string): Queue<TargetJobData> {
    let q = this.queues.get(provider);
    if (!q) {
      q = new Queue<TargetJobData>(targetQueueName(provider), this.bullOptions);
      this.queues.set(provider, q);
    }
    return q;
  }

  async enqueue(taskId: string, providers: readonly string[]): Promise<void> {
    await Promise.all(providers.map((p) => this.add(taskId, p)));
  }

  /**
   * For the reconciler: PostgreSQL says the target is unfinished. A job that still exists and is waiting,
   * delayed or active is left alone; one that BullMQ already gave up on (failed, or completed without the
   * result reaching PostgreSQL) is replaced; a missing one (Redis lost it) is added again.
   */
  async requeue(taskId: string, provider: string): Promise<'added' | 'present'> {
    const q = this.queue(provider);
    const existing = await q.getJob(targetJobId(taskId, provider));
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return 'present';
      await existing.remove().catch(() => undefined);
    }
    await this.add(taskId, provider);
    return 'added';
  }

  private async add(taskId: string, provider: string): Promise<void> {
    const cfg = this.config.providers.find((p) => p.id === provider);
    await this.queue(provider).add(
      'target',
      { taskId, provider },
      {
        jobId: targetJobId(taskId, provider),
        attempts: cfg?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        backoff: { type: 'exponential', delay: BACKOFF_BASE_MS, jitter: 0.5 },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600 },
      },
    );
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
