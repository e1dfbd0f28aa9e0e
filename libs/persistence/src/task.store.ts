import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import {
  chooseDisableTaskToReverse,
  conflict,
  DisableTaskFacts,
  planEnableTargets,
  ProviderKind,
  rollUp,
  TargetOutcome,
  TargetStatus,
  TaskAction,
  TaskStatus,
} from '@app/domain';
import { TaskEntity, TaskEventType, TaskTargetEntity } from './entities';

export interface NewTask {
  account: string;
  description: string | null;
  createdBy: string;
  callbackUrl: string | null;
  /** Keys (see matchKeys) under which the requested identifier is recorded. */
  identifierKeys: string[];
}

export interface NewDisableTask extends NewTask {
  requestedProviders: string[] | null;
  targets: Array<{ provider: string; kind: ProviderKind }>;
}

export interface ClaimedTarget {
  target: TaskTargetEntity;
  task: TaskEntity;
  /** For an Enable task: the target of the Disable task it reverses, for the same provider. */
  disableTarget: TaskTargetEntity | null;
}

export interface TargetResult {
  status: Extract<TargetStatus, 'succeeded' | 'failed' | 'skipped'>;
  outcome: TargetOutcome | null;
  objectId?: string | null;
  objectRef?: string | null;
  error?: { code: string; message: string } | null;
  /** Identifiers the directory knows the account by, recorded for matching later Enable requests. */
  identifierKeys?: string[];
}

export interface TaskListFilter {
  action?: TaskAction;
  status?: TaskStatus;
  accountKeys?: string[];
  q?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  limit: number;
  cursor?: { createdAt: Date; id: string };
}

const PG_UNIQUE_VIOLATION = '23505';

/**
 * Every write of task state goes through here, each in one transaction, so that PostgreSQL stays the one
 * source of truth and the queue only ever carries copies of what it knows.
 */
@Injectable()
export class TaskStore {
  constructor(private readonly dataSource: DataSource) {}

  async createDisableTask(input: NewDisableTask): Promise<string> {
    return this.dataSource.transaction(async (m) => {
      const task = await this.insertTask(m, 'disableAccount', null, input);
      for (const t of input.targets) {
        await m.insert(TaskTargetEntity, {
          taskId: task.id,
          provider: t.provider,
          kind: t.kind,
          status: 'pending',
        });
      }
      await this.recordIdentifiers(m, task.id, input.identifierKeys, 'requested');
      await this.appendEvent(m, task.id, 'task.created', null, 'inProgress', input.createdBy, {
        action: 'disableAccount',
        providers: input.targets.map((t) => t.provider),
      });
      if (input.targets.length === 0) await this.rollUpTask(m, task.id, 'disableAccount', input.createdBy);
      return task.id;
    });
  }

  /**
   * Creates an Enable task for the account named by `identifierKeys` (or for the given Disable task). The
   * candidate Disable tasks are locked first, so two requests racing for one account are serialised here,
   * and the partial unique index `tasks_one_enable_in_progress` backs the rule up inside the database.
   */
  async createEnableTask(input: NewTask & { disableTaskId?: string }): Promise<string> {
    try {
      return await this.dataSource.transaction(async (m) => {
        const candidateIds = input.disableTaskId
          ? [input.disableTaskId]
          : await this.disableTasksMatching(m, input.identifierKeys);
        const candidates = await this.lockDisableFacts(m, candidateIds);
        const chosen = chooseDisableTaskToReverse(candidates);
        const planned = planEnableTargets(chosen);

        const task = await this.insertTask(m, 'enableAccount', chosen.id, input);
        const now = new Date();
        for (const p of planned) {
          await m.insert(TaskTargetEntity, {
            taskId: task.id,
            provider: p.provider,
            kind: p.kind,
            status: p.status,
            outcome: p.outcome,
            objectId: p.objectId,
            objectRef: p.objectRef,
            finishedAt: p.status === 'skipped' ? now : null,
          });
        }
        await this.recordIdentifiers(m, task.id, input.identifierKeys, 'requested');
        await this.appendEvent(m, task.id, 'task.created', null, 'inProgress', input.createdBy, {
          action: 'enableAccount',
          disableTaskId: chosen.id,
          providers: planned.map((p) => p.provider),
        });
        if (!planned.some((p) => p.status === 'pending'))
          await this.rollUpTask(m, task.id, 'enableAccount', input.createdBy);
        return task.id;
      });
    } catch (e) {
      if ((e as { code?: string }).code === PG_UNIQUE_VIOLATION) {
        // Lost the race to a concurrent request for the same account: report its task, as the rule asks.
        const ids = input.disableTaskId
          ? [input.disableTaskId]
          : await this.disableTasksMatching(this.dataSource.manager, input.identifierKeys);
        const [running]: Array<{ id: string }> = await this.dataSource.query(
          `SELECT id FROM tasks WHERE action = 'enableAccount' AND status = 'inProgress' AND disable_task_id = ANY($1)
            ORDER BY created_at DESC LIMIT 1`,
          [ids],
        );
        throw conflict(
          'taskInProgress',
          'An Enable User Account task for this account is already in progress.',
          {
            taskId: running?.id ?? null,
          },
        );
      }
      throw e;
    }
  }

