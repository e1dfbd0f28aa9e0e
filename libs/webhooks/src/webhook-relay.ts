import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AppLogger } from '@app/logging';
import { AppMetrics } from '@app/metrics';
import { redactUrl } from './redact-url';
import { AttemptResult, judgeAttempt } from './retry-policy';
import { SafeHttpClient } from './safe-http-client';
import { SecretBox, SecretUnavailableError } from './secret-box';
import { signedHeaders, webhookId } from './signer';
import { ClaimedDelivery, WebhookStore } from './webhook.store';

const FAN_OUT_BATCH = 200;
/** A lease outlives the attempt's own deadline by this much, so only a dead worker's lease ever runs out. */
const LEASE_MARGIN_MS = 30_000;
const PASS_WARNING_INTERVAL_MS = 30_000;

/**
 * Runs in the worker process. Each pass turns new task events into deliveries (fanOut), then claims the
 * deliveries that are due and sends them, up to WEBHOOK_CONCURRENCY in flight. Everything it knows is in
 * PostgreSQL, so any number of workers run it side by side and a worker that stops loses nothing: a claimed
 * delivery whose worker died is due again when its lease ends.
 */
@Injectable()
export class WebhookRelay {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly logger: AppLogger;
  private warnedUnsignedCallbacks = false;
  private lastPassWarning = 0;

  constructor(
    private readonly store: WebhookStore,
    private readonly client: SafeHttpClient,
    private readonly secrets: SecretBox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    logger: AppLogger,
    @Optional() private readonly metrics?: AppMetrics,
  ) {
    this.logger = logger.child('webhooks');
  }

  start(): void {
    this.stopped = false;
    this.kick();
    this.timer = setInterval(() => this.kick(), this.config.webhooks.pollIntervalMs);
  }

  /** Waits for the attempts in flight, so each records its result before the database pool closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }

  /** One pass now, or right after the one running. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async pass(): Promise<void> {
    try {
      const signed = this.config.webhooks.callbackSecrets.length > 0;
      while (!this.stopped && (await this.store.fanOut(FAN_OUT_BATCH, signed)) === FAN_OUT_BATCH);
      const free = this.config.webhooks.concurrency - this.inFlight.size;
      if (this.stopped || free <= 0) return;
      const claims = await this.store.claimDue(free, this.config.webhooks.timeoutMs + LEASE_MARGIN_MS);
      for (const claim of claims) {
        const p = this.deliver(claim).finally(() => {
          this.inFlight.delete(p);
          this.kick();
        });
        this.inFlight.add(p);
      }
    } catch (e) {
      // Every poll fails while PostgreSQL is away: one line per half-minute says so without flooding the log.
      if (Date.now() - this.lastPassWarning > PASS_WARNING_INTERVAL_MS) {
        this.lastPassWarning = Date.now();
        this.logger.warn('webhook relay pass failed; will try again', { error: (e as Error).message });
      }
    }
  }

  private async deliver(claim: ClaimedDelivery): Promise<void> {
    const url = redactUrl(claim.url);
    try {
      const secrets = this.signingSecrets(claim);
      const started = Date.now();
      let result: AttemptResult & { durationMs?: number };
      if (secrets instanceof SecretUnavailableError) {
        result = { kind: 'notSent', code: 'signingKeyUnavailable', message: secrets.message };
      } else {
        result = await this.client.post({
          url: claim.url,
          body: claim.payload,
          headers: { ...signedHeaders(secrets, webhookId(claim.messageId), claim.payload) },
          timeoutMs: this.config.webhooks.timeoutMs,
        });
      }
      const verdict = judgeAttempt(
        result,
        claim.attemptInRound,
        this.config.webhooks.retryScheduleMs,
        new Date(),
      );
      const owned = await this.store.recordAttempt(claim, {
        ...verdict,
        durationMs: result.durationMs ?? Date.now() - started,
      });
      const fields = {
        deliveryId: claim.id,
        taskId: claim.taskId,
        event: claim.eventType,
        url,
        attempt: claim.attempt,
        statusCode: verdict.statusCode,
        error: verdict.error?.code,
        nextAttemptAt: verdict.nextAttemptAt?.toISOString(),
      };
      this.metrics?.webhookDelivery(verdict.status);
      if (verdict.status === 'succeeded') this.logger.debug('webhook delivered', fields);
      else if (verdict.status === 'retry') this.logger.info('webhook attempt failed; will retry', fields);
      else this.logger.warn('webhook delivery failed', { ...fields, detail: verdict.error?.message });
      if (verdict.disableDestination && claim.subscriptionId) {
        this.logger.warn('webhook subscription disabled: its endpoint answered 410 Gone', {
          subscriptionId: claim.subscriptionId,
          url,
        });
      }
      if (!owned) this.logger.info('webhook delivery moved on during the attempt', { deliveryId: claim.id });
    } catch (e) {
      // The lease ends and the delivery is due again: at-least-once holds even when recording fails.
      this.logger.warn('webhook attempt could not be recorded', {
        deliveryId: claim.id,
        url,
        error: (e as Error).message,
      });
    }
  }

  private signingSecrets(claim: ClaimedDelivery): string[] | SecretUnavailableError {
    if (!claim.subscriptionId) {
      if (this.config.webhooks.callbackSecrets.length === 0) {
        if (!this.warnedUnsignedCallbacks) {
          this.warnedUnsignedCallbacks = true;
          this.logger.warn('a callback is due but WEBHOOK_CALLBACK_SECRET is not set in this worker');
        }
        return new SecretUnavailableError('WEBHOOK_CALLBACK_SECRET is not set in this worker');
      }
      return this.config.webhooks.callbackSecrets;
    }
    try {
      return claim.sealedSecrets.map((s) => this.secrets.open(s, claim.subscriptionId as string));
    } catch (e) {
      if (e instanceof SecretUnavailableError) return e;
      throw e;
    }
  }
}
