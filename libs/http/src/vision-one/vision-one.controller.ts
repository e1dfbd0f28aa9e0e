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
  UseFilters,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { ApiKeyGuard, AuthenticatedRequest, RequireScope } from '@app/auth';
import { AccountItem, ItemOutcome, TaskService, toTaskView } from '@app/engine';
import { TaskSearchStore } from '@app/persistence';
import { refuseDryRun } from '../dry-run';
import { IdempotencyInterceptor } from '../idempotency.interceptor';
import { FILTER_ACTIONS, FILTER_STATUSES } from './filter-parser';
import {
  accepted,
  checkBatch,
  checkItem,
  itemForError,
  MAX_BATCH_ITEMS,
  VisionOneItemResult,
} from './vision-one-batch';
import { VisionOneExceptionFilter } from './vision-one-errors';
import {
  VisionOneAccountItemDto,
  VisionOneErrorBodyDto,
  VisionOneMultiStatusItemDto,
  VisionOneTaskDto,
  VisionOneTaskListDto,
} from './vision-one.dto';
import {
  DATE_TIME_TARGETS,
  encodeSkipToken,
  parseListQuery,
  TOP_VALUES,
  VisionOneListQuery,
} from './vision-one-query';
import { toVisionOneTask, VisionOneTask } from './vision-one-view';

type DoorRequest = Request & AuthenticatedRequest;

const TASKS_PATH = '/v3.0/response/tasks';

/**
 * The scheme and host the caller used, so Operation-Location and nextLink point back where it called.
 * X-Forwarded-Proto/Host count only when Express's `trust proxy` is on (it is off by default): otherwise
 * any caller could make the engine hand out links to a host of its choosing.
 */
function baseUrl(req: Request): string {
  return req.host ? `${req.protocol}://${req.host}` : '';
}

const creator = (req: AuthenticatedRequest) => req.principal?.name ?? 'unknown';

const ErrorResponses = (...statuses: number[]) =>
  applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        type: VisionOneErrorBodyDto,
        description: {
          400: 'BadRequest: the request as a whole is malformed; nothing was created.',
          401: 'Unauthorized: no API key, or an unknown or revoked one.',
          403: 'AccessDenied: the API key lacks the scope (tasks:write to create, tasks:read to read).',
          404: 'NotFound: no task with this id.',
          503: 'ServiceUnavailable: the database is unreachable; retry after Retry-After seconds.',
        }[status],
      }),
    ),
  );

/**
 * The Trend Vision One-style door (CONTRACT §6) for SOAR playbooks written against Vision One's response API:
 * the same TaskService, rules and roll-up as the native API, in Vision One's shapes and words.
 */
@ApiTags('vision-one')
@ApiBearerAuth()
@Controller('v3.0/response')
@UseGuards(ApiKeyGuard)
@UseFilters(VisionOneExceptionFilter)
@UseInterceptors(IdempotencyInterceptor)
export class VisionOneController {
  constructor(
    private readonly tasks: TaskService,
    private readonly search: TaskSearchStore,
  ) {}

  @Post('domainAccounts/disable')
  @HttpCode(207)
  @RequireScope('tasks:write')
  @ApiOperation({
    summary: 'Disable user accounts (Vision One "Disable User Account"): one task per item.',
    description: `Each item is answered on its own, in request order (1 to ${MAX_BATCH_ITEMS} items). A Disable is always accepted.`,
  })
  @ApiBody({ type: VisionOneAccountItemDto, isArray: true })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({
    status: 207,
    type: VisionOneMultiStatusItemDto,
    isArray: true,
    description: 'One item per account.',
  })
  @ErrorResponses(400, 401, 403, 503)
  disable(@Body() body: unknown, @Req() req: DoorRequest): Promise<VisionOneItemResult[]> {
    refuseDryRun(req.query);
    return this.createAll(body, req, (items) => this.tasks.disableItems(items, {}, creator(req)));
  }

