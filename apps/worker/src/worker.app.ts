import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig, ConfigModule } from '@app/config';
import { EngineWorkerModule } from '@app/engine';
import { AppLogger, LoggingModule } from '@app/logging';
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
        EngineWorkerModule,
        WebhooksWorkerModule,
      ],
    };
  }
}

/** The worker process: no HTTP server; runs target jobs against the directories (as Twenty's queue-worker). */
export async function createWorkerApplication(config?: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerAppModule.forRoot(config), {
    bufferLogs: true,
  });
  app.useLogger(app.get(AppLogger).child('worker'));
  app.enableShutdownHooks();
  return app;
}
