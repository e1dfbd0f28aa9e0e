import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, In } from 'typeorm';
import { toTaskView, TaskView } from '@app/engine';
import { TaskEntity, TaskTargetEntity } from '@app/persistence';

export const WEBHOOK_EVENT_TYPES = ['task.created', 'task.targetUpdated', 'task.completed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export type AttemptTrigger = 'initial' | 'retry' | 'manual';

export interface SubscriptionRow {
  id: string;
  url: string;
  events: WebhookEventType[];
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  secret_rotated_at: Date | null;
  created_by: string;
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: string | null;
}

export interface DeliveryRow {
  id: string;
  message_id: string;
  subscription_id: string | null;
  task_id: string;
  event_type: WebhookEventType;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export interface AttemptRow {
  delivery_id: string;
  attempt: number;
  trigger: AttemptTrigger;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  status_code: number | null;
  error_code: string | null;
  error_message: string | null;
  next_attempt_at: Date | null;
}

/** A delivery this worker now owns until `claimGeneration` changes or its lease ends. */
export interface ClaimedDelivery {
  id: string;
  claimGeneration: number;
  attempt: number;
  attemptInRound: number;
  url: string;
  subscriptionId: string | null;
  taskId: string;
  eventType: WebhookEventType;
  messageId: string;
  payload: string;
  /** Sealed secrets of the subscription that sign now: the current one, and the previous one in its grace. */
  sealedSecrets: string[];
}

export interface AttemptRecord {
  status: 'succeeded' | 'retry' | 'failed';
  statusCode: number | null;
  error: { code: string; message: string } | null;
  nextAttemptAt: Date | null;
  durationMs: number;
  /** A 410: the subscription is disabled, or a callback's later deliveries are given up. */
  disableDestination: boolean;
}

export interface DeliveryFilter {
  id?: string;
  subscriptionId?: string;
  taskId?: string;
  status?: DeliveryStatus;
  limit: number;
  cursor?: { createdAt: Date; id: string };
}

export type RedeliverOutcome =
  | { kind: 'ok' }
  | { kind: 'notFound' }
  | { kind: 'pending'; nextAttemptAt: Date }
  | { kind: 'subscriptionGone'; reason: 'deleted' | 'disabled' };

const ACTIVE = 'deleted_at IS NULL AND disabled_at IS NULL';
const SUBSCRIPTION_COLUMNS = `id, url, events, secret, previous_secret, previous_secret_expires_at, secret_rotated_at,
  created_by, created_at, disabled_at, disabled_reason`;

/**
 * Every webhook write, each in one transaction. The relay side (fanOut, claimDue, recordAttempt) is safe to
 * run in any number of workers at once: rows are claimed with SKIP LOCKED and each attempt is fenced.
 */
@Injectable()
export class WebhookStore {
  constructor(private readonly dataSource: DataSource) {}

  // ---- subscriptions ----

  async insertSubscription(s: {
    id: string;
    url: string;
    events: WebhookEventType[];
    sealedSecret: string;
    createdBy: string;
  }): Promise<SubscriptionRow> {
    const rows: SubscriptionRow[] = await this.dataSource.query(
      `INSERT INTO webhook_subscriptions (id, url, events, secret, created_by) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${SUBSCRIPTION_COLUMNS}`,
      [s.id, s.url, s.events, s.sealedSecret, s.createdBy],
    );
    return rows[0];
  }

  listSubscriptions(): Promise<SubscriptionRow[]> {
    return this.dataSource.query(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE deleted_at IS NULL
        ORDER BY created_at DESC, id DESC`,
    );
  }

  async findSubscription(id: string): Promise<SubscriptionRow | null> {
    const rows: SubscriptionRow[] = await this.dataSource.query(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND deleted_at IS NULL`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Soft: its deliveries stay listed under its id. Its pending deliveries end at once. */
  async deleteSubscription(id: string): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const rows = firstRows<{ id: string }>(
        await m.query(
          `UPDATE webhook_subscriptions SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id`,
          [id],
        ),
      );
      if (rows.length === 0) return false;
      await this.endPending(
        m,
        'subscription_id = $1',
        [id],
        'subscriptionDeleted',
        'The subscription was deleted.',
      );
      return true;
    });
  }

  /**
   * The current secret becomes the previous one, which keeps signing until the grace period ends. A second
   * rotation within the grace period drops the oldest: at most two secrets sign at a time.
   */
  async rotateSecret(id: string, sealedSecret: string, graceMs: number): Promise<SubscriptionRow | null> {
    const rows = firstRows<SubscriptionRow>(
      await this.dataSource.query(
        `UPDATE webhook_subscriptions
            SET previous_secret = secret, secret = $2, secret_rotated_at = now(),
                previous_secret_expires_at = now() + $3 * interval '1 millisecond'
          WHERE id = $1 AND deleted_at IS NULL
        RETURNING ${SUBSCRIPTION_COLUMNS}`,
        [id, sealedSecret, graceMs],
      ),
    );
    return rows[0] ?? null;
  }

  // ---- the relay ----

  /**
   * Turns up to `limit` new task events into messages and deliveries, in one transaction that also removes
   * them from the outbox: committed together or not at all. Returns how many events it consumed.
   */
  async fanOut(limit: number, callbacksSigned: boolean): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const events: Array<{
        id: string;
        task_id: string;
        type: WebhookEventType;
        created_at: Date;
        callback_url: string | null;
      }> = await m.query(
        // The outbox rows first, then one index lookup per row (OFFSET 0 keeps each LATERAL a lookup): joined
        // plainly, the planner merged the outbox with all of task_events, a scan per poll that grew with the
        // table (48 ms a poll after 24,000 events, the most expensive statement of a bulk).
        // A callbackUrl that answered 410 Gone gets nothing more about its task.
        `WITH picked AS (
           SELECT event_id FROM webhook_outbox ORDER BY event_id LIMIT $1 FOR UPDATE SKIP LOCKED)
         SELECT e.id, e.task_id, e.type, e.created_at,
                CASE WHEN NOT EXISTS (
                  SELECT 1 FROM webhook_deliveries g
                   WHERE g.task_id = t.id AND g.subscription_id IS NULL AND g.last_error_code = 'endpointGone')
                THEN t.callback_url END AS callback_url
           FROM picked o
           CROSS JOIN LATERAL (SELECT * FROM task_events x WHERE x.id = o.event_id OFFSET 0) e
           CROSS JOIN LATERAL (SELECT * FROM tasks y WHERE y.id = e.task_id OFFSET 0) t
          ORDER BY o.event_id`,
        [limit],
      );
      if (events.length === 0) return 0;
      // FOR SHARE: a DELETE or a 410 arriving now waits for this commit, so its sweep of pending deliveries
      // sees the ones created here.
      const subs: Array<{ id: string; url: string; events: string[]; created_at: Date }> = await m.query(
        `SELECT id, url, events, created_at FROM webhook_subscriptions WHERE ${ACTIVE} FOR SHARE`,
      );
      const plans = events
        .map((e) => ({
          e,
          destinations: [
            ...subs
              .filter((s) => s.events.includes(e.type) && new Date(s.created_at) <= new Date(e.created_at))
              .map((s) => ({ subscriptionId: s.id as string | null, url: s.url })),
            ...(e.callback_url ? [{ subscriptionId: null, url: e.callback_url }] : []),
          ],
        }))
        .filter((p) => p.destinations.length > 0);

      if (plans.length > 0) {
        const views = await this.taskViews(m, [...new Set(plans.map((p) => p.e.task_id))]);
        const msg = {
          id: [] as string[],
          event: [] as string[],
          task: [] as string[],
          type: [] as string[],
          payload: [] as string[],
        };
        const del = {
          message: [] as string[],
          sub: [] as Array<string | null>,
          task: [] as string[],
          type: [] as string[],
          url: [] as string[],
          unsigned: [] as boolean[],
        };
        for (const { e, destinations } of plans) {
          const id = randomUUID();
          msg.id.push(id);
          msg.event.push(e.id);
          msg.task.push(e.task_id);
          msg.type.push(e.type);
          // The task as it stands now, at least as new as the event: GET /api/v1/tasks/{id}'s JSON.
          msg.payload.push(
            JSON.stringify({
              type: e.type,
              timestamp: new Date(e.created_at).toISOString(),
              data: views.get(e.task_id),
            }),
          );
          for (const d of destinations) {
            del.message.push(id);
            del.sub.push(d.subscriptionId);
            del.task.push(e.task_id);
            del.type.push(e.type);
            del.url.push(d.url);
            del.unsigned.push(d.subscriptionId === null && !callbacksSigned);
          }
        }
        await m.query(
          `INSERT INTO webhook_messages (id, event_id, task_id, type, payload)
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[])`,
          [msg.id, msg.event, msg.task, msg.type, msg.payload],
        );
        // A callback with no WEBHOOK_CALLBACK_SECRET configured would go out unsigned: it is recorded as failed
        // instead, so the listing shows why, and can be redelivered once a secret is configured.
        await m.query(
          `INSERT INTO webhook_deliveries (message_id, subscription_id, task_id, event_type, url, status,
                                           next_attempt_at, last_error_code, last_error_message, completed_at)
           SELECT d.message_id, d.sub, d.task_id, d.type, d.url,
                  CASE WHEN d.unsigned THEN 'failed' ELSE 'pending' END,
                  CASE WHEN d.unsigned THEN NULL ELSE now() END,
                  CASE WHEN d.unsigned THEN 'callbackSecretNotConfigured' END,
                  CASE WHEN d.unsigned THEN 'No WEBHOOK_CALLBACK_SECRET is configured to sign callbacks.' END,
                  CASE WHEN d.unsigned THEN now() END
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::boolean[])
                  AS d(message_id, sub, task_id, type, url, unsigned)`,
          [del.message, del.sub, del.task, del.type, del.url, del.unsigned],
        );
      }
      await m.query(`DELETE FROM webhook_outbox WHERE event_id = ANY($1::bigint[])`, [
        events.map((e) => e.id),
      ]);
      return events.length;
    });
  }

  /**
   * Claims up to `limit` due deliveries: each gets a new claim generation, its attempt is counted and recorded
   * as started, and its next_attempt_at moves to the end of the lease, so a worker that dies mid-attempt only
   * delays it. An attempt left unfinished by such a worker is recorded as interrupted.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    return this.dataSource.transaction(async (m) => {
      const rows = firstRows<{
        id: string;
        claim_generation: number;
        attempts: number;
        round_attempts: number;
        redeliveries: number;
        url: string;
        subscription_id: string | null;
        task_id: string;
        event_type: WebhookEventType;
        message_id: string;
      }>(
        await m.query(
          `WITH due AS (
             SELECT d.id FROM webhook_deliveries d
              WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                AND (d.subscription_id IS NULL OR EXISTS (
                      SELECT 1 FROM webhook_subscriptions s
                       WHERE s.id = d.subscription_id AND s.deleted_at IS NULL AND s.disabled_at IS NULL))
              ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_deliveries d
              SET claim_generation = d.claim_generation + 1, attempts = d.attempts + 1,
                  round_attempts = d.round_attempts + 1, updated_at = now(),
                  next_attempt_at = now() + $2 * interval '1 millisecond'
             FROM due WHERE d.id = due.id
           RETURNING d.id, d.claim_generation, d.attempts, d.round_attempts, d.redeliveries, d.url,
                     d.subscription_id, d.task_id, d.event_type, d.message_id`,
          [limit, leaseMs],
        ),
      );
      if (rows.length === 0) return [];
      const ids = rows.map((r) => r.id);
      await m.query(
        `UPDATE webhook_attempts SET finished_at = now(), error_code = 'attemptInterrupted',
                error_message = 'The worker making this attempt stopped before it recorded a result.'
          WHERE delivery_id = ANY($1::uuid[]) AND finished_at IS NULL`,
        [ids],
      );
      const trigger = (r: (typeof rows)[number]): AttemptTrigger =>
        r.round_attempts > 1 ? 'retry' : r.redeliveries > 0 ? 'manual' : 'initial';
      await m.query(
        `INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at)
         SELECT d, a, t, now() FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(d, a, t)`,
        [ids, rows.map((r) => r.attempts), rows.map(trigger)],
      );
      const payloads = new Map<string, string>(
        (
          (await m.query(`SELECT id, payload FROM webhook_messages WHERE id = ANY($1::uuid[])`, [
            rows.map((r) => r.message_id),
          ])) as Array<{ id: string; payload: string }>
        ).map((p) => [p.id, p.payload]),
      );
      const subIds = rows.map((r) => r.subscription_id).filter((s): s is string => s !== null);
      const secrets = new Map<string, string[]>(
        (
          (await m.query(
            `SELECT id, secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous
               FROM webhook_subscriptions WHERE id = ANY($1::uuid[])`,
            [subIds],
          )) as Array<{ id: string; secret: string; previous: string | null }>
        ).map((s) => [s.id, s.previous ? [s.secret, s.previous] : [s.secret]]),
      );
      return rows.map((r) => ({
        id: r.id,
        claimGeneration: r.claim_generation,
        attempt: r.attempts,
        attemptInRound: r.round_attempts,
        url: r.url,
        subscriptionId: r.subscription_id,
        taskId: r.task_id,
        eventType: r.event_type,
        messageId: r.message_id,
        payload: payloads.get(r.message_id) as string,
        sealedSecrets: r.subscription_id ? (secrets.get(r.subscription_id) ?? []) : [],
      }));
    });
  }

  /**
   * The attempt's row always gets its result. The delivery's state changes only if this attempt still owns it
   * (a deletion, a 410 elsewhere or an expired lease may have moved it on).
   */
  async recordAttempt(claim: ClaimedDelivery, r: AttemptRecord): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      // What a 410 ends is locked first (the subscription's row, or the task's callback deliveries in id order):
      // two 410s recorded at once then queue there instead of each holding its own delivery while waiting for
      // the other's.
      if (r.disableDestination && claim.subscriptionId) {
        await m.query(
          `UPDATE webhook_subscriptions SET disabled_at = now(), disabled_reason = 'endpointGone'
            WHERE id = $1 AND disabled_at IS NULL`,
          [claim.subscriptionId],
        );
      } else if (r.disableDestination) {
        await m.query(
          `SELECT id FROM webhook_deliveries WHERE task_id = $1 AND subscription_id IS NULL ORDER BY id FOR UPDATE`,
          [claim.taskId],
        );
      }
      await m.query(
        `UPDATE webhook_attempts SET finished_at = now(), duration_ms = $3, status_code = $4, error_code = $5,
                error_message = $6, next_attempt_at = $7
          WHERE delivery_id = $1 AND attempt = $2`,
        [
          claim.id,
          claim.attempt,
          r.durationMs,
          r.statusCode,
          r.error?.code ?? null,
          r.error?.message ?? null,
          r.nextAttemptAt,
        ],
      );
      const status: DeliveryStatus = r.status === 'retry' ? 'pending' : r.status;
      const owned = firstRows(
        await m.query(
          `UPDATE webhook_deliveries
              SET status = $3, next_attempt_at = $4, last_status_code = $5, last_error_code = $6,
                  last_error_message = $7, updated_at = now(),
                  completed_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
            WHERE id = $1 AND claim_generation = $2 RETURNING id`,
          [
            claim.id,
            claim.claimGeneration,
            status,
            r.nextAttemptAt,
            r.statusCode,
            r.error?.code ?? null,
            r.error?.message ?? null,
          ],
        ),
      );
      if (r.disableDestination && claim.subscriptionId) {
        await this.endPending(
          m,
          'subscription_id = $1',
          [claim.subscriptionId],
          'subscriptionDisabled',
          'The subscription was disabled: its endpoint answered 410 Gone.',
        );
      } else if (r.disableDestination) {
        await this.endPending(
          m,
          'task_id = $1 AND subscription_id IS NULL',
          [claim.taskId],
          'endpointGone',
          'The callbackUrl answered 410 Gone to an earlier delivery.',
        );
      }
      return owned.length > 0;
    });
  }

  async listDeliveries(f: DeliveryFilter): Promise<Array<DeliveryRow & { attemptLog: AttemptRow[] }>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql.replace(/\$(\d)/g, (_, i) => `$${params.length + Number(i)}`));
      params.push(...values);
    };
    if (f.id) add('id = $1', f.id);
    if (f.subscriptionId) add('subscription_id = $1', f.subscriptionId);
    if (f.taskId) add('task_id = $1', f.taskId);
    if (f.status) add('status = $1', f.status);
    if (f.cursor) add('(created_at, id) < ($1, $2)', f.cursor.createdAt, f.cursor.id);
    params.push(f.limit);
    // One snapshot for both reads, so a delivery and its attempts never disagree (an attempt recorded between
    // the two would otherwise show finished under a delivery still waiting for its result).
    return this.dataSource.transaction('REPEATABLE READ', (m) => this.readDeliveries(m, where, params));
  }

  private async readDeliveries(
    m: EntityManager,
    where: string[],
    params: unknown[],
  ): Promise<Array<DeliveryRow & { attemptLog: AttemptRow[] }>> {
    const rows: DeliveryRow[] = await m.query(
      `SELECT id, message_id, subscription_id, task_id, event_type, url, status, attempts, next_attempt_at,
              last_status_code, last_error_code, last_error_message, created_at, updated_at, completed_at
         FROM webhook_deliveries ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    if (rows.length === 0) return [];
    const attempts: AttemptRow[] = await m.query(
      `SELECT delivery_id, attempt, trigger, started_at, finished_at, duration_ms, status_code, error_code,
              error_message, next_attempt_at
         FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[]) ORDER BY attempt`,
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => ({ ...r, attemptLog: attempts.filter((a) => a.delivery_id === r.id) }));
  }

  async findDelivery(id: string): Promise<(DeliveryRow & { attemptLog: AttemptRow[] }) | null> {
    return (await this.listDeliveries({ id, limit: 1 }))[0] ?? null;
  }

  /**
   * A delivery that ended (delivered or given up) starts a new round: due now, with the whole schedule again.
   * One still pending already has its next attempt planned.
   */
  async redeliver(id: string): Promise<RedeliverOutcome> {
    return this.dataSource.transaction(async (m) => {
      const rows: Array<{
        status: DeliveryStatus;
        next_attempt_at: Date | null;
        deleted_at: Date | null;
        disabled_at: Date | null;
      }> = await m.query(
        `SELECT d.status, d.next_attempt_at, s.deleted_at, s.disabled_at
             FROM webhook_deliveries d LEFT JOIN webhook_subscriptions s ON s.id = d.subscription_id
            WHERE d.id = $1 FOR UPDATE OF d`,
        [id],
      );
      const d = rows[0];
      if (!d) return { kind: 'notFound' };
      if (d.deleted_at) return { kind: 'subscriptionGone', reason: 'deleted' };
      if (d.disabled_at) return { kind: 'subscriptionGone', reason: 'disabled' };
      if (d.status === 'pending') return { kind: 'pending', nextAttemptAt: d.next_attempt_at as Date };
      await m.query(
        `UPDATE webhook_deliveries
            SET status = 'pending', round_attempts = 0, redeliveries = redeliveries + 1, next_attempt_at = now(),
                completed_at = NULL, updated_at = now()
          WHERE id = $1`,
        [id],
      );
      return { kind: 'ok' };
    });
  }

  /** Bumping the claim generation fences off an attempt in flight: its result cannot revive the delivery. */
  private async endPending(
    m: EntityManager,
    where: string,
    params: unknown[],
    code: string,
    message: string,
  ): Promise<void> {
    const n = params.length;
    await m.query(
      `UPDATE webhook_deliveries
          SET status = 'failed', next_attempt_at = NULL, claim_generation = claim_generation + 1,
              last_error_code = $${n + 1}, last_error_message = $${n + 2}, completed_at = now(), updated_at = now()
        WHERE status = 'pending' AND ${where}`,
      [...params, code, message],
    );
  }

  private async taskViews(m: EntityManager, ids: string[]): Promise<Map<string, TaskView>> {
    const tasks = await m.getRepository(TaskEntity).find({ where: { id: In(ids) } });
    const targets = await m
      .getRepository(TaskTargetEntity)
      .find({ where: { taskId: In(ids) }, order: { provider: 'ASC' } });
    const views = new Map<string, TaskView>();
    for (const t of tasks) {
      t.targets = targets.filter((x) => x.taskId === t.id);
      views.set(t.id, toTaskView(t));
    }
    return views;
  }
}

/** TypeORM returns [rows, count] for UPDATE … RETURNING on PostgreSQL, and rows for SELECT/INSERT. */
function firstRows<T>(rows: T[] | [T[], number]): T[] {
  if (Array.isArray(rows) && rows.length === 2 && Array.isArray(rows[0]) && typeof rows[1] === 'number') {
    return rows[0] as T[];
  }
  return rows as T[];
}