  @Post('domainAccounts/enable')
  @HttpCode(207)
  @RequireScope('tasks:write')
  @ApiOperation({
    summary: 'Re-enable user accounts a Disable task disabled (Vision One "Enable User Account").',
    description:
      'Each item is answered on its own, in request order. "Task duplication." (with the running task\'s ' +
      'Operation-Location) while a Disable or Enable of the account is in progress; "Target not found." when ' +
      'no Disable task of the account is left to reverse.',
  })
  @ApiBody({ type: VisionOneAccountItemDto, isArray: true })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({
    status: 207,
    type: VisionOneMultiStatusItemDto,
    isArray: true,
    description: 'One item per account.',
  })
  @ErrorResponses(400, 401, 403, 503)
  enable(@Body() body: unknown, @Req() req: DoorRequest): Promise<VisionOneItemResult[]> {
    refuseDryRun(req.query);
    return this.createAll(body, req, (items) => this.tasks.enableItems(items, {}, creator(req)));
  }

  @Get('tasks/:id')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'One task with its per-directory results in `tasks` (poll Operation-Location).' })
  @ApiParam({ name: 'id', description: 'The last path segment of Operation-Location.' })
  @ApiResponse({ status: 200, type: VisionOneTaskDto })
  @ErrorResponses(401, 403, 404, 503)
  async get(@Param('id') id: string): Promise<VisionOneTask> {
    return toVisionOneTask(await this.tasks.getTask(id));
  }

  @Get('tasks')
  @RequireScope('tasks:read')
  @ApiOperation({
    summary: "Tasks, newest first, filtered in Vision One's filter language; follow nextLink for more.",
  })
  @ApiQuery({
    name: 'filter',
    required: false,
    example: "status eq 'running' and action eq 'enableAccount'",
    description:
      'Fields: id, status (' +
      FILTER_STATUSES.join(', ') +
      '), action (' +
      FILTER_ACTIONS.join(', ') +
      "), account (who created the task: the API key name). Operators: eq, and, or, not, ( ). Strings in single quotes; '' inside one is a quote.",
  })
  @ApiQuery({ name: 'top', required: false, enum: [...TOP_VALUES], description: 'Page size; default 50.' })
  @ApiQuery({
    name: 'startDateTime',
    required: false,
    example: '2021-04-05T00:00:00Z',
    description: 'ISO 8601; inclusive.',
  })
  @ApiQuery({
    name: 'endDateTime',
    required: false,
    example: '2021-04-06T00:00:00Z',
    description: 'ISO 8601; inclusive.',
  })
  @ApiQuery({
    name: 'dateTimeTarget',
    required: false,
    enum: DATE_TIME_TARGETS,
    description: 'Which time the date range applies to; default createdDateTime.',
  })
  @ApiQuery({ name: 'skipToken', required: false, description: 'Set by nextLink; opaque.' })
  @ApiResponse({ status: 200, type: VisionOneTaskListDto })
  @ErrorResponses(400, 401, 403, 503)
  async list(
    @Query() query: VisionOneListQuery,
    @Req() req: Request,
  ): Promise<{ items: VisionOneTask[]; nextLink?: string }> {
    const { search, top, echo } = parseListQuery(query);
    const found = await this.search.search({ ...search, limit: top + 1 });
    const page = found.slice(0, top);
    const items = page.map((t) => toVisionOneTask(toTaskView(t)));
    const last = page[page.length - 1];
    if (found.length <= top || !last) return { items };
    const next = new URLSearchParams([...echo, ['skipToken', encodeSkipToken(last.seq)]]);
    return { items, nextLink: `${baseUrl(req)}${TASKS_PATH}?${next.toString()}` };
  }

  /**
   * One task per item, through the same path as the native bulk routes: every item is decided exactly as if
   * the items came one after another in request order (two Enables of one account in a batch: the second is
   * a duplication of the first). An item this door refuses on its own is answered in its place.
   */
  private async createAll(
    body: unknown,
    req: DoorRequest,
    create: (items: AccountItem[]) => Promise<ItemOutcome[]>,
  ): Promise<VisionOneItemResult[]> {
    const locate = (id: string) => `${baseUrl(req)}${TASKS_PATH}/${id}`;
    const raws = checkBatch(body);
    const results: VisionOneItemResult[] = new Array(raws.length);
    const items: AccountItem[] = [];
    const places: number[] = [];
    raws.forEach((raw, i) => {
      const item = checkItem(raw);
      if ('status' in item) {
        results[i] = item;
        return;
      }
      items.push({ account: item.accountName, description: item.description });
      places.push(i);
    });
    if (items.length === 0) return results;
    (await create(items)).forEach((o, k) => {
      results[places[k]] = 'taskId' in o ? accepted(locate(o.taskId)) : itemForError(o.error, locate);
    });
    return results;
  }
}
