import { randomUUID } from 'node:crypto';
import { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DeliveryView, WebhookStore } from '@app/webhooks';
import { startEngine, TestEngine } from '../harness/engine';
import { eventually, Receiver, startReceiver } from './receiver';

// At-least-once, whatever happens to workers: the relay's state is in PostgreSQL, so a stopped or dead
// worker loses nothing, and several workers share the work without doubling it.
describe('webhooks: relay crash safety and concurrency', () => {
  let engine: TestEngine;
  let db: DataSource;
  let store: WebhookStore;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    engine = await startEngine({
      label: 'webhookrelay',
      workers: 1,
      // Nothing listens on port 1: each task fails at once, after its four events.
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
      // A first retry late enough to stop a worker before it; no WEBHOOK_CALLBACK_SECRET.
      webhooks: { allowPrivate: true, retryScheduleMs: [1_500, 200, 200, 200] },
    });
    db = engine.api.get(DataSource);
    store = engine.api.get(WebhookStore, { strict: false });
  });
  afterAll(async () => {
    await engine?.stop();
    await Promise.all(receivers.map((r) => r.close()));
  });

  const receiver = async (respond?: Parameters<typeof startReceiver>[1]) => {
    const r = await startReceiver('127.0.0.1', respond);
    receivers.push(r);
    return r;
  };
  const subscribe = async (url: string, events: string[]) => {
    const res = await engine.request('POST', '/api/v1/webhooks', { body: { url, events } });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const task = async (callbackUrl?: string) => {
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: `u${randomUUID().slice(0, 8)}`, ...(callbackUrl ? { callbackUrl } : {}) },
    });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const deliveries = async (query: string) =>
    (await engine.request('GET', `/api/v1/webhooks/deliveries?${query}`)).body.items as DeliveryView[];
  // A test that fails half-way must not leave its subscription to receive the next tests' events.
  afterEach(async () => {
    for (const s of (await engine.request('GET', '/api/v1/webhooks')).body.items as Array<{ id: string }>) {
      await engine.request('DELETE', `/api/v1/webhooks/${s.id}`);
    }
  });
  const stopWorkers = async () => {
    const stopping: INestApplicationContext[] = engine.workers.splice(0);
    await Promise.all(stopping.map((w) => w.close()));
  };

  it('a delivery survives its worker stopping between attempts: another worker retries it with the same webhook-id', async () => {
    const hooks = await receiver((_req, n) => ({ status: n === 0 ? 500 : 204 }));
    const sub = await subscribe(hooks.url, ['task.created']);
    const taskId = await task();
    await hooks.waitFor((r) => r.length === 1);
    const failedOnce = await eventually(async () => {
      const [d] = await deliveries(`subscriptionId=${sub}&taskId=${taskId}`);
      return d?.attempts[0]?.finishedAt ? d : undefined;
    }, 'the first attempt recorded');
    expect(failedOnce).toMatchObject({ status: 'pending', attemptCount: 1, lastStatusCode: 500 });

    await stopWorkers();
    await engine.startWorker();
    const [first, second] = await hooks.waitFor(
      (r) => r.length === 2,
      20_000,
      'the retry from the new worker',
    );
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.body).toBe(first.body);
    const done = await eventually(async () => {
      const [d] = await deliveries(`subscriptionId=${sub}&taskId=${taskId}`);
      return d?.status === 'succeeded' ? d : undefined;
    }, 'the delivery succeeded');
    expect(done).toMatchObject({ attemptCount: 2, lastStatusCode: 204 });
    await engine.request('DELETE', `/api/v1/webhooks/${sub}`);
  });

  it('a worker that dies mid-attempt loses nothing: its lease runs out and another worker delivers', async () => {
    const hooks = await receiver();
    await stopWorkers();
    const sub = await subscribe(hooks.url, ['task.created']);
    const taskId = await task();
    // Act as a worker that fans the event out and claims the delivery, then dies without a word.
    await eventually(
      async () => ((await store.fanOut(100, false)) > 0 ? true : undefined),
      'the event fanned out',
    );
    const claims = await store.claimDue(10, 1_000);
    const claim = claims.find((c) => c.subscriptionId === sub);
    expect(claim).toBeDefined();

    await engine.startWorker();
    const [req] = await hooks.waitFor((r) => r.length === 1, 20_000, 'the delivery after the lease ran out');
    expect(req.headers['webhook-id']).toBe(`msg_${claim?.messageId.replace(/-/g, '')}`);
    const done = await eventually(async () => {
      const [d] = await deliveries(`subscriptionId=${sub}&taskId=${taskId}`);
      return d?.status === 'succeeded' ? d : undefined;
    }, 'the delivery succeeded');
    expect(done.attempts).toEqual([
      expect.objectContaining({ attempt: 1, error: expect.objectContaining({ code: 'attemptInterrupted' }) }),
      expect.objectContaining({ attempt: 2, trigger: 'retry', statusCode: 204, error: null }),
    ]);
    // No earlier than the lease allowed.
    expect(
      Date.parse(done.attempts[1].startedAt) - Date.parse(done.attempts[0].startedAt),
    ).toBeGreaterThanOrEqual(990);
    await engine.request('DELETE', `/api/v1/webhooks/${sub}`);
  });

  it('the outbox trigger adds every event of a statement, of each of its INSERTs, and none that was rolled back', async () => {
    // Inside one transaction that is rolled back at the end: the relay never sees these rows, so nothing races
    // the counts.
    const q = db.createQueryRunner();
    await q.startTransaction();
    try {
      const [{ id: taskId }] = await q.query(
        `INSERT INTO tasks (id, action, status, account, created_by)
         VALUES (gen_random_uuid(), 'disableAccount', 'inProgress', 'outbox-check', 'test') RETURNING id`,
      );
      const events = (n: number) =>
        `INSERT INTO task_events (task_id, type, status, actor)
         SELECT $1::uuid, 'task.targetUpdated', 'inProgress', 'test' FROM generate_series(1, ${n})`;
      await q.query(
        `WITH a AS (${events(3)} RETURNING id), b AS (${events(2)} RETURNING id)
         SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n`,
        [taskId],
      );
      await q.query('SAVEPOINT undone');
      await q.query(events(4), [taskId]);
      await q.query('ROLLBACK TO SAVEPOINT undone');
      const rows: Array<{ events: string[]; queued: string[] }> = await q.query(
        `SELECT ARRAY(SELECT e.id::text FROM task_events e WHERE e.task_id = $1 ORDER BY e.id) AS events,
                ARRAY(SELECT o.event_id::text FROM webhook_outbox o JOIN task_events e ON e.id = o.event_id
                       WHERE e.task_id = $1 ORDER BY o.event_id) AS queued`,
        [taskId],
      );
      expect(rows[0].events).toHaveLength(5);
      expect(rows[0].queued).toEqual(rows[0].events);
      const [{ orphans }] = await q.query(
        `SELECT count(*)::int AS orphans FROM webhook_outbox o
          WHERE NOT EXISTS (SELECT 1 FROM task_events e WHERE e.id = o.event_id)`,
      );
      expect(orphans).toBe(0);
    } finally {
      await q.rollbackTransaction();
      await q.release();
    }
  });

  it("a bulk's events, written several to a statement, each reach the outbox and the receiver once", async () => {
    const hooks = await receiver();
    const sub = await subscribe(hooks.url, ['task.created', 'task.targetUpdated', 'task.completed']);
    const accounts = Array.from({ length: 7 }, (_, i) => `bulk${i}-${randomUUID().slice(0, 8)}`);
    const res = await engine.request('POST', '/api/v1/tasks/disable-accounts', { body: { accounts } });
    expect(res.status).toBe(207);
    const ids = (res.body.items as Array<{ taskId: string }>).map((i) => i.taskId);
    await Promise.all(ids.map((id) => engine.waitForTask(id)));
    const events: Array<{ id: string }> = await db.query(
      `SELECT id::text FROM task_events WHERE task_id = ANY($1::uuid[])`,
      [ids],
    );
    // The seven task.created events came from one INSERT.
    expect(events.length).toBeGreaterThanOrEqual(7 * 3);
    await hooks.waitFor((r) => r.length >= events.length, 30_000, `${events.length} deliveries`);
    const delivered: Array<{ event_id: string }> = await db.query(
      `SELECT m.event_id::text FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
        WHERE d.subscription_id = $1`,
      [sub],
    );
    expect(delivered.map((d) => d.event_id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(hooks.requests).toHaveLength(events.length);
    await engine.request('DELETE', `/api/v1/webhooks/${sub}`);
  });

  it('several workers share the relay: every event is delivered once per subscription, none doubled', async () => {
    await engine.startWorker();
    await engine.startWorker();
    expect(engine.workers.length).toBe(3);
    const hooks = await receiver();
    const sub = await subscribe(hooks.url, ['task.created', 'task.targetUpdated', 'task.completed']);
    const ids = await Promise.all(Array.from({ length: 12 }, () => task()));
    await Promise.all(ids.map((id) => engine.waitForTask(id)));
    const [{ n }] = await db.query(
      `SELECT count(*)::int AS n FROM task_events WHERE task_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(n).toBeGreaterThanOrEqual(12 * 3);
    await hooks.waitFor((r) => r.length >= n, 30_000, `${n} deliveries`);
    await eventually(async () => {
      const [{ left }] = await db.query(`SELECT count(*)::int AS left FROM webhook_outbox`);
      return left === 0 ? true : undefined;
    }, 'the outbox drained');
    const [{ rows, messages }] = await db.query(
      `SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS messages FROM webhook_deliveries
        WHERE subscription_id = $1`,
      [sub],
    );
    expect({ rows, messages }).toEqual({ rows: n, messages: n });
    expect(hooks.requests).toHaveLength(n);
    expect(new Set(hooks.requests.map((r) => r.headers['webhook-id'])).size).toBe(n);
    await engine.request('DELETE', `/api/v1/webhooks/${sub}`);
  });

  it('a callback with no WEBHOOK_CALLBACK_SECRET configured is recorded as failed, never sent unsigned', async () => {
    const hooks = await receiver();
    const taskId = await task(`${hooks.url}/cb`);
    await engine.waitForTask(taskId);
    const items = await eventually(async () => {
      const found = await deliveries(`taskId=${taskId}`);
      return found.length >= 4 ? found : undefined;
    }, 'the callback deliveries');
    for (const d of items) {
      expect(d).toMatchObject({
        destination: 'callback',
        status: 'failed',
        attemptCount: 0,
        lastError: { code: 'callbackSecretNotConfigured', message: expect.any(String) },
      });
    }
    expect(hooks.requests).toHaveLength(0);
  });
});
