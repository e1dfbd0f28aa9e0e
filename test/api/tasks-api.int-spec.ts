import { ApiKeyService } from '@app/auth';
import { requestFingerprint } from '@app/http';
import { DataSource } from 'typeorm';
import { IdempotencyStore } from '@app/persistence';
import { startEngine, TestEngine } from '../harness/engine';

// The API alone (no worker): authentication, validation, idempotency and listing as a SOAR engineer sees them.
describe('native API (CONTRACT §3, §5)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startEngine({
      label: 'api',
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
        {
          id: 'ldap-two',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=a',
          bindPassword: 'x',
          baseDN: 'dc=x',
        },
      ],
    });
  });
  afterAll(() => engine?.stop());

  const taskCount = async () => (await engine.request('GET', '/api/v1/tasks?limit=200')).body.items.length;

  describe('health and documentation', () => {
    it('answers /health/live and /health/ready with PostgreSQL and Redis checked', async () => {
      expect((await engine.request('GET', '/health/live', { key: null })).status).toBe(200);
      const ready = await engine.request('GET', '/health/ready', { key: null });
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok' });
    });

    it('serves the OpenAPI document with every native endpoint', async () => {
      const res = await engine.request('GET', '/api/openapi.json', { key: null });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths)).toEqual(
        expect.arrayContaining([
          '/api/v1/tasks/disable-account',
          '/api/v1/tasks/enable-account',
          '/api/v1/tasks/{id}/enable',
          '/api/v1/tasks/{id}',
          '/api/v1/tasks',
        ]),
      );
      expect((await engine.request('GET', '/api/docs', { key: null })).status).toBe(200);
    });
  });

  describe('authentication and scopes', () => {
    it('refuses a missing or unknown key with 401 in the error envelope', async () => {
      const none = await engine.request('GET', '/api/v1/tasks', { key: null });
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      expect((await engine.request('GET', '/api/v1/tasks', { key: 'are_not-a-real-key' })).status).toBe(401);
    });

    it('refuses a valid key without the scope with 403, and lets it do what it may', async () => {
      const reader = await engine.createKey('reader', ['tasks:read']);
      const post = await engine.request('POST', '/api/v1/tasks/disable-account', {
        key: reader,
        body: { account: 'jdoe' },
      });
      expect(post.status).toBe(403);
      expect(post.body.error.code).toBe('forbidden');
      expect((await engine.request('GET', '/api/v1/tasks', { key: reader })).status).toBe(200);
    });

    it('refuses a revoked key', async () => {
      const key = await engine.createKey('short-lived', ['tasks:read']);
      expect((await engine.request('GET', '/api/v1/tasks', { key })).status).toBe(200);
      await engine.api.get(ApiKeyService).revoke('short-lived');
      expect((await engine.request('GET', '/api/v1/tasks', { key })).status).toBe(401);
    });
  });

  describe('creating a Disable task', () => {
    it('answers 202 with the task, its Location, its creator and one pending target per provider', async () => {
      const writer = await engine.createKey('soar-playbook', ['tasks:write', 'tasks:read']);
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        key: writer,
        body: { account: 'jdoe@corp.example', description: 'Impossible travel' },
      });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`/api/v1/tasks/${res.body.id}`);
      expect(res.body).toMatchObject({
        action: 'disableAccount',
        status: 'inProgress',
        account: 'jdoe@corp.example',
        description: 'Impossible travel',
        disableTaskId: null,
        createdBy: 'soar-playbook',
        completedAt: null,
      });
      expect(res.body.targets).toEqual([
        expect.objectContaining({
          provider: 'ldap',
          kind: 'openLdap',
          status: 'pending',
          attempts: 0,
          error: null,
        }),
        expect.objectContaining({ provider: 'ldap-two', kind: 'openLdap', status: 'pending' }),
      ]);
      const fetched = await engine.request('GET', res.headers.get('location') as string);
      expect(fetched.body.id).toBe(res.body.id);
    });

    it('acts only in the providers named', async () => {
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'CORP\\asmith', providers: ['ldap-two'] },
      });
      expect(res.status).toBe(202);
      expect(res.body.targets.map((t: { provider: string }) => t.provider)).toEqual(['ldap-two']);
    });

    it.each([
      ['no account', {}, 'invalidAccount'],
      ['an empty account', { account: '  ' }, 'invalidAccount'],
      ['a non-string account', { account: 42 }, 'invalidAccount'],
      ['an unknown field', { account: 'jdoe', accountName: 'jdoe' }, 'invalidBody'],
      ['an unknown provider', { account: 'jdoe', providers: ['nope'] }, 'unknownProvider'],
      ['an empty provider list', { account: 'jdoe', providers: [] }, 'invalidProviders'],
      [
        'a callbackUrl that is not http(s)',
        { account: 'jdoe', callbackUrl: 'file:///etc/passwd' },
        'invalidCallbackUrl',
      ],
      ['an over-long description', { account: 'jdoe', description: 'x'.repeat(2001) }, 'invalidDescription'],
      ['an array body', [{ account: 'jdoe' }], 'invalidBody'],
    ])('rejects %s with 400 and creates nothing', async (_what, body, code) => {
      const before = await taskCount();
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', { body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
      expect(await taskCount()).toBe(before);
    });

    it('rejects malformed JSON with 400, not 500', async () => {
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', { body: '{"account": ' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('badRequest');
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first response for the same key and body, creating one task', async () => {
      const before = await taskCount();
      const send = () =>
        engine.request('POST', '/api/v1/tasks/disable-account', {
          body: { account: 'idem@corp.example' },
          headers: { 'idempotency-key': '"8e03978e-40d5-43e8-bc93-6894a57f9324"' },
        });
      const first = await send();
      const second = await send();
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.body.id).toBe(first.body.id);
      expect(second.headers.get('location')).toBe(first.headers.get('location'));
      expect(await taskCount()).toBe(before + 1);
    });

    it('answers 422 for the same key with another body', async () => {
      const headers = { 'idempotency-key': 'key-reused-1' };
      expect(
        (await engine.request('POST', '/api/v1/tasks/disable-account', { body: { account: 'a1' }, headers }))
          .status,
      ).toBe(202);
      const other = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'a2' },
        headers,
      });
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('idempotencyKeyReused');
    });

    it('stores nothing for a rejected request, so the corrected request may reuse the key', async () => {
      const headers = { 'idempotency-key': 'key-after-400' };
      expect(
        (await engine.request('POST', '/api/v1/tasks/disable-account', { body: {}, headers })).status,
      ).toBe(400);
      expect(
        (await engine.request('POST', '/api/v1/tasks/disable-account', { body: { account: 'b1' }, headers }))
          .status,
      ).toBe(202);
    });

    it('answers 409 while the first request with the key is still running', async () => {
      const body = { account: 'slow@corp.example' };
      // The state a concurrent first request leaves while it runs: the key claimed, no response stored yet.
      await engine.api
        .get(IdempotencyStore)
        .claim(
          'test-admin',
          'key-in-flight',
          requestFingerprint('POST', '/api/v1/tasks/disable-account', body),
        );
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body,
        headers: { 'idempotency-key': 'key-in-flight' },
      });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('idempotencyKeyInProgress');
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it('frees the key of a request whose process died mid-request once its claim lease has passed', async () => {
      const body = { account: 'crashed@corp.example' };
      await engine.api
        .get(IdempotencyStore)
        .claim(
          'test-admin',
          'key-of-crashed',
          requestFingerprint('POST', '/api/v1/tasks/disable-account', body),
        );
      // The process that held the claim died: nothing will complete it. Age it past the lease.
      await engine.api
        .get(DataSource)
        .query(
          `UPDATE idempotency_keys SET created_at = now() - ($1 || ' seconds')::interval WHERE key = 'key-of-crashed'`,
          [String(IdempotencyStore.CLAIM_LEASE_SECONDS + 1)],
        );
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body,
        headers: { 'idempotency-key': 'key-of-crashed' },
      });
      expect(res.status).toBe(202);
    });

    it('treats a body with its keys in another order as the same request', async () => {
      const headers = { 'idempotency-key': 'key-order' };
      const a = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: '{"account":"order1","description":"IR-9"}',
        headers,
      });
      const b = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: '{"description":"IR-9","account":"order1"}',
        headers,
      });
      expect(a.status).toBe(202);
      expect(b.status).toBe(202);
      expect(b.body.id).toBe(a.body.id);
    });

    it('sweeps records past their 24 hours', async () => {
      const db = engine.api.get(DataSource);
      await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'sweep1' },
        headers: { 'idempotency-key': 'key-to-sweep' },
      });
      await db.query(
        `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'key-to-sweep'`,
      );
      expect(await engine.api.get(IdempotencyStore).sweepExpired()).toBeGreaterThanOrEqual(1);
      expect(await db.query(`SELECT 1 FROM idempotency_keys WHERE key = 'key-to-sweep'`)).toEqual([]);
    });

    it('scopes keys to the API key that sent them', async () => {
      const other = await engine.createKey('other-playbook', ['tasks:write']);
      const headers = { 'idempotency-key': 'shared-key' };
      const a = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'c1' },
        headers,
      });
      const b = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'c1' },
        headers,
        key: other,
      });
      expect(b.body.id).not.toBe(a.body.id);
    });
  });

  describe('hostile input gets a 4xx and changes nothing', () => {
    it.each([
      ['a repeated query parameter', '/api/v1/tasks?q=a&q=b'],
      ['a limit that is no integer', '/api/v1/tasks?limit=1e400'],
      ['a NUL in q', '/api/v1/tasks?q=a%00b'],
      ['a date PostgreSQL cannot hold', '/api/v1/tasks?createdAfter=-271821-04-20T00:00:00Z'],
      ['a date past year 9999', '/api/v1/tasks?createdBefore=%2B275760-09-13T00:00:00Z'],
      [
        'a cursor with such a date',
        `/api/v1/tasks?cursor=${Buffer.from('-200000-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000').toString('base64url')}`,
      ],
    ])('%s: 400 invalidQuery (or invalidCursor)', async (_, path) => {
      const res = await engine.request('GET', path);
      expect(res.status).toBe(400);
      expect(['invalidQuery', 'invalidCursor']).toContain(res.body.error.code);
    });

    it('refuses a NUL in a description with 400, creating nothing', async () => {
      const before = await taskCount();
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'nul1', description: 'a\u0000b' },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalidDescription');
      expect(await taskCount()).toBe(before);
    });
  });

  describe('reading tasks', () => {
    it('answers 404 in the envelope for an unknown or malformed id', async () => {
      const unknown = await engine.request('GET', '/api/v1/tasks/00000000-0000-4000-8000-000000000000');
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('taskNotFound');
      expect((await engine.request('GET', '/api/v1/tasks/not-a-uuid')).status).toBe(404);
    });

    it('pages newest first with a cursor, without gaps or repeats', async () => {
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
          body: { account: `pager${i}@corp.example` },
        });
        created.push(res.body.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/api/v1/tasks?q=pager&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await engine.request('GET', query);
        expect(page.status).toBe(200);
        seen.push(...page.body.items.map((t: { id: string }) => t.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...created].reverse());
    });

    it('filters by account (any recorded identifier, case-insensitive), action and status', async () => {
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'Filter.Me@Corp.Example' },
      });
      const byAccount = await engine.request('GET', '/api/v1/tasks?account=filter.me@corp.example');
      expect(byAccount.body.items.map((t: { id: string }) => t.id)).toEqual([res.body.id]);
      const enables = await engine.request('GET', '/api/v1/tasks?action=enableAccount');
      expect(enables.body.items).toEqual([]);
      const inProgress = await engine.request('GET', '/api/v1/tasks?status=inProgress&limit=200');
      expect(inProgress.body.items.length).toBeGreaterThan(0);
    });

    it.each([
      ['limit=0'],
      ['limit=201'],
      ['status=done'],
      ['action=delete'],
      ['createdAfter=yesterday'],
      ['cursor=%%%'],
    ])('rejects the query %s with 400', async (query) => {
      const res = await engine.request('GET', `/api/v1/tasks?${query}`);
      expect(res.status).toBe(400);
    });
  });

  describe('Enable without a prior Disable', () => {
    it('answers 409 noPriorDisableTask', async () => {
      const res = await engine.request('POST', '/api/v1/tasks/enable-account', {
        body: { account: 'never-disabled@corp.example' },
      });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('noPriorDisableTask');
    });

    it('answers 404 for the options-menu flow on an unknown task, and 400 for unknown fields', async () => {
      const unknown = await engine.request(
        'POST',
        '/api/v1/tasks/00000000-0000-4000-8000-000000000000/enable',
        { body: {} },
      );
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('taskNotFound');
      const disable = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'options-menu' },
      });
      const extra = await engine.request('POST', `/api/v1/tasks/${disable.body.id}/enable`, {
        body: { account: 'x' },
      });
      expect(extra.status).toBe(400);
      expect(extra.body.error.code).toBe('invalidBody');
    });

    it('answers 409 taskInProgress naming the Disable task while it is still in progress (CONTRACT §4.1)', async () => {
      const disable = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: 'still-running' },
      });
      const res = await engine.request('POST', '/api/v1/tasks/enable-account', {
        body: { account: 'still-running' },
      });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'taskInProgress', taskId: disable.body.id });
      const fromTask = await engine.request('POST', `/api/v1/tasks/${disable.body.id}/enable`, { body: {} });
      expect(fromTask.status).toBe(409);
      expect(fromTask.body.error).toMatchObject({ code: 'taskInProgress', taskId: disable.body.id });
    });
  });
});
