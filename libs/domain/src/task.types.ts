/** Vocabulary of CONTRACT §4. Kept as string unions so they serialise as-is in the API and the database. */
export const TASK_ACTIONS = ['disableAccount', 'enableAccount'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

export const TASK_STATUSES = ['inProgress', 'successful', 'partiallySuccessful', 'unsuccessful'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TARGET_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

export const PROVIDER_KINDS = ['activeDirectory', 'openLdap', 'entraId', 'okta'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** What a directory did (or found) for one target. */
export type TargetOutcome =
  | 'disabled'
  | 'alreadyDisabled'
  | 'enabled'
  | 'alreadyEnabled'
  | 'leftDisabled'
  | 'notFound'
  | 'managedElsewhere';

export interface TargetError {
  code: string;
  message: string;
}

export function isFinalTaskStatus(status: TaskStatus): boolean {
  return status !== 'inProgress';
}

export function isFinalTargetStatus(status: TargetStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'skipped';
}
