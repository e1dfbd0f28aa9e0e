import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { TaskAction, TaskStatus } from '@app/domain';
import { TaskEntity, TaskTargetEntity } from './entities';

/**
 * A condition on tasks, in the engine's own terms. Doors with a query language of their own (the Vision
 * One-style `filter`) translate their tree into this one; this store alone turns it into SQL, and every value
 * in it becomes a bound parameter.
 */
export type TaskCondition =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'and' | 'or'; operands: TaskCondition[] }
  | { kind: 'not'; operand: TaskCondition }
  | { kind: 'id'; value: string }
  | { kind: 'action'; value: TaskAction }
  | { kind: 'status'; value: TaskStatus }
  | { kind: 'createdBy'; value: string }
  /** Some target has begun: see TARGET_HAS_STARTED. */
  | { kind: 'started' };

export interface TaskSearch {
  where?: TaskCondition;
  /** Which time `from` and `to` bound (both inclusive). */
  dateField?: 'createdAt' | 'updatedAt';
  from?: Date;
  to?: Date;
  /** Only tasks accepted before this one (its `seq`): the page after it, newest first. */
  beforeSeq?: string;
  limit: number;
}

/**
 * A target has begun once a worker claimed it (`started_at`) or it already ended as acted on. Targets
 * skipped when the task was created (an Enable leaving an account disabled) or stopped while still pending
 * have not. The Vision One door's `queued`/`running` split in TypeScript (`hasStarted`) mirrors this.
 */
export const TARGET_HAS_STARTED = `EXISTS (SELECT 1 FROM task_targets x WHERE x.task_id = t.id
  AND (x.started_at IS NOT NULL OR x.status IN ('running', 'succeeded', 'failed')))`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Filtered, paged task listings for the doors; the native listing stays in TaskStore. */
@Injectable()
export class TaskSearchStore {
  constructor(private readonly dataSource: DataSource) {}

  /** Newest first (acceptance order, `seq`), with each task's targets. */
  async search(s: TaskSearch): Promise<TaskEntity[]> {
    const params: Record<string, unknown> = {};
    const qb = this.dataSource.getRepository(TaskEntity).createQueryBuilder('t');
    if (s.where) qb.andWhere(compileCondition(s.where, params), params);
    const column = s.dateField === 'updatedAt' ? 't.updated_at' : 't.created_at';
    if (s.from) qb.andWhere(`${column} >= :from`, { from: s.from });
    if (s.to) qb.andWhere(`${column} <= :to`, { to: s.to });
    if (s.beforeSeq !== undefined) qb.andWhere('t.seq < :beforeSeq', { beforeSeq: s.beforeSeq });
    const tasks = await qb.orderBy('t.seq', 'DESC').limit(s.limit).getMany();
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
}

/**
 * SQL for a condition over the alias `t`, its values added to `params` under generated names. Only the
 * fixed fragments below ever reach the SQL text. The caller bounds the tree's depth (the filter parser does).
 */
export function compileCondition(c: TaskCondition, params: Record<string, unknown>): string {
  const bind = (value: unknown) => {
    const name = `c${Object.keys(params).length}`;
    params[name] = value;
    return `:${name}`;
  };
  switch (c.kind) {
    case 'true':
      return 'TRUE';
    case 'false':
      return 'FALSE';
    case 'and':
    case 'or':
      if (c.operands.length === 0) return c.kind === 'and' ? 'TRUE' : 'FALSE';
      return `(${c.operands.map((o) => compileCondition(o, params)).join(c.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileCondition(c.operand, params)})`;
    case 'id':
      // The column is a uuid: comparing it with anything else would be a PostgreSQL error, not "no match".
      return UUID.test(c.value) ? `t.id = ${bind(c.value)}` : 'FALSE';
    case 'action':
      return `t.action = ${bind(c.value)}`;
    case 'status':
      return `t.status = ${bind(c.value)}`;
    case 'createdBy':
      return `t.created_by = ${bind(c.value)}`;
    case 'started':
      return TARGET_HAS_STARTED;
  }
}
