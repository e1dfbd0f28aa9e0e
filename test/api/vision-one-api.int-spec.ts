import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { TaskStore } from '@app/persistence';
import { HttpResult, startEngine, TestEngine } from '../harness/engine';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';

const run = promisify(execFile);

// Trend's own mock-up files, copied with their licence: the repository must stand alone (see their README).
const CONTRACTS = join(__dirname, '..', 'contracts', 'trend-vision-one');
const DOCS = join(__dirname, '..', '..', 'docs', 'integrations.md');

interface Stub {
  response: { status: number; jsonBody: unknown };
}
const stub = (file: string): Stub['response'] =>
  (JSON.parse(readFileSync(join(CONTRACTS, file), 'utf8')) as Stub).response;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const SECOND_PRECISION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const STATUSES = ['queued', 'running', 'succeeded', 'failed'];

interface ShapeOptions {
  /** The mock-up's template placeholders, e.g. `%field%`. */
  vars?: Record<string, string>;
  /** Keys of the mock-up this answer may leave out. */
  optional?: string[];
  /** Keys the engine adds (documented in docs/integrations.md). */
  additions?: string[];
  /** Keys whose values in the mock-up are only examples (a directory's own error message, say). */
  examples?: string[];
}

/**
 * Our answer against a mock-up body, field by field: the same keys (the engine's documented additions and
 * Vision One's optional ones aside), the same JSON types, second-precision UTC where the mock-up has it, and
 * the same values where the mock-up's values are the contract: numeric statuses, header names, error codes
 * and messages. Ids, dates and URLs in the mock-up are examples; the tests check their format themselves.
 */
function expectShape(actual: unknown, expected: unknown, opts: ShapeOptions = {}, path = '$'): void {
  const where = `at ${path}`;
  if (Array.isArray(expected)) {
    expect({ where, isArray: Array.isArray(actual) }).toEqual({ where, isArray: true });
    const items = actual as unknown[];
    if (expected.length > 0) {
      expect({ where, empty: items.length === 0 }).toEqual({ where, empty: false });
      items.forEach((item, i) => expectShape(item, expected[0], opts, `${path}[${i}]`));
    }
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    expect({ where, type: actual === null ? 'null' : typeof actual }).toEqual({ where, type: 'object' });
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const missing = Object.keys(e).filter((k) => !(k in a) && !(opts.optional ?? []).includes(k));
    const extra = Object.keys(a).filter((k) => !(k in e) && !(opts.additions ?? []).includes(k));
    expect({ where, missing, extra }).toEqual({ where, missing: [], extra: [] });
    for (const k of Object.keys(e)) {
      if (!(k in a)) continue;
      const ev = e[k];
      const av = a[k];
      if (
        (k === 'code' || k === 'message' || k === 'name') &&
        typeof ev === 'string' &&
        !opts.examples?.includes(k)
      ) {
        let want = ev;
        for (const [name, value] of Object.entries(opts.vars ?? {})) want = want.split(name).join(value);
        expect({ where: `${path}.${k}`, value: av }).toEqual({ where: `${path}.${k}`, value: want });
      } else if (k === 'status' && typeof ev === 'number') {
        expect({ where: `${path}.${k}`, value: av }).toEqual({ where: `${path}.${k}`, value: ev });
      } else {
        expectShape(av, ev, opts, `${path}.${k}`);
      }
    }
    return;
  }
  expect({ where, type: typeof actual }).toEqual({ where, type: typeof expected });
  if (typeof expected === 'string' && SECOND_PRECISION.test(expected)) {
    expect({ where, value: actual }).toEqual({ where, value: expect.stringMatching(SECOND_PRECISION) });
  }
}

const operationLocation = (item: { headers?: Array<{ name: string; value: string }> }) =>
  item.headers?.find((h) => h.name === 'Operation-Location')?.value;
const taskIdOf = (url: string | undefined) => (url ?? '').split('/').pop() as string;

