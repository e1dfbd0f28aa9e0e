import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type TaskEventType = 'task.created' | 'task.targetUpdated' | 'task.completed';

/** Append-only (a trigger refuses UPDATE and DELETE): the audit trail, and the feed webhooks will read. */
@Entity('task_events')
export class TaskEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'task_id', type: 'uuid' })
  taskId!: string;

  @Column({ type: 'text' })
  type!: TaskEventType;

  @Column({ type: 'text', nullable: true })
  provider!: string | null;

  @Column({ type: 'text' })
  status!: string;

  @Column({ type: 'jsonb' })
  detail!: Record<string, unknown>;

  /** The API key name for API actions, `worker` for what the engine did on its own. */
  @Column({ type: 'text' })
  actor!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
