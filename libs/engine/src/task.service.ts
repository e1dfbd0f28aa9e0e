import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import {
  AccountIdentifier,
  badRequest,
  conflict,
  DomainError,
  isStorableDate,
  matchKeys,
  notFound,
  parseAccountIdentifier,
  TaskAction,
  TaskStatus,
  TASK_ACTIONS,
  TASK_STATUSES,
} from '@app/domain';
import { AppLogger } from '@app/logging';
import { AppMetrics } from '@app/metrics';
import { NewDisableTask, NewEnableTask, TaskEntity, TaskStore } from '@app/persistence';
import { TargetDispatcher } from '@app/queue';
import { TaskEventView, toTaskEventView } from './task-events';
import { TaskPreview, toTaskPreview } from './task-preview';
import { toTaskView, TaskView } from './task-view';

export interface DisableRequest {
  account: unknown;
  description?: unknown;
  providers?: unknown;
  callbackUrl?: unknown;
}

export interface EnableRequest {
  account?: unknown;
  description?: unknown;
  callbackUrl?: unknown;
}

export interface ListRequest {
  action?: string;
  status?: string;
  account?: string;
  q?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit?: string;
  cursor?: string;
}

export const MAX_DESCRIPTION_LENGTH = 2000;
/** How long a create waits for Redis before answering anyway (the reconciler queues the task later). */
const ENQUEUE_TIMEOUT_MS = 2000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The use cases every door (native API, Vision One-style, Adaxes-style) calls. Input arrives untyped and is
 * checked here, so each door gets the same 4xx for the same mistake and nothing is written on bad input.
 */
