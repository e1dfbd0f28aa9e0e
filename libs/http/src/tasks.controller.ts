import {
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
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { ListRequest, TaskService, TaskView } from '@app/engine';
import { checkBody, DisableAccountBody, EnableAccountBody, EnableFromDisableBody } from './dto';
import { IdempotencyInterceptor } from './idempotency.interceptor';

const creator = (req: AuthenticatedRequest) => req.principal?.name ?? 'unknown';

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
  async disable(
    @Body() body: DisableAccountBody,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const b = checkBody(body, ['account', 'description', 'providers', 'callbackUrl']);
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
  async enable(
    @Body() body: EnableAccountBody,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const b = checkBody(body, ['account', 'description', 'callbackUrl']);
    return located(res, await this.tasks.createEnableTask(b, creator(req)));
  }

  @Post(':id/enable')
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Re-enable the account of this Disable task (the options-menu flow).' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  async enableFromDisable(
    @Param('id') id: string,
    @Body() body: EnableFromDisableBody,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const b = checkBody(body ?? {}, ['description', 'callbackUrl']);
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
