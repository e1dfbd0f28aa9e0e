import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import helmet from 'helmet';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig, ConfigModule } from '@app/config';
import { ADAXES_BASE_PATH, adaxesBodyParser, HttpApiModule, setupOpenApi } from '@app/http';
import { AppLogger, LoggingModule } from '@app/logging';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';
import { WebhooksApiModule } from '@app/webhooks';

@Module({})
export class ApiAppModule {
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: ApiAppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        PersistenceModule,
        QueueModule,
        HttpApiModule,
        WebhooksApiModule,
      ],
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
  // The Adaxes-style door reads its own bodies first: its clients' examples send what a strict JSON parser
  // refuses (single-quoted .NET JSON, Windows-1252 text); see adaxesBodyParser.
  app.use(ADAXES_BASE_PATH, adaxesBodyParser());
  // Tasks are small; a large body is a mistake or an attack.
  app.useBodyParser('json', { limit: '64kb' });
  app.disable('x-powered-by');
  app.use(securityHeaders());
  app.enableShutdownHooks();
  setupOpenApi(app);
  return app;
}

/**
 * Standard security headers (helmet). The API serves JSON only, except the Swagger UI at /api/docs, which
 * loads its own scripts and styles from this origin and sets a few inline styles: the policy allows exactly
 * that, and nothing from elsewhere.
 */
function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  });
}
