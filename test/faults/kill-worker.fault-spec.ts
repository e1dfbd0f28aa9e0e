import { openLdapProvider, SlapdHandle } from '../harness/slapd';
import { startTcpProxy, TcpProxy } from '../harness/tcp-proxy';
import { addUsers, countLocked, startRecordedSlapd } from './harness/directories';
import { FaultEngine, PostResult, report } from './harness/fault-engine';
import { pollUntil } from './harness/processes';

const TASKS = 1_000;
/**
 * Posted before the workers start: the burst of an incident, so both workers are saturated at the kill. The
 * directory is a distant one (a proxy adding 25 ms to every round trip), so that the backlog left to kill the
 * workers in does not depend on how fast the engine is: against a local slapd, workers that finish a target in
 * a few statements drained the burst before the spec could see them busy with a backlog behind them.
 */
const BURST = 700;

/**
 * A worker process SIGKILLed while it runs directory calls. Two workers share the queue; one dies with jobs in
 * flight (claims open, object leases held, maybe a write already in slapd) and a replacement starts.
 * BullMQ's stalled check hands the dead worker's jobs to the living, the claim generation fences the dead
 * attempts, and the recorded prior state makes a retried Disable still report `disabled`.
 */
/** How the burst reaches the API: one request per account, or bulk requests (whose targets travel as chunk jobs). */
const POSTING: Array<[string, (engine: FaultEngine, accounts: string[]) => Promise<PostResult[]>]> = [
  ['one request per account', (engine, accounts) => engine.postDisables(accounts)],
  [
    'bulk requests, run as chunk jobs',
    async (engine, accounts) => {
      const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', { accounts });
      if (res.status !== 207) throw new Error(`bulk answered ${res.status}`);
      return (res.body.items as Array<{ account: string; status: number; taskId?: string }>).map((i) => ({
        account: i.account,
        status: i.status,
        id: i.taskId,
        retryAfter: null,
      }));
    },
  ],
];

describe.each(POSTING)('faults: kill -9 of a worker mid-run, %s', (how, post) => {
  let slapd: SlapdHandle;
  let engine: FaultEngine;
  let distant: TcpProxy;
  const uids = Array.from({ length: TASKS }, (_, i) => `k${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    slapd = await startRecordedSlapd();
    await addUsers(slapd, uids);
    distant = await startTcpProxy({ host: '127.0.0.1', port: slapd.port }, { latencyMs: 25 });
    engine = await FaultEngine.start({
      label: how.startsWith('bulk') ? 'kill9bulk' : 'kill9',
      providers: [
        openLdapProvider(slapd, { disableMethod: 'ppolicy', url: `ldap://127.0.0.1:${distant.port}` }),
      ],
      workers: 0,
      env: { WORKER_CONCURRENCY: '10', RECONCILE_INTERVAL_MS: '1000' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await distant?.stop();
    await slapd?.stop();
  });

  it(`ends all ${TASKS} accepted Disable tasks successful, every account locked in slapd`, async () => {
    const started = Date.now();
    const burst = await post(engine, uids.slice(0, BURST));
    const victim = await engine.startWorker();
    const survivor = await engine.startWorker();
    const rest = post(engine, uids.slice(BURST));

    // Both workers busy (a backlog left, targets running): the victim surely has directory calls in flight.
    const atKill = await pollUntil(
      'both workers to be busy',
      60_000,
      async () => {
        const [r] = await engine.query<{ ended: number; running: number; pending: number }>(
          `SELECT (SELECT count(*)::int FROM tasks WHERE status <> 'inProgress') AS ended,
                  (SELECT count(*)::int FROM task_targets WHERE status = 'running') AS running,
                  (SELECT count(*)::int FROM task_targets WHERE status = 'pending') AS pending`,
        );
        return r.ended >= 100 && r.running >= 10 && r.pending >= 50 ? r : undefined;
      },
      10,
    );
    victim.signal('SIGKILL');
    await pollUntil('the killed worker to be gone', 10_000, () => (victim.running() ? undefined : true));
    const killedAt = Date.now();
    const replacement = await engine.startWorker();

    const results = [...burst, ...(await rest)];
    const accepted = results.filter((r) => r.status === 202).map((r) => r.id as string);
    expect(results.filter((r) => r.status !== 202)).toEqual([]);
    const postedMs = Date.now() - started;

    // BullMQ returns a dead worker's jobs once their lock (30 s) has expired and a stalled check (every 30 s)
    // has run: up to a minute.
    await engine.waitAllEnded(accepted, 150_000);
    const recoveredMs = Date.now() - killedAt;
    const c = await engine.counts(accepted);
    const slap = await countLocked(slapd, uids);
    report(`kill-9, ${how}`, {
      accepted: c.accepted,
      ended: c.ended,
      successful: c.byStatus.successful ?? 0,
      'disabled-in-slapd': slap.locked,
      'failed-targets': c.failedTargets,
      'retried-targets': c.retriedTargets,
      'max-attempts': c.maxAttempts,
      'completed-events-not-one': c.completedEventsNotOne,
      'ended-at-kill': atKill.ended,
      'running-at-kill': atKill.running,
      targets: c.targets,
      'posted-ms': postedMs,
      'kill-to-all-ended-ms': recoveredMs,
      'total-ms': Date.now() - started,
    });

    expect(c.accepted).toBe(TASKS);
    expect(c.ended).toBe(TASKS);
    expect(c.byStatus).toEqual({ successful: TASKS });
    expect(c.failedTargets).toBe(0);
    // The kill hit claimed work: some targets needed a second attempt, and still say `disabled`.
    expect(c.retriedTargets).toBeGreaterThan(0);
    expect(c.targets).toEqual({ 'ldap:succeeded/disabled': TASKS });
    expect(c.completedEventsNotOne).toBe(0);
    expect(slap).toEqual({ locked: TASKS, notLocked: [] });
    expect([victim.running(), survivor.running(), replacement.running()]).toEqual([false, true, true]);
    expect(engine.logLines(/^request failed$/)).toEqual([]);
  });
});
