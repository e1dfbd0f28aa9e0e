import { Pool, QueryConfig } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { ClaimedTarget, ClaimLostError, TaskStore } from '@app/persistence';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * The per-target statements (claim, resolution and lease, write fence, finish) run as one statement over the
 * calls that arrive together (StatementBatcher). Played below the runner on the real PostgreSQL with many
 * attempts at the same moment, each call must get what it got alone: its own claim, the lease only for one of
 * two targets of one object, a lost claim or a bad value failing that call alone, every task ending once with
 * its events in order, and an Enable reversing exactly the Disables it undoes.
 */
describe('per-target statements batched across targets', () => {
  let engine: TestEngine;
  let store: TaskStore;
  let db: DataSource;
  /** Items each named batched statement carried, per execution, recorded from the pool. */
  let executions: Array<{ name: string; items: number }>;

  beforeAll(async () => {
    // No worker: the spec plays the attempts itself.
    engine = await startEngine({
      label: 'batchedstmts',
      workers: 0,
      providers: [
        {
          id: 'a',
          kind: 'openLdap' as const,
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=admin',
          bindPassword: 'x',
          baseDN: 'dc=example',
        },
      ],
    });
    store = engine.api.get(TaskStore);
    db = engine.api.get(DataSource);
    const pool = (db.driver as PostgresDriver).master as Pool;
    const query = pool.query.bind(pool) as (config: QueryConfig) => Promise<unknown>;
    // Observes the statements on their way to PostgreSQL; they still run as they would.
    jest.spyOn(pool, 'query').mockImplementation(((config: QueryConfig) => {
      if (
        typeof config === 'object' &&
        config.name &&
        /^(claim_targets|record_resolutions|fence_writes|finish_only_targets)$/.test(config.name)
      )
        executions.push({
          name: config.name,
          items: (JSON.parse(String(config.values?.[0])) as unknown[]).length,
        });
      return query(config);
    }) as never);
  });
  afterAll(() => engine?.stop());
  beforeEach(() => (executions = []));

  const largestBatch = (name: string) =>
    Math.max(0, ...executions.filter((e) => e.name === name).map((e) => e.items));

  async function timeline(taskId: string): Promise<string[]> {
    return (await store.events(taskId)).map(
      (e) => `${e.type}${e.provider ? ':' + e.provider : ''}:${e.status}`,
    );
  }

  const lease = (c: ClaimedTarget) => ({
    leaseMs: 60_000,
    action: c.task.action,
    taskId: c.task.id,
    taskSeq: c.task.seq,
  });

  it('thirty Disables claimed, leased, fenced and finished at once: each call gets what it would alone', async () => {
    const n = 30;
    const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', {
      body: { accounts: Array.from({ length: n }, (_, i) => `batched${i}`) },
    });
    expect(res.status).toBe(207);
    const ids = (res.body.items as Array<{ taskId: string; status: number }>).map((i) => i.taskId);
    expect(new Set((res.body.items as Array<{ status: number }>).map((i) => i.status))).toEqual(
      new Set([202]),
    );

    const claims = (await Promise.all(ids.map((id) => store.claimTarget(id, 'a')))) as ClaimedTarget[];
    expect(largestBatch('claim_targets')).toBeGreaterThan(1);
    claims.forEach((c, i) => {
      expect(c.task.id).toBe(ids[i]);
      expect(c.fence).toMatchObject({ targetId: c.target.id, generation: 1 });
      expect(c.shape).toEqual({ action: 'disableAccount', targetCount: 1 });
    });

    // Targets i and i + 15 name one directory object: of each pair, exactly one may hold its lease.
    const objectOf = (i: number) => `shared-${i % 15}`;
    const locks = await Promise.all(
      claims.map((c, i) =>
        store.recordResolution(
          c.fence,
          {
            taskId: ids[i],
            provider: 'a',
            objectId: `uid=${objectOf(i)}`,
            objectRef: objectOf(i),
            identifierKeys: [`name:dir-batched${i}`],
          },
          lease(c),
        ),
      ),
    );
    expect(largestBatch('record_resolutions')).toBeGreaterThan(1);
    for (let k = 0; k < 15; k++) expect([locks[k], locks[k + 15]].sort()).toEqual(['acquired', 'busy']);
    const holders = claims.filter((_, i) => locks[i] === 'acquired');
    const waiting = claims.filter((_, i) => locks[i] === 'busy');

    // In the same moment as the others' fences: a stale attempt, and a call PostgreSQL refuses (a lease
    // length that is no number), which fails its whole batch: each call then runs alone.
    const last = holders[holders.length - 1];
    const stale = { ...holders[0].fence, generation: holders[0].fence.generation - 1 };
    const fences = await Promise.allSettled([
      ...holders.slice(0, -1).map((c) => store.fenceWrite(c.fence, 'enabled', 60_000)),
      store.fenceWrite(last.fence, 'enabled', NaN),
      store.fenceWrite(stale, 'enabled', 60_000),
    ]);
    expect(largestBatch('fence_writes')).toBeGreaterThan(1);
    expect(fences.slice(0, -2).every((f) => f.status === 'fulfilled' && f.value === 'enabled')).toBe(true);
    expect(fences.at(-2)).toMatchObject({ status: 'rejected', reason: { code: '22007' } });
    expect(fences.at(-1)).toMatchObject({ status: 'rejected', reason: expect.any(ClaimLostError) });
    expect(
      executions.filter((e) => e.name === 'fence_writes' && e.items === 1).length,
    ).toBeGreaterThanOrEqual(holders.length);
    // Refused alone, it changed nothing: the attempt still owns its target and fences again.
    expect(await store.fenceWrite(last.fence, 'enabled', 60_000)).toBe('enabled');

    const finished = await Promise.all([
      ...holders.map((c) =>
        store.finishTarget(c.task.id, 'a', c.fence, { status: 'succeeded', outcome: 'disabled' }, c.shape),
      ),
      // A second finish of a target, by its stale attempt, in the same moment.
      store.finishTarget(
        holders[0].task.id,
        'a',
        stale,
        { status: 'failed', outcome: null },
        holders[0].shape,
      ),
    ]);
    expect(largestBatch('finish_only_targets')).toBeGreaterThan(1);
    expect(finished).toEqual([...holders.map(() => true), false]);

    for (const c of holders) {
      const task = (await store.findTask(c.task.id))!;
      expect(task.status).toBe('successful');
      expect(task.targets[0]).toMatchObject({
        status: 'succeeded',
        outcome: 'disabled',
        priorState: 'enabled',
      });
      expect(await timeline(c.task.id)).toEqual([
        'task.created:inProgress',
        'task.targetUpdated:a:running',
        'task.targetUpdated:a:succeeded',
        'task.completed:successful',
      ]);
    }
    for (const c of waiting) expect((await store.findTask(c.task.id))!.status).toBe('inProgress');
    const [{ leases }]: Array<{ leases: number }> = await db.query(
      `SELECT count(*)::int AS leases FROM object_locks WHERE target_id = ANY($1)`,
      [holders.map((c) => c.target.id)],
    );
    expect(leases).toBe(0);
    const keys: Array<{ task_id: string }> = await db.query(
      `SELECT task_id FROM account_identifiers WHERE key = 'name:dir-batched3' AND source = 'a'`,
    );
    expect(keys.map((k) => k.task_id)).toEqual([ids[3]]);
  });

  it('a result holding half a surrogate pair (error text from a broken directory) still finishes, stored as U+FFFD', async () => {
    // What a garbled error body may carry through to a target's result; PostgreSQL refuses it inside JSON, and a
    // finish that never lands leaves the target running forever. Alone and batched with an ordinary finish.
    const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', {
      body: { accounts: ['garbled0', 'garbled1', 'garbled2'] },
    });
    const ids = (res.body.items as Array<{ taskId: string }>).map((i) => i.taskId);
    const claims = (await Promise.all(ids.map((id) => store.claimTarget(id, 'a')))) as ClaimedTarget[];
    const garbled = { code: 'directoryError', message: 'upstream said \ud800 and stopped' };
    const finished = await Promise.all(
      claims.map((c, i) =>
        store.finishTarget(
          c.task.id,
          'a',
          c.fence,
          i === 2
            ? { status: 'skipped', outcome: 'notFound' }
            : {
                status: 'failed',
                outcome: null,
                error: garbled,
                warnings: [{ code: 'odd', message: '\udc00' }],
              },
          c.shape,
        ),
      ),
    );
    expect(finished).toEqual([true, true, true]);
    for (const id of ids.slice(0, 2)) {
      const task = (await store.findTask(id))!;
      expect(task.status).toBe('unsuccessful');
      expect(task.targets[0]).toMatchObject({
        errorCode: 'directoryError',
        errorMessage: 'upstream said \ufffd and stopped',
        warnings: [{ code: 'odd', message: '\ufffd' }],
      });
      expect((await timeline(id)).at(-1)).toBe('task.completed:unsuccessful');
    }
  });

  it('Enables finishing together reverse exactly the Disables each undoes, and Disables beside them none', async () => {
    const n = 12;
    const accounts = Array.from({ length: n }, (_, i) => `reversal${i}`);
    const disables = await engine.request('POST', '/api/v1/tasks/disable-accounts', {
      body: { accounts },
    });
    const disableIds = (disables.body.items as Array<{ taskId: string }>).map((i) => i.taskId);
    const runDisable = async (id: string, i: number) => {
      const c = (await store.claimTarget(id, 'a'))!;
      const found = {
        taskId: id,
        provider: 'a',
        objectId: `uid=${accounts[i]}`,
        objectRef: `ref-${accounts[i]}`,
      };
      await store.recordResolution(c.fence, { ...found, identifierKeys: [`name:${accounts[i]}`] }, lease(c));
      await store.fenceWrite(c.fence, 'enabled', 60_000);
      await store.finishTarget(
        id,
        'a',
        c.fence,
        { status: 'succeeded', outcome: 'disabled', ...found },
        c.shape,
      );
      return c.target.id;
    };
    const disableTargets = await Promise.all(disableIds.map(runDisable));

    // Enables of the first half; the second half is disabled a second time, finishing beside them.
    const enables = await engine.request('POST', '/api/v1/tasks/enable-accounts', {
      body: { accounts: accounts.slice(0, n / 2) },
    });
    expect(enables.status).toBe(207);
    const enableIds = (enables.body.items as Array<{ taskId: string }>).map((i) => i.taskId);
    const again = await engine.request('POST', '/api/v1/tasks/disable-accounts', {
      body: { accounts: accounts.slice(n / 2) },
    });
    const againIds = (again.body.items as Array<{ taskId: string }>).map((i) => i.taskId);

    const claims = (await Promise.all(
      [...enableIds, ...againIds].map((id) => store.claimTarget(id, 'a')),
    )) as ClaimedTarget[];
    await Promise.all(
      claims.map(async (c, i) => {
        const account = accounts[i];
        const found = {
          taskId: c.task.id,
          provider: 'a',
          objectId: `uid=${account}`,
          objectRef: `ref-${account}`,
        };
        expect(await store.recordResolution(c.fence, { ...found, identifierKeys: [] }, lease(c))).toBe(
          'acquired',
        );
      }),
    );
    executions = [];
    const finished = await Promise.all(
      claims.map((c, i) => {
        const enabling = c.task.action === 'enableAccount';
        const found = { objectId: `uid=${accounts[i]}`, objectRef: `ref-${accounts[i]}` };
        return store.finishTarget(
          c.task.id,
          'a',
          c.fence,
          { status: 'succeeded', outcome: enabling ? 'enabled' : 'alreadyDisabled', ...found },
          c.shape,
        );
      }),
    );
    expect(finished.every(Boolean)).toBe(true);
    expect(largestBatch('finish_only_targets')).toBeGreaterThan(1);

    const rows: Array<{ id: string; reversed_by: string | null }> = await db.query(
      `SELECT id, reversed_by FROM task_targets WHERE id = ANY($1)`,
      [disableTargets],
    );
    const reversedBy = new Map(rows.map((r) => [r.id, r.reversed_by]));
    claims.forEach((c, i) => {
      const expected = c.task.action === 'enableAccount' ? c.target.id : null;
      expect(reversedBy.get(disableTargets[i])).toBe(expected);
    });
    for (const id of enableIds) expect((await store.findTask(id))!.status).toBe('successful');
    // Each account's first Disable is reversed or not, as above; the second Disables reversed nothing.
    const [{ reversed }]: Array<{ reversed: number }> = await db.query(
      `SELECT count(*)::int AS reversed FROM task_targets x JOIN tasks t ON t.id = x.task_id
        WHERE t.id = ANY($1) AND x.reversed_by IS NOT NULL`,
      [againIds],
    );
    expect(reversed).toBe(0);
  });
});
