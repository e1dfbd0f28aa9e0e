import { getSharedConfigToken } from '@nestjs/bullmq';
import { Queue, QueueOptions } from 'bullmq';
import { DataSource } from 'typeorm';
import { OpenLdapProviderConfig } from '@app/config';
import { Reconciler } from '@app/engine';
import { TaskStore } from '@app/persistence';
import { targetQueueName } from '@app/queue';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { loseAllQueuedJobs, startEngine, TestEngine } from '../harness/engine';

const LOCKED = 'pwdAccountLockedTime';

// Tasks from POST to final status through the real worker, against a real slapd (ppolicy, pwdLockout TRUE).
describe('Disable then Enable against OpenLDAP, end to end', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let ldap: OpenLdapProviderConfig;

  const user = async (uid: string) => {
    const dn = await slapd.addUser({ uid, password: `${uid}-Secret1`, mail: `${uid}@example.org` });
    return { uid, dn, password: `${uid}-Secret1` };
  };
  const lockedTime = async (dn: string) => (await slapd.readAttributes(dn, [LOCKED]))[LOCKED] ?? [];
  const post = (path: string, body: unknown) => engine.request('POST', path, { body });

  beforeAll(async () => {
    slapd = await startSlapd();
    ldap = openLdapProvider(slapd, { disableMethod: 'ppolicy' });
    engine = await startEngine({
      label: 'ldapflow',
      workers: 1,
      providers: [
        ldap,
        // Nothing listens on port 1: every attempt fails as a network error.
        { ...ldap, id: 'ldap-down', url: 'ldap://127.0.0.1:1', maxAttempts: 2, timeoutMs: 2000 },
      ],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  it('locks the account in slapd, then unlocks it, with both tasks successful and audited', async () => {
    const u = await user('jflow');
    expect(await slapd.canBind(u.dn, u.password)).toBe(true);

    const disable = await post('/api/v1/tasks/disable-account', {
      account: u.uid,
      providers: ['ldap'],
      description: 'IR-1',
    });
    expect(disable.status).toBe(202);
    const disabled = await engine.waitForTask(disable.body.id);
    expect(disabled).toMatchObject({ status: 'successful', createdBy: 'test-admin', error: null });
    expect(disabled.targets).toEqual([
      expect.objectContaining({
        provider: 'ldap',
        status: 'succeeded',
        outcome: 'disabled',
        objectId: u.dn,
        attempts: 1,
      }),
    ]);
    expect(disabled.completedAt).not.toBeNull();
    expect(await lockedTime(u.dn)).toEqual(['000001010000Z']);
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);

    // Enabled by another identifier than the one the Disable was given: the DN the directory reported.
    const enable = await post('/api/v1/tasks/enable-account', { account: u.dn });
    expect(enable.status).toBe(202);
    expect(enable.body.disableTaskId).toBe(disable.body.id);
    const enabled = await engine.waitForTask(enable.body.id);
    expect(enabled.status).toBe('successful');
    expect(enabled.targets).toEqual([
      expect.objectContaining({ provider: 'ldap', status: 'succeeded', outcome: 'enabled' }),
    ]);
    expect(await lockedTime(u.dn)).toEqual([]);
    expect(await slapd.canBind(u.dn, u.password)).toBe(true);

    const events = await engine.api.get(TaskStore).events(disable.body.id);
    expect(events.map((e) => [e.type, e.provider, e.status])).toEqual([
      ['task.created', null, 'inProgress'],
      ['task.targetUpdated', 'ldap', 'running'],
      ['task.targetUpdated', 'ldap', 'succeeded'],
      ['task.completed', null, 'successful'],
    ]);
    expect(events[0].actor).toBe('test-admin');

    const fromEnableTask = await post(`/api/v1/tasks/${enable.body.id}/enable`, {});
    expect(fromEnableTask.status).toBe(400);
    expect(fromEnableTask.body.error.code).toBe('notADisableTask');

    // Reversed: a second Enable has nothing to reverse.
    const again = await post('/api/v1/tasks/enable-account', { account: u.uid });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('noPriorDisableTask');
  });

  it('matches an Enable by the mail the directory recorded, through the options-menu flow too', async () => {
    const u = await user('jmail');
    const disable = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
    await engine.waitForTask(disable.body.id);
    const byDisableTask = await post(`/api/v1/tasks/${disable.body.id}/enable`, {
      description: 'verified safe',
    });
    expect(byDisableTask.status).toBe(202);
    expect((await engine.waitForTask(byDisableTask.body.id)).status).toBe('successful');
    expect(await slapd.canBind(u.dn, u.password)).toBe(true);

    const disable2 = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
    await engine.waitForTask(disable2.body.id);
    const byMail = await post('/api/v1/tasks/enable-account', { account: 'JMAIL@example.org' });
    expect(byMail.status).toBe(202);
    expect(byMail.body.disableTaskId).toBe(disable2.body.id);
  });

  it('leaves an account disabled that was already disabled before the incident', async () => {
    const u = await user('jpre');
    await slapd.setAttribute(u.dn, LOCKED, ['000001010000Z']);
    const disable = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
    const disabled = await engine.waitForTask(disable.body.id);
    expect(disabled.status).toBe('successful');
    expect(disabled.targets[0].outcome).toBe('alreadyDisabled');

    const enable = await post('/api/v1/tasks/enable-account', { account: u.uid });
    const enabled = await engine.waitForTask(enable.body.id);
    expect(enabled.status).toBe('successful');
    expect(enabled.targets).toEqual([
      expect.objectContaining({ provider: 'ldap', status: 'skipped', outcome: 'leftDisabled' }),
    ]);
    expect(await lockedTime(u.dn)).toEqual(['000001010000Z']);
  });

  it('ends partiallySuccessful when one directory is down, keeping the other result and the error', async () => {
    const u = await user('jpartial');
    const disable = await post('/api/v1/tasks/disable-account', { account: u.uid });
    const task = await engine.waitForTask(disable.body.id, 60_000);
    expect(task.status).toBe('partiallySuccessful');
    const byProvider = Object.fromEntries(task.targets.map((t) => [t.provider, t]));
    expect(byProvider.ldap).toMatchObject({ status: 'succeeded', outcome: 'disabled' });
    expect(byProvider['ldap-down']).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'directoryUnreachable', message: expect.any(String) },
    });
    expect(await slapd.canBind(u.dn, u.password)).toBe(false);

    // Only the directory the Disable changed is re-enabled.
    const enable = await post('/api/v1/tasks/enable-account', { account: u.uid });
    expect(enable.body.targets.map((t: { provider: string }) => t.provider)).toEqual(['ldap']);
    expect((await engine.waitForTask(enable.body.id)).status).toBe('successful');
  });

  it('ends unsuccessful when the only directory is down', async () => {
    const disable = await post('/api/v1/tasks/disable-account', {
      account: 'anyone',
      providers: ['ldap-down'],
    });
    const task = await engine.waitForTask(disable.body.id, 60_000);
    expect(task.status).toBe('unsuccessful');
    expect(task.targets[0]).toMatchObject({ status: 'failed', error: { code: 'directoryUnreachable' } });
  });

  it('ends unsuccessful with accountNotFound when no directory has the account', async () => {
    const disable = await post('/api/v1/tasks/disable-account', { account: 'ghost', providers: ['ldap'] });
    const task = await engine.waitForTask(disable.body.id);
    expect(task).toMatchObject({ status: 'unsuccessful', error: { code: 'accountNotFound' } });
    expect(task.targets[0]).toMatchObject({ status: 'skipped', outcome: 'notFound' });
  });

  describe('with no worker running', () => {
    let queue: Queue;
    beforeAll(async () => {
      await Promise.all(engine.workers.splice(0).map((w) => w.close()));
      queue = new Queue(targetQueueName('ldap'), engine.api.get<QueueOptions>(getSharedConfigToken()));
    });
    afterAll(() => queue?.close());

    it('allows one Enable in progress per account: racing requests get one 202 and 409s naming it', async () => {
      const u = await user('jrace');
      await engine.startWorker();
      const disable = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
      await engine.waitForTask(disable.body.id);
      await Promise.all(engine.workers.splice(0).map((w) => w.close()));

      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          post('/api/v1/tasks/enable-account', { account: i % 2 ? u.uid : u.dn }),
        ),
      );
      const accepted = results.filter((r) => r.status === 202);
      const refused = results.filter((r) => r.status === 409);
      expect(accepted).toHaveLength(1);
      expect(refused).toHaveLength(7);
      for (const r of refused)
        expect(r.body.error).toMatchObject({ code: 'taskInProgress', taskId: accepted[0].body.id });

      // The database itself refuses a second Enable in progress for the Disable task, whatever the code does.
      const db = engine.api.get(DataSource);
      await expect(
        db.query(
          `INSERT INTO tasks (action, status, account, disable_task_id, created_by) VALUES ('enableAccount', 'inProgress', 'x', $1, 't')`,
          [disable.body.id],
        ),
      ).rejects.toThrow(/tasks_one_enable_in_progress/);

      await engine.startWorker();
      expect((await engine.waitForTask(accepted[0].body.id)).status).toBe('successful');
      expect(await slapd.canBind(u.dn, u.password)).toBe(true);
      await Promise.all(engine.workers.splice(0).map((w) => w.close()));
    });

    it('finishes a task whose queued jobs Redis lost, once a worker starts', async () => {
      const u = await user('jlost');
      const disable = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
      expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
      await loseAllQueuedJobs(engine);
      expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 0 });

      const worker = await engine.startWorker();
      await worker.get(Reconciler).tick(0);
      const task = await engine.waitForTask(disable.body.id);
      expect(task.status).toBe('successful');
      expect(await slapd.canBind(u.dn, u.password)).toBe(false);
      await Promise.all(engine.workers.splice(0).map((w) => w.close()));
    });

    it('still calls it "disabled" when a worker died after its change reached the directory', async () => {
      const u = await user('jkilled');
      const disable = await post('/api/v1/tasks/disable-account', { account: u.uid, providers: ['ldap'] });
      // What a worker killed mid-call leaves behind: the target claimed and resolved, the object's lease held
      // (for 60 s), the state before the write recorded (enabled), the directory already changed, no result
      // recorded, and (with Redis restarted) no job. The new attempt of the same target takes the lease over.
      const store = engine.api.get(TaskStore);
      const claimed = (await store.claimTarget(disable.body.id, 'ldap'))!;
      const { fence, task: claimedTask } = claimed;
      await store.recordResolution(fence, {
        taskId: disable.body.id,
        provider: 'ldap',
        objectId: u.dn,
        objectRef: u.dn,
        identifierKeys: [],
      });
      const lease = { provider: 'ldap', objectRef: u.dn, leaseMs: 60_000, action: 'disableAccount' as const };
      await store.acquireObjectLock(fence, { ...lease, taskId: disable.body.id, taskSeq: claimedTask.seq });
      await store.fenceWrite(fence, 'enabled', 60_000);
      await slapd.setAttribute(u.dn, LOCKED, ['000001010000Z']);
      await loseAllQueuedJobs(engine);

      const worker = await engine.startWorker();
      await worker.get(Reconciler).tick(0);
      const task = await engine.waitForTask(disable.body.id);
      expect(task.targets[0]).toMatchObject({ status: 'succeeded', outcome: 'disabled', attempts: 2 });

      const enable = await post('/api/v1/tasks/enable-account', { account: u.uid });
      expect((await engine.waitForTask(enable.body.id)).targets[0].outcome).toBe('enabled');
      expect(await slapd.canBind(u.dn, u.password)).toBe(true);
    });
  });
});
