import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CONTRACT §8, webhooks.
 * - webhook_outbox: a trigger adds every new task_events row here, in the transaction that wrote the event,
 *   so a committed event always has its row and a rolled-back one never does. Relays claim rows with
 *   `FOR UPDATE SKIP LOCKED` and delete them in the transaction that creates the deliveries: several workers
 *   never fan one event out twice, and a worker that dies mid-way leaves the rows for the next. (A cursor over
 *   task_events.id would skip events whose transaction commits after a later id's: bigserial values are taken
 *   at insert, not at commit.)
 * - webhook_messages: one per event that has at least one destination; `payload` is the exact body that is
 *   signed and sent, kept as text so that every retry sends the same bytes.
 * - webhook_deliveries: one per (message, destination); a NULL subscription_id is the task's callbackUrl.
 *   `claim_generation` fences a delivery's attempts as task_targets' fences theirs; `next_attempt_at` doubles
 *   as the lease of an attempt in flight, so a delivery whose worker died is due again when the lease ends.
 * - webhook_attempts: every attempt, with its result and when the next one was planned.
 */
export class Webhooks1764300000000 implements MigrationInterface {
  name = 'Webhooks1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_subscriptions (
        id uuid PRIMARY KEY,
        url text NOT NULL CHECK (url ~ '^https?://'),
        events text[] NOT NULL CHECK (
          cardinality(events) > 0
          AND events <@ ARRAY['task.created', 'task.targetUpdated', 'task.completed']::text[]),
        -- Sealed (see SecretBox): never the bare secret when WEBHOOK_ENCRYPTION_KEY is set.
        secret text NOT NULL,
        previous_secret text,
        previous_secret_expires_at timestamptz,
        secret_rotated_at timestamptz,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
        disabled_at timestamptz,
        disabled_reason text,
        deleted_at timestamptz,
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
      )`);
    await q.query(`CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (created_at)
      WHERE deleted_at IS NULL AND disabled_at IS NULL`);

    await q.query(`CREATE TABLE webhook_outbox (event_id bigint PRIMARY KEY REFERENCES task_events(id))`);
    await q.query(`
      CREATE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
      BEGIN
        INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
        RETURN NULL;
      END $$ LANGUAGE plpgsql`);
    await q.query(`
      CREATE TRIGGER task_events_webhook_outbox AFTER INSERT ON task_events
      FOR EACH ROW EXECUTE FUNCTION webhook_outbox_enqueue()`);

    await q.query(`
      CREATE TABLE webhook_messages (
        id uuid PRIMARY KEY,
        event_id bigint NOT NULL UNIQUE REFERENCES task_events(id),
        task_id uuid NOT NULL REFERENCES tasks(id),
        type text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        message_id uuid NOT NULL REFERENCES webhook_messages(id),
        subscription_id uuid REFERENCES webhook_subscriptions(id),
        task_id uuid NOT NULL REFERENCES tasks(id),
        event_type text NOT NULL,
        url text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        round_attempts integer NOT NULL DEFAULT 0,
        redeliveries integer NOT NULL DEFAULT 0,
        claim_generation integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_status_code integer,
        last_error_code text,
        last_error_message text,
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
        updated_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        UNIQUE NULLS NOT DISTINCT (message_id, subscription_id),
        CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
      WHERE status = 'pending'`);
    await q.query(
      `CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC, id DESC)`,
    );
    await q.query(`CREATE INDEX webhook_deliveries_subscription_idx
      ON webhook_deliveries (subscription_id, created_at DESC, id DESC)`);
    await q.query(
      `CREATE INDEX webhook_deliveries_task_idx ON webhook_deliveries (task_id, created_at DESC, id DESC)`,
    );

    await q.query(`
      CREATE TABLE webhook_attempts (
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id),
        attempt integer NOT NULL,
        trigger text NOT NULL CHECK (trigger IN ('initial', 'retry', 'manual')),
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        duration_ms integer,
        status_code integer,
        error_code text,
        error_message text,
        next_attempt_at timestamptz,
        PRIMARY KEY (delivery_id, attempt)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_attempts`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_messages`);
    await q.query(`DROP TRIGGER task_events_webhook_outbox ON task_events`);
    await q.query(`DROP FUNCTION webhook_outbox_enqueue`);
    await q.query(`DROP TABLE webhook_outbox`);
    await q.query(`DROP TABLE webhook_subscriptions`);
  }
}
