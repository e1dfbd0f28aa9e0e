/**
 * One BullMQ queue per provider: each directory gets its own concurrency, limiter and rate-limit pauses, so
 * a slow or throttled directory never holds back the others. A job carries ids only; PostgreSQL holds the
 * state (the queue is a copy of what it knows and may be lost at any time).
 */
export interface TargetJobData {
  taskId: string;
  provider: string;
}

/**
 * Several targets of one provider in one job (a bulk's, on a directory without a pacer): BullMQ's own cost,
 * about a third of a millisecond per job in Redis and in the worker, is paid once per chunk. A chunk only
 * starts its targets; any that must wait or be tried again goes on as a job of its own (TargetJobData).
 */
export interface ChunkJobData {
  provider: string;
  taskIds: string[];
}

export type ProviderJobData = TargetJobData | ChunkJobData;

export const TARGET_JOB = 'target';
export const CHUNK_JOB = 'chunk';

/** Targets per chunk job: enough to make BullMQ's share small, few enough that a retried chunk redoes little. */
export const CHUNK_SIZE = 50;

export const isChunk = (data: ProviderJobData): data is ChunkJobData => 'taskIds' in data;

export const targetQueueName = (providerId: string): string => `targets-${providerId}`;

/** Deterministic, so that queuing the same target twice while its job exists is a no-op. No ':' allowed. */
export const targetJobId = (taskId: string, provider: string): string => `${taskId}__${provider}`;

const CHUNK_PREFIX = 'chunk__';

/** Named after its first target, so that queuing the same chunk twice is a no-op too. */
export const chunkJobId = (firstTaskId: string, provider: string): string =>
  `${CHUNK_PREFIX}${firstTaskId}__${provider}`;

export const isChunkJobId = (jobId: string): boolean => jobId.startsWith(CHUNK_PREFIX);

export const DEFAULT_MAX_ATTEMPTS = 5;
export const BACKOFF_BASE_MS = 1000;
