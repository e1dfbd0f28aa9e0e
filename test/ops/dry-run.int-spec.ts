import { getSharedConfigToken } from '@nestjs/bullmq';
import { Queue, QueueOptions } from 'bullmq';
import { DataSource } from 'typeorm';
import { ApiKeyService } from '@app/auth';
import { ProviderConfig } from '@app/config';
import { targetQueueName } from '@app/queue';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * CONTRACT §5 `?dryRun=true` on every create of the native API: the task as it would be, or the refusal it
 * would get, with nothing written (no task, no event, no outbox row, no idempotency record) and nothing queued.
 * Real slapd, so that Disables really succeed and Enables have something to plan from.
 */
describe('dry run of task creation', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let db: DataSource;
  const queues: Queue[] = [];

  const providers = (): ProviderConfig[] => [
    openLdapProvider(slapd),
    // Never reachable: a Disable that names it stays inProgress (retried with backoff) for the whole spec.
    {
      id: 'down',
      kind: 'openLdap',
      url: 'ldap://127.0.0.1:1',
      bindDN: 'cn=x',
      bindPassword: 'x',
      baseDN: 'dc=x',
      maxAttempts: 100,
      timeoutMs: 500,
    },
  ];

  beforeAll(async () => {
    slapd = await startSlapd();
    engine = await startEngine({ label: 'dryrun', workers: 1, providers: providers() });
    db = engine.api.get(DataSource);
    const bull = engine.api.get<QueueOptions>(getSharedConfigToken());
    for (const p of ['ldap', 'down']) queues.push(new Queue(targetQueueName(p), bull));
  });
  afterAll(async () => {
    await Promise.allSettled(queues.map((q) => q.close()));
    await engine?.stop();
    await slapd?.stop();
  });

  /**
   * Everything a create writes or queues, to compare before and after a dry run. Events are counted by the kinds
   * a create writes (created, and completed for a task that ends at once): the worker keeps adding retry events
   * to the Disable left running below, and the webhook relay drains the outbox meanwhile.
   */
  async function footprint() {
    const [row] = await db.query(
      `SELECT (SELECT count(*) FROM tasks)::int AS tasks, (SELECT count(*) FROM task_targets)::int AS targets,
              (SELECT count(*) FROM task_events WHERE type IN ('task.created', 'task.completed'))::int AS events,
              (SELECT count(*) FROM account_identifiers)::int AS identifiers,
              (SELECT count(*) FROM idempotency_keys)::int AS idempotency,
              (SELECT count(*) FROM task_targets WHERE reversed_by IS NOT NULL)::int AS reversed`,
    );
    // Each job stays in one of these states until removed (completed ones are kept for an hour).
    const jobs = await Promise.all(
      queues.map(async (q) =>
        Object.values(
          await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'),
        ).reduce((a, b) => a + b, 0),
      ),
    );
    return { ...row, jobs };
  }

  async function disabled(uid: string): Promise<string> {
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: uid, providers: ['ldap'] },
    });
    expect(res.status).toBe(202);
    const task = await engine.waitForTask(res.body.id);
    expect(task.status).toBe('successful');
    return res.body.id;
  }

  it('answers a Disable as it would be, every selected provider pending with plannedAction disable, and writes nothing', async () => {
    await slapd.addUser({ uid: 'dry1', password: 'Passw0rd-1' });
    const before = await footprint();
    const res = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', {
      body: { account: 'dry1', description: 'rehearsal' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.body).toMatchObject({
      id: null,
      dryRun: true,
      action: 'disableAccount',
      status: 'inProgress',
      account: 'dry1',
      description: 'rehearsal',
      createdBy: 'test-admin',
    });
    expect(res.body.targets).toEqual([
      expect.objectContaining({ provider: 'down', status: 'pending', plannedAction: 'disable' }),
      expect.objectContaining({ provider: 'ldap', status: 'pending', plannedAction: 'disable' }),
    ]);
    const some = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', {
      body: { account: 'dry1', providers: ['ldap'] },
    });
    expect(some.body.targets.map((t: { provider: string }) => t.provider)).toEqual(['ldap']);
    expect(await footprint()).toEqual(before);
    expect(await slapd.readAttributes(slapd.userDn('dry1'), ['pwdAccountLockedTime'])).toEqual({});
  });

  it('gives a dry run the same 4xx a create would get, for every form', async () => {
    const before = await footprint();
    const bad = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', {
      body: { account: '' },
    });
    expect(bad.status).toBe(400);
    const unknown = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', {
      body: { account: 'x', providers: ['nope'] },
    });
    expect(unknown.body.error.code).toBe('unknownProvider');
    const none = await engine.request('POST', '/api/v1/tasks/enable-account?dryRun=true', {
      body: { account: 'never-disabled' },
    });
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('noPriorDisableTask');
    const missing = await engine.request(
      'POST',
      '/api/v1/tasks/00000000-0000-4000-8000-000000000000/enable?dryRun=true',
      { body: {} },
    );
    expect(missing.status).toBe(404);
    const flag = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=yes', {
      body: { account: 'x' },
    });
    expect(flag.status).toBe(400);
    expect(flag.body.error.code).toBe('invalidQuery');
    expect(await footprint()).toEqual(before);
  });

  it('plans an Enable exactly as the real one then creates it: enable where enabled before, leaveDisabled where not', async () => {
    await slapd.addUser({ uid: 'dry2', password: 'Passw0rd-1' });
    await slapd.addUser({ uid: 'dry3', password: 'Passw0rd-1' });
    // dry3 was locked before the incident: its Enable must leave it locked.
    await slapd.setAttribute(slapd.userDn('dry3'), 'pwdAccountLockedTime', ['000001010000Z']);
    const d2 = await disabled('dry2');
    const d3 = await disabled('dry3');

    const before = await footprint();
    const plan2 = await engine.request('POST', '/api/v1/tasks/enable-account?dryRun=true', {
      body: { account: 'dry2' },
    });
    expect(plan2.status).toBe(200);
    expect(plan2.body).toMatchObject({
      dryRun: true,
      action: 'enableAccount',
      disableTaskId: d2,
      status: 'inProgress',
    });
    expect(plan2.body.targets).toEqual([
      expect.objectContaining({ provider: 'ldap', status: 'pending', plannedAction: 'enable' }),
    ]);
    const plan3 = await engine.request('POST', `/api/v1/tasks/${d3}/enable?dryRun=true`, { body: {} });
    expect(plan3.status).toBe(200);
    expect(plan3.body.status).toBe('successful');
    expect(plan3.body.targets).toEqual([
      expect.objectContaining({
        provider: 'ldap',
        status: 'skipped',
        outcome: 'leftDisabled',
        plannedAction: 'leaveDisabled',
      }),
    ]);
    // Nothing written: in particular the leftDisabled plan did not mark the Disable reversed.
    expect(await footprint()).toEqual(before);

    const real2 = await engine.request('POST', '/api/v1/tasks/enable-account', { body: { account: 'dry2' } });
    expect(real2.status).toBe(202);
    const real3 = await engine.request('POST', `/api/v1/tasks/${d3}/enable`, { body: {} });
    expect(real3.status).toBe(202);
    const strip = (t: { provider: string; status: string; outcome: string | null }) => [
      t.provider,
      t.status,
      t.outcome,
    ];
    expect(real2.body.targets.map(strip)).toEqual(plan2.body.targets.map(strip));
    expect(real3.body.targets.map(strip)).toEqual(plan3.body.targets.map(strip));
    expect((await engine.waitForTask(real2.body.id)).status).toBe('successful');
  });

  it('answers the 409 an Enable would get while a Disable of the account runs', async () => {
    await slapd.addUser({ uid: 'dry4', password: 'Passw0rd-1' });
    const running = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: 'dry4', providers: ['down'] },
    });
    expect(running.status).toBe(202);
    const before = await footprint();
    const res = await engine.request('POST', '/api/v1/tasks/enable-account?dryRun=true', {
      body: { account: 'dry4' },
    });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'taskInProgress', taskId: running.body.id });
    const fromTask = await engine.request('POST', `/api/v1/tasks/${running.body.id}/enable?dryRun=true`, {
      body: {},
    });
    expect(fromTask.status).toBe(409);
    expect(await footprint()).toEqual(before);
  });

  it('stores no Idempotency-Key for a dry run, so the same key then creates the task for real', async () => {
    await slapd.addUser({ uid: 'dry5', password: 'Passw0rd-1' });
    const headers = { 'Idempotency-Key': 'dry-run-then-real' };
    const body = { account: 'dry5', providers: ['ldap'] };
    const dry = await engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', { body, headers });
    expect(dry.status).toBe(200);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1`, [
      'dry-run-then-real',
    ]);
    expect(n).toBe(0);
    const real = await engine.request('POST', '/api/v1/tasks/disable-account', { body, headers });
    expect(real.status).toBe(202);
    expect(real.headers.get('idempotent-replayed')).toBeNull();
    const again = await engine.request('POST', '/api/v1/tasks/disable-account', { body, headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(real.body.id);
    await engine.waitForTask(real.body.id);
  });

  it('counts no dry run against a Disable limit, and answers the 429 a create would get past it', async () => {
    const { key } = await engine.api.get(ApiKeyService).create('limited', ['tasks:write', 'tasks:read'], {
      disableLimit: '1/1h',
    });
    const dry = () =>
      engine.request('POST', '/api/v1/tasks/disable-account?dryRun=true', {
        key,
        body: { account: 'nobody-here', providers: ['ldap'] },
      });
    expect((await dry()).status).toBe(200);
    expect((await dry()).status).toBe(200);
    const real = await engine.request('POST', '/api/v1/tasks/disable-account', {
      key,
      body: { account: 'nobody-here', providers: ['ldap'] },
    });
    expect(real.status).toBe(202);
    const past = await dry();
    expect(past.status).toBe(429);
    expect(past.body.error.code).toBe('disableLimitExceeded');
    await engine.waitForTask(real.body.id);
  });

  it('refuses dryRun on the Vision One-style and Adaxes-style doors rather than create a real task', async () => {
    const before = await footprint();
    const v1 = await engine.request('POST', '/v3.0/response/domainAccounts/disable?dryRun=true', {
      body: [{ accountName: 'dry6' }],
    });
    expect(v1.status).toBe(400);
    const adaxes = await engine.request('POST', '/restApi/api/directoryObjects/account/disable?dryRun=true', {
      key: null,
      headers: { 'Adm-Authorization': engine.adminKey },
      body: { directoryObject: 'uid=dry6,ou=people,dc=example,dc=org' },
    });
    expect(adaxes.status).toBe(400);
    expect(await footprint()).toEqual(before);
  });
});
