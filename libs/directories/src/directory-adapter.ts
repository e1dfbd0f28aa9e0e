import { AccountIdentifier, ProviderKind } from '@app/domain';
import { ProviderCheck } from './provider-check';
import { TargetPacer } from './rate-gate';

/** Whether an account could sign in when an adapter read it. */
export type AccountState = 'enabled' | 'disabled';

/** An account as one directory knows it. */
export interface ResolvedAccount {
  /** Shown in results: the DN in LDAP directories, the directory's own id elsewhere. */
  objectId: string;
  /**
   * The identifier the adapter will be handed back (through `resolve`) to find the same object again when the
   * account is re-enabled, chosen to survive renames and moves: `<GUID=…>` in AD, entryUUID in OpenLDAP, the
   * object id in Entra ID, the user id in Okta. It is also the key of the engine's per-object lock.
   */
  objectRef: string;
  /** Every identifier of the account worth recording, so that an Enable request naming any of them matches. */
  identifiers: string[];
  /** Whether the account was disabled when resolve() read it (information only: the engine records the state
   *  the adapter reports to `AttemptGuard.beforeWrite`, read under the object lock). */
  disabled?: boolean;
  /**
   * Set when the engine must never disable this account (CONTRACT §4.1): the provider's own bind account or
   * token owner, a domain controller, krbtgt, or an entry of the provider's `protectedAccounts`. The text says
   * which rule matched; the engine fails the target with `protectedAccount` and writes nothing.
   */
  protectedReason?: string;
  /**
   * Entra ID only: the user is synced from on-premises AD, so accountEnabled is overwritten by the next sync.
   * `sid` is its onPremisesSecurityIdentifier, `domain` the on-premises domain (DNS or NetBIOS name) to name
   * in errors. The engine decides whether an AD provider of the same task owns the change.
   */
  syncedFromOnPremises?: { sid: string | null; domain: string | null };
}

export type DisableOutcome = 'disabled' | 'alreadyDisabled';
export type EnableOutcome = 'enabled' | 'alreadyEnabled';

/** A follow-up step that failed after the change itself landed (e.g. revoking sessions): reported, not fatal. */
export interface DirectoryWarning {
  code: string;
  message: string;
}

/**
 * What an adapter must consult while changing an account: one attempt of one target. The engine implements
 * it over PostgreSQL (claim generation, object lock, stop requests); adapters only call it.
 */
export interface AttemptGuard {
  /** Aborted when the attempt timed out or lost its claim; adapters pass it on to cancellable calls. */
  readonly signal: AbortSignal;
  /**
   * Must be awaited immediately before every write to the directory, with the account's state as read just
   * before (under the engine's object lock). Throws when this attempt may no longer write (timed out, claim
   * lost to another attempt, target superseded or cancelled); the adapter must then let the error propagate.
   */
  beforeWrite(stateBefore: AccountState): Promise<void>;
  /**
   * The write just fenced did not happen: the directory refused it on a condition of its own (an add of a
   * value already there, a delete of a value no longer there), which proves the account was `stateNow`.
   * Called by an adapter that passed `beforeWrite` a state read before the engine's lease and let the write
   * itself check it; the state recorded from that guess is replaced when nothing earlier can stand behind it.
   */
  writeRefused(stateNow: AccountState): Promise<void>;
  /** Records a follow-up that failed after the change landed; the target still succeeds. */
  warn(warning: DirectoryWarning): void;
}

export interface ResolveOptions {
  /**
   * Whether to find out if the account is one the engine must never disable (`protectedReason`, CONTRACT
   * §4.1); true when omitted. Only a Disable needs it: an Enable skips the searches it costs (a base search
   * for the bind identity on every OpenLDAP account, group lookups in AD).
   */
  checkProtection?: boolean;
}

/**
 * One directory. Implementations throw `DirectoryError` for every failure they understand; anything else is
 * treated as transient by the engine (a bug or an unknown network condition should be retried, not trusted).
 */
export interface DirectoryAdapter {
  readonly id: string;
  readonly kind: ProviderKind;
  /** Finds the one account the identifier names, or null. Two matches is an error (`ambiguousAccount`). */
  resolve(account: AccountIdentifier, options?: ResolveOptions): Promise<ResolvedAccount | null>;
  /** Disables (calling `guard.beforeWrite` before each write) and reads the state back before answering. */
  disable(account: ResolvedAccount, guard: AttemptGuard): Promise<DisableOutcome>;
  /** Enables (calling `guard.beforeWrite` before each write) and reads the state back before answering. */
  enable(account: ResolvedAccount, guard: AttemptGuard): Promise<EnableOutcome>;
  /**
   * Entra ID: ends the user's sign-in sessions without touching accountEnabled (a user synced from
   * on-premises, whose enabled flag belongs to AD). Calls `guard.beforeWrite` first.
   */
  revokeSessions?(account: ResolvedAccount, guard: AttemptGuard): Promise<void>;
  /**
   * Before go-live and when in doubt (`POST /api/v1/providers/{id}/test`): whether the directory is reachable,
   * accepts our credentials, lets us read accounts and lets us change them, found out WITHOUT changing any
   * account. Never throws: every failure is a check with `ok: false` and a message naming the cause.
   */
  test(): Promise<ProviderCheck[]>;
  /** Releases pooled connections; called once on shutdown. */
  close(): Promise<void>;
  /**
   * Directories with rate limits (Okta, Graph): consulted by the provider's queue before each target starts,
   * so that targets wait for the directory's limit before they are claimed rather than halfway.
   */
  readonly pacer?: TargetPacer;
}

/**
 * A guard that never stops a write and keeps warnings in a list: for adapter tests and one-off tools, never
 * for the engine (which must fence every write).
 */
export function unguarded(): AttemptGuard & {
  warnings: DirectoryWarning[];
  writes: AccountState[];
  refused: AccountState[];
} {
  const warnings: DirectoryWarning[] = [];
  const writes: AccountState[] = [];
  const refused: AccountState[] = [];
  return {
    signal: new AbortController().signal,
    warnings,
    writes,
    refused,
    beforeWrite: async (state) => {
      writes.push(state);
    },
    writeRefused: async (state) => {
      refused.push(state);
    },
    warn: (w) => warnings.push(w),
  };
}