describe('Vision One-style API (CONTRACT §6)', () => {
  // The API alone: the spec plays the worker (through TaskStore, as the fencing spec does), so every
  // status below is reached on purpose, not raced for.
  let engine: TestEngine;
  let store: TaskStore;

  beforeAll(async () => {
    const nowhere = {
      kind: 'openLdap' as const,
      url: 'ldap://127.0.0.1:1',
      bindDN: 'cn=a',
      bindPassword: 'x',
      baseDN: 'dc=x',
    };
    engine = await startEngine({
      label: 'visionone',
      workers: 0,
      providers: [
        { id: 'ldap', ...nowhere },
        { id: 'ldap-two', ...nowhere },
      ],
    });
    store = engine.api.get(TaskStore);
  });
  afterAll(() => engine?.stop());

  const post = (
    action: 'enable' | 'disable',
    body: unknown,
    init: { key?: string | null; headers?: Record<string, string> } = {},
  ) => engine.request('POST', `/v3.0/response/domainAccounts/${action}`, { body, ...init });
  const get = (path: string, key?: string | null) => engine.request('GET', path, { key });
  const locationPattern = () =>
    new RegExp(`^${engine.baseUrl.replace(/[.]/g, '\\.')}/v3\\.0/response/tasks/${UUID}$`);

  /** What a worker records for one target, without a directory behind it. */
  async function play(
    taskId: string,
    provider: string,
    result: 'running' | 'done' | 'failed',
  ): Promise<void> {
    const claimed = await store.claimTarget(taskId, provider);
    if (!claimed) throw new Error(`target ${taskId}/${provider} could not be claimed`);
    if (result === 'running') return;
    const { fence, task, target } = claimed;
    if (result === 'failed') {
      await store.finishTarget(taskId, provider, fence, {
        status: 'failed',
        outcome: null,
        error: {
          code: 'invalidCredentials',
          message: 'The directory rejected the service account credentials.',
        },
      });
      return;
    }
    const objectRef = target.objectRef ?? `uid=${task.account}`;
    if (task.action === 'disableAccount') {
      await store.recordResolution(fence, {
        taskId,
        provider,
        objectId: objectRef,
        objectRef,
        identifierKeys: [],
      });
    }
    const lock = { provider, objectRef, leaseMs: 60_000, action: task.action, taskId, taskSeq: task.seq };
    expect(await store.acquireObjectLock(fence, lock)).toBe('acquired');
    await store.fenceWrite(fence, task.action === 'disableAccount' ? 'enabled' : 'disabled', 60_000);
    const outcome = task.action === 'disableAccount' ? 'disabled' : 'enabled';
    expect(
      await store.finishTarget(taskId, provider, fence, {
        status: 'succeeded',
        outcome,
        objectId: objectRef,
      }),
    ).toBe(true);
  }

  /** A Disable of `account` that succeeded in both directories, so an Enable has something to reverse. */
  async function disabled(account: string, key?: string): Promise<string> {
    const res = await post('disable', [{ accountName: account }], { key });
    expect(res.status).toBe(207);
    const id = taskIdOf(operationLocation(res.body[0]));
    await play(id, 'ldap', 'done');
    await play(id, 'ldap-two', 'done');
    return id;
  }

  const tasksBy = async (creator: string) => {
    const res = await get(
      `/v3.0/response/tasks?top=200&filter=${encodeURIComponent(`account eq '${creator}'`)}`,
    );
    expect(res.status).toBe(200);
    return res.body.items as Array<{ id: string; status: string; action: string }>;
  };

  describe('creating tasks: the 207 answers of the mock-up files', () => {
    it('disable: 207 with one 202 item naming the new task in Operation-Location (disable_207_202.json)', async () => {
      const contract = stub('disable_207_202.json');
      const res = await post('disable', [
        { accountName: 'contract-disable@corp.example', description: 'IR-1' },
      ]);
      expect(res.status).toBe(contract.status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expectShape(res.body, contract.jsonBody);
      const url = operationLocation(res.body[0]);
      expect(url).toMatch(locationPattern());
      const task = await engine.request('GET', new URL(url as string).pathname);
      expect(task.status).toBe(200);
      expect(task.body).toMatchObject({
        id: taskIdOf(url),
        action: 'disableAccount',
        status: 'queued',
        description: 'IR-1',
        account: 'test-admin',
      });
    });

    it('enable: 207 with one 202 item once a Disable succeeded (enable_207_202.json)', async () => {
      const disableId = await disabled('contract-enable@corp.example');
      const contract = stub('enable_207_202.json');
      const res = await post('enable', [{ accountName: 'contract-enable@corp.example' }]);
      expect(res.status).toBe(contract.status);
      expectShape(res.body, contract.jsonBody);
      expect(operationLocation(res.body[0])).toMatch(locationPattern());
      const native = await get(`/api/v1/tasks/${taskIdOf(operationLocation(res.body[0]))}`);
      expect(native.body).toMatchObject({ action: 'enableAccount', disableTaskId: disableId });
    });

    it('task duplication: an Enable while a Disable or an Enable of the account runs names that task (*_207_400_task_duplication.json)', async () => {
      const disable = await post('disable', [{ accountName: 'dup@corp.example' }]);
      const disableUrl = operationLocation(disable.body[0]);
      const res = await post('enable', [{ accountName: 'dup@corp.example' }]);
      for (const file of ['enable_207_400_task_duplication.json', 'disable_207_400_task_duplication.json']) {
        const contract = stub(file);
        expect(res.status).toBe(contract.status);
        expectShape(res.body, contract.jsonBody, { additions: ['innererror'] });
      }
      expect(operationLocation(res.body[0])).toBe(disableUrl);
      expect(res.body[0].body.error.innererror).toMatchObject({
        code: 'taskInProgress',
        taskId: taskIdOf(disableUrl),
      });

      // Once that Disable has ended, the first Enable is accepted and a second one names it.
      await play(taskIdOf(disableUrl), 'ldap', 'done');
      await play(taskIdOf(disableUrl), 'ldap-two', 'done');
      const first = await post('enable', [{ accountName: 'dup@corp.example' }]);
      expect(first.body[0].status).toBe(202);
      const second = await post('enable', [{ accountName: 'dup@corp.example' }]);
      expect(second.body[0]).toMatchObject({
        status: 400,
        body: { error: { code: 'TaskError', message: 'Task duplication.' } },
      });
      expect(operationLocation(second.body[0])).toBe(operationLocation(first.body[0]));
    });

    it.each(['disable', 'enable'] as const)(
      '%s: an accountName that is not an identifier is an invalid field format (*_207_400_invalid_field_format.json)',
      async (action) => {
        const contract = stub(`${action}_207_400_invalid_field_format.json`);
        for (const accountName of ['not@an@identifier', '   ', 42, 'x'.repeat(1025)]) {
          const res = await post(action, [{ accountName }]);
          expect(res.status).toBe(contract.status);
          expectShape(res.body, contract.jsonBody, {
            vars: { '%field%': 'accountName' },
            additions: ['innererror'],
          });
        }
      },
    );

    it.each(['disable', 'enable'] as const)(
      '%s: an item without accountName is fields-not-found (*_207_400_fields_not_found.json)',
      async (action) => {
        const contract = stub(`${action}_207_400_fields_not_found.json`);
        for (const item of [{}, { description: 'who?' }, { accountName: null }]) {
          const res = await post(action, [item]);
          expect(res.status).toBe(contract.status);
          expectShape(res.body, contract.jsonBody, { vars: { '%field%': 'accountName' } });
        }
      },
    );

    it('enable with no Disable task to reverse is target-not-found (enable_207_400_target_not_found.json)', async () => {
      const contract = stub('enable_207_400_target_not_found.json');
      const res = await post('enable', [{ accountName: 'never-disabled@corp.example' }]);
      expect(res.status).toBe(contract.status);
      expectShape(res.body, contract.jsonBody, { additions: ['innererror'] });
      expect(res.body[0].body.error.innererror.code).toBe('noPriorDisableTask');
    });

    it('a bad description or an unknown field fails that item only, naming the field', async () => {
      const res = await post('disable', [
        { accountName: 'fine1@corp.example', description: 'x'.repeat(2001) },
        { accountName: 'fine2@corp.example', description: 7 },
        { accountName: 'fine3@corp.example', providers: ['ldap'] },
        { accountName: 'fine4@corp.example' },
      ]);
      expect(res.status).toBe(207);
      expect(
        res.body.map((i: { status: number; body?: { error: { message: string } } }) => [
          i.status,
          i.body?.error.message,
        ]),
      ).toEqual([
        [400, 'Invalid request - Invalid field format: description.'],
        [400, 'Invalid request - Invalid field format: description.'],
        [400, 'Invalid request - Invalid field format: providers.'],
        [202, undefined],
      ]);
    });

    it.each([
      ['an object', { accountName: 'a@corp.example' }],
      ['an empty array', []],
      ['an array of strings', ['a@corp.example']],
      ['an array holding null', [{ accountName: 'a@corp.example' }, null]],
      ['an array holding an array', [[{ accountName: 'a@corp.example' }]]],
      ['more than 1,000 items', Array.from({ length: 1001 }, (_, i) => ({ accountName: `u${i}` }))],
    ])(
      'refuses %s as a whole with 400 BadRequest and creates nothing (*_400_invalid_format.json)',
      async (_what, body) => {
        const reader = await keyFor('invalid-format-bot');
        for (const action of ['disable', 'enable'] as const) {
          const contract = stub(`${action}_400_invalid_format.json`);
          const res = await post(action, body, { key: reader });
          expect(res.status).toBe(contract.status);
          expectShape(res.body, contract.jsonBody, { additions: ['innererror'] });
          expect(res.body.error.innererror.code).toBe('invalidBody');
        }
        expect(await tasksBy('invalid-format-bot')).toEqual([]);
      },
    );

    it('refuses a body that is not JSON with a 400, never a 500', async () => {
      const plain = await post('disable', 'accountName=jdoe', { headers: { 'content-type': 'text/plain' } });
      expectShape(plain.body, stub('disable_400_invalid_format.json').jsonBody, {
        additions: ['innererror'],
      });
      expect(plain.status).toBe(400);
      // The API's JSON parser answers before any route does; the door still answers in Vision One's words.
      const broken = await post('disable', '[{"accountName": ');
      expect(broken.status).toBe(400);
      expect(broken.body.error).toMatchObject({ code: 'BadRequest', innererror: { code: 'badRequest' } });
      const huge = await post('disable', [
        { accountName: 'big@corp.example', description: 'x'.repeat(70_000) },
      ]);
      expect(huge.status).toBe(413);
      expect(huge.body.error).toMatchObject({
        code: 'RequestEntityTooLarge',
        innererror: { code: 'payloadTooLarge' },
      });
    });

    it('answers a mixed batch item by item, in order; the valid items really created tasks', async () => {
      await disabled('mix-a@corp.example');
      await disabled('mix-b@corp.example');
      const res = await post('enable', [
        { accountName: 'mix-a@corp.example', description: 'verified' },
        { description: 'no account here' },
        { accountName: 'mix-b@corp.example' },
        { accountName: 'mix-a@corp.example' },
      ]);
      expect(res.status).toBe(207);
      expect(res.body.map((i: { status: number }) => i.status)).toEqual([202, 400, 202, 400]);
      expect(res.body[1].body.error.message).toBe(
        'Invalid request - Required fields not found: accountName.',
      );
      expect(res.body[3].body.error).toMatchObject({ code: 'TaskError', message: 'Task duplication.' });
      expect(operationLocation(res.body[3])).toBe(operationLocation(res.body[0]));
      for (const [i, account] of [
        [0, 'mix-a@corp.example'],
        [2, 'mix-b@corp.example'],
      ] as const) {
        const task = await get(new URL(operationLocation(res.body[i]) as string).pathname);
        expect(task.status).toBe(200);
        expect(task.body).toMatchObject({ action: 'enableAccount', status: 'queued' });
        expect(task.body.tasks.map((t: { accountName: string }) => t.accountName)).toEqual([
          account,
          account,
        ]);
      }
    });

    it('replays the first 207 for a retried POST with the same Idempotency-Key', async () => {
      const headers = { 'idempotency-key': 'v1-retry-1' };
      const body = [{ accountName: 'idem-v1@corp.example' }];
      const first = await post('disable', body, { headers });
      const again = await post('disable', body, { headers });
      expect(again.status).toBe(207);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    });

    it('builds Operation-Location from the request, never from X-Forwarded-Host', async () => {
      const res = await post('disable', [{ accountName: 'fwd@corp.example' }], {
        headers: { 'x-forwarded-host': 'attacker.example', 'x-forwarded-proto': 'https' },
      });
      expect(operationLocation(res.body[0])).toMatch(locationPattern());
    });
  });

  describe('reading one task: get_task_*.json', () => {
    it('shows a Disable that failed in one directory as failed, with each directory in tasks (get_task_disable_account.json)', async () => {
      const created = await post('disable', [
        { accountName: 'partial@corp.example', description: 'task description' },
      ]);
      const id = taskIdOf(operationLocation(created.body[0]));
      const contract = stub('get_task_disable_account.json');
      const opts = {
        optional: ['error', 'number'],
        additions: ['provider', 'outcome', 'innererror'],
        // The directory's own words; `code` stays Vision One's `TaskError`.
        examples: ['message'],
      };

      const queued = await get(`/v3.0/response/tasks/${id}`);
      expect(queued.status).toBe(contract.status);
      expectShape(queued.body, contract.jsonBody, opts);
      expect(queued.body).toMatchObject({
        id,
        status: 'queued',
        action: 'disableAccount',
        account: 'test-admin',
      });
      expect(queued.body.tasks.map((t: { status: string }) => t.status)).toEqual(['queued', 'queued']);

      await play(id, 'ldap', 'running');
      const running = await get(`/v3.0/response/tasks/${id}`);
      expectShape(running.body, contract.jsonBody, opts);
      expect(running.body.status).toBe('running');

      await play(id, 'ldap-two', 'failed');
      // ldap is still claimed by the 'running' attempt above: finish it as that attempt would.
      const claimed = (await store.findTask(id))!.targets.find((t) => t.provider === 'ldap')!;
      await store.finishTarget(
        id,
        'ldap',
        { targetId: claimed.id, generation: claimed.claimGeneration },
        {
          status: 'succeeded',
          outcome: 'disabled',
        },
      );
      const failed = await get(`/v3.0/response/tasks/${id}`);
      expectShape(failed.body, contract.jsonBody, opts);
      expect(failed.body).toMatchObject({
        id,
        status: 'failed',
        action: 'disableAccount',
        description: 'task description',
        account: 'test-admin',
        createdDateTime: expect.stringMatching(SECOND_PRECISION),
        lastActionDateTime: expect.stringMatching(SECOND_PRECISION),
      });
      expect(failed.body.tasks).toEqual([
        {
          iam: 'OPENLDAP',
          accountName: 'partial@corp.example',
          status: 'succeeded',
          lastActionDateTime: expect.stringMatching(SECOND_PRECISION),
          provider: 'ldap',
          outcome: 'disabled',
        },
        {
          iam: 'OPENLDAP',
          accountName: 'partial@corp.example',
          status: 'failed',
          lastActionDateTime: expect.stringMatching(SECOND_PRECISION),
          error: {
            code: 'TaskError',
            message: 'The directory rejected the service account credentials.',
            innererror: { code: 'invalidCredentials' },
          },
          provider: 'ldap-two',
          outcome: null,
        },
      ]);
      const native = await get(`/api/v1/tasks/${id}`);
      expect(native.body.status).toBe('partiallySuccessful');
    });

    it('shows an Enable as the mock-up does, queued then succeeded (get_task_enable_account.json)', async () => {
      await disabled('enable-view@corp.example');
      const created = await post('enable', [
        { accountName: 'enable-view@corp.example', description: 'task description' },
      ]);
      const id = taskIdOf(operationLocation(created.body[0]));
      const contract = stub('get_task_enable_account.json');
      const opts = { optional: ['error'], additions: ['provider', 'outcome'] };
      const queued = await get(`/v3.0/response/tasks/${id}`);
      expect(queued.status).toBe(contract.status);
      expectShape(queued.body, contract.jsonBody, opts);
      expect(queued.body).toMatchObject({ status: 'queued', action: 'enableAccount' });
      await play(id, 'ldap', 'done');
      await play(id, 'ldap-two', 'done');
      const done = await get(`/v3.0/response/tasks/${id}`);
      expectShape(done.body, contract.jsonBody, opts);
      expect(done.body.status).toBe('succeeded');
      expect(done.body.tasks.map((t: { status: string; outcome: string }) => [t.status, t.outcome])).toEqual([
        ['succeeded', 'enabled'],
        ['succeeded', 'enabled'],
      ]);
    });

    it.each(['not_found', '00000000-0000-4000-8000-000000000000', '00000012', 'x'.repeat(300)])(
      'answers 404 NotFound for the id %s (get_task_404_not_found.json)',
      async (id) => {
        const contract = stub('get_task_404_not_found.json');
        const res = await get(`/v3.0/response/tasks/${id}`);
        expect(res.status).toBe(contract.status);
        expectShape(res.body, contract.jsonBody, { additions: ['innererror'] });
      },
    );
  });

  describe('authentication and scopes', () => {
    it('refuses a missing or unknown key with 401 in Vision One shape', async () => {
      for (const res of [
        await post('disable', [{ accountName: 'x' }], { key: null }),
        await get('/v3.0/response/tasks', null),
        await get('/v3.0/response/tasks/00000000-0000-4000-8000-000000000000', 'are_not-a-real-key'),
      ]) {
        expect(res.status).toBe(401);
        expect(res.body).toEqual({
          error: { code: 'Unauthorized', message: expect.any(String), innererror: { code: 'unauthorized' } },
        });
      }
    });

    it('refuses a key without tasks:write on POST with 403 AccessDenied (disable_403_access_denied.json), and creates nothing', async () => {
      const reader = await keyFor('v1-reader', ['tasks:read']);
      const contract = stub('disable_403_access_denied.json');
      for (const action of ['disable', 'enable'] as const) {
        const res = await post(action, [{ accountName: 'denied@corp.example' }], { key: reader });
        expect(res.status).toBe(contract.status);
        expectShape(res.body, contract.jsonBody, { additions: ['innererror'] });
        expect(res.body.error.innererror.message).toContain('tasks:write');
      }
      expect((await get('/v3.0/response/tasks', reader)).status).toBe(200);
      expect(await tasksBy('v1-reader')).toEqual([]);
      const writer = await keyFor('v1-writer', ['tasks:write']);
      expect((await get('/v3.0/response/tasks', writer)).status).toBe(403);
    });
  });

  const keys = new Map<string, string>();
  async function keyFor(name: string, scopes = ['tasks:write', 'tasks:read']): Promise<string> {
    if (!keys.has(name)) keys.set(name, await engine.createKey(name, scopes));
    return keys.get(name) as string;
  }

  describe('listing with filter, top, dates and nextLink', () => {
    // Tasks of one creator (`account` in Vision One's words), in each status, newest last.
    const t: Record<string, string> = {};
    const ids = (res: HttpResult) => res.body.items.map((i: { id: string }) => i.id);

    beforeAll(async () => {
      const bot = await keyFor('filter-bot');
      const create = async (action: 'disable' | 'enable', account: string, key = bot) =>
        taskIdOf(operationLocation((await post(action, [{ accountName: account }], { key })).body[0]));
      t.queued = await create('disable', 'f-queued');
      t.running = await create('disable', 'f-running');
      await play(t.running, 'ldap', 'running');
      t.succeeded = await create('disable', 'f-succeeded');
      await play(t.succeeded, 'ldap', 'done');
      await play(t.succeeded, 'ldap-two', 'done');
      t.failed = await create('disable', 'f-failed');
      await play(t.failed, 'ldap', 'done');
      await play(t.failed, 'ldap-two', 'failed');
      t.enable = await create('enable', 'f-succeeded');
      t.other = await create('disable', 'f-other', await keyFor('other-bot'));
    });

    const filters: Array<[string, string[]]> = [
      ["account eq 'filter-bot'", ['enable', 'failed', 'succeeded', 'running', 'queued']],
      ["account eq 'filter-bot' and status eq 'queued'", ['enable', 'queued']],
      ["account eq 'filter-bot' and status eq 'running'", ['running']],
      ["account eq 'filter-bot' and status eq 'succeeded'", ['succeeded']],
      ["account eq 'filter-bot' and status eq 'failed'", ['failed']],
      ["account eq 'filter-bot' and action eq 'enableAccount'", ['enable']],
      ["status eq 'running' and action eq 'enableAccount'", []],
      ["account eq 'filter-bot' and not action eq 'disableAccount'", ['enable']],
      [
        "account eq 'filter-bot' and not (status eq 'queued' or status eq 'running')",
        ['failed', 'succeeded'],
      ],
      ["account eq 'filter-bot' and (status eq 'succeeded' or status eq 'failed')", ['failed', 'succeeded']],
      [
        "(account eq 'filter-bot' or account eq 'other-bot') and status eq 'queued' and action eq 'disableAccount'",
        ['other', 'queued'],
      ],
      ["account eq 'other-bot' or account eq 'filter-bot' and status eq 'running'", ['other', 'running']],
      ["not not (account eq 'other-bot')", ['other']],
      ["account eq 'filter-bot''' or account eq 'x''y'", []],
      ["account eq 'FILTER-BOT'", []],
      [
        "account eq 'filter-bot' and (status eq 'canceled' or status eq 'pendingApproval' or action eq 'isolate')",
        [],
      ],
      ["id eq 'not-a-uuid' or id eq '00000000-0000-4000-8000-000000000000'", []],
      ["  ( account  eq 'filter-bot' )and(status eq 'failed')  ", ['failed']],
    ];

    it.each(filters)('%s', async (filter, expected) => {
      const res = await get(`/v3.0/response/tasks?top=200&filter=${encodeURIComponent(filter)}`);
      expect(res.status).toBe(200);
      expect(res.body.nextLink).toBeUndefined();
      expect(ids(res)).toEqual(expected.map((name) => t[name]));
    });

    it('finds a task by id, whatever the case of the UUID', async () => {
      const res = await get(
        `/v3.0/response/tasks?filter=${encodeURIComponent(`id eq '${t.running.toUpperCase()}'`)}`,
      );
      expect(ids(res)).toEqual([t.running]);
    });

    it('never disagrees with the task it lists', async () => {
      const res = await get(
        `/v3.0/response/tasks?top=200&filter=${encodeURIComponent("account eq 'filter-bot'")}`,
      );
      for (const item of res.body.items) {
        expect(STATUSES).toContain(item.status);
        expect((await get(`/v3.0/response/tasks/${item.id}`)).body).toEqual(item);
      }
    });

    it.each([
      ["account eq 'filter-bot", 12, 'unterminated string'],
      ["account eq 'filter-bot' and", 28, 'expected a field name'],
      ["colour eq 'red'", 1, "unknown field 'colour'"],
      ["status ne 'running'", 8, "unknown operator 'ne'"],
      ['status eq', 10, 'expected a quoted string'],
      ["status eq 'done'", 11, "unknown status 'done'"],
      ["status eq 'running')", 20, "expected 'and', 'or' or the end of the filter"],
      ["(status eq 'running'", 21, "expected 'and', 'or' or ')'"],
      ["status = 'running'", 8, 'unexpected character'],
      ['('.repeat(40) + "status eq 'running'" + ')'.repeat(40), 33, 'nested too deeply'],
      ['not '.repeat(40) + "status eq 'running'", 129, 'nested too deeply'],
      ["account eq 'a\u0000'", 14, 'NUL'],
    ])('refuses the filter %j with 400 naming position %i', async (filter, position, words) => {
      const res = await get(`/v3.0/response/tasks?filter=${encodeURIComponent(filter)}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('BadRequest');
      expect(res.body.error.message).toMatch(new RegExp(`^Invalid filter at position ${position}: `));
      expect(res.body.error.message).toContain(words);
    });

    it.each([
      ['top=10'],
      ['top=1000'],
      ['top=fifty'],
      ['top=50&top=100'],
      ['filter=a&filter=b'],
      ['startDateTime=yesterday'],
      ['startDateTime=2021-02-30T00:00:00Z'],
      ['endDateTime=2021-04-05T08:22:37'],
      ['endDateTime=%2B275760-09-13T00:00:00.000Z'],
      ['startDateTime=0000-01-01T00:00:00Z'],
      ['startDateTime=2021-04-06T00:00:00Z&endDateTime=2021-04-05T00:00:00Z'],
      ['dateTimeTarget=updatedDateTime'],
      ['skipToken=%25%25%25'],
      ['skipToken=c2VxOjkyMjMzNzIwMzY4NTQ3NzU4MDg'],
    ])('refuses the query %s with 400 BadRequest, never 500', async (query) => {
      const res = await get(`/v3.0/response/tasks?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: { code: 'BadRequest', message: expect.any(String), innererror: { code: 'invalidQuery' } },
      });
    });

    it('pages newest first with top and nextLink, over more tasks than one page, without gaps or repeats', async () => {
      const pager = await keyFor('pager-bot');
      const created = await post(
        'disable',
        Array.from({ length: 120 }, (_, i) => ({ accountName: `pager${i}` })),
        { key: pager },
      );
      expect(created.body.every((i: { status: number }) => i.status === 202)).toBe(true);
      const newestFirst = created.body
        .map((i: { headers: Array<{ value: string }> }) => taskIdOf(i.headers[0].value))
        .reverse();

      for (const [top, sizes] of [
        [50, [50, 50, 20]],
        [100, [100, 20]],
        [200, [120]],
      ] as const) {
        const seen: string[] = [];
        const pageSizes: number[] = [];
        let url: string | undefined =
          `${engine.baseUrl}/v3.0/response/tasks?top=${top}&filter=${encodeURIComponent("account eq 'pager-bot'")}`;
        while (url) {
          expect(url.startsWith(`${engine.baseUrl}/v3.0/response/tasks?`)).toBe(true);
          const res = await fetch(url, { headers: { authorization: `Bearer ${pager}` } });
          expect(res.status).toBe(200);
          const body = (await res.json()) as { items: Array<{ id: string }>; nextLink?: string };
          pageSizes.push(body.items.length);
          seen.push(...body.items.map((i) => i.id));
          url = body.nextLink;
        }
        expect(pageSizes).toEqual(sizes);
        expect(seen).toEqual(newestFirst);
      }
      const firstPage = await get(
        `/v3.0/response/tasks?filter=${encodeURIComponent("account eq 'pager-bot'")}`,
      );
      expect(firstPage.body.items).toHaveLength(50);
      expect(new URL(firstPage.body.nextLink).searchParams.get('top')).toBe('50');
    });

    it('bounds createdDateTime or lastActionDateTime, inclusively, with ISO 8601 dates in any offset', async () => {
      const key = await keyFor('date-bot');
      const made = await post(
        'disable',
        [{ accountName: 'd1' }, { accountName: 'd2' }, { accountName: 'd3' }],
        { key },
      );
      const [d1, d2, d3] = made.body.map((i: { headers: Array<{ value: string }> }) =>
        taskIdOf(i.headers[0].value),
      );
      const db = engine.api.get(DataSource);
      for (const [id, at] of [
        [d1, '2021-04-05T08:00:00Z'],
        [d2, '2021-04-06T08:00:00Z'],
        [d3, '2021-04-07T08:00:00Z'],
      ]) {
        await db.query('UPDATE tasks SET created_at = $2 WHERE id = $1', [id, at]);
      }
      const list = async (query: string) => {
        const res = await get(
          `/v3.0/response/tasks?filter=${encodeURIComponent("account eq 'date-bot'")}&${query}`,
        );
        expect(res.status).toBe(200);
        return ids(res);
      };
      expect(await list('startDateTime=2021-04-06T00:00:00Z')).toEqual([d3, d2]);
      expect(await list('endDateTime=2021-04-06T08:00:00Z')).toEqual([d2, d1]);
      expect(
        await list('startDateTime=2021-04-05T09:00:00%2B01:00&endDateTime=2021-04-06T07:59:59.999Z'),
      ).toEqual([d1]);
      expect(await list('startDateTime=2021-04-08T00:00:00Z')).toEqual([]);
      // lastActionDateTime is when the task last changed: now, not 2021.
      expect(await list('dateTimeTarget=lastActionDateTime&endDateTime=2021-04-08T00:00:00Z')).toEqual([]);
      expect(await list('dateTimeTarget=lastActionDateTime&startDateTime=2021-04-08T00:00:00Z')).toEqual([
        d3,
        d2,
        d1,
      ]);
      const shown = (await get(`/v3.0/response/tasks/${d1}`)).body;
      expect(shown.createdDateTime).toBe('2021-04-05T08:00:00Z');
    });
  });

  it('is described in the OpenAPI document: bodies, query parameters and error answers', async () => {
    const doc = (await engine.request('GET', '/api/openapi.json', { key: null })).body;
    const paths = doc.paths;
    for (const action of ['enable', 'disable']) {
      const op = paths[`/v3.0/response/domainAccounts/${action}`].post;
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['207', '400', '401', '403']));
      expect(op.requestBody.content['application/json'].schema).toMatchObject({ type: 'array' });
      expect(op.security).toEqual([{ bearer: [] }]);
    }
    expect(Object.keys(paths['/v3.0/response/tasks/{id}'].get.responses)).toEqual(
      expect.arrayContaining(['200', '401', '403', '404']),
    );
    const list = paths['/v3.0/response/tasks'].get;
    expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining([
        'filter',
        'top',
        'startDateTime',
        'endDateTime',
        'dateTimeTarget',
        'skipToken',
      ]),
    );
    expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
    const task = doc.components.schemas.VisionOneTaskDto;
    expect(task.properties.status.enum).toEqual(STATUSES);
    expect(doc.components.schemas.VisionOneSubTaskDto.properties.iam.enum).toEqual([
      'AAD',
      'OPAD',
      'OKTA',
      'OPENLDAP',
    ]);
  });
});

