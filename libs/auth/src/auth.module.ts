import { Module } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyService } from './api-key.service';
import { RequestRateLimiter } from './request-rate-limiter';

@Module({
  providers: [ApiKeyService, ApiKeyGuard, RequestRateLimiter],
  exports: [ApiKeyService, ApiKeyGuard, RequestRateLimiter],
})
export class AuthModule {}
