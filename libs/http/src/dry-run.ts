import { badRequest } from '@app/domain';

/**
 * `?dryRun=true` (CONTRACT §5): `true` or `false`, once. Anything else is refused, rather than read as false,
 * so that a caller who meant a rehearsal never gets a real task.
 */
export function parseDryRun(value: unknown): boolean {
  if (value === undefined) return false;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw badRequest('invalidQuery', 'dryRun must be true or false, given once');
}

/** Whether a request asks for a dry run (for the Idempotency-Key interceptor, which stores none). */
export function isDryRun(query: unknown): boolean {
  return !!query && typeof query === 'object' && (query as Record<string, unknown>).dryRun === 'true';
}

/**
 * The Vision One-style and Adaxes-style doors have no dry run in their vendors' APIs. A caller who adds one
 * anyway expects nothing to happen, so the request is refused instead of silently creating a real task.
 */
export function refuseDryRun(query: Record<string, unknown>): void {
  if (query.dryRun !== undefined) {
    throw badRequest(
      'dryRunNotSupported',
      'dryRun is offered by the native API only (POST /api/v1/tasks/…?dryRun=true); nothing was created.',
    );
  }
}
