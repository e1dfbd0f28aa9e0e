import { randomUUID } from 'node:crypto';
import { Injectable, Optional } from '@nestjs/common';
import { Pool } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import {
  AccountState,
  assertNoTaskInProgress,
  BatchCandidate,
  conflict,
  DisableRecord,
  DomainError,
  EnablePlan,
  enableInProgress,
  formatRateLimit,
  planEnable,
  ProviderKind,
  RelatedTask,
  RollUp,
  rollUp,
  sequenceRound,
  TargetOutcome,
  TargetStatus,
  TaskAction,
  TaskStatus,
  TASK_STATUSES,
} from '@app/domain';
import { AppMetrics } from '@app/metrics';
import { TaskEntity, TaskEventType, TaskTargetEntity } from './entities';
import { EntityRows } from './entity-rows';
import { againAfterDeadlock } from './deadlock-retry';
import { StatementBatcher } from './statement-batcher';
import {
  batchInput,
  CLAIM_TARGETS,
  ClaimItem,
  FENCE_WRITES,
  FenceItem,
  FenceRow,
  FINISH_ONLY_TARGETS,
  FINISH_TARGET_CTES,
  FinishItem,
  FinishOnlyItem,
  FinishRow,
  RECORD_RESOLUTIONS,
  ResolutionItem,
  ResolutionRow,
} from './target-statements';

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

/** One account of a creation request, checked and keyed by TaskService. */
export interface NewTaskItem {
  account: string;
  description: string | null;
  /** Kind-prefixed keys (see matchKeys) under which the requested identifier is recorded. */
  identifierKeys: string[];
}

/** Disable tasks to create together: one request's accounts, with what they share. */
export interface DisableBatch {
  createdBy: string;
  callbackUrl: string | null;
  requestedProviders: string[] | null;
  targets: Array<{ provider: string; kind: ProviderKind }>;
  items: NewTaskItem[];
  /** A bulk request (CONTRACT §5): its row is written with the tasks; `requested` counts every account it named. */
  batch?: { id: string; requested: number };
}

export interface EnableBatch {
  createdBy: string;
  callbackUrl: string | null;
  configuredProviders: readonly string[];
  items: Array<NewTaskItem & { disableTaskId?: string }>;
  batch?: { id: string; requested: number };
}

/** What one account of a creation request got, in its place: the new task, or the rule that refused it. */
export type Creation = { taskId: string; pending: string[] } | { error: DomainError };

export interface BatchRecord {
  id: string;
  action: TaskAction;
  createdBy: string;
  createdAt: Date;
  requested: number;
  accepted: number;
  rejected: number;
  counts: Record<TaskStatus, number>;
}

interface NewTaskRow {
  /** The account's place in the request. */
  ord: number;
  id: string;
  account: string;
  description: string | null;
}

interface AcceptedEnable extends NewTaskRow {
  keys: string[];
  plan: EnablePlan;
  disableKeys: string[];
}

interface EnableFacts extends BatchCandidate<EnablePlan> {
  /** Every identifier the Disable tasks it would reverse knew the account by. */
  disableKeys: string[];
}

/** The attempt that owns a target: every write it makes names its claim generation (a fencing token). */
export interface Fence {
  targetId: string;
  generation: number;
  /** The target's task, when known: batched statements hold one target per task (see newBatches). */
  taskId?: string;
}

export interface ClaimedTarget {
  target: TaskTargetEntity;
  task: TaskEntity;
  fence: Fence;
  shape: TaskShape;
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
  batchId?: string;
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

export type ObjectLockResult = 'acquired' | 'busy';

/** What taking an object's lease needs besides the object: how long, and the task that asks. */
export interface ObjectLeaseRequest {
  leaseMs: number;
  action: TaskAction;
  taskId: string;
  taskSeq: string;
}

export interface ObjectLock extends ObjectLeaseRequest {
  provider: string;
  objectRef: string;
}

/**
 * What a claim learns about the target's task. A task's targets are all written when it is created, so a
 * task with one target has no other finisher to wait for (see finishTarget).
 */
export interface TaskShape {
  action: TaskAction;
  targetCount: number;
}

/** Thrown out of a rehearsed creation's transaction to roll it back, carrying what it had built. */
class Rehearsal extends Error {
  constructor(readonly result: unknown) {
    super('rehearsal: rolled back on purpose');
    this.name = 'Rehearsal';
  }
}

const PG_UNIQUE_VIOLATION = '23505';
/** Accounts in one bulk from which the tables are analysed once it is created (see analyzeAfterBulk). */
const ANALYZE_AFTER_ACCOUNTS = 1000;
/** Targets per batched statement (StatementBatcher): the worker's concurrency rarely gathers more. */
const TARGET_BATCH_MAX = 50;
/**
 * Batches of one statement in PostgreSQL at once. One: the calls that arrive meanwhile wait for it and go out
 * together, so batches are larger and PostgreSQL starts fewer executions (its CPU per target fell by about a
 * fifth against two in flight, scripts/bench/cpu-profile.ts on 4,000 accounts). The four statements then hold
 * at most four connections of the pool.
 */
const TARGET_BATCHES_IN_FLIGHT = 1;
/**
 * Under load, a batch waits up to this long to gather up to this many calls. Batches then carried 11 targets on
 * average instead of 5 (a 5,000-account bulk at concurrency 60), and PostgreSQL's CPU per target fell from
 * 0.73–1.0 ms to 0.6–0.7; waiting 8 ms for 48 was slower (scripts/bench/cpu-profile.ts, docs/decisions.md).
 */
const TARGET_BATCH_GATHER = { ms: 4, upTo: 32 };
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

  private entityRows?: { targets: EntityRows<TaskTargetEntity>; tasks: EntityRows<TaskEntity> };

  /** Built on first use: the entities' metadata exists once the DataSource is initialised. */
  private rows() {
    this.entityRows ??= {
      targets: new EntityRows(this.dataSource, TaskTargetEntity, 'x_'),
      tasks: new EntityRows(this.dataSource, TaskEntity, 't_'),
    };
    return this.entityRows;
  }

  private targetBatches?: ReturnType<TaskStore['newBatches']>;

