import type { TaskEntity, TaskTargetEntity } from '@app/persistence';
import { toTaskPreview } from './task-preview';

const target = (over: Partial<TaskTargetEntity>): TaskTargetEntity =>
  ({
    provider: 'p',
    kind: 'openLdap',
    status: 'pending',
    outcome: null,
    objectId: null,
    attempts: 0,
    errorCode: null,
    errorMessage: null,
    warnings: [],
    startedAt: null,
    finishedAt: null,
    ...over,
  }) as TaskTargetEntity;

const task = (action: TaskEntity['action'], targets: TaskTargetEntity[]): TaskEntity =>
  ({
    id: '5b0c7f1e-1111-4e2b-9a3c-5d6e7f8091a2',
    action,
    status: 'inProgress',
    account: 'jdoe',
    description: null,
    disableTaskId: null,
    createdBy: 'cli',
    createdAt: new Date(),
    updatedAt: new Date(),
    completedAt: null,
    errorCode: null,
    errorMessage: null,
    targets,
  }) as unknown as TaskEntity;

describe('toTaskPreview', () => {
  it('has no id, says it is a dry run, and plans a disable on every pending target of a Disable', () => {
    const preview = toTaskPreview(
      task('disableAccount', [target({ provider: 'a' }), target({ provider: 'b' })]),
    );
    expect(preview.id).toBeNull();
    expect(preview.dryRun).toBe(true);
    expect(preview.targets.map((t) => t.plannedAction)).toEqual(['disable', 'disable']);
  });

  it('plans enable, leaveDisabled, or nothing for a target that fails at once', () => {
    const preview = toTaskPreview(
      task('enableAccount', [
        target({ provider: 'a' }),
        target({ provider: 'b', status: 'skipped', outcome: 'leftDisabled' }),
        target({ provider: 'c', status: 'failed', errorCode: 'providerNotConfigured', errorMessage: 'gone' }),
      ]),
    );
    expect(preview.targets.map((t) => [t.provider, t.plannedAction])).toEqual([
      ['a', 'enable'],
      ['b', 'leaveDisabled'],
      ['c', 'none'],
    ]);
  });
});
