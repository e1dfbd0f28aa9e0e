import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import { generateSecret } from '@app/webhooks';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';
import { eventOf, eventually, Receiver, ReceivedRequest, startReceiver, webhookHeaders } from './receiver';

const ALL_EVENTS = ['task.created', 'task.targetUpdated', 'task.completed'];
const ROOT = join(__dirname, '..', '..');

/** An example of docs/integrations.md, found by the `<!-- webhooks-example: name -->` line above its block. */
function docExample(name: string): string {
  const docs = readFileSync(join(ROOT, 'docs', 'integrations.md'), 'utf8');
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`<!-- webhooks-example: ${escaped} -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(docs);
  if (!m) throw new Error(`docs/integrations.md has no webhooks example named ${name}`);
  return m[1];
}

const EXAMPLES_DIR = join(ROOT, '.tmp', `webhooks-doc-examples-${process.pid}`);

/** Written under the repository (in .tmp, ignored by git) so that require() finds its node_modules. */
function writeExample(name: string): string {
  mkdirSync(EXAMPLES_DIR, { recursive: true });
  const file = join(EXAMPLES_DIR, name);
  writeFileSync(file, docExample(name));
  return file;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const CALLBACK_SECRET = generateSecret();

// CONTRACT §8 end to end: real Disable tasks against slapd, delivered by the real worker to a receiver on
// 127.0.0.1 (this engine allows private targets), signatures checked with the standardwebhooks package, an
// implementation independent of the engine's.
describe('webhooks: signed, retried, recorded deliveries (CONTRACT §8)', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let db: DataSource;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    slapd = await startSlapd();
    engine = await startEngine({
      label: 'webhooks',
      workers: 1,
      providers: [openLdapProvider(slapd)],
      webhooks: { allowPrivate: true, callbackSecrets: [CALLBACK_SECRET] },
    });
    db = engine.api.get(DataSource);
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.all(receivers.map((r) => r.close()));
    await slapd?.stop();
    rmSync(EXAMPLES_DIR, { recursive: true, force: true });
  });

  // A test that fails half-way must not leave its subscription to receive the next tests' events.
  afterEach(async () => {
    for (const s of (await engine.request('GET', '/api/v1/webhooks')).body.items as Array<{ id: string }>) {
      await engine.request('DELETE', `/api/v1/webhooks/${s.id}`);
    }
  });

  const receiver = async (respond?: Parameters<typeof startReceiver>[1]) => {
    const r = await startReceiver('127.0.0.1', respond);
    receivers.push(r);
    return r;
  };
  const subscribe = async (url: string, events = ALL_EVENTS, secret?: string) => {
    const res = await engine.request('POST', '/api/v1/webhooks', {
      body: { url, events, ...(secret ? { secret } : {}) },
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; secret: string; url: string; status: string };
  };
  let users = 0;
  const disableTask = async (extra: Record<string, unknown> = {}) => {
    const uid = `wh${++users}`;
    await slapd.addUser({ uid, password: `${uid}-Secret1` });
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: uid, providers: ['ldap'], ...extra },
    });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const deliveries = async (query: string) => {
    const res = await engine.request('GET', `/api/v1/webhooks/deliveries?${query}`);
    expect(res.status).toBe(200);
    return res.body as { items: DeliveryJson[]; nextCursor: string | null };
  };
  const settledDeliveries = (query: string, atLeast: number) =>
    eventually(async () => {
      const { items } = await deliveries(query);
      return items.length >= atLeast && items.every((d) => d.status !== 'pending') ? items : undefined;
    }, `${atLeast} settled deliveries for ${query}`);
  /** How many events the task has; read once it has ended, so it is final. */
  const eventCount = async (taskId: string) =>
    Number((await db.query(`SELECT count(*)::int AS n FROM task_events WHERE task_id = $1`, [taskId]))[0].n);
  const completedOf = (taskId: string) => (reqs: ReceivedRequest[]) =>
    reqs.some((r) => eventOf(r).type === 'task.completed' && eventOf(r).data.id === taskId);

  it('delivers task.created, task.targetUpdated and task.completed of a real Disable, retrying a 500 with the same webhook-id', async () => {
    const hooks = await receiver((_req, n) => ({ status: n === 0 ? 500 : 204 }));
    const sub = await subscribe(`${hooks.url}/hooks?token=receiver-token`);
    expect(sub.secret).toMatch(/^whsec_/);
    expect(sub.url).toBe(`${hooks.url}/hooks?token=***`);

    const taskId = await disableTask();
    const task = await engine.waitForTask(taskId);
    expect(task.status).toBe('successful');
    const messages = await eventCount(taskId);
    expect(messages).toBeGreaterThanOrEqual(4); // created, running, succeeded, completed
    await hooks.waitFor((r) => r.length === messages + 1, 20_000, 'every event, and the retry of the first');
    const shown = (await engine.request('GET', `/api/v1/tasks/${taskId}`)).body;

    const wh = new Webhook(sub.secret);
    for (const r of hooks.requests) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/hooks?token=receiver-token');
      expect(r.headers['content-type']).toBe('application/json');
      expect(Number(r.headers['webhook-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(wh.verify(r.body, webhookHeaders(r))).toEqual(JSON.parse(r.body));
    }
    // The 500 was retried: the same webhook-id, the same bytes.
    const first = hooks.requests[0];
    const again = hooks.requests.filter((r) => r.headers['webhook-id'] === first.headers['webhook-id']);
    expect(again.length).toBe(2);
    expect(again[1].body).toBe(first.body);

    const events = hooks.requests.filter((r, i) => i !== 0).map(eventOf);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(ALL_EVENTS));
    expect(events.filter((e) => e.type === 'task.targetUpdated').length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e.data.id).toBe(taskId);
      expect(new Date(e.timestamp).toISOString()).toBe(e.timestamp);
    }
    const completed = events.find((e) => e.type === 'task.completed');
    expect(completed?.data).toEqual(shown);
    expect(new Set(hooks.requests.map((r) => r.headers['webhook-id'])).size).toBe(hooks.requests.length - 1);

    // Every attempt is in the listing, newest delivery first.
    const items = await settledDeliveries(`subscriptionId=${sub.id}`, events.length);
    expect(items).toHaveLength(events.length);
    expect(items.every((d) => d.status === 'succeeded' && d.taskId === taskId)).toBe(true);
    const created = items.map((d) => d.createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    const retried = items.find((d) => d.webhookId === first.headers['webhook-id']) as DeliveryJson;
    expect(retried).toMatchObject({
      status: 'succeeded',
      attemptCount: 2,
      lastStatusCode: 204,
      lastError: null,
      url: `${hooks.url}/hooks?token=***`,
      destination: 'subscription',
    });
    expect(retried.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        trigger: 'initial',
        statusCode: 500,
        error: { code: 'httpStatus', message: 'HTTP 500' },
      }),
      expect.objectContaining({
        attempt: 2,
        trigger: 'retry',
        statusCode: 204,
        error: null,
        nextAttemptAt: null,
      }),
    ]);
    expect(Date.parse(retried.attempts[1].startedAt)).toBeGreaterThanOrEqual(
      Date.parse(retried.attempts[0].nextAttemptAt as string) - 5,
    );

    // Filters and cursor paging.
    expect((await deliveries(`taskId=${taskId}&status=failed`)).items).toEqual([]);
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { items: DeliveryJson[]; nextCursor: string | null } = await deliveries(
        `subscriptionId=${sub.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(items.map((d) => d.id));
    expect((await engine.request('GET', '/api/v1/webhooks/deliveries?status=sent')).body.error.code).toBe(
      'invalidQuery',
    );

    // The secret was shown once: never listed, and sealed at rest.
    const listed = await engine.request('GET', '/api/v1/webhooks');
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: sub.id, status: 'active', url: `${hooks.url}/hooks?token=***` }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(sub.secret.slice(6));
    expect(JSON.stringify((await engine.request('GET', `/api/v1/webhooks/${sub.id}`)).body)).not.toContain(
      sub.secret.slice(6),
    );
    const [row] = await db.query(`SELECT secret FROM webhook_subscriptions WHERE id = $1`, [sub.id]);
    expect(row.secret).toMatch(/^aes256gcm:/);
    expect(row.secret).not.toContain(sub.secret.slice(6));

    expect((await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`)).status).toBe(204);
    expect((await engine.request('GET', `/api/v1/webhooks/${sub.id}`)).status).toBe(404);
    expect((await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`)).status).toBe(404);
  });

  it('honours Retry-After: the next attempt comes no earlier than the receiver asked', async () => {
    const hooks = await receiver((_req, n) =>
      n === 0 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 204 },
    );
    const sub = await subscribe(hooks.url, ['task.completed']);
    const taskId = await disableTask();
    const [first, second] = await hooks.waitFor((r) => r.length >= 2, 20_000, 'the retry after a 429');
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    // The test schedule's first wait is 200 ms; the receiver asked for 1 s.
    expect(second.at - first.at).toBeGreaterThanOrEqual(1_000);
    const [d] = await settledDeliveries(`subscriptionId=${sub.id}&taskId=${taskId}`, 1);
    expect(d.attempts[0]).toMatchObject({ statusCode: 429, error: { code: 'httpStatus' } });
    expect(
      Date.parse(d.attempts[0].nextAttemptAt as string) - Date.parse(d.attempts[0].finishedAt as string),
    ).toBeGreaterThanOrEqual(990);
    await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`);
  });

  it('a 410 Gone disables the subscription: no more deliveries to it, and GET shows why', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const sentinel = await receiver();
    const goneSub = await subscribe(gone.url, ['task.completed']);
    const sentinelSub = await subscribe(sentinel.url, ['task.completed']);

    const t1 = await disableTask();
    await sentinel.waitFor(completedOf(t1));
    await eventually(async () => {
      const res = await engine.request('GET', `/api/v1/webhooks/${goneSub.id}`);
      return res.body.status === 'disabled' ? res.body : undefined;
    }, 'the subscription disabled');
    const shown = (await engine.request('GET', '/api/v1/webhooks')).body.items.find(
      (s: { id: string }) => s.id === goneSub.id,
    );
    expect(shown).toMatchObject({ status: 'disabled', disabledReason: 'endpointGone' });
    expect(shown.disabledAt).not.toBeNull();

    // Both subscriptions' deliveries are made in one transaction per event: when the sentinel has the second
    // task's event, the disabled subscription would have had its delivery too.
    const t2 = await disableTask();
    await sentinel.waitFor(completedOf(t2));
    expect(gone.requests).toHaveLength(1);
    const [d] = (await deliveries(`subscriptionId=${goneSub.id}`)).items;
    expect(d).toMatchObject({
      status: 'failed',
      attemptCount: 1,
      lastStatusCode: 410,
      lastError: { code: 'endpointGone' },
    });
    expect((await deliveries(`subscriptionId=${goneSub.id}`)).items).toHaveLength(1);
    const redeliver = await engine.request('POST', `/api/v1/webhooks/deliveries/${d.id}/redeliver`);
    expect(redeliver.status).toBe(409);
    expect(redeliver.body.error.code).toBe('subscriptionDisabled');
    await engine.request('DELETE', `/api/v1/webhooks/${goneSub.id}`);
    await engine.request('DELETE', `/api/v1/webhooks/${sentinelSub.id}`);
  });

  it('gives up after the schedule, and a manual redelivery sends the same message again', async () => {
    let up = false;
    const hooks = await receiver(() => ({ status: up ? 200 : 503 }));
    const sub = await subscribe(hooks.url, ['task.completed']);
    const taskId = await disableTask();
    await hooks.waitFor((r) => r.length >= 1);
    const pending = await eventually(async () => {
      const [d] = (await deliveries(`subscriptionId=${sub.id}`)).items;
      return d && d.status === 'pending' && d.attemptCount >= 1 ? d : undefined;
    }, 'a pending delivery');
    const early = await engine.request('POST', `/api/v1/webhooks/deliveries/${pending.id}/redeliver`);
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('deliveryPending');

    // Test schedule: 200, 400, 800, 1600 ms, so five attempts in all.
    const [failed] = await settledDeliveries(`subscriptionId=${sub.id}`, 1);
    expect(failed).toMatchObject({
      status: 'failed',
      attemptCount: 5,
      nextAttemptAt: null,
      lastStatusCode: 503,
    });
    expect(failed.lastError?.message).toMatch(/gave up after 5 attempts/);
    expect(failed.attempts.map((a) => a.trigger)).toEqual(['initial', 'retry', 'retry', 'retry', 'retry']);
    expect(hooks.requests).toHaveLength(5);

    up = true;
    const res = await engine.request('POST', `/api/v1/webhooks/deliveries/${failed.id}/redeliver`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: failed.id, status: 'pending', webhookId: failed.webhookId });
    await hooks.waitFor((r) => r.length >= 6);
    const [done] = await settledDeliveries(`subscriptionId=${sub.id}`, 1);
    expect(done).toMatchObject({
      status: 'succeeded',
      attemptCount: 6,
      lastStatusCode: 200,
      lastError: null,
    });
    expect(done.attempts[5]).toMatchObject({ attempt: 6, trigger: 'manual', statusCode: 200 });
    expect(new Set(hooks.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([failed.webhookId]));
    expect(new Set(hooks.requests.map((r) => r.body)).size).toBe(1);
    expect(
      new Webhook(sub.secret).verify(hooks.requests[5].body, webhookHeaders(hooks.requests[5])),
    ).toMatchObject({
      type: 'task.completed',
      data: { id: taskId },
    });
    await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`);
  });

  it('rotation: both secrets verify during the grace period, then only the new one', async () => {
    const hooks = await receiver();
    const own = generateSecret();
    const sub = await subscribe(hooks.url, ['task.completed'], own);
    expect(sub.secret).toBe(own);

    const rotated = await engine.request('POST', `/api/v1/webhooks/${sub.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const fresh = rotated.body.secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(own);
    const graceEnds = Date.parse(rotated.body.previousSecretExpiresAt);
    expect(graceEnds - Date.now()).toBeGreaterThan(23.9 * 3_600_000);

    const t1 = await disableTask();
    await hooks.waitFor(completedOf(t1));
    const during = hooks.requests.find((r) => eventOf(r).data.id === t1) as ReceivedRequest;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [own, fresh])
      expect(new Webhook(secret).verify(during.body, webhookHeaders(during))).toBeTruthy();

    // The grace period ends (moved into the past rather than waited for).
    await db.query(
      `UPDATE webhook_subscriptions SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`,
      [sub.id],
    );
    expect(
      (await engine.request('GET', `/api/v1/webhooks/${sub.id}`)).body.previousSecretExpiresAt,
    ).toBeNull();
    const t2 = await disableTask();
    await hooks.waitFor(completedOf(t2));
    const after = hooks.requests.find((r) => eventOf(r).data.id === t2) as ReceivedRequest;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(new Webhook(fresh).verify(after.body, webhookHeaders(after))).toBeTruthy();
    expect(() => new Webhook(own).verify(after.body, webhookHeaders(after))).toThrow();

    const bad = await engine.request('POST', `/api/v1/webhooks/${sub.id}/rotate-secret`, {
      body: { secret: 'whsec_short' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalidSecret');
    await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`);
  });

  it("a task's callbackUrl gets its three events, signed with WEBHOOK_CALLBACK_SECRET", async () => {
    const hooks = await receiver();
    const taskId = await disableTask({ callbackUrl: `${hooks.url}/cb?key=zzz` });
    await engine.waitForTask(taskId);
    const messages = await eventCount(taskId);
    await hooks.waitFor((r) => r.length === messages, 20_000, 'every event of the task');
    const wh = new Webhook(CALLBACK_SECRET);
    for (const r of hooks.requests)
      expect(wh.verify(r.body, webhookHeaders(r))).toMatchObject({ data: { id: taskId } });
    expect(hooks.requests.map((r) => eventOf(r).type)).toEqual(expect.arrayContaining(ALL_EVENTS));
    expect(hooks.requests.every((r) => r.path === '/cb?key=zzz')).toBe(true);
    const items = await settledDeliveries(`taskId=${taskId}`, hooks.requests.length);
    expect(
      items.every(
        (d) =>
          d.destination === 'callback' && d.subscriptionId === null && d.url === `${hooks.url}/cb?key=***`,
      ),
    ).toBe(true);
  });

  it('a callbackUrl that answers 410 Gone gets nothing more about its task', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const taskId = await disableTask({ callbackUrl: gone.url });
    await engine.waitForTask(taskId);
    const items = await eventually(async () => {
      const { items: found } = await deliveries(`taskId=${taskId}`);
      return found.length > 0 && found.every((d) => d.status === 'failed') ? found : undefined;
    }, 'the callback deliveries ended');
    expect(items.every((d) => d.lastError?.code === 'endpointGone' && d.attemptCount <= 1)).toBe(true);
    expect(gone.requests.length).toBe(items.filter((d) => d.attemptCount === 1).length);
    expect(gone.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('validates subscriptions and needs webhooks:manage', async () => {
    const post = (body: unknown, key?: string) => engine.request('POST', '/api/v1/webhooks', { body, key });
    const cases: Array<[unknown, string]> = [
      [{ url: 'ftp://soar.example/x', events: ['task.completed'] }, 'invalidUrl'],
      [{ url: 'not a url', events: ['task.completed'] }, 'invalidUrl'],
      [{ url: 'https://soar.example/x', events: [] }, 'invalidEvents'],
      [{ url: 'https://soar.example/x', events: ['task.deleted'] }, 'invalidEvents'],
      [{ url: 'https://soar.example/x', events: ['task.completed'], secret: 'hunter2' }, 'invalidSecret'],
      [{ url: 'https://soar.example/x', events: ['task.completed'], colour: 'red' }, 'invalidBody'],
      [[], 'invalidBody'],
    ];
    for (const [body, code] of cases) {
      const res = await post(body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code });
    }
    const reader = await engine.createKey('wh-reader', ['tasks:read']);
    expect((await post({ url: 'https://soar.example/x', events: ['task.completed'] }, reader)).status).toBe(
      403,
    );
    expect((await engine.request('GET', '/api/v1/webhooks/deliveries', { key: reader })).status).toBe(403);
    expect((await engine.request('GET', '/api/v1/webhooks', { key: null })).status).toBe(401);
    const manager = await engine.createKey('wh-manager', ['webhooks:manage']);
    const ok = await post(
      { url: 'https://soar.example/x', events: ['task.completed', 'task.completed'] },
      manager,
    );
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ events: ['task.completed'], createdBy: 'wh-manager' });
    expect(ok.headers.get('location')).toBe(`/api/v1/webhooks/${ok.body.id}`);
    expect((await engine.request('DELETE', `/api/v1/webhooks/${ok.body.id}`, { key: manager })).status).toBe(
      204,
    );
    expect((await engine.request('GET', '/api/v1/webhooks/not-a-uuid')).status).toBe(404);
    expect((await engine.request('POST', '/api/v1/webhooks/deliveries/not-a-uuid/redeliver')).status).toBe(
      404,
    );
  });

  it('docs/integrations.md: the curl subscription, the node receiver and the raw verification, as written', async () => {
    const port = await freePort();
    const receiverUrl = `http://127.0.0.1:${port}/hooks/account-response`;
    const subscribed = await run('bash', ['-c', docExample('subscribe')], {
      ENGINE: engine.baseUrl,
      KEY: engine.adminKey,
      RECEIVER_URL: receiverUrl,
    });
    expect(subscribed.code).toBe(0);
    const sub = JSON.parse(subscribed.stdout);
    expect(sub).toMatchObject({ url: receiverUrl, events: ALL_EVENTS, status: 'active' });

    const child = spawn(process.execPath, [writeExample('receiver.js')], {
      env: { ...process.env, WEBHOOK_SECRET: sub.secret, PORT: String(port) },
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    try {
      await eventually(async () => (out.includes('listening') ? true : undefined), 'receiver.js listening');
      const taskId = await disableTask();
      await engine.waitForTask(taskId);
      const line = await eventually(
        async () => out.split('\n').find((l) => l.startsWith(`task.completed ${taskId}`)),
        `receiver.js printing task.completed: ${out}`,
      );
      expect(line).toBe(`task.completed ${taskId} successful ldap:succeeded/disabled`);
      // Deliveries go out side by side: task.created may arrive after task.completed (the contract promises
      // no order), so it is waited for too.
      await eventually(
        async () => (out.includes(`task.created ${taskId} `) ? true : undefined),
        `receiver.js printing task.created: ${out}`,
      );
      // It answered 204 to each signed delivery: none was refused or retried.
      const items = await settledDeliveries(`subscriptionId=${sub.id}`, await eventCount(taskId));
      expect(
        items.every((d) => d.status === 'succeeded' && d.attemptCount === 1 && d.lastStatusCode === 204),
      ).toBe(true);
    } finally {
      child.kill();
    }

    // The library-free check agrees with standardwebhooks on a real delivery, and refuses what it should.
    const hooks = await receiver();
    const own = await subscribe(hooks.url, ['task.completed']);
    const taskId = await disableTask();
    await hooks.waitFor(completedOf(taskId));
    const { verifyWebhook } = require(writeExample('verify-webhook.js')); // eslint-disable-line @typescript-eslint/no-require-imports
    const r = hooks.requests[0];
    expect(verifyWebhook(own.secret, r.headers, r.body)).toBe(true);
    expect(verifyWebhook(generateSecret(), r.headers, r.body)).toBe(false);
    expect(verifyWebhook(own.secret, r.headers, r.body.replace('successful', 'unsuccessful'))).toBe(false);
    expect(
      verifyWebhook(
        own.secret,
        { ...r.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 600) },
        r.body,
      ),
    ).toBe(false);
    await engine.request('DELETE', `/api/v1/webhooks/${sub.id}`);
    await engine.request('DELETE', `/api/v1/webhooks/${own.id}`);
  });

  it('documents every webhook route in the OpenAPI document', async () => {
    const doc = (await engine.request('GET', '/api/openapi.json', { key: null })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/webhooks',
        '/api/v1/webhooks/{id}',
        '/api/v1/webhooks/{id}/rotate-secret',
        '/api/v1/webhooks/deliveries',
        '/api/v1/webhooks/deliveries/{id}/redeliver',
      ]),
    );
    expect(doc.paths['/api/v1/webhooks'].post.requestBody).toBeDefined();
    expect(doc.paths['/api/v1/webhooks'].post.responses['201']).toBeDefined();
    expect(doc.components.schemas.DeliveryDto.properties.attempts).toBeDefined();
  });
});

interface DeliveryJson {
  id: string;
  webhookId: string;
  subscriptionId: string | null;
  destination: string;
  taskId: string;
  url: string;
  status: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  attempts: Array<{
    attempt: number;
    trigger: string;
    startedAt: string;
    finishedAt: string | null;
    statusCode: number | null;
    error: { code: string; message: string } | null;
    nextAttemptAt: string | null;
  }>;
}
