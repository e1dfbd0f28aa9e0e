import { AccountIdentifier, ProviderKind } from '@app/domain';

/** An account as one directory knows it. */
export interface ResolvedAccount {
  /** Shown in results: the DN in LDAP directories, the directory's own id elsewhere. */
  objectId: string;
  /**
   * The identifier the adapter will be handed back (through `resolve`) to find the same object again when the
   * account is re-enabled, chosen to survive renames and moves: `<GUID=…>` in AD, entryUUID in OpenLDAP, the
   * object id in Entra ID, the user id in Okta.
   */
  objectRef: string;
  /** Every identifier of the account worth recording, so that an Enable request naming any of them matches. */
  identifiers: string[];
  /** The change belongs to another directory (an Entra user synced from on-premises AD, say). */
  managedElsewhere?: boolean;
  /**
   * Whether the account was disabled when resolve() read it. The engine records it before acting, so that a
   * retry after a worker died mid-call still knows the state from before the incident (it would otherwise
   * read its own change back and call it "alreadyDisabled").
   */
  disabled?: boolean;
}

export type DisableOutcome = 'disabled' | 'alreadyDisabled';
export type EnableOutcome = 'enabled' | 'alreadyEnabled';

/**
 * One directory. Implementations throw `DirectoryError` for every failure they understand; anything else is
 * treated as transient by the engine (a bug or an unknown network condition should be retried, not trusted).
 */
export interface DirectoryAdapter {
  readonly id: string;
  readonly kind: ProviderKind;
  /** Finds the one account the identifier names, or null. Two matches is an error (`ambiguousAccount`). */
  resolve(account: AccountIdentifier): Promise<ResolvedAccount | null>;
  /** Disables and reads the state back before answering. */
  disable(account: ResolvedAccount): Promise<DisableOutcome>;
  /** Enables and reads the state back before answering. */
  enable(account: ResolvedAccount): Promise<EnableOutcome>;
  /** Releases pooled connections; called once on shutdown. */
  close(): Promise<void>;
}
