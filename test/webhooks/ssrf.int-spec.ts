import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { DestinationPolicy, generateSecret, Resolver, SafeHttpClient, SecretBox } from '@app/webhooks';
import { ensureTestCa } from '../emulators/entra-id';
import { startEngine, TestEngine } from '../harness/engine';
import { eventually, Receiver, startReceiver } from './receiver';

const ALLOWED = '127.0.0.2';

// CONTRACT §8: private, loopback, link-local and metadata targets are refused unless the operator allows
// them, checked on the address actually connected to. This engine does NOT allow private targets; only
// 127.0.0.2 is allowed, through WEBHOOK_ALLOWED_HOSTS.
describe('webhooks: SSRF guard', () => {
  let engine: TestEngine;
  let v4: Receiver;
  let v6: Receiver;
  let allowed: Receiver;

  beforeAll(async () => {
    engine = await startEngine({
      label: 'webhookssrf',
      workers: 1,
      // Nothing listens on port 1: tasks end quickly; their events are what matters here.
      providers: [
        {
          id: 'ldap',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=a',
          bindPassword: 'x',
          baseDN: 'dc=x',
          maxAttempts: 1,
        },
      ],
      webhooks: { allowPrivate: false, allowedHosts: [ALLOWED], callbackSecrets: [generateSecret()] },
    });
    v4 = await startReceiver('127.0.0.1');
    v6 = await startReceiver('::1');
    allowed = await startReceiver(ALLOWED);
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.all([v4, v6, allowed].map((r) => r?.close()));
  });

  // A test that fails half-way must not leave its subscription to receive the next tests' events.
  afterEach(async () => {
    for (const s of (await engine.request('GET', '/api/v1/webhooks')).body.items as Array<{ id: string }>) {
      await engine.request('DELETE', `/api/v1/webhooks/${s.id}`);
    }
  });
  const settled = (query: string) =>
    eventually(async () => {
      const res = await engine.request('GET', `/api/v1/webhooks/deliveries?${query}`);
      const items = res.body.items as Array<{ status: string; [k: string]: unknown }>;
      return items.length > 0 && items.every((d) => d.status !== 'pending') ? items : undefined;
    }, `settled deliveries for ${query}`);
  const task = async (callbackUrl?: string) => {
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: `u${randomUUID().slice(0, 8)}`, ...(callbackUrl ? { callbackUrl } : {}) },
    });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };

  it('refuses private literal URLs and localhost names at subscription (400), before any DNS', async () => {
    const refused = [
      `http://127.0.0.1:${v4.port}/`,
      `http://[::1]:${v6.port}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      `http://localhost:${v4.port}/`,
      `http://[::ffff:127.0.0.1]:${v4.port}/`,
      'http://2130706433/',
      'http://10.0.0.8/hooks',
      'http://100.64.0.1/hooks',
    ];
    for (const url of refused) {
      const res = await engine.request('POST', '/api/v1/webhooks', {
        body: { url, events: ['task.completed'] },
      });
      expect({ url, status: res.status, code: res.body.error?.code }).toEqual({
        url,
        status: 400,
        code: 'destinationNotAllowed',
      });
    }
    const ok = await engine.request('POST', '/api/v1/webhooks', {
      body: { url: allowed.url, events: ['task.completed'] },
    });
    expect(ok.status).toBe(201);
    expect((await engine.request('DELETE', `/api/v1/webhooks/${ok.body.id}`)).status).toBe(204);
  });

  it('refuses at connect time: loopback, [::1], metadata and names resolving to loopback end failed, destinationNotAllowed, nothing sent', async () => {
    const targets = [
      [`http://127.0.0.1:${v4.port}/`, /127\.0\.0\.1 is loopback/],
      [`http://[::1]:${v6.port}/`, /^::1 is loopback/],
      ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
      [`http://localhost:${v4.port}/`, /localhost resolves to a refused address: .* is loopback/],
      [`http://[::ffff:127.0.0.1]:${v4.port}/`, /127\.0\.0\.1 is loopback/],
    ] as const;
    for (const [url, message] of targets) {
      const taskId = await task(url);
      const items = await settled(`taskId=${taskId}`);
      expect(items.length).toBeGreaterThanOrEqual(1);
      for (const d of items) {
        expect({
          url,
          status: d.status,
          attemptCount: d.attemptCount,
          code: (d.lastError as { code: string }).code,
        }).toEqual({
          url,
          status: 'failed',
          attemptCount: 1,
          code: 'destinationNotAllowed',
        });
        expect((d.lastError as { message: string }).message).toMatch(message);
      }
    }
    expect(v4.requests).toHaveLength(0);
    expect(v6.requests).toHaveLength(0);
  });

  it('guards subscriptions at connect time too: a stored name that now resolves to loopback is refused', async () => {
    // As if the name had resolved to a public address when the subscription was made (DNS rebinding).
    const db = engine.api.get(DataSource);
    const id = randomUUID();
    const sealed = new SecretBox(engine.config.webhooks.encryptionKey).seal(generateSecret(), id);
    await db.query(
      `INSERT INTO webhook_subscriptions (id, url, events, secret, created_by) VALUES ($1, $2, '{task.created}', $3, 'test')`,
      [id, `http://localhost:${v4.port}/rebound`, sealed],
    );
    const taskId = await task();
    const [d] = await settled(`subscriptionId=${id}&taskId=${taskId}`);
    expect(d).toMatchObject({ status: 'failed', lastError: { code: 'destinationNotAllowed' } });
    expect(v4.requests).toHaveLength(0);
    await engine.request('DELETE', `/api/v1/webhooks/${id}`);
  });

  it('never follows a redirect, even from an allowed receiver to loopback', async () => {
    const target = await startReceiver('127.0.0.1');
    const redirector = await startReceiver(ALLOWED, () => ({
      status: 302,
      headers: { Location: `http://127.0.0.1:${target.port}/stolen` },
    }));
    try {
      const sub = await engine.request('POST', '/api/v1/webhooks', {
        body: { url: redirector.url, events: ['task.created'] },
      });
      expect(sub.status).toBe(201);
      const taskId = await task();
      const [d] = await settled(`subscriptionId=${sub.body.id}&taskId=${taskId}`);
      // Test schedule: four retries after the first attempt, each a 302 that is not followed.
      expect(d).toMatchObject({
        status: 'failed',
        attemptCount: 5,
        lastStatusCode: 302,
        lastError: { code: 'redirectNotFollowed' },
      });
      expect((d.attempts as Array<{ statusCode: number }>).every((a) => a.statusCode === 302)).toBe(true);
      expect(redirector.requests).toHaveLength(5);
      expect(target.requests).toHaveLength(0);
      await engine.request('DELETE', `/api/v1/webhooks/${sub.body.id}`);
    } finally {
      await target.close();
      await redirector.close();
    }
  });
});

