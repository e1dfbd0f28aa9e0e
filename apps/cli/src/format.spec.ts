import type { BatchView, TargetView, TaskView } from '@app/engine';
import { batchExitCode } from './batch-commands';
import {
  BatchProgress,
  batchProgressLine,
  batchSummary,
  formatBatch,
  formatBulkResult,
  formatProviderTest,
  ProgressTracker,
  table,
} from './format';

const target = (over: Partial<TargetView>): TargetView => ({
  provider: 'ldap',
  kind: 'openLdap',
  status: 'pending',
  outcome: null,
  objectId: null,
  attempts: 0,
  error: null,
  warnings: [],
  startedAt: null,
  finishedAt: null,
  ...over,
});

const task = (status: TaskView['status'], targets: TargetView[]): TaskView => ({
  id: 'b1f0',
  action: 'disableAccount',
  status,
  account: 'jdoe',
  description: null,
  disableTaskId: null,
  batchId: null,
  createdBy: 'cli',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  completedAt: null,
  error: null,
  targets,
});

describe('ProgressTracker', () => {
  const clock = () => new Date('2026-01-01T10:11:12Z');

  it('prints every target once, then a line only for a target that changed, then the end once', () => {
    const tracker = new ProgressTracker(clock);
    const first = tracker.update(
      task('inProgress', [
        target({ provider: 'corp-ad' }),
        target({ provider: 'okta', status: 'running', attempts: 1 }),
      ]),
    );
    expect(first).toEqual([
      '10:11:12  task b1f0: disableAccount of jdoe, 2 target(s)',
      '10:11:12  corp-ad   pending',
      '10:11:12  okta      running    attempt 1',
    ]);
    expect(
      tracker.update(
        task('inProgress', [
          target({ provider: 'corp-ad' }),
          target({ provider: 'okta', status: 'running', attempts: 1 }),
        ]),
      ),
    ).toEqual([]);
    const retry = target({
      provider: 'okta',
      status: 'pending',
      attempts: 1,
      error: { code: 'rateLimited', message: 'Okta HTTP 429' },
    });
    expect(tracker.update(task('inProgress', [target({ provider: 'corp-ad' }), retry]))).toEqual([
      '10:11:12  okta      pending    retrying after attempt 1: rateLimited: Okta HTTP 429',
    ]);
    const end = tracker.update(
      task('successful', [
        target({ provider: 'corp-ad', status: 'succeeded', outcome: 'disabled', attempts: 1 }),
        target({ provider: 'okta', status: 'succeeded', outcome: 'disabled', attempts: 2 }),
      ]),
    );
    expect(end).toEqual([
      '10:11:12  corp-ad   succeeded  disabled',
      '10:11:12  okta      succeeded  disabled',
      '10:11:12  task successful',
    ]);
    expect(tracker.update(task('successful', []))).toEqual([]);
  });
});

describe('formatting', () => {
  it('pads columns to the widest cell', () => {
    expect(
      table([
        ['a', 'bb', 'c'],
        ['ccc', 'd', 'e'],
      ]),
    ).toEqual(['a    bb  c', 'ccc  d   e']);
  });

  it('marks each provider check and says when some are left to verify by hand', () => {
    expect(
      formatProviderTest({
        provider: 'okta',
        kind: 'okta',
        ok: true,
        checks: [
          { name: 'reachable', ok: true, message: 'Okta answered' },
          { name: 'changeAccounts', ok: null, message: 'custom role' },
        ],
      }),
    ).toEqual([
      'Provider okta (okta): passed, with checks to verify by hand',
      '  [ok]  reachable       Okta answered',
      '  [?]   changeAccounts  custom role',
    ]);
  });
});

const batch = (over: Partial<BatchView['counts']>, rest: Partial<BatchView> = {}): BatchView => ({
  id: '3f2a9c1e-0000-4000-8000-000000000001',
  action: 'disableAccount',
  createdBy: 'cli',
  createdAt: '2026-01-01T00:00:00.000Z',
  requested: 10_000,
  accepted: 10_000,
  rejected: 0,
  counts: { inProgress: 0, successful: 0, partiallySuccessful: 0, unsuccessful: 0, ...over },
  done: (over.inProgress ?? 0) === 0,
  ...rest,
});

