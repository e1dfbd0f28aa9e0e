import { AccountState } from '@app/domain';
import { AttemptGuard, DirectoryWarning } from '@app/directories';
import { Fence, TaskStore } from '@app/persistence';

/**
 * The AttemptGuard the engine hands to adapters: one attempt of one target. Every write first passes
 * `TaskStore.fenceWrite` (claim generation, object lease, stop requests), and nothing passes once the attempt
 * timed out, so an attempt that lost its claim or ran out of time never writes afterwards (CONTRACT §4.1).
 */
export class FencedAttempt implements AttemptGuard {
  readonly warnings: DirectoryWarning[] = [];
  private readonly controller = new AbortController();
  /** The state recorded before this target's first write, by this attempt or an earlier one. */
  private recordedPrior: AccountState | null;
  /** What the claim found recorded: anything there stands for an earlier attempt that may have written. */
  private readonly claimedPrior: AccountState | null;
  private fencedWrites = 0;

  constructor(
    private readonly store: TaskStore,
    readonly fence: Fence,
    /** How long the object's lease lasts past each write; the same for taking it and for extending it. */
    readonly leaseMs: number,
    recordedPrior: AccountState | null,
    /** An Enable's attempt: its first fence checks whether a Disable supersedes it. */
    private readonly enabling = false,
  ) {
    this.recordedPrior = recordedPrior;
    this.claimedPrior = recordedPrior;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get prior(): AccountState | null {
    return this.recordedPrior;
  }

  abort(reason: Error): void {
    this.controller.abort(reason);
  }

  async beforeWrite(stateBefore: AccountState): Promise<void> {
    this.signal.throwIfAborted();
    this.recordedPrior = await this.store.fenceWrite(
      this.fence,
      stateBefore,
      this.leaseMs,
      this.enabling && this.fencedWrites === 0,
    );
    this.fencedWrites++;
    // The time-out may have fired while PostgreSQL answered.
    this.signal.throwIfAborted();
  }

  /**
   * Only this attempt's own record, made for its first write, is replaced: a record made earlier (by an
   * attempt that died, or by a write of this one that went through) may stand for a change that landed.
   */
  async writeRefused(stateNow: AccountState): Promise<void> {
    if (this.claimedPrior !== null || this.fencedWrites !== 1 || this.recordedPrior === stateNow) return;
    this.recordedPrior = await this.store.replacePriorState(this.fence, stateNow);
  }

  /** Records the state found when there was nothing to write (e.g. already disabled), through the same fence. */
  async observe(state: AccountState): Promise<AccountState> {
    await this.beforeWrite(state);
    return this.recordedPrior as AccountState;
  }

  warn(warning: DirectoryWarning): void {
    this.warnings.push(warning);
  }
}