// The client on its own, with a resolver the test controls: what DNS answers is exactly what is checked and
// what is connected to.
describe('SafeHttpClient', () => {
  let v4: Receiver;
  let alt: Receiver;
  beforeAll(async () => {
    v4 = await startReceiver('127.0.0.1');
    alt = await startReceiver(ALLOWED);
  });
  afterAll(async () => {
    await v4?.close();
    await alt?.close();
  });

  const resolveTo =
    (...addresses: string[]): Resolver =>
    (_host, cb) =>
      cb(
        null,
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
  const client = (resolver: Resolver, allowedHosts: string[] = []) =>
    new SafeHttpClient(new DestinationPolicy({ allowPrivate: false, allowedHosts }), resolver);
  const post = (c: SafeHttpClient, url: string) => c.post({ url, headers: {}, body: '{}', timeoutMs: 2_000 });

  it('refuses a name that resolves to loopback, or to any private address among public ones', async () => {
    expect(await post(client(resolveTo('127.0.0.1')), `http://rebind.test:${v4.port}/`)).toMatchObject({
      kind: 'error',
      code: 'destinationNotAllowed',
      message: 'rebind.test resolves to a refused address: 127.0.0.1 is loopback',
    });
    expect(
      await post(client(resolveTo('93.184.215.14', '127.0.0.1')), `http://mixed.test:${v4.port}/`),
    ).toMatchObject({
      code: 'destinationNotAllowed',
    });
    expect(await post(client(resolveTo('::ffff:127.0.0.1')), `http://mapped.test:${v4.port}/`)).toMatchObject(
      {
        code: 'destinationNotAllowed',
      },
    );
    expect(
      await post(client(resolveTo('93.184.215.14')), `http://[::ffff:7f00:1]:${v4.port}/`),
    ).toMatchObject({
      code: 'destinationNotAllowed',
    });
    expect(v4.requests).toHaveLength(0);
  });

  it('connects to the address it checked: allowed by address or by name', async () => {
    expect(await post(client(resolveTo(ALLOWED), [ALLOWED]), `http://any.test:${alt.port}/x`)).toMatchObject({
      kind: 'response',
      statusCode: 204,
    });
    expect(alt.requests).toHaveLength(1);
    expect(alt.requests[0].headers.host).toBe(`any.test:${alt.port}`);
    expect(
      await post(client(resolveTo('127.0.0.1'), ['named.test']), `http://named.test:${v4.port}/y`),
    ).toMatchObject({
      kind: 'response',
      statusCode: 204,
    });
    expect(v4.requests).toHaveLength(1);
  });

  it('sends only to http and https, and reports DNS failures and timeouts as retryable errors', async () => {
    const c = client(resolveTo('93.184.215.14'));
    expect(await post(c, 'file:///etc/passwd')).toMatchObject({ code: 'invalidUrl' });
    expect(await post(c, 'gopher://example.com/')).toMatchObject({ code: 'invalidUrl' });
    const nx = new SafeHttpClient(new DestinationPolicy({ allowPrivate: false, allowedHosts: [] }), (h, cb) =>
      cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: 'ENOTFOUND' }), []),
    );
    expect(await post(nx, 'https://nowhere.test/')).toMatchObject({
      code: 'networkError',
      message: expect.stringMatching(/ENOTFOUND/),
    });
    // A receiver that never answers: the attempt's deadline ends it.
    const silent = await startReceiver(ALLOWED, () => ({ status: 0 }));
    try {
      const res = await client(resolveTo(ALLOWED), [ALLOWED]).post({
        url: `http://slow.test:${silent.port}/`,
        headers: {},
        body: '{}',
        timeoutMs: 300,
      });
      expect(res).toMatchObject({ kind: 'error', code: 'timeout' });
      expect(res.durationMs).toBeGreaterThanOrEqual(290);
    } finally {
      await silent.close();
    }
  });

  it('https: the same guard, with TLS verified against the trusted CAs', async () => {
    const ca = ensureTestCa();
    let connections = 0;
    const hits: string[] = [];
    const server = createHttpsServer(
      { cert: readFileSync(ca.serverCertFile), key: readFileSync(ca.serverKeyFile) },
      (req, res) => {
        hits.push(String(req.headers.host));
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      },
    );
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await post(client(resolveTo('93.184.215.14')), `https://127.0.0.1:${port}/`)).toMatchObject({
        code: 'destinationNotAllowed',
      });
      expect(await post(client(resolveTo('127.0.0.1')), `https://localhost:${port}/`)).toMatchObject({
        code: 'destinationNotAllowed',
      });
      expect(connections).toBe(0);
      expect(
        await post(client(resolveTo('127.0.0.1'), ['127.0.0.1']), `https://127.0.0.1:${port}/`),
      ).toMatchObject({
        kind: 'response',
        statusCode: 204,
      });
      expect(
        await post(client(resolveTo('127.0.0.1'), ['localhost']), `https://localhost:${port}/`),
      ).toMatchObject({
        kind: 'response',
        statusCode: 204,
      });
      expect(hits).toEqual([`127.0.0.1:${port}`, `localhost:${port}`]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
