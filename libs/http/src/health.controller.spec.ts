import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { AppConfig } from '@app/config';
import { HealthController } from './health.controller';

describe('HealthController during shutdown', () => {
  it('answers /health/ready 503 as soon as shutdown starts, before asking PostgreSQL or Redis anything', async () => {
    const query = jest.fn();
    const controller = new HealthController(
      { query } as unknown as DataSource,
      {
        redisUrl: 'redis://127.0.0.1:1',
      } as AppConfig,
    );
    controller.onModuleDestroy();
    const res = { status: jest.fn() } as unknown as Response;
    expect(await controller.ready(res)).toEqual({ status: 'shuttingDown', checks: {} });
    expect(res.status).toHaveBeenCalledWith(503);
    expect(query).not.toHaveBeenCalled();
    expect(controller.live()).toEqual({ status: 'ok' });
  });
});
