import { openLdapProvider, SlapdHandle } from '../harness/slapd';
import { startTcpProxy, TcpProxy } from '../harness/tcp-proxy';
import { addUsers, countLocked, startRecordedSlapd } from './harness/directories';
import { FaultEngine, PostResult, report } from './harness/fault-engine';
import { pollUntil } from './harness/processes';

const TASKS = 300;

/**
 * Redis loses every queue key mid-run (a restart without persistence): waiting, delayed and active jobs, locks,
 * the queue's metadata. Only this engine's QUEUE_PREFIX is deleted, so whatever else shares the Redis is left
 * alone. PostgreSQL still knows every unfinished target, and the worker's reconciler (every 500 ms here)
 * queues them again.
 */
describe('faults: Redis loses the queues mid-run', () => {
  let slapd: SlapdHandle;
  let distant: TcpProxy;
  let engine: FaultEngine;
  const uids = Array.from({ length: TASKS }, (_, i) => `r${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    slapd = await startRecordedSlapd();
    await addUsers(slapd, uids);
    // A distant directory and a low concurrency keep a backlog in the queue whatever the machine's speed (each
    // target makes a few round trips of 25 ms: at most ~30 targets/s against a posting of hundreds per
    // second), so the flush loses jobs that were waiting as well as running ones.
    distant = await startTcpProxy({ host: '127.0.0.1', port: slapd.port }, { latencyMs: 25 });
    engine = await FaultEngine.start({
      label: 'redisflush',
      providers: [
        openLdapProvider(slapd, {
          disableMethod: 'ppolicy',
          concurrency: 2,
          url: `ldap://127.0.0.1:${distant.port}`,
        }),
      ],
      workers: 1,
      env: { RECONCILE_INTERVAL_MS: '500' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await distant?.stop();
    await slapd?.stop();
  });

  it(`ends all ${TASKS} accepted tasks successful after their jobs were deleted`, async () => {
    const started = Date.now();
    let answered = 0;
    const posting = engine.postDisables(uids, { onResult: () => answered++ });

    const atFlush = await pollUntil(
      'a backlog of queued jobs part-way through the posting',
      60_000,
      async () => {
        if (answered < TASKS / 3) return undefined;
        const jobs = await engine.jobCounts();
        return jobs.waiting + jobs.prioritized >= 10 ? jobs : undefined;
      },
      20,
    );
    const [{ ended: endedAtFlush }] = await engine.query<{ ended: number }>(
      `SELECT count(*)::int AS ended FROM tasks WHERE status <> 'inProgress'`,
    );
    const answeredAtFlush = answered;
    const deletedKeys = await engine.deleteQueueKeys();
    const flushedAt = Date.now();
    const afterFlush = await engine.jobCounts();

    const results: PostResult[] = await posting;
    const accepted = results.filter((r) => r.status === 202).map((r) => r.id as string);
    expect(results.filter((r) => r.status !== 202)).toEqual([]);

    await engine.waitAllEnded(accepted, 90_000);
    const c = await engine.counts(accepted);
    const slap = await countLocked(slapd, uids);
    const requeued = engine
      .logLines(/^reconciler queued unfinished targets again$/)
      .reduce((n, l) => n + Number(l.line.added ?? 0), 0);
    report('redis-flush', {
      accepted: c.accepted,
      ended: c.ended,
      successful: c.byStatus.successful ?? 0,
      'disabled-in-slapd': slap.locked,
      'failed-targets': c.failedTargets,
      'answered-at-flush': answeredAtFlush,
      'ended-at-flush': endedAtFlush,
      'jobs-at-flush': atFlush,
      'deleted-keys': deletedKeys,
      'jobs-just-after-flush': afterFlush,
      'requeued-by-reconciler': requeued,
      'completed-events-not-one': c.completedEventsNotOne,
      targets: c.targets,
      'flush-to-all-ended-ms': Date.now() - flushedAt,
      'total-ms': Date.now() - started,
    });

    expect(c.ended).toBe(TASKS);
    expect(c.byStatus).toEqual({ successful: TASKS });
    expect(c.failedTargets).toBe(0);
    expect(c.targets).toEqual({ 'ldap:succeeded/disabled': TASKS });
    expect(c.completedEventsNotOne).toBe(0);
    expect(slap).toEqual({ locked: TASKS, notLocked: [] });
    // Jobs were waiting when their keys went: those tasks could end only through the reconciler.
    expect(deletedKeys).toBeGreaterThan(0);
    expect(engine.api.running() && engine.workers[0].running()).toBe(true);
  });
});