describe('docs/integrations.md, Vision One section: its curl examples, run against a real engine and slapd', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let workdir: string;

  beforeAll(async () => {
    slapd = await startSlapd();
    const ldap = openLdapProvider(slapd, { disableMethod: 'ppolicy' });
    engine = await startEngine({
      label: 'visionone_docs',
      workers: 1,
      // The second directory refuses the engine's credentials: the partial result the docs walk through.
      providers: [ldap, { ...ldap, id: 'ldap-eu', bindPassword: 'wrong-password' }],
    });
    workdir = mkdtempSync(join(tmpdir(), 'v1-docs-'));
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  function section(): string {
    const text = readFileSync(DOCS, 'utf8');
    const start = text.indexOf('<!-- vision-one:start -->');
    const end = text.indexOf('<!-- vision-one:end -->');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    return text.slice(start, end);
  }

  it('disables, polls, reads the per-directory result, enables and lists, as written', async () => {
    const dn = await slapd.addUser({ uid: 'jdoe', mail: 'jdoe@corp.example', password: 'jdoe-Secret1' });
    const key = await engine.createKey('soar-playbook', ['tasks:write', 'tasks:read']);
    const docs = section();
    const blocks = [...docs.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toHaveLength(6);
    const script = blocks.map((b, i) => `echo '@@block ${i}'\n${b}`).join('\n');
    const { stdout } = await run('sh', ['-eu', '-c', script], {
      cwd: workdir,
      env: { PATH: process.env.PATH, ENGINE: engine.baseUrl, KEY: key },
      timeout: 90_000,
    });
    // `cat task.json` prints no final newline, so a marker may follow output on the same line.
    const out = stdout.split(/@@block \d+\n/).slice(1);
    expect(out).toHaveLength(6);
    const json = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));

    expect(out[0]).toBe('');

    const [created] = json(out[1]);
    expect(created).toEqual([
      { status: 202, headers: [{ name: 'Operation-Location', value: expect.any(String) }] },
    ]);
    const disableId = taskIdOf(created[0].headers[0].value);
    expect(created[0].headers[0].value).toBe(`${engine.baseUrl}/v3.0/response/tasks/${disableId}`);

    expect(out[2]).toBe('');

    // What `cat task.json` printed, and the example the docs show right after it: they must agree.
    const [result] = json(out[3]);
    const shown = JSON.parse(/```sh\ncat task\.json\n```\s*```json\n([\s\S]*?)```/.exec(docs)?.[1] ?? 'null');
    const timeless = (task: Record<string, unknown>) => ({
      ...task,
      id: 'ID',
      createdDateTime: 'T',
      lastActionDateTime: 'T',
      tasks: (task.tasks as Array<Record<string, unknown>>).map((x) => ({ ...x, lastActionDateTime: 'T' })),
    });
    expect(timeless(result)).toEqual(timeless(shown));
    expect(result.id).toBe(disableId);

    const [enabled, enableResult] = json(out[4]);
    expect(enabled[0].status).toBe(202);
    expect(enableResult).toMatchObject({
      id: taskIdOf(enabled[0].headers[0].value),
      action: 'enableAccount',
      status: 'succeeded',
    });
    expect(enableResult.tasks).toEqual([
      expect.objectContaining({ iam: 'OPENLDAP', provider: 'ldap', status: 'succeeded', outcome: 'enabled' }),
    ]);
    expect(await slapd.canBind(dn, 'jdoe-Secret1')).toBe(true);

    const [listed] = json(out[5]);
    expect(listed.nextLink).toBeUndefined();
    expect(listed.items.map((i: { id: string }) => i.id)).toEqual([disableId]);
  });
});
