import { Client } from 'pg';
import { openLdapProvider, SlapdHandle } from '../harness/slapd';
import { addUsers, PERMANENT_LOCK, startRecordedSlapd } from './harness/directories';
import { FaultEngine, report } from './harness/fault-engine';
import { ChildHandle, pollUntil } from './harness/processes';

const PROVIDER = 'ldap';
/** How often PostgreSQL looks for a vanished client during a statement, in the variant where it does. */
const CLIENT_CHECK = '100ms';
/** BullMQ hands a dead worker's job on once its lock (30 s) has expired and a stalled check has run. */
const RECOVERY_MS = 150_000;

interface TargetRow {
  status: string;
  outcome: string | null;
  attempts: number;
  claim_generation: number;
  prior_state: string | null;
  acted_seq: string | null;
}

/**
 * A worker SIGKILLed at the one moment no other fault spec reaches: its directory write has landed and its
 * finish statement is in PostgreSQL. The moment is made exact from the test: a transaction of the test holds
 * the task's row `FOR NO KEY UPDATE` (the lock the finish's `task_row` CTE takes first) from before any worker
 * runs. It is that lock and not `FOR UPDATE`: the claim and the resolution insert rows referencing the task
 * (`task_events`, `account_identifiers`), whose foreign-key checks take `FOR KEY SHARE` on the task's row,
 * which `FOR UPDATE` would block and `FOR NO KEY UPDATE` does not. So the worker claims, resolves, leases,
 * fences, writes to slapd, reads back, and stops at its finish, the only statement of its run that wants the
 * task's row; then it is killed, the row let go, and a replacement started.
 *
 * What becomes of the dead worker's finish is PostgreSQL's: by default a backend does not look at its client
 * while it waits for a lock, so the statement runs once the row is free and commits on behalf of the dead
 * worker ("landed"). With `client_connection_check_interval` set, as a deployment may set it, the backend
 * notices the client is gone, ends the statement and rolls it back ("dropped"): then the replacement's retry
 * finds the account already changed, and only the recorded prior state keeps it from reporting
 * `alreadyDisabled` (or `alreadyEnabled`). Either way the user must see one change, reported once.
 */