@Injectable()
export class TaskService {
  constructor(
    private readonly store: TaskStore,
    private readonly dispatcher: TargetDispatcher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly logger: AppLogger,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  async createDisableTask(req: DisableRequest, createdBy: string): Promise<TaskView> {
    const id = await this.store.createDisableTask(this.disableInput(req, createdBy));
    return this.afterCreate(id);
  }

  /**
   * CONTRACT §5 `?dryRun=true`: the Disable task as it would be, from the very statements a create runs, rolled
   * back. Nothing is stored or queued, and it counts against no Disable limit (it may still be refused by one).
   */
  async previewDisableTask(req: DisableRequest, createdBy: string): Promise<TaskPreview> {
    return toTaskPreview(await this.store.rehearseDisableTask(this.disableInput(req, createdBy)));
  }

  async createEnableTask(req: EnableRequest, createdBy: string): Promise<TaskView> {
    return this.enable(parseAccountIdentifier(req.account), req, createdBy);
  }

  /** The Enable task createEnableTask would create now, or the 409 it would get; nothing is stored. */
  async previewEnableTask(req: EnableRequest, createdBy: string): Promise<TaskPreview> {
    const input = this.enableInput(parseAccountIdentifier(req.account), req, createdBy);
    return toTaskPreview(await this.store.rehearseEnableTask(input));
  }

  /** The analyst's flow: "Enable User Account" from the options of a Disable task. */
  async createEnableFromDisableTask(
    disableTaskId: string,
    req: EnableRequest,
    createdBy: string,
  ): Promise<TaskView> {
    const disable = await this.disableTaskToReverse(disableTaskId);
    return this.enable(parseAccountIdentifier(disable.account), req, createdBy, disableTaskId);
  }

  async previewEnableFromDisableTask(
    disableTaskId: string,
    req: EnableRequest,
    createdBy: string,
  ): Promise<TaskPreview> {
    const disable = await this.disableTaskToReverse(disableTaskId);
    const input = this.enableInput(parseAccountIdentifier(disable.account), req, createdBy, disableTaskId);
    return toTaskPreview(await this.store.rehearseEnableTask(input));
  }

  /** CONTRACT §5: the task's timeline from its audit trail, oldest first. */
  async getTaskEvents(id: string): Promise<{ items: TaskEventView[] }> {
    await this.findEntity(id);
    return { items: (await this.store.events(id)).map(toTaskEventView) };
  }

  private async disableTaskToReverse(disableTaskId: string): Promise<TaskEntity> {
    const disable = await this.findEntity(disableTaskId);
    if (disable.action !== 'disableAccount') {
      throw badRequest(
        'notADisableTask',
        `Task ${disableTaskId} is an ${disable.action} task, not a Disable task.`,
      );
    }
    return disable;
  }

  private disableInput(req: DisableRequest, createdBy: string): NewDisableTask {
    const account = parseAccountIdentifier(req.account);
    const description = optionalDescription(req.description);
    const callbackUrl = optionalCallbackUrl(req.callbackUrl);
    const providers = this.selectProviders(req.providers);
    return {
      account: account.raw,
      description,
      callbackUrl,
      createdBy,
      requestedProviders: req.providers === undefined ? null : providers.map((p) => p.id),
      identifierKeys: matchKeys(account),
      targets: providers.map((p) => ({ provider: p.id, kind: p.kind })),
    };
  }

  private async enable(
    account: AccountIdentifier,
    req: EnableRequest,
    createdBy: string,
    disableTaskId?: string,
  ): Promise<TaskView> {
    const id = await this.store.createEnableTask(this.enableInput(account, req, createdBy, disableTaskId));
    return this.afterCreate(id);
  }

  private enableInput(
    account: AccountIdentifier,
    req: EnableRequest,
    createdBy: string,
    disableTaskId?: string,
  ): NewEnableTask {
    return {
      account: account.raw,
      description: optionalDescription(req.description),
      callbackUrl: optionalCallbackUrl(req.callbackUrl),
      createdBy,
      identifierKeys: matchKeys(account),
      disableTaskId,
      configuredProviders: this.config.providers.map((p) => p.id),
    };
  }

  /**
   * CONTRACT §4.1 cancel: targets not yet acting end `skipped/cancelled`; one already writing finishes, so the
   * directory is never left half-changed by a cancel. The task rolls up as usual.
   */
  async cancelTask(id: string, actor: string): Promise<TaskView> {
    const cancelled = UUID.test(id) ? await this.store.cancelTask(id, actor) : null;
    if (cancelled === null) throw notFound('taskNotFound', `No task with id ${id}.`);
    if (!cancelled) {
      const task = await this.findEntity(id);
      throw conflict(
        'taskEnded',
        `Task ${id} has already ended as ${task.status}; it can no longer be cancelled.`,
        {
          taskId: id,
          status: task.status,
        },
      );
    }
    return this.getTask(id);
  }

  async getTask(id: string): Promise<TaskView> {
    return toTaskView(await this.findEntity(id));
  }

  async listTasks(req: ListRequest): Promise<{ items: TaskView[]; nextCursor: string | null }> {
    // Query strings arrive parsed by Express: `?q=a&q=b` is an array, `?q[x]=1` an object.
    for (const [name, value] of Object.entries(req)) {
      if (value !== undefined && typeof value !== 'string')
        throw badRequest('invalidQuery', `${name} must be given once, as a plain value`);
      if (typeof value === 'string' && value.includes('\u0000'))
        throw badRequest('invalidQuery', `${name} must not contain NUL characters`);
    }
    const limit = req.limit === undefined ? 50 : Number(req.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200)
      throw badRequest('invalidQuery', 'limit must be 1 to 200');
    if (req.action !== undefined && !TASK_ACTIONS.includes(req.action as TaskAction)) {
      throw badRequest('invalidQuery', `action must be one of ${TASK_ACTIONS.join(', ')}`);
    }
    if (req.status !== undefined && !TASK_STATUSES.includes(req.status as TaskStatus)) {
      throw badRequest('invalidQuery', `status must be one of ${TASK_STATUSES.join(', ')}`);
    }
    const tasks = await this.store.listTasks({
      action: req.action as TaskAction | undefined,
      status: req.status as TaskStatus | undefined,
      accountKeys: req.account ? matchKeys(parseAccountIdentifier(req.account)) : undefined,
      q: req.q ? req.q.slice(0, 256) : undefined,
      createdAfter: optionalDate(req.createdAfter, 'createdAfter'),
      createdBefore: optionalDate(req.createdBefore, 'createdBefore'),
      limit: limit + 1,
      cursor: req.cursor ? decodeCursor(req.cursor) : undefined,
    });
    const page = tasks.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toTaskView),
      nextCursor: tasks.length > limit && last ? encodeCursor(last) : null,
    };
  }

  private async findEntity(id: string): Promise<TaskEntity> {
    const task = UUID.test(id) ? await this.store.findTask(id) : null;
    if (!task) throw notFound('taskNotFound', `No task with id ${id}.`);
    return task;
  }

  private async afterCreate(id: string): Promise<TaskView> {
    const task = await this.findEntity(id);
    this.metrics?.taskCreated(task.action);
    const pending = task.targets.filter((t) => t.status === 'pending').map((t) => t.provider);
    // The task is already committed; if Redis is down the reconciler queues it once Redis is back. The caller
    // is not kept waiting for that: ioredis holds commands while it reconnects, so an add could hang for ever.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`)),
        ENQUEUE_TIMEOUT_MS,
      );
    });
    const enqueued = this.dispatcher.enqueue(id, pending);
    enqueued.catch(() => undefined);
    await Promise.race([enqueued, timeout])
      .catch((e: Error) =>
        this.logger.warn('could not queue targets now; the reconciler will', {
          taskId: id,
          error: e.message,
        }),
      )
      .finally(() => clearTimeout(timer));
    return toTaskView(task);
  }

  private selectProviders(requested: unknown) {
    const configured = this.config.providers;
    if (configured.length === 0) {
      throw new DomainError(503, 'noProvidersConfigured', 'No directories are configured (PROVIDERS_FILE).');
    }
    if (requested === undefined || requested === null) return configured;
    if (!Array.isArray(requested) || requested.length === 0 || requested.some((p) => typeof p !== 'string')) {
      throw badRequest('invalidProviders', 'providers must be a non-empty array of provider ids');
    }
    const unknown = requested.filter((p) => !configured.some((c) => c.id === p));
    if (unknown.length) {
      throw badRequest(
        'unknownProvider',
        `Unknown provider(s): ${unknown.join(', ')}. Configured: ${configured.map((c) => c.id).join(', ')}`,
      );
    }
    return configured.filter((c) => requested.includes(c.id));
  }
}

