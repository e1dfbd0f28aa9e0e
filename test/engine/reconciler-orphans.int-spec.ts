import { INestApplication, INestApplicationContext } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { createApiApplication } from '../../apps/api/src/api.app';
import { createWorkerApplication } from '../../apps/worker/src/worker.app';
import { ApiKeyService } from '@app/auth';
import { AppConfig, DEFAULT_REDIS_URL, loadAppConfig } from '@app/config';
import { Reconciler } from '@app/engine';
import { targetJobId, targetQueueName } from '@app/queue';
import { createTestDatabase, TestDatabase } from '../harness/database';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';

/**
 * Redis loses the list that held a job but not the job itself: a restart or a flush that deletes keys one by
 * one while the API adds a job, so the job's hash is written after the flush passed it and its waiting list is
 * deleted after. No worker will ever take that job, and BullMQ still finds it by id. The reconciler must queue
 * it again however young it is (the fault run caught three such tasks stuck in progress).
 */
describe('reconciler: a job its waiting list lost', () => {
  let slapd: SlapdHandle;
  let db: TestDatabase;
  let api: INestApplication;
  let worker: INestApplicationContext | null = null;
  let redis: Redis;
  let queue: Queue;
  let base: string;
  let key: string;
  let config: AppConfig;

  beforeAll(async () => {
    slapd = await startSlapd();
    db = await createTestDatabase('orphans');
    const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
    config = {
      ...loadAppConfig({}),
      databaseUrl: db.url,
      redisUrl,
      queuePrefix: `test-orphans-${process.pid}`,
      port: 0,
      providersFile: null,
      providers: [openLdapProvider(slapd)],
      migrateOnStart: true,
      reconcileIntervalMs: 0,
      workerConcurrency: 2,
    };
    api = await createApiApplication(config);
    await api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
    key = (await api.get(ApiKeyService).create('orphans-admin', ['admin'])).key;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    queue = new Queue(targetQueueName('ldap'), { connection: { url: redisUrl }, prefix: config.queuePrefix });
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await db?.drop();
    await slapd?.stop();
  });

  const get = async (id: string): Promise<{ status: string }> =>
    (await (
      await fetch(`${base}/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as {
      status: string;
    };

  it('queues the job again and the account is disabled in slapd', async () => {
    const dn = await slapd.addUser({ uid: 'orphan1', password: 'Passw0rd-1' });
    const res = await fetch(`${base}/api/v1/tasks/disable-account`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'orphan1' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    // No worker runs yet, so the job waits; then its waiting list forgets it while its hash stays.
    const jobId = targetJobId(id, 'ldap');
    expect(await queue.getJobState(jobId)).toBe('waiting');
    expect(await redis.lrem(queue.keys.wait, 0, jobId)).toBe(1);
    expect(await queue.getJob(jobId)).toBeDefined();
    expect(await queue.getJobState(jobId)).toBe('unknown');

    worker = await createWorkerApplication(config);
    // Grace 0: the target is seconds old, as a job lost during a bulk would be.
    expect(await worker.get(Reconciler).tick(0)).toBe(1);

    const deadline = Date.now() + 30_000;
    let task = await get(id);
    while (task.status === 'inProgress' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50)); // polling interval
      task = await get(id);
    }
    expect(task.status).toBe('successful');
    expect((await slapd.readAttributes(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toEqual([
      '000001010000Z',
    ]);
    // A pass over a healthy queue leaves it alone.
    expect(await worker.get(Reconciler).tick(0)).toBe(0);
  });
});
