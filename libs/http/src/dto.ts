import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse, ApiSchema } from '@nestjs/swagger';
import {
  badRequest,
  PROVIDER_KINDS,
  ProviderKind,
  TARGET_OUTCOMES,
  TARGET_STATUSES,
  TargetOutcome,
  TargetStatus,
  TASK_ACTIONS,
  TASK_STATUSES,
  TaskAction,
  TaskStatus,
} from '@app/domain';
import { MAX_BULK_ACCOUNTS, MAX_DESCRIPTION_LENGTH } from '@app/engine';

// These classes document the API (OpenAPI); the rules themselves are checked by TaskService so that every
// door answers the same mistake the same way.

export class DisableAccountBody {
  @ApiProperty({
    example: 'jdoe@corp.example',
    description:
      'UPN, mail, DOMAIN\\name, sAMAccountName/uid/login, DN, GUID, SID, Okta id or Entra object id',
  })
  account!: string;
  @ApiPropertyOptional({ maxLength: MAX_DESCRIPTION_LENGTH })
  description?: string;
  @ApiPropertyOptional({
    type: [String],
    description: 'Provider ids to act in; default: every configured provider',
  })
  providers?: string[];
  @ApiPropertyOptional({ example: 'https://soar.example/hooks/task' })
  callbackUrl?: string;
}

export class EnableAccountBody {
  @ApiProperty({ example: 'jdoe@corp.example' })
  account!: string;
  @ApiPropertyOptional({ maxLength: MAX_DESCRIPTION_LENGTH })
  description?: string;
  @ApiPropertyOptional()
  callbackUrl?: string;
}

export class EnableFromDisableBody {
  @ApiPropertyOptional({ maxLength: MAX_DESCRIPTION_LENGTH })
  description?: string;
  @ApiPropertyOptional()
  callbackUrl?: string;
}

const ACCOUNT_EXAMPLES = ['jdoe@corp.example', 'CORP\\asmith', 'uid=bwayne,ou=people,dc=corp,dc=example'];

export class BulkDisableBody {
  @ApiProperty({
    type: [String],
    minItems: 1,
    maxItems: MAX_BULK_ACCOUNTS,
    example: ACCOUNT_EXAMPLES,
    description: 'One Disable task per entry, answered in this order. Bodies up to 2 MB.',
  })
  accounts!: string[];
  @ApiPropertyOptional({
    maxLength: MAX_DESCRIPTION_LENGTH,
    description: 'The description of every task of the batch.',
  })
  description?: string;
  @ApiPropertyOptional({
    type: [String],
    description: 'Provider ids to act in; default: every configured provider',
  })
  providers?: string[];
  @ApiPropertyOptional({ example: 'https://soar.example/hooks/task' })
  callbackUrl?: string;
}

export class BulkEnableBody {
  @ApiProperty({ type: [String], minItems: 1, maxItems: MAX_BULK_ACCOUNTS, example: ACCOUNT_EXAMPLES })
  accounts!: string[];
  @ApiPropertyOptional({ maxLength: MAX_DESCRIPTION_LENGTH })
  description?: string;
  @ApiPropertyOptional()
  callbackUrl?: string;
}

/** Rejects anything but a JSON object with known keys, before any work is done. */
export function checkBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(
      'invalidBody',
      'The request body must be a JSON object (Content-Type: application/json).',
    );
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw badRequest(
      'invalidBody',
      `Unknown field(s): ${unknown.join(', ')}. Allowed: ${allowed.join(', ')}.`,
    );
  return body as Record<string, unknown>;
}

// The response shapes of the native API (CONTRACT §5). The handlers return plain objects (TaskView from
// @app/engine); these classes only describe them in the OpenAPI document, under the same schema names.

/** `{code, message}`; some errors add details (e.g. taskInProgress names the running task's `taskId`). */
@ApiSchema({ name: 'ApiError' })
export class ApiErrorDto {
  @ApiProperty({ example: 'taskNotFound' }) code!: string;
  @ApiProperty() message!: string;
}

/** The one error shape of the native API, the webhooks API and the operations routes. */
@ApiSchema({ name: 'ErrorEnvelope' })
export class ApiErrorEnvelopeDto {
  @ApiProperty({
    type: ApiErrorDto,
    description: 'code and message; further keys carry details (taskId, retryAfterSeconds, ...).',
  })
  error!: ApiErrorDto;
}

