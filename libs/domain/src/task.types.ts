/** Vocabulary of CONTRACT §4. Kept as string unions so they serialise as-is in the API and the database. */
export const TASK_ACTIONS = ['disableAccount', 'enableAccount'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

export const TASK_STATUSES = ['inProgress', 'successful', 'partiallySuccessful', 'unsuccessful'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TARGET_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

export const PROVIDER_KINDS = ['activeDirectory', 'openLdap', 'entraId', 'okta'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** What a directory did (or found) for one target; `superseded` and `cancelled` say the engine stopped it. */
export const TARGET_OUTCOMES = [
  'disabled',
  'alreadyDisabled',
  'enabled',
  'alreadyEnabled',
  'leftDisabled',
  'notFound',
  'managedElsewhere',
  'superseded',
  'cancelled',
] as const;
export type TargetOutcome = (typeof TARGET_OUTCOMES)[number];

/** Outcomes of `skipped` targets that count as not done in the roll-up (CONTRACT §4.1). */
export const STOPPED_OUTCOMES: readonly TargetOutcome[] = ['superseded', 'cancelled'];

/** The state of an account in one directory, as the engine records it before acting. */
export type AccountState = 'enabled' | 'disabled';

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

/**
 * Whether PostgreSQL's timestamptz can hold and compare this date: JavaScript dates reach years far outside
 * what it accepts, and a query given one fails ("timestamp out of range") instead of matching nothing.
 */
export function isStorableDate(d: Date): boolean {
  const year = d.getUTCFullYear();
  return !Number.isNaN(d.getTime()) && year >= 1 && year <= 9999;
}
