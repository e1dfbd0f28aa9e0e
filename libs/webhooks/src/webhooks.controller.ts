import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { checkBody } from '@app/http';
import { DeliveryQuery, WebhookService } from './webhook.service';
import {
  CreateWebhookBody,
  DeliveryDto,
  DeliveryListDto,
  ErrorEnvelopeDto,
  RotateSecretBody,
  WebhookSubscriptionDto,
  WebhookSubscriptionListDto,
  WebhookSubscriptionWithSecretDto,
} from './webhooks.dto';
import { DELIVERY_STATUSES } from './webhook.store';

/**
 * Standing webhook subscriptions and the delivery log (CONTRACT §8). Every route needs `webhooks:manage`.
 * No Idempotency-Key here: the replay store would keep the one-time secret of a create or rotate response
 * for a day, in clear; a repeated create only makes a second subscription, which DELETE removes.
 */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('api/v1/webhooks')
@UseGuards(ApiKeyGuard)
@RequireScope('webhooks:manage')
@ApiResponse({ status: 401, description: 'Missing or bad API key.', type: ErrorEnvelopeDto })
@ApiResponse({ status: 403, description: 'The key lacks webhooks:manage.', type: ErrorEnvelopeDto })
@ApiResponse({
  status: 429,
  description: 'Rate limit of the key; Retry-After says when to come back.',
  type: ErrorEnvelopeDto,
})
@ApiResponse({
  status: 503,
  description: 'PostgreSQL unavailable; Retry-After says when to retry.',
  type: ErrorEnvelopeDto,
})
export class WebhooksController {
  constructor(private readonly webhooks: WebhookService) {}

  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Subscribe a URL to task events. The signing secret is in this response only.',
  })
  @ApiResponse({ status: 201, type: WebhookSubscriptionWithSecretDto })
  @ApiResponse({
    status: 400,
    type: ErrorEnvelopeDto,
    description: 'invalidBody, invalidUrl, invalidEvents, invalidSecret, destinationNotAllowed',
  })
  async create(
    @Body() body: CreateWebhookBody,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const b = checkBody(body, ['url', 'events', 'secret']);
    const created = await this.webhooks.create(b, req.principal?.name ?? 'unknown');
    res.setHeader('Location', `/api/v1/webhooks/${created.id}`);
    return created;
  }

  @Get()
  @ApiOperation({ summary: 'Subscriptions, newest first (never their secrets).' })
  @ApiResponse({ status: 200, type: WebhookSubscriptionListDto })
  list() {
    return this.webhooks.list();
  }

  // Declared before ':id' so that "deliveries" is not taken for an id.
  @Get('deliveries')
  @ApiOperation({ summary: 'Deliveries with every attempt, newest first.' })
  @ApiQuery({ name: 'subscriptionId', required: false })
  @ApiQuery({ name: 'taskId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: DELIVERY_STATUSES })
  @ApiQuery({ name: 'limit', required: false, description: '1-200, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({ status: 200, type: DeliveryListDto })
  @ApiResponse({ status: 400, type: ErrorEnvelopeDto, description: 'invalidQuery, invalidCursor' })
  deliveries(@Query() query: DeliveryQuery) {
    return this.webhooks.deliveries(query);
  }

  @Post('deliveries/:id/redeliver')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Send a delivery that ended (delivered or given up) again, with the same webhook-id and a new retry schedule.',
  })
  @ApiParam({ name: 'id', description: 'Delivery id' })
  @ApiResponse({ status: 202, type: DeliveryDto })
  @ApiResponse({ status: 404, type: ErrorEnvelopeDto, description: 'deliveryNotFound' })
  @ApiResponse({
    status: 409,
    type: ErrorEnvelopeDto,
    description: 'deliveryPending (retries still planned), subscriptionDeleted, subscriptionDisabled',
  })
  redeliver(@Param('id') id: string) {
    return this.webhooks.redeliver(id);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One subscription (never its secret).' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiResponse({ status: 200, type: WebhookSubscriptionDto })
  @ApiResponse({ status: 404, type: ErrorEnvelopeDto, description: 'webhookNotFound' })
  get(@Param('id') id: string) {
    return this.webhooks.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a subscription; its pending deliveries end (subscriptionDeleted).' })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiResponse({ status: 204, description: 'Deleted.' })
  @ApiResponse({ status: 404, type: ErrorEnvelopeDto, description: 'webhookNotFound' })
  async delete(@Param('id') id: string): Promise<void> {
    await this.webhooks.delete(id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary:
      'Replace the signing secret. For 24 hours deliveries carry signatures by both the old and the new secret; then the new only.',
  })
  @ApiParam({ name: 'id', description: 'Subscription id' })
  @ApiResponse({ status: 200, type: WebhookSubscriptionWithSecretDto })
  @ApiResponse({ status: 400, type: ErrorEnvelopeDto, description: 'invalidBody, invalidSecret' })
  @ApiResponse({ status: 404, type: ErrorEnvelopeDto, description: 'webhookNotFound' })
  rotate(@Param('id') id: string, @Body() body: RotateSecretBody) {
    return this.webhooks.rotate(id, checkBody(body ?? {}, ['secret']));
  }
}
