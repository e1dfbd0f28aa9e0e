import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { getSharedConfigToken } from '@nestjs/bullmq';
import { JobsOptions, JobType, Queue, QueueOptions } from 'bullmq';
import { APP_CONFIG, AppConfig } from '@app/config';
import {
  BACKOFF_BASE_MS,
  CHUNK_JOB,
  CHUNK_SIZE,
  ChunkJobData,
  chunkJobId,
  DEFAULT_MAX_ATTEMPTS,
  isChunk,
  isChunkJobId,
  ProviderJobData,
  TARGET_JOB,
  targetJobId,
  targetQueueName,
} from './target-queues';

/** The lists of jobs BullMQ will still run. A paused queue keeps its jobs in the wait list (BullMQ 5+). */
const LIVE_JOB_TYPES: JobType[] = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'];

/** Jobs per addBulk call: one Redis MULTI each, small enough not to stall Redis for other clients. */
const ADD_BULK_CHUNK = 1000;

/** Puts target jobs on their provider's queue. Safe to call again for the same target at any time. */
@Injectable()
export class TargetDispatcher implements OnModuleDestroy {
  private readonly queues = new Map<string, Queue<ProviderJobData>>();

  constructor(
    @Inject(getSharedConfigToken()) private readonly bullOptions: QueueOptions,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  queue(provider: string): Queue<ProviderJobData> {
    let q = this.queues.get(provider);
    if (!q) {
      q = new Queue<ProviderJobData>(targetQueueName(provider), this.bullOptions);
      this.queues.set(provider, q);
    }
    return q;
  }

  /**
   * The targets of many tasks (a bulk): one `addBulk` per provider queue and chunk, instead of a Redis round
   * trip per target. Job ids stay deterministic, so adding a target twice still queues it once. Where the
   * directory has no pacer, several targets share a job (chunkedQueue).
   */
  async enqueueMany(tasks: ReadonlyArray<{ taskId: string; providers: readonly string[] }>): Promise<void> {
    const byProvider = taskIdsByProvider(
      tasks.flatMap((t) => t.providers.map((provider) => ({ ...t, provider }))),
    );
    await Promise.all(
      [...byProvider].map(async ([provider, taskIds]) => {
        const jobs =
          this.chunkedQueue(provider) && taskIds.length > 1
            ? chunks(taskIds, CHUNK_SIZE).map((ids) => ({
                name: CHUNK_JOB,
                data: { provider, taskIds: ids } satisfies ChunkJobData,
                opts: this.jobOptions(chunkJobId(ids[0] as string, provider), provider),
              }))
            : taskIds.map((taskId) => ({
                name: TARGET_JOB,
                data: { taskId, provider },
                opts: this.jobOptions(targetJobId(taskId, provider), provider),
              }));
        for (let i = 0; i < jobs.length; i += ADD_BULK_CHUNK) {
          await this.queue(provider).addBulk(jobs.slice(i, i + ADD_BULK_CHUNK));
        }
      }),
    );
  }

  /**
   * Whether a provider's targets may share a job. Not where the directory has a pacer (Entra ID, Okta) or the
   * queue a configured rate limit: both count jobs, and each target must be counted.
   */
  chunkedQueue(provider: string): boolean {
    const cfg = this.config.providers.find((p) => p.id === provider);
    return !!cfg && (cfg.kind === 'openLdap' || cfg.kind === 'activeDirectory') && !cfg.rateLimit;
  }

  /**
   * A target of a chunk job that must wait or be tried again goes on as a job of its own, run in `delayMs`.
   * A finished job of the same id (an earlier hand-off) is replaced; a live one is left as it is.
   */
  async handOff(taskId: string, provider: string, delayMs: number): Promise<void> {
    await this.requeueSuspect(this.queue(provider), taskId, provider, delayMs);
  }

  /**
   * For the reconciler: PostgreSQL says these targets are unfinished; returns how many were queued again.
   * A job that a live list (waiting, delayed, running…) holds is left alone. Every other one is a suspect:
   * BullMQ gave up on it (failed, or completed without the result reaching PostgreSQL), or Redis lost it or
   * the list that held it (a restart, a flush racing with an add), and it is replaced or added again.
   *
   * Why one snapshot per provider: asking each job its state costs a scan of the waiting list (LPOS) per job,
   * so a pass over a 10,000-target backlog kept Redis busy for every worker. getRanges reads all live lists
   * in one script, so the snapshot is consistent: a job moving from waiting to active is in one of them.
   * The targets of a live chunk job are live too: a chunk hands each target that must wait or be tried again
   * to a job of its own before it ends, so a target leaves the chunk only for a job the snapshot then shows.
   */
  async requeueMissing(targets: ReadonlyArray<{ taskId: string; provider: string }>): Promise<number> {
    let added = 0;
    for (const [provider, taskIds] of taskIdsByProvider(targets)) {
      const q = this.queue(provider);
      const live = new Set(await q.getRanges(LIVE_JOB_TYPES, 0, -1));
      for (const id of [...live].filter(isChunkJobId)) {
        const chunk = await q.getJob(id);
        if (chunk && isChunk(chunk.data))
          for (const taskId of chunk.data.taskIds) live.add(targetJobId(taskId, provider));
      }
      for (const taskId of taskIds) {
        if (live.has(targetJobId(taskId, provider))) continue;
        if ((await this.requeueSuspect(q, taskId, provider)) === 'added') added++;
      }
    }
    return added;
  }

  private async requeueSuspect(
    q: Queue<ProviderJobData>,
    taskId: string,
    provider: string,
    delayMs = 0,
  ): Promise<'added' | 'present'> {
    const existing = await q.getJob(targetJobId(taskId, provider));
    if (existing) {
      // Asked again: the job may have been added or moved since the snapshot.
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return 'present';
      await existing.remove().catch(() => undefined);
    }
    await q.add(
      TARGET_JOB,
      { taskId, provider },
      { ...this.jobOptions(targetJobId(taskId, provider), provider), delay: Math.max(0, Math.ceil(delayMs)) },
    );
    return 'added';
  }

  private jobOptions(jobId: string, provider: string): JobsOptions {
    const cfg = this.config.providers.find((p) => p.id === provider);
    return {
      jobId,
      attempts: cfg?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoff: { type: 'exponential', delay: BACKOFF_BASE_MS, jitter: 0.5 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600 },
    };
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function taskIdsByProvider(
  targets: ReadonlyArray<{ taskId: string; provider: string }>,
): Map<string, string[]> {
  const byProvider = new Map<string, string[]>();
  for (const t of targets) {
    const ids = byProvider.get(t.provider) ?? [];
    ids.push(t.taskId);
    byProvider.set(t.provider, ids);
  }
  return byProvider;
}
