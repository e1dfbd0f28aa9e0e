import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { OpenLdapProviderConfig } from '@app/config';
import { WorkerHttpListener } from '@app/http';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';
import { declaredFamilies, parsePrometheusText, PromSample, sampleValue } from '../harness/prometheus';

/** CONTRACT §10 and issue #11: the families each process must export. */
const FAMILIES = [
  'are_tasks_created_total',
  'are_tasks_completed_total',
  'are_target_duration_seconds',
  'are_target_attempts_total',
  'are_directory_errors_total',
  'are_queue_jobs',
  'are_http_requests_total',
  'are_http_request_duration_seconds',
  'are_webhook_deliveries_total',
  'are_reconciler_requeued_total',
  'are_tasks_in_progress',
  'are_process_cpu_user_seconds_total',
];

/** A TCP port nothing listens on at this instant (WORKER_PORT 0 means "off", so the spec picks one). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An LDAP server that accepts connections and never answers: an attempt against it runs until its time-out. */
async function startHangingLdap(): Promise<{ url: string; called: Promise<void>; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let called!: () => void;
  const calledP = new Promise<void>((r) => (called = r));
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('data', () => called());
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ldap://127.0.0.1:${(server.address() as AddressInfo).port}`,
    called: calledP,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Polls until `probe` returns a value; the deadline bounds a result that arrives after the API has answered. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // polling interval, not a stand-in for synchronisation
  }
}

