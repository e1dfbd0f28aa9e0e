import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import {
  AccountIdentifier,
  badRequest,
  conflict,
  DomainError,
  isStorableDate,
  LONE_SURROGATE,
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
import {
  Creation,
  NewDisableTask,
  NewEnableTask,
  NewTaskItem,
  TaskEntity,
  TaskStore,
} from '@app/persistence';
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
  batchId?: string;
}

export interface BulkDisableRequest {
  accounts: unknown;
  description?: unknown;
  providers?: unknown;
  callbackUrl?: unknown;
}

export interface BulkEnableRequest {
  accounts: unknown;
  description?: unknown;
  callbackUrl?: unknown;
}

type BulkRequest = BulkDisableRequest | BulkEnableRequest;

/** One account of a request that names several, each with its own description (the Vision One door). */
export interface AccountItem {
  account: unknown;
  description?: unknown;
}

/** What one account got: its new task, or the rule that refused it (the same 4xx it would get on its own). */
export type ItemOutcome = { taskId: string } | { error: DomainError };

export interface CreateOptions {
  /** Record the tasks as one bulk request under this id. */
  batchId?: string;
  /** Rehearse (CONTRACT §5 dryRun): run the same statements, roll back, queue nothing. */
  dryRun?: boolean;
}

/** Creates (or rehearses) the tasks of a bulk request's items: disableItems or enableItems with its request. */
type RunItems = (items: AccountItem[], opts: CreateOptions) => Promise<ItemOutcome[]>;

export type BulkItem =
  | { account: unknown; status: 202; taskId?: string }
  | { account: unknown; status: number; error: { code: string; message: string } & Record<string, unknown> };

/** CONTRACT §5 bulk answer: one item per account, in request order. */
export interface BulkResponse {
  batchId: string;
  items: BulkItem[];
}

export interface BatchView {
  id: string;
  action: TaskAction;
  createdBy: string;
  createdAt: string;
  /** Accounts the request named; accepted ones got a task, rejected ones an error item. */
  requested: number;
  accepted: number;
  rejected: number;
  /** The batch's tasks by status, counted now. */
  counts: Record<TaskStatus, number>;
  /** No accepted task is still in progress. */
  done: boolean;
}

