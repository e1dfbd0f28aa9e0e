import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from '@app/auth';
import { EngineModule } from '@app/engine';
import { AdaxesController } from './adaxes/adaxes.controller';
import { BatchesController } from './batches.controller';
import { ErrorEnvelopeFilter } from './error.filter';
import { HealthController } from './health.controller';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { ProvidersController } from './providers.controller';
import { TasksController } from './tasks.controller';
import { VisionOneController } from './vision-one/vision-one.controller';

/** The HTTP doors. The Vision One-style and Adaxes-style controllers will sit here beside the native one. */
@Module({
  imports: [AuthModule, EngineModule],
  controllers: [
    TasksController,
    BatchesController,
    ProvidersController,
    HealthController,
    VisionOneController,
    AdaxesController,
  ],
  providers: [IdempotencyInterceptor, { provide: APP_FILTER, useClass: ErrorEnvelopeFilter }],
})
export class HttpApiModule {}