describe('batches', () => {
  it('says how many accounts were accepted and lists every refusal with its status, code and message', () => {
    expect(
      formatBulkResult({
        batchId: 'b-1',
        items: [
          { account: 'jdoe', status: 202, taskId: 't-1' },
          {
            account: 'not an account!',
            status: 400,
            error: { code: 'invalidAccount', message: 'not a recognised form' },
          },
          { account: 'asmith', status: 202, taskId: 't-2' },
          {
            account: 'bwayne',
            status: 409,
            error: { code: 'taskInProgress', message: 'an Enable of bwayne is in progress' },
          },
        ],
      }),
    ).toEqual([
      'Batch b-1: 2 of 4 account(s) accepted, 2 refused',
      '',
      'Refused:',
      '  account          status  code            message',
      '  not an account!  400     invalidAccount  not a recognised form',
      '  bwayne           409     taskInProgress  an Enable of bwayne is in progress',
    ]);
    expect(formatBulkResult({ batchId: 'b-2', items: [{ account: 'a', status: 202, taskId: 't' }] })).toEqual(
      ['Batch b-2: 1 of 1 account(s) accepted'],
    );
  });

  it('puts the progress of a batch by status on one line, with thousands separated and refusals when any', () => {
    expect(
      batchProgressLine(
        batch({ inProgress: 2_588, successful: 7_380, partiallySuccessful: 12, unsuccessful: 20 }),
      ),
    ).toBe(
      'batch 3f2a9c1e…: 7,412/10,000 done · inProgress 2,588 · successful 7,380 · ' +
        'partiallySuccessful 12 · unsuccessful 20',
    );
    const refused = batch({ successful: 9_997 }, { accepted: 9_997, rejected: 3 });
    expect(batchProgressLine(refused)).toBe(
      'batch 3f2a9c1e…: 9,997/9,997 done · inProgress 0 · successful 9,997 · ' +
        'partiallySuccessful 0 · unsuccessful 0 · refused 3',
    );
    expect(batchSummary(refused)).toBe(
      'Batch 3f2a9c1e-0000-4000-8000-000000000001 done: inProgress 0 · successful 9,997 · ' +
        'partiallySuccessful 0 · unsuccessful 0 · refused 3',
    );
    expect(formatBatch(refused)).toEqual([
      'Batch 3f2a9c1e-0000-4000-8000-000000000001  disableAccount  done',
      '  created              2026-01-01T00:00:00.000Z by cli',
      '  accounts             10,000 requested, 9,997 accepted, 3 refused',
      '  inProgress           0',
      '  successful           9,997',
      '  partiallySuccessful  0',
      '  unsuccessful         0',
    ]);
  });

  it('on a terminal rewrites one line in place, only when the counts change, and ends it with a newline', () => {
    const progress = new BatchProgress(true);
    const start = progress.update(batch({ inProgress: 10_000 }));
    expect(start).toBe(`\r\x1b[2K${batchProgressLine(batch({ inProgress: 10_000 }))}`);
    expect(start).not.toContain('\n');
    expect(progress.update(batch({ inProgress: 10_000 }))).toBe('');
    expect(progress.update(batch({ inProgress: 1, successful: 9_999 }))).toBe(
      `\r\x1b[2K${batchProgressLine(batch({ inProgress: 1, successful: 9_999 }))}`,
    );
    expect(progress.end()).toBe('\n');
    expect(new BatchProgress(true).end()).toBe('');
  });

  it('in a log or a pipe prints one timestamped line per change', () => {
    const progress = new BatchProgress(false, () => new Date('2026-01-01T10:11:12Z'));
    expect(progress.update(batch({ inProgress: 10_000 }))).toBe(
      `10:11:12  ${batchProgressLine(batch({ inProgress: 10_000 }))}\n`,
    );
    expect(progress.update(batch({ inProgress: 10_000 }))).toBe('');
    expect(progress.update(batch({ successful: 10_000 }))).toMatch(
      /^10:11:12 {2}batch .*10,000\/10,000 done/,
    );
    expect(progress.end()).toBe('');
  });

  it('exits 0 only when no item was refused and every task ended successful', () => {
    expect(batchExitCode(batch({ successful: 10_000 }))).toBe(0);
    expect(batchExitCode(batch({ successful: 9_999, unsuccessful: 1 }))).toBe(1);
    expect(batchExitCode(batch({ successful: 9_999, partiallySuccessful: 1 }))).toBe(1);
    expect(batchExitCode(batch({ successful: 9_999 }, { accepted: 9_999, rejected: 1 }))).toBe(1);
  });
});
