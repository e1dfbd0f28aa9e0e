import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import IORedis from 'ioredis';
import { APP_CONFIG, AppConfig } from '@app/config';
import { formatRateLimit, RateLimit } from '@app/domain';
import { AppLogger } from '@app/logging';

/**
 * Per-key request rate limit (API_RATE_LIMIT), shared by every API process through Redis: a fixed window
 * per key, one INCR per request. It fails open: if Redis cannot answer, requests go through (and a warning
 * is logged), because refusing an analyst mid-incident for a cache outage would be worse than a burst.
 */
@Injectable()
export class RequestRateLimiter implements OnModuleDestroy {
  private readonly limit: RateLimit | null;
  private readonly redis: IORedis | null;
  private readonly prefix: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly logger: AppLogger,
  ) {
    this.limit = config.apiRateLimit ?? null;
    this.prefix = `${config.queuePrefix}:ratelimit`;
    this.redis = this.limit
      ? new IORedis(config.redisUrl, {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
        })
      : null;
    this.redis?.on('error', () => undefined); // reported per request below, not as an unhandled event
  }

  /** Null when the request may go on; otherwise the seconds until the key's window ends. */
  async check(keyId: string): Promise<{ retryAfterSeconds: number; limit: string } | null> {
    if (!this.limit || !this.redis) return null;
    const windowMs = this.limit.windowSeconds * 1000;
    const window = Math.floor(Date.now() / windowMs);
    const key = `${this.prefix}:${keyId}:${window}`;
    try {
      if (this.redis.status === 'wait' || this.redis.status === 'end') await this.redis.connect();
      const [[, count]] = (await this.redis
        .multi()
        .incr(key)
        .pexpire(key, windowMs + 1000)
        .exec()) as [[Error | null, number]];
      if (count <= this.limit.max) return null;
      const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * windowMs - Date.now()) / 1000));
      return { retryAfterSeconds, limit: formatRateLimit(this.limit) };
    } catch (e) {
      this.logger.warn('rate limit not checked: Redis did not answer', { error: (e as Error).message });
      return null;
    }
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
