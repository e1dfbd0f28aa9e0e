import { parseCommand, UsageError } from './args';

describe('parseCommand', () => {
  it('reads task disable with repeated --provider, --wait and a timeout in seconds', () => {
    expect(
      parseCommand([
        'task',
        'disable',
        'jdoe@corp.example',
        '--provider',
        'ad',
        '--provider',
        'okta',
        '--wait',
        '--timeout',
        '30',
      ]),
    ).toEqual({
      kind: 'task-disable',
      account: 'jdoe@corp.example',
      providers: ['ad', 'okta'],
      description: undefined,
      dryRun: false,
      wait: true,
      timeoutMs: 30_000,
      json: false,
    });
  });

  it('reads task enable by account or from a Disable task, but not both', () => {
    expect(parseCommand(['task', 'enable', 'jdoe', '--json'])).toMatchObject({
      kind: 'task-enable',
      account: 'jdoe',
      json: true,
    });
    expect(parseCommand(['task', 'enable', '--from-task', 'abc'])).toMatchObject({
      kind: 'task-enable',
      fromTask: 'abc',
    });
    expect(() => parseCommand(['task', 'enable', 'jdoe', '--from-task', 'abc'])).toThrow(UsageError);
    expect(() => parseCommand(['task', 'enable'])).toThrow(UsageError);
  });

  it('refuses options a command does not take, unknown commands and extra arguments', () => {
    expect(() => parseCommand(['task', 'show', 'id', '--provider', 'x'])).toThrow(/does not take --provider/);
    expect(() => parseCommand(['task', 'frobnicate'])).toThrow(/unknown command/);
    expect(() => parseCommand(['task', 'show', 'a', 'b'])).toThrow(/exactly one/);
    expect(() => parseCommand(['provider', 'list', 'x'])).toThrow(/no argument/);
    expect(() => parseCommand(['task', 'list', '--bogus'])).toThrow(UsageError);
  });

  it('keeps --wait and --dry-run apart, and --timeout with --wait', () => {
    expect(() => parseCommand(['task', 'disable', 'x', '--wait', '--dry-run'])).toThrow(/exclude/);
    expect(() => parseCommand(['task', 'disable', 'x', '--timeout', '5'])).toThrow(/goes with --wait/);
    expect(() => parseCommand(['task', 'disable', 'x', '--wait', '--timeout', 'soon'])).toThrow(/seconds/);
  });

  it('keeps the api-key and migration commands as they were', () => {
    expect(
      parseCommand(['api-key', 'create', '--name', 'soar', '--scopes', 'tasks:read, tasks:write']),
    ).toEqual({
      kind: 'api-key-create',
      name: 'soar',
      scopes: ['tasks:read', 'tasks:write'],
      disableLimit: undefined,
    });
    expect(parseCommand(['api-key', 'revoke', 'soar'])).toEqual({ kind: 'api-key-revoke', name: 'soar' });
    expect(parseCommand(['migration', 'run'])).toEqual({ kind: 'migration-run' });
    expect(parseCommand([])).toEqual({ kind: 'help' });
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
  });
});
