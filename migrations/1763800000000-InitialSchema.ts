import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole state of the engine. Rules that must hold even when two processes race live here, in the
 * database, rather than only in code:
 * - at most one Enable task in progress per Disable task (partial unique index);
 * - a task's status never changes once it has left inProgress (trigger);
 * - the event record is append-only (trigger).
 */
export class InitialSchema1763800000000 implements MigrationInterface {
  name = 'InitialSchema1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
        key_prefix text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);

    await q.query(`
      CREATE TABLE tasks (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        action text NOT NULL CHECK (action IN ('disableAccount', 'enableAccount')),
        status text NOT NULL CHECK (status IN ('inProgress', 'successful', 'partiallySuccessful', 'unsuccessful')),
        account text NOT NULL,
        description text,
        requested_providers text[],
        disable_task_id uuid REFERENCES tasks(id),
        created_by text NOT NULL,
        callback_url text,
        error_code text,
        error_message text,
        -- Millisecond precision, so that a list cursor (a JavaScript date) compares exactly.
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
        updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
        completed_at timestamptz,
        CHECK ((action = 'enableAccount') = (disable_task_id IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX tasks_created_idx ON tasks (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX tasks_disable_task_idx ON tasks (disable_task_id)`);
    await q.query(`
      CREATE UNIQUE INDEX tasks_one_enable_in_progress ON tasks (disable_task_id)
      WHERE action = 'enableAccount' AND status = 'inProgress'`);
    await q.query(`
      CREATE FUNCTION tasks_final_status_is_final() RETURNS trigger AS $$
      BEGIN
        IF OLD.status <> 'inProgress' AND NEW.status IS DISTINCT FROM OLD.status THEN
          RAISE EXCEPTION 'task % already ended as %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await q.query(`
      CREATE TRIGGER tasks_final_status_is_final BEFORE UPDATE ON tasks
      FOR EACH ROW EXECUTE FUNCTION tasks_final_status_is_final()`);

    await q.query(`
      CREATE TABLE task_targets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        provider text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('activeDirectory', 'openLdap', 'entraId', 'okta')),
        status text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
        outcome text,
        object_id text,
        object_ref text,
        prior_state text CHECK (prior_state IN ('enabled', 'disabled')),
        attempts integer NOT NULL DEFAULT 0,
        error_code text,
        error_message text,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (task_id, provider)
      )`);
    await q.query(`
      CREATE INDEX task_targets_unfinished_idx ON task_targets (updated_at)
      WHERE status IN ('pending', 'running')`);

    await q.query(`
      CREATE TABLE account_identifiers (
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        key text NOT NULL,
        source text NOT NULL,
        PRIMARY KEY (task_id, key)
      )`);
    await q.query(`CREATE INDEX account_identifiers_key_idx ON account_identifiers (key)`);

    await q.query(`
      CREATE TABLE task_events (
        id bigserial PRIMARY KEY,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('task.created', 'task.targetUpdated', 'task.completed')),
        provider text,
        status text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        actor text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX task_events_task_idx ON task_events (task_id, id)`);
    await q.query(`
      CREATE FUNCTION task_events_append_only() RETURNS trigger AS $$
      BEGIN
        RAISE EXCEPTION 'task_events is append-only' USING ERRCODE = 'insufficient_privilege';
      END $$ LANGUAGE plpgsql`);
    await q.query(`
      CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE ON task_events
      FOR EACH ROW EXECUTE FUNCTION task_events_append_only()`);

    await q.query(`
      CREATE TABLE idempotency_keys (
        api_key_name text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        state text NOT NULL CHECK (state IN ('inProgress', 'completed')),
        response_status integer,
        response_headers jsonb,
        response_body jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (api_key_name, key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TRIGGER task_events_append_only ON task_events`);
    await q.query(`DROP TABLE task_events`);
    await q.query(`DROP FUNCTION task_events_append_only`);
    await q.query(`DROP TABLE account_identifiers`);
    await q.query(`DROP TABLE task_targets`);
    await q.query(`DROP TRIGGER tasks_final_status_is_final ON tasks`);
    await q.query(`DROP TABLE tasks`);
    await q.query(`DROP FUNCTION tasks_final_status_is_final`);
    await q.query(`DROP TABLE api_keys`);
  }
}
