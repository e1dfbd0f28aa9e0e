import { ProviderConfig } from '@app/config';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';
import { BuiltCli, builtCli, CliRun } from './built-cli';

/**
 * CONTRACT §10: the CLI, built and run as an operator runs it from the image (`node -r tsconfig-paths/register
 * dist/apps/cli/src/main.js`), with the processes' DATABASE_URL, REDIS_URL and PROVIDERS_FILE and no API key.
 * The API and a worker run in this process on the same database and queue prefix; a real slapd is the directory.
 */
describe('CLI from dist', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let built: BuiltCli;

  beforeAll(async () => {
    slapd = await startSlapd({
      users: ['cli1', 'cli2', 'cli3', 'cli4'].map((uid) => ({ uid, password: 'Passw0rd-1' })),
    });
    const providers: ProviderConfig[] = [
      openLdapProvider(slapd),
      openLdapProvider(slapd, { id: 'ldap-badpw', bindPassword: 'wrong-password' }),
      openLdapProvider(slapd, {
        id: 'ldap-down',
        url: 'ldap://127.0.0.1:1',
        maxAttempts: 100,
        timeoutMs: 500,
      }),
    ];
    engine = await startEngine({ label: 'cli', workers: 1, providers });
    built = await builtCli(engine, providers);
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
    built?.remove();
  });

  const cli = (...args: string[]) => built.run(args);
  const json = (r: CliRun) => JSON.parse(r.stdout);

  let disableId: string;

  it('task disable --wait --json: progress on stderr, the ended task as JSON on stdout, exit 0, creator cli', async () => {
    const r = await cli(
      'task',
      'disable',
      'cli1',
      '--provider',
      'ldap',
      '--description',
      'from the CLI',
      '--wait',
      '--json',
    );
    expect(r.code).toBe(0);
    const task = json(r);
    expect(task).toMatchObject({
      action: 'disableAccount',
      status: 'successful',
      account: 'cli1',
      description: 'from the CLI',
      createdBy: 'cli',
    });
    expect(task.targets).toEqual([
      expect.objectContaining({ provider: 'ldap', status: 'succeeded', outcome: 'disabled' }),
    ]);
    expect(r.stderr).toMatch(/task .*disableAccount of cli1/);
    expect(r.stderr).toMatch(/ldap\s+succeeded\s+disabled/);
    expect(r.stderr).toMatch(/task successful/);
    expect(await slapd.canBind(slapd.userDn('cli1'), 'Passw0rd-1')).toBe(false);
    disableId = task.id;
  });

  it('task show, task events and task list read it back, as JSON and as text', async () => {
    const shown = await cli('task', 'show', disableId, '--json');
    expect(shown.code).toBe(0);
    expect(json(shown)).toMatchObject({ id: disableId, status: 'successful' });

    const text = await cli('task', 'show', disableId);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Task ${disableId}  disableAccount  successful`);
    expect(text.stdout).toMatch(/ldap\s+openLdap\s+succeeded\s+1\s+disabled/);

    const events = await cli('task', 'events', disableId, '--json');
    expect(json(events).items.map((e: { type: string }) => e.type)).toEqual([
      'task.created',
      'task.targetUpdated',
      'task.targetUpdated',
      'task.completed',
    ]);
    expect(json(events).items[0].actor).toBe('cli');

    const list = await cli('task', 'list', '--action', 'disableAccount', '--account', 'cli1', '--json');
    expect(list.code).toBe(0);
    expect(json(list).items.map((t: { id: string }) => t.id)).toEqual([disableId]);
    const listed = await cli('task', 'list', '--limit', '5');
    expect(listed.stdout).toContain(disableId);
  });

  it('task enable --wait shows progress as text and exits 0 once successful', async () => {
    const plan = await cli('task', 'enable', 'cli1', '--dry-run', '--json');
    expect(plan.code).toBe(0);
    expect(json(plan)).toMatchObject({ id: null, dryRun: true, disableTaskId: disableId });
    expect(json(plan).targets).toEqual([
      expect.objectContaining({ provider: 'ldap', plannedAction: 'enable' }),
    ]);

    const r = await cli('task', 'enable', 'cli1', '--wait');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ldap\s+succeeded\s+enabled/);
    expect(r.stdout).toMatch(/task successful/);
    expect(await slapd.canBind(slapd.userDn('cli1'), 'Passw0rd-1')).toBe(true);
  });

  it('exits 1 when the task ends unsuccessful or partially successful', async () => {
    const r = await cli(
      'task',
      'disable',
      'cli2',
      '--provider',
      'ldap',
      '--provider',
      'ldap-badpw',
      '--wait',
      '--json',
    );
    expect(r.code).toBe(1);
    expect(json(r).status).toBe('partiallySuccessful');
    expect(r.stderr).toMatch(/ldap-badpw\s+failed\s+invalidCredentials/);
  });

  it('exits 3 when --wait times out, printing the task as it stands', async () => {
    const r = await cli(
      'task',
      'disable',
      'cli3',
      '--provider',
      'ldap-down',
      '--wait',
      '--timeout',
      '1',
      '--json',
    );
    expect(r.code).toBe(3);
    expect(json(r)).toMatchObject({ status: 'inProgress', createdBy: 'cli' });
    expect(r.stderr).toMatch(/still inProgress after 1 s; it goes on/);
  });

  it('exits 3 when the engine refuses, with the error as JSON', async () => {
    const r = await cli('task', 'enable', 'cli4', '--json');
    expect(r.code).toBe(3);
    expect(json(r)).toEqual({ error: expect.objectContaining({ code: 'noPriorDisableTask' }) });
    const missing = await cli('task', 'show', '00000000-0000-4000-8000-000000000000');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/taskNotFound/);
  });

  it('exits 2 on usage errors and bad input, naming the mistake', async () => {
    for (const args of [
      ['task', 'disable'],
      ['task', 'frobnicate'],
      ['task', 'disable', 'x', '--wait', '--dry-run'],
      ['task', 'show', 'x', '--provider', 'ldap'],
      ['task', 'list', '--status', 'bogus'],
      ['task', 'disable', 'cli4', '--provider', 'nope'],
      // The creator of the CLI's tasks: no API key may pass for it.
      ['api-key', 'create', '--name', 'cli', '--scopes', 'tasks:read'],
    ]) {
      const r = await cli(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/error: /);
    }
    expect((await cli('--help')).code).toBe(0);
  });

  it('provider list and provider test, with exit 1 for a failing test', async () => {
    const list = await cli('provider', 'list', '--json');
    expect(list.code).toBe(0);
    const ldap = json(list).items.find((p: { id: string }) => p.id === 'ldap');
    expect(ldap).toMatchObject({ kind: 'openLdap', queue: expect.objectContaining({ paused: false }) });
    expect(ldap.lastSuccess).toEqual(expect.objectContaining({ taskId: expect.any(String) }));
    const text = await cli('provider', 'list');
    expect(text.stdout).toMatch(/ldap-badpw: last error invalidCredentials/);

    const ok = await cli('provider', 'test', 'ldap', '--json');
    expect(ok.code).toBe(0);
    expect(json(ok)).toMatchObject({ provider: 'ldap', ok: true });
    const bad = await cli('provider', 'test', 'ldap-badpw');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/\[FAIL\]\s+authenticated\s+the directory rejected the bind DN's password/);
    const unknown = await cli('provider', 'test', 'nope', '--json');
    expect(unknown.code).toBe(3);
    expect(json(unknown).error.code).toBe('providerNotFound');
  });
});
