import { conflict, DomainError } from './domain-error';
import { AccountState, ProviderKind, TaskAction, TaskStatus } from './task.types';

/** A task that names the same account as a new Enable request (CONTRACT §4.1 ordering). */
export interface RelatedTask {
  id: string;
  action: TaskAction;
  status: TaskStatus;
}

/**
 * One Disable target that changed, or may have changed, one directory object, and that no Enable has reversed
 * yet. The engine records `priorState` under the object lock right before the first write (or on finding the
 * account already disabled), and `actedSeq` orders those moments across tasks, so "earliest" means the first
 * Disable that actually reached the object, not the first one accepted.
 */
export interface DisableRecord {
  targetId: string;
  disableTaskId: string;
  provider: string;
  kind: ProviderKind;
  objectId: string | null;
  objectRef: string;
  priorState: AccountState;
  actedSeq: number;
}

export interface PlannedEnableTarget {
  provider: string;
  kind: ProviderKind;
  objectId: string | null;
  objectRef: string;
  status: 'pending' | 'skipped';
  outcome: 'leftDisabled' | null;
  /** The Disable targets this target reverses once it succeeds (or at once, when it leaves the account disabled). */
  reverses: string[];
}

export interface EnablePlan {
  /** The Disable task whose change reached the account first: the one shown as the Enable's `disableTaskId`. */
  disableTaskId: string;
  targets: PlannedEnableTarget[];
}

/**
 * CONTRACT §4.1: no Enable while a Disable of the account is running (the Disable asked later than whatever
 * the Enable would restore), and at most one Enable in progress per account, whichever door it came through.
 */
export function assertNoTaskInProgress(related: readonly RelatedTask[]): void {
  const disable = related.find((t) => t.action === 'disableAccount' && t.status === 'inProgress');
  if (disable) {
    throw conflict(
      'taskInProgress',
      `The Disable User Account task ${disable.id} for this account is still in progress; enable the account once it has ended.`,
      { taskId: disable.id },
    );
  }
  const enable = related.find((t) => t.action === 'enableAccount' && t.status === 'inProgress');
  if (enable) throw enableInProgress(enable.id);
}

/** 409 `taskInProgress`: an Enable of the account (this task) is already in progress. */
export function enableInProgress(taskId: string): DomainError {
  return conflict('taskInProgress', 'An Enable User Account task for this account is already in progress.', {
    taskId,
  });
}

/**
 * What an Enable restores (CONTRACT §4.1), per directory object: the state recorded before acting by the
 * earliest Disable whose change there has not been reversed. Enabled before → enable; already disabled before
 * → leave it disabled (`leftDisabled`). Every unreversed Disable of the object is reversed by this one Enable.
 *
 * `records` are the unreversed Disable records of the account. Two different objects in one directory mean the
 * identifier named two accounts over time: the caller must pick one Disable task (409 ambiguousAccount).
 */
export function planEnable(records: readonly DisableRecord[], everDisabled: boolean): EnablePlan {
  if (records.length === 0) {
    throw conflict(
      'noPriorDisableTask',
      everDisabled
        ? 'Every change made by the Disable User Account tasks for this account has already been reversed.'
        : 'This account has no successful or partially successful Disable User Account task.',
    );
  }
  const byProvider = new Map<string, DisableRecord[]>();
  for (const r of records) byProvider.set(r.provider, [...(byProvider.get(r.provider) ?? []), r]);
  const ambiguous = [...byProvider.values()].filter((rs) => new Set(rs.map((r) => r.objectRef)).size > 1);
  if (ambiguous.length > 0) {
    const candidates = [...new Set(ambiguous.flat().map((r) => r.disableTaskId))].sort();
    throw conflict(
      'ambiguousAccount',
      `This identifier was disabled as different accounts in ${ambiguous.map((rs) => rs[0].provider).join(', ')}; ` +
        'enable through one Disable task (POST /api/v1/tasks/{disableTaskId}/enable).',
      { candidates },
    );
  }
  const targets: PlannedEnableTarget[] = [];
  for (const [provider, rs] of [...byProvider.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const earliest = rs.reduce((a, b) => (b.actedSeq < a.actedSeq ? b : a));
    const restore = earliest.priorState === 'enabled';
    targets.push({
      provider,
      kind: earliest.kind,
      objectId: earliest.objectId,
      objectRef: earliest.objectRef,
      status: restore ? 'pending' : 'skipped',
      outcome: restore ? null : 'leftDisabled',
      reverses: rs.map((r) => r.targetId),
    });
  }
  const first = records.reduce((a, b) => (b.actedSeq < a.actedSeq ? b : a));
  return { disableTaskId: first.disableTaskId, targets };
}
