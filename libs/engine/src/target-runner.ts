import { Injectable, Optional } from '@nestjs/common';
import { keysOfIdentifiers, matchKeys, parseAccountIdentifier, TargetOutcome } from '@app/domain';
import {
  DirectoryAdapter,
  DirectoryError,
  DirectoryErrorCodes,
  DirectoryRegistry,
  ResolvedAccount,
  transientError,
} from '@app/directories';
import { AppLogger } from '@app/logging';
import { AppMetrics } from '@app/metrics';
import {
  AttemptStoppedError,
  ClaimedTarget,
  ClaimLostError,
  TargetResult,
  TaskStore,
} from '@app/persistence';
import { DEFAULT_MAX_ATTEMPTS, TargetJobData, TargetJobHandler, TargetVerdict } from '@app/queue';
import { FencedAttempt } from './fenced-attempt';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Waiting out a directory's rate limit is not the directory failing; allow many more of those. */
const RATE_LIMIT_ATTEMPT_FACTOR = 4;
/** An object lease outlives the attempt's time-out, so only a dead worker's lease ever expires. */
const LEASE_MARGIN_MS = 15_000;
/** How soon a target waiting for its object looks again (another target's write takes milliseconds). */
const OBJECT_WAIT_MS = 100;
/** How soon an Entra target waiting for its task's AD target to resolve looks again (AD may be retrying). */
const AD_WAIT_MS = 2_000;

/** The target must wait: give the claim back and run the job again in about waitMs (with jitter). */
class MustWait extends Error {
  constructor(
    readonly reason: string,
    readonly waitMs: number,
  ) {
    super(reason);
  }
}

/**
 * Runs one (task, provider) target: resolve the account in that directory, take the object's lease, change
 * it, record the outcome and roll the task up. Every run starts by claiming the target in PostgreSQL with a
 * new generation, and every later write of the run is fenced by it, so a job that runs twice (after a Redis
 * restart, a worker killed mid-call or a time-out) never writes on behalf of an attempt that lost its claim.
 */
