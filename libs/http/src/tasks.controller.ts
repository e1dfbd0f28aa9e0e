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
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { ListRequest, TaskEventView, TaskPreview, TaskService, TaskView } from '@app/engine';
import { parseDryRun } from './dry-run';
import { checkBody, DisableAccountBody, EnableAccountBody, EnableFromDisableBody } from './dto';
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
  @ApiResponse({ status: 202, description: 'Task accepted; Location names it.' })
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
  @ApiResponse({
    status: 409,
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

  @Post(':id/enable')
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Re-enable the account of this Disable task (the options-menu flow).' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
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
  @ApiResponse({ status: 200, description: 'The task after the cancel (it may still be inProgress).' })
  @ApiResponse({ status: 409, description: 'taskEnded: the task had already ended.' })
  cancel(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<TaskView> {
    return this.tasks.cancelTask(id, creator(req));
  }

  @Get(':id/events')
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: "The task's timeline, oldest first: task.created, task.targetUpdated, task.completed.",
  })
  @ApiResponse({ status: 200, type: TaskEventListDto })
  @ApiResponse({ status: 404, description: 'taskNotFound' })
  events(@Param('id') id: string): Promise<{ items: TaskEventView[] }> {
    return this.tasks.getTaskEvents(id);
  }

  @Get(':id')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'One task with its per-directory targets.' })
  get(@Param('id') id: string): Promise<TaskView> {
    return this.tasks.getTask(id);
  }

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: 'Tasks, newest first; filter by action, status, account (any identifier), q, dates.',
  })
  list(@Query() query: ListRequest) {
    return this.tasks.listTasks(query);
  }
}

function located(res: Response, task: TaskView): TaskView {
  res.setHeader('Location', `/api/v1/tasks/${task.id}`);
  return task;
}

/** A dry run created nothing: 200, and no Location. */
function previewed(res: Response, preview: TaskPreview): TaskPreview {
  res.status(200);
  return preview;
}
