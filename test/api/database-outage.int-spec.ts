import { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createApiApplication } from '../../apps/api/src/api.app';
import { ApiKeyService } from '@app/auth';
import { AppConfig, DEFAULT_REDIS_URL, loadAppConfig } from '@app/config';
import { createTestDatabase, TestDatabase } from '../harness/database';
import { startTcpProxy, TcpProxy } from '../harness/tcp-proxy';

/**
 * CONTRACT §10: while PostgreSQL is unreachable the API answers 503 databaseUnavailable with Retry-After (never
 * 500) and /health/ready 503; once it is back, requests succeed again without a restart. The outage is real
 * for the API: its only way to PostgreSQL is a TCP proxy that the test cuts.
 */
describe('API during a PostgreSQL outage', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let api: INestApplication;
  let base: string;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase('outage');
    const url = new URL(db.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const config: AppConfig = {
      // Every setting's default, as a process started without environment gets it.
      ...loadAppConfig({}),
      databaseUrl: url.toString(),
      redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
      queuePrefix: `test-outage-${process.pid}`,
      port: 0,
      providersFile: null,
      providers: [
        {
          id: 'ldap',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=a',
          bindPassword: 'x',
          baseDN: 'dc=x',
        },
      ],
      migrateOnStart: true,
      reconcileIntervalMs: 0,
      workerConcurrency: 1,
    };
    api = await createApiApplication(config);
    await api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
    key = (await api.get(ApiKeyService).create('outage-admin', ['admin'])).key;
  });
  afterAll(async () => {
    await proxy?.restore().catch(() => undefined);
    await api?.close();
    await proxy?.stop();
    await db?.drop();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('answers 503 databaseUnavailable with Retry-After while cut off, and works again once back', async () => {
    expect((await call('POST', '/api/v1/tasks/disable-account', { account: 'before' })).status).toBe(202);

    await proxy.cut();
    for (const [method, path, body] of [
      ['POST', '/api/v1/tasks/disable-account', { account: 'during' }],
      ['POST', '/api/v1/tasks/enable-account', { account: 'before' }],
      ['GET', '/api/v1/tasks?limit=5', undefined],
    ] as const) {
      const res = await call(method, path, body);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('databaseUnavailable');
    }
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { postgres: string } }).checks.postgres).toMatch(/^failed/);

    await proxy.restore();
    const after = await call('POST', '/api/v1/tasks/disable-account', { account: 'after' });
    expect(after.status).toBe(202);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    // The request refused during the outage wrote nothing.
    const listed = (await (await call('GET', '/api/v1/tasks?q=during')).json()) as { items: unknown[] };
    expect(listed.items).toEqual([]);
  });
});
