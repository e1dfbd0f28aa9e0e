import { BucketReading, RateGate } from '../rate-gate';

/**
 * Okta's rate-limit buckets that this engine's calls fall into, after "Management rate limits"
 * (developer.okta.com/docs/reference/rl-global-mgmt): limits apply per endpoint family, each with its own
 * X-Rate-Limit-* headers. The names are ours; the families are Okta's.
 */
export type OktaBucket =
  /** "Get a user by ID or sign in": only GET /api/v1/users/{idOrLogin}. */
  | 'user-get'
  /** "Create or list users": only GET or POST to /api/v1/users (search included). */
  | 'users-list'
  /** "Update or delete a user by ID" (POST, PUT, DELETE /api/v1/users/{id}), and the lifecycle operations. */
  | 'user-lifecycle'
  /** DELETE /api/v1/users/{id}/sessions, which Okta counts under "Most other API actions: /api/v1". */
  | 'user-sessions'
  /** Everything else under /api/v1 ("Most other API actions"). */
  | 'api-v1'
  /** The org authorization server's token endpoint. */
  | 'oauth2';

export function oktaBucketOf(method: string, url: string): OktaBucket {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url;
  }
  const segments = path.split('/').filter(Boolean);
  const m = method.toUpperCase();
  if (segments[0] === 'oauth2') return 'oauth2';
  if (segments[0] !== 'api' || segments[1] !== 'v1' || segments[2] !== 'users') return 'api-v1';
  if (segments.length === 3) return 'users-list';
  if (segments.length === 4) return m === 'GET' ? 'user-get' : 'user-lifecycle';
  if (segments[4] === 'lifecycle') return 'user-lifecycle';
  if (segments[4] === 'sessions') return 'user-sessions';
  return 'api-v1';
}

/**
 * What one Disable asks of Okta: the user read to resolve it, read again under the object lock, read back after
 * the suspend; one suspend; one sessions clear. An Enable needs one bucket less, and reserves it for nothing.
 */
export const OKTA_REQUESTS_PER_TARGET: Readonly<Partial<Record<OktaBucket, number>>> = {
  'user-get': 3,
  'user-lifecycle': 1,
  'user-sessions': 1,
};

interface HeaderSource {
  get(name: string): string | null;
}

/**
 * The bucket's state from an answer's X-Rate-Limit-* headers. The window's end is turned into local time with
 * Okta's own Date header (as the SDK does for its retries), so a skewed local clock does not move it; Date has
 * whole seconds, which makes the estimate late by under a second, never early.
 */
export function oktaBucketReading(headers: HeaderSource, now = Date.now()): BucketReading | undefined {
  const limit = Number.parseInt(headers.get('x-rate-limit-limit') ?? '', 10);
  const remaining = Number.parseInt(headers.get('x-rate-limit-remaining') ?? '', 10);
  const reset = Number.parseInt(headers.get('x-rate-limit-reset') ?? '', 10);
  if (![limit, remaining, reset].every(Number.isFinite)) return undefined;
  const serverNow = Date.parse(headers.get('date') ?? '');
  const resetAt = Number.isFinite(serverNow) ? now + (reset * 1000 - serverNow) : reset * 1000;
  return { limit, remaining, resetAt };
}

export function oktaRateGate(maxInlineWaitMs: number): RateGate {
  return new RateGate(OKTA_REQUESTS_PER_TARGET as Record<string, number>, maxInlineWaitMs);
}
