import Redis from 'ioredis';
import { Client } from 'pg';
import { Queue } from 'bullmq';
import { Reconciler } from '@app/engine';
import { chunkJobId, ProviderJobData, targetJobId, targetQueueName } from '@app/queue';
import { startEngine, TestEngine } from '../harness/engine';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';

const LOCKED = 'pwdAccountLockedTime';
const PERMANENT_LOCK = '000001010000Z';

/**
 * A bulk on OpenLDAP runs as chunk jobs of 50 targets (test/queue/chunk-jobs.int-spec.ts has the queue layer).
 * What must hold as with a job per target: the reconciler counts a live chunk's targets as queued and queues
 * again, one by one, those of a chunk Redis lost; a target that must wait for its object runs again as a job
 * of its own; and every account ends disabled in slapd itself.
 */
describe('A bulk on OpenLDAP as chunk jobs', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let redis: Redis;
  let queue: Queue<ProviderJobData>;
  let db: Client;

  const addUsers = async (prefix: string, n: number) => {
    const uids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    for (const uid of uids) await slapd.addUser({ uid, password: `${uid}-Secret1` });
    return uids;
  };
  const lockOf = async (uid: string) => (await slapd.readAttributes(slapd.userDn(uid), [LOCKED]))[LOCKED];
  const disableAll = async (uids: string[]): Promise<{ batchId: string; taskIds: string[] }> => {
    const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', { body: { accounts: uids } });
    expect(res.status).toBe(207);
    const taskIds = res.body.items.map((i: { status: number; taskId: string }) => {
      expect(i.status).toBe(202);
      return i.taskId;
    });
    return { batchId: res.body.batchId, taskIds };
  };

  beforeAll(async () => {
    slapd = await startSlapd();
    engine = await startEngine({ label: 'chunks', workers: 0, providers: [openLdapProvider(slapd)] });
    const { redisUrl, queuePrefix } = engine.config;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    queue = new Queue(targetQueueName('ldap'), { connection: { url: redisUrl }, prefix: queuePrefix });
    db = new Client({ connectionString: engine.config.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await engine?.stop();
    await slapd?.stop();
  });

  it('queues a chunk Redis lost again target by target, leaves the live chunks alone, and disables every account', async () => {
    const uids = await addUsers('chunked', 120);
    // Paused: the worker must not take the chunks before the reconciler has looked at them.
    await queue.pause();
    const { batchId, taskIds } = await disableAll(uids);
    const chunkIds = [0, 50, 100].map((i) => chunkJobId(taskIds[i] as string, 'ldap'));
    expect((await queue.getJobs(['waiting'])).map((j) => j.id).sort()).toEqual([...chunkIds].sort());

    const worker = await engine.startWorker();
    const reconciler = worker.get(Reconciler);
    // Grace 0: every target is unfinished and old enough; each is in a live chunk.
    expect(await reconciler.tick(0)).toBe(0);

    // The last chunk's list forgets it (a flush racing with the add), as in reconciler-orphans.int-spec.ts.
    expect(await redis.lrem(queue.keys.wait, 0, chunkIds[2] as string)).toBe(1);
    expect(await reconciler.tick(0)).toBe(20);
    const singles = (await queue.getJobs(['waiting'])).filter((j) => j.name === 'target').map((j) => j.id);
    expect(singles.sort()).toEqual(
      taskIds
        .slice(100)
        .map((t) => targetJobId(t, 'ldap'))
        .sort(),
    );
    expect(await reconciler.tick(0)).toBe(0);

    await queue.resume();
    const batch = await engine.waitForBatch(batchId);
    expect(batch.counts).toEqual({ inProgress: 0, successful: 120, partiallySuccessful: 0, unsuccessful: 0 });
    for (const uid of uids) expect([uid, await lockOf(uid)]).toEqual([uid, [PERMANENT_LOCK]]);
    // A pass over the finished bulk queues nothing.
    expect(await reconciler.tick(0)).toBe(0);
  });

  it('runs a target whose object another target holds again as a job of its own, then disables its account', async () => {
    if (engine.workers.length === 0) await engine.startWorker();
    const uids = await addUsers('leased', 3);
    const busy = uids[1] as string;
    const [{ entryUUID }] = [await slapd.readAttributes(slapd.userDn(busy), ['entryUUID'])];
    // Another target's lease on the object, as a task acting on it at that moment holds: 1.5 s left.
    await db.query(
      `INSERT INTO object_locks (provider, object_ref, target_id, generation, expires_at)
       VALUES ('ldap', $1, gen_random_uuid(), 1, now() + interval '1500 milliseconds')`,
      [entryUUID?.[0]],
    );
    const { batchId, taskIds } = await disableAll(uids);
    const batch = await engine.waitForBatch(batchId);
    expect(batch.counts).toEqual({ inProgress: 0, successful: 3, partiallySuccessful: 0, unsuccessful: 0 });
    for (const uid of uids) expect([uid, await lockOf(uid)]).toEqual([uid, [PERMANENT_LOCK]]);
    // The busy one was handed off from its chunk; the others ended in it.
    const busyTask = taskIds[1] as string;
    expect(await queue.getJob(targetJobId(busyTask, 'ldap'))).toBeDefined();
    for (const t of [taskIds[0], taskIds[2]] as string[])
      expect(await queue.getJob(targetJobId(t, 'ldap'))).toBeUndefined();
    const { rows } = await db.query(
      `SELECT t.status, t.finished_at > l.created_at + interval '1 second' AS after_lease
         FROM task_targets t, (SELECT created_at FROM tasks WHERE id = $1) l WHERE t.task_id = $1`,
      [busyTask],
    );
    expect(rows).toEqual([{ status: 'succeeded', after_lease: true }]);
  });
});
