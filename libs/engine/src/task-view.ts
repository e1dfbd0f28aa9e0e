import type { ProviderKind, TargetOutcome, TargetStatus, TaskAction, TaskStatus } from '@app/domain';
import type { TaskEntity, TaskTargetEntity } from '@app/persistence';

export interface TargetView {
  provider: string;
  kind: ProviderKind;
  status: TargetStatus;
  outcome: TargetOutcome | null;
  objectId: string | null;
  attempts: number;
  error: { code: string; message: string } | null;
  /** Follow-ups that failed after the change landed (e.g. sessions not revoked); the target still succeeded. */
  warnings: Array<{ code: string; message: string }>;
  startedAt: string | null;
  finishedAt: string | null;
}

/** The task as every door shows it (CONTRACT §5 task JSON); the webhook payload is this too. */
export interface TaskView {
  id: string;
  action: TaskAction;
  status: TaskStatus;
  account: string;
  description: string | null;
  disableTaskId: string | null;
  /** The bulk request that created it (CONTRACT §5), if any. */
  batchId: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  error: { code: string; message: string } | null;
  targets: TargetView[];
}

const iso = (d: Date | string | null): string | null => (d ? new Date(d).toISOString() : null);

export function toTargetView(t: TaskTargetEntity): TargetView {
  return {
    provider: t.provider,
    kind: t.kind,
    status: t.status,
    outcome: t.outcome,
    objectId: t.objectId,
    attempts: t.attempts,
    error: t.errorCode ? { code: t.errorCode, message: t.errorMessage ?? '' } : null,
    warnings: t.warnings ?? [],
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
  };
}

export function toTaskView(task: TaskEntity): TaskView {
  return {
    id: task.id,
    action: task.action,
    status: task.status,
    account: task.account,
    description: task.description,
    disableTaskId: task.disableTaskId,
    batchId: task.batchId ?? null,
    createdBy: task.createdBy,
    createdAt: iso(task.createdAt) as string,
    updatedAt: iso(task.updatedAt) as string,
    completedAt: iso(task.completedAt),
    error: task.errorCode ? { code: task.errorCode, message: task.errorMessage ?? '' } : null,
    targets: (task.targets ?? []).map(toTargetView),
  };
}
