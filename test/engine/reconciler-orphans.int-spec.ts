import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { Reconciler } from '@app/engine';
import { targetJobId, targetQueueName } from '@app/queue';
import { startEngine, TestEngine } from '../harness/engine';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';

/**
 * Redis loses the list that held a job but not the job itself: a restart or a flush that deletes keys one by
 * one while the API adds a job, so the job's hash is written after the flush passed it and its waiting list is
 * deleted after. No worker will ever take that job, and BullMQ still finds it by id. The reconciler must queue
 * it again however young it is (the fault run caught three such tasks stuck in progress).
 */
describe('reconciler: a job its waiting list lost', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    slapd = await startSlapd();
    // No worker yet: the job must still be waiting when its list forgets it.
    engine = await startEngine({ label: 'orphans', workers: 0, providers: [openLdapProvider(slapd)] });
    const { redisUrl, queuePrefix } = engine.config;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    queue = new Queue(targetQueueName('ldap'), { connection: { url: redisUrl }, prefix: queuePrefix });
  });
  afterAll(async () => {
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await engine?.stop();
    await slapd?.stop();
  });

  it('queues the job again and the account is disabled in slapd', async () => {
    const dn = await slapd.addUser({ uid: 'orphan1', password: 'Passw0rd-1' });
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: 'orphan1' },
    });
    expect(res.status).toBe(202);
    const id = res.body.id as string;

    // Its waiting list forgets the job while its hash stays.
    const jobId = targetJobId(id, 'ldap');
    expect(await queue.getJobState(jobId)).toBe('waiting');
    expect(await redis.lrem(queue.keys.wait, 0, jobId)).toBe(1);
    expect(await queue.getJob(jobId)).toBeDefined();
    expect(await queue.getJobState(jobId)).toBe('unknown');

    const worker = await engine.startWorker();
    // Grace 0: the target is seconds old, as a job lost during a bulk would be.
    expect(await worker.get(Reconciler).tick(0)).toBe(1);

    expect((await engine.waitForTask(id)).status).toBe('successful');
    expect((await slapd.readAttributes(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toEqual([
      '000001010000Z',
    ]);
    // A pass over a healthy queue leaves it alone.
    expect(await worker.get(Reconciler).tick(0)).toBe(0);
  });
});