describe('faults: kill -9 of a worker while its finish waits in PostgreSQL', () => {
  let slapd: SlapdHandle;
  let engine: FaultEngine;

  beforeAll(async () => {
    slapd = await startRecordedSlapd();
    await addUsers(slapd, ['mf-landed', 'mf-dropped', 'mf-enable']);
    engine = await FaultEngine.start({
      label: 'killfinish',
      providers: [openLdapProvider(slapd, { disableMethod: 'ppolicy' })],
      workers: 0,
      env: { WORKER_CONCURRENCY: '4', RECONCILE_INTERVAL_MS: '1000' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  async function lockTime(uid: string): Promise<string[]> {
    return (
      (await slapd.readAttributes(slapd.userDn(uid), ['pwdAccountLockedTime'])).pwdAccountLockedTime ?? []
    );
  }

  async function target(taskId: string): Promise<TargetRow> {
    const [row] = await engine.query<TargetRow>(
      `SELECT status, outcome, attempts, claim_generation, prior_state, acted_seq
         FROM task_targets WHERE task_id = $1 AND provider = $2`,
      [taskId, PROVIDER],
    );
    return row;
  }

  async function stopWorkers(): Promise<void> {
    await Promise.all(engine.workers.filter((w) => w.running()).map((w) => w.stop()));
  }

  /** Sets (or, with null, resets) client_connection_check_interval for sessions opened from now on. */
  async function clientCheck(interval: string | null): Promise<void> {
    await engine.query(
      interval === null
        ? `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET client_connection_check_interval',
                                      current_database()); END $$`
        : `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET client_connection_check_interval = %L',
                                      current_database(), '${interval}'); END $$`,
    );
  }

  async function postEnable(account: string): Promise<string> {
    const res = await engine.request('POST', '/api/v1/tasks/enable-account', { account });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  async function postDisable(account: string): Promise<string> {
    const res = await engine.postDisable(account);
    expect(res.status).toBe(202);
    return res.id as string;
  }

  /**
   * Posts a task with no worker running, holds its row, starts a worker and lets it run up to its finish, kills
   * it there, lets the row go and starts a replacement; returns once the task has ended and the queue has
   * nothing left to run (the replacement has handled the dead worker's job too).
   */
  async function killMidFinish(opts: {
    post: () => Promise<string>;
    uid: string;
    /** The account's pwdAccountLockedTime once the write has landed. */
    written: string[];
    /** Whether PostgreSQL ends the dead worker's statement (client_connection_check_interval). */
    dropped: boolean;
  }): Promise<{
    taskId: string;
    victim: ChildHandle;
    replacement: ChildHandle;
    fields: Record<string, unknown>;
  }> {
    await stopWorkers();
    await clientCheck(opts.dropped ? CLIENT_CHECK : null);
    const taskId = await opts.post();
    const holder = new Client({ connectionString: engine.databaseUrl });
    await holder.connect();
    let open = false;
    try {
      await holder.query('BEGIN');
      open = true;
      const held = await holder.query(`SELECT id FROM tasks WHERE id = $1 FOR NO KEY UPDATE`, [taskId]);
      expect(held.rowCount).toBe(1);
      const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

      const started = Date.now();
      const victim = await engine.startWorker();
      // The worker's finish, queued behind the test's transaction and nothing else.
      const blocked = await pollUntil(
        'the worker finish to wait for the task row',
        30_000,
        async () => {
          const rows = await engine.query<{ pid: number; query: string; wait_event_type: string }>(
            `SELECT pid, query, wait_event_type FROM pg_stat_activity
              WHERE datname = current_database() AND $1 = ANY (pg_blocking_pids(pid))`,
            [holderPid],
          );
          return rows.length ? rows : undefined;
        },
        20,
      );
      const blockedMs = Date.now() - started;
      expect(blocked).toHaveLength(1);
      const orphan = blocked[0].pid;
      expect(blocked[0].wait_event_type).toBe('Lock');
      expect(blocked[0].query).toContain(
        'task_row AS (SELECT id FROM tasks WHERE id IN (SELECT task_id FROM input) ORDER BY id FOR NO KEY UPDATE)',
      );
      expect(blocked[0].query).toContain('UPDATE task_targets');
      const [ungranted] = await engine.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted`,
        [orphan],
      );
      expect(ungranted.n).toBeGreaterThan(0);
      // Everything before the finish is done: the claim, the lease, the fence, the write in slapd.
      expect(await target(taskId)).toMatchObject({ status: 'running', attempts: 1, claim_generation: 1 });
      expect((await target(taskId)).acted_seq).not.toBeNull();
      expect(await lockTime(opts.uid)).toEqual(opts.written);
      expect(await engine.query(`SELECT 1 FROM object_locks`)).toHaveLength(1);

      victim.signal('SIGKILL');
      await pollUntil('the killed worker to be gone', 10_000, () => (victim.running() ? undefined : true));

      const backend = () =>
        engine.query<{ wait_event_type: string | null }>(
          `SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`,
          [orphan],
        );
      if (opts.dropped) {
        // PostgreSQL notices the client is gone and ends the statement, which never took effect.
        await pollUntil('PostgreSQL to end the dead worker session', 10_000, async () =>
          (await backend()).length === 0 ? true : undefined,
        );
      } else {
        // The dead worker's finish is still in PostgreSQL, waiting for the row.
        expect(await backend()).toEqual([{ wait_event_type: 'Lock' }]);
      }
      await holder.query('ROLLBACK');
      open = false;

      const replacement = await engine.startWorker();
      const released = Date.now();
      await engine.waitAllEnded([taskId], RECOVERY_MS);
      const endedMs = Date.now() - released;
      await pollUntil('the queue to have nothing left to run', RECOVERY_MS, async () => {
        const c = await engine.jobCounts();
        return c.waiting + c.active + c.delayed + c.prioritized === 0 ? c : undefined;
      });
      expect((await engine.jobCounts()).failed).toBe(0);
      return {
        taskId,
        victim,
        replacement,
        fields: {
          'to-blocked-finish-ms': blockedMs,
          'release-to-ended-ms': endedMs,
          'release-to-queue-drained-ms': Date.now() - released,
        },
      };
    } finally {
      if (open) await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end().catch(() => undefined);
    }
  }

  /** What the user sees: the task and its timeline through the API, the object leases, the processes. */
  async function expectEndedOnce(
    r: { taskId: string; victim: ChildHandle; replacement: ChildHandle },
    outcome: 'disabled' | 'enabled',
    attempts: number,
  ): Promise<void> {
    const task = await engine.request('GET', `/api/v1/tasks/${r.taskId}`);
    expect(task.status).toBe(200);
    expect(task.body.status).toBe('successful');
    expect(task.body.targets).toHaveLength(1);
    expect(task.body.targets[0]).toMatchObject({
      provider: PROVIDER,
      status: 'succeeded',
      outcome,
      attempts,
    });

    const events = await engine.request('GET', `/api/v1/tasks/${r.taskId}/events`);
    expect(events.status).toBe(200);
    const items = events.body.items as Array<{
      type: string;
      provider: string | null;
      status: string;
      detail: Record<string, unknown>;
    }>;
    expect(items.filter((e) => e.type === 'task.completed').map((e) => e.status)).toEqual(['successful']);
    const finals = items.filter(
      (e) => e.type === 'task.targetUpdated' && ['succeeded', 'failed', 'skipped'].includes(e.status),
    );
    expect(finals.map((e) => [e.provider, e.status, e.detail.outcome])).toEqual([
      [PROVIDER, 'succeeded', outcome],
    ]);
    expect(items.at(-1)?.type).toBe('task.completed');
    // The table itself agrees with the timeline the API shows.
    const [completed] = await engine.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task_events WHERE task_id = $1 AND type = 'task.completed'`,
      [r.taskId],
    );
    expect(completed.n).toBe(1);

    expect(await engine.query(`SELECT * FROM object_locks`)).toEqual([]);
    expect([r.victim.running(), r.replacement.running()]).toEqual([false, true]);
    expect(engine.logLines(/^request failed$/)).toEqual([]);
  }

  it('a Disable whose finish was waiting lands it once: successful, disabled, no lease left', async () => {
    const r = await killMidFinish({
      post: () => postDisable('mf-landed'),
      uid: 'mf-landed',
      written: [PERMANENT_LOCK],
      dropped: false,
    });
    // The dead worker's statement committed after all: its one attempt is the one reported.
    await expectEndedOnce(r, 'disabled', 1);
    expect(await lockTime('mf-landed')).toEqual([PERMANENT_LOCK]);
    report('kill-mid-finish-landed', { ...r.fields, target: await target(r.taskId) });
  }, 300_000);

  it('a Disable whose finish PostgreSQL dropped is retried and still reports disabled, not alreadyDisabled', async () => {
    const r = await killMidFinish({
      post: () => postDisable('mf-dropped'),
      uid: 'mf-dropped',
      written: [PERMANENT_LOCK],
      dropped: true,
    });
    const t = await target(r.taskId);
    // A second attempt ran and found the account locked; the first attempt's reading says it was enabled.
    expect(t).toMatchObject({ attempts: 2, claim_generation: 2, prior_state: 'enabled' });
    await expectEndedOnce(r, 'disabled', 2);
    expect(await lockTime('mf-dropped')).toEqual([PERMANENT_LOCK]);
    report('kill-mid-finish-dropped', { ...r.fields, target: t });
  }, 300_000);

  it('an Enable whose finish PostgreSQL dropped is retried and still reports enabled, reversing its Disable', async () => {
    await stopWorkers();
    await clientCheck(null);
    const disableId = await postDisable('mf-enable');
    await engine.startWorker();
    await engine.waitAllEnded([disableId], 60_000);
    expect(await target(disableId)).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(await lockTime('mf-enable')).toEqual([PERMANENT_LOCK]);

    const r = await killMidFinish({
      post: () => postEnable('mf-enable'),
      uid: 'mf-enable',
      written: [],
      dropped: true,
    });
    const t = await target(r.taskId);
    expect(t).toMatchObject({ attempts: 2, claim_generation: 2, prior_state: 'disabled' });
    await expectEndedOnce(r, 'enabled', 2);
    expect(await lockTime('mf-enable')).toEqual([]);
    // The Disable counts as reversed by this Enable, once.
    const reversed = await engine.query<{ by: string }>(
      `SELECT e.task_id AS by FROM task_targets d JOIN task_targets e ON e.id = d.reversed_by
        WHERE d.task_id = $1`,
      [disableId],
    );
    expect(reversed).toEqual([{ by: r.taskId }]);
    report('kill-mid-finish-enable-dropped', { ...r.fields, target: t });
  }, 300_000);
});
