import type { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApiApplication } from '../../apps/api/src/api.app';
import { ApiKeyService } from '@app/auth';
import { startEngine, TestEngine } from '../harness/engine';

/**
 * What one key can do (issue #9): a request rate limit shared by every API process (Redis), and a blast-radius
 * limit on Disable tasks set at key creation, so a runaway playbook cannot disable the whole company. Also the
 * standard security headers, with the API docs page still served.
 */
describe('limits on what one key can do', () => {
  let engine: TestEngine;
  let second: INestApplication;
  let secondBase: string;

  beforeAll(async () => {
    engine = await startEngine({
      label: 'limits',
      workers: 0,
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
      apiRateLimit: { max: 10, windowSeconds: 3600 },
    });
    // A second API process on the same PostgreSQL and Redis.
    second = await createApiApplication({ ...engine.config, migrateOnStart: false });
    await second.listen(0, '127.0.0.1');
    secondBase = `http://127.0.0.1:${(second.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await second?.close();
    await engine?.stop();
  });

  it('refuses the request past the key limit with 429 and Retry-After, counting across API processes', async () => {
    const key = await engine.createKey('chatty-playbook', ['tasks:read']);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const base = i % 2 === 0 ? engine.baseUrl : secondBase;
      statuses.push(
        (await fetch(`${base}/api/v1/tasks?limit=1`, { headers: { authorization: `Bearer ${key}` } })).status,
      );
    }
    expect(statuses).toEqual(Array(10).fill(200));
    const refused = await fetch(`${secondBase}/api/v1/tasks?limit=1`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await refused.json()) as { error: { code: string; limit: string } };
    expect(body.error).toMatchObject({ code: 'rateLimited', limit: '10/1h' });
    // Another key is not held back by this one.
    const other = await engine.createKey('quiet-playbook', ['tasks:read']);
    expect((await engine.request('GET', '/api/v1/tasks?limit=1', { key: other })).status).toBe(200);
  });

  it('stops Disables past the key blast-radius limit with 429 disableLimitExceeded naming it, creating nothing', async () => {
    const keys = engine.api.get(ApiKeyService);
    const { key } = await keys.create('runaway-playbook', ['tasks:write', 'tasks:read'], {
      disableLimit: '3/1h',
    });
    const disable = (account: string) =>
      engine.request('POST', '/api/v1/tasks/disable-account', { body: { account }, key });
    for (const n of [1, 2, 3]) expect((await disable(`victim${n}`)).status).toBe(202);
    const fourth = await disable('victim4');
    expect(fourth.status).toBe(429);
    expect(fourth.body.error).toMatchObject({ code: 'disableLimitExceeded', limit: '3/1h' });
    expect(fourth.body.error.message).toContain('3/1h');
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(3500);
    const db = engine.api.get(DataSource);
    expect(await db.query(`SELECT 1 FROM tasks WHERE account = 'victim4'`)).toEqual([]);
  });

  it('holds the limit when requests race for the last places', async () => {
    const { key } = await engine.api
      .get(ApiKeyService)
      .create('racing-playbook', ['tasks:write'], { disableLimit: '5/1h' });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        engine.request('POST', '/api/v1/tasks/disable-account', { body: { account: `race${i}` }, key }),
      ),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
  });

  it('gives keys without admin a default limit, and admin keys none unless asked', async () => {
    const keys = engine.api.get(ApiKeyService);
    expect((await keys.create('default-soar', ['tasks:write'])).entity).toMatchObject({
      disableLimit: 500,
      disableWindowSeconds: 3600,
    });
    expect((await keys.create('default-admin', ['admin'])).entity).toMatchObject({ disableLimit: null });
    expect((await keys.create('limited-admin', ['admin'], { disableLimit: '1000/1d' })).entity).toMatchObject(
      {
        disableLimit: 1000,
        disableWindowSeconds: 86_400,
      },
    );
    await expect(keys.create('bad-limit', ['tasks:write'], { disableLimit: 'lots' })).rejects.toMatchObject({
      code: 'invalidLimit',
    });
  });

  it('sends standard security headers, and the API docs page and its assets still load', async () => {
    const res = await fetch(`${engine.baseUrl}/api/v1/tasks`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toContain('max-age');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-powered-by')).toBeNull();

    const page = await fetch(`${engine.baseUrl}/api/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\.?\/?[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(1);
    // script-src 'self' blocks inline scripts: every script of the page must be a file.
    expect([...html.matchAll(/<script([^>]*)>/g)].every((m) => /\bsrc=/.test(m[1]))).toBe(true);
    for (const asset of assets) {
      const url = new URL(asset, `${engine.baseUrl}/api/docs/`);
      expect(url.origin).toBe(engine.baseUrl); // nothing the policy would block
      expect((await fetch(url)).status).toBe(200);
    }
    expect((await fetch(`${engine.baseUrl}/api/openapi.json`)).status).toBe(200);
  });
});
