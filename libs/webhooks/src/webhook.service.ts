import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { badRequest, conflict, isStorableDate, notFound } from '@app/domain';
import { DestinationPolicy } from './destination-policy';
import { redactUrl } from './redact-url';
import { SecretBox } from './secret-box';
import { generateSecret, isWhsecSecret, webhookId } from './signer';
import {
  AttemptRow,
  DELIVERY_STATUSES,
  DeliveryRow,
  DeliveryStatus,
  SubscriptionRow,
  WEBHOOK_EVENT_TYPES,
  WebhookEventType,
  WebhookStore,
} from './webhook.store';

/** How long the previous secret keeps signing after a rotation: a day to roll the new one out. */
export const SECRET_ROTATION_GRACE_MS = 24 * 3_600_000;
const MAX_URL_LENGTH = 2048;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SubscriptionView {
  id: string;
  url: string;
  events: WebhookEventType[];
  status: 'active' | 'disabled';
  disabledReason: string | null;
  disabledAt: string | null;
  createdBy: string;
  createdAt: string;
  secretRotatedAt: string | null;
  previousSecretExpiresAt: string | null;
}

export interface AttemptView {
  attempt: number;
  trigger: 'initial' | 'retry' | 'manual';
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  statusCode: number | null;
  error: { code: string; message: string } | null;
  nextAttemptAt: string | null;
}

export interface DeliveryView {
  id: string;
  webhookId: string;
  subscriptionId: string | null;
  destination: 'subscription' | 'callback';
  taskId: string;
  eventType: WebhookEventType;
  url: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  attempts: AttemptView[];
}

export interface DeliveryQuery {
  subscriptionId?: string;
  taskId?: string;
  status?: string;
  limit?: string;
  cursor?: string;
}

const iso = (d: Date | string | null): string | null => (d ? new Date(d).toISOString() : null);

/**
 * The admin side of CONTRACT §8 (the API process). Input arrives untyped and is checked here, as TaskService
 * checks tasks, so that a bad request is a 400 with a code and nothing is written.
 */
@Injectable()
export class WebhookService {
  readonly policy: DestinationPolicy;

  constructor(
    private readonly store: WebhookStore,
    private readonly secrets: SecretBox,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.policy = new DestinationPolicy(config.webhooks);
  }

  /** The secret is in this response and nowhere else, ever. */
  async create(
    body: Record<string, unknown>,
    createdBy: string,
  ): Promise<SubscriptionView & { secret: string }> {
    const url = this.checkUrl(body.url);
    const events = checkEvents(body.events);
    const secret = optionalSecret(body.secret) ?? generateSecret();
    const id = randomUUID();
    const row = await this.store.insertSubscription({
      id,
      url,
      events,
      sealedSecret: this.secrets.seal(secret, id),
      createdBy,
    });
    return { ...subscriptionView(row), secret };
  }

  async list(): Promise<{ items: SubscriptionView[] }> {
    return { items: (await this.store.listSubscriptions()).map(subscriptionView) };
  }

  async get(id: string): Promise<SubscriptionView> {
    const row = UUID.test(id) ? await this.store.findSubscription(id) : null;
    if (!row) throw subscriptionNotFound(id);
    return subscriptionView(row);
  }

  async delete(id: string): Promise<void> {
    if (!UUID.test(id) || !(await this.store.deleteSubscription(id))) throw subscriptionNotFound(id);
  }

  async rotate(id: string, body: Record<string, unknown>): Promise<SubscriptionView & { secret: string }> {
    if (!UUID.test(id)) throw subscriptionNotFound(id);
    const secret = optionalSecret(body.secret) ?? generateSecret();
    const row = await this.store.rotateSecret(id, this.secrets.seal(secret, id), SECRET_ROTATION_GRACE_MS);
    if (!row) throw subscriptionNotFound(id);
    return { ...subscriptionView(row), secret };
  }

