import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Response } from 'express';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError } from '@app/domain';
import { AppMetrics, metricsAuthorized } from '@app/metrics';

/** CONTRACT §10: Prometheus scrapes the API here; the worker serves the same on its own port (WORKER_PORT). */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: AppMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'Metrics in the Prometheus text format. Open unless METRICS_TOKEN is set.',
    schema: { type: 'string' },
  })
  @ApiUnauthorizedResponse({ description: 'METRICS_TOKEN is set and the request did not carry it.' })
  async scrape(
    @Headers('authorization') authorization: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    if (!metricsAuthorized(authorization, this.config.metricsToken))
      throw new DomainError(401, 'unauthorized', 'GET /metrics wants Authorization: Bearer <METRICS_TOKEN>.');
    const text = await this.metrics.render();
    // res.end, not res.send: Express would rewrite the content type's parameters.
    res.status(200).setHeader('Content-Type', this.metrics.contentType);
    res.end(text);
  }
}