function optionalDescription(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw badRequest('invalidDescription', 'description must be a string');
  // PostgreSQL text cannot hold U+0000.
  if (v.includes('\u0000'))
    throw badRequest('invalidDescription', 'description must not contain NUL characters');
  if (v.length > MAX_DESCRIPTION_LENGTH) {
    throw badRequest(
      'invalidDescription',
      `description must be at most ${MAX_DESCRIPTION_LENGTH} characters`,
    );
  }
  return v;
}

function optionalCallbackUrl(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length > 2048)
    throw badRequest('invalidCallbackUrl', 'callbackUrl must be a URL string');
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw badRequest('invalidCallbackUrl', 'callbackUrl must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw badRequest('invalidCallbackUrl', 'callbackUrl must use http or https');
  }
  return url.toString();
}

function optionalDate(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (!isStorableDate(d))
    throw badRequest('invalidQuery', `${name} must be an ISO 8601 date-time between years 1 and 9999`);
  return d;
}

function encodeCursor(t: TaskEntity): string {
  return Buffer.from(`${new Date(t.createdAt).toISOString()}|${t.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at);
  if (!id || !UUID.test(id) || !isStorableDate(createdAt))
    throw badRequest('invalidCursor', 'cursor is not valid');
  return { createdAt, id };
}
