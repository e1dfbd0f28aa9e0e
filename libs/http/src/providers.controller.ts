import { Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, RequireScope } from '@app/auth';
import { ProviderService, ProviderTestResult, ProviderView } from '@app/engine';
import { ApiErrorEnvelopeDto, ApiErrorResponses } from './dto';
import { ProviderListDto, ProviderTestDto } from './ops.dto';

/**
 * CONTRACT §5: the configured directories, how their queues stand and how their latest work went, and a test
 * of each. Reading is `tasks:read`: it shows what task results already show, per provider. Testing is `admin`:
 * it binds to the directory with the engine's credentials, which a caller could repeat until the directory
 * locks the service account out.
 */
@ApiTags('providers')
@ApiBearerAuth()
@Controller('api/v1/providers')
@UseGuards(ApiKeyGuard)
export class ProvidersController {
  constructor(private readonly providers: ProviderService) {}

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: 'Each provider: id, kind, queue counts and rate-limit pause, last success and last error.',
  })
  @ApiResponse({ status: 200, type: ProviderListDto })
  @ApiErrorResponses(401, 403, 429, 503)
  list(): Promise<{ items: ProviderView[] }> {
    return this.providers.list();
  }

  @Post(':id/test')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({
    summary:
      'Checks that the directory is reachable, accepts the credentials, and lets the engine read and change accounts, without changing any.',
  })
  @ApiResponse({ status: 200, type: ProviderTestDto })
  @ApiParam({ name: 'id', description: 'The provider id from the configuration.' })
  @ApiErrorResponses(401, 403, 429, 503)
  @ApiResponse({ status: 404, type: ApiErrorEnvelopeDto, description: 'providerNotFound' })
  test(@Param('id') id: string): Promise<ProviderTestResult> {
    return this.providers.test(id);
  }
}