export const MAX_BULK_ACCOUNTS = 10_000;
export const MAX_DESCRIPTION_LENGTH = 2000;
/** How long a create waits for Redis before answering anyway (the reconciler queues the task later). */
const ENQUEUE_TIMEOUT_MS = 2000;
/** A bulk's jobs take longer to hand to Redis: this much more per target, on top of ENQUEUE_TIMEOUT_MS. */
const ENQUEUE_TIMEOUT_PER_TARGET_MS = 1;
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
   * CONTRACT §5 bulk Disable: one task per account, each under the same rules as one by one; an account that
   * breaks one (a bad identifier, the Disable limit) gets its error item and the others go ahead. A request
   * that is wrong as a whole (no accounts, an unknown provider, a bad description) is refused whole.
   */
  async createDisableTasks(req: BulkDisableRequest, createdBy: string): Promise<BulkResponse> {
    return this.createBulk(req, (items, opts) => this.disableItems(items, req, createdBy, opts));
  }

  /** CONTRACT §5 bulk Enable: as createDisableTasks, each account refused or accepted as on its own. */
  async createEnableTasks(req: BulkEnableRequest, createdBy: string): Promise<BulkResponse> {
    return this.createBulk(req, (items, opts) => this.enableItems(items, req, createdBy, opts));
  }

  /** A bulk Disable's `dryRun`: what each account would get, from the very statements a create runs, rolled back. */
  async previewDisableTasks(req: BulkDisableRequest, createdBy: string): Promise<{ items: BulkItem[] }> {
    return this.previewBulk(req, (items, opts) => this.disableItems(items, req, createdBy, opts));
  }

  /** A bulk Enable's `dryRun`. */
  async previewEnableTasks(req: BulkEnableRequest, createdBy: string): Promise<{ items: BulkItem[] }> {
    return this.previewBulk(req, (items, opts) => this.enableItems(items, req, createdBy, opts));
  }

  private async createBulk(req: BulkRequest, run: RunItems): Promise<BulkResponse> {
    const { accounts, items } = bulkRequestItems(req);
    const batchId = randomUUID();
    return { batchId, items: bulkItems(accounts, await run(items, { batchId })) };
  }

  private async previewBulk(req: BulkRequest, run: RunItems): Promise<{ items: BulkItem[] }> {
    const { accounts, items } = bulkRequestItems(req);
    return { items: bulkItems(accounts, await run(items, { dryRun: true }), { dryRun: true }) };
  }

  /**
   * Disable tasks for accounts that each carry their own description (the Vision One door's arrays): the
   * same path as the bulk routes. An item's own mistakes are its error; `common` mistakes refuse the request.
   */
  async disableItems(
    items: readonly AccountItem[],
    common: { providers?: unknown; callbackUrl?: unknown },
    createdBy: string,
    opts: CreateOptions = {},
  ): Promise<ItemOutcome[]> {
    const callbackUrl = optionalCallbackUrl(common.callbackUrl);
    const providers = this.selectProviders(common.providers);
    const { outcomes, valid } = checkItems(items);
    const batch = {
      createdBy,
      callbackUrl,
      requestedProviders: common.providers === undefined ? null : providers.map((p) => p.id),
      targets: providers.map((p) => ({ provider: p.id, kind: p.kind })),
      items: valid.map((v) => v.item),
      batch: opts.batchId ? { id: opts.batchId, requested: items.length } : undefined,
    };
    if (opts.dryRun) return placed(outcomes, valid, await this.store.rehearseDisableTasks(batch));
    return this.afterCreateMany(
      'disableAccount',
      outcomes,
      valid,
      await this.store.createDisableTasks(batch),
    );
  }

  /** Enable tasks for accounts that each carry their own description; see disableItems. */
  async enableItems(
    items: readonly AccountItem[],
    common: { callbackUrl?: unknown },
    createdBy: string,
    opts: CreateOptions = {},
  ): Promise<ItemOutcome[]> {
    const callbackUrl = optionalCallbackUrl(common.callbackUrl);
    const { outcomes, valid } = checkItems(items);
    const batch = {
      createdBy,
      callbackUrl,
      configuredProviders: this.config.providers.map((p) => p.id),
      items: valid.map((v) => v.item),
      batch: opts.batchId ? { id: opts.batchId, requested: items.length } : undefined,
    };
    if (opts.dryRun) return placed(outcomes, valid, await this.store.rehearseEnableTasks(batch));
    return this.afterCreateMany('enableAccount', outcomes, valid, await this.store.createEnableTasks(batch));
  }

  /** CONTRACT §5: a bulk request's tasks counted by status, now. */
  async getBatch(id: string): Promise<BatchView> {
    const batch = UUID.test(id) ? await this.store.findBatch(id) : null;
    if (!batch) throw notFound('batchNotFound', `No batch with id ${id}.`);
    return {
      id: batch.id,
      action: batch.action,
      createdBy: batch.createdBy,
      createdAt: new Date(batch.createdAt).toISOString(),
      requested: batch.requested,
      accepted: batch.accepted,
      rejected: batch.rejected,
      counts: batch.counts,
      done: batch.counts.inProgress === 0,
    };
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
    if (req.batchId !== undefined && !UUID.test(req.batchId))
      throw badRequest('invalidQuery', 'batchId must be a batch id (a UUID)');
    const tasks = await this.store.listTasks({
      batchId: req.batchId,
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
    // The task is already committed; if Redis is down the reconciler queues it once Redis is back.
    await this.queueWithin(
      ENQUEUE_TIMEOUT_MS,
      () => this.dispatcher.enqueueMany([{ taskId: id, providers: pending }]),
      { taskId: id },
    );
    return toTaskView(task);
  }

  /**
   * Queues the accepted tasks' targets (one addBulk per provider) and puts each outcome back in its place.
   * As for one task, the tasks are already committed: if Redis is slow or down the reconciler queues them.
   */
  private async afterCreateMany(
    action: TaskAction,
    outcomes: ItemOutcome[],
    valid: ReadonlyArray<{ index: number }>,
    created: Creation[],
  ): Promise<ItemOutcome[]> {
    const queued: Array<{ taskId: string; providers: string[] }> = [];
    for (const c of created) {
      if ('error' in c) continue;
      queued.push({ taskId: c.taskId, providers: c.pending });
      this.metrics?.taskCreated(action);
    }
    const targets = queued.reduce((n, q) => n + q.providers.length, 0);
    await this.queueWithin(
      ENQUEUE_TIMEOUT_MS + targets * ENQUEUE_TIMEOUT_PER_TARGET_MS,
      () => this.dispatcher.enqueueMany(queued),
      { tasks: queued.length },
    );
    return placed(outcomes, valid, created);
  }

  /**
   * ioredis holds commands while it reconnects, so an add could hang for ever: the caller is answered after
   * `ms` at most, and the reconciler queues whatever did not make it.
   */
  private async queueWithin(ms: number, enqueue: () => Promise<void>, log: Record<string, unknown>) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    });
    const enqueued = enqueue();
    enqueued.catch(() => undefined);
    await Promise.race([enqueued, timeout])
      .catch((e: Error) =>
        this.logger.warn('could not queue targets now; the reconciler will', { ...log, error: e.message }),
      )
      .finally(() => clearTimeout(timer));
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

