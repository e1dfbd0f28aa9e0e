import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { ProviderKind, TargetOutcome, TargetStatus } from '@app/domain';
import { TaskEntity } from './task.entity';

@Entity('task_targets')
export class TaskTargetEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'task_id', type: 'uuid' })
  taskId!: string;

  @ManyToOne(() => TaskEntity, (t) => t.targets, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'task_id' })
  task?: TaskEntity;

  @Column({ type: 'text' })
  provider!: string;

  @Column({ type: 'text' })
  kind!: ProviderKind;

  @Column({ type: 'text' })
  status!: TargetStatus;

  @Column({ type: 'text', nullable: true })
  outcome!: TargetOutcome | null;

  @Column({ name: 'object_id', type: 'text', nullable: true })
  objectId!: string | null;

  @Column({ name: 'object_ref', type: 'text', nullable: true })
  objectRef!: string | null;

  /** The account's state as first read, before this task changed anything (see ResolvedAccount.disabled). */
  @Column({ name: 'prior_state', type: 'text', nullable: true })
  priorState!: 'enabled' | 'disabled' | null;

  @Column({ type: 'integer' })
  attempts!: number;

  @Column({ name: 'error_code', type: 'text', nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
