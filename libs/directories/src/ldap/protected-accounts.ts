import { AccountIdentifier, parseAccountIdentifier } from '@app/domain';

/** A provider's `protectedAccounts`, split by how each entry is checked. */
export interface ProtectedEntries {
  /** DNs: the account itself, or a group whose members are protected. The server compares them. */
  dns: string[];
  /** Every other entry, compared with the resolved account's identifiers. */
  listed: Array<{ entry: string; id: AccountIdentifier }>;
}

/**
 * Parses `protectedAccounts` once, when the adapter is built. An entry that is no identifier at all stops the
 * start: a typo in the list of accounts that must never be disabled must not quietly protect nobody.
 */
export function parseProtectedEntries(
  entries: readonly string[] | undefined,
  provider: string,
): ProtectedEntries {
  const parsed: ProtectedEntries = { dns: [], listed: [] };
  (entries ?? []).forEach((entry, i) => {
    let id: AccountIdentifier;
    try {
      id = parseAccountIdentifier(entry);
    } catch (e) {
      throw new Error(
        `provider ${provider}: protectedAccounts[${i}] ${JSON.stringify(entry)} is not an account identifier: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (id.kind === 'dn') parsed.dns.push(id.value);
    else parsed.listed.push({ entry, id });
  });
  return parsed;
}

/** Identifiers compare case-insensitively in every directory here. */
export const sameIdentifier = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
