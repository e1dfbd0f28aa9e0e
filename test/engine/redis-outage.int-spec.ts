import { INestApplication, INestApplicationContext } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createApiApplication } from '../../apps/api/src/api.app';
import { createWorkerApplication } from '../../apps/worker/src/worker.app';
import { ApiKeyService } from '@app/auth';
import { AppConfig, DEFAULT_REDIS_URL, loadAppConfig } from '@app/config';
import { Reconciler } from '@app/engine';
import { createTestDatabase, TestDatabase } from '../harness/database';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startTcpProxy, TcpProxy } from '../harness/tcp-proxy';

/**
 * Redis unreachable when a task is created (issue #9): the API still answers 202 promptly (the task is in
 * PostgreSQL), and the task is delayed, never lost: once Redis is back a worker's reconciler queues it and
 * the directory changes. The API reaches Redis only through a TCP proxy that the test cuts.
 */
describe('creating tasks while Redis is unreachable', () => {
  let slapd: SlapdHandle;
  let db: TestDatabase;
  let proxy: TcpProxy;
  let api: INestApplication;
  let worker: INestApplicationContext | null = null;
  let base: string;
  let key: string;
  let config: AppConfig;

  beforeAll(async () => {
    slapd = await startSlapd();
    db = await createTestDatabase('redisout');
    const redis = new URL(process.env.REDIS_URL || DEFAULT_REDIS_URL);
    proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    config = {
      // Every setting's default, as a process started without environment gets it.
      ...loadAppConfig({}),
      databaseUrl: db.url,
      redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
      queuePrefix: `test-redisout-${process.pid}`,
      port: 0,
      providersFile: null,
      providers: [openLdapProvider(slapd)],
      migrateOnStart: true,
      reconcileIntervalMs: 0,
      workerConcurrency: 2,
    };
    api = await createApiApplication({ ...config, redisUrl: `redis://127.0.0.1:${proxy.port}` });
    await api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
    key = (await api.get(ApiKeyService).create('redisout-admin', ['admin'])).key;
  });
  afterAll(async () => {
    await worker?.close();
    await proxy?.restore().catch(() => undefined);
    await api?.close();
    await proxy?.stop();
    await db?.drop();
    await slapd?.stop();
  });

  it('answers 202 at once and the task ends once Redis is back', async () => {
    const dn = await slapd.addUser({ uid: 'redisout1', password: 'Passw0rd-1' });
    await proxy.cut();
    const started = Date.now();
    const res = await fetch(`${base}/api/v1/tasks/disable-account`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'redisout1' }),
    });
    expect(res.status).toBe(202);
    // Bounded by the enqueue time-out (2 s), not by Redis coming back.
    expect(Date.now() - started).toBeLessThan(10_000);
    const { id } = (await res.json()) as { id: string };

    await proxy.restore();
    worker = await createWorkerApplication(config);
    await worker.get(Reconciler).tick(0);
    const deadline = Date.now() + 30_000;
    let task: { status: string } = { status: 'inProgress' };
    while (task.status === 'inProgress' && Date.now() < deadline) {
      task = (await (
        await fetch(`${base}/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as { status: string };
      if (task.status === 'inProgress') await new Promise((r) => setTimeout(r, 50)); // polling interval
    }
    expect(task.status).toBe('successful');
    expect((await slapd.readAttributes(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toEqual([
      '000001010000Z',
    ]);
  });
});
