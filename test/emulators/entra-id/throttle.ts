import { EmulatorRequest, EmulatorResponse, graphError } from './responses';

/** A quota: `limit` units per `periodMs`, refilled continuously (Graph's "token bucket algorithm"). */
export interface GraphQuota {
  limit: number;
  periodMs: number;
}

/**
 * Microsoft Graph's throttling of the identity and access service (learn.microsoft.com/graph/throttling-limits,
 * "Identity and access service limits"), per application+tenant pair: a resource-unit quota over every request
 * and a write quota over POST, PATCH, PUT and DELETE. For example S: 3,500 RU per 10 s, M: 5,000, L: 8,000; writes
 * 3,000 per 2 minutes 30 seconds.
 */
export interface GraphThrottleOptions {
  resourceUnits?: GraphQuota;
  writes?: GraphQuota;
  /** Start with every quota spent (an app that has been busy), rather than full. */
  startEmpty?: boolean;
}

interface Bucket {
  quota: GraphQuota;
  tokens: number;
  at: number;
}

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

/**
 * Base resource-unit cost of a request (the page's table, for the paths the users API has): GET /users costs 2,
 * every other user request 1; `$select` lowers it by 1, `$top` under 20 by 1, never below 1.
 */
export function resourceUnitCost(method: string, path: string, query: URLSearchParams): number {
  let cost = method === 'GET' && /\/users\/?$/.test(path) ? 2 : 1;
  if (query.has('$select')) cost--;
  const top = Number(query.get('$top'));
  if (query.has('$top') && top < 20) cost--;
  return Math.max(1, cost);
}

export class GraphThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: GraphThrottleOptions) {}

  /**
   * Takes the request's cost from its app's quotas, or answers Graph's 429: `TooManyRequests` with Retry-After
   * (whole seconds until the quota has room) and the x-ms-throttle-scope / -information headers. A throttled
   * request costs nothing.
   */
  take(req: EmulatorRequest, appId: string, tenantId: string): EmulatorResponse | null {
    const now = Date.now();
    const write = WRITE_METHODS.has(req.method.toUpperCase());
    const needs: Array<{ key: string; quota: GraphQuota; cost: number; limit: string; info: string }> = [];
    if (this.options.resourceUnits) {
      needs.push({
        key: `ru/${appId}`,
        quota: this.options.resourceUnits,
        cost: resourceUnitCost(req.method.toUpperCase(), req.path, req.query),
        limit: 'ReadWrite',
        info: 'ResourceUnitLimitExceeded',
      });
    }
    if (write && this.options.writes) {
      needs.push({
        key: `w/${appId}`,
        quota: this.options.writes,
        cost: 1,
        limit: 'Write',
        info: 'WriteLimitExceeded',
      });
    }
    const buckets = needs.map((n) => ({ ...n, bucket: this.refill(n.key, n.quota, now) }));
    const short = buckets.find((b) => b.bucket.tokens < b.cost);
    if (!short) {
      for (const b of buckets) b.bucket.tokens -= b.cost;
      return null;
    }
    const missing = short.cost - short.bucket.tokens;
    const waitMs = (missing * short.quota.periodMs) / short.quota.limit;
    const res = graphError(429, 'TooManyRequests', 'Too many requests.', req.headers['client-request-id']);
    return {
      ...res,
      headers: {
        ...res.headers,
        'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))),
        'x-ms-throttle-scope': `Tenant_Application/${short.limit}/${appId}/${tenantId}`,
        'x-ms-throttle-information': short.info,
      },
    };
  }

  private refill(key: string, quota: GraphQuota, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = { quota, tokens: this.options.startEmpty ? 0 : quota.limit, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(quota.limit, b.tokens + ((now - b.at) * quota.limit) / quota.periodMs);
    b.at = now;
    return b;
  }
}