  async deliveries(q: DeliveryQuery): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200)
      throw badRequest('invalidQuery', 'limit must be an integer from 1 to 200');
    for (const [name, v] of [
      ['subscriptionId', q.subscriptionId],
      ['taskId', q.taskId],
    ] as const) {
      if (v !== undefined && !UUID.test(v)) throw badRequest('invalidQuery', `${name} must be a UUID`);
    }
    if (q.status !== undefined && !DELIVERY_STATUSES.includes(q.status as DeliveryStatus))
      throw badRequest('invalidQuery', `status must be one of ${DELIVERY_STATUSES.join(', ')}`);
    const rows = await this.store.listDeliveries({
      subscriptionId: q.subscriptionId,
      taskId: q.taskId,
      status: q.status as DeliveryStatus | undefined,
      limit: limit + 1,
      cursor: q.cursor ? decodeCursor(q.cursor) : undefined,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(deliveryView),
      nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    };
  }

  async redeliver(id: string): Promise<DeliveryView> {
    if (!UUID.test(id)) throw deliveryNotFound(id);
    const outcome = await this.store.redeliver(id);
    switch (outcome.kind) {
      case 'notFound':
        throw deliveryNotFound(id);
      case 'pending':
        throw conflict(
          'deliveryPending',
          `The delivery is still being retried; its next attempt is at ${iso(outcome.nextAttemptAt)}.`,
        );
      case 'subscriptionGone':
        throw conflict(
          outcome.reason === 'deleted' ? 'subscriptionDeleted' : 'subscriptionDisabled',
          `The delivery's subscription is ${outcome.reason}; create a subscription again to receive events.`,
        );
    }
    return deliveryView((await this.store.findDelivery(id)) as DeliveryRow & { attemptLog: AttemptRow[] });
  }

  private checkUrl(v: unknown): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_URL_LENGTH)
      throw badRequest('invalidUrl', `url must be a string of 1-${MAX_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw badRequest('invalidUrl', 'url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw badRequest('invalidUrl', 'url must use http or https');
    // The fragment never leaves the client side of a URL; dropping it keeps the stored URL what is sent.
    url.hash = '';
    const refusal = this.policy.urlRefusal(url);
    if (refusal) {
      throw badRequest(
        'destinationNotAllowed',
        `url is not an allowed destination (${refusal}); an operator may allow it with WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWED_HOSTS`,
      );
    }
    return url.toString();
  }
}

function checkEvents(v: unknown): WebhookEventType[] {
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    v.some((e) => typeof e !== 'string' || !WEBHOOK_EVENT_TYPES.includes(e as WebhookEventType))
  ) {
    throw badRequest(
      'invalidEvents',
      `events must be a non-empty list from: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
    );
  }
  return [...new Set(v as WebhookEventType[])];
}

function optionalSecret(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !isWhsecSecret(v))
    throw badRequest(
      'invalidSecret',
      'secret must be whsec_ followed by the base64 of 24 to 64 random bytes',
    );
  return v;
}

export function subscriptionView(r: SubscriptionRow): SubscriptionView {
  const graceLeft = r.previous_secret_expires_at && new Date(r.previous_secret_expires_at) > new Date();
  return {
    id: r.id,
    url: redactUrl(r.url),
    events: r.events,
    status: r.disabled_at ? 'disabled' : 'active',
    disabledReason: r.disabled_reason,
    disabledAt: iso(r.disabled_at),
    createdBy: r.created_by,
    createdAt: iso(r.created_at) as string,
    secretRotatedAt: iso(r.secret_rotated_at),
    previousSecretExpiresAt: graceLeft ? iso(r.previous_secret_expires_at) : null,
  };
}

export function deliveryView(d: DeliveryRow & { attemptLog: AttemptRow[] }): DeliveryView {
  return {
    id: d.id,
    webhookId: webhookId(d.message_id),
    subscriptionId: d.subscription_id,
    destination: d.subscription_id ? 'subscription' : 'callback',
    taskId: d.task_id,
    eventType: d.event_type,
    url: redactUrl(d.url),
    status: d.status,
    attemptCount: d.attempts,
    nextAttemptAt: iso(d.next_attempt_at),
    lastStatusCode: d.last_status_code,
    lastError: d.last_error_code ? { code: d.last_error_code, message: d.last_error_message ?? '' } : null,
    createdAt: iso(d.created_at) as string,
    updatedAt: iso(d.updated_at) as string,
    completedAt: iso(d.completed_at),
    attempts: d.attemptLog.map((a) => ({
      attempt: a.attempt,
      trigger: a.trigger,
      startedAt: iso(a.started_at) as string,
      finishedAt: iso(a.finished_at),
      durationMs: a.duration_ms,
      statusCode: a.status_code,
      error: a.error_code ? { code: a.error_code, message: a.error_message ?? '' } : null,
      nextAttemptAt: iso(a.next_attempt_at),
    })),
  };
}

const subscriptionNotFound = (id: string) => notFound('webhookNotFound', `No webhook subscription ${id}.`);
const deliveryNotFound = (id: string) => notFound('deliveryNotFound', `No webhook delivery ${id}.`);

function encodeCursor(d: DeliveryRow): string {
  return Buffer.from(`${new Date(d.created_at).toISOString()}|${d.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at);
  // A forged cursor may hold a date PostgreSQL cannot compare with.
  if (!id || !UUID.test(id) || !isStorableDate(createdAt))
    throw badRequest('invalidCursor', 'cursor is not valid');
  return { createdAt, id };
}
