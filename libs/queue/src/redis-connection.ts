import type { RedisOptions } from 'bullmq';

/** REDIS_URL (redis:// or rediss://) as ioredis options, with what BullMQ workers require. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // BullMQ's blocking commands must not be cut short by ioredis' per-request retry limit.
    maxRetriesPerRequest: null,
  };
}
