import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { json } from 'express';
import helmet from 'helmet';
import { randomUUID } from 'node:crypto';
import { Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig, ConfigModule } from '@app/config';
import {
  ADAXES_BASE_PATH,
  adaxesBodyParser,
  HttpApiModule,
  MetricsController,
  requestContextMiddleware,
  setupOpenApi,
} from '@app/http';
import { AppLogger, LoggingModule } from '@app/logging';
import { AppMetrics, MetricsModule } from '@app/metrics';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';
import { WebhooksApiModule } from '@app/webhooks';

const BULK_PATHS = ['/api/v1/tasks/disable-accounts', '/api/v1/tasks/enable-accounts'];

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
        MetricsModule,
        HttpApiModule,
        WebhooksApiModule,
      ],
      controllers: [MetricsController],
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
  // First of all: every response gets its X-Request-Id, and every log line of the request carries it, even
  // when a body parser refuses the body before Nest sees the request.
  app.use(requestContextMiddleware({ logger, metrics: app.get(AppMetrics) }));
  // The Adaxes-style door reads its own bodies first: its clients' examples send what a strict JSON parser
  // refuses (single-quoted .NET JSON, Windows-1252 text); see adaxesBodyParser.
  app.use(ADAXES_BASE_PATH, adaxesBodyParser());
  // Tasks are small; a large body is a mistake or an attack. The two bulk routes take up to 10,000 accounts
  // (CONTRACT §5: bodies up to 2 MB there, and only there).
  for (const path of BULK_PATHS) app.use(path, json({ limit: '2mb' }));
  app.useBodyParser('json', { limit: '64kb' });
  app.disable('x-powered-by');
  app.use(securityHeaders());
  answerParserErrors(app.getHttpServer() as Server);
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

/**
 * Requests Node's HTTP parser refuses (a header section over 16 kB, a raw non-ASCII path) never reach Nest,
 * and Node would answer them with an empty 400/431. They get the error envelope and a request id too.
 */
function answerParserErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({
      error:
        status === 431
          ? { code: 'headersTooLarge', message: 'The request headers are larger than 16 kB.' }
          : { code: 'badRequest', message: 'The request could not be parsed as HTTP.' },
    });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
