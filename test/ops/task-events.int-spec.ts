import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

/** CONTRACT §5 `GET /api/v1/tasks/{id}/events`: the task's timeline from its audit trail, oldest first. */
describe('task timeline', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;

  beforeAll(async () => {
    slapd = await startSlapd({ users: [{ uid: 'tl1', password: 'Passw0rd-1' }] });
    engine = await startEngine({
      label: 'events',
      workers: 1,
      providers: [
        openLdapProvider(slapd),
        // Refuses our password: its target fails, so the timeline shows an error.
        openLdapProvider(slapd, { id: 'ldap-badpw', bindPassword: 'not-the-password' }),
      ],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  it('lists created, each target update and completed, oldest first, with time, actor, provider, status and detail', async () => {
    const created = await engine.request('POST', '/api/v1/tasks/disable-account', {
      body: { account: 'tl1', description: 'timeline' },
    });
    expect(created.status).toBe(202);
    const task = await engine.waitForTask(created.body.id);
    expect(task.status).toBe('partiallySuccessful');

    const reader = await engine.createKey('timeline-reader', ['tasks:read']);
    const res = await engine.request('GET', `/api/v1/tasks/${task.id}/events`, { key: reader });
    expect(res.status).toBe(200);
    const items: Array<{
      type: string;
      time: string;
      actor: string;
      provider: string | null;
      status: string;
      detail: Record<string, unknown>;
    }> = res.body.items;

    expect(items[0]).toEqual({
      type: 'task.created',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      actor: 'test-admin',
      provider: null,
      status: 'inProgress',
      detail: { action: 'disableAccount', providers: ['ldap', 'ldap-badpw'] },
    });
    expect(items[items.length - 1]).toMatchObject({
      type: 'task.completed',
      provider: null,
      status: 'partiallySuccessful',
    });
    const times = items.map((e) => Date.parse(e.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const updates = items.filter((e) => e.type === 'task.targetUpdated');
    expect(updates).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ provider: 'ldap', status: 'running', actor: 'worker' }),
        expect.objectContaining({
          provider: 'ldap',
          status: 'succeeded',
          detail: expect.objectContaining({ outcome: 'disabled', error: null }),
        }),
        expect.objectContaining({
          provider: 'ldap-badpw',
          status: 'failed',
          detail: expect.objectContaining({ error: expect.objectContaining({ code: 'invalidCredentials' }) }),
        }),
      ]),
    );
    // Each target's own events keep their order: running before its end.
    const ldap = updates.filter((e) => e.provider === 'ldap').map((e) => e.status);
    expect(ldap.indexOf('running')).toBeLessThan(ldap.indexOf('succeeded'));
    expect(JSON.stringify(res.body)).not.toContain('not-the-password');
    expect(JSON.stringify(res.body)).not.toContain(slapd.bindPassword);
  });

  it('answers 404 for an unknown or malformed task id, and 401/403 without the right key', async () => {
    const unknown = await engine.request('GET', '/api/v1/tasks/00000000-0000-4000-8000-000000000000/events');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('taskNotFound');
    expect((await engine.request('GET', '/api/v1/tasks/not-a-uuid/events')).status).toBe(404);
    expect((await engine.request('GET', '/api/v1/tasks/not-a-uuid/events', { key: null })).status).toBe(401);
    const writer = await engine.createKey('timeline-writer', ['tasks:write']);
    expect((await engine.request('GET', '/api/v1/tasks/not-a-uuid/events', { key: writer })).status).toBe(
      403,
    );
  });

  it('is in the OpenAPI document', async () => {
    const doc = await engine.request('GET', '/api/openapi.json', { key: null });
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/tasks/{id}/events',
        '/api/v1/providers',
        '/api/v1/providers/{id}/test',
      ]),
    );
  });
});