  /** Built on first use, like rows(). */
  private batches() {
    this.targetBatches ??= this.newBatches();
    return this.targetBatches;
  }

  /**
   * The per-target statements, each run through a StatementBatcher. Keys: a batch holds one target per task and
   * one per directory object, so that its rows never meet in one statement (an upsert of one lease twice) and a
   * batch never holds two rows that a cancel or a supersede locks together (a deadlock).
   */
  private newBatches() {
    const { targets, tasks } = this.rows();
    const batcher = <I, O>(run: (items: I[]) => Promise<O[]>, keys: (item: I) => string[]) =>
      new StatementBatcher<I, O>({
        run,
        keys,
        maxBatch: TARGET_BATCH_MAX,
        maxInFlight: TARGET_BATCHES_IN_FLIGHT,
        gather: TARGET_BATCH_GATHER,
      });
    const claimText = CLAIM_TARGETS(targets.select('claimed'), tasks.select('t'));
    const targetKey = (taskId: unknown, provider: unknown) => `${String(taskId)}\n${String(provider)}`;
    return {
      claims: batcher<ClaimItem, Record<string, unknown> | null>(
        async (items) => {
          const rows = await this.prepared<Record<string, unknown>>(
            'claim_targets',
            claimText,
            batchInput(items.map((i) => ({ task_id: i.taskId, provider: i.provider }))),
          );
          const claimed = new Map(rows.map((r) => [targetKey(r.x_task_id, r.x_provider), r]));
          return items.map((i) => claimed.get(targetKey(i.taskId, i.provider)) ?? null);
        },
        (i) => [`task\n${i.taskId}`],
      ),
      resolutions: batcher<ResolutionItem, ResolutionRow>(
        (items) => this.prepared<ResolutionRow>('record_resolutions', RECORD_RESOLUTIONS, batchInput(items)),
        (i) => [`task\n${i.task_id}`, `object\n${i.provider}\n${i.object_ref}`],
      ),
      fences: batcher<FenceItem, FenceRow | null>(
        async (items) => {
          const rows = await this.prepared<FenceRow>('fence_writes', FENCE_WRITES, batchInput(items));
          const fenced = new Map(rows.map((r) => [r.target_id, r]));
          return items.map((i) => fenced.get(i.target_id) ?? null);
        },
        (i) => [`task\n${i.task_id ?? i.target_id}`],
      ),
      finishes: batcher<FinishOnlyItem, FinishRow>(
        (items) => this.prepared<FinishRow>('finish_only_targets', FINISH_ONLY_TARGETS, batchInput(items)),
        (i) => [`task\n${i.task_id}`],
      ),
    };
  }

