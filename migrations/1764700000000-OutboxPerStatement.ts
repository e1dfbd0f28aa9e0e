import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue #10: the webhook outbox is fed once per statement, not once per event row. A finish of a batch of
 * targets writes a handful of events in one INSERT and a bulk's creation ten thousand; the row trigger ran
 * PL/pgSQL and an INSERT for each of them, and the foreign key to task_events then checked each outbox row by
 * locking its event row (a lock written to the WAL, for a row the same statement had just inserted). The
 * statement trigger reads the statement's new rows from a transition table and adds them with one INSERT, in
 * the same transaction as before, so the outbox still holds exactly the events that committed.
 *
 * The foreign key goes: only this trigger writes outbox rows, from rows it has just seen inserted, and
 * nothing deletes task events (the audit trail is append-only).
 */
export class OutboxPerStatement1764700000000 implements MigrationInterface {
  name = 'OutboxPerStatement1764700000000';

  async up(q: QueryRunner): Promise<void> {
    // Dropping the trigger locks task_events until this migration's transaction commits: an event written
    // meanwhile waits for the new trigger rather than slipping between the two.
    await q.query(`DROP TRIGGER task_events_webhook_outbox ON task_events`);
    await q.query(`ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_event_id_fkey`);
    await q.query(`
      CREATE OR REPLACE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
      BEGIN
        INSERT INTO webhook_outbox (event_id) SELECT id FROM new_events;
        RETURN NULL;
      END $$ LANGUAGE plpgsql`);
    await q.query(`
      CREATE TRIGGER task_events_webhook_outbox AFTER INSERT ON task_events
      REFERENCING NEW TABLE AS new_events
      FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_enqueue()`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Webhooks1764300000000's definition, written out again: a migration stays as it ran, whatever comes after.
    await q.query(`DROP TRIGGER task_events_webhook_outbox ON task_events`);
    await q.query(`
      CREATE OR REPLACE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
      BEGIN
        INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
        RETURN NULL;
      END $$ LANGUAGE plpgsql`);
    await q.query(`
      CREATE TRIGGER task_events_webhook_outbox AFTER INSERT ON task_events
      FOR EACH ROW EXECUTE FUNCTION webhook_outbox_enqueue()`);
    await q.query(`
      ALTER TABLE webhook_outbox ADD CONSTRAINT webhook_outbox_event_id_fkey
      FOREIGN KEY (event_id) REFERENCES task_events(id)`);
  }
}
