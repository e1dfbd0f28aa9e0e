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

  /** A new attempt at the target, with the object's lease, as the runner holds it before the adapter acts. */
  async function attemptAt(taskId: string) {
    const claimed = (await store.claimTarget(taskId, 'ldap'))!;
    expect(await lock(taskId, claimed.fence, claimed.task.seq)).toBe('acquired');
    return {
      claimed,
      attempt: new FencedAttempt(store, claimed.fence, 60_000, claimed.target.priorState),
    };
  }

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
    const { attempt } = await attemptAt(taskId);
    await attempt.beforeWrite('enabled');
    await attempt.writeRefused('disabled');
    expect(attempt.prior).toBe('disabled');
    // The runner's observe() after "already disabled" keeps it: the engine did not disable this account.
    expect(await attempt.observe('disabled')).toBe('disabled');

    // A later attempt of the same target: 'disabled' stands for whatever the first one did; never replaced.
    const { claimed: second, attempt: retry } = await attemptAt(taskId);
    await retry.beforeWrite('enabled');
    await retry.writeRefused('enabled');
    expect(retry.prior).toBe('disabled');

    // One attempt, two writes: after the first went through, the second refusal proves nothing about before.
    const otherId = await newDisable('refused2');
    const { claimed: only, attempt: twice } = await attemptAt(otherId);
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

  it('an Enable attempt looks at its first write for a Disable of its object that came after it, named otherwise', async () => {
    const objectRef = 'obj-superseding';
    const found = (taskId: string) => ({
      taskId,
      provider: 'ldap',
      objectId: objectRef,
      objectRef,
      identifierKeys: [],
    });
    // The Disable the Enable reverses, done.
    const disabled = await newDisable('superseded1');
    const d = (await store.claimTarget(disabled, 'ldap'))!;
    await store.recordResolution(d.fence, found(disabled), {
      leaseMs: 60_000,
      action: 'disableAccount',
      taskId: disabled,
      taskSeq: d.task.seq,
    });
    await store.fenceWrite(d.fence, 'enabled', 60_000);
    expect(
      await store.finishTarget(disabled, 'ldap', d.fence, { status: 'succeeded', outcome: 'disabled' }),
    ).toBe(true);
    const res = await engine.request('POST', '/api/v1/tasks/enable-account', {
      body: { account: 'superseded1' },
    });
    expect(res.status).toBe(202);
    const enableId = res.body.id as string;
    const enableLease = (seq: string) => ({
      leaseMs: 60_000,
      action: 'enableAccount' as const,
      taskId: enableId,
      taskSeq: seq,
    });

    // The Enable holds the object and passes its first fence: nothing supersedes it yet.
    const e1 = (await store.claimTarget(enableId, 'ldap'))!;
    expect(await store.recordResolution(e1.fence, found(enableId), enableLease(e1.task.seq))).toBe(
      'acquired',
    );
    const writing = new FencedAttempt(store, e1.fence, 60_000, e1.target.priorState, true);
    await writing.beforeWrite('disabled');

    // A Disable naming the account otherwise (so its creation stops no Enable) resolves to the same object.
    const later = await newDisable('superseded1-by-another-name');
    const l = (await store.claimTarget(later, 'ldap'))!;
    await store.recordResolution(l.fence, found(later));

    // The attempt already writing goes on: only an attempt's first fence looks, as the look before the
    // adapter acted did.
    await writing.beforeWrite('disabled');
    // The next attempt of the Enable is stopped before its first write, and writes nothing.
    const e2 = (await store.claimTarget(enableId, 'ldap'))!;
    expect(await store.recordResolution(e2.fence, found(enableId), enableLease(e2.task.seq))).toBe(
      'acquired',
    );
    const next = new FencedAttempt(store, e2.fence, 60_000, e2.target.priorState, true);
    await expect(next.beforeWrite('disabled')).rejects.toMatchObject({ reason: 'superseded' });
    // A Disable's attempt never looks.
    await expect(
      new FencedAttempt(store, e2.fence, 60_000, e2.target.priorState).beforeWrite('disabled'),
    ).resolves.toBeUndefined();
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
