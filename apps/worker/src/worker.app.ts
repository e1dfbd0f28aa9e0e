import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig, ConfigModule } from '@app/config';
import { EngineWorkerModule } from '@app/engine';
import { WorkerHttpModule } from '@app/http';
import { AppLogger, LoggingModule } from '@app/logging';
import { MetricsModule } from '@app/metrics';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';
import { WebhooksWorkerModule } from '@app/webhooks';

@Module({})
export class WorkerAppModule {
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: WorkerAppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        PersistenceModule,
        QueueModule,
        MetricsModule,
        EngineWorkerModule,
        WebhooksWorkerModule,
        WorkerHttpModule,
      ],
    };
  }
}

/**
 * The worker process: runs target jobs against the directories (as Twenty's queue-worker). Its only HTTP surface
 * is the small listener on WORKER_PORT for metrics and probes (WorkerHttpModule).
 */
export async function createWorkerApplication(config?: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerAppModule.forRoot(config), {
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger).child('worker'));
  app.enableShutdownHooks();
  return app;
}
