import { TargetStatus, TaskAction, TaskStatus } from './task.types';

export interface RollUp {
  status: TaskStatus;
  /** Set only when the task as a whole failed for a reason no single target carries. */
  errorCode: string | null;
}

/**
 * CONTRACT §4 roll-up. `skipped` targets never count: a Disable with nothing left to count found the
 * account nowhere (unsuccessful, accountNotFound); an Enable with nothing left had nothing to restore.
 */
export function rollUp(action: TaskAction, statuses: readonly TargetStatus[]): RollUp {
  if (statuses.some((s) => s === 'pending' || s === 'running'))
    return { status: 'inProgress', errorCode: null };
  const counted = statuses.filter((s) => s !== 'skipped');
  if (counted.length === 0) {
    return action === 'disableAccount'
      ? { status: 'unsuccessful', errorCode: 'accountNotFound' }
      : { status: 'successful', errorCode: null };
  }
  const succeeded = counted.filter((s) => s === 'succeeded').length;
  if (succeeded === counted.length) return { status: 'successful', errorCode: null };
  if (succeeded === 0) return { status: 'unsuccessful', errorCode: null };
  return { status: 'partiallySuccessful', errorCode: null };
}