  async findTask(id: string): Promise<TaskEntity | null> {
    const task = await this.dataSource.getRepository(TaskEntity).findOne({ where: { id } });
    if (!task) return null;
    task.targets = await this.dataSource
      .getRepository(TaskTargetEntity)
      .find({ where: { taskId: id }, order: { provider: 'ASC' } });
    return task;
  }

  async listTasks(f: TaskListFilter): Promise<TaskEntity[]> {
    const qb = this.dataSource.getRepository(TaskEntity).createQueryBuilder('t');
    if (f.action) qb.andWhere('t.action = :action', { action: f.action });
    if (f.status) qb.andWhere('t.status = :status', { status: f.status });
    if (f.accountKeys?.length) {
      qb.andWhere('t.id IN (SELECT task_id FROM account_identifiers WHERE key = ANY(:keys))', {
        keys: f.accountKeys,
      });
    }
    if (f.q) {
      qb.andWhere(
        "(t.account ILIKE :q ESCAPE '\\' OR t.description ILIKE :q ESCAPE '\\' OR t.id::text = :exact)",
        {
          q: `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%`,
          exact: f.q,
        },
      );
    }
    if (f.createdAfter) qb.andWhere('t.created_at >= :after', { after: f.createdAfter });
    if (f.createdBefore) qb.andWhere('t.created_at < :before', { before: f.createdBefore });
    if (f.cursor) {
      qb.andWhere('(t.created_at, t.id) < (:cAt, :cId)', { cAt: f.cursor.createdAt, cId: f.cursor.id });
    }
    const tasks = await qb
      .orderBy('t.created_at', 'DESC')
      .addOrderBy('t.id', 'DESC')
      .limit(f.limit)
      .getMany();
    if (tasks.length === 0) return tasks;
    const targets = await this.dataSource
      .getRepository(TaskTargetEntity)
      .createQueryBuilder('x')
      .where('x.task_id IN (:...ids)', { ids: tasks.map((t) => t.id) })
      .orderBy('x.provider', 'ASC')
      .getMany();
    for (const t of tasks) t.targets = targets.filter((x) => x.taskId === t.id);
    return tasks;
  }

  /**
   * Marks a target running and counts the attempt. Returns null when the target has already finished (the
   * job is a stale copy, e.g. re-queued after a Redis restart), which makes every job safe to run twice.
   */
  async claimTarget(taskId: string, provider: string): Promise<ClaimedTarget | null> {
    return this.dataSource.transaction(async (m) => {
      const rows: Array<{ id: string }> = await m.query(
        `UPDATE task_targets SET status = 'running', attempts = attempts + 1,
                started_at = COALESCE(started_at, now()), updated_at = now()
          WHERE task_id = $1 AND provider = $2 AND status IN ('pending', 'running')
          RETURNING id`,
        [taskId, provider],
      );
      const updated = firstRow(rows);
      if (!updated) return null;
      const target = await m.findOneByOrFail(TaskTargetEntity, { id: updated.id });
      const task = await m.findOneByOrFail(TaskEntity, { id: taskId });
      const disableTarget = task.disableTaskId
        ? await m.findOneBy(TaskTargetEntity, { taskId: task.disableTaskId, provider })
        : null;
      if (target.attempts === 1) {
        await this.appendEvent(m, taskId, 'task.targetUpdated', provider, 'running', 'worker', {
          attempt: 1,
        });
      }
      return { target, task, disableTarget };
    });
  }

