import { DelayedError, Job, QueueOptions, RateLimitError, Worker } from 'bullmq';
import { AppLogger } from '@app/logging';
import { TargetJobData, targetQueueName } from './target-queues';

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

/** Starts one BullMQ Worker per provider queue, all delegating to the engine's handler. */
export class TargetWorkers {
  private readonly workers: Worker<TargetJobData>[] = [];

  constructor(
    private readonly bullOptions: QueueOptions,
    private readonly handler: TargetJobHandler,
    private readonly logger: AppLogger,
    /** The pacer of a provider, if its directory has one (looked up per job: adapters may be replaced). */
    private readonly pacerOf: (provider: string) => JobPacer | undefined = () => undefined,
  ) {}

  start(settings: readonly ProviderQueueSettings[]): void {
    for (const s of settings) {
      const worker: Worker<TargetJobData> = new Worker<TargetJobData>(
        targetQueueName(s.provider),
        (job, token) => this.process(worker, job, token),
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

  private async process(
    worker: Worker<TargetJobData>,
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
    const verdict = pacer
      ? await pacer.runTarget(() => this.handler.handle(job.data))
      : await this.handler.handle(job.data);
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

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    this.workers.length = 0;
  }
}
