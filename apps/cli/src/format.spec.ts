import type { TargetView, TaskView } from '@app/engine';
import { formatProviderTest, ProgressTracker, table } from './format';

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