@Injectable()
export class TargetRunner implements TargetJobHandler {
  constructor(
    private readonly store: TaskStore,
    private readonly registry: DirectoryRegistry,
    private readonly logger: AppLogger,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  async handle({ taskId, provider }: TargetJobData): Promise<TargetVerdict> {
    const kind = this.registry.has(provider) ? this.registry.config(provider).kind : 'notConfigured';
    const measured = this.metrics?.targetAttempt(provider, kind);
    const claimed = await this.store.claimTarget(taskId, provider);
    if (!claimed) return { kind: 'done' };
    if (!this.registry.has(provider)) {
      await this.store.finishTarget(taskId, provider, claimed.fence, notConfigured(provider), claimed.shape);
      measured?.end('failed');
      return { kind: 'done' };
    }
    const config = this.registry.config(provider);
    const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const attempt = new FencedAttempt(
      this.store,
      claimed.fence,
      timeoutMs + LEASE_MARGIN_MS,
      claimed.target.priorState,
      claimed.task.action === 'enableAccount',
    );
    try {
      const result = await withTimeout(timeoutMs, attempt, () =>
        this.act(this.registry.get(provider), claimed, attempt),
      );
      await this.store.finishTarget(
        taskId,
        provider,
        claimed.fence,
        { ...result, warnings: attempt.warnings },
        claimed.shape,
      );
      measured?.end(result.status, result.outcome);
      return { kind: 'done' };
    } catch (e) {
      if (e instanceof MustWait) {
        await this.store.releaseClaim(claimed.fence);
        measured?.end('waited');
        return { kind: 'wait', waitMs: e.waitMs + Math.floor(Math.random() * e.waitMs), reason: e.reason };
      }
      if (e instanceof AttemptStoppedError) {
        await this.store.finishTarget(
          taskId,
          provider,
          claimed.fence,
          { status: 'skipped', outcome: e.reason },
          claimed.shape,
        );
        measured?.end('skipped', e.reason);
        return { kind: 'done' };
      }
      if (e instanceof ClaimLostError) {
        this.logger.info('attempt lost its claim; a newer attempt owns the target', { taskId, provider });
        measured?.end('claimLost');
        return { kind: 'done' };
      }
      const verdict = await this.onFailure(
        claimed,
        attempt,
        asDirectoryError(e),
        config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      );
      measured?.end(ATTEMPT_RESULT_OF_VERDICT[verdict.kind]);
      return verdict;
    }
  }

  private async act(
    adapter: DirectoryAdapter,
    claimed: ClaimedTarget,
    attempt: FencedAttempt,
  ): Promise<TargetResult> {
    const { task, target, fence } = claimed;
    const disabling = task.action === 'disableAccount';
    // An Enable acts on the very object its Disable changed, found again by its stable reference.
    const ref = disabling ? task.account : target.objectRef;
    if (!ref) {
      return failed(
        'missingObjectReference',
        'The Disable task recorded no reference to the object it changed.',
      );
    }
    // Protection is a Disable's question only: an Enable never takes an account away from anyone.
    const account = await adapter.resolve(parseAccountIdentifier(ref), { checkProtection: disabling });
    attempt.signal.throwIfAborted();
    if (!account) {
      return disabling
        ? { status: 'skipped', outcome: 'notFound' }
        : failed(
            'accountNotFound',
            `The account the Disable task changed (${target.objectId ?? ref}) is no longer in this directory.`,
          );
    }
    const found = { objectId: account.objectId, objectRef: account.objectRef };
    const resolution = {
      taskId: task.id,
      provider: target.provider,
      ...found,
      identifierKeys: keysOfIdentifiers(account.identifiers),
    };
    if (disabling && account.protectedReason) {
      await this.store.recordResolution(fence, resolution);
      return {
        ...failed('protectedAccount', `Never disabled: ${account.protectedReason}. Nothing was changed.`),
        ...found,
      };
    }

    // One statement for both: recording the resolution is what proves the claim the lease is taken for.
    const lock = await this.store.recordResolution(fence, resolution, {
      leaseMs: attempt.leaseMs,
      action: task.action,
      taskId: task.id,
      taskSeq: task.seq,
    });
    if (lock === 'busy') throw new MustWait(`another task is acting on ${account.objectId}`, OBJECT_WAIT_MS);

    if (disabling && account.syncedFromOnPremises)
      return this.disableSynced(adapter, claimed, attempt, account);

    let outcome: TargetOutcome;
    if (disabling) {
      const done = await adapter.disable(account, attempt);
      // "Already disabled" after this target recorded "enabled" means an earlier attempt's write got through
      // before it died or timed out: the account was enabled before the incident.
      const prior = done === 'alreadyDisabled' ? await attempt.observe('disabled') : attempt.prior;
      outcome = done === 'alreadyDisabled' && prior === 'enabled' ? 'disabled' : done;
    } else {
      const done = await adapter.enable(account, attempt);
      const prior = done === 'alreadyEnabled' ? await attempt.observe('enabled') : attempt.prior;
      outcome = done === 'alreadyEnabled' && prior === 'disabled' ? 'enabled' : done;
    }
    return { status: 'succeeded', outcome, ...found };
  }

  /**
   * CONTRACT §9, an Entra user synced from on-premises: its enabled flag is overwritten by the next sync, so
   * the change belongs to the AD provider that holds it. Its sessions are revoked in any case; the target is
   * `managedElsewhere` only when an AD target of this task resolved that very object, otherwise it fails and
   * names the domain to configure, so that a task never reads successful while the account stays usable.
   */
  private async disableSynced(
    adapter: DirectoryAdapter,
    { task, target }: ClaimedTarget,
    attempt: FencedAttempt,
    account: ResolvedAccount,
  ): Promise<TargetResult> {
    const synced = account.syncedFromOnPremises as { sid: string | null; domain: string | null };
    const found = { objectId: account.objectId, objectRef: account.objectRef };
    const ownership = synced.sid
      ? await this.store.activeDirectoryOwnership(task.id, matchKeys(parseAccountIdentifier(synced.sid))[0])
      : 'absent';
    if (ownership === 'pending')
      throw new MustWait('waiting for the Active Directory target to resolve', AD_WAIT_MS);
    if (!adapter.revokeSessions) throw new Error(`provider ${target.provider} cannot revoke sessions`);
    await adapter.revokeSessions(account, attempt);
    if (ownership === 'resolved')
      return { status: 'skipped', outcome: 'managedElsewhere', ...found, notAChange: true };
    const domain = synced.domain ?? 'its on-premises domain';
    return {
      status: 'failed',
      outcome: null,
      ...found,
      notAChange: true,
      error: {
        code: 'onPremisesManaged',
        message:
          `The user is synced from on-premises Active Directory (${domain}); its sign-in sessions were revoked, ` +
          `but it stays enabled until it is disabled there. Configure an activeDirectory provider for ${domain}.`,
      },
    };
  }

  private async onFailure(
    claimed: ClaimedTarget,
    attempt: FencedAttempt,
    err: DirectoryError,
    maxAttempts: number,
  ): Promise<TargetVerdict> {
    const { task, target, fence, shape } = claimed;
    const attempts = target.attempts;
    const error = { code: err.code, message: err.message };
    const log = { taskId: task.id, provider: target.provider, attempts, error };
    this.metrics?.directoryError(target.provider, err.code);
    const rateLimited = err.transient && err.retryAfterMs !== undefined;
    const cap = rateLimited ? maxAttempts * RATE_LIMIT_ATTEMPT_FACTOR : maxAttempts;
    if (!err.transient || attempts >= cap) {
      this.logger.warn('target failed', log);
      await this.store.finishTarget(
        task.id,
        target.provider,
        fence,
        { status: 'failed', outcome: null, error, warnings: attempt.warnings },
        shape,
      );
      return { kind: 'done' };
    }
    this.logger.info('target will be retried', log);
    await this.store.recordRetry(fence, error, err.retryAfterMs ?? null);
    return rateLimited
      ? { kind: 'rateLimited', waitMs: err.retryAfterMs as number, message: err.message }
      : { kind: 'retry', message: err.message };
  }
}

/** How a failed attempt counts in are_target_attempts_total: final, retried later, or waiting out a limit. */
const ATTEMPT_RESULT_OF_VERDICT = {
  done: 'failed',
  retry: 'retried',
  rateLimited: 'rateLimited',
  wait: 'waited',
} as const;

function failed(code: string, message: string): TargetResult {
  return { status: 'failed', outcome: null, error: { code, message } };
}

function notConfigured(provider: string): TargetResult {
  return failed('providerNotConfigured', `Provider ${provider} is no longer configured.`);
}

/** Anything an adapter did not classify is retried: a bug or an unknown condition must not pass as final. */
function asDirectoryError(e: unknown): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return transientError('internalError', message);
}

/**
 * Races the attempt against its time-out. On time-out the attempt is aborted, so the adapter call that is still
 * running cannot pass its next `beforeWrite`: it may finish a request already on the wire, never start a write.
 */
async function withTimeout<T>(ms: number, attempt: FencedAttempt, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = transientError(
        DirectoryErrorCodes.timeout,
        `The directory did not answer within ${ms} ms.`,
      );
      attempt.abort(err);
      reject(err);
    }, ms);
  });
  const work = fn();
  // The losing promise of the race must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
