import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CONTRACT §4.1, one account, one timeline:
 * - tasks.seq: the order in which tasks were accepted (task creation is serialised, so it is commit order);
 * - task_targets.claim_generation: the fencing token of the attempt that owns a target; every write of an
 *   attempt names it, so an attempt that timed out or lost its claim can write nothing afterwards;
 * - task_targets.stop_reason: a request (superseded, cancelled) that a running attempt honours before its
 *   next directory write;
 * - task_targets.acted_seq: when, across all tasks, a target first reached its object (its prior_state was
 *   recorded under the object lock), so "the earliest Disable" means the first to act, not the first accepted;
 * - task_targets.reverses / reversed_by: reversal is recorded per Disable target, by the Enable target that
 *   restored it, so a superseded or failed Enable target reverses nothing;
 * - task_targets.warnings: follow-ups that failed after the change landed;
 * - object_locks: at most one target acts on a directory object at a time, with a lease so a killed worker
 *   cannot hold it for ever;
 * - account_identifiers.key carries its kind (`downlevel:corp\jdoe`, `name:jdoe`, …).
 */
export class OneAccountOneTimeline1764000000000 implements MigrationInterface {
  name = 'OneAccountOneTimeline1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tasks ADD COLUMN seq bigserial`);
    await q.query(`CREATE UNIQUE INDEX tasks_seq_idx ON tasks (seq)`);
    await q.query(`CREATE INDEX tasks_in_progress_idx ON tasks (action) WHERE status = 'inProgress'`);

    await q.query(`
      ALTER TABLE task_targets
        ADD COLUMN claim_generation integer NOT NULL DEFAULT 0,
        ADD COLUMN stop_reason text CHECK (stop_reason IN ('superseded', 'cancelled')),
        ADD COLUMN acted_seq bigint,
        ADD COLUMN reverses uuid[] NOT NULL DEFAULT '{}',
        ADD COLUMN reversed_by uuid REFERENCES task_targets(id),
        ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`CREATE SEQUENCE target_acted_seq`);
    await q.query(
      `CREATE INDEX task_targets_object_idx ON task_targets (provider, object_ref) WHERE object_ref IS NOT NULL`,
    );

    // Existing history: targets that recorded a prior state acted in the order they started; an Enable target
    // that succeeded (or left the account disabled) reversed its Disable task's target in the same provider.
    await q.query(`
      UPDATE task_targets x SET acted_seq = o.n
        FROM (SELECT id, nextval('target_acted_seq') AS n FROM task_targets
               WHERE prior_state IS NOT NULL ORDER BY started_at NULLS LAST, id) o
       WHERE x.id = o.id`);
    await q.query(`
      UPDATE task_targets d SET reversed_by = e.id
        FROM task_targets e JOIN tasks et ON et.id = e.task_id
       WHERE et.action = 'enableAccount' AND d.task_id = et.disable_task_id AND d.provider = e.provider
         AND (e.status = 'succeeded' OR e.outcome = 'leftDisabled')`);
    await q.query(`
      UPDATE task_targets e SET reverses = ARRAY[d.id]
        FROM tasks et, task_targets d
       WHERE et.id = e.task_id AND et.action = 'enableAccount'
         AND d.task_id = et.disable_task_id AND d.provider = e.provider`);

    await q.query(`
      CREATE TABLE object_locks (
        provider text NOT NULL,
        object_ref text NOT NULL,
        target_id uuid NOT NULL,
        generation integer NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (provider, object_ref)
      )`);
    await q.query(`CREATE INDEX object_locks_target_idx ON object_locks (target_id)`);

    // Old keys had no kind, and a down-level name was also recorded as its bare name: drop those bare
    // names (the cause of CORP\\jdoe matching LAB\\jdoe), then give every key the kind its form shows.
    await q.query(`
      DELETE FROM account_identifiers i USING tasks t
       WHERE i.task_id = t.id AND i.source = 'requested' AND position('\\' in t.account) > 0
         AND i.key = lower(split_part(t.account, '\\', 2))`);
    await q.query(`
      UPDATE account_identifiers SET key = CASE
          WHEN key ~ '^\\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\}?$'
            THEN 'guid:' || btrim(key, '{}')
          WHEN key ~ '^s-1-[0-9]' THEN 'sid:' || key
          WHEN key ~ '^00u[a-z0-9]{17}$' THEN 'oktaid:' || key
          WHEN key ~ '^[a-z][a-z0-9-]*\\s*=' THEN 'dn:' || regexp_replace(key, '\\s*([,=+])\\s*', '\\1', 'g')
          WHEN position('\\' in key) > 0 THEN 'downlevel:' || key
          WHEN position('@' in key) > 0 THEN 'email:' || key
          ELSE 'name:' || key
        END
       WHERE key !~ '^(dn|guid|sid|email|downlevel|oktaid|name):'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE account_identifiers SET key = substr(key, position(':' in key) + 1)`);
    await q.query(`DROP TABLE object_locks`);
    await q.query(`DROP SEQUENCE target_acted_seq`);
    await q.query(`
      ALTER TABLE task_targets
        DROP COLUMN warnings, DROP COLUMN reversed_by, DROP COLUMN reverses, DROP COLUMN acted_seq,
        DROP COLUMN stop_reason, DROP COLUMN claim_generation`);
    await q.query(`DROP INDEX tasks_in_progress_idx`);
    await q.query(`ALTER TABLE tasks DROP COLUMN seq`);
  }
}
