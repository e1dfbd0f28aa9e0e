import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES } from './webhook.store';

// These classes document the API (OpenAPI); WebhookService checks the input itself.

const SECRET_DESCRIPTION =
  'Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes. Shown once, in this response only.';

export class CreateWebhookBody {
  @ApiProperty({ example: 'https://soar.example/hooks/account-response', maxLength: 2048 })
  url!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true, example: ['task.completed'] })
  events!: string[];
  @ApiPropertyOptional({
    description: 'Your own secret; one is generated when absent. ' + SECRET_DESCRIPTION,
  })
  secret?: string;
}

export class RotateSecretBody {
  @ApiPropertyOptional({ description: 'The new secret; one is generated when absent. ' + SECRET_DESCRIPTION })
  secret?: string;
}

export class WebhookSubscriptionDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ description: 'Query values and any password are shown as ***.' })
  url!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true })
  events!: string[];
  @ApiProperty({ enum: ['active', 'disabled'], description: 'disabled: the endpoint answered 410 Gone.' })
  status!: string;
  @ApiProperty({ type: String, nullable: true, example: 'endpointGone' })
  disabledReason!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  disabledAt!: string | null;
  @ApiProperty({ description: 'The API key that created it.' })
  createdBy!: string;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  secretRotatedAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Until then deliveries carry a signature by the previous secret too.',
  })
  previousSecretExpiresAt!: string | null;
}

export class WebhookSubscriptionWithSecretDto extends WebhookSubscriptionDto {
  @ApiProperty({ description: SECRET_DESCRIPTION, example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret!: string;
}

export class WebhookSubscriptionListDto {
  @ApiProperty({ type: [WebhookSubscriptionDto] })
  items!: WebhookSubscriptionDto[];
}

export class ErrorDto {
  @ApiProperty()
  code!: string;
  @ApiProperty()
  message!: string;
}

export class DeliveryAttemptDto {
  @ApiProperty({ description: '1 for the first attempt of the delivery.' })
  attempt!: number;
  @ApiProperty({ enum: ['initial', 'retry', 'manual'] })
  trigger!: string;
  @ApiProperty({ format: 'date-time' })
  startedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;
  @ApiProperty({ type: Number, nullable: true })
  durationMs!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: "The receiver's HTTP status, if it answered." })
  statusCode!: number | null;
  @ApiProperty({
    type: ErrorDto,
    nullable: true,
    description:
      'httpStatus, redirectNotFollowed, endpointGone, timeout, networkError, destinationNotAllowed, invalidUrl, signingKeyUnavailable, attemptInterrupted',
  })
  error!: ErrorDto | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the next attempt was planned.',
  })
  nextAttemptAt!: string | null;
}

export class DeliveryDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ description: 'The webhook-id header: the same on every attempt; your idempotency key.' })
  webhookId!: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'null for a task callbackUrl.' })
  subscriptionId!: string | null;
  @ApiProperty({ enum: ['subscription', 'callback'] })
  destination!: string;
  @ApiProperty({ format: 'uuid' })
  taskId!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES })
  eventType!: string;
  @ApiProperty({ description: 'Query values and any password are shown as ***.' })
  url!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES })
  status!: string;
  @ApiProperty()
  attemptCount!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  nextAttemptAt!: string | null;
  @ApiProperty({ type: Number, nullable: true })
  lastStatusCode!: number | null;
  @ApiProperty({
    type: ErrorDto,
    nullable: true,
    description:
      'The last error; also subscriptionDeleted, subscriptionDisabled, callbackSecretNotConfigured for deliveries that ended without an attempt.',
  })
  lastError!: ErrorDto | null;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  completedAt!: string | null;
  @ApiProperty({ type: [DeliveryAttemptDto], description: 'Every attempt, oldest first.' })
  attempts!: DeliveryAttemptDto[];
}

export class DeliveryListDto {
  @ApiProperty({ type: [DeliveryDto] })
  items!: DeliveryDto[];
  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class ErrorEnvelopeDto {
  @ApiProperty({ type: ErrorDto })
  error!: ErrorDto;
}
