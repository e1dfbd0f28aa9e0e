import { ApiProperty } from '@nestjs/swagger';
import { PROVIDER_KINDS, TARGET_OUTCOMES, TARGET_STATUSES, TASK_ACTIONS, TASK_STATUSES } from '@app/domain';

// OpenAPI shapes of the operations routes (timeline, dry run, providers); the handlers return plain objects.

class ErrorDetailDto {
  @ApiProperty() code!: string;
  @ApiProperty() message!: string;
}

export class TaskEventDto {
  @ApiProperty({ enum: ['task.created', 'task.targetUpdated', 'task.completed'] }) type!: string;
  @ApiProperty({ format: 'date-time' }) time!: string;
  @ApiProperty({
    description: 'The API key name, `cli`, or `worker` / `engine` for what the engine did itself.',
  })
  actor!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Set on task.targetUpdated.' })
  provider!: string | null;
  @ApiProperty({ description: 'The task status (task.created, task.completed) or the target status.' })
  status!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'What happened: action and providers (created); outcome, error, warnings, attempt, retryInMs, supersededBy ' +
      '(targetUpdated); errorCode (completed). Secrets never appear: secret-named keys and URL credentials are redacted.',
  })
  detail!: Record<string, unknown>;
}

export class TaskEventListDto {
  @ApiProperty({ type: [TaskEventDto] }) items!: TaskEventDto[];
}

class PreviewTargetDto {
  @ApiProperty() provider!: string;
  @ApiProperty({ enum: PROVIDER_KINDS }) kind!: string;
  @ApiProperty({ enum: TARGET_STATUSES }) status!: string;
  @ApiProperty({ enum: TARGET_OUTCOMES, nullable: true, type: String }) outcome!: string | null;
  @ApiProperty({ nullable: true, type: String }) objectId!: string | null;
  @ApiProperty() attempts!: number;
  @ApiProperty({ type: ErrorDetailDto, nullable: true }) error!: ErrorDetailDto | null;
  @ApiProperty({ type: [ErrorDetailDto] }) warnings!: ErrorDetailDto[];
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
  @ApiProperty({
    enum: ['disable', 'enable', 'leaveDisabled', 'none'],
    description: 'What this target would do: none where it would fail at once (providerNotConfigured).',
  })
  plannedAction!: string;
}

export class TaskPreviewDto {
  @ApiProperty({ nullable: true, type: String, description: 'Always null: nothing was created.' })
  id!: null;
  @ApiProperty({ enum: [true] }) dryRun!: true;
  @ApiProperty({ enum: TASK_ACTIONS }) action!: string;
  @ApiProperty({ enum: TASK_STATUSES }) status!: string;
  @ApiProperty() account!: string;
  @ApiProperty({ nullable: true, type: String }) description!: string | null;
  @ApiProperty({ nullable: true, type: String }) disableTaskId!: string | null;
  @ApiProperty() createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ nullable: true, type: String }) completedAt!: string | null;
  @ApiProperty({ type: ErrorDetailDto, nullable: true }) error!: ErrorDetailDto | null;
  @ApiProperty({ type: [PreviewTargetDto] }) targets!: PreviewTargetDto[];
}

class QueueDto {
  @ApiProperty() waiting!: number;
  @ApiProperty() active!: number;
  @ApiProperty() delayed!: number;
  @ApiProperty({ description: 'Jobs BullMQ gave up on (the reconciler re-queues their targets).' })
  failed!: number;
  @ApiProperty({ description: 'Whether the queue is paused (its jobs count as waiting).' })
  paused!: boolean;
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    description: 'End of the pause a directory asked for (429 / Retry-After).',
  })
  rateLimitedUntil!: string | null;
}

class LastResultDto {
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ format: 'uuid' }) taskId!: string;
  @ApiProperty({ nullable: true, type: String }) outcome!: string | null;
  @ApiProperty({ type: ErrorDetailDto, nullable: true }) error!: ErrorDetailDto | null;
}

export class ProviderDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: PROVIDER_KINDS }) kind!: string;
  @ApiProperty({
    type: QueueDto,
    nullable: true,
    description: 'null when Redis did not answer (see queueError).',
  })
  queue!: QueueDto | null;
  @ApiProperty({ required: false }) queueError?: string;
  @ApiProperty({ type: LastResultDto, nullable: true, description: 'The latest target that succeeded.' })
  lastSuccess!: LastResultDto | null;
  @ApiProperty({ type: LastResultDto, nullable: true, description: 'The latest target that failed.' })
  lastError!: LastResultDto | null;
}

export class ProviderListDto {
  @ApiProperty({ type: [ProviderDto] }) items!: ProviderDto[];
}

class ProviderCheckDto {
  @ApiProperty({
    enum: ['configuration', 'reachable', 'authenticated', 'readAccounts', 'changeAccounts', 'revokeSessions'],
  })
  name!: string;
  @ApiProperty({
    nullable: true,
    type: Boolean,
    description: 'null: could not be decided, or not run because an earlier check failed.',
  })
  ok!: boolean | null;
  @ApiProperty() message!: string;
}

export class ProviderTestDto {
  @ApiProperty() provider!: string;
  @ApiProperty({ enum: PROVIDER_KINDS }) kind!: string;
  @ApiProperty({ description: 'true when no check failed (undecided ones are for a person to verify).' })
  ok!: boolean;
  @ApiProperty({ type: [ProviderCheckDto] }) checks!: ProviderCheckDto[];
}

export class LivenessDto {
  @ApiProperty({ enum: ['ok'] }) status!: string;
}

export class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'unavailable', 'shuttingDown'] }) status!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'postgres and redis: `ok` or `failed: <reason>` (empty while shutting down).',
    example: { postgres: 'ok', redis: 'ok' },
  })
  checks!: Record<string, string>;
}
