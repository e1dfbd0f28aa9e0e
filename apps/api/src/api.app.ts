import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig, ConfigModule } from '@app/config';
import { HttpApiModule, setupOpenApi } from '@app/http';
import { AppLogger, LoggingModule } from '@app/logging';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';

@Module({})
export class ApiAppModule {
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: ApiAppModule,
      imports: [ConfigModule.forRoot(config), LoggingModule, PersistenceModule, QueueModule, HttpApiModule],
    };
  }
}

/** The API process: HTTP only; it writes tasks to PostgreSQL and queues their targets. */
export async function createApiApplication(config?: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiAppModule.forRoot(config), {
    bufferLogs: true,
    bodyParser: false,
  });
  const logger = app.get(AppLogger).child('api');
  app.useLogger(logger);
  // Tasks are small; a large body is a mistake or an attack.
  app.useBodyParser('json', { limit: '64kb' });
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  setupOpenApi(app);
  return app;
}
