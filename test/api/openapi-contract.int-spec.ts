import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { randomUUID } from 'node:crypto';
import { HttpResult, startEngine, TestEngine } from '../harness/engine';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';

// CONTRACT §10: the served OpenAPI document describes every response. Real requests to each door, each answer
// checked against the schema /api/openapi.json declares for its path, method and status.

type Json = Record<string, unknown>;

/** OpenAPI 3.0 `nullable: true` as JSON Schema: the schema, or null (also where it sits beside a $ref or enum). */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === 'nullable') continue;
    // Property names and examples are data, not schemas.
    out[k] = k === 'example' || k === 'examples' ? v : toJsonSchema(v);
  }
  return (node as Json).nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

describe('the OpenAPI document describes every answer (CONTRACT §10)', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let doc: { openapi: string; paths: Record<string, Record<string, Json>>; components: Json };
  let components: unknown;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new Map<string, ValidateFunction>();
  const checked = new Set<string>();

  beforeAll(async () => {
    slapd = await startSlapd({
      users: [
        { uid: 'jdoe', mail: 'jdoe@corp.example', password: 'pw-jdoe' },
        { uid: 'asmith', mail: 'asmith@corp.example', password: 'pw-asmith' },
        { uid: 'adaxes', mail: 'adaxes@corp.example', password: 'pw-adaxes' },
        { uid: 'ckent', mail: 'ckent@corp.example', password: 'pw-ckent' },
      ],
    });
    engine = await startEngine({
      label: 'openapi',
      workers: 1,
      providers: [
        openLdapProvider(slapd),
        // Unreachable: its targets keep retrying, so a task stays inProgress long enough to cancel.
        { ...openLdapProvider(slapd, { id: 'ldap-down' }), url: 'ldap://127.0.0.1:1' },
      ],
      webhooks: { allowPrivate: true },
    });
    const res = await engine.request('GET', '/api/openapi.json', { key: null });
    expect(res.status).toBe(200);
    doc = res.body;
    components = toJsonSchema(doc.components);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  /** Validates the answer against the declared response of path template + method + status. */
  function conforms(method: string, template: string, res: HttpResult): void {
    const op = doc.paths[template]?.[method.toLowerCase()] as
      { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } | undefined;
    if (!op) throw new Error(`${method} ${template} is not in the OpenAPI document`);
    const declared = op.responses[String(res.status)];
    if (!declared)
      throw new Error(
        `${method} ${template} answered ${res.status} (${JSON.stringify(res.body)}), which the document does not declare ` +
          `(declared: ${Object.keys(op.responses).join(', ')})`,
      );
    const key = `${method} ${template} ${res.status}`;
    checked.add(key);
    const schema = declared.content?.['application/json']?.schema;
    if (!schema) {
      if (res.body !== null && res.body !== '')
        throw new Error(`${key} has a body but the document declares no JSON schema for it`);
      return;
    }
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile({ ...(toJsonSchema(schema) as Json), components });
      compiled.set(key, validate);
    }
    if (!validate(res.body))
      throw new Error(
        `${key}: the body does not match the declared schema: ${ajv.errorsText(validate.errors)}\n` +
          JSON.stringify(res.body, null, 2),
      );
  }

  const call = async (
    method: string,
    template: string,
    path: string,
    expected: number,
    init?: Parameters<TestEngine['request']>[2],
  ): Promise<HttpResult> => {
    const res = await engine.request(method, path, init);
    expect({ status: res.status, body: res.body }).toMatchObject({ status: expected });
    conforms(method, template, res);
    return res;
  };

  it('is OpenAPI 3 with every native route documented', () => {
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/api/v1/tasks',
      '/api/v1/tasks/{id}',
      '/api/v1/tasks/{id}/events',
      '/api/v1/tasks/{id}/cancel',
      '/api/v1/tasks/{id}/enable',
      '/api/v1/tasks/disable-account',
      '/api/v1/tasks/enable-account',
      '/api/v1/providers',
      '/api/v1/providers/{id}/test',
      '/api/v1/webhooks',
    ])
      expect(doc.paths[path]).toBeDefined();
  });

  it('declares every query parameter of GET /api/v1/tasks, with enums and formats', () => {
    const params = (doc.paths['/api/v1/tasks'].get.parameters ?? []) as Array<{
      name: string;
      in: string;
      schema: Json;
    }>;
    const byName = Object.fromEntries(params.filter((p) => p.in === 'query').map((p) => [p.name, p.schema]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        'account',
        'action',
        'batchId',
        'createdAfter',
        'createdBefore',
        'cursor',
        'limit',
        'q',
        'status',
      ].sort(),
    );
    expect(byName.action.enum).toEqual(['disableAccount', 'enableAccount']);
    expect(byName.status.enum).toEqual(['inProgress', 'successful', 'partiallySuccessful', 'unsuccessful']);
    expect(byName.createdAfter.format).toBe('date-time');
    expect(byName.createdBefore.format).toBe('date-time');
    expect(byName.limit).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 });
  });

  it('the task JSON carries the enums of statuses, outcomes, actions and kinds', () => {
    const schemas = doc.components.schemas as Record<string, { properties: Record<string, Json> }>;
    const task = schemas.TaskView.properties;
    const target = schemas.TargetView.properties;
    expect(task.action.enum).toEqual(['disableAccount', 'enableAccount']);
    expect(task.status.enum).toContain('partiallySuccessful');
    expect(target.status.enum).toEqual(['pending', 'running', 'succeeded', 'failed', 'skipped']);
    expect(target.outcome.enum).toEqual(
      expect.arrayContaining(['alreadyDisabled', 'superseded', 'cancelled']),
    );
    expect(target.kind.enum).toEqual(['activeDirectory', 'openLdap', 'entraId', 'okta']);
  });

  it('native API: each route and status answers as documented', async () => {
    const writer = await engine.createKey('contract-writer', ['tasks:write', 'tasks:read']);
    const reader = await engine.createKey('contract-reader', ['tasks:read']);

    // 202 create, then the finished task, the list and the timeline.
    const created = await call(
      'POST',
      '/api/v1/tasks/disable-account',
      '/api/v1/tasks/disable-account',
      202,
      {
        key: writer,
        body: { account: 'jdoe@corp.example', description: 'IR-1', providers: ['ldap'] },
      },
    );
    await engine.waitForTask(created.body.id);
    const done = await call('GET', '/api/v1/tasks/{id}', `/api/v1/tasks/${created.body.id}`, 200);
    expect(done.body.targets[0]).toMatchObject({ outcome: 'disabled', status: 'succeeded' });
    await call('GET', '/api/v1/tasks/{id}/events', `/api/v1/tasks/${created.body.id}/events`, 200);
    const page = await call('GET', '/api/v1/tasks', '/api/v1/tasks?action=disableAccount&limit=1', 200, {
      key: reader,
    });
    await call(
      'GET',
      '/api/v1/tasks',
      `/api/v1/tasks?cursor=${encodeURIComponent(page.body.nextCursor ?? '')}`,
      200,
    );
    await call(
      'GET',
      '/api/v1/tasks',
      `/api/v1/tasks?status=successful&account=jdoe&q=IR&createdAfter=2020-01-01T00:00:00Z&createdBefore=2100-01-01T00:00:00Z`,
      200,
    );

    // Dry runs answer 200 with the task as it would be.
    await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account?dryRun=true', 200, {
      body: { account: 'asmith@corp.example' },
    });
    await call(
      'POST',
      '/api/v1/tasks/{id}/enable',
      `/api/v1/tasks/${created.body.id}/enable?dryRun=true`,
      200,
      {
        body: {},
      },
    );

    // Enable from the Disable task (the options menu), then by account once that one ended.
    const enabled = await call(
      'POST',
      '/api/v1/tasks/{id}/enable',
      `/api/v1/tasks/${created.body.id}/enable`,
      202,
      {
        key: writer,
        body: { description: 'false positive' },
      },
    );
    await engine.waitForTask(enabled.body.id);
    const other = await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 202, {
      key: writer,
      body: { account: 'ckent@corp.example', providers: ['ldap'] },
    });
    await engine.waitForTask(other.body.id);
    const again = await call('POST', '/api/v1/tasks/enable-account', '/api/v1/tasks/enable-account', 202, {
      key: writer,
      body: { account: 'ckent@corp.example' },
    });
    expect((await engine.waitForTask(again.body.id)).targets[0]).toMatchObject({ outcome: 'enabled' });

    // 409: no Disable to undo; a cancel of a task that ended.
    await call('POST', '/api/v1/tasks/enable-account', '/api/v1/tasks/enable-account', 409, {
      body: { account: 'nobody-ever-disabled@corp.example' },
    });
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${created.body.id}/cancel`, 409);

    // 200 cancel: a task stuck on the unreachable directory.
    const stuck = await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 202, {
      body: { account: 'asmith@corp.example', providers: ['ldap-down'] },
    });
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${stuck.body.id}/cancel`, 200);

    // 400s.
    await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 400, {
      body: { account: 'jdoe', colour: 'red' },
    });
    await call('POST', '/api/v1/tasks/enable-account', '/api/v1/tasks/enable-account', 400, { body: [] });
    await call('POST', '/api/v1/tasks/{id}/enable', `/api/v1/tasks/${created.body.id}/enable`, 400, {
      body: { account: 'x' },
    });
    await call('GET', '/api/v1/tasks', '/api/v1/tasks?limit=0', 400);
    await call('GET', '/api/v1/tasks', '/api/v1/tasks?status=done', 400);
    await call('GET', '/api/v1/tasks', '/api/v1/tasks?createdAfter=yesterday', 400);

    // 401 and 403.
    await call('GET', '/api/v1/tasks', '/api/v1/tasks', 401, { key: null });
    await call('GET', '/api/v1/tasks/{id}', `/api/v1/tasks/${created.body.id}`, 401, {
      key: 'are_not-a-key',
    });
    await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 401, {
      key: null,
      body: { account: 'jdoe' },
    });
    await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 403, {
      key: reader,
      body: { account: 'jdoe' },
    });
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${created.body.id}/cancel`, 403, {
      key: reader,
    });
    await call('POST', '/api/v1/providers/{id}/test', '/api/v1/providers/ldap/test', 403, { key: reader });

    // 404s.
    const missing = randomUUID();
    await call('GET', '/api/v1/tasks/{id}', `/api/v1/tasks/${missing}`, 404);
    await call('GET', '/api/v1/tasks/{id}', '/api/v1/tasks/not-a-uuid', 404);
    await call('GET', '/api/v1/tasks/{id}/events', `/api/v1/tasks/${missing}/events`, 404);
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${missing}/cancel`, 404);
    await call('POST', '/api/v1/tasks/{id}/enable', `/api/v1/tasks/${missing}/enable`, 404, { body: {} });
    await call('POST', '/api/v1/providers/{id}/test', '/api/v1/providers/nope/test', 404);

    // 422: an Idempotency-Key again with another body; the same body replays the first answer.
    const headers = { 'Idempotency-Key': `contract-${randomUUID()}` };
    const first = await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 202, {
      headers,
      body: { account: 'asmith@corp.example', providers: ['ldap-down'] },
    });
    const replay = await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 202, {
      headers,
      body: { account: 'asmith@corp.example', providers: ['ldap-down'] },
    });
    expect(replay.body.id).toBe(first.body.id);
    await call('POST', '/api/v1/tasks/disable-account', '/api/v1/tasks/disable-account', 422, {
      headers,
      body: { account: 'someone-else@corp.example' },
    });
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${first.body.id}/cancel`, 200);

    // Providers and health.
    await call('GET', '/api/v1/providers', '/api/v1/providers', 200, { key: reader });
    await call('GET', '/api/v1/providers', '/api/v1/providers', 401, { key: null });
    await call('POST', '/api/v1/providers/{id}/test', '/api/v1/providers/ldap/test', 200);
    await call('POST', '/api/v1/providers/{id}/test', '/api/v1/providers/ldap-down/test', 200);
    await call('GET', '/health/live', '/health/live', 200, { key: null });
    await call('GET', '/health/ready', '/health/ready', 200, { key: null });
  }, 120_000);

  it('Vision One-style door: answers as documented', async () => {
    const created = await call(
      'POST',
      '/v3.0/response/domainAccounts/disable',
      '/v3.0/response/domainAccounts/disable',
      207,
      {
        body: [{ accountName: 'jdoe@corp.example', description: 'V1' }],
      },
    );
    const location = created.body[0].headers.find(
      (h: { name: string }) => h.name === 'Operation-Location',
    ).value;
    const id = new URL(location).pathname.split('/').pop() as string;
    await call('GET', '/v3.0/response/tasks/{id}', `/v3.0/response/tasks/${id}`, 200);
    await call('GET', '/v3.0/response/tasks', '/v3.0/response/tasks?top=50', 200);
    await call('POST', '/v3.0/response/domainAccounts/enable', '/v3.0/response/domainAccounts/enable', 207, {
      body: [{ accountName: 'jdoe@corp.example' }],
    });
    await call(
      'POST',
      '/v3.0/response/domainAccounts/disable',
      '/v3.0/response/domainAccounts/disable',
      400,
      {
        body: { accountName: 'not-an-array' },
      },
    );
    await call('GET', '/v3.0/response/tasks', '/v3.0/response/tasks', 401, { key: null });
    await call('GET', '/v3.0/response/tasks/{id}', `/v3.0/response/tasks/${randomUUID()}`, 404);
  }, 60_000);

  it('Adaxes-style door: answers as documented', async () => {
    const adaxes = (
      path: string,
      init: { key?: string | null; body?: unknown; headers?: Record<string, string> },
    ) => {
      const key = init.key === undefined ? engine.adminKey : init.key;
      return engine.request('POST', path, {
        key: null,
        body: init.body,
        headers: { ...(key ? { 'adm-authorization': key } : {}), ...(init.headers ?? {}) },
      });
    };
    const check = async (method: string, template: string, res: HttpResult, expected: number) => {
      expect({ status: res.status, body: res.body }).toMatchObject({ status: expected });
      conforms(method, template, res);
      return res;
    };
    const DISABLE = '/restApi/api/directoryObjects/account/disable';
    const ENABLE = '/restApi/api/directoryObjects/account/enable';
    const directoryObject = slapd.userDn('adaxes');
    await check(
      'POST',
      DISABLE,
      await adaxes(DISABLE, { body: { directoryObject }, headers: { 'adm-wait': '30' } }),
      200,
    );
    const accepted = await check(
      'POST',
      ENABLE,
      await adaxes(ENABLE, { body: { directoryObject }, headers: { 'adm-wait': '0' } }),
      202,
    );
    const op = `/restApi/api/runningOperations/${accepted.body.operationId ?? accepted.body.id}`;
    const polled = await fetch(engine.baseUrl + op, { headers: { 'adm-authorization': engine.adminKey } });
    await check(
      'GET',
      '/restApi/api/runningOperations/{operationId}',
      { status: polled.status, headers: polled.headers, body: await polled.json() },
      200,
    );
    await check('POST', DISABLE, await adaxes(DISABLE, { body: { nope: 1 } }), 400);
    await check('POST', DISABLE, await adaxes(DISABLE, { key: null, body: { directoryObject } }), 401);
  }, 60_000);

  it('webhooks API: answers as documented', async () => {
    const hooks = await engine.createKey('contract-hooks', ['webhooks:manage']);
    const sub = await call('POST', '/api/v1/webhooks', '/api/v1/webhooks', 201, {
      key: hooks,
      body: { url: 'http://127.0.0.1:1/hook?token=abc', events: ['task.completed'] },
    });
    await call('GET', '/api/v1/webhooks', '/api/v1/webhooks', 200, { key: hooks });
    await call('GET', '/api/v1/webhooks/{id}', `/api/v1/webhooks/${sub.body.id}`, 200, { key: hooks });
    await call(
      'POST',
      '/api/v1/webhooks/{id}/rotate-secret',
      `/api/v1/webhooks/${sub.body.id}/rotate-secret`,
      200,
      {
        key: hooks,
        body: {},
      },
    );
    await call('GET', '/api/v1/webhooks/deliveries', '/api/v1/webhooks/deliveries?limit=10', 200, {
      key: hooks,
    });
    await call('GET', '/api/v1/webhooks/deliveries', '/api/v1/webhooks/deliveries?limit=0', 400, {
      key: hooks,
    });
    await call('POST', '/api/v1/webhooks', '/api/v1/webhooks', 400, {
      key: hooks,
      body: { url: 'x', events: [] },
    });
    await call('GET', '/api/v1/webhooks/{id}', `/api/v1/webhooks/${randomUUID()}`, 404, { key: hooks });
    await call('GET', '/api/v1/webhooks', '/api/v1/webhooks', 401, { key: null });
    await call('GET', '/api/v1/webhooks', '/api/v1/webhooks', 403, {
      key: await engine.createKey('contract-no-hooks', ['tasks:read']),
    });
    await call('DELETE', '/api/v1/webhooks/{id}', `/api/v1/webhooks/${sub.body.id}`, 204, { key: hooks });
  });

  it('checked a documented response of every native route', () => {
    for (const route of [
      'POST /api/v1/tasks/disable-account 202',
      'POST /api/v1/tasks/disable-account 200',
      'POST /api/v1/tasks/enable-account 202',
      'POST /api/v1/tasks/{id}/enable 202',
      'GET /api/v1/tasks/{id} 200',
      'GET /api/v1/tasks 200',
      'GET /api/v1/tasks/{id}/events 200',
      'POST /api/v1/tasks/{id}/cancel 200',
      'POST /api/v1/tasks/{id}/cancel 409',
      'POST /api/v1/tasks/disable-account 400',
      'GET /api/v1/tasks 401',
      'POST /api/v1/tasks/disable-account 403',
      'GET /api/v1/tasks/{id} 404',
      'POST /api/v1/tasks/disable-account 422',
    ])
      expect(checked).toContain(route);
  });
});
