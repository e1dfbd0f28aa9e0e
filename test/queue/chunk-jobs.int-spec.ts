import { randomBytes } from 'node:crypto';
import { Queue, QueueOptions } from 'bullmq';
import { AppConfig, DEFAULT_REDIS_URL } from '@app/config';
import { AppLogger } from '@app/logging';
import {
  chunkJobId,
  ProviderJobData,
  TargetDispatcher,
  TargetJobData,
  targetJobId,
  TargetVerdict,
  TargetWorkers,
} from '@app/queue';

/**
 * The queue layer of a chunk job, against the real Redis and BullMQ, with a handler that answers from a
 * script: what each target of a chunk says decides whether it ends there or runs again as a job of its own,
 * and a provider's concurrency holds across chunk and single-target jobs. (The engine's own runs of chunks
 * against slapd are in test/engine/chunk-jobs.int-spec.ts.)
 */
describe('Chunk jobs: the targets of a bulk sharing one BullMQ job', () => {
  const PROVIDER = 'ldap';
  let bull: QueueOptions;
  let queue: Queue<ProviderJobData>;
  let dispatcher: TargetDispatcher;
  const silent = new AppLogger('test', 'error', () => undefined);

  beforeEach(() => {
    bull = {
      connection: { url: process.env.REDIS_URL || DEFAULT_REDIS_URL },
      prefix: `test-${randomBytes(4).toString('hex')}`,
    };
    const config = {
      providers: [{ id: PROVIDER, kind: 'openLdap', maxAttempts: 3 }],
    } as unknown as AppConfig;
    dispatcher = new TargetDispatcher(bull, config);
    queue = dispatcher.queue(PROVIDER);
  });
  afterEach(async () => {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await dispatcher.onModuleDestroy();
  });

  /** A handler that answers each target's calls in turn from its script (then 'done'), and counts overlap. */
  function scripted(script: Record<string, Array<TargetVerdict | Error>>, holdMs = 5) {
    const calls = new Map<string, number>();
    let running = 0;
    let most = 0;
    const handler = {
      async handle({ taskId }: TargetJobData): Promise<TargetVerdict> {
        const n = calls.get(taskId) ?? 0;
        calls.set(taskId, n + 1);
        most = Math.max(most, ++running);
        try {
          await new Promise((r) => setTimeout(r, holdMs));
          const answer = script[taskId]?.[n] ?? { kind: 'done' };
          if (answer instanceof Error) throw answer;
          return answer;
        } finally {
          running--;
        }
      },
    };
    return { handler, calls, most: () => most };
  }

  const ids = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

  /** Until BullMQ holds nothing it will still run: every job completed or failed for good. */
  async function drained(deadlineMs = 20_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(c).every((n) => n === 0)) return;
      if (Date.now() > until) throw new Error(`queue not drained: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Queues the tasks (as a bulk would), runs the workers until the queue is drained, and closes them. */
  async function runToEnd(workers: TargetWorkers, tasks: string[], concurrency: number): Promise<void> {
    await dispatcher.enqueueMany(tasks.map((taskId) => ({ taskId, providers: [PROVIDER] })));
    workers.start([{ provider: PROVIDER, concurrency }]);
    try {
      await drained();
    } finally {
      await workers.close();
    }
  }

  it('queues a bulk as chunks of 50 named after their first target, and a single target as a job of its own', async () => {
    const many = ids(120, 'bulk');
    await dispatcher.enqueueMany(many.map((taskId) => ({ taskId, providers: [PROVIDER] })));
    await dispatcher.enqueueMany([{ taskId: 'alone', providers: [PROVIDER] }]);
    const jobs = await queue.getJobs(['waiting']);
    const chunks = jobs.filter((j) => j.name === 'chunk').sort((a, b) => a.timestamp - b.timestamp);
    expect(chunks.map((j) => j.id).sort()).toEqual(
      [many[0], many[50], many[100]].map((t) => chunkJobId(t as string, PROVIDER)).sort(),
    );
    expect(chunks.flatMap((j) => ('taskIds' in j.data ? j.data.taskIds : [])).sort()).toEqual(
      [...many].sort(),
    );
    expect(jobs.filter((j) => j.name === 'target').map((j) => j.id)).toEqual([
      targetJobId('alone', PROVIDER),
    ]);

    // The same bulk queued twice is still queued once.
    await dispatcher.enqueueMany(many.map((taskId) => ({ taskId, providers: [PROVIDER] })));
    expect(await queue.getWaitingCount()).toBe(4);
  });

  it('hands each target that must wait or be tried again to a job of its own, and keeps the concurrency across both', async () => {
    const tasks = ids(10, 'mixed');
    const [done, wait, retry, threw, limited] = tasks as [string, string, string, string, string];
    const { handler, calls, most } = scripted({
      [wait]: [{ kind: 'wait', waitMs: 50, reason: 'another task holds the object' }],
      [retry]: [{ kind: 'retry', message: 'connection reset' }],
      [threw]: [new Error('a bug, or PostgreSQL went away')],
      [limited]: [{ kind: 'rateLimited', waitMs: 30, message: 'busy' }],
    });
    const handOffs: Array<{ taskId: string; delayMs: number }> = [];
    const workers = new TargetWorkers(
      bull,
      handler,
      silent,
      () => undefined,
      async (taskId, provider, delayMs) => {
        handOffs.push({ taskId, delayMs });
        await dispatcher.handOff(taskId, provider, delayMs);
      },
    );
    await runToEnd(workers, tasks, 2);

    // Each target ran to its end: once if it ended in the chunk, twice if it had to run again.
    for (const t of tasks)
      expect([t, calls.get(t)]).toEqual([t, [wait, retry, threw, limited].includes(t) ? 2 : 1]);
    expect(calls.get(done)).toBe(1);
    const delays = new Map(handOffs.map((h) => [h.taskId, h.delayMs]));
    expect([...delays.keys()].sort()).toEqual([wait, retry, threw, limited].sort());
    expect(delays.get(wait)).toBe(50);
    expect(delays.get(limited)).toBe(30);
    // BullMQ's first backoff step (1 s, jitter 0.5) for a failure.
    for (const t of [retry, threw]) {
      expect(delays.get(t)).toBeGreaterThanOrEqual(500);
      expect(delays.get(t)).toBeLessThanOrEqual(1000);
    }
    // The chunk ended once, its hand-offs as jobs of their own.
    const completed = await queue.getJobs(['completed']);
    expect(completed.map((j) => j.id).sort()).toEqual(
      [
        chunkJobId(tasks[0] as string, PROVIDER),
        ...[wait, retry, threw, limited].map((t) => targetJobId(t, PROVIDER)),
      ].sort(),
    );
    expect(most()).toBeLessThanOrEqual(2);
    expect(most()).toBe(2);
  });

  it('fails the chunk when a hand-off fails, and BullMQ runs the chunk again', async () => {
    const tasks = ids(4, 'handoff');
    const waiting = tasks[1] as string;
    const { handler, calls } = scripted({
      [waiting]: [
        { kind: 'wait', waitMs: 10, reason: 'busy object' },
        { kind: 'wait', waitMs: 10, reason: 'busy object' },
      ],
    });
    let refused = 0;
    const workers = new TargetWorkers(
      bull,
      handler,
      silent,
      () => undefined,
      async (taskId, provider, delayMs) => {
        if (refused++ === 0) throw new Error('Redis went away');
        await dispatcher.handOff(taskId, provider, delayMs);
      },
    );
    await runToEnd(workers, tasks, 4);
    const chunk = await queue.getJob(chunkJobId(tasks[0] as string, PROVIDER));
    expect(await chunk?.getState()).toBe('completed');
    expect(chunk?.attemptsMade).toBe(2);
    // The chunk ran twice (its other targets are asked again; in the engine their claim then ends them), and the
    // waiting target's own job ran once more.
    expect(calls.get(waiting)).toBe(3);
    for (const t of tasks.filter((t) => t !== waiting)) expect(calls.get(t)).toBe(2);
  });

  it('leaves the targets a closing worker has not started to the chunk run again later', async () => {
    const tasks = ids(6, 'closing');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const first = {
      async handle({ taskId }: TargetJobData): Promise<TargetVerdict> {
        started.push(taskId);
        await held;
        return { kind: 'done' };
      },
    };
    const closing = new TargetWorkers(
      bull,
      first,
      silent,
      () => undefined,
      () => dispatcher.handOff('x', PROVIDER, 0),
    );
    await dispatcher.enqueueMany(tasks.map((taskId) => ({ taskId, providers: [PROVIDER] })));
    closing.start([{ provider: PROVIDER, concurrency: 1 }]);
    while (started.length === 0) await new Promise((r) => setTimeout(r, 10));
    const closed = closing.close();
    release();
    await closed;
    // Only the target already running when the worker closed was run; the chunk waits for its next attempt.
    expect(started).toEqual([tasks[0]]);
    const chunk = await queue.getJob(chunkJobId(tasks[0] as string, PROVIDER));
    expect(await chunk?.getState()).toBe('delayed');

    const { handler, calls } = scripted({});
    const next = new TargetWorkers(bull, handler, silent);
    next.start([{ provider: PROVIDER, concurrency: 3 }]);
    try {
      await drained();
    } finally {
      await next.close();
    }
    for (const t of tasks) expect(calls.get(t)).toBe(1);
    expect(await chunk?.getState()).toBe('completed');
  });
});
