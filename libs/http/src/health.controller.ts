import { Controller, Get, HttpCode, Inject, OnModuleDestroy, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import IORedis from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@app/config';
import { LivenessDto, ReadinessDto } from './ops.dto';

@ApiTags('health')
@Controller('health')
export class HealthController implements OnModuleDestroy {
  private readonly redis: IORedis;
  /** Set as soon as shutdown starts, so load balancers stop sending work while in-flight requests finish. */
  private shuttingDown = false;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.redis = new IORedis(config.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
    this.redis.on('error', () => undefined); // reported by /health/ready, not as an unhandled event
  }

  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'The process answers.' })
  @ApiResponse({ status: 200, type: LivenessDto })
  live() {
    return { status: 'ok' };
  }

  /** Ready when both PostgreSQL (the truth) and Redis (the work) answer. */
  @Get('ready')
  @ApiOperation({ summary: 'Ready when PostgreSQL and Redis both answer.' })
  @ApiResponse({ status: 200, type: ReadinessDto })
  @ApiResponse({ status: 503, type: ReadinessDto, description: 'A dependency failed, or shutting down.' })
  async ready(@Res({ passthrough: true }) res: Response) {
    const { httpStatus, body } = await this.readiness();
    res.status(httpStatus);
    return body;
  }

  /** The readiness verdict without an HTTP framework around it (the worker's own listener serves it too). */
  async readiness(): Promise<{
    httpStatus: number;
    body: { status: string; checks: Record<string, string> };
  }> {
    if (this.shuttingDown) return { httpStatus: 503, body: { status: 'shuttingDown', checks: {} } };
    const [postgres, redis] = await Promise.all([
      check(() => this.dataSource.query('SELECT 1')),
      check(async () => {
        if (this.redis.status === 'wait' || this.redis.status === 'end') await this.redis.connect();
        await this.redis.ping();
      }),
    ]);
    const ok = postgres === 'ok' && redis === 'ok';
    return {
      httpStatus: ok ? 200 : 503,
      body: { status: ok ? 'ok' : 'unavailable', checks: { postgres, redis } },
    };
  }

  /** Nest's first shutdown step (SIGTERM); the HTTP server keeps serving in-flight requests until it closes. */
  onModuleDestroy(): void {
    this.shuttingDown = true;
    this.redis.disconnect();
  }
}

async function check(fn: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000)),
    ]);
    return 'ok';
  } catch (e) {
    return `failed: ${(e as Error).message}`;
  }
}
