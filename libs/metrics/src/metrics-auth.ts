import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * METRICS_TOKEN unset: /metrics is open, like /health (keep it off the public network). Set: a scrape must send
 * `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting).
 */
export function metricsAuthorized(authorization: unknown, token: string | null | undefined): boolean {
  if (!token) return true;
  if (typeof authorization !== 'string') return false;
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) return false;
  // Compared as digests, so neither the length nor a prefix of the token leaks through timing.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]), digest(token));
}
