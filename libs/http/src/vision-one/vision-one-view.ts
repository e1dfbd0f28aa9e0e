import type { ProviderKind, TargetOutcome } from '@app/domain';
import type { TargetView, TaskView } from '@app/engine';

/**
 * The task as Vision One shows a response task (CONTRACT §6; Trend's mock-up `get_task_*.json` and pytmv1's
 * `AccountTaskResp`). Vision One's own fields come first and keep its names and formats; `provider`,
 * `outcome`, `warnings` and `innererror` are this engine's additions, which Vision One clients ignore.
 */
export interface VisionOneTask {
  id: string;
  status: VisionOneStatus;
  createdDateTime: string;
  lastActionDateTime: string;
  description: string | null;
  action: TaskView['action'];
  /** Vision One's meaning: who created the task (here, the API key's name). The account acted on is `tasks[].accountName`. */
  account: string;
  tasks: VisionOneSubTask[];
  /** Why a task failed as a whole, when no directory says (a Disable that found the account nowhere). */
  error?: VisionOneError;
}

export interface VisionOneSubTask {
  iam: VisionOneIam;
  accountName: string;
  status: VisionOneStatus;
  lastActionDateTime: string;
  error?: VisionOneError;
  provider: string;
  outcome: TargetOutcome | null;
  warnings?: Array<{ code: string; message: string }>;
}

export interface VisionOneError {
  code: string;
  message: string;
  /** The engine's own error code (the native API's), and its details, under Vision One's coarser code. */
  innererror?: { code: string; [detail: string]: unknown };
}

/**
 * Only these four: pytmv1 validates the status against its enum, and older versions of it know neither
 * `canceled` nor `pendingApproval`, so a superseded or cancelled directory is reported as `failed`.
 */
export const VISION_ONE_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type VisionOneStatus = (typeof VISION_ONE_STATUSES)[number];

export const VISION_ONE_IAMS = ['AAD', 'OPAD', 'OKTA', 'OPENLDAP'] as const;
export type VisionOneIam = (typeof VISION_ONE_IAMS)[number];

/** `AAD` and `OPAD` are Vision One's (pytmv1 `Iam`); Vision One publishes no codes for Okta and OpenLDAP. */
export const IAM_BY_KIND: Record<ProviderKind, VisionOneIam> = {
  entraId: 'AAD',
  activeDirectory: 'OPAD',
  okta: 'OKTA',
  openLdap: 'OPENLDAP',
};

/** Vision One writes times to the second, in UTC: `2021-04-05T08:22:37Z`. */
export function visionOneTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Mirrors TARGET_HAS_STARTED (libs/persistence task-search.store.ts), which the `status eq 'queued'` and
 * `'running'` filters use: a listing must never disagree with the task it lists.
 */
export function hasStarted(task: TaskView): boolean {
  return task.targets.some(
    (t) =>
      t.startedAt !== null || t.status === 'running' || t.status === 'succeeded' || t.status === 'failed',
  );
}

export function visionOneStatus(task: TaskView): VisionOneStatus {
  switch (task.status) {
    case 'successful':
      return 'succeeded';
    case 'partiallySuccessful':
    case 'unsuccessful':
      // Vision One's API has no "partially successful": the task failed, and `tasks[]` says where.
      return 'failed';
    case 'inProgress':
      return hasStarted(task) ? 'running' : 'queued';
  }
}

const STOPPED_MESSAGES: Partial<Record<TargetOutcome, string>> = {
  superseded: 'Stopped before it acted here: a later Disable User Account task for this account took over.',
  cancelled: 'Cancelled before it acted here.',
};

function subTaskStatus(t: TargetView): VisionOneStatus {
  switch (t.status) {
    case 'pending':
      return 'queued';
    case 'running':
      return 'running';
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'skipped':
      // Stopped targets count as not done (CONTRACT §4.1). The other skips (account absent here, managed by
      // another directory, left disabled as it was) are this directory already being as asked: not a failure.
      return t.outcome && STOPPED_MESSAGES[t.outcome] ? 'failed' : 'succeeded';
  }
}

function subTaskError(t: TargetView): VisionOneError | undefined {
  if (t.error) {
    return { code: 'TaskError', message: t.error.message, innererror: { code: t.error.code } };
  }
  const stopped = t.status === 'skipped' && t.outcome ? STOPPED_MESSAGES[t.outcome] : undefined;
  if (stopped && t.outcome) return { code: 'TaskError', message: stopped, innererror: { code: t.outcome } };
  return undefined;
}

export function toVisionOneTask(task: TaskView): VisionOneTask {
  const view: VisionOneTask = {
    id: task.id,
    status: visionOneStatus(task),
    createdDateTime: visionOneTime(task.createdAt),
    lastActionDateTime: visionOneTime(task.updatedAt),
    description: task.description,
    action: task.action,
    account: task.createdBy,
    tasks: task.targets.map((t) => {
      const error = subTaskError(t);
      return {
        iam: IAM_BY_KIND[t.kind],
        accountName: task.account,
        status: subTaskStatus(t),
        lastActionDateTime: visionOneTime(t.finishedAt ?? t.startedAt ?? task.createdAt),
        ...(error ? { error } : {}),
        provider: t.provider,
        outcome: t.outcome,
        ...(t.warnings.length ? { warnings: t.warnings } : {}),
      };
    }),
  };
  if (task.error) {
    view.error = { code: 'TaskError', message: task.error.message, innererror: { code: task.error.code } };
  }
  return view;
}
