import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue #10, bulk routes: a batch is one bulk request (CONTRACT §5). Its row is written once, in the
 * transaction that creates its tasks, and never updated: progress is counted from the tasks themselves
 * (`tasks_batch_idx`), so ten thousand targets finishing at once never queue on one counter row.
 */
export class Batches1764600000000 implements MigrationInterface {
  name = 'Batches1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE batches (
        id uuid PRIMARY KEY,
        action text NOT NULL CHECK (action IN ('disableAccount', 'enableAccount')),
        created_by text NOT NULL,
        requested integer NOT NULL,
        accepted integer NOT NULL,
        rejected integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp())
      )`);
    // Nullable and without a default: adding it rewrites nothing, so the upgrade is instant on a big table.
    await q.query(`ALTER TABLE tasks ADD COLUMN batch_id uuid REFERENCES batches(id)`);
    await q.query(`CREATE INDEX tasks_batch_idx ON tasks (batch_id, status) WHERE batch_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tasks_batch_idx`);
    await q.query(`ALTER TABLE tasks DROP COLUMN batch_id`);
    await q.query(`DROP TABLE batches`);
  }
}
