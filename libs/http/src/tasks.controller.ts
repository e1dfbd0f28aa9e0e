import {
  applyDecorators,
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { TASK_ACTIONS, TASK_STATUSES } from '@app/domain';
import {
  BulkItem,
  BulkResponse,
  ListRequest,
  TaskEventView,
  TaskPreview,
  TaskService,
  TaskView,
} from '@app/engine';
import { parseDryRun } from './dry-run';
import {
  ApiErrorResponses,
  BulkDisableBody,
  BulkEnableBody,
  BulkResponseDto,
  checkBody,
  DisableAccountBody,
  EnableAccountBody,
  EnableFromDisableBody,
  ApiErrorEnvelopeDto,
  TaskListDto,
  TaskViewDto,
} from './dto';
import { TaskEventListDto, TaskPreviewDto } from './ops.dto';
import { IdempotencyInterceptor } from './idempotency.interceptor';

const creator = (req: AuthenticatedRequest) => req.principal?.name ?? 'unknown';

const DryRun = () =>
  applyDecorators(
    ApiQuery({
      name: 'dryRun',
      required: false,
      enum: ['true', 'false'],
      description:
        'true: answer 200 with the task as it would be (each target with its plannedAction), or the 4xx it would ' +
        'get; nothing is stored or queued, and an Idempotency-Key is not recorded.',
    }),
    ApiResponse({ status: 200, type: TaskPreviewDto, description: 'dryRun=true: the task as it would be.' }),
  );

const BulkDryRun = () =>
  applyDecorators(
    ApiQuery({
      name: 'dryRun',
      required: false,
      enum: ['true', 'false'],
      description:
        'true: answer 200 with what each account would get (202 or its 4xx, without task ids); nothing is ' +
        'stored or queued.',
    }),
    ApiResponse({
      status: 200,
      type: BulkResponseDto,
      description: 'dryRun=true: the items as they would be.',
    }),
  );

/** The native API (CONTRACT §5). */
@ApiTags('tasks')
@ApiBearerAuth()
@Controller('api/v1/tasks')
@UseGuards(ApiKeyGuard)
@UseInterceptors(IdempotencyInterceptor)
export class TasksController {
  constructor(private readonly tasks: TaskService) {}

  @Post('disable-account')
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Disable the account in every configured directory (or the ones named).' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 202, type: TaskViewDto, description: 'Task accepted; Location names it.' })
  @ApiErrorResponses(400, 401, 403, 409, 413, 415, 422, 429, 503)
  @DryRun()
  async disable(
    @Body() body: DisableAccountBody,
    @Query('dryRun') dryRun: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaskView | TaskPreview> {
    const rehearse = parseDryRun(dryRun);
    const b = checkBody(body, ['account', 'description', 'providers', 'callbackUrl']);
    if (rehearse) return previewed(res, await this.tasks.previewDisableTask(b as never, creator(req)));
    return located(res, await this.tasks.createDisableTask(b as never, creator(req)));
  }

  @Post('enable-account')
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Re-enable an account that a Disable task disabled.' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 202, type: TaskViewDto, description: 'Task accepted; Location names it.' })
  @ApiErrorResponses(400, 401, 403, 413, 415, 422, 429, 503)
  @ApiResponse({
    status: 409,
    type: ApiErrorEnvelopeDto,
    description: 'noPriorDisableTask, or taskInProgress with the running task id.',
  })
  @DryRun()
  async enable(
    @Body() body: EnableAccountBody,
    @Query('dryRun') dryRun: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaskView | TaskPreview> {
    const rehearse = parseDryRun(dryRun);
    const b = checkBody(body, ['account', 'description', 'callbackUrl']);
    if (rehearse) return previewed(res, await this.tasks.previewEnableTask(b, creator(req)));
    return located(res, await this.tasks.createEnableTask(b, creator(req)));
  }

  @Post('disable-accounts')
  @HttpCode(207)
  @RequireScope('tasks:write')
  @ApiOperation({
    summary: 'Disable up to 10,000 accounts: one task per account, each answered in its place.',
    description:
      'Every account is checked and created exactly as it would be on its own (disable-account); one that is ' +
      'refused gets its 4xx item and the others go ahead. Location names the batch. Bodies up to 2 MB.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 207, type: BulkResponseDto, description: 'One item per account, in request order.' })
  @ApiErrorResponses(400, 401, 403, 413, 415, 422, 429, 503)
  @BulkDryRun()
  async disableMany(
    @Body() body: BulkDisableBody,
    @Query('dryRun') dryRun: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BulkResponse | { items: BulkItem[] }> {
    const rehearse = parseDryRun(dryRun);
    const b = checkBody(body, ['accounts', 'description', 'providers', 'callbackUrl']) as never;
    if (rehearse) return previewed(res, await this.tasks.previewDisableTasks(b, creator(req)));
    return batchLocated(res, await this.tasks.createDisableTasks(b, creator(req)));
  }

  @Post('enable-accounts')
  @HttpCode(207)
  @RequireScope('tasks:write')
  @ApiOperation({
    summary: 'Re-enable up to 10,000 accounts: one Enable task per account, each answered in its place.',
    description:
      'Each account gets what enable-account would answer it, in request order: 202 with its task, or the 409 ' +
      '(taskInProgress, noPriorDisableTask, ambiguousAccount) or 400 it would get on its own.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 207, type: BulkResponseDto, description: 'One item per account, in request order.' })
  @ApiErrorResponses(400, 401, 403, 413, 415, 422, 429, 503)
  @BulkDryRun()
  async enableMany(
    @Body() body: BulkEnableBody,
    @Query('dryRun') dryRun: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BulkResponse | { items: BulkItem[] }> {
    const rehearse = parseDryRun(dryRun);
    const b = checkBody(body, ['accounts', 'description', 'callbackUrl']) as never;
    if (rehearse) return previewed(res, await this.tasks.previewEnableTasks(b, creator(req)));
    return batchLocated(res, await this.tasks.createEnableTasks(b, creator(req)));
  }

  @Post(':id/enable')
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Re-enable the account of this Disable task (the options-menu flow).' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The Disable task.' })
  @ApiResponse({ status: 202, type: TaskViewDto, description: 'Task accepted; Location names it.' })
  @ApiErrorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
  @DryRun()
  async enableFromDisable(
    @Param('id') id: string,
    @Body() body: EnableFromDisableBody,
    @Query('dryRun') dryRun: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaskView | TaskPreview> {
    const rehearse = parseDryRun(dryRun);
    const b = checkBody(body ?? {}, ['description', 'callbackUrl']);
    if (rehearse) return previewed(res, await this.tasks.previewEnableFromDisableTask(id, b, creator(req)));
    return located(res, await this.tasks.createEnableFromDisableTask(id, b, creator(req)));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireScope('tasks:write')
  @ApiOperation({
    summary: 'Cancel a task: targets not yet acting end skipped (cancelled); ones already writing finish.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({
    status: 200,
    type: TaskViewDto,
    description: 'The task after the cancel (it may still be inProgress).',
  })
  @ApiErrorResponses(401, 403, 404, 422, 429, 503)
  @ApiResponse({
    status: 409,
    type: ApiErrorEnvelopeDto,
    description: 'taskEnded: the task had already ended (or the same Idempotency-Key is still running).',
  })
  cancel(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<TaskView> {
    return this.tasks.cancelTask(id, creator(req));
  }

  @Get(':id/events')
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: "The task's timeline, oldest first: task.created, task.targetUpdated, task.completed.",
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: TaskEventListDto })
  @ApiErrorResponses(401, 403, 429, 503)
  @ApiResponse({ status: 404, type: ApiErrorEnvelopeDto, description: 'taskNotFound' })
  events(@Param('id') id: string): Promise<{ items: TaskEventView[] }> {
    return this.tasks.getTaskEvents(id);
  }

  @Get(':id')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'One task with its per-directory targets.' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, type: TaskViewDto })
  @ApiErrorResponses(401, 403, 429, 503)
  @ApiResponse({ status: 404, type: ApiErrorEnvelopeDto, description: 'taskNotFound' })
  get(@Param('id') id: string): Promise<TaskView> {
    return this.tasks.getTask(id);
  }

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: 'Tasks, newest first; filter by action, status, account (any identifier), q, dates.',
  })
  @ApiQuery({ name: 'action', required: false, enum: TASK_ACTIONS })
  @ApiQuery({ name: 'status', required: false, enum: TASK_STATUSES })
  @ApiQuery({
    name: 'account',
    required: false,
    description: 'Any identifier of the account (UPN, mail, DOMAIN\\name, DN, GUID, SID, ...).',
  })
  @ApiQuery({
    name: 'q',
    required: false,
    description: 'Free text over account and description (first 256 characters used).',
  })
  @ApiQuery({ name: 'createdAfter', required: false, type: String, format: 'date-time' })
  @ApiQuery({ name: 'createdBefore', required: false, type: String, format: 'date-time' })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page.' })
  @ApiQuery({ name: 'batchId', required: false, description: 'Only the tasks of this bulk request.' })
  @ApiResponse({ status: 200, type: TaskListDto })
  @ApiErrorResponses(400, 401, 403, 429, 503)
  list(@Query() query: ListRequest) {
    return this.tasks.listTasks(query);
  }
}

function batchLocated(res: Response, batch: BulkResponse): BulkResponse {
  res.setHeader('Location', `/api/v1/batches/${batch.batchId}`);
  return batch;
}

function located(res: Response, task: TaskView): TaskView {
  res.setHeader('Location', `/api/v1/tasks/${task.id}`);
  return task;
}

/** A dry run created nothing: 200, and no Location. */
function previewed<T>(res: Response, preview: T): T {
  res.status(200);
  return preview;
}
