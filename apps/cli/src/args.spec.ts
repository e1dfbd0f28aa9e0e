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

describe('parseCommand: batches', () => {
  it('reads batch disable with accounts, a file, --provider and --providers lists, and a callback', () => {
    expect(
      parseCommand([
        'batch',
        'disable',
        'jdoe',
        'asmith',
        '--file',
        'leavers.txt',
        '--provider',
        'ad',
        '--providers',
        'okta, entra',
        '--description',
        'leavers',
        '--callback-url',
        'https://soar.example/hook',
        '--wait',
      ]),
    ).toEqual({
      kind: 'batch-disable',
      accounts: ['jdoe', 'asmith'],
      file: 'leavers.txt',
      providers: ['ad', 'okta', 'entra'],
      description: 'leavers',
      callbackUrl: 'https://soar.example/hook',
      wait: true,
      timeoutMs: 3_600_000,
      json: false,
    });
  });

  it('reads batch enable from stdin, without providers', () => {
    expect(parseCommand(['batch', 'enable', '--file', '-', '--json'])).toEqual({
      kind: 'batch-enable',
      accounts: [],
      file: '-',
      providers: undefined,
      description: undefined,
      callbackUrl: undefined,
      wait: false,
      timeoutMs: 3_600_000,
      json: true,
    });
    expect(() => parseCommand(['batch', 'enable', 'x', '--provider', 'ad'])).toThrow(
      /does not take --provider/,
    );
  });

  it('needs accounts, a path after --file, and ids in --providers', () => {
    expect(() => parseCommand(['batch', 'disable'])).toThrow(/needs accounts/);
    expect(() => parseCommand(['batch', 'disable', '--file', ''])).toThrow(/needs a path/);
    expect(() => parseCommand(['batch', 'disable', 'x', '--providers', 'ad,,okta'])).toThrow(
      /ids separated by commas/,
    );
    expect(() => parseCommand(['batch', 'disable', 'x', '--dry-run'])).toThrow(/does not take --dry-run/);
  });

  it('refuses more than 10,000 accounts as arguments rather than splitting them', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => `u${i}`);
    expect(() => parseCommand(['batch', 'disable', ...many])).toThrow(/at most 10,000/);
    expect(parseCommand(['batch', 'disable', ...many.slice(1)])).toMatchObject({ accounts: many.slice(1) });
  });

  it('reads batch show with --wait and a timeout', () => {
    expect(parseCommand(['batch', 'show', 'b1', '--wait', '--timeout', '90', '--json'])).toEqual({
      kind: 'batch-show',
      id: 'b1',
      wait: true,
      timeoutMs: 90_000,
      json: true,
    });
    expect(() => parseCommand(['batch', 'show'])).toThrow(/exactly one batch id/);
    expect(() => parseCommand(['batch', 'show', 'b1', '--timeout', '5'])).toThrow(/goes with --wait/);
  });
});
