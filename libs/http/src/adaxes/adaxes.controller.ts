import { setTimeout as delay } from 'node:timers/promises';
import {
  applyDecorators,
  BeforeApplicationShutdown,
  Body,
  Controller,
  Get,
  Headers,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { DomainError, notFound } from '@app/domain';
import { TaskService, TaskView } from '@app/engine';
import { AppLogger } from '@app/logging';
import { admWaitMs, DEFAULT_WAIT_SECONDS, directoryObjectOf, MAX_WAIT_SECONDS } from './adaxes-request';
import {
  AdaxesErrorDto,
  DirectoryObjectBody,
  OperationAcceptedDto,
  OperationResultDto,
  OperationStatusDto,
} from './adaxes.dto';
import { AdmAuthorizationGuard } from './adm-authorization.guard';
import { toOperationResult, toOperationStatus } from './operation-result';
import { refuseDryRun } from '../dry-run';

export const ADAXES_BASE_PATH = '/restApi';

// PostgreSQL is asked again after 200 ms, then less and less often: most tasks end within a second, and a
// hundred playbooks waiting on slow directories then cost a few queries a second, not hundreds.
const FIRST_POLL_MS = 200;
const MAX_POLL_MS = 1000;

const ADM_AUTHORIZATION = ApiHeader({
  name: 'Adm-Authorization',
  required: true,
  description: 'An API key (`npm run cli -- api-key create`); `Authorization: Bearer` is not taken here.',
});
const UNAUTHORIZED = ApiResponse({
  status: 401,
  type: AdaxesErrorDto,
  description: 'No Adm-Authorization header, or a key that is not valid.',
});
const FORBIDDEN = ApiResponse({ status: 403, type: AdaxesErrorDto, description: 'The key lacks the scope.' });

/** What the two account operations have in common in the OpenAPI document. */
function AccountOperation(summary: string, description: string) {
  return applyDecorators(
    ApiOperation({ summary, description }),
    ADM_AUTHORIZATION,
    ApiHeader({
      name: 'Adm-Wait',
      required: false,
      description: `Seconds to wait for the task to end (0 to ${MAX_WAIT_SECONDS}; default ${DEFAULT_WAIT_SECONDS}).`,
    }),
    ApiBody({ type: DirectoryObjectBody }),
    ApiResponse({ status: 200, type: OperationResultDto, description: 'The task ended.' }),
    ApiResponse({ status: 202, type: OperationAcceptedDto, description: 'Still running after Adm-Wait.' }),
    ApiResponse({
      status: 400,
      type: AdaxesErrorDto,
      description: 'invalidBody, invalidDirectoryObject or invalidAdmWait; nothing was created.',
    }),
    UNAUTHORIZED,
    FORBIDDEN,
  );
}

/**
 * CONTRACT §7: the Adaxes REST API's account operations over the same TaskService as the native API. A
 * request creates a task and is answered when the task ends, or after `Adm-Wait` seconds with an operation
 * id (the task id) to poll.
 */
@ApiTags('adaxes')
@Controller('restApi/api')
@UseGuards(AdmAuthorizationGuard, ApiKeyGuard)
export class AdaxesController implements BeforeApplicationShutdown {
  /** Requests waiting for their task: on shutdown they are answered 202 at once, so a client can poll elsewhere. */
  private readonly waiting = new Set<AbortController>();
  private readonly logger: AppLogger;

  constructor(
    private readonly tasks: TaskService,
    logger: AppLogger,
  ) {
    this.logger = logger.child('adaxes');
  }

  @Post('directoryObjects/account/disable')
  @RequireScope('tasks:write')
  @AccountOperation(
    'Disable the account in every configured directory (Adaxes-style).',
    `Answers when the task ends, or after Adm-Wait seconds (default ${DEFAULT_WAIT_SECONDS}).`,
  )
  async disable(
    @Body() body: unknown,
    @Headers('adm-wait') wait: string | undefined,
    @Req() req: AuthenticatedRequest & Request,
    @Res() res: Response,
  ): Promise<void> {
    refuseDryRun(req.query);
    const account = directoryObjectOf(body);
    const waitMs = admWaitMs(wait);
    await this.answer(res, await this.tasks.createDisableTask({ account }, creator(req)), waitMs);
  }

  @Post('directoryObjects/account/enable')
  @RequireScope('tasks:write')
  @AccountOperation(
    'Re-enable an account a Disable task disabled (Adaxes-style).',
    'The rules of the native enable-account apply: a refusal is a 409 in the error envelope ' +
      '(noPriorDisableTask, taskInProgress with taskId, ambiguousAccount with candidates), and nothing is created.',
  )
  @ApiResponse({
    status: 409,
    type: AdaxesErrorDto,
    description: 'noPriorDisableTask, taskInProgress or ambiguousAccount; nothing was created.',
  })
  async enable(
    @Body() body: unknown,
    @Headers('adm-wait') wait: string | undefined,
    @Req() req: AuthenticatedRequest & Request,
    @Res() res: Response,
  ): Promise<void> {
    refuseDryRun(req.query);
    const account = directoryObjectOf(body);
    const waitMs = admWaitMs(wait);
    await this.answer(res, await this.tasks.createEnableTask({ account }, creator(req)), waitMs);
  }

  @Get('runningOperations/:operationId')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'The state of an operation answered 202, with its result once completed.' })
  @ADM_AUTHORIZATION
  @ApiParam({ name: 'operationId', format: 'uuid' })
  @ApiResponse({ status: 200, type: OperationStatusDto })
  @UNAUTHORIZED
  @FORBIDDEN
  @ApiResponse({ status: 404, type: AdaxesErrorDto, description: 'operationNotFound.' })
  async runningOperation(@Param('operationId') id: string, @Res() res: Response): Promise<void> {
    const task = await this.tasks.getTask(id).catch((e: unknown) => {
      if (e instanceof DomainError && e.code === 'taskNotFound')
        throw notFound('operationNotFound', `No operation with id ${id}.`);
      throw e;
    });
    res.status(200).json(toOperationStatus(task));
  }

  beforeApplicationShutdown(): void {
    for (const wait of this.waiting) wait.abort();
  }

  private async answer(res: Response, created: TaskView, waitMs: number): Promise<void> {
    const task = created.status === 'inProgress' ? await this.waitForEnd(created.id, waitMs, res) : created;
    if (!res.socket || res.socket.destroyed) return; // the client has gone: nobody to answer
    if (task) {
      res.status(200).json(toOperationResult(task));
      return;
    }
    const accepted: OperationAcceptedDto = {
      operationId: created.id,
      completed: false,
      operationResult: null,
    };
    res.status(202).location(`${ADAXES_BASE_PATH}/api/runningOperations/${created.id}`).json(accepted);
  }

  /** The task once it has ended; null when the wait ran out, the client went away or the API is stopping. */
  private async waitForEnd(id: string, waitMs: number, res: Response): Promise<TaskView | null> {
    const stop = new AbortController();
    const onClose = () => stop.abort();
    res.once('close', onClose);
    this.waiting.add(stop);
    try {
      const deadline = Date.now() + waitMs;
      for (let interval = FIRST_POLL_MS; ; interval = Math.min(interval * 1.5, MAX_POLL_MS)) {
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await delay(Math.min(interval, left), undefined, { signal: stop.signal });
        const task = await this.tasks.getTask(id).catch((e: Error) => {
          // The task exists; an answer of 503 would tell the client nothing was done. Poll on; 202 at worst.
          this.logger.warn('could not read the task while waiting for it', { taskId: id, error: e.message });
          return null;
        });
        if (task && task.status !== 'inProgress') return task;
      }
    } catch (e) {
      if (stop.signal.aborted) return null;
      throw e;
    } finally {
      this.waiting.delete(stop);
      res.off('close', onClose);
    }
  }
}

function creator(req: AuthenticatedRequest): string {
  return req.principal?.name ?? 'unknown';
}
