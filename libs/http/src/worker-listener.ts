import { Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { AppMetrics, metricsAuthorized } from '@app/metrics';
import { HealthController } from './health.controller';
import { acceptRequestId, REQUEST_ID_HEADER } from './request-context.middleware';

/** A scrape or a probe is small and quick; a client that dawdles is cut off. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The worker's own HTTP listener on WORKER_PORT (CONTRACT §10): /metrics, /health/live and /health/ready, on
 * plain node:http, since the worker has no other HTTP surface. Readiness is the API's check (PostgreSQL and
 * Redis answer) and turns 503 as soon as shutdown starts; the listener itself closes last, after the running
 * jobs have finished, so probes keep getting that 503 while the worker drains.
 */
@Injectable()
export class WorkerHttpListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private server: Server | null = null;
  private readonly logger: AppLogger;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly health: HealthController,
    private readonly metrics: AppMetrics,
    logger: AppLogger,
  ) {
    this.logger = logger.child('worker-http');
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.workerPort ?? 0;
    if (!port) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    const host = process.env.HOST || '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      // A taken port is a deployment mistake (two workers on one host): the worker must not start blind.
      const failed = (e: Error) => reject(new Error(`WORKER_PORT ${port}: ${e.message}`));
      server.once('error', failed);
      server.listen(port, host, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', (e) => this.logger.error('worker listener error', { error: e }));
    this.server = server;
    this.logger.info('worker listener started', { port, host });
  }

  /** Where the listener is bound; null when WORKER_PORT is 0 or after shutdown. */
  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Prometheus and probes keep connections alive; waiting for them to go idle could outlast the grace period.
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader(REQUEST_ID_HEADER, acceptRequestId(req.headers['x-request-id']));
    const path = (req.url ?? '/').split('?')[0];
    const head = req.method === 'HEAD';
    try {
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        return sendJson(res, head, 405, envelope('methodNotAllowed', `${req.method} is not allowed here.`));
      }
      if (path === '/health/live') return sendJson(res, head, 200, { status: 'ok' });
      if (path === '/health/ready') {
        const { httpStatus, body } = await this.health.readiness();
        return sendJson(res, head, httpStatus, body);
      }
      if (path === '/metrics') {
        if (!metricsAuthorized(req.headers.authorization, this.config.metricsToken)) {
          return sendJson(
            res,
            head,
            401,
            envelope('unauthorized', 'GET /metrics wants Authorization: Bearer <METRICS_TOKEN>.'),
          );
        }
        const text = await this.metrics.render();
        res.writeHead(200, { 'Content-Type': this.metrics.contentType });
        res.end(head ? undefined : text);
        return;
      }
      return sendJson(res, head, 404, envelope('notFound', `Cannot ${req.method} ${path}`));
    } catch (e) {
      this.logger.error('worker listener request failed', { path, error: e as Error });
      if (!res.headersSent)
        sendJson(res, head, 500, envelope('internalError', 'An internal error occurred.'));
      else res.destroy();
    }
  }
}

function envelope(code: string, message: string) {
  return { error: { code, message } };
}

function sendJson(res: ServerResponse, head: boolean, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(head ? undefined : text);
}

/**
 * For the worker application. The HealthController serves as a plain provider here: its readiness check and
 * its shutdown flag are the API's, without an HTTP framework.
 */
@Module({
  providers: [HealthController, WorkerHttpListener],
  exports: [WorkerHttpListener],
})
export class WorkerHttpModule {}
