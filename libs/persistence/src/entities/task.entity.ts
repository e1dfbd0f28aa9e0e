import { Column, Entity, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import type { TaskAction, TaskStatus } from '@app/domain';
import { TaskTargetEntity } from './task-target.entity';

@Entity('tasks')
export class TaskEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** Acceptance order (bigint, so a string). */
  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;

  @Column({ type: 'text' })
  action!: TaskAction;

  @Column({ type: 'text' })
  status!: TaskStatus;

  @Column({ type: 'text' })
  account!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ name: 'requested_providers', type: 'text', array: true, nullable: true })
  requestedProviders!: string[] | null;

  @Column({ name: 'disable_task_id', type: 'uuid', nullable: true })
  disableTaskId!: string | null;

  /** The bulk request (CONTRACT §5) that created the task; null for a task created on its own. */
  @Column({ name: 'batch_id', type: 'uuid', nullable: true })
  batchId!: string | null;

  @Column({ name: 'created_by', type: 'text' })
  createdBy!: string;

  @Column({ name: 'callback_url', type: 'text', nullable: true })
  callbackUrl!: string | null;

  @Column({ name: 'error_code', type: 'text', nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @OneToMany(() => TaskTargetEntity, (t) => t.task)
  targets!: TaskTargetEntity[];
}
