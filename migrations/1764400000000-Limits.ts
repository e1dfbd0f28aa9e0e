import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The blast-radius limit of an API key (issue #9): at most `disable_limit` Disable tasks per
 * `disable_window_seconds`, so that a runaway playbook cannot disable the whole company. NULL: no limit.
 * The index serves the count, made under the task-creation lock.
 */
export class Limits1764400000000 implements MigrationInterface {
  name = 'Limits1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE api_keys
        ADD COLUMN disable_limit integer CHECK (disable_limit > 0),
        ADD COLUMN disable_window_seconds integer CHECK (disable_window_seconds > 0),
        ADD CHECK ((disable_limit IS NULL) = (disable_window_seconds IS NULL))`);
    await q.query(`CREATE INDEX tasks_created_by_idx ON tasks (created_by, action, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX tasks_created_by_idx`);
    await q.query(`ALTER TABLE api_keys DROP COLUMN disable_window_seconds, DROP COLUMN disable_limit`);
  }
}
