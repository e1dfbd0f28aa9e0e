import { randomUUID } from 'node:crypto';
import { TaskService } from '@app/engine';
import { AppLogger } from '@app/logging';
import { TaskStore } from '@app/persistence';
import { startEngine, TestEngine } from '../harness/engine';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface LogEntry {
  level: string;
  msg: string;
  requestId?: string;
  [field: string]: unknown;
}

// CONTRACT §10: every response carries X-Request-Id (the caller's, or a new one) and every log line of that
// request carries it too; logs are JSON lines, a 500 is logged with its stack, and no secret ever appears.
describe('X-Request-Id and the log lines of a request', () => {
  let engine: TestEngine;
  let output: string[] = [];
  let stdout: jest.SpyInstance;
  const serviceSpies: jest.SpyInstance[] = [];
  const previousLevel = process.env.LOG_LEVEL;

  const entries = (): LogEntry[] =>
    output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry);
  const linesOf = (requestId: string) => entries().filter((e) => e.requestId === requestId);
  /** The access line is written when the response is done, which may be just after the client has read it. */
  const accessLineOf = async (requestId: string): Promise<LogEntry> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const line = linesOf(requestId).find((e) => e.msg === 'request');
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no access line for ${requestId}`);
      await new Promise((r) => setTimeout(r, 20)); // polling interval, not a stand-in for synchronisation
    }
  };

  beforeAll(async () => {
    // The API's logger reads its level once, when the application starts: info, so access lines are written.
    process.env.LOG_LEVEL = 'info';
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
    engine = await startEngine({
      label: 'opsrequestid',
      workers: 0,
      // No worker runs: the tasks only need to be accepted.
      providers: [
        {
          id: 'ldap',
          kind: 'openLdap',
          url: 'ldap://127.0.0.1:1',
          bindDN: 'cn=admin,dc=example,dc=org',
          bindPassword: 'unused-Secret1',
          baseDN: 'dc=example,dc=org',
        },
      ],
    });
  });
  afterEach(() => {
    for (const s of serviceSpies.splice(0)) s.mockRestore();
    output = [];
  });
  afterAll(async () => {
    await engine?.stop();
    stdout?.mockRestore();
    if (previousLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLevel;
  });

  it('echoes the caller id and writes it on every line of the request: its own, the 500 with its stack, the access line', async () => {
    const logger = engine.api.get(AppLogger).child('spec');
    const spy = jest.spyOn(engine.api.get(TaskService), 'getTask').mockImplementation(async () => {
      // After the guard's database round trip and the interceptors: deep inside the request.
      logger.info('reading the task');
      throw new Error('kaboom in getTask');
    });
    serviceSpies.push(spy);
    const id = 'ticket-4711.step_2:retry/1';
    const res = await engine.request('GET', `/api/v1/tasks/${randomUUID()}`, {
      headers: { 'X-Request-Id': id },
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe(id);

    const access = await accessLineOf(id);
    expect(access).toMatchObject({
      level: 'warn',
      method: 'GET',
      route: '/api/v1/tasks/:id',
      status: 500,
      keyName: 'test-admin',
    });
    expect(typeof access.durationMs).toBe('number');
    const lines = linesOf(id);
    expect(lines.map((e) => e.msg)).toEqual(['reading the task', 'request failed', 'request']);
    const failed = lines[1] as LogEntry & { error: { stack: string } };
    expect(failed.level).toBe('error');
    expect(failed.error.stack).toContain('kaboom in getTask');
    expect(failed.error.stack).toMatch(/\n\s+at /);
    // The key itself is on no line.
    expect(output.join('')).not.toContain(engine.adminKey);
  });

  it('generates an id when the caller sends none', async () => {
    const res = await engine.request('GET', '/health/live', { key: null });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id') as string;
    expect(id).toMatch(UUID);
    expect(await accessLineOf(id)).toMatchObject({ route: '/health/live', status: 200 });
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['with spaces', 'drop table tasks'],
    ['non-ASCII', 'r\u00e9quete-1'],
    ['empty', ''],
  ])('replaces an invalid X-Request-Id (%s) with a new one', async (_why, given) => {
    const res = await engine.request('GET', '/health/live', {
      key: null,
      headers: { 'X-Request-Id': given },
    });
    const id = res.headers.get('x-request-id') as string;
    expect(id).toMatch(UUID);
    await accessLineOf(id);
    if (given) expect(output.join('')).not.toContain(given);
  });

  it('is on every response: 401, 404, a refused body, /metrics and both vendor doors', async () => {
    const cases: Array<[string, string, Parameters<TestEngine['request']>[2]]> = [
      ['GET', '/api/v1/tasks', { key: null }],
      ['GET', '/api/v1/tasks', { key: 'are_not_a_real_key' }],
      ['GET', '/no/such/route', {}],
      ['POST', '/api/v1/tasks/disable-account', { body: '{"account": ', headers: {} }],
      ['GET', '/metrics', { key: null }],
      ['GET', `/v3.0/response/tasks/${randomUUID()}`, {}],
      ['GET', '/v3.0/response/tasks', { key: null }],
      [
        'POST',
        '/restApi/api/directoryObjects/account/disable',
        { key: null, body: { directoryObject: 'x' } },
      ],
      [
        'GET',
        `/restApi/api/runningOperations/${randomUUID()}`,
        { key: null, headers: { 'Adm-Authorization': engine.adminKey } },
      ],
    ];
    const seen: Array<[string, number, string | null]> = [];
    for (const [method, path, init] of cases) {
      const id = `door-${seen.length}`;
      const res = await engine.request(method, path, {
        ...init,
        headers: { ...init?.headers, 'X-Request-Id': id },
      });
      seen.push([`${method} ${path}`, res.status, res.headers.get('x-request-id') === id ? 'echoed' : null]);
      expect(await accessLineOf(id)).toMatchObject({ method, status: res.status });
    }
    expect(seen.filter(([, , echoed]) => echoed !== 'echoed')).toEqual([]);
    expect(seen.map(([, status]) => status)).toEqual([401, 401, 404, 400, 200, 404, 401, 401, 404]);
    // A URL that matched no route is logged, and counted under no label of its own.
    expect(await accessLineOf('door-2')).toMatchObject({ route: 'unmatched', path: '/no/such/route' });
  });

  it('keeps the id through both vendor doors and the Adaxes body parser, down to the task store', async () => {
    const logger = engine.api.get(AppLogger).child('spec');
    // Every door creates tasks through this one method (a single task is a batch of one).
    const spy = jest.spyOn(engine.api.get(TaskStore), 'createDisableTasks').mockImplementation(async () => {
      logger.info('creating the task');
      throw new Error('kaboom in createDisableTasks');
    });
    serviceSpies.push(spy);
    const adaxes = await engine.request('POST', '/restApi/api/directoryObjects/account/disable', {
      key: null,
      // A body only the Adaxes door's own parser reads: single-quoted .NET-style JSON.
      body: "{'directoryObject': 'CN=John Doe,OU=Users,DC=example,DC=org'}",
      headers: { 'Adm-Authorization': engine.adminKey, 'X-Request-Id': 'adaxes-1' },
    });
    const visionOne = await engine.request('POST', '/v3.0/response/domainAccounts/disable', {
      body: [{ accountName: 'jdoe' }],
      headers: { 'X-Request-Id': 'vision-one-1' },
    });
    for (const [id, res] of [
      ['adaxes-1', adaxes],
      ['vision-one-1', visionOne],
    ] as const) {
      expect(res.headers.get('x-request-id')).toBe(id);
      await accessLineOf(id);
      const lines = linesOf(id);
      expect(lines.map((e) => e.msg)).toContain('creating the task');
      const failure = lines.find((e) => e.level === 'error') as LogEntry & { error: { stack: string } };
      expect(failure.error.stack).toContain('kaboom in createDisableTasks');
    }
  });

  it('logs the path without its query string, and counts the route pattern', async () => {
    const secret = 'sekret-callback-token-123';
    const res = await engine.request('GET', `/api/v1/tasks?account=${secret}&q=${secret}`, {
      headers: { 'X-Request-Id': 'query-1' },
    });
    expect(res.status).toBe(200);
    expect(await accessLineOf('query-1')).toMatchObject({ route: '/api/v1/tasks', path: '/api/v1/tasks' });
    expect(output.join('')).not.toContain(secret);
    const metrics = await engine.request('GET', '/metrics', { key: null });
    expect(metrics.body).toContain(
      'are_http_requests_total{method="GET",route="/api/v1/tasks",status="200"}',
    );
    expect(metrics.body).not.toContain(secret);
  });
});
