import { BeforeApplicationShutdown, Inject, Module, OnApplicationBootstrap } from '@nestjs/common';
import { getSharedConfigToken } from '@nestjs/bullmq';
import { QueueOptions } from 'bullmq';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DirectoryRegistry } from '@app/directories';
import { AppLogger } from '@app/logging';
import { TargetDispatcher, TargetWorkers } from '@app/queue';
import { Reconciler } from './reconciler';
import { TargetRunner } from './target-runner';

/**
 * What the worker process runs: one BullMQ worker per provider queue feeding the TargetRunner, and the
 * reconciler. On shutdown the workers finish their current jobs before the directory connections close.
 */
@Module({
  providers: [
    {
      provide: DirectoryRegistry,
      inject: [APP_CONFIG, AppLogger],
      useFactory: (config: AppConfig, logger: AppLogger) =>
        new DirectoryRegistry(config.providers, { logger }),
    },
    TargetRunner,
    Reconciler,
  ],
  exports: [DirectoryRegistry, TargetRunner, Reconciler],
})
export class EngineWorkerModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly workers: TargetWorkers;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(getSharedConfigToken()) bullOptions: QueueOptions,
    runner: TargetRunner,
    private readonly reconciler: Reconciler,
    private readonly registry: DirectoryRegistry,
    private readonly logger: AppLogger,
    dispatcher: TargetDispatcher,
  ) {
    this.workers = new TargetWorkers(
      bullOptions,
      runner,
      logger.child('worker'),
      (provider) => (registry.has(provider) ? registry.get(provider).pacer : undefined),
      (taskId, provider, delayMs) => dispatcher.handOff(taskId, provider, delayMs),
    );
  }

  onApplicationBootstrap(): void {
    this.workers.start(
      this.config.providers.map((p) => ({
        provider: p.id,
        concurrency: p.concurrency ?? this.config.workerConcurrency,
        rateLimit: p.rateLimit,
      })),
    );
    this.reconciler.start(this.config.reconcileIntervalMs);
    this.logger.info('worker started', { providers: this.registry.ids() });
  }

  /**
   * Before TypeORM closes its pool (it does so in onApplicationShutdown): jobs still running must be able to
   * record their results.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.reconciler.stop();
    await this.workers.close();
    await this.registry.closeAll();
  }
}
