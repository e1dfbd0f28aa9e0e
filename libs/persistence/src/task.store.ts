import { Injectable, Optional } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import {
  AccountState,
  assertNoTaskInProgress,
  conflict,
  DisableRecord,
  DomainError,
  formatRateLimit,
  planEnable,
  ProviderKind,
  RelatedTask,
  rollUp,
  TargetOutcome,
  TargetStatus,
  TaskAction,
  TaskStatus,
} from '@app/domain';
import { AppMetrics } from '@app/metrics';
import { TaskEntity, TaskEventType, TaskTargetEntity } from './entities';

export interface NewTask {
  account: string;
  description: string | null;
  createdBy: string;
  callbackUrl: string | null;
  /** Kind-prefixed keys (see matchKeys) under which the requested identifier is recorded. */
  identifierKeys: string[];
}

export interface NewDisableTask extends NewTask {
  requestedProviders: string[] | null;
  targets: Array<{ provider: string; kind: ProviderKind }>;
}

export interface NewEnableTask extends NewTask {
  /** The analyst's "Enable from this Disable task" flow; otherwise the account is found by its keys. */
  disableTaskId?: string;
  /** Providers configured now: a planned target in any other one fails at once (providerNotConfigured). */
  configuredProviders: readonly string[];
}

/** The attempt that owns a target: every write it makes names its claim generation (a fencing token). */
export interface Fence {
  targetId: string;
  generation: number;
}

export interface ClaimedTarget {
  target: TaskTargetEntity;
  task: TaskEntity;
  fence: Fence;
}

export interface TargetResult {
  status: Extract<TargetStatus, 'succeeded' | 'failed' | 'skipped'>;
  outcome: TargetOutcome | null;
  objectId?: string | null;
  objectRef?: string | null;
  error?: { code: string; message: string } | null;
  warnings?: Array<{ code: string; message: string }>;
  /**
   * The state recorded before a write does not make this target a change to reverse (an Entra user synced from
   * on-premises whose sessions alone were revoked: its enabled flag was never ours to change).
   */
  notAChange?: boolean;
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

/** The attempt's claim went to a newer attempt (or the target finished): it must not write anything more. */
export class ClaimLostError extends Error {
  constructor(readonly targetId: string) {
    super(`target ${targetId}: this attempt no longer owns the target`);
    this.name = 'ClaimLostError';
  }
}

/** Someone asked the running attempt to stop (a newer Disable superseded it, or the task was cancelled). */
export class AttemptStoppedError extends Error {
  constructor(readonly reason: 'superseded' | 'cancelled') {
    super(`the target was ${reason} before this write`);
    this.name = 'AttemptStoppedError';
  }
}

export type ObjectLockResult = 'acquired' | 'busy' | 'superseded';

/** Thrown out of a rehearsed creation's transaction to roll it back, carrying the task it had built. */
class Rehearsal extends Error {
  constructor(readonly task: TaskEntity) {
    super('rehearsal: rolled back on purpose');
    this.name = 'Rehearsal';
  }
}

const PG_UNIQUE_VIOLATION = '23505';
/** Below PostgreSQL's b-tree entry limit (about 2,700 bytes) for account_identifiers' primary key. */
const MAX_KEY_BYTES = 2000;
/** Any constant, the same in every process; serialises task creation (see createDisableTask). */
const TASK_CREATION_LOCK_KEY = 727_100_002;

/**
 * Every write of task state goes through here, each in one transaction, so that PostgreSQL stays the one
 * source of truth and the queue only ever carries copies of what it knows.
 *
 * CONTRACT §4.1 lives here in three mechanisms: task creation is serialised (so "the last accepted task" is
 * well defined and its checks see every earlier task), a lease row per directory object lets one target act
 * on it at a time, and every write of an attempt is fenced by its claim generation.
 */
@Injectable()
export class TaskStore {
  /** Transactions of rehearsed creations (dryRun): whatever they do outside PostgreSQL must not happen. */
  private readonly rehearsals = new WeakSet<EntityManager>();

