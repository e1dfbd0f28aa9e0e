import { DataSource } from 'typeorm';
import { TaskStore } from '@app/persistence';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §4.1 "finish exactly once, roll up exactly once", played below the runner on the real PostgreSQL
 * with the races started at the same moment: a task's only target finishes in one statement without locking
 * the task first, and the targets of a larger task finish after the task's lock. Each task must end once,
 * with one `task.completed` event after every target's event.
 */
describe('finishing targets while others finish or cancel', () => {
  let engine: TestEngine;
  let store: TaskStore;
  let db: DataSource;
  const unreachable = (id: string) => ({
    id,
    kind: 'openLdap' as const,
    url: 'ldap://127.0.0.1:1',
    bindDN: 'cn=admin',
    bindPassword: 'x',
    baseDN: 'dc=example',
  });

  beforeAll(async () => {
    // No worker: the spec plays the attempts itself.
    engine = await startEngine({
      label: 'finishraces',
      workers: 0,
      providers: ['a', 'b', 'c'].map(unreachable),
    });
    store = engine.api.get(TaskStore);
    db = engine.api.get(DataSource);
  });
  afterAll(() => engine?.stop());

  async function newDisable(account: string, providers?: string[]): Promise<string> {
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account, ...(providers ? { providers } : {}) },
    });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  async function timeline(taskId: string): Promise<string[]> {
    const events = await store.events(taskId);
    return events.map((e) => `${e.type}${e.provider ? ':' + e.provider : ''}:${e.status}`);
  }

  it('a one-target task finished while it is being cancelled ends once, as its target did', async () => {
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => newDisable(`solo${i}`, ['a'])));
    const claims = await Promise.all(ids.map((id) => store.claimTarget(id, 'a')));
    for (const c of claims) expect(c!.shape).toEqual({ action: 'disableAccount', targetCount: 1 });
    // Half of the attempts have written (a cancel no longer stops them), half have not.
    await Promise.all(
      claims.map(async (c, i) => {
        if (i % 2 === 0) return;
        const lease = {
          leaseMs: 60_000,
          action: 'disableAccount' as const,
          taskId: ids[i],
          taskSeq: c!.task.seq,
        };
        const found = { taskId: ids[i], provider: 'a', objectId: `uid=solo${i}`, objectRef: `solo${i}` };
        expect(await store.recordResolution(c!.fence, { ...found, identifierKeys: [] }, lease)).toBe(
          'acquired',
        );
        await store.fenceWrite(c!.fence, 'enabled', 60_000);
      }),
    );

    const results = await Promise.all(
      claims.map(async (c, i) => {
        const [finished, cancelled] = await Promise.all([
          store.finishTarget(ids[i], 'a', c!.fence, { status: 'succeeded', outcome: 'disabled' }, c!.shape),
          store.cancelTask(ids[i], 'analyst'),
        ]);
        return { finished, cancelled };
      }),
    );

    for (const [i, id] of ids.entries()) {
      // A finish is not a directory write: a cancel asks the attempt to stop, it never refuses its result.
      expect(results[i].finished).toBe(true);
      const task = (await store.findTask(id))!;
      expect(task.status).toBe('successful');
      expect(task.targets[0]).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
      const events = await timeline(id);
      expect(events.filter((e) => e.startsWith('task.completed'))).toEqual(['task.completed:successful']);
      expect(events.at(-1)).toBe('task.completed:successful');
      expect(events.indexOf('task.targetUpdated:a:succeeded')).toBe(events.length - 2);
    }
  });

  it('three targets of one task finished at the same moment roll the task up once, after all three', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => newDisable(`trio${i}`)));
    const claims = await Promise.all(
      ids.flatMap((id) =>
        ['a', 'b', 'c'].map(async (p) => ({ id, p, c: (await store.claimTarget(id, p))! })),
      ),
    );
    for (const { c } of claims) expect(c.shape.targetCount).toBe(3);

    const finished = await Promise.all(
      claims.map(({ id, p, c }) =>
        store.finishTarget(
          id,
          p,
          c.fence,
          p === 'c'
            ? { status: 'failed', outcome: null, error: { code: 'insufficientRights', message: 'no' } }
            : { status: 'succeeded', outcome: 'disabled' },
          c.shape,
        ),
      ),
    );
    expect(finished.every(Boolean)).toBe(true);

    const completed: Array<{ task_id: string; n: number }> = await db.query(
      `SELECT task_id, count(*)::int AS n FROM task_events WHERE type = 'task.completed' AND task_id = ANY($1)
        GROUP BY task_id`,
      [ids],
    );
    expect(completed).toHaveLength(ids.length);
    expect(completed.every((r) => r.n === 1)).toBe(true);
    for (const id of ids) {
      expect((await store.findTask(id))!.status).toBe('partiallySuccessful');
      const events = await timeline(id);
      expect(events.at(-1)).toBe('task.completed:partiallySuccessful');
      expect(events.filter((e) => /^task.targetUpdated:.:(succeeded|failed)$/.test(e))).toHaveLength(3);
    }
  });

  it('a second finish of a finished target, or one by an attempt that lost its claim, changes nothing', async () => {
    const id = await newDisable('twice', ['b']);
    const first = (await store.claimTarget(id, 'b'))!;
    const second = (await store.claimTarget(id, 'b'))!;
    const [old, current] = await Promise.all([
      store.finishTarget(id, 'b', first.fence, { status: 'failed', outcome: null }, first.shape),
      store.finishTarget(id, 'b', second.fence, { status: 'succeeded', outcome: 'disabled' }, second.shape),
    ]);
    expect([old, current]).toEqual([false, true]);
    expect(
      await store.finishTarget(id, 'b', second.fence, { status: 'failed', outcome: null }, second.shape),
    ).toBe(false);
    expect((await store.findTask(id))!.status).toBe('successful');
    expect((await timeline(id)).filter((e) => e.startsWith('task.completed'))).toHaveLength(1);
  });

  /**
   * The lock order, made deterministic: a transaction of the spec holds the task row, a cancel (or a Disable
   * superseding the Enable) queues for it first and the attempt's finish second, then the row is let go. A
   * finish that took its target row before queueing for the task would hold what the cancel wants next while
   * waiting for what the cancel holds: PostgreSQL would abort one of them (40P01), the Disable answered 500.
   */
  describe('the task row before the target row, for every writer', () => {
    async function waitingOnLocks(n: number): Promise<void> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [{ waiting }]: Array<{ waiting: number }> = await db.query(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if (waiting >= n) return;
        if (Date.now() > deadline) throw new Error(`${waiting} sessions waiting on a lock, expected ${n}`);
        await new Promise((r) => setImmediate(r));
      }
    }

    /** Holds the task's row while `first` then `second` queue for it, in that order; returns both results. */
    async function queuedBehindTaskLock<A, B>(
      taskId: string,
      first: () => Promise<A>,
      second: () => Promise<B>,
    ): Promise<[PromiseSettledResult<A>, PromiseSettledResult<B>]> {
      const holder = db.createQueryRunner();
      await holder.connect();
      try {
        await holder.startTransaction();
        await holder.query(`SELECT 1 FROM tasks WHERE id = $1 FOR NO KEY UPDATE`, [taskId]);
        const a = first();
        a.catch(() => undefined);
        await waitingOnLocks(1);
        const b = second();
        b.catch(() => undefined);
        await waitingOnLocks(2);
        await holder.rollbackTransaction();
        return [(await Promise.allSettled([a]))[0], (await Promise.allSettled([b]))[0]];
      } finally {
        await holder.release();
      }
    }

    it('a cancel queued before the finish of a one-target task: both go through, the task ends once', async () => {
      const id = await newDisable('lockorder1', ['a']);
      const claim = (await store.claimTarget(id, 'a'))!;
      const [cancelled, finished] = await queuedBehindTaskLock(
        id,
        () => store.cancelTask(id, 'analyst'),
        () =>
          store.finishTarget(id, 'a', claim.fence, { status: 'succeeded', outcome: 'disabled' }, claim.shape),
      );
      expect(cancelled).toEqual({ status: 'fulfilled', value: true });
      expect(finished).toEqual({ status: 'fulfilled', value: true });
      expect((await store.findTask(id))!.status).toBe('successful');
      expect((await timeline(id)).filter((e) => e.startsWith('task.completed'))).toEqual([
        'task.completed:successful',
      ]);
    });

    it('a Disable superseding a running Enable while its one target finishes: 202, no deadlock', async () => {
      const disableId = await newDisable('lockorder2', ['a']);
      const d = (await store.claimTarget(disableId, 'a'))!;
      const found = { taskId: disableId, provider: 'a', objectId: 'uid=lockorder2', objectRef: 'lockorder2' };
      const lease = {
        leaseMs: 60_000,
        action: 'disableAccount' as const,
        taskId: disableId,
        taskSeq: d.task.seq,
      };
      expect(await store.recordResolution(d.fence, { ...found, identifierKeys: [] }, lease)).toBe('acquired');
      await store.fenceWrite(d.fence, 'enabled', 60_000);
      expect(
        await store.finishTarget(
          disableId,
          'a',
          d.fence,
          { status: 'succeeded', outcome: 'disabled' },
          d.shape,
        ),
      ).toBe(true);

      const enable = await engine.request('POST', '/api/v1/tasks/enable-account', {
        body: { account: 'lockorder2' },
      });
      expect(enable.status).toBe(202);
      const enableId = enable.body.id as string;
      const e = (await store.claimTarget(enableId, 'a'))!;
      expect(e.shape.targetCount).toBe(1);

      const [disabled, finished] = await queuedBehindTaskLock(
        enableId,
        () => engine.request('POST', '/api/v1/tasks/disable-account', { body: { account: 'lockorder2' } }),
        () =>
          store.finishTarget(enableId, 'a', e.fence, { status: 'succeeded', outcome: 'enabled' }, e.shape),
      );
      expect(disabled.status === 'fulfilled' && disabled.value.status).toBe(202);
      expect(finished).toEqual({ status: 'fulfilled', value: true });
      // The Enable's write had landed: it is reported as landed, and the new Disable is queued behind it.
      expect((await store.findTask(enableId))!.status).toBe('successful');
    });
  });
});
