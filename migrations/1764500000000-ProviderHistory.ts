import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `GET /api/v1/providers` shows each provider's latest succeeded and latest failed target; this index makes
 * that one short index scan per provider however long the history grows. Built CONCURRENTLY (outside a
 * transaction), so that an upgrade never blocks the writes of the processes still running the old version.
 */
export class ProviderHistory1764500000000 implements MigrationInterface {
  name = 'ProviderHistory1764500000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    // A concurrent build that was interrupted leaves an invalid index behind under the same name.
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS task_targets_finished_idx`);
    await q.query(
      `CREATE INDEX CONCURRENTLY task_targets_finished_idx ON task_targets (provider, status, finished_at DESC)
        WHERE finished_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS task_targets_finished_idx`);
  }
}