  /** Remembers what resolve() found before the directory is changed (see TaskTargetEntity.priorState). */
  async recordResolution(
    target: Pick<TaskTargetEntity, 'id' | 'taskId' | 'provider'>,
    found: {
      objectId: string;
      objectRef: string;
      priorState: 'enabled' | 'disabled' | null;
      identifierKeys: string[];
    },
  ): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await m.query(
        `UPDATE task_targets SET object_id = $2, object_ref = $3, prior_state = COALESCE(prior_state, $4), updated_at = now()
          WHERE id = $1`,
        [target.id, found.objectId, found.objectRef, found.priorState],
      );
      await this.recordIdentifiers(m, target.taskId, found.identifierKeys, target.provider);
    });
  }

  /** A transient failure that will be retried: the target goes back to pending with the error kept. */
  async recordRetry(
    targetId: string,
    error: { code: string; message: string },
    retryInMs: number | null,
  ): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const rows: Array<{ task_id: string; provider: string; attempts: number }> = await m.query(
        `UPDATE task_targets SET status = 'pending', error_code = $2, error_message = $3, updated_at = now()
          WHERE id = $1 AND status = 'running' RETURNING task_id, provider, attempts`,
        [targetId, error.code, error.message],
      );
      const row = firstRow(rows);
      if (row) {
        await this.appendEvent(m, row.task_id, 'task.targetUpdated', row.provider, 'pending', 'worker', {
          attempt: row.attempts,
          error,
          retryInMs,
        });
      }
    });
  }

  /**
   * Finishes one target and rolls the task up, atomically and exactly once: the UPDATE only matches an
   * unfinished target, and the task row is locked first so that concurrent finishers see each other's
   * results. Returns false when the target had already finished.
   */
  async finishTarget(taskId: string, provider: string, result: TargetResult): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      // Locked first, so that concurrent finishers of this task's targets see each other's results.
      const [task]: Array<{ action: TaskAction; status: TaskStatus }> = await m.query(
        `SELECT action, status FROM tasks WHERE id = $1 FOR NO KEY UPDATE`,
        [taskId],
      );
      const rows: Array<{ id: string }> = await m.query(
        `UPDATE task_targets
            SET status = $3, outcome = $4, object_id = COALESCE($5, object_id), object_ref = COALESCE($6, object_ref),
                error_code = $7, error_message = $8, finished_at = now(), updated_at = now()
          WHERE task_id = $1 AND provider = $2 AND status IN ('pending', 'running')
          RETURNING id`,
        [
          taskId,
          provider,
          result.status,
          result.outcome,
          result.objectId ?? null,
          result.objectRef ?? null,
          result.error?.code ?? null,
          result.error?.message ?? null,
        ],
      );
      if (!firstRow(rows)) return false;
      if (result.identifierKeys?.length)
        await this.recordIdentifiers(m, taskId, result.identifierKeys, provider);
      await this.appendEvent(m, taskId, 'task.targetUpdated', provider, result.status, 'worker', {
        outcome: result.outcome,
        error: result.error ?? null,
      });
      if (task.status === 'inProgress') await this.rollUpTask(m, taskId, task.action, 'worker');
      return true;
    });
  }

  /** Targets PostgreSQL says are unfinished, for the reconciler to queue again. */
  async unfinishedTargets(
    olderThanMs: number,
    limit = 1000,
  ): Promise<Array<{ taskId: string; provider: string }>> {
    const rows: Array<{ task_id: string; provider: string }> = await this.dataSource.query(
      `SELECT task_id, provider FROM task_targets
        WHERE status IN ('pending', 'running') AND updated_at < now() - ($1 || ' milliseconds')::interval
        ORDER BY updated_at LIMIT $2`,
      [String(olderThanMs), limit],
    );
    return rows.map((r) => ({ taskId: r.task_id, provider: r.provider }));
  }

  async events(
    taskId: string,
  ): Promise<Array<{ type: TaskEventType; provider: string | null; status: string; actor: string }>> {
    return this.dataSource.query(
      `SELECT type, provider, status, actor FROM task_events WHERE task_id = $1 ORDER BY id`,
      [taskId],
    );
  }

  // ---- helpers (all run inside the caller's transaction) ----

  private async insertTask(
    m: EntityManager,
    action: TaskAction,
    disableTaskId: string | null,
    input: NewTask,
  ) {
    const rows: TaskEntity[] = await m.query(
      `INSERT INTO tasks (action, status, account, description, requested_providers, disable_task_id, created_by, callback_url)
       VALUES ($1, 'inProgress', $2, $3, $4, $5, $6, $7) RETURNING id`,
      [
        action,
        input.account,
        input.description,
        (input as Partial<NewDisableTask>).requestedProviders ?? null,
        disableTaskId,
        input.createdBy,
        input.callbackUrl,
      ],
    );
    return firstRow(rows) as { id: string };
  }

  private async disableTasksMatching(m: EntityManager, keys: string[]): Promise<string[]> {
    const rows: Array<{ task_id: string }> = await m.query(
      `SELECT DISTINCT i.task_id FROM account_identifiers i JOIN tasks t ON t.id = i.task_id
        WHERE i.key = ANY($1) AND t.action = 'disableAccount'`,
      [keys],
    );
    return rows.map((r) => r.task_id);
  }

  private async lockDisableFacts(m: EntityManager, ids: string[]): Promise<DisableTaskFacts[]> {
    if (ids.length === 0) return [];
    const tasks: Array<{ id: string; status: TaskStatus; created_at: Date; action: TaskAction }> =
      await m.query(
        `SELECT id, status, created_at, action FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE`,
        [ids],
      );
    const enables: Array<{ id: string; disable_task_id: string; status: TaskStatus }> = await m.query(
      `SELECT id, disable_task_id, status FROM tasks
        WHERE disable_task_id = ANY($1) AND status IN ('inProgress', 'successful') ORDER BY created_at`,
      [ids],
    );
    const targets = await m
      .getRepository(TaskTargetEntity)
      .createQueryBuilder('x')
      .where('x.task_id IN (:...ids)', { ids })
      .getMany();
    return tasks
      .filter((t) => t.action === 'disableAccount')
      .map((t) => ({
        id: t.id,
        status: t.status,
        createdAt: new Date(t.created_at),
        reversedBy: enables.find((e) => e.disable_task_id === t.id && e.status === 'successful')?.id ?? null,
        enableInProgress:
          enables.find((e) => e.disable_task_id === t.id && e.status === 'inProgress')?.id ?? null,
        targets: targets
          .filter((x) => x.taskId === t.id)
          .map((x) => ({
            provider: x.provider,
            kind: x.kind,
            status: x.status,
            outcome: x.outcome,
            objectId: x.objectId,
            objectRef: x.objectRef,
          })),
      }));
  }

  /**
   * For an inProgress task whose row the caller created or holds locked in this transaction: sets the final
   * status once every target has finished.
   */
  private async rollUpTask(
    m: EntityManager,
    taskId: string,
    action: TaskAction,
    actor: string,
  ): Promise<void> {
    const targets: Array<{ status: TargetStatus }> = await m.query(
      `SELECT status FROM task_targets WHERE task_id = $1`,
      [taskId],
    );
    const result = rollUp(
      action,
      targets.map((t) => t.status),
    );
    if (result.status === 'inProgress') {
      await m.query(`UPDATE tasks SET updated_at = now() WHERE id = $1`, [taskId]);
      return;
    }
    const message =
      result.errorCode === 'accountNotFound'
        ? 'The account was not found in any directory the task acted on.'
        : null;
    await m.query(
      `UPDATE tasks SET status = $2, error_code = $3, error_message = $4, completed_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'inProgress'`,
      [taskId, result.status, result.errorCode, message],
    );
    await this.appendEvent(m, taskId, 'task.completed', null, result.status, actor, {
      errorCode: result.errorCode,
    });
  }

  private async recordIdentifiers(
    m: EntityManager,
    taskId: string,
    keys: string[],
    source: string,
  ): Promise<void> {
    const unique = [...new Set(keys.filter((k) => k.length > 0))];
    if (unique.length === 0) return;
    await m.query(
      `INSERT INTO account_identifiers (task_id, key, source) SELECT $1, k, $3 FROM unnest($2::text[]) AS k
       ON CONFLICT DO NOTHING`,
      [taskId, unique, source],
    );
  }

  private async appendEvent(
    m: EntityManager,
    taskId: string,
    type: TaskEventType,
    provider: string | null,
    status: string,
    actor: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await m.query(
      `INSERT INTO task_events (task_id, type, provider, status, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
      [taskId, type, provider, status, actor, JSON.stringify(detail)],
    );
  }
}

function firstRow<T>(rows: T[] | [T[], number]): T | undefined {
  // TypeORM returns [rows, count] for UPDATE … RETURNING on PostgreSQL, and rows for SELECT/INSERT.
  if (Array.isArray(rows) && rows.length === 2 && Array.isArray(rows[0]) && typeof rows[1] === 'number') {
    return (rows[0] as T[])[0];
  }
  return (rows as T[])[0];
}
