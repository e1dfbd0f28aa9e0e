import { getSharedConfigToken } from '@nestjs/bullmq';
import { Queue, QueueOptions } from 'bullmq';
import { DataSource } from 'typeorm';
import { ApiKeyService } from '@app/auth';
import { targetQueueName } from '@app/queue';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

const LOCKED = 'pwdAccountLockedTime';

/**
 * CONTRACT §5 bulk routes (issue #10) against a real slapd: one task per account, each answered in its place
 * exactly as one by one, and every account really changed in the directory.
 */
describe('Bulk Disable and Enable (CONTRACT §5)', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  const N = 120;
  const uids = Array.from({ length: N }, (_, i) => `wave${i}`);

  const post = (path: string, body: unknown, key?: string) => engine.request('POST', path, { body, key });
  const isLocked = async (uid: string) =>
    ((await slapd.readAttributes(slapd.userDn(uid), [LOCKED]))[LOCKED] ?? []).length > 0;

  beforeAll(async () => {
    slapd = await startSlapd();
    for (const uid of uids) await slapd.addUser({ uid, password: `${uid}-Secret1` });
    for (const p of ['a', 'b'])
      for (let i = 0; i < 6; i++) await slapd.addUser({ uid: `${p}seq${i}`, password: 'Seq-Secret1' });
    await slapd.addUser({ uid: 'neverdisabled', password: 'Never-Secret1' });
    engine = await startEngine({
      label: 'bulk',
      workers: 1,
      providers: [openLdapProvider(slapd, { disableMethod: 'ppolicy' })],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  it('disables every account of a bulk in slapd, answering each account in its place', async () => {
    const bad = ['', 42, 'bad\u0007name', { nested: [{ deeper: 'jdoe' }] }];
    const accounts: unknown[] = [...uids];
    accounts.splice(10, 0, bad[0]);
    accounts.splice(50, 0, bad[1]);
    accounts.splice(100, 0, bad[2]);
    accounts.splice(110, 0, bad[3]);
    accounts.push('nobody-in-any-directory');

    const res = await post('/api/v1/tasks/disable-accounts', { accounts, description: 'phishing wave 7' });
    expect(res.status).toBe(207);
    expect(res.headers.get('location')).toBe(`/api/v1/batches/${res.body.batchId}`);
    expect(res.body.items).toHaveLength(accounts.length);
    // Each item names its entry; an object (never an account) is answered as null.
    res.body.items.forEach((item: { account: unknown }, i: number) =>
      expect(item.account).toEqual(i === 110 ? null : accounts[i]),
    );
    for (const i of [10, 50, 100, 110]) {
      expect(res.body.items[i]).toMatchObject({ status: 400, error: { code: 'invalidAccount' } });
      expect(res.body.items[i].taskId).toBeUndefined();
    }
    const accepted = res.body.items.filter((x: { status: number }) => x.status === 202);
    expect(accepted).toHaveLength(N + 1);
    expect(new Set(accepted.map((x: { taskId: string }) => x.taskId)).size).toBe(N + 1);

    const batch = await engine.waitForBatch(res.body.batchId);
    expect(batch).toMatchObject({
      id: res.body.batchId,
      action: 'disableAccount',
      createdBy: 'test-admin',
      requested: accounts.length,
      accepted: N + 1,
      rejected: 4,
      // The account no directory knows ends unsuccessful (accountNotFound), as it would on its own.
      counts: { inProgress: 0, successful: N, partiallySuccessful: 0, unsuccessful: 1 },
      done: true,
    });
    for (const uid of uids) expect(await isLocked(uid)).toBe(true);

    const listed = await engine.listBatchTasks(res.body.batchId);
    expect(listed.map((t) => t.id).sort()).toEqual(accepted.map((x: { taskId: string }) => x.taskId).sort());
    expect(listed.every((t) => t.batchId === res.body.batchId)).toBe(true);
    const one = await engine.request('GET', `/api/v1/tasks/${accepted[0].taskId}`);
    expect(one.body).toMatchObject({ account: uids[0], description: 'phishing wave 7', batchId: batch.id });
  });

  it('re-enables them in bulk; a second name for an account already in the bulk gets 409 taskInProgress', async () => {
    const accounts = [...uids, uids[0], slapd.userDn(uids[1]), 'neverdisabled'];
    const res = await post('/api/v1/tasks/enable-accounts', { accounts });
    expect(res.status).toBe(207);
    const items = res.body.items;
    expect(items.slice(0, N).every((x: { status: number }) => x.status === 202)).toBe(true);
    // The same name again, and the same account by its DN: the first Enable of the account is in progress.
    expect(items[N]).toMatchObject({
      status: 409,
      error: { code: 'taskInProgress', taskId: items[0].taskId },
    });
    expect(items[N + 1]).toMatchObject({
      status: 409,
      error: { code: 'taskInProgress', taskId: items[1].taskId },
    });
    expect(items[N + 2]).toMatchObject({ status: 409, error: { code: 'noPriorDisableTask' } });

    const batch = await engine.waitForBatch(res.body.batchId);
    expect(batch).toMatchObject({ accepted: N, rejected: 3, counts: { successful: N, inProgress: 0 } });
    for (const uid of uids) expect(await isLocked(uid)).toBe(false);
  });

  it('answers an Enable bulk exactly as the same requests sent one by one', async () => {
    // The same history for two sets of accounts (prefix a and b), then the same Enable requests: in one
    // bulk for a, one after another for b.
    for (const p of ['a', 'b']) {
      // Already locked before the incident: its Enable leaves it disabled and ends at once.
      await slapd.setAttribute(slapd.userDn(`${p}seq3`), LOCKED, ['000001010000Z']);
      for (const i of [0, 1, 3, 4, 4]) {
        const d = await post('/api/v1/tasks/disable-account', { account: `${p}seq${i}` });
        expect(d.status).toBe(202);
        await engine.waitForTask(d.body.id);
      }
    }
    const requests = (p: string) => [
      `${p}seq0`,
      `${p}seq0`,
      slapd.userDn(`${p}seq0`),
      `${p}seq1`,
      `${p}seq2`, // never disabled
      `${p}seq3`,
      `${p}seq3`, // the first Enable left it disabled and ended: nothing is left to reverse
      `${p}seq4`, // disabled twice: one Enable reverses both
      slapd.userDn(`${p}seq4`),
      '',
      `${p}seq5`,
    ];
    // The directory queue is paused while the requests are answered: one by one, an Enable the worker finished
    // before the next request would change that request's answer, and this compares the rules, not the timing.
    const queue = new Queue(targetQueueName('ldap'), engine.api.get<QueueOptions>(getSharedConfigToken()));
    await queue.pause();
    const bulk = await post('/api/v1/tasks/enable-accounts', { accounts: requests('a') });
    expect(bulk.status).toBe(207);
    const oneByOne = [];
    for (const account of requests('b')) {
      const r = await post('/api/v1/tasks/enable-account', { account });
      oneByOne.push(
        r.status === 202 ? { status: 202, taskId: r.body.id } : { status: r.status, error: r.body.error },
      );
    }
    await queue.resume();
    await queue.close();
    // Compared by shape: a refusal naming a task names the one created for the same place in the list.
    const shape = (items: Array<{ status: number; taskId?: string; error?: Record<string, unknown> }>) =>
      items.map((x) => ({
        status: x.status,
        code: x.error?.code ?? null,
        names: x.error?.taskId ? items.findIndex((y) => y.taskId === x.error?.taskId) : null,
      }));
    expect(shape(bulk.body.items)).toEqual(shape(oneByOne));
    expect(shape(bulk.body.items).map((s) => s.code)).toEqual([
      null,
      'taskInProgress',
      'taskInProgress',
      null,
      'noPriorDisableTask',
      null,
      'noPriorDisableTask',
      null,
      'taskInProgress',
      'invalidAccount',
      'noPriorDisableTask',
    ]);
    await engine.waitForBatch(bulk.body.batchId);
    for (const r of oneByOne) if (r.taskId) await engine.waitForTask(r.taskId);
    for (const p of ['a', 'b']) {
      expect(await isLocked(`${p}seq0`)).toBe(false);
      expect(await isLocked(`${p}seq3`)).toBe(true);
      expect(await isLocked(`${p}seq4`)).toBe(false);
    }
  });

  it('holds the Disable limit account by account: the first ones within it, the rest 429', async () => {
    const { key } = await engine.api
      .get(ApiKeyService)
      .create('bulk-playbook', ['tasks:write', 'tasks:read'], { disableLimit: '3/1h' });
    const accounts = ['lim0', 'lim1', '', 'lim2', 'lim3', 'lim4'];
    const res = await post('/api/v1/tasks/disable-accounts', { accounts }, key);
    expect(res.status).toBe(207);
    expect(res.body.items.map((x: { status: number }) => x.status)).toEqual([202, 202, 400, 202, 429, 429]);
    expect(res.body.items[4].error).toMatchObject({ code: 'disableLimitExceeded', limit: '3/1h' });
    const batch = await engine.request('GET', `/api/v1/batches/${res.body.batchId}`, { key });
    expect(batch.body).toMatchObject({ requested: 6, accepted: 3, rejected: 3, createdBy: 'bulk-playbook' });
  });

  it('refuses a malformed bulk as a whole and creates nothing', async () => {
    const db = engine.api.get(DataSource);
    const count = async () =>
      Number(
        (await db.query(`SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM batches) AS n`))[0].n,
      );
    const before = await count();
    const cases: Array<[unknown, string]> = [
      [{}, 'invalidAccounts'],
      [{ accounts: [] }, 'invalidAccounts'],
      [{ accounts: 'jdoe' }, 'invalidAccounts'],
      [{ accounts: Array.from({ length: 10_001 }, (_, i) => `u${i}`) }, 'invalidAccounts'],
      [{ accounts: ['jdoe'], providers: ['nowhere'] }, 'unknownProvider'],
      [{ accounts: ['jdoe'], description: 7 }, 'invalidDescription'],
      [{ accounts: ['jdoe'], callbackUrl: 'ftp://x' }, 'invalidCallbackUrl'],
      [{ accounts: ['jdoe'], account: 'jdoe' }, 'invalidBody'],
      [[{ accountName: 'jdoe' }], 'invalidBody'],
    ];
    for (const [body, code] of cases) {
      const res = await post('/api/v1/tasks/disable-accounts', body);
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code });
    }
    const enable = await post('/api/v1/tasks/enable-accounts', { accounts: ['x'], providers: ['ldap'] });
    expect(enable.body.error.code).toBe('invalidBody');
    expect(await count()).toBe(before);
  });

  it('takes bodies up to 2 MB on the bulk routes only', async () => {
    // 10,000 accounts of about 100 bytes: over the 64 kB of the other routes, under the bulk routes' 2 MB.
    const accounts = Array.from({ length: 10_000 }, (_, i) => `cn=User ${i},ou=${'x'.repeat(70)},dc=example`);
    const dry = await engine.request('POST', '/api/v1/tasks/disable-accounts?dryRun=true', {
      body: { accounts },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.items).toHaveLength(10_000);
    expect(dry.body.items[9_999]).toEqual({ account: accounts[9_999], status: 202 });
    const single = await post('/api/v1/tasks/disable-account', {
      account: 'jdoe',
      description: 'x'.repeat(70_000),
    });
    expect(single.status).toBe(413);
    const tooBig = await post('/api/v1/tasks/disable-accounts', { accounts: ['x'.repeat(2_100_000)] });
    expect(tooBig.status).toBe(413);
  });

  it('answers an entry holding half a surrogate pair or a NUL with 400, under an Idempotency-Key too', async () => {
    const res = await engine.request('POST', '/api/v1/tasks/enable-accounts', {
      body: { accounts: ['a\ud800b', 'c\u0000d', 'wave7'] },
      headers: { 'Idempotency-Key': 'lone-surrogate-1' },
    });
    expect(res.status).toBe(207);
    expect(res.body.items[0]).toMatchObject({
      account: 'a\ufffdb',
      status: 400,
      error: { code: 'invalidAccount' },
    });
  });

  it('rehearses a bulk with dryRun: what each account would get, nothing stored', async () => {
    const db = engine.api.get(DataSource);
    const tasksBefore = Number((await db.query(`SELECT count(*) AS n FROM tasks`))[0].n);
    const res = await engine.request('POST', '/api/v1/tasks/enable-accounts?dryRun=true', {
      body: { accounts: ['neverdisabled', 'wave5', ''] },
    });
    expect(res.status).toBe(200);
    expect(res.body.batchId).toBeUndefined();
    expect(res.body.items.map((x: { status: number }) => x.status)).toEqual([409, 409, 400]);
    expect(Number((await db.query(`SELECT count(*) AS n FROM tasks`))[0].n)).toBe(tasksBefore);
  });

  it('answers 404 for an unknown batch and 400 for a batchId that is not one', async () => {
    expect((await engine.request('GET', '/api/v1/batches/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    );
    expect((await engine.request('GET', '/api/v1/batches/nope')).body.error.code).toBe('batchNotFound');
    expect((await engine.request('GET', '/api/v1/tasks?batchId=nope')).body.error.code).toBe('invalidQuery');
  });
});
