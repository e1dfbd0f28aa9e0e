import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@app/config';
import { TargetDispatcher, workerLimiter } from '@app/queue';
import { AppMetrics, QueueJobCounts, TasksInProgress } from './app-metrics';

/**
 * Connects the gauges read at scrape time to Redis (BullMQ's job counts) and PostgreSQL (tasks in progress).
 * Both processes export them: each sees the same shared state, so dashboards take max() over instances.
 */
@Injectable()
export class MetricsSources {
  constructor(
    metrics: AppMetrics,
    dispatcher: TargetDispatcher,
    dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const providers = config.providers.map((p) => p.id);
    const limiterMax = new Map(config.providers.map((p) => [p.id, workerLimiter(p.rateLimit).max]));
    metrics.declareProviders(providers);
    metrics.readQueueJobsFrom(() =>
      Promise.all(
        providers.map(async (provider): Promise<QueueJobCounts> => {
          const queue = dispatcher.queue(provider);
          const [counts, paused, rateLimitedMs] = await Promise.all([
            queue.getJobCounts('waiting', 'active', 'delayed', 'failed'),
            queue.isPaused(),
            // With the workers' own limiter max, so an ordinary limiter window does not read as a rate limit.
            queue.getRateLimitTtl(limiterMax.get(provider)),
          ]);
          return { provider, counts, paused, rateLimitedMs };
        }),
      ),
    );
    metrics.readTasksInProgressFrom(async () => {
      const rows: Array<{ action: string; count: number; oldest: number }> = await dataSource.query(
        `SELECT action, count(*)::int AS count,
                COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest
           FROM tasks WHERE status = 'inProgress' GROUP BY action`,
      );
      return rows.map((r): TasksInProgress => ({
        action: r.action,
        count: r.count,
        oldestAgeSeconds: r.oldest,
      }));
    });
  }
}
