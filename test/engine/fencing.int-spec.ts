import { FencedAttempt } from '../../libs/engine/src/fenced-attempt';
import { AttemptStoppedError, ClaimLostError, TaskStore } from '@app/persistence';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §4.1, "an attempt that timed out or lost its claim never writes afterwards", checked on the real
 * PostgreSQL below the runner: every write of an attempt is fenced by its claim generation.
 */
describe('fencing of target attempts', () => {
  let engine: TestEngine;
  let store: TaskStore;

  beforeAll(async () => {
    // No worker: the spec plays the attempts itself.
    engine = await startEngine({
      label: 'fencing',
      workers: 0,
      providers: [
        {
          id: 'ldap',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=admin',
          bindPassword: 'x',
          baseDN: 'dc=example',
        },
      ],
    });
    store = engine.api.get(TaskStore);
  });
  afterAll(() => engine?.stop());

  async function newDisable(account: string) {
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', { body: { account } });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }
  const lock = (taskId: string, fence: { targetId: string; generation: number }, seq: string) =>
    store.acquireObjectLock(fence, {
      provider: 'ldap',
      objectRef: `obj-${taskId}`,
      leaseMs: 60_000,
      action: 'disableAccount',
      taskId,
      taskSeq: seq,
    });

  it('an older attempt can neither write, record its resolution, nor finish once a newer one claimed the target', async () => {
    const taskId = await newDisable('fenced1');
    const first = (await store.claimTarget(taskId, 'ldap'))!;
    expect(await lock(taskId, first.fence, first.task.seq)).toBe('acquired');
    await store.fenceWrite(first.fence, 'enabled', 60_000);

    // The first attempt timed out; BullMQ runs the job again.
    const second = (await store.claimTarget(taskId, 'ldap'))!;
    expect(second.fence.generation).toBe(first.fence.generation + 1);
    expect(second.target.priorState).toBe('enabled');

    await expect(store.fenceWrite(first.fence, 'disabled', 60_000)).rejects.toBeInstanceOf(ClaimLostError);
    await expect(
      store.recordResolution(first.fence, {
        taskId,
        provider: 'ldap',
        objectId: 'cn=wrong',
        objectRef: 'wrong',
        identifierKeys: [],
      }),
    ).rejects.toBeInstanceOf(ClaimLostError);
    expect(await store.finishTarget(taskId, 'ldap', first.fence, { status: 'failed', outcome: null })).toBe(
      false,
    );

    // The newer attempt takes the object's lease over at once and finishes.
    expect(await lock(taskId, second.fence, second.task.seq)).toBe('acquired');
    expect(await store.fenceWrite(second.fence, 'disabled', 60_000)).toBe('enabled');
    expect(
      await store.finishTarget(taskId, 'ldap', second.fence, { status: 'succeeded', outcome: 'disabled' }),
    ).toBe(true);
    const task = (await store.findTask(taskId))!;
    expect(task.status).toBe('successful');
    expect(task.targets[0]).toMatchObject({ outcome: 'disabled', priorState: 'enabled', objectId: null });
  });

  it('a write the directory refused replaces the prior state its own attempt recorded, never one an earlier attempt recorded', async () => {
    // First attempt: its guess of the state (read before the lease) was wrong, and the directory said so.
    const taskId = await newDisable('refused1');
    const first = (await store.claimTarget(taskId, 'ldap'))!;
    expect(await lock(taskId, first.fence, first.task.seq)).toBe('acquired');
    const attempt = new FencedAttempt(store, first.fence, 60_000, first.target.priorState);
    await attempt.beforeWrite('enabled');
    await attempt.writeRefused('disabled');
    expect(attempt.prior).toBe('disabled');
    // The runner's observe() after "already disabled" keeps it: the engine did not disable this account.
    expect(await attempt.observe('disabled')).toBe('disabled');

    // A later attempt of the same target: 'disabled' stands for whatever the first one did; never replaced.
    const second = (await store.claimTarget(taskId, 'ldap'))!;
    expect(await lock(taskId, second.fence, second.task.seq)).toBe('acquired');
    const retry = new FencedAttempt(store, second.fence, 60_000, second.target.priorState);
    await retry.beforeWrite('enabled');
    await retry.writeRefused('enabled');
    expect(retry.prior).toBe('disabled');

    // One attempt, two writes: after the first went through, the second refusal proves nothing about before.
    const otherId = await newDisable('refused2');
    const only = (await store.claimTarget(otherId, 'ldap'))!;
    expect(await lock(otherId, only.fence, only.task.seq)).toBe('acquired');
    const twice = new FencedAttempt(store, only.fence, 60_000, only.target.priorState);
    await twice.beforeWrite('enabled');
    await twice.beforeWrite('enabled');
    await twice.writeRefused('disabled');
    expect(twice.prior).toBe('enabled');
    expect(
      await store.finishTarget(otherId, 'ldap', only.fence, { status: 'succeeded', outcome: 'disabled' }),
    ).toBe(true);
    expect((await store.findTask(otherId))!.targets[0]).toMatchObject({ priorState: 'enabled' });
    expect(
      await store.finishTarget(taskId, 'ldap', second.fence, {
        status: 'succeeded',
        outcome: 'alreadyDisabled',
      }),
    ).toBe(true);
    expect((await store.findTask(taskId))!.targets[0]).toMatchObject({ priorState: 'disabled' });
  });

  it('a finished target is never rewritten by a late resolution', async () => {
    const taskId = await newDisable('fenced2');
    const a = (await store.claimTarget(taskId, 'ldap'))!;
    await store.finishTarget(taskId, 'ldap', a.fence, { status: 'skipped', outcome: 'notFound' });
    await expect(
      store.recordResolution(a.fence, {
        taskId,
        provider: 'ldap',
        objectId: 'x',
        objectRef: 'x',
        identifierKeys: [],
      }),
    ).rejects.toBeInstanceOf(ClaimLostError);
    expect((await store.findTask(taskId))!.targets[0]).toMatchObject({ status: 'skipped', objectRef: null });
    expect(await store.claimTarget(taskId, 'ldap')).toBeNull();
  });

  it('two targets never hold one object at once; a stopped attempt is refused before its write', async () => {
    const t1 = await newDisable('fenced3');
    const t2 = await newDisable('fenced4');
    const a = (await store.claimTarget(t1, 'ldap'))!;
    const b = (await store.claimTarget(t2, 'ldap'))!;
    const shared = {
      provider: 'ldap',
      objectRef: 'same-object',
      leaseMs: 60_000,
      action: 'disableAccount' as const,
    };
    expect(await store.acquireObjectLock(a.fence, { ...shared, taskId: t1, taskSeq: a.task.seq })).toBe(
      'acquired',
    );
    expect(await store.acquireObjectLock(b.fence, { ...shared, taskId: t2, taskSeq: b.task.seq })).toBe(
      'busy',
    );
    await store.finishTarget(t1, 'ldap', a.fence, { status: 'succeeded', outcome: 'disabled' });
    expect(await store.acquireObjectLock(b.fence, { ...shared, taskId: t2, taskSeq: b.task.seq })).toBe(
      'acquired',
    );

    // A cancel reaches a running attempt that has not written yet: its first write is refused.
    expect(await store.cancelTask(t2, 'test')).toBe(true);
    await expect(store.fenceWrite(b.fence, 'enabled', 60_000)).rejects.toBeInstanceOf(AttemptStoppedError);
  });
});
