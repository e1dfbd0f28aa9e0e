import { openLdapProvider, SlapdHandle } from '../harness/slapd';
import { addUsers, lockTimes, PERMANENT_LOCK, startRecordedSlapd } from './harness/directories';
import { FaultEngine, PostResult, report } from './harness/fault-engine';
import { PostgresCluster, startPostgresCluster } from './harness/postgres-cluster';
import { pollUntil } from './harness/processes';

const ACCOUNTS = 400;
/** Accounts sent in one bulk before the clients start. */
const HEAD_START = 200;
const OUTAGE_MS = 5_000;
/** Accepted after PostgreSQL is back before the client stops posting: the API takes work again. */
const AFTER = 30;

/**
 * PostgreSQL, the truth, goes away for a few seconds while tasks run: a private cluster stopped with
 * `pg_ctl stop -m fast` (sessions ended, connections refused) and started again on the same port. The API
 * must refuse in the documented way (503 databaseUnavailable with Retry-After, never a 500; /health/ready
 * 503), the worker must ride it out without a restart, and every task accepted before ends.
 */
describe('faults: PostgreSQL stopped and started mid-run', () => {
  let cluster: PostgresCluster;
  let slapd: SlapdHandle;
  let engine: FaultEngine;
  const uids = Array.from({ length: ACCOUNTS }, (_, i) => `p${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    slapd = await startRecordedSlapd();
    await addUsers(slapd, uids);
    engine = await FaultEngine.start({
      label: 'pgrestart',
      adminUrl: cluster.url('postgres'),
      // A low concurrency keeps targets unfinished when PostgreSQL goes.
      providers: [openLdapProvider(slapd, { disableMethod: 'ppolicy', concurrency: 2 })],
      workers: 1,
      env: { RECONCILE_INTERVAL_MS: '1000' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
    await cluster?.destroy();
  });

  it('answers 503 during the outage, then ends every task accepted before it', async () => {
    const started = Date.now();
    const apiPid = engine.api.pid;
    const workerPid = engine.workers[0].pid;
    const results: Array<PostResult & { at: number }> = [];
    let stopPosting = false;
    let next = 0;
    let outageFrom = Infinity;
    let backAt = Infinity;

    // A bulk first: hundreds of targets queued at once, so the outage finds tasks unfinished however fast the
    // worker drains them (four clients posting one by one no longer outpace it).
    const bulk = await engine.request('POST', '/api/v1/tasks/disable-accounts', {
      accounts: uids.slice(0, HEAD_START),
    });
    expect(bulk.status).toBe(207);
    for (const item of bulk.body.items as Array<{ account: string; status: number; taskId?: string }>)
      results.push({
        account: item.account,
        status: item.status,
        id: item.taskId,
        retryAfter: null,
        at: Date.now(),
      });
    next = HEAD_START;

    // Four clients, each retrying its refused request as a SOAR playbook would (after a short pause, not
    // the full Retry-After: the point is to see what the API answers throughout).
    const clients = Array.from({ length: 4 }, async () => {
      while (!stopPosting && next < uids.length) {
        const account = uids[next++];
        for (;;) {
          const r = await engine.postDisable(account);
          results.push({ ...r, at: Date.now() });
          if (r.status === 202 || stopPosting) break;
          await new Promise((res) => setTimeout(res, 100)); // a client's retry pause, not synchronisation
        }
      }
    });

    const atStop = await pollUntil(
      'tasks accepted and some still unfinished',
      60_000,
      async () => {
        const [r] = await engine.query<{ ended: number; unfinished: number }>(
          `SELECT count(*) FILTER (WHERE status <> 'inProgress')::int AS ended,
                  count(*) FILTER (WHERE status = 'inProgress')::int AS unfinished FROM tasks`,
        );
        return r.ended >= 30 && r.unfinished >= 20 ? r : undefined;
      },
      20,
    );
    outageFrom = Date.now();
    await cluster.stopFast();
    const stoppedAt = Date.now();

    // The outage, held on purpose; meanwhile readiness is sampled and the clients keep posting.
    const readiness: number[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      readiness.push((await fetch(`${engine.baseUrl}/health/ready`)).status);
      await new Promise((res) => setTimeout(res, 250));
    }
    const workerAliveInOutage = engine.workers[0].running();
    await cluster.start();
    backAt = Date.now();

    await pollUntil('the API to accept again', 60_000, () =>
      results.filter((r) => r.status === 202 && r.at > backAt).length >= AFTER ? true : undefined,
    );
    stopPosting = true;
    await Promise.all(clients);
    const readyAfter = await pollUntil('readiness after the outage', 30_000, async () =>
      (await fetch(`${engine.baseUrl}/health/ready`)).status === 200 ? 200 : undefined,
    );

    const accepted = results.filter((r) => r.status === 202);
    const acceptedBefore = accepted.filter((r) => r.at < outageFrom).map((r) => r.id as string);
    const ids = accepted.map((r) => r.id as string);
    const refused = results.filter((r) => r.status === 503);
    const other = results.filter((r) => r.status !== 202 && r.status !== 503);
    await engine.waitAllEnded(ids, 120_000);
    const endedAt = Date.now();

    // A request cut off while committing may have created its task and still answered 503: PostgreSQL is
    // what counts, so every task it holds must end too.
    const inDb = await engine.query<{ id: string; account: string }>(`SELECT id, account FROM tasks`);
    const unacknowledged = inDb.filter((t) => !ids.includes(t.id));
    const all = inDb.map((t) => t.id);
    await engine.waitAllEnded(all, 60_000);
    const c = await engine.counts(ids);
    const cBefore = await engine.counts(acceptedBefore);
    const locks = await lockTimes(slapd);
    const lockedUids = uids.filter((u) => locks.get(u)?.[0] === PERMANENT_LOCK);
    const expectedLocked = [...new Set(inDb.map((t) => t.account))].sort();
    report('postgres-restart', {
      accepted: ids.length,
      'accepted-before-outage': acceptedBefore.length,
      ended: c.ended,
      successful: c.byStatus.successful ?? 0,
      'ended-before-outage-tasks': cBefore.ended,
      'successful-before-outage-tasks': cBefore.byStatus.successful ?? 0,
      'disabled-in-slapd': lockedUids.length,
      'failed-targets': c.failedTargets,
      'retried-targets': c.retriedTargets,
      'unfinished-at-stop': atStop.unfinished,
      '503-databaseUnavailable': refused.filter((r) => r.code === 'databaseUnavailable' && r.retryAfter)
        .length,
      '503-total': refused.length,
      'other-statuses': other.map((r) => r.status || r.networkError),
      // What the API logged for any 500, so that a failure here says where to look.
      'api-500-errors': engine.logLines(/^request failed$/).map((l) => errorText(l.line.error)),
      'ready-during-outage': countBy(readiness),
      'ready-after': readyAfter,
      // What the client was told for each of those (the last answer for that account).
      'unacknowledged-commits': unacknowledged.map(
        (t) => results.filter((r) => r.account === t.account && r.status !== 202).pop()?.status ?? 'none',
      ),
      'completed-events-not-one': c.completedEventsNotOne,
      targets: c.targets,
      'stop-ms': stoppedAt - outageFrom,
      'outage-ms': backAt - outageFrom,
      'restart-to-all-ended-ms': endedAt - backAt,
      'total-ms': Date.now() - started,
    });

    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect([r.code, r.retryAfter]).toEqual(['databaseUnavailable', '5']);
    expect(readiness.length).toBeGreaterThan(0);
    expect(readiness.every((s) => s === 503)).toBe(true);
    expect(acceptedBefore.length).toBeGreaterThan(0);
    expect(cBefore.byStatus).toEqual({ successful: acceptedBefore.length });
    expect(c.byStatus).toEqual({ successful: ids.length });
    expect(c.failedTargets).toBe(0);
    expect(c.completedEventsNotOne).toBe(0);
    // Exactly the accounts PostgreSQL has tasks for are locked: a refused request changed nothing.
    expect(lockedUids.sort()).toEqual(expectedLocked);
    // Ridden out, not restarted.
    expect(workerAliveInOutage).toBe(true);
    expect([engine.api.pid, engine.api.running()]).toEqual([apiPid, true]);
    expect([engine.workers[0].pid, engine.workers[0].running(), engine.workers.length]).toEqual([
      workerPid,
      true,
      1,
    ]);
    // Last, so that every other promise has been checked when this one fails: never a 500 (CONTRACT §10).
    expect(other).toEqual([]);
    expect(engine.logLines(/^request failed$/)).toEqual([]);
  });
});

function errorText(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string; stack?: string } | undefined;
  return `${err?.name}: ${err?.message} (code ${err?.code}) ${err?.stack?.split('\n').slice(1, 4).join(' <')}`;
}

function countBy(values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
