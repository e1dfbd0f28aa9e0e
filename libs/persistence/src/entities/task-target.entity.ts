import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { AccountState, ProviderKind, TargetOutcome, TargetStatus } from '@app/domain';
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

  /**
   * The account's state as read under the object lock right before this target first wrote (or found nothing
   * to write). Set once: a retry after a crash must not read its own change back as the state before.
   */
  @Column({ name: 'prior_state', type: 'text', nullable: true })
  priorState!: AccountState | null;

  /** Fencing token: bumped by every claim; writes of an older attempt match no row. */
  @Column({ name: 'claim_generation', type: 'integer' })
  claimGeneration!: number;

  /** Asked of a running attempt, honoured before its next directory write. */
  @Column({ name: 'stop_reason', type: 'text', nullable: true })
  stopReason!: 'superseded' | 'cancelled' | null;

  /** Global order in which targets first reached their object (see the migration OneAccountOneTimeline). */
  @Column({ name: 'acted_seq', type: 'bigint', nullable: true })
  actedSeq!: string | null;

  /** Enable targets: the Disable targets reversed once this one succeeds. */
  @Column({ type: 'uuid', array: true })
  reverses!: string[];

  /** Disable targets: the Enable target that reversed this change. */
  @Column({ name: 'reversed_by', type: 'uuid', nullable: true })
  reversedBy!: string | null;

  @Column({ type: 'jsonb' })
  warnings!: Array<{ code: string; message: string }>;

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