  /**
   * A statement every target runs, as a named prepared statement: PostgreSQL parses and plans it once per
   * connection instead of on every call, which was about a third of its CPU in a 10,000-account bulk
   * (docs/benchmarks.md). Each name must always carry the same text. Outside any transaction only.
   */
  private async prepared<T>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    return (await pool.query({ name, text, values })).rows as T[];
  }

  private analyzing = false;

  /**
   * After a large bulk, refreshes the planner's statistics of the tables its targets go through, in the
   * background. The workers' statements are prepared, and their plans were made when the tables were smaller
   * or held fewer unfinished targets: planned on a young database, the finish read every target row of the
   * bulk in a sequential scan, twice a millisecond, until autovacuum caught up about a minute later. ANALYZE
   * does not block writers, and it makes every session plan those statements again.
   */
  private analyzeAfterBulk(accounts: number): void {
    if (accounts < ANALYZE_AFTER_ACCOUNTS || this.analyzing) return;
    this.analyzing = true;
    this.dataSource
      .query('ANALYZE tasks, task_targets, account_identifiers, object_locks')
      // Autovacuum analyses them later in any case; nothing waits on this.
      .catch(() => undefined)
      .finally(() => (this.analyzing = false));
  }

  /**
   * A Disable is always accepted (CONTRACT §4.1). In the same transaction it supersedes every Enable of the
   * account still in progress: targets not yet acting end `skipped/superseded`, running ones are asked to stop
   * before their next write (and where one already re-enabled the account, this Disable disables it again).
   */
  async createDisableTask(input: NewDisableTask): Promise<string> {
    return onlyTask(await this.createDisableTasks(disableBatchOf(input)));
  }

  /**
   * Disable tasks for many accounts in one transaction (issue #10): one statement per table however many
   * accounts, each answered exactly as if created one by one. Refusals (the Disable limit) come back in place.
   */
  async createDisableTasks(batch: DisableBatch): Promise<Creation[]> {
    const created = await againAfterDeadlock(() =>
      this.dataSource.transaction((m) => this.disablesInTransaction(m, batch)),
    );
    this.analyzeAfterBulk(batch.items.length);
    return created;
  }

  /**
   * The Disable task createDisableTask would create now (CONTRACT §5 `dryRun`): the same statements under the
   * same lock, rolled back, so its answer follows exactly the rules of a real create and leaves nothing behind.
   */
  async rehearseDisableTask(input: NewDisableTask): Promise<TaskEntity> {
    return this.rehearse(async (m) => onlyTask(await this.disablesInTransaction(m, disableBatchOf(input))));
  }

  private async disablesInTransaction(m: EntityManager, batch: DisableBatch): Promise<Creation[]> {
    await this.lockTaskCreation(m);
    const allowance = await this.disableAllowance(m, batch.createdBy);
    const created: Array<NewTaskRow & { keys: string[] }> = [];
    const results: Creation[] = batch.items.map((item, ord) => {
      if (created.length >= allowance.remaining) return { error: allowance.refusal() };
      const id = randomUUID();
      created.push({
        ord,
        id,
        account: item.account,
        description: item.description,
        keys: item.identifierKeys,
      });
      return { taskId: id, pending: batch.targets.map((t) => t.provider) };
    });
    if (batch.batch)
      await this.insertBatch(m, batch.batch, 'disableAccount', batch.createdBy, created.length);
    if (created.length === 0) return results;

    const ids = created.map((c) => c.id);
    const providers = batch.targets.map((t) => t.provider);
    await this.insertTasks(m, 'disableAccount', batch, batch.requestedProviders, created);
    await m.query(
      `INSERT INTO task_targets (task_id, provider, kind, status)
       SELECT t, p.provider, p.kind, 'pending' FROM unnest($1::uuid[]) AS t
         CROSS JOIN unnest($2::text[], $3::text[]) AS p(provider, kind)`,
      [ids, providers, batch.targets.map((t) => t.kind)],
    );
    await this.insertIdentifiers(
      m,
      created.flatMap((c) => c.keys.map((key) => ({ taskId: c.id, key, source: 'requested' }))),
    );
    await this.appendCreatedEvents(
      m,
      batch.createdBy,
      created.map((c) => ({ taskId: c.id, detail: { action: 'disableAccount', providers } })),
    );

    // One by one, the first of these Disables to name an Enable's account supersedes it; later ones find
    // nothing more to stop in the same directories.
    const firstByKey = new Map<string, string>();
    for (const c of created) for (const k of c.keys) if (!firstByKey.has(k)) firstByKey.set(k, c.id);
    const order = new Map(created.map((c, i) => [c.id, i]));
    const enables: Array<{ id: string; key: string }> = await m.query(
      `SELECT t.id, i.key FROM tasks t JOIN account_identifiers i ON i.task_id = t.id
        WHERE t.action = 'enableAccount' AND t.status = 'inProgress' AND i.key = ANY($1)`,
      [[...firstByKey.keys()]],
    );
    const supersededBy = new Map<string, string>();
    for (const e of enables) {
      const by = firstByKey.get(e.key) as string;
      const current = supersededBy.get(e.id);
      if (!current || (order.get(by) as number) < (order.get(current) as number)) supersededBy.set(e.id, by);
    }
    // Only in the directories this Disable covers: an Enable elsewhere still restores what it was asked to.
    for (const [enableId, by] of supersededBy) await this.supersede(m, enableId, providers, by);
    if (batch.targets.length === 0)
      for (const id of ids) await this.rollUpTask(m, id, 'disableAccount', batch.createdBy);
    return results;
  }

  /**
   * Creates an Enable task for the account named by `identifierKeys` (or for the given Disable task), after
   * the checks of CONTRACT §4.1: no Disable or Enable of the account in progress, and a plan that restores,
   * per directory object, the state before the earliest unreversed Disable.
   */
  async createEnableTask(input: NewEnableTask): Promise<string> {
    return onlyTask(await this.createEnableTasks(enableBatchOf(input)));
  }

  /** Enable tasks for many accounts in one transaction, each answered exactly as if created one by one. */
  async createEnableTasks(batch: EnableBatch): Promise<Creation[]> {
    const created = await this.enableBackstop(() =>
      againAfterDeadlock(() => this.dataSource.transaction((m) => this.enablesInTransaction(m, batch))),
    );
    this.analyzeAfterBulk(batch.items.length);
    return created;
  }

  /** The Enable task createEnableTask would create now, or the refusal it would get; rolled back (`dryRun`). */
  async rehearseEnableTask(input: NewEnableTask): Promise<TaskEntity> {
    return this.enableBackstop(() =>
      this.rehearse(async (m) => onlyTask(await this.enablesInTransaction(m, enableBatchOf(input)))),
    );
  }

  /**
   * Decides the requests in rounds (see sequenceRound): each round reads what it needs for all its requests
   * in a few set-based queries, decides each one as the rules of CONTRACT §4.1 would one by one, and writes
   * the accepted ones with one statement per table. A request that could see an earlier one's effect waits
   * for the next round, which reads again; requests of different accounts never wait.
   */
  private async enablesInTransaction(m: EntityManager, batch: EnableBatch): Promise<Creation[]> {
    await this.lockTaskCreation(m);
    if (batch.batch) await this.insertBatch(m, batch.batch, 'enableAccount', batch.createdBy, 0);
    const results: Creation[] = new Array(batch.items.length);
    const staysInProgress = (plan: EnablePlan) =>
      plan.targets.some((p) => p.status === 'pending' && batch.configuredProviders.includes(p.provider));
    let remaining = batch.items.map((_, i) => i);
    while (remaining.length > 0) {
      const facts = await this.enableFacts(
        m,
        remaining.map((i) => batch.items[i]),
      );
      const outcomes = sequenceRound(facts, staysInProgress);
      const accepted: AcceptedEnable[] = [];
      const next: number[] = [];
      outcomes.forEach((o, k) => {
        const i = remaining[k];
        const decision = facts[k].decision;
        if (o.kind === 'defer') next.push(i);
        else if (o.kind === 'duplicateOf')
          results[i] = {
            error: enableInProgress((results[remaining[o.index]] as { taskId: string }).taskId),
          };
        else if (decision instanceof DomainError) results[i] = { error: decision };
        else {
          const id = randomUUID();
          results[i] = {
            taskId: id,
            pending: decision.targets
              .filter((p) => p.status === 'pending' && batch.configuredProviders.includes(p.provider))
              .map((p) => p.provider),
          };
          const item = batch.items[i];
          accepted.push({
            ord: i,
            id,
            account: item.account,
            description: item.description,
            keys: item.identifierKeys,
            plan: decision,
            disableKeys: facts[k].disableKeys,
          });
        }
      });
      await this.writeEnables(m, batch, accepted);
      remaining = next;
    }
    if (batch.batch) await this.countBatch(m, batch.batch, results.filter((r) => 'taskId' in r).length);
    return results;
  }

  /**
   * What one by one would read for each request, read for all of them at once: the tasks its identifiers (or
   * its Disable task) name, the tasks in progress under any name those tasks knew the account by, the
   * unreversed Disable records of those tasks and of their objects, and the Disables still running on them.
   */
  private async enableFacts(
    m: EntityManager,
    items: ReadonlyArray<NewTaskItem & { disableTaskId?: string }>,
  ): Promise<EnableFacts[]> {
    const direct = items.map((it) => new Set<string>(it.disableTaskId ? [it.disableTaskId] : []));
    const byKey = items.flatMap((it, i) =>
      it.disableTaskId ? [] : it.identifierKeys.map((k) => ({ i, k })),
    );
    if (byKey.length > 0) {
      const rows: Array<{ i: number; task_id: string }> = await m.query(
        `SELECT DISTINCT k.i, a.task_id FROM unnest($1::int[], $2::text[]) AS k(i, key)
           JOIN account_identifiers a ON a.key = k.key`,
        [byKey.map((x) => x.i), byKey.map((x) => x.k)],
      );
      for (const r of rows) direct[r.i].add(r.task_id);
    }
    const allDirect = [...new Set(direct.flatMap((d) => [...d]))];
    const keysOfTask = await this.keysByTask(m, allDirect);
    const info = new Map<string, RelatedTask & { seq: string }>(
      (await m.query(`SELECT id, action, status, seq FROM tasks WHERE id = ANY($1)`, [allDirect])).map(
        (t: RelatedTask & { seq: string }) => [t.id, t],
      ),
    );
    const directKeys = direct.map((d) => new Set([...d].flatMap((id) => keysOfTask.get(id) ?? [])));
    const requestedInProgress: Array<RelatedTask & { key: string; seq: string }> = await m.query(
      `SELECT a.key, t.id, t.action, t.status, t.seq FROM account_identifiers a JOIN tasks t ON t.id = a.task_id
        WHERE a.source = 'requested' AND t.status = 'inProgress' AND a.key = ANY($1)`,
      [[...new Set(directKeys.flatMap((k) => [...k]))]],
    );
    const records = await this.unreversedRecords(m, allDirect);
    const keysOfDisable = await this.keysByTask(m, [...new Set(records.map((r) => r.disableTaskId))]);
    const running: Array<RelatedTask & { provider: string; object_ref: string }> =
      records.length === 0
        ? []
        : await m.query(
            `SELECT DISTINCT x.provider, x.object_ref, t.id, t.action, t.status
               FROM task_targets x JOIN tasks t ON t.id = x.task_id
              WHERE t.action = 'disableAccount' AND t.status = 'inProgress'
                AND (x.provider, x.object_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
            [records.map((r) => r.provider), records.map((r) => r.objectRef)],
          );

    // Indexed once, so that each account's share is looked up, not filtered out of everyone's (10,000 × 10,000).
    const recordsByTask = groupBy(records, (r) => r.disableTaskId);
    const recordsByObject = groupBy(records, objectOf);
    const inProgressByKey = groupBy(requestedInProgress, (t) => t.key);
    const runningByObject = groupBy(running, (r) =>
      objectOf({ provider: r.provider, objectRef: r.object_ref }),
    );

    return items.map((item, i) => {
      const d = direct[i];
      const own = [...d].flatMap((id) => recordsByTask.get(id) ?? []);
      const objects = new Set(own.map(objectOf));
      const mine = uniqueBy(
        [...own, ...[...objects].flatMap((o) => recordsByObject.get(o) ?? [])],
        (r) => r.targetId,
      ).sort((a, b) => a.actedSeq - b.actedSeq);
      const disableTaskIds = [...new Set(mine.map((r) => r.disableTaskId))];
      const disableKeys = [...new Set(disableTaskIds.flatMap((id) => keysOfDisable.get(id) ?? []))];
      const related = uniqueById([
        ...[...d].map((id) => info.get(id)).filter((t): t is RelatedTask & { seq: string } => !!t),
        ...[...directKeys[i]].flatMap((k) => inProgressByKey.get(k) ?? []),
      ])
        .filter((t) => t.status === 'inProgress')
        .sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
      const everDisabled = [...d].some((id) => {
        const t = info.get(id);
        return t?.action === 'disableAccount' && t.status !== 'inProgress';
      });
      let decision: EnablePlan | DomainError;
      try {
        assertNoTaskInProgress(related);
        assertNoTaskInProgress(uniqueById([...objects].flatMap((o) => runningByObject.get(o) ?? [])));
        decision = planEnable(mine, everDisabled);
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
        decision = e;
      }
      return {
        signature: `${item.disableTaskId ?? ''}|${[...item.identifierKeys].sort().join('\n')}`,
        footprint: new Set([
          ...[...item.identifierKeys, ...directKeys[i], ...disableKeys].map((k) => `key:${k}`),
          ...[...d, ...disableTaskIds].map((id) => `task:${id}`),
          ...[...objects].map((o) => `object:${o}`),
        ]),
        decision,
        disableKeys,
      };
    });
  }

  private async writeEnables(
    m: EntityManager,
    batch: EnableBatch,
    accepted: AcceptedEnable[],
  ): Promise<void> {
    if (accepted.length === 0) return;
    await this.insertTasks(
      m,
      'enableAccount',
      batch,
      null,
      accepted.map((a) => ({ ...a, disableTaskId: a.plan.disableTaskId })),
    );
    const targets = accepted.flatMap((a) =>
      a.plan.targets.map((p) => {
        const configured = batch.configuredProviders.includes(p.provider);
        return {
          id: randomUUID(),
          task_id: a.id,
          provider: p.provider,
          kind: p.kind,
          status: configured ? p.status : 'failed',
          outcome: configured ? p.outcome : null,
          object_id: p.objectId,
          object_ref: p.objectRef,
          reverses: p.reverses,
          error_code: configured ? null : 'providerNotConfigured',
          error_message: configured ? null : `Provider ${p.provider} is no longer configured.`,
        };
      }),
    );
    await m.query(
      `INSERT INTO task_targets (id, task_id, provider, kind, status, outcome, object_id, object_ref, reverses,
                                 error_code, error_message, finished_at)
       SELECT x.id, x.task_id, x.provider, x.kind, x.status, x.outcome, x.object_id, x.object_ref, x.reverses,
              x.error_code, x.error_message, CASE WHEN x.status = 'pending' THEN NULL ELSE now() END
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, task_id uuid, provider text, kind text, status text,
              outcome text, object_id text, object_ref text, reverses uuid[], error_code text, error_message text)`,
      [JSON.stringify(targets)],
    );
    // Leaving the account disabled as it was before the incident is the reversal, done now.
    const leftDisabled = targets.filter((t) => t.outcome === 'leftDisabled' && t.reverses.length > 0);
    if (leftDisabled.length > 0) {
      await m.query(
        `UPDATE task_targets d SET reversed_by = x.id
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, reverses uuid[])
          WHERE d.id = ANY(x.reverses) AND d.reversed_by IS NULL`,
        [JSON.stringify(leftDisabled.map((t) => ({ id: t.id, reverses: t.reverses })))],
      );
    }
    // A later Disable by any name the reversed Disables knew the account by must find this Enable; the name it
    // was requested by is recorded first, as `requested`.
    await this.insertIdentifiers(m, [
      ...accepted.flatMap((a) => a.keys.map((key) => ({ taskId: a.id, key, source: 'requested' }))),
      ...accepted.flatMap((a) => a.disableKeys.map((key) => ({ taskId: a.id, key, source: 'reversed' }))),
    ]);
    await this.appendCreatedEvents(
      m,
      batch.createdBy,
      accepted.map((a) => ({
        taskId: a.id,
        detail: {
          action: 'enableAccount',
          disableTaskId: a.plan.disableTaskId,
          providers: a.plan.targets.map((p) => p.provider),
        },
      })),
    );
    for (const a of accepted) {
      if (
        !a.plan.targets.some((p) => p.status === 'pending' && batch.configuredProviders.includes(p.provider))
      )
        await this.rollUpTask(m, a.id, 'enableAccount', batch.createdBy);
    }
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
   * A bulk request's own row, written with its tasks: who asked, for what, and how many of its accounts were
   * accepted. The progress of its tasks is counted from the tasks (findBatch), never kept here.
   */
  private async insertBatch(
    m: EntityManager,
    batch: { id: string; requested: number },
    action: TaskAction,
    createdBy: string,
    accepted: number,
  ): Promise<void> {
    await m.query(
      `INSERT INTO batches (id, action, created_by, requested, accepted, rejected) VALUES ($1, $2, $3, $4, $5, $6)`,
      [batch.id, action, createdBy, batch.requested, accepted, batch.requested - accepted],
    );
  }

  private async countBatch(m: EntityManager, batch: { id: string; requested: number }, accepted: number) {
    await m.query(`UPDATE batches SET accepted = $2, rejected = $3 WHERE id = $1`, [
      batch.id,
      accepted,
      batch.requested - accepted,
    ]);
  }

  async findBatch(id: string): Promise<BatchRecord | null> {
    const [batch]: Array<Omit<BatchRecord, 'counts'>> = await this.dataSource.query(
      `SELECT id, action, created_by AS "createdBy", requested, accepted, rejected, created_at AS "createdAt"
         FROM batches WHERE id = $1`,
      [id],
    );
    if (!batch) return null;
    const rows: Array<{ status: TaskStatus; n: number }> = await this.dataSource.query(
      `SELECT status, count(*)::int AS n FROM tasks WHERE batch_id = $1 GROUP BY status`,
      [id],
    );
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const r of rows) counts[r.status] = r.n;
    return { ...batch, counts };
  }

  /**
   * Runs a task creation and rolls it back, answering the task as it stood just before the rollback. The
   * creation lock is held for the same statements as a real create, and for less time overall: a rollback
   * waits for no commit to reach the disk. Ids and sequence values it drew are skipped, as after any rollback.
   */
  private async rehearse(create: (m: EntityManager) => Promise<string>): Promise<TaskEntity> {
    return this.rolledBack(async (m) => {
      const id = await create(m);
      const task = await m.findOneByOrFail(TaskEntity, { id });
      task.targets = await m.find(TaskTargetEntity, { where: { taskId: id }, order: { provider: 'ASC' } });
      return task;
    });
  }

  /** What a bulk Disable would answer now, per account (`dryRun`); rolled back. */
  async rehearseDisableTasks(batch: DisableBatch): Promise<Creation[]> {
    return this.rolledBack((m) => this.disablesInTransaction(m, batch));
  }

  /** What a bulk Enable would answer now, per account (`dryRun`); rolled back. */
  async rehearseEnableTasks(batch: EnableBatch): Promise<Creation[]> {
    return this.enableBackstop(() => this.rolledBack((m) => this.enablesInTransaction(m, batch)));
  }

  private async rolledBack<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      await this.dataSource.transaction(async (m) => {
        this.rehearsals.add(m);
        throw new Rehearsal(await work(m));
      });
    } catch (e) {
      if (e instanceof Rehearsal) return e.result as T;
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
    if (f.batchId) qb.andWhere('t.batch_id = :batchId', { batchId: f.batchId });
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
   *
   * One statement: the claim, the first attempt's event and the task's row come back together. A single
   * statement is atomic without a transaction of its own.
   */
  async claimTarget(taskId: string, provider: string): Promise<ClaimedTarget | null> {
    const { targets, tasks } = this.rows();
    const row = await this.batches().claims.run({ taskId, provider });
    if (!row) return null;
    const target = targets.from(row);
    const task = tasks.from(row);
    const fence = { targetId: target.id, generation: target.claimGeneration, taskId: target.taskId };
    const shape = { action: task.action, targetCount: row.target_count as number };
    if (target.stopReason) {
      await this.finishTarget(
        taskId,
        provider,
        fence,
        { status: 'skipped', outcome: target.stopReason },
        shape,
      );
      return null;
    }
    return { target, task, fence, shape };
  }

  /** Gives the target back untouched (its object is busy): pending again, and the attempt not counted. */
  async releaseClaim(fence: Fence): Promise<void> {
    await this.prepared(
      'release_claim',
      `WITH released AS (
         UPDATE task_targets SET status = 'pending', attempts = GREATEST(attempts - 1, 0), updated_at = now()
          WHERE id = $1 AND claim_generation = $2 AND status = 'running')
       DELETE FROM object_locks WHERE target_id = $1 AND generation = $2`,
      [fence.targetId, fence.generation],
    );
  }

  /**
   * Remembers which object resolve() found, and the names it goes by, for later Enable requests; with `lock`,
   * takes the object's lease in the same statement (see acquireObjectLock for what the lease means). The
   * resolution is recorded even when the object is busy, as it always was: a waiting Disable is visible to an
   * Enable's check from then on.
   *
   * The UPDATE of the claimed row is the proof of the claim: it matches only this attempt's generation, and a
   * newer claim of the row waits for this statement, so the lease is never taken for an attempt that lost.
   *
   * A Disable looks for older Enables of the object in the same statement: their targets carry the object from
   * their creation, committed before this Disable was accepted, so the statement's snapshot cannot miss one
   * (one that finished meanwhile only sends it the slower way). An Enable's look for Disables cannot: a
   * Disable records its object when it resolves, so that look runs after the lease is taken.
   */
  async recordResolution(
    fence: Fence,
    found: {
      taskId: string;
      provider: string;
      objectId: string;
      objectRef: string;
      identifierKeys: string[];
    },
    lease?: ObjectLeaseRequest,
  ): Promise<ObjectLockResult> {
    const lock = lease && { ...lease, provider: found.provider, objectRef: found.objectRef };
    const disabling = lock?.action === 'disableAccount';
    const row = await this.batches().resolutions.run({
      target_id: fence.targetId,
      generation: fence.generation,
      object_id: found.objectId,
      object_ref: found.objectRef,
      keys: storableKeys(found.identifierKeys),
      task_id: found.taskId,
      provider: found.provider,
      disabling,
      lease_ms: lock ? String(lock.leaseMs) : null,
      task_seq: lock?.taskSeq ?? '0',
    });
    if (!row.mine) throw new ClaimLostError(fence.targetId);
    if (!lock) return 'acquired';
    // An Enable to supersede is rare: the transaction that takes the lease and stops the Enable together.
    if (row.older_enables) return this.acquireObjectLock(fence, lock);
    if (!row.locked) return 'busy';
    // An Enable looks for the Disables that supersede it at its first write's fence (fenceWrite).
    return 'acquired';
  }

  /**
   * Takes the lease on one directory object for this attempt (CONTRACT §4.1: two targets never act on one
   * object at once). A lease left by a killed worker expires; the same target's newer attempt takes it over at
   * once. A Disable taking the object supersedes older Enables of it. (An Enable learns whether a Disable
   * supersedes it at its first write's fence, fenceWrite.)
   */
  async acquireObjectLock(fence: Fence, lock: ObjectLock): Promise<ObjectLockResult> {
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
      }
      return 'acquired';
    });
  }

  /**
   * The fence every directory write passes (AttemptGuard.beforeWrite): this attempt still owns the claim and
   * the object's lease (extended here), and nobody asked it to stop. Records the state read before the write
   * (once: the first attempt's reading wins) and when this target first reached the object. Returns the
   * recorded prior state.
   *
   * `checkSupersede`, an Enable attempt's first fence: an Enable is superseded by a Disable of its object
   * accepted after it, or by one still unfinished (AttemptStoppedError 'superseded', nothing recorded). It is
   * read here, after the lease is ours and in a snapshot of its own, so a Disable that took the object's lease
   * before us has recorded its resolution by then; and only on the first fence, once per attempt before it
   * writes, as the look it replaces did. (A Disable accepted while an Enable writes stops it at any fence
   * through `stop_reason`, set when the Disable is created; this look finds the Disables that creation could
   * not name: one still unfinished from before, or one that named the account otherwise.)
   */
  async fenceWrite(
    fence: Fence,
    stateBefore: AccountState,
    leaseMs: number,
    checkSupersede = false,
  ): Promise<AccountState> {
    const row = await this.batches().fences.run({
      task_id: fence.taskId ?? null,
      target_id: fence.targetId,
      generation: fence.generation,
      lease_ms: String(leaseMs),
      state: stateBefore,
      check_supersede: checkSupersede,
    });
    if (row?.superseded) throw new AttemptStoppedError('superseded');
    if (row?.prior_state) return row.prior_state;
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

  /**
   * Replaces the state `fenceWrite` recorded when the write it fenced was refused by the directory, which
   * proved the account was `state` (FencedAttempt.writeRefused decides when that is allowed). Throws
   * ClaimLostError when this attempt no longer owns the target.
   */
  async replacePriorState(fence: Fence, state: AccountState): Promise<AccountState> {
    const rows: Array<{ prior_state: AccountState }> = await this.prepared(
      'replace_prior_state',
      `UPDATE task_targets SET prior_state = $3, updated_at = now()
        WHERE id = $1 AND claim_generation = $2 AND status = 'running' RETURNING prior_state`,
      [fence.targetId, fence.generation, state],
    );
    if (rows.length === 0) throw new ClaimLostError(fence.targetId);
    return rows[0].prior_state;
  }

  /** A transient failure that will be retried: the target goes back to pending with the error kept. */
  async recordRetry(
    fence: Fence,
    error: { code: string; message: string },
    retryInMs: number | null,
  ): Promise<void> {
    await this.prepared(
      'record_retry',
      `WITH retried AS (
         UPDATE task_targets SET status = 'pending', error_code = $3, error_message = $4, updated_at = now()
          WHERE id = $1 AND claim_generation = $2 AND status = 'running' RETURNING task_id, provider, attempts),
       released AS (DELETE FROM object_locks WHERE target_id = $1 AND generation = $2)
       INSERT INTO task_events (task_id, type, provider, status, actor, detail)
       SELECT task_id, 'task.targetUpdated', provider, 'pending', 'worker',
              jsonb_build_object('attempt', attempts, 'error', $5::jsonb, 'retryInMs', $6::int)
         FROM retried`,
      [fence.targetId, fence.generation, error.code, error.message, JSON.stringify(error), retryInMs],
    );
  }

  /**
   * Finishes one target and rolls the task up, atomically and exactly once: the UPDATE only matches an
   * unfinished target owned by this attempt (`fence`; null for the engine's own decisions, such as a removed
   * provider). Returns false when the target had already finished or the claim was lost.
   *
   * `shape` (from the claim) lets the target of a one-target task finish in one statement: with no other
   * target to finish concurrently, its own result is the task's, and the guarded UPDATEs order it against a
   * cancel or a supersede. Without it, or with several targets, the task row is locked first (see
   * finishInTransaction).
   */
  async finishTarget(
    taskId: string,
    provider: string,
    fence: Fence | null,
    result: TargetResult,
    shape?: TaskShape,
  ): Promise<boolean> {
    if (shape?.targetCount === 1) return this.finishOnlyTarget(taskId, provider, fence, result, shape.action);
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
   * concurrent requests cannot slip past it together: how many more Disable tasks it may create now, and the
   * refusal for any beyond that. Keys are looked up by name, which `createdBy` holds.
   */
  private async disableAllowance(
    m: EntityManager,
    createdBy: string,
  ): Promise<{ remaining: number; refusal: () => DomainError }> {
    const [key]: Array<{ disable_limit: number | null; disable_window_seconds: number | null }> =
      await m.query(`SELECT disable_limit, disable_window_seconds FROM api_keys WHERE name = $1`, [
        createdBy,
      ]);
    if (!key?.disable_limit || !key.disable_window_seconds)
      return {
        remaining: Infinity,
        refusal: () => {
          throw new Error('unreachable: this API key has no Disable limit');
        },
      };
    const limit = { max: key.disable_limit, windowSeconds: key.disable_window_seconds };
    const [used]: Array<{ n: number; oldest: Date | null }> = await m.query(
      `SELECT count(*)::int AS n, min(created_at) AS oldest FROM tasks
        WHERE created_by = $1 AND action = 'disableAccount' AND created_at > now() - ($2 || ' seconds')::interval`,
      [createdBy, String(limit.windowSeconds)],
    );
    // With none in the window yet, the oldest that counts is one this very request creates.
    const freeAt = new Date(used.oldest ?? Date.now()).getTime() + limit.windowSeconds * 1000;
    return {
      remaining: Math.max(0, limit.max - used.n),
      refusal: () =>
        new DomainError(
          429,
          'disableLimitExceeded',
          `API key ${createdBy} may create at most ${formatRateLimit(limit)} Disable tasks, and has reached that limit; ` +
            'nothing was created. An administrator can raise the limit (api-key create --disable-limit).',
          {
            limit: formatRateLimit(limit),
            retryAfterSeconds: Math.max(1, Math.ceil((freeAt - Date.now()) / 1000)),
          },
        ),
    };
  }

  /**
   * The task row is locked before anything else, by a statement of its own: concurrent finishers of this
   * task's targets take turns, and the next statement's snapshot, taken once the lock is held, sees every
   * result committed before. (A lock taken inside the same statement would not: its snapshot predates the
   * wait.) Its events are stamped when written, not when the transaction began, so that the timeline, ordered
   * by time, follows the order in which finishers held the lock and ends with `task.completed`.
   */
  private async finishInTransaction(
    m: EntityManager,
    taskId: string,
    provider: string,
    fence: Fence | null,
    result: TargetResult,
  ): Promise<boolean> {
    const [task]: Array<{ action: TaskAction; status: TaskStatus }> = await m.query(
      `SELECT action, status FROM tasks WHERE id = $1 FOR NO KEY UPDATE`,
      [taskId],
    );
    const targets: Array<{ status: TargetStatus; outcome: TargetOutcome | null; mine: boolean }> = firstRows(
      await m.query(
        `WITH ${FINISH_TARGET_CTES},
         targeted AS (
           INSERT INTO task_events (task_id, type, provider, status, actor, detail, created_at)
           SELECT i.task_id, 'task.targetUpdated', i.provider, i.status, 'worker', i.detail, clock_timestamp()
             FROM input i WHERE i.ord IN (SELECT ord FROM finished)),
         touched AS (
           UPDATE tasks SET updated_at = now() WHERE id = $2 AND status = 'inProgress' AND EXISTS (SELECT 1 FROM finished))
         SELECT x.status, x.outcome, x.id IN (SELECT id FROM finished) AS mine FROM task_targets x WHERE x.task_id = $2`,
        [...batchInput([finishItem(task.action, taskId, provider, fence, result)]), taskId],
      ),
    );
    if (!targets.some((t) => t.mine)) return false;
    // The statement's snapshot shows this target as it was before the statement changed it.
    const now = targets.map((t) => (t.mine ? { status: result.status, outcome: result.outcome } : t));
    const rolled = rollUp(task.action, now);
    // Still in progress: `touched` has already recorded the change on the task.
    if (task.status === 'inProgress' && rolled.status !== 'inProgress')
      await this.completeTask(m, taskId, task.action, rolled, 'worker');
    return true;
  }

  /** finishTarget of a task's only target: one statement, no transaction of its own. */
  private async finishOnlyTarget(
    taskId: string,
    provider: string,
    fence: Fence | null,
    result: TargetResult,
    action: TaskAction,
  ): Promise<boolean> {
    const rolled = rollUp(action, [result]);
    const row = await this.batches().finishes.run({
      ...finishItem(action, taskId, provider, fence, result),
      task_status: rolled.status,
      task_error_code: rolled.errorCode,
      task_error_message: completionMessage(rolled.errorCode),
      completed_detail: { errorCode: rolled.errorCode },
    });
    if (row.completed) this.metrics?.taskCompleted(action, rolled.status);
    return row.finished;
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

  /** The tasks' rows, in request order (so `seq`, the acceptance order, follows it), with ids chosen here. */
  private async insertTasks(
    m: EntityManager,
    action: TaskAction,
    common: { createdBy: string; callbackUrl: string | null; batch?: { id: string } },
    requestedProviders: string[] | null,
    rows: ReadonlyArray<NewTaskRow & { disableTaskId?: string }>,
  ): Promise<void> {
    await m.query(
      `INSERT INTO tasks (id, action, status, account, description, requested_providers, disable_task_id,
                          created_by, callback_url, batch_id)
       SELECT x.id, $2, 'inProgress', x.account, x.description, $3::text[], x.disable_task_id, $4, $5, $6
         FROM jsonb_to_recordset($1::jsonb) AS x(ord int, id uuid, account text, description text, disable_task_id uuid)
        ORDER BY x.ord`,
      [
        JSON.stringify(
          rows.map((r) => ({
            ord: r.ord,
            id: r.id,
            account: r.account,
            description: r.description,
            disable_task_id: r.disableTaskId ?? null,
          })),
        ),
        action,
        requestedProviders,
        common.createdBy,
        common.callbackUrl,
        common.batch?.id ?? null,
      ],
    );
  }

  /** Every identifier each task knows, by task. */
  private async keysByTask(m: EntityManager, taskIds: string[]): Promise<Map<string, string[]>> {
    const byTask = new Map<string, string[]>();
    if (taskIds.length === 0) return byTask;
    const rows: Array<{ task_id: string; key: string }> = await m.query(
      `SELECT task_id, key FROM account_identifiers WHERE task_id = ANY($1)`,
      [taskIds],
    );
    for (const r of rows) byTask.set(r.task_id, [...(byTask.get(r.task_id) ?? []), r.key]);
    return byTask;
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
    await this.completeTask(m, taskId, action, rollUp(action, targets), actor);
  }

  /**
   * Sets the rolled-up status of an inProgress task whose row the caller holds locked, once. The event is
   * stamped when written (see finishInTransaction): a transaction that began before another finisher's may
   * complete the task after it.
   */
  private async completeTask(
    m: EntityManager,
    taskId: string,
    action: TaskAction,
    result: RollUp,
    actor: string,
  ): Promise<void> {
    if (result.status === 'inProgress') {
      await m.query(`UPDATE tasks SET updated_at = now() WHERE id = $1`, [taskId]);
      return;
    }
    const done: unknown[] = firstRows(
      await m.query(
        `WITH completed AS (
         UPDATE tasks SET status = $2, error_code = $3, error_message = $4, completed_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'inProgress' RETURNING id)
       INSERT INTO task_events (task_id, type, provider, status, actor, detail, created_at)
       SELECT id, 'task.completed', NULL, $2, $5, $6, clock_timestamp() FROM completed RETURNING 1`,
        [
          taskId,
          result.status,
          result.errorCode,
          completionMessage(result.errorCode),
          actor,
          JSON.stringify({ errorCode: result.errorCode }),
        ],
      ),
    );
    if (done.length === 0) return;
    // Counted before the commit: a commit failing after this (the connection lost) over-counts one task.
    if (!this.rehearsals.has(m)) this.metrics?.taskCompleted(action, result.status);
  }

  private async recordIdentifiers(
    m: EntityManager,
    taskId: string,
    keys: string[],
    source: string,
  ): Promise<void> {
    await this.insertIdentifiers(
      m,
      keys.map((key) => ({ taskId, key, source })),
    );
  }

  /** In the order given: where one task gets one key twice, the first row's source is the one kept. */
  private async insertIdentifiers(
    m: EntityManager,
    rows: ReadonlyArray<{ taskId: string; key: string; source: string }>,
  ): Promise<void> {
    // A directory may report a value longer than an index entry may be (requested ones are bounded already):
    // such a key could never be matched by a request anyway.
    const kept = rows.filter((r) => r.key.length > 0 && Buffer.byteLength(r.key, 'utf8') <= MAX_KEY_BYTES);
    if (kept.length === 0) return;
    await m.query(
      `INSERT INTO account_identifiers (task_id, key, source)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
      [kept.map((r) => r.taskId), kept.map((r) => r.key), kept.map((r) => r.source)],
    );
  }

  /** `task.created` for each new task, in request order. */
  private async appendCreatedEvents(
    m: EntityManager,
    actor: string,
    events: ReadonlyArray<{ taskId: string; detail: Record<string, unknown> }>,
  ): Promise<void> {
    await m.query(
      `INSERT INTO task_events (task_id, type, provider, status, actor, detail)
       SELECT x.task_id, 'task.created', NULL, 'inProgress', $2, x.detail
         FROM jsonb_to_recordset($1::jsonb) AS x(ord int, task_id uuid, detail jsonb) ORDER BY x.ord`,
      [JSON.stringify(events.map((e, ord) => ({ ord, task_id: e.taskId, detail: e.detail }))), actor],
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

/** One target's row of a finish's `input`; the finish of a task's only target adds the task's own columns. */
function finishItem(
  action: TaskAction,
  taskId: string,
  provider: string,
  fence: Fence | null,
  result: TargetResult,
): FinishItem {
  return {
    task_id: taskId,
    provider,
    status: result.status,
    outcome: result.outcome,
    object_id: result.objectId ?? null,
    object_ref: result.objectRef ?? null,
    error_code: result.error?.code ?? null,
    error_message: result.error?.message ?? null,
    warnings: result.warnings ?? [],
    not_a_change: result.notAChange ?? false,
    generation: fence?.generation ?? null,
    // Marks the Disable targets it undoes as reversed: an Enable target that succeeded.
    reversing: action === 'enableAccount' && result.status === 'succeeded',
    detail: targetEventDetail(result),
  };
}

function targetEventDetail(result: TargetResult): Record<string, unknown> {
  return {
    outcome: result.outcome,
    error: result.error ?? null,
    ...(result.warnings?.length ? { warnings: result.warnings } : {}),
  };
}

function completionMessage(errorCode: string | null): string | null {
  return errorCode === 'accountNotFound'
    ? 'The account was not found in any directory the task acted on.'
    : null;
}

/** Keys a directory reported that fit an index entry (requested ones are bounded already, see recordIdentifiers). */
function storableKeys(keys: string[]): string[] {
  return [...new Set(keys.filter((k) => k.length > 0 && Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES))];
}

function onlyTask([result]: Creation[]): string {
  if ('error' in result) throw result.error;
  return result.taskId;
}

function disableBatchOf(input: NewDisableTask): DisableBatch {
  const { account, description, identifierKeys, ...common } = input;
  return { ...common, items: [{ account, description, identifierKeys }] };
}

function enableBatchOf(input: NewEnableTask): EnableBatch {
  const { account, description, identifierKeys, disableTaskId, ...common } = input;
  return { ...common, items: [{ account, description, identifierKeys, disableTaskId }] };
}

const objectOf = (r: { provider: string; objectRef: string }) => `${r.provider}\n${r.objectRef}`;

function uniqueById<T extends { id: string }>(rows: T[]): T[] {
  return uniqueBy(rows, (r) => r.id);
}

function uniqueBy<T>(rows: T[], key: (row: T) => string): T[] {
  return [...new Map(rows.map((r) => [key(r), r])).values()];
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const group = groups.get(k);
    if (group) group.push(r);
    else groups.set(k, [r]);
  }
  return groups;
}

/** TypeORM returns [rows, count] for UPDATE … RETURNING on PostgreSQL, and rows for SELECT/INSERT. */
function firstRows<T>(rows: T[] | [T[], number]): T[] {
  if (Array.isArray(rows) && rows.length === 2 && Array.isArray(rows[0]) && typeof rows[1] === 'number') {
    return rows[0] as T[];
  }
  return rows as T[];
}