/** The `accounts` of a bulk body: an array of 1 to MAX_BULK_ACCOUNTS entries (each is checked on its own). */
function bulkAccounts(v: unknown): unknown[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BULK_ACCOUNTS) {
    throw badRequest(
      'invalidAccounts',
      `accounts must be an array of 1 to ${MAX_BULK_ACCOUNTS} account identifiers` +
        (Array.isArray(v) ? `; it holds ${v.length}` : ''),
    );
  }
  return v;
}

/** A bulk body's accounts, each paired with the description all of them share. */
function bulkRequestItems(req: BulkRequest): { accounts: unknown[]; items: AccountItem[] } {
  const accounts = bulkAccounts(req.accounts);
  const description = optionalDescription(req.description);
  return { accounts, items: accounts.map((account) => ({ account, description })) };
}

/** Each item's account and description checked on its own: a mistake is that item's error, not the request's. */
function checkItems(items: readonly AccountItem[]): {
  outcomes: ItemOutcome[];
  valid: Array<{ index: number; item: NewTaskItem }>;
} {
  const outcomes: ItemOutcome[] = new Array(items.length);
  const valid: Array<{ index: number; item: NewTaskItem }> = [];
  items.forEach((it, index) => {
    try {
      const account = parseAccountIdentifier(it.account);
      valid.push({
        index,
        item: {
          account: account.raw,
          description: optionalDescription(it.description),
          identifierKeys: matchKeys(account),
        },
      });
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      outcomes[index] = { error: e };
    }
  });
  return { outcomes, valid };
}

/** The store's answers for the valid items, put back in their places among the items refused before it. */
function placed(
  outcomes: ItemOutcome[],
  valid: ReadonlyArray<{ index: number }>,
  created: Creation[],
): ItemOutcome[] {
  created.forEach((c, k) => {
    outcomes[valid[k].index] = 'error' in c ? { error: c.error } : { taskId: c.taskId };
  });
  return outcomes;
}

/** A dry run's accepted items carry no task id: the tasks were rolled back and the ids mean nothing. */
function bulkItems(
  accounts: unknown[],
  outcomes: ItemOutcome[],
  opts: { dryRun?: boolean } = {},
): BulkItem[] {
  return outcomes.map((o, i) => {
    const account = echoed(accounts[i]);
    if ('error' in o) {
      const error = { code: o.error.code, message: o.error.message, ...o.error.details };
      return { account, status: o.error.httpStatus, error };
    }
    return opts.dryRun ? { account, status: 202 } : { account, status: 202, taskId: o.taskId };
  });
}

/**
 * The entry an item answers, as given, so a caller can match answers to its list. An object or array (never
 * an account) is answered as null: echoing a hostile one nested thousands deep would overflow the serialiser.
 */
function echoed(account: unknown): unknown {
  if (account !== null && typeof account === 'object') return null;
  // Half a surrogate pair and NUL cannot be stored as JSON in PostgreSQL (an Idempotency-Key's saved answer):
  // echoed as U+FFFD, the way a decoder shows what it cannot read.
  return typeof account === 'string' ? account.replace(UNSTORABLE, '\uFFFD') : account;
}

const UNSTORABLE = new RegExp(`${LONE_SURROGATE.source}|\\u0000`, 'g');

function optionalDescription(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw badRequest('invalidDescription', 'description must be a string');
  // PostgreSQL text cannot hold U+0000.
  if (v.includes('\u0000'))
    throw badRequest('invalidDescription', 'description must not contain NUL characters');
  if (LONE_SURROGATE.test(v))
    throw badRequest(
      'invalidDescription',
      'description must be valid Unicode text (it holds a lone surrogate)',
    );
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
