import { openLdapProvider, SlapdHandle } from '../harness/slapd';
import {
  addUsers,
  countLocked,
  HangingServer,
  startHangingServer,
  startRecordedSlapd,
} from './harness/directories';
import { FaultEngine, report } from './harness/fault-engine';
import { pollUntil } from './harness/processes';

const TASKS = 100;
const TIMEOUT_MS = 1_000;
const MAX_ATTEMPTS = 2;

/**
 * One directory hangs: its LDAP endpoint accepts TCP and never answers a byte. Next to it a healthy slapd.
 * Each task must still end: partiallySuccessful, the healthy directory's change made, the hanging one's
 * target failed with `timeout` after its attempts, and the hang must not hold the healthy queue, the task or
 * the worker.
 */
describe('faults: a directory that hangs', () => {
  let slapd: SlapdHandle;
  let hang: HangingServer;
  let engine: FaultEngine;
  const uids = Array.from({ length: TASKS }, (_, i) => `h${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    slapd = await startRecordedSlapd();
    await addUsers(slapd, [...uids, 'h-after']);
    hang = await startHangingServer();
    const ldap = openLdapProvider(slapd, { disableMethod: 'ppolicy' });
    engine = await FaultEngine.start({
      label: 'hang',
      providers: [
        ldap,
        {
          ...ldap,
          id: 'ldap-hang',
          url: hang.url,
          timeoutMs: TIMEOUT_MS,
          maxAttempts: MAX_ATTEMPTS,
          // Enough slots that the hung calls of a hundred tasks do not queue behind each other for minutes.
          concurrency: 50,
        },
      ],
      workers: 1,
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await hang?.stop();
    await slapd?.stop();
  });

  it(`ends ${TASKS} tasks partiallySuccessful: the hanging directory times out, the healthy one is changed`, async () => {
    const started = Date.now();
    const results = await engine.postDisables(uids);
    const accepted = results.filter((r) => r.status === 202).map((r) => r.id as string);
    expect(results.filter((r) => r.status !== 202)).toEqual([]);

    await engine.waitAllEnded(accepted, 90_000);
    const allEndedMs = Date.now() - started;
    const c = await engine.counts(accepted);
    const slap = await countLocked(slapd, uids);
    const [timing] = await engine.query<{ healthy_p95: number; hang_max: number; hang_min: number }>(
      `SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM tt.finished_at - t.created_at) * 1000)
                FILTER (WHERE tt.provider = 'ldap')::int AS healthy_p95,
              max(extract(epoch FROM tt.finished_at - t.created_at) * 1000)
                FILTER (WHERE tt.provider = 'ldap-hang')::int AS hang_max,
              min(extract(epoch FROM tt.finished_at - t.created_at) * 1000)
                FILTER (WHERE tt.provider = 'ldap-hang')::int AS hang_min
         FROM task_targets tt JOIN tasks t ON t.id = tt.task_id WHERE t.id = ANY($1)`,
      [accepted],
    );
    const [attempts] = await engine.query<{ n: string }>(
      `SELECT string_agg(DISTINCT attempts::text, ',') AS n FROM task_targets
        WHERE task_id = ANY($1) AND provider = 'ldap-hang'`,
      [accepted],
    );

    // The worker is not stuck behind the hang: a task for the healthy directory alone ends at once.
    const afterStarted = Date.now();
    const after = await engine.postDisable('h-after', { providers: ['ldap'] });
    await engine.waitAllEnded([after.id as string], 15_000);
    const afterMs = Date.now() - afterStarted;
    const [afterTask] = await engine.query<{ status: string }>(`SELECT status FROM tasks WHERE id = $1`, [
      after.id,
    ]);

    report('hanging-directory', {
      accepted: c.accepted,
      ended: c.ended,
      partiallySuccessful: c.byStatus.partiallySuccessful ?? 0,
      'disabled-in-slapd': slap.locked,
      targets: c.targets,
      'hang-attempts': attempts.n,
      'hang-connections-accepted': hang.accepted(),
      'hang-connections-still-open': hang.open(),
      'healthy-target-p95-ms': timing.healthy_p95,
      'hang-target-ms': `${timing.hang_min}..${timing.hang_max}`,
      'all-ended-ms': allEndedMs,
      'healthy-only-task-after-ms': afterMs,
      'completed-events-not-one': c.completedEventsNotOne,
    });

    expect(c.byStatus).toEqual({ partiallySuccessful: TASKS });
    expect(c.targets).toEqual({ 'ldap:succeeded/disabled': TASKS, 'ldap-hang:failed/timeout': TASKS });
    expect(attempts.n).toBe(String(MAX_ATTEMPTS));
    expect(slap).toEqual({ locked: TASKS, notLocked: [] });
    expect(c.completedEventsNotOne).toBe(0);
    expect(afterTask.status).toBe('successful');
    // Each hanging target gives up after its attempts: two time-outs and a back-off, not minutes.
    expect(timing.hang_max).toBeLessThan(60_000);
    expect(engine.workers[0].running()).toBe(true);
    // Nor is a socket to the hung server kept: each timed-out connection is dropped.
    await pollUntil('the engine to drop its connections to the hanging server', 10_000, () =>
      hang.open() === 0 ? true : undefined,
    );
  });
});
