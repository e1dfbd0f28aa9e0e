import { DelayedError, Job, QueueOptions, RateLimitError, Worker } from 'bullmq';
import { AppLogger } from '@app/logging';
import { Semaphore } from './semaphore';
import {
  BACKOFF_BASE_MS,
  ChunkJobData,
  isChunk,
  ProviderJobData,
  TargetJobData,
  targetQueueName,
} from './target-queues';

/** What the engine decided about one run of a target job. */
export type TargetVerdict =
  | { kind: 'done' }
  /** Transient failure with attempts left: BullMQ retries with exponential backoff and jitter. */
  | { kind: 'retry'; message: string }
  /** The directory asked us to wait: pause the provider's whole queue that long, then run the job again. */
  | { kind: 'rateLimited'; waitMs: number; message: string }
  /** Not a failure: the target waits its turn (another target holds its object); run it again in waitMs. */
  | { kind: 'wait'; waitMs: number; reason: string };

export interface TargetJobHandler {
  handle(data: TargetJobData): Promise<TargetVerdict>;
}

/**
 * A provider's own pacing (its adapter's, for directories with rate limits): asked before a job is handed to
 * the handler, so that a target waiting for the directory's limit is not claimed, and so uses up no attempt.
 */
export interface JobPacer {
  /** How long to pause the provider's queue before another target may start; 0: start now. */
  waitBeforeStart(): number;
  /** Runs one target with its expected requests reserved until it ends. */
  runTarget<T>(fn: () => Promise<T>): Promise<T>;
}

export interface ProviderQueueSettings {
  provider: string;
  concurrency: number;
  rateLimit?: { max: number; durationMs: number };
}

/**
 * The limiter of a provider's worker: its `rateLimit`, or one too wide to bind, because BullMQ checks dynamic rate
 * limits (worker.rateLimit) only when a limiter is set. Readers of the queue's rate-limit state need the same max
 * (Queue.getRateLimitTtl(max)): without it BullMQ reports the TTL of every ordinary limiter window.
 */
export function workerLimiter(rateLimit?: { max: number; durationMs: number }): {
  max: number;
  duration: number;
} {
  return rateLimit
    ? { max: rateLimit.max, duration: rateLimit.durationMs }
    : { max: 100_000, duration: 1000 };
}

/** Puts one target of a chunk job on the queue as a job of its own, to run in `delayMs` (TargetDispatcher). */
export type TargetHandOff = (taskId: string, provider: string, delayMs: number) => Promise<void>;

/**
 * Starts one BullMQ Worker per provider queue, all delegating to the engine's handler. A provider's
 * concurrency is a semaphore that its single-target jobs and its chunks' targets share.
 */
export class TargetWorkers {
  private readonly workers: Worker<ProviderJobData>[] = [];
  private readonly slots = new Map<string, Semaphore>();
  private closing = false;

  constructor(
    private readonly bullOptions: QueueOptions,
    private readonly handler: TargetJobHandler,
    private readonly logger: AppLogger,
    /** The pacer of a provider, if its directory has one (looked up per job: adapters may be replaced). */
    private readonly pacerOf: (provider: string) => JobPacer | undefined = () => undefined,
    private readonly handOff: TargetHandOff = () =>
      Promise.reject(new Error('this worker cannot hand a chunk target off')),
  ) {}

  start(settings: readonly ProviderQueueSettings[]): void {
    this.closing = false;
    for (const s of settings) {
      this.slots.set(s.provider, new Semaphore(s.concurrency));
      const worker: Worker<ProviderJobData> = new Worker<ProviderJobData>(
        targetQueueName(s.provider),
        (job, token) =>
          isChunk(job.data)
            ? this.processChunk(job.data)
            : this.process(worker, job as Job<TargetJobData>, token),
        {
          ...this.bullOptions,
          concurrency: s.concurrency,
          limiter: workerLimiter(s.rateLimit),
        },
      );
      worker.on('error', (err) =>
        this.logger.error('queue worker error', { provider: s.provider, error: err }),
      );
      this.workers.push(worker);
    }
  }