@ApiSchema({ name: 'TargetView' })
export class TargetViewDto {
  @ApiProperty({ description: 'The provider id from the configuration.' }) provider!: string;
  @ApiProperty({ enum: PROVIDER_KINDS }) kind!: ProviderKind;
  @ApiProperty({ enum: TARGET_STATUSES }) status!: TargetStatus;
  @ApiProperty({ enum: TARGET_OUTCOMES, nullable: true, type: String }) outcome!: TargetOutcome | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: "The directory's own id of the account (DN, objectGUID, Okta or Entra id).",
  })
  objectId!: string | null;
  @ApiProperty({ type: 'integer', minimum: 0 }) attempts!: number;
  @ApiProperty({ type: ApiErrorDto, nullable: true }) error!: ApiErrorDto | null;
  @ApiProperty({
    type: [ApiErrorDto],
    description: 'Follow-ups that failed after the change landed (e.g. sessions not revoked).',
  })
  warnings!: ApiErrorDto[];
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) finishedAt!: string | null;
}

@ApiSchema({ name: 'TaskView' })
export class TaskViewDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: TASK_ACTIONS }) action!: TaskAction;
  @ApiProperty({ enum: TASK_STATUSES }) status!: TaskStatus;
  @ApiProperty({ description: 'The account as the caller named it.' }) account!: string;
  @ApiProperty({ nullable: true, type: String }) description!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'uuid',
    description: 'Enable tasks: the Disable task they undo.',
  })
  disableTaskId!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'uuid',
    description: 'The bulk request that created the task (GET /api/v1/batches/{id}), if any.',
  })
  batchId!: string | null;
  @ApiProperty({ description: 'The API key name (or `cli`).' }) createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) completedAt!: string | null;
  @ApiProperty({
    type: ApiErrorDto,
    nullable: true,
    description: 'Why the task as a whole failed (e.g. accountNotFound), if it did.',
  })
  error!: ApiErrorDto | null;
  @ApiProperty({ type: [TargetViewDto] }) targets!: TargetViewDto[];
}

@ApiSchema({ name: 'TaskList' })
export class TaskListDto {
  @ApiProperty({ type: [TaskViewDto], description: 'Newest first.' }) items!: TaskViewDto[];
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'Pass as cursor for the next page; null on the last page.',
  })
  nextCursor!: string | null;
}

@ApiSchema({ name: 'BulkItem' })
export class BulkItemDto {
  @ApiProperty({ description: 'The entry of `accounts` this item answers, as given.' }) account!: string;
  @ApiProperty({
    type: 'integer',
    example: 202,
    description: '202: the task was created; otherwise the 4xx the account would get on its own.',
  })
  status!: number;
  @ApiPropertyOptional({ format: 'uuid', description: 'With status 202.' }) taskId?: string;
  @ApiPropertyOptional({
    type: ApiErrorDto,
    description: 'With a 4xx: code and message, and details such as taskId (taskInProgress).',
  })
  error?: ApiErrorDto;
}

@ApiSchema({ name: 'BulkResponse' })
export class BulkResponseDto {
  @ApiProperty({ format: 'uuid', description: 'GET /api/v1/batches/{batchId}; Location names it too.' })
  batchId!: string;
  @ApiProperty({ type: [BulkItemDto], description: 'One item per account, in request order.' })
  items!: BulkItemDto[];
}

@ApiSchema({ name: 'BatchStatusCounts' })
export class BatchStatusCountsDto {
  @ApiProperty({ type: 'integer', minimum: 0 }) inProgress!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) successful!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) partiallySuccessful!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) unsuccessful!: number;
}

@ApiSchema({ name: 'Batch' })
export class BatchViewDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: TASK_ACTIONS }) action!: TaskAction;
  @ApiProperty() createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'Accounts the request named.' })
  requested!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'Accounts that got a task.' }) accepted!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'Accounts answered with an error item.' })
  rejected!: number;
  @ApiProperty({ type: BatchStatusCountsDto, description: "The batch's tasks by status, counted now." })
  counts!: BatchStatusCountsDto;
  @ApiProperty({ description: 'No task of the batch is still inProgress.' }) done!: boolean;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input (invalidBody, invalidAccount, invalidQuery, invalidCursor, ...); nothing was done.',
  401: 'Missing or unknown API key (unauthorized).',
  403: 'The key lacks the scope (forbidden).',
  404: 'No such task, batch or provider.',
  409: 'Conflict: taskInProgress (with taskId), noPriorDisableTask, taskEnded, or the same Idempotency-Key still running.',
  413: 'Body too large (payloadTooLarge).',
  415: 'Not application/json (unsupportedMediaType).',
  422: 'The Idempotency-Key was used with another body.',
  429: 'Rate limit of the key (tooManyRequests); Retry-After says when to come back.',
  503: 'PostgreSQL or Redis unavailable (databaseUnavailable ...); Retry-After says when to retry.',
};

/** Declares the error envelope for each status given, on a native or operations route. */
export const ApiErrorResponses = (...statuses: number[]) =>
  applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, type: ApiErrorEnvelopeDto, description: ERROR_DESCRIPTIONS[status] }),
    ),
  );
