import { conflict } from './domain-error';
import { ProviderKind, TargetOutcome, TargetStatus, TaskStatus } from './task.types';

export interface DisableTargetFacts {
  provider: string;
  kind: ProviderKind;
  status: TargetStatus;
  outcome: TargetOutcome | null;
  objectId: string | null;
  /** The identifier the directory's adapter chose as stable (GUID, entryUUID, object id, Okta id). */
  objectRef: string | null;
}

export interface DisableTaskFacts {
  id: string;
  status: TaskStatus;
  createdAt: Date;
  /** Id of a `successful` Enable task that reversed this Disable task, if any. */
  reversedBy: string | null;
  /** Id of an Enable task for it still `inProgress`, if any. */
  enableInProgress: string | null;
  targets: DisableTargetFacts[];
}

const REVERSIBLE: readonly TaskStatus[] = ['successful', 'partiallySuccessful'];

/**
 * CONTRACT §4: an Enable needs a prior Disable that reached successful or partiallySuccessful and that no
 * successful Enable has reversed yet. Of several, the oldest wins: it is the one that saw the account as it
 * was before the incident, so it knows what to restore.
 */
export function chooseDisableTaskToReverse(candidates: readonly DisableTaskFacts[]): DisableTaskFacts {
  const inProgress = candidates.find((c) => c.enableInProgress !== null);
  if (inProgress) {
    throw conflict('taskInProgress', 'An Enable User Account task for this account is already in progress.', {
      taskId: inProgress.enableInProgress,
    });
  }
  const eligible = candidates
    .filter((c) => REVERSIBLE.includes(c.status) && c.reversedBy === null)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  if (eligible.length > 0) return eligible[0];

  const running = candidates.find((c) => c.status === 'inProgress');
  const message = running
    ? `The Disable User Account task ${running.id} for this account has not finished yet.`
    : candidates.some((c) => c.reversedBy !== null)
      ? 'Every Disable User Account task for this account has already been reversed by a successful Enable task.'
      : 'This account has no successful or partially successful Disable User Account task.';
  throw conflict('noPriorDisableTask', message, running ? { disableTaskId: running.id } : {});
}

export interface PlannedEnableTarget {
  provider: string;
  kind: ProviderKind;
  status: Extract<TargetStatus, 'pending' | 'skipped'>;
  outcome: TargetOutcome | null;
  objectId: string | null;
  objectRef: string | null;
}

/**
 * Restore the state before the incident: enable where the Disable changed the account, leave alone (and say
 * so) where it found the account already disabled, and do nothing where it did not act.
 */
export function planEnableTargets(disable: DisableTaskFacts): PlannedEnableTarget[] {
  const planned: PlannedEnableTarget[] = [];
  for (const t of disable.targets) {
    if (t.status !== 'succeeded') continue;
    const base = { provider: t.provider, kind: t.kind, objectId: t.objectId, objectRef: t.objectRef };
    if (t.outcome === 'disabled') planned.push({ ...base, status: 'pending', outcome: null });
    else if (t.outcome === 'alreadyDisabled')
      planned.push({ ...base, status: 'skipped', outcome: 'leftDisabled' });
  }
  return planned;
}
