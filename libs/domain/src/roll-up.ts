import { STOPPED_OUTCOMES, TargetOutcome, TargetStatus, TaskAction, TaskStatus } from './task.types';

export interface RollUp {
  status: TaskStatus;
  /** Set only when the task as a whole failed for a reason no single target carries. */
  errorCode: string | null;
}

export interface TargetFacts {
  status: TargetStatus;
  outcome: TargetOutcome | null;
}

/**
 * CONTRACT §4 roll-up. `skipped` targets do not count (not found, managed elsewhere, left disabled as before
 * the incident), except those the engine stopped (`superseded`, `cancelled`): they count as not done. A
 * Disable with nothing left to count found the account nowhere (unsuccessful, accountNotFound); an Enable with
 * nothing left had nothing to restore (successful).
 */
export function rollUp(action: TaskAction, targets: readonly TargetFacts[]): RollUp {
  if (targets.some((t) => t.status === 'pending' || t.status === 'running'))
    return { status: 'inProgress', errorCode: null };
  const counted = targets.filter(
    (t) => t.status !== 'skipped' || (t.outcome !== null && STOPPED_OUTCOMES.includes(t.outcome)),
  );
  if (counted.length === 0) {
    return action === 'disableAccount'
      ? { status: 'unsuccessful', errorCode: 'accountNotFound' }
      : { status: 'successful', errorCode: null };
  }
  const succeeded = counted.filter((t) => t.status === 'succeeded').length;
  if (succeeded === counted.length) return { status: 'successful', errorCode: null };
  if (succeeded === 0) return { status: 'unsuccessful', errorCode: null };
  return { status: 'partiallySuccessful', errorCode: null };
}
