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
});
