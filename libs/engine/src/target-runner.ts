import { Injectable } from '@nestjs/common';
import { normaliseKey, parseAccountIdentifier, TargetOutcome } from '@app/domain';
import {
  DirectoryAdapter,
  DirectoryError,
  DirectoryErrorCodes,
  DirectoryRegistry,
  ResolvedAccount,
  transientError,
} from '@app/directories';
import { AppLogger } from '@app/logging';
import { ClaimedTarget, TargetResult, TaskStore } from '@app/persistence';
import { DEFAULT_MAX_ATTEMPTS, TargetJobData, TargetJobHandler, TargetVerdict } from '@app/queue';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Waiting out a directory's rate limit is not the directory failing; allow many more of those. */
const RATE_LIMIT_ATTEMPT_FACTOR = 4;

/**
 * Runs one (task, provider) target: resolve the account in that directory, change it, record the outcome
 * and roll the task up. Every run starts by claiming the target in PostgreSQL, so a job that runs twice
 * (after a Redis restart or a worker killed mid-call) does no harm.
 */
@Injectable()
export class TargetRunner implements TargetJobHandler {
  constructor(
    private readonly store: TaskStore,
    private readonly registry: DirectoryRegistry,
    private readonly logger: AppLogger,
  ) {}

  async handle({ taskId, provider }: TargetJobData): Promise<TargetVerdict> {
    const claimed = await this.store.claimTarget(taskId, provider);
    if (!claimed) return { kind: 'done' };
    if (!this.registry.has(provider)) {
      await this.store.finishTarget(taskId, provider, {
        status: 'failed',
        outcome: null,
        error: { code: 'providerNotConfigured', message: `Provider ${provider} is no longer configured.` },
      });
      return { kind: 'done' };
    }
    const config = this.registry.config(provider);
    try {
      const result = await withTimeout(config.timeoutMs ?? DEFAULT_TIMEOUT_MS, () =>
        this.act(this.registry.get(provider), claimed),
      );
      await this.store.finishTarget(taskId, provider, result);
      return { kind: 'done' };
    } catch (e) {
      return this.onFailure(claimed, asDirectoryError(e), config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    }
  }

  private async act(
    adapter: DirectoryAdapter,
    { task, target, disableTarget }: ClaimedTarget,
  ): Promise<TargetResult> {
    const disabling = task.action === 'disableAccount';
    // An Enable acts on the very object its Disable changed, found again by its stable reference.
    const ref = disabling ? task.account : (target.objectRef ?? disableTarget?.objectRef);
    if (!ref) {
      return failed(
        'missingObjectReference',
        'The Disable task recorded no reference to the object it changed.',
      );
    }
    const account = await adapter.resolve(parseAccountIdentifier(ref));
    if (!account) {
      return disabling
        ? { status: 'skipped', outcome: 'notFound' }
        : failed(
            'accountNotFound',
            `The account the Disable task changed (${target.objectId ?? ref}) is no longer in this directory.`,
          );
    }
    const found = {
      objectId: account.objectId,
      objectRef: account.objectRef,
      identifierKeys: account.identifiers.map(normaliseKey),
    };
    if (account.managedElsewhere) return { status: 'skipped', outcome: 'managedElsewhere', ...found };

    const priorState = target.priorState ?? stateOf(account);
    await this.store.recordResolution(target, { ...found, priorState });

    let outcome: TargetOutcome;
    if (disabling) {
      const done = await adapter.disable(account);
      // Seen enabled before this task first acted: "already disabled" now means an earlier attempt of ours
      // got through before the worker died; the account was enabled before the incident.
      outcome = done === 'alreadyDisabled' && priorState === 'enabled' ? 'disabled' : done;
    } else {
      const done = await adapter.enable(account);
      outcome = done === 'alreadyEnabled' && priorState === 'disabled' ? 'enabled' : done;
    }
    return { status: 'succeeded', outcome, ...found };
  }

  private async onFailure(
    claimed: ClaimedTarget,
    err: DirectoryError,
    maxAttempts: number,
  ): Promise<TargetVerdict> {
    const { task, target } = claimed;
    const attempts = target.attempts;
    const error = { code: err.code, message: err.message };
    const log = { taskId: task.id, provider: target.provider, attempts, error };
    const rateLimited = err.transient && err.retryAfterMs !== undefined;
    const cap = rateLimited ? maxAttempts * RATE_LIMIT_ATTEMPT_FACTOR : maxAttempts;
    if (!err.transient || attempts >= cap) {
      this.logger.warn('target failed', log);
      await this.store.finishTarget(task.id, target.provider, { status: 'failed', outcome: null, error });
      return { kind: 'done' };
    }
    this.logger.info('target will be retried', log);
    await this.store.recordRetry(target.id, error, err.retryAfterMs ?? null);
    return rateLimited
      ? { kind: 'rateLimited', waitMs: err.retryAfterMs as number, message: err.message }
      : { kind: 'retry', message: err.message };
  }
}

function failed(code: string, message: string): TargetResult {
  return { status: 'failed', outcome: null, error: { code, message } };
}

function stateOf(account: ResolvedAccount): 'enabled' | 'disabled' | null {
  return account.disabled === undefined ? null : account.disabled ? 'disabled' : 'enabled';
}

/** Anything an adapter did not classify is retried: a bug or an unknown condition must not pass as final. */
function asDirectoryError(e: unknown): DirectoryError {
  if (e instanceof DirectoryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return transientError('internalError', message);
}

async function withTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(transientError(DirectoryErrorCodes.timeout, `The directory did not answer within ${ms} ms.`)),
      ms,
    );
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
