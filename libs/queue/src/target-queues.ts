/**
 * One BullMQ queue per provider: each directory gets its own concurrency, limiter and rate-limit pauses, so
 * a slow or throttled directory never holds back the others. A job carries ids only; PostgreSQL holds the
 * state (the queue is a copy of what it knows and may be lost at any time).
 */
export interface TargetJobData {
  taskId: string;
  provider: string;
}

export const targetQueueName = (providerId: string): string => `targets-${providerId}`;

/** Deterministic, so that queuing the same target twice while its job exists is a no-op. No ':' allowed. */
export const targetJobId = (taskId: string, provider: string): string => `${taskId}__${provider}`;

export const DEFAULT_MAX_ATTEMPTS = 5;
export const BACKOFF_BASE_MS = 1000;