  private slotsOf(provider: string): Semaphore {
    const slots = this.slots.get(provider);
    if (!slots) throw new Error(`no worker for provider ${provider}`);
    return slots;
  }

  private async process(
    worker: Worker<ProviderJobData>,
    job: Job<TargetJobData>,
    token?: string,
  ): Promise<void> {
    const pacer = this.pacerOf(job.data.provider);
    // Whole milliseconds: BullMQ hands the figure to Redis (PSETEX), which refuses fractions.
    const waitMs = Math.ceil(pacer?.waitBeforeStart() ?? 0);
    if (waitMs > 0) {
      // Back to the head of the queue untouched (BullMQ counts no attempt for a RateLimitError), and the whole
      // queue waits with it: every other target of this provider would meet the same full bucket.
      await worker.rateLimit(waitMs);
      throw new RateLimitError();
    }
    const verdict = await this.slotsOf(job.data.provider).run(() =>
      pacer ? pacer.runTarget(() => this.handler.handle(job.data)) : this.handler.handle(job.data),
    );
    if (verdict.kind === 'wait') {
      // Delayed, not failed: waiting for another target's lease must not use up the job's attempts.
      await job.moveToDelayed(Date.now() + verdict.waitMs, token);
      throw new DelayedError();
    }
    if (verdict.kind === 'retry') throw new Error(verdict.message);
    if (verdict.kind === 'rateLimited') {
      await worker.rateLimit(Math.max(1, Math.ceil(verdict.waitMs)));
      throw new RateLimitError();
    }
  }

  /**
   * Runs a chunk's targets, each in a slot of the provider's semaphore. A target that must wait or be tried
   * again is handed to a job of its own before the chunk ends, so the reconciler, which counts a live chunk's
   * targets as queued, always finds it in one or the other. If a hand-off fails, or the worker is closing,
   * the chunk fails and BullMQ runs it again later: its finished targets then end at their claim.
   */
  private async processChunk({ provider, taskIds }: ChunkJobData): Promise<void> {
    // A directory with a pacer counts each target as a job; a chunk that reaches one anyway is split up.
    if (this.pacerOf(provider)) {
      for (const taskId of taskIds) await this.handOff(taskId, provider, 0);
      return;
    }
    const slots = this.slotsOf(provider);
    let failure: Error | undefined;
    await Promise.all(
      taskIds.map((taskId) =>
        slots.run(async () => {
          if (this.closing || failure) {
            failure ??= new Error('the worker is closing; the chunk runs again later');
            return;
          }
          let delayMs: number | null;
          try {
            delayMs = handOffDelay(await this.handler.handle({ taskId, provider }));
          } catch (e) {
            // As BullMQ would retry a single-target job that threw.
            this.logger.warn('chunk target threw; it runs again as a job of its own', {
              taskId,
              provider,
              error: (e as Error).message,
            });
            delayMs = retryDelay();
          }
          if (delayMs === null) return;
          try {
            await this.handOff(taskId, provider, delayMs);
          } catch (e) {
            failure ??= e as Error;
          }
        }),
      ),
    );
    if (failure) throw failure;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled(this.workers.map((w) => w.close()));
    this.workers.length = 0;
  }
}

/** When a chunk's target runs again as a job of its own, or null if it is done. */
function handOffDelay(verdict: TargetVerdict): number | null {
  switch (verdict.kind) {
    case 'done':
      return null;
    case 'wait':
    case 'rateLimited':
      return verdict.waitMs;
    case 'retry':
      return retryDelay();
  }
}

/** BullMQ's first backoff step for a failed job (BACKOFF_BASE_MS, jitter 0.5); its own job backs off from there. */
function retryDelay(): number {
  return BACKOFF_BASE_MS * (0.5 + Math.random() * 0.5);
}