  constructor(
    private readonly dataSource: DataSource,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  /**
   * A Disable is always accepted (CONTRACT §4.1). In the same transaction it supersedes every Enable of the
   * account still in progress: targets not yet acting end `skipped/superseded`, running ones are asked to stop
   * before their next write (and where one already re-enabled the account, this Disable disables it again).
   */
  async createDisableTask(input: NewDisableTask): Promise<string> {
    return this.dataSource.transaction((m) => this.disableInTransaction(m, input));
  }

  /**
   * The Disable task createDisableTask would create now (CONTRACT §5 `dryRun`): the same statements under the
   * same lock, rolled back, so its answer follows exactly the rules of a real create and leaves nothing behind.
   */
  async rehearseDisableTask(input: NewDisableTask): Promise<TaskEntity> {
    return this.rehearse((m) => this.disableInTransaction(m, input));
  }

  private async disableInTransaction(m: EntityManager, input: NewDisableTask): Promise<string> {
    await this.lockTaskCreation(m);
    await this.checkDisableLimit(m, input.createdBy);
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
    const enables: Array<{ id: string }> = await m.query(
      `SELECT DISTINCT t.id FROM tasks t JOIN account_identifiers i ON i.task_id = t.id
        WHERE t.action = 'enableAccount' AND t.status = 'inProgress' AND i.key = ANY($1)`,
      [input.identifierKeys],
    );
    // Only in the directories this Disable covers: an Enable elsewhere still restores what it was asked to.
    const covered = input.targets.map((t) => t.provider);
    for (const e of enables) await this.supersede(m, e.id, covered, task.id);
    if (input.targets.length === 0) await this.rollUpTask(m, task.id, 'disableAccount', input.createdBy);
    return task.id;
  }

  /**
   * Creates an Enable task for the account named by `identifierKeys` (or for the given Disable task), after
   * the checks of CONTRACT §4.1: no Disable or Enable of the account in progress, and a plan that restores,
   * per directory object, the state before the earliest unreversed Disable.
   */
  async createEnableTask(input: NewEnableTask): Promise<string> {
    return this.enableBackstop(() => this.dataSource.transaction((m) => this.enableInTransaction(m, input)));
  }

  /** The Enable task createEnableTask would create now, or the refusal it would get; rolled back (`dryRun`). */
  async rehearseEnableTask(input: NewEnableTask): Promise<TaskEntity> {
    return this.enableBackstop(() => this.rehearse((m) => this.enableInTransaction(m, input)));
  }

  private async enableInTransaction(m: EntityManager, input: NewEnableTask): Promise<string> {
    await this.lockTaskCreation(m);
    const direct = input.disableTaskId
      ? [input.disableTaskId]
      : await this.tasksWithKeys(m, input.identifierKeys);
    const directKeys = await this.keysOf(m, direct);
    assertNoTaskInProgress(await this.relatedInProgress(m, direct, directKeys));

    const records = await this.unreversedRecords(m, direct);
    const sameObjectRunning = await this.disablesInProgressOn(m, records);
    assertNoTaskInProgress(sameObjectRunning);
    const everDisabled = (await this.endedDisables(m, direct)) > 0;
    const plan = planEnable(records, everDisabled);

    const task = await this.insertTask(m, 'enableAccount', plan.disableTaskId, input);
    const now = new Date();
    for (const p of plan.targets) {
      const configured = input.configuredProviders.includes(p.provider);
      const status: TargetStatus = !configured ? 'failed' : p.status;
      const [row]: Array<{ id: string }> = await m.query(
        `INSERT INTO task_targets (task_id, provider, kind, status, outcome, object_id, object_ref, reverses,
                                   error_code, error_message, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
        [
          task.id,
          p.provider,
          p.kind,
          status,
          configured ? p.outcome : null,
          p.objectId,
          p.objectRef,
          p.reverses,
          configured ? null : 'providerNotConfigured',
          configured ? null : `Provider ${p.provider} is no longer configured.`,
          status === 'pending' ? null : now,
        ],
      );
      // Leaving the account disabled as it was before the incident is the reversal, done now.
      if (configured && p.outcome === 'leftDisabled') await this.markReversed(m, row.id, p.reverses);
    }
    const disableKeys = await this.keysOf(m, [...new Set(records.map((r) => r.disableTaskId))]);
    await this.recordIdentifiers(m, task.id, input.identifierKeys, 'requested');
    // A later Disable by any name the reversed Disables knew the account by must find this Enable.
    await this.recordIdentifiers(m, task.id, disableKeys, 'reversed');
    await this.appendEvent(m, task.id, 'task.created', null, 'inProgress', input.createdBy, {
      action: 'enableAccount',
      disableTaskId: plan.disableTaskId,
      providers: plan.targets.map((p) => p.provider),
    });
    if (!plan.targets.some((p) => p.status === 'pending' && input.configuredProviders.includes(p.provider)))
      await this.rollUpTask(m, task.id, 'enableAccount', input.createdBy);
    return task.id;
  }

  private async enableBackstop<T>(create: () => Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (e) {
      if ((e as { code?: string }).code === PG_UNIQUE_VIOLATION) {
        // Backstop only: creation is serialised, so the partial unique index should never fire.
        throw conflict(
          'taskInProgress',
          'An Enable User Account task for this account is already in progress.',
        );
      }
      throw e;
    }
  }

  /**
   * Runs a task creation and rolls it back, answering the task as it stood just before the rollback. The
   * creation lock is held for the same statements as a real create, and for less time overall: a rollback
   * waits for no commit to reach the disk. Ids and sequence values it drew are skipped, as after any rollback.
   */
  private async rehearse(create: (m: EntityManager) => Promise<string>): Promise<TaskEntity> {
    try {
      await this.dataSource.transaction(async (m) => {
        this.rehearsals.add(m);
        const id = await create(m);
        const task = await m.findOneByOrFail(TaskEntity, { id });
        task.targets = await m.find(TaskTargetEntity, { where: { taskId: id }, order: { provider: 'ASC' } });
        throw new Rehearsal(task);
      });
    } catch (e) {
      if (e instanceof Rehearsal) return e.task;
      throw e;
    }
    throw new Error('a rehearsed task creation committed');
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
   * Marks a target running, counts the attempt and takes a new claim generation, which fences off any older
   * attempt still running somewhere (timed out, or on a worker that was thought dead). Returns null when the
   * target has already finished (the job is a stale copy) or was stopped before it could act.
   */
  async claimTarget(taskId: string, provider: string): Promise<ClaimedTarget | null> {
    return this.dataSource.transaction(async (m) => {
      const rows: Array<{
        id: string;
        claim_generation: number;
        stop_reason: 'superseded' | 'cancelled' | null;
      }> = firstRows(
        await m.query(
          `UPDATE task_targets SET status = 'running', attempts = attempts + 1, claim_generation = claim_generation + 1,
                    started_at = COALESCE(started_at, now()), updated_at = now()
              WHERE task_id = $1 AND provider = $2 AND status IN ('pending', 'running')
              RETURNING id, claim_generation, stop_reason`,
          [taskId, provider],
        ),
      );
      const updated = rows[0];
      if (!updated) return null;
      const fence = { targetId: updated.id, generation: updated.claim_generation };
      if (updated.stop_reason) {
        await this.finishInTransaction(m, taskId, provider, fence, {
          status: 'skipped',
          outcome: updated.stop_reason,
        });
        return null;
      }
      const target = await m.findOneByOrFail(TaskTargetEntity, { id: updated.id });
      const task = await m.findOneByOrFail(TaskEntity, { id: taskId });
      if (target.attempts === 1) {
        await this.appendEvent(m, taskId, 'task.targetUpdated', provider, 'running', 'worker', {
          attempt: 1,
        });
      }
      return { target, task, fence };
    });
  }

  /** Gives the target back untouched (its object is busy): pending again, and the attempt not counted. */
  async releaseClaim(fence: Fence): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await m.query(
        `UPDATE task_targets SET status = 'pending', attempts = GREATEST(attempts - 1, 0), updated_at = now()
          WHERE id = $1 AND claim_generation = $2 AND status = 'running'`,
        [fence.targetId, fence.generation],
      );
      await this.releaseObjectLock(m, fence);
    });
  }

  /** Remembers which object resolve() found, and the names it goes by, for later Enable requests. */
  async recordResolution(
    fence: Fence,
    found: {
      taskId: string;
      provider: string;
      objectId: string;
      objectRef: string;
      identifierKeys: string[];
    },
  ): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const rows = firstRows(
        await m.query(
          `UPDATE task_targets SET object_id = $3, object_ref = $4, updated_at = now()
            WHERE id = $1 AND claim_generation = $2 AND status = 'running' RETURNING id`,
          [fence.targetId, fence.generation, found.objectId, found.objectRef],
        ),
      );
      if (rows.length === 0) throw new ClaimLostError(fence.targetId);
      await this.recordIdentifiers(m, found.taskId, found.identifierKeys, found.provider);
    });
  }

  /**
   * Takes the lease on one directory object for this attempt (CONTRACT §4.1: two targets never act on one
   * object at once). A lease left by a killed worker expires; the same target's newer attempt takes it over at
   * once. A Disable taking the object supersedes older Enables of it; an Enable finds itself superseded when a
   * Disable of the object was accepted after it or is still unfinished.
   */
  async acquireObjectLock(
    fence: Fence,
    lock: {
      provider: string;
      objectRef: string;
      leaseMs: number;
      action: TaskAction;
      taskId: string;
      taskSeq: string;
    },
  ): Promise<ObjectLockResult> {
    return this.dataSource.transaction(async (m) => {
      const got: unknown[] = await m.query(
        `INSERT INTO object_locks (provider, object_ref, target_id, generation, expires_at)
         VALUES ($1, $2, $3, $4, now() + ($5 || ' milliseconds')::interval)
         ON CONFLICT (provider, object_ref) DO UPDATE
           SET target_id = EXCLUDED.target_id, generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at
         WHERE object_locks.target_id = EXCLUDED.target_id OR object_locks.expires_at < now()
         RETURNING 1`,
        [lock.provider, lock.objectRef, fence.targetId, fence.generation, String(lock.leaseMs)],
      );
      if (got.length === 0) return 'busy';
      const mine: unknown[] = await m.query(
        `SELECT 1 FROM task_targets WHERE id = $1 AND claim_generation = $2 AND status = 'running'`,
        [fence.targetId, fence.generation],
      );
      if (mine.length === 0) throw new ClaimLostError(fence.targetId);

      if (lock.action === 'disableAccount') {
        const older: Array<{ task_id: string }> = await m.query(
          `SELECT DISTINCT x.task_id FROM task_targets x JOIN tasks t ON t.id = x.task_id
            WHERE t.action = 'enableAccount' AND x.provider = $1 AND x.object_ref = $2
              AND x.status IN ('pending', 'running') AND t.seq < $3`,
          [lock.provider, lock.objectRef, lock.taskSeq],
        );
        for (const o of older) await this.supersede(m, o.task_id, [lock.provider], lock.taskId);
        return 'acquired';
      }
      const disables: unknown[] = await m.query(
        `SELECT 1 FROM task_targets x JOIN tasks t ON t.id = x.task_id
          WHERE t.action = 'disableAccount' AND x.provider = $1 AND x.object_ref = $2
            AND (t.seq > $3 OR x.status IN ('pending', 'running')) LIMIT 1`,
        [lock.provider, lock.objectRef, lock.taskSeq],
      );
      return disables.length > 0 ? 'superseded' : 'acquired';
    });
  }

  /**
   * The fence every directory write passes (AttemptGuard.beforeWrite): this attempt still owns the claim and
   * the object's lease (extended here), and nobody asked it to stop. Records the state read before the write
   * (once: the first attempt's reading wins) and when this target first reached the object. Returns the
   * recorded prior state.
   */
  async fenceWrite(fence: Fence, stateBefore: AccountState, leaseMs: number): Promise<AccountState> {
    const rows: Array<{ prior_state: AccountState }> = firstRows(
      await this.dataSource.query(
        `WITH lease AS (
           UPDATE object_locks SET expires_at = now() + ($3 || ' milliseconds')::interval
            WHERE target_id = $1 AND generation = $2 RETURNING 1)
         UPDATE task_targets
            SET prior_state = COALESCE(prior_state, $4),
                acted_seq = COALESCE(acted_seq, nextval('target_acted_seq')), updated_at = now()
          WHERE id = $1 AND claim_generation = $2 AND status = 'running' AND stop_reason IS NULL
            AND EXISTS (SELECT 1 FROM lease)
          RETURNING prior_state`,
        [fence.targetId, fence.generation, String(leaseMs), stateBefore],
      ),
    );
    if (rows[0]) return rows[0].prior_state;
    const [why]: Array<{
      stop_reason: 'superseded' | 'cancelled' | null;
      claim_generation: number;
      status: string;
    }> = await this.dataSource.query(
      `SELECT stop_reason, claim_generation, status FROM task_targets WHERE id = $1`,
      [fence.targetId],
    );
    if (why && why.stop_reason && why.claim_generation === fence.generation && why.status === 'running')
      throw new AttemptStoppedError(why.stop_reason);
    throw new ClaimLostError(fence.targetId);
  }

  /** A transient failure that will be retried: the target goes back to pending with the error kept. */
  async recordRetry(
    fence: Fence,
    error: { code: string; message: string },
    retryInMs: number | null,
  ): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const rows: Array<{ task_id: string; provider: string; attempts: number }> = firstRows(
        await m.query(
          `UPDATE task_targets SET status = 'pending', error_code = $3, error_message = $4, updated_at = now()
            WHERE id = $1 AND claim_generation = $2 AND status = 'running' RETURNING task_id, provider, attempts`,
          [fence.targetId, fence.generation, error.code, error.message],
        ),
      );
      await this.releaseObjectLock(m, fence);
      const row = rows[0];
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
   * unfinished target owned by this attempt (`fence`; null for the engine's own decisions, such as a removed
   * provider). Returns false when the target had already finished or the claim was lost.
   */
  async finishTarget(
    taskId: string,
    provider: string,
    fence: Fence | null,
    result: TargetResult,
  ): Promise<boolean> {
    return this.dataSource.transaction((m) => this.finishInTransaction(m, taskId, provider, fence, result));
  }

  /**
   * CONTRACT §4.1 cancel: targets not yet acting end `skipped/cancelled`; a running one that has not written
   * yet is stopped before its first write; one already writing finishes. Null when the task does not exist;
   * false when it had already ended.
   */
  async cancelTask(taskId: string, actor: string): Promise<boolean | null> {
    return this.dataSource.transaction(async (m) => {
      const [task]: Array<{ action: TaskAction; status: TaskStatus }> = await m.query(
        `SELECT action, status FROM tasks WHERE id = $1 FOR NO KEY UPDATE`,
        [taskId],
      );
      if (!task) return null;
      if (task.status !== 'inProgress') return false;
      const stopped: Array<{ provider: string }> = firstRows(
        await m.query(
          `UPDATE task_targets SET status = 'skipped', outcome = 'cancelled', finished_at = now(), updated_at = now()
            WHERE task_id = $1 AND status = 'pending' RETURNING provider`,
          [taskId],
        ),
      );
      for (const s of stopped) {
        await this.appendEvent(m, taskId, 'task.targetUpdated', s.provider, 'skipped', actor, {
          outcome: 'cancelled',
        });
      }
      await m.query(
        `UPDATE task_targets SET stop_reason = 'cancelled', updated_at = now()
          WHERE task_id = $1 AND status = 'running' AND acted_seq IS NULL AND stop_reason IS NULL`,
        [taskId],
      );
      await this.rollUpTask(m, taskId, task.action, actor);
      return true;
    });
  }

  /**
   * Whether an Active Directory target of this task resolved the object with this SID (an Entra user synced
   * from it is then that target's to change): `pending` while an AD target has not resolved yet.
   */
  async activeDirectoryOwnership(taskId: string, sidKey: string): Promise<'resolved' | 'pending' | 'absent'> {
    const rows: Array<{ status: TargetStatus; object_ref: string | null; has: boolean }> =
      await this.dataSource.query(
        `SELECT x.status, x.object_ref,
              EXISTS (SELECT 1 FROM account_identifiers i WHERE i.task_id = x.task_id AND i.source = x.provider
                        AND i.key = $2) AS has
         FROM task_targets x WHERE x.task_id = $1 AND x.kind = 'activeDirectory'`,
        [taskId, sidKey],
      );
    if (rows.some((r) => r.has)) return 'resolved';
    if (rows.some((r) => (r.status === 'pending' || r.status === 'running') && r.object_ref === null))
      return 'pending';
    return 'absent';
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

  /** Unfinished targets of providers that are no longer configured (no worker will ever take them). */
  async unfinishedTargetsOutside(
    configured: readonly string[],
    limit = 1000,
  ): Promise<Array<{ taskId: string; provider: string }>> {
    const rows: Array<{ task_id: string; provider: string }> = await this.dataSource.query(
      `SELECT task_id, provider FROM task_targets
        WHERE status IN ('pending', 'running') AND NOT (provider = ANY($1)) ORDER BY updated_at LIMIT $2`,
      [configured, limit],
    );
    return rows.map((r) => ({ taskId: r.task_id, provider: r.provider }));
  }

  /**
   * The task's audit trail, oldest first. By time, then id: an event's time is its transaction's start, and a
   * transaction that started first may insert (take its id) after one that started later.
   */
  async events(taskId: string): Promise<
    Array<{
      type: TaskEventType;
      provider: string | null;
      status: string;
      actor: string;
      detail: Record<string, unknown>;
      createdAt: Date;
    }>
  > {
    return this.dataSource.query(
      `SELECT type, provider, status, actor, detail, created_at AS "createdAt"
         FROM task_events WHERE task_id = $1 ORDER BY created_at, id`,
      [taskId],
    );
  }

  // ---- helpers (all run inside the caller's transaction) ----

  /**
   * Task creation is serialised: its checks (a Disable in progress, one Enable per account, what to restore)
   * must see every task accepted before, whatever identifier that task was given. Creation is a few short
   * statements; the directory work, where the time goes, is not serialised by this.
   */
  private async lockTaskCreation(m: EntityManager): Promise<void> {
    await m.query(`SELECT pg_advisory_xact_lock($1)`, [TASK_CREATION_LOCK_KEY]);
  }

  /**
   * The creating API key's blast-radius limit (issue #9), counted under the task-creation lock so that
   * concurrent requests cannot slip past it together. Keys are looked up by name, which `createdBy` holds.
   */
  private async checkDisableLimit(m: EntityManager, createdBy: string): Promise<void> {
    const [key]: Array<{ disable_limit: number | null; disable_window_seconds: number | null }> =
      await m.query(`SELECT disable_limit, disable_window_seconds FROM api_keys WHERE name = $1`, [
        createdBy,
      ]);
    if (!key?.disable_limit || !key.disable_window_seconds) return;
    const limit = { max: key.disable_limit, windowSeconds: key.disable_window_seconds };
    const [used]: Array<{ n: number; oldest: Date | null }> = await m.query(
      `SELECT count(*)::int AS n, min(created_at) AS oldest FROM tasks
        WHERE created_by = $1 AND action = 'disableAccount' AND created_at > now() - ($2 || ' seconds')::interval`,
      [createdBy, String(limit.windowSeconds)],
    );
    if (used.n < limit.max) return;
    const freeAt = new Date(used.oldest as Date).getTime() + limit.windowSeconds * 1000;
    throw new DomainError(
      429,
      'disableLimitExceeded',
      `API key ${createdBy} may create at most ${formatRateLimit(limit)} Disable tasks, and has reached that limit; ` +
        'nothing was created. An administrator can raise the limit (api-key create --disable-limit).',
      {
        limit: formatRateLimit(limit),
        retryAfterSeconds: Math.max(1, Math.ceil((freeAt - Date.now()) / 1000)),
      },
    );
  }

  private async finishInTransaction(
    m: EntityManager,
    taskId: string,
    provider: string,
    fence: Fence | null,
    result: TargetResult,
  ): Promise<boolean> {
    // Locked first, so that concurrent finishers of this task's targets see each other's results.
    const [task]: Array<{ action: TaskAction; status: TaskStatus }> = await m.query(
      `SELECT action, status FROM tasks WHERE id = $1 FOR NO KEY UPDATE`,
      [taskId],
    );
    const rows: Array<{ id: string; reverses: string[] }> = firstRows(
      await m.query(
        `UPDATE task_targets
            SET status = $3, outcome = $4, object_id = COALESCE($5, object_id), object_ref = COALESCE($6, object_ref),
                error_code = $7, error_message = $8, warnings = $9, finished_at = now(), updated_at = now(),
                prior_state = CASE WHEN $10 THEN NULL ELSE prior_state END,
                acted_seq = CASE WHEN $10 THEN NULL ELSE acted_seq END
          WHERE task_id = $1 AND provider = $2 AND status IN ('pending', 'running')
            AND ($11::int IS NULL OR claim_generation = $11)
          RETURNING id, reverses`,
        [
          taskId,
          provider,
          result.status,
          result.outcome,
          result.objectId ?? null,
          result.objectRef ?? null,
          result.error?.code ?? null,
          result.error?.message ?? null,
          JSON.stringify(result.warnings ?? []),
          result.notAChange ?? false,
          fence?.generation ?? null,
        ],
      ),
    );
    const row = rows[0];
    if (!row) return false;
    await m.query(`DELETE FROM object_locks WHERE target_id = $1`, [row.id]);
    if (task.action === 'enableAccount' && result.status === 'succeeded')
      await this.markReversed(m, row.id, row.reverses);
    await this.appendEvent(m, taskId, 'task.targetUpdated', provider, result.status, 'worker', {
      outcome: result.outcome,
      error: result.error ?? null,
      ...(result.warnings?.length ? { warnings: result.warnings } : {}),
    });
    if (task.status === 'inProgress') await this.rollUpTask(m, taskId, task.action, 'worker');
    return true;
  }

  /**
   * Stops an Enable task's unfinished targets in these providers: pending ones end `superseded` now, running
   * ones are asked to stop before their next write.
   */
  private async supersede(
    m: EntityManager,
    enableTaskId: string,
    providers: string[],
    byTaskId: string,
  ): Promise<void> {
    const [task]: Array<{ status: TaskStatus }> = await m.query(
      `SELECT status FROM tasks WHERE id = $1 FOR NO KEY UPDATE`,
      [enableTaskId],
    );
    if (!task || task.status !== 'inProgress') return;
    const ended: Array<{ provider: string }> = firstRows(
      await m.query(
        `UPDATE task_targets SET status = 'skipped', outcome = 'superseded', finished_at = now(), updated_at = now()
          WHERE task_id = $1 AND status = 'pending' AND provider = ANY($2) RETURNING provider`,
        [enableTaskId, providers],
      ),
    );
    for (const e of ended) {
      await this.appendEvent(m, enableTaskId, 'task.targetUpdated', e.provider, 'skipped', 'engine', {
        outcome: 'superseded',
        supersededBy: byTaskId,
      });
    }
    await m.query(
      `UPDATE task_targets SET stop_reason = 'superseded', updated_at = now()
        WHERE task_id = $1 AND status = 'running' AND stop_reason IS NULL AND provider = ANY($2)`,
      [enableTaskId, providers],
    );
    await this.rollUpTask(m, enableTaskId, 'enableAccount', 'engine');
  }

  private async markReversed(m: EntityManager, enableTargetId: string, reverses: string[]): Promise<void> {
    if (reverses.length === 0) return;
    await m.query(`UPDATE task_targets SET reversed_by = $1 WHERE id = ANY($2) AND reversed_by IS NULL`, [
      enableTargetId,
      reverses,
    ]);
  }

  private async releaseObjectLock(m: EntityManager, fence: Fence): Promise<void> {
    await m.query(`DELETE FROM object_locks WHERE target_id = $1 AND generation = $2`, [
      fence.targetId,
      fence.generation,
    ]);
  }

  private async insertTask(
    m: EntityManager,
    action: TaskAction,
    disableTaskId: string | null,
    input: NewTask,
  ) {
    const rows: Array<{ id: string; seq: string }> = await m.query(
      `INSERT INTO tasks (action, status, account, description, requested_providers, disable_task_id, created_by, callback_url)
       VALUES ($1, 'inProgress', $2, $3, $4, $5, $6, $7) RETURNING id, seq`,
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
    return rows[0];
  }

  private async tasksWithKeys(m: EntityManager, keys: string[]): Promise<string[]> {
    const rows: Array<{ task_id: string }> = await m.query(
      `SELECT DISTINCT task_id FROM account_identifiers WHERE key = ANY($1)`,
      [keys],
    );
    return rows.map((r) => r.task_id);
  }

  private async keysOf(m: EntityManager, taskIds: string[]): Promise<string[]> {
    if (taskIds.length === 0) return [];
    const rows: Array<{ key: string }> = await m.query(
      `SELECT DISTINCT key FROM account_identifiers WHERE task_id = ANY($1)`,
      [taskIds],
    );
    return rows.map((r) => r.key);
  }

  /**
   * Tasks in progress for this account: the ones matched directly, and the ones whose requested identifier
   * is a name a matched task knew the account by (a Disable by bare name that has not resolved yet).
   */
  private async relatedInProgress(
    m: EntityManager,
    direct: string[],
    keys: string[],
  ): Promise<RelatedTask[]> {
    return m.query(
      `SELECT id, action, status FROM tasks WHERE status = 'inProgress' AND (id = ANY($1)
          OR id IN (SELECT task_id FROM account_identifiers WHERE source = 'requested' AND key = ANY($2)))
        ORDER BY seq`,
      [direct, keys],
    );
  }

  /** Unreversed Disable records of the matched Disable tasks, and of every other Disable on the same objects. */
  private async unreversedRecords(m: EntityManager, direct: string[]): Promise<DisableRecord[]> {
    const rows: Array<{
      id: string;
      task_id: string;
      provider: string;
      kind: ProviderKind;
      object_id: string | null;
      object_ref: string;
      prior_state: AccountState;
      acted_seq: string;
    }> = await m.query(
      `WITH unreversed AS (
         SELECT x.* FROM task_targets x JOIN tasks t ON t.id = x.task_id
          WHERE t.action = 'disableAccount' AND t.status <> 'inProgress'
            AND x.prior_state IS NOT NULL AND x.acted_seq IS NOT NULL AND x.object_ref IS NOT NULL
            AND x.reversed_by IS NULL)
       SELECT id, task_id, provider, kind, object_id, object_ref, prior_state, acted_seq FROM unreversed
        WHERE task_id = ANY($1)
           OR (provider, object_ref) IN (SELECT provider, object_ref FROM unreversed WHERE task_id = ANY($1))
        ORDER BY acted_seq`,
      [direct],
    );
    return rows.map((r) => ({
      targetId: r.id,
      disableTaskId: r.task_id,
      provider: r.provider,
      kind: r.kind,
      objectId: r.object_id,
      objectRef: r.object_ref,
      priorState: r.prior_state,
      actedSeq: Number(r.acted_seq),
    }));
  }

  /** Disable tasks still running on an object the Enable would restore, whatever identifier they were given. */
  private async disablesInProgressOn(m: EntityManager, records: DisableRecord[]): Promise<RelatedTask[]> {
    if (records.length === 0) return [];
    return m.query(
      `SELECT DISTINCT t.id, t.action, t.status FROM task_targets x JOIN tasks t ON t.id = x.task_id
        WHERE t.action = 'disableAccount' AND t.status = 'inProgress'
          AND (x.provider, x.object_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [records.map((r) => r.provider), records.map((r) => r.objectRef)],
    );
  }

  private async endedDisables(m: EntityManager, ids: string[]): Promise<number> {
    const [row]: Array<{ n: number }> = await m.query(
      `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND action = 'disableAccount' AND status <> 'inProgress'`,
      [ids],
    );
    return row.n;
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
    const targets: Array<{ status: TargetStatus; outcome: TargetOutcome | null }> = await m.query(
      `SELECT status, outcome FROM task_targets WHERE task_id = $1`,
      [taskId],
    );
    const result = rollUp(action, targets);
    if (result.status === 'inProgress') {
      await m.query(`UPDATE tasks SET updated_at = now() WHERE id = $1`, [taskId]);
      return;
    }
    const message =
      result.errorCode === 'accountNotFound'
        ? 'The account was not found in any directory the task acted on.'
        : null;
    const done = firstRows(
      await m.query(
        `UPDATE tasks SET status = $2, error_code = $3, error_message = $4, completed_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'inProgress' RETURNING id`,
        [taskId, result.status, result.errorCode, message],
      ),
    );
    if (done.length === 0) return;
    await this.appendEvent(m, taskId, 'task.completed', null, result.status, actor, {
      errorCode: result.errorCode,
    });
    // Counted before the commit: a commit failing after this (the connection lost) over-counts one task.
    if (!this.rehearsals.has(m)) this.metrics?.taskCompleted(action, result.status);
  }

  private async recordIdentifiers(
    m: EntityManager,
    taskId: string,
    keys: string[],
    source: string,
  ): Promise<void> {
    // A directory may report a value longer than an index entry may be (requested ones are bounded already):
    // such a key could never be matched by a request anyway.
    const unique = [
      ...new Set(keys.filter((k) => k.length > 0 && Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES)),
    ];
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

/** TypeORM returns [rows, count] for UPDATE … RETURNING on PostgreSQL, and rows for SELECT/INSERT. */
function firstRows<T>(rows: T[] | [T[], number]): T[] {
  if (Array.isArray(rows) && rows.length === 2 && Array.isArray(rows[0]) && typeof rows[1] === 'number') {
    return rows[0] as T[];
  }
  return rows as T[];
}