describe('metrics on the API and on the worker listener (CONTRACT §10)', () => {
  let slapd: SlapdHandle;
  let hanging: Awaited<ReturnType<typeof startHangingLdap>>;
  let engine: TestEngine;
  let ldap: OpenLdapProviderConfig;
  let workerUrl: string;

  const scrape = async (base: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/metrics`, { headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parsePrometheusText(text) };
  };

  beforeAll(async () => {
    slapd = await startSlapd();
    hanging = await startHangingLdap();
    ldap = openLdapProvider(slapd, { disableMethod: 'ppolicy' });
    engine = await startEngine({
      label: 'opsmetrics',
      workers: 1,
      workerPort: await freePort(),
      providers: [
        ldap,
        // Nothing listens on port 1: the attempt fails with a directory error, at once (one attempt allowed).
        { ...ldap, id: 'ldap-down', url: 'ldap://127.0.0.1:1', maxAttempts: 1, timeoutMs: 2000 },
        { ...ldap, id: 'ldap-hang', url: hanging.url, maxAttempts: 1, timeoutMs: 4000 },
      ],
    });
    const address = engine.workers[0].get(WorkerHttpListener).address();
    workerUrl = `http://127.0.0.1:${address?.port}`;
  });
  afterAll(async () => {
    await engine?.stop();
    await hanging?.stop();
    await slapd?.stop();
  });

  it('exports every family on both processes, and the values move with a real Disable', async () => {
    const uid = 'metrics1';
    await slapd.addUser({ uid, password: `${uid}-Secret1`, mail: `${uid}@example.org` });
    const api0 = await scrape(engine.baseUrl);
    const wk0 = await scrape(workerUrl);
    for (const { text } of [api0, wk0]) {
      const families = declaredFamilies(text);
      for (const f of FAMILIES)
        expect({ family: f, declared: families.has(f) }).toEqual({ family: f, declared: true });
    }
    const route = { method: 'POST', route: '/api/v1/tasks/disable-account', status: '202' };

    const created = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: uid, providers: ['ldap', 'ldap-down'] },
    });
    expect(created.status).toBe(202);
    const task = await engine.waitForTask(created.body.id);
    expect(task.status).toBe('partiallySuccessful');

    const api1 = await scrape(engine.baseUrl);
    const delta = (before: PromSample[], after: PromSample[], name: string, labels: Record<string, string>) =>
      (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
    expect(delta(api0.samples, api1.samples, 'are_tasks_created_total', { action: 'disableAccount' })).toBe(
      1,
    );
    expect(delta(api0.samples, api1.samples, 'are_http_requests_total', route)).toBe(1);
    expect(delta(api0.samples, api1.samples, 'are_http_request_duration_seconds_count', route)).toBe(1);
    // The route pattern, never the URL: the task id the client polled is in no label.
    expect(
      sampleValue(api1.samples, 'are_http_requests_total', { route: '/api/v1/tasks/:id' }),
    ).toBeGreaterThan(0);
    expect(api1.text).not.toContain(created.body.id);

    // The worker observes the attempt just after recording it, so the API may report the task first.
    const attempt = { provider: 'ldap', kind: 'openLdap', outcome: 'disabled' };
    const wk1 = await eventually('the worker to record both attempts', async () => {
      const s = await scrape(workerUrl);
      const done =
        delta(wk0.samples, s.samples, 'are_target_duration_seconds_count', attempt) === 1 &&
        delta(wk0.samples, s.samples, 'are_target_attempts_total', {
          provider: 'ldap-down',
          result: 'failed',
        }) === 1;
      return done ? s : undefined;
    });
    expect(
      delta(wk0.samples, wk1.samples, 'are_tasks_completed_total', {
        action: 'disableAccount',
        status: 'partiallySuccessful',
      }),
    ).toBe(1);
    expect(
      delta(wk0.samples, wk1.samples, 'are_target_attempts_total', { provider: 'ldap', result: 'succeeded' }),
    ).toBe(1);
    expect(delta(wk0.samples, wk1.samples, 'are_directory_errors_total', { provider: 'ldap-down' })).toBe(1);
    expect(delta(wk0.samples, wk1.samples, 'are_target_duration_seconds_sum', attempt)).toBeGreaterThan(0);
    expect(wk1.text).not.toContain(created.body.id);

    // Read from Redis and PostgreSQL at scrape time, by both processes.
    for (const { samples } of [api1, wk1]) {
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'paused'])
        expect(sampleValue(samples, 'are_queue_jobs', { provider: 'ldap', state })).toBeGreaterThanOrEqual(0);
      expect(
        sampleValue(samples, 'are_tasks_in_progress', { action: 'disableAccount' }),
      ).toBeGreaterThanOrEqual(0);
    }
  });

  it('serves the worker probes, and answers 404 elsewhere', async () => {
    expect((await fetch(`${workerUrl}/health/live`)).status).toBe(200);
    const ready = await fetch(`${workerUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok' } });
    const missing = await fetch(`${workerUrl}/api/v1/tasks`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('notFound');
    expect((await fetch(`${workerUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('wants the bearer token on both processes when METRICS_TOKEN is set, and never on the probes', async () => {
    const token = 'metrics-token-for-the-spec-0123';
    engine.config.metricsToken = token;
    try {
      for (const base of [engine.baseUrl, workerUrl]) {
        expect((await fetch(`${base}/metrics`)).status).toBe(401);
        const wrong = await fetch(`${base}/metrics`, {
          headers: { authorization: 'Bearer not-the-token-at-all' },
        });
        expect(wrong.status).toBe(401);
        expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
        await scrape(base, { authorization: `Bearer ${token}` });
        expect((await fetch(`${base}/health/live`)).status).toBe(200);
      }
    } finally {
      engine.config.metricsToken = null;
    }
  });

  it('answers /health/ready 503 on the worker listener as soon as shutdown starts, and closes it last', async () => {
    const worker = engine.workers[0];
    const created = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: 'hangs', providers: ['ldap-hang'] },
    });
    expect(created.status).toBe(202);
    // The worker is inside the directory call, which lasts until its 4 s time-out.
    await hanging.called;

    let closed = false;
    const closing = worker.close().then(() => (closed = true));
    const during = await eventually('readiness to change', async () => {
      const res = await fetch(`${workerUrl}/health/ready`);
      return res.status === 200 ? undefined : res;
    });
    expect(during.status).toBe(503);
    expect(await during.json()).toEqual({ status: 'shuttingDown', checks: {} });
    // Still draining the running attempt, and still answering probes while it does.
    expect(closed).toBe(false);
    expect((await fetch(`${workerUrl}/health/live`)).status).toBe(200);

    await closing;
    engine.workers.splice(engine.workers.indexOf(worker), 1);
    await expect(fetch(`${workerUrl}/health/live`)).rejects.toThrow();
    // The attempt the worker drained recorded its result before the database pool closed.
    const task = await engine.waitForTask(created.body.id);
    expect(task.targets[0]).toMatchObject({ provider: 'ldap-hang', status: 'failed' });
  });
});
