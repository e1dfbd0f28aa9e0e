import type { TargetView, TaskView } from '@app/engine';
import { hasStarted, toVisionOneTask, visionOneStatus, visionOneTime } from './vision-one-view';

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

const task = (over: Partial<TaskView>): TaskView => ({
  id: '5b0e1a9e-8f3c-4f7e-9a51-0c2b7d1e4f60',
  action: 'disableAccount',
  status: 'inProgress',
  account: 'jdoe@corp.example',
  description: null,
  disableTaskId: null,
  batchId: null,
  createdBy: 'soar-playbook',
  createdAt: '2021-04-05T08:22:37.123Z',
  updatedAt: '2021-04-06T08:22:37.999Z',
  completedAt: null,
  error: null,
  targets: [],
  ...over,
});

describe('Vision One task view', () => {
  it.each([
    ['successful', [], 'succeeded'],
    ['partiallySuccessful', [], 'failed'],
    ['unsuccessful', [], 'failed'],
    ['inProgress', [target({})], 'queued'],
    ['inProgress', [target({ status: 'skipped', outcome: 'leftDisabled' }), target({})], 'queued'],
    ['inProgress', [target({ status: 'running', startedAt: '2021-04-05T08:22:38Z' })], 'running'],
    // Back to pending for a retry: it has begun.
    ['inProgress', [target({ status: 'pending', startedAt: '2021-04-05T08:22:38Z' })], 'running'],
    [
      'inProgress',
      [target({ status: 'failed', error: { code: 'providerNotConfigured', message: 'x' } }), target({})],
      'running',
    ],
  ] as const)('shows a %s task with those targets as %s', (status, targets, expected) => {
    const t = task({ status, targets: [...targets] });
    expect(visionOneStatus(t)).toBe(expected);
    expect(hasStarted(t)).toBe(expected === 'running');
  });

  it('writes times to the second in UTC', () => {
    expect(visionOneTime('2021-04-05T08:22:37.999Z')).toBe('2021-04-05T08:22:37Z');
  });

  it('reports each directory, a stopped one as failed with the reason, a skipped one as done', () => {
    const view = toVisionOneTask(
      task({
        action: 'enableAccount',
        status: 'partiallySuccessful',
        description: 'verified safe',
        targets: [
          target({
            provider: 'corp-ad',
            kind: 'activeDirectory',
            status: 'succeeded',
            outcome: 'enabled',
            finishedAt: '2021-04-05T08:23:00.5Z',
          }),
          target({ provider: 'entra', kind: 'entraId', status: 'skipped', outcome: 'managedElsewhere' }),
          target({ provider: 'ldap', kind: 'openLdap', status: 'skipped', outcome: 'superseded' }),
          target({
            provider: 'okta',
            kind: 'okta',
            status: 'failed',
            error: { code: 'protectedAccount', message: 'The token owner is never disabled.' },
            startedAt: '2021-04-05T08:22:40Z',
          }),
          target({
            provider: 'corp-ad-2',
            kind: 'activeDirectory',
            status: 'succeeded',
            outcome: 'disabled',
            warnings: [{ code: 'sessionsNotRevoked', message: 'x' }],
          }),
        ],
      }),
    );
    expect(view).toEqual({
      id: '5b0e1a9e-8f3c-4f7e-9a51-0c2b7d1e4f60',
      status: 'failed',
      createdDateTime: '2021-04-05T08:22:37Z',
      lastActionDateTime: '2021-04-06T08:22:37Z',
      description: 'verified safe',
      action: 'enableAccount',
      account: 'soar-playbook',
      tasks: [
        {
          iam: 'OPAD',
          accountName: 'jdoe@corp.example',
          status: 'succeeded',
          lastActionDateTime: '2021-04-05T08:23:00Z',
          provider: 'corp-ad',
          outcome: 'enabled',
        },
        {
          iam: 'AAD',
          accountName: 'jdoe@corp.example',
          status: 'succeeded',
          lastActionDateTime: '2021-04-05T08:22:37Z',
          provider: 'entra',
          outcome: 'managedElsewhere',
        },
        {
          iam: 'OPENLDAP',
          accountName: 'jdoe@corp.example',
          status: 'failed',
          lastActionDateTime: '2021-04-05T08:22:37Z',
          error: {
            code: 'TaskError',
            message: expect.stringContaining('later Disable'),
            innererror: { code: 'superseded' },
          },
          provider: 'ldap',
          outcome: 'superseded',
        },
        {
          iam: 'OKTA',
          accountName: 'jdoe@corp.example',
          status: 'failed',
          lastActionDateTime: '2021-04-05T08:22:40Z',
          error: {
            code: 'TaskError',
            message: 'The token owner is never disabled.',
            innererror: { code: 'protectedAccount' },
          },
          provider: 'okta',
          outcome: null,
        },
        {
          iam: 'OPAD',
          accountName: 'jdoe@corp.example',
          status: 'succeeded',
          lastActionDateTime: '2021-04-05T08:22:37Z',
          provider: 'corp-ad-2',
          outcome: 'disabled',
          warnings: [{ code: 'sessionsNotRevoked', message: 'x' }],
        },
      ],
    });
  });

  it('says why a task failed when no directory does', () => {
    const view = toVisionOneTask(
      task({
        status: 'unsuccessful',
        error: { code: 'accountNotFound', message: 'Not found in any directory.' },
      }),
    );
    expect(view.error).toEqual({
      code: 'TaskError',
      message: 'Not found in any directory.',
      innererror: { code: 'accountNotFound' },
    });
  });
});
