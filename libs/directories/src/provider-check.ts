/**
 * What `DirectoryAdapter.test()` reports (CONTRACT §5, `POST /api/v1/providers/{id}/test`). The checks come in
 * this order, each one only meaningful when the ones before it passed.
 */
export type ProviderCheckName =
  'configuration' | 'reachable' | 'authenticated' | 'readAccounts' | 'changeAccounts' | 'revokeSessions';

export interface ProviderCheck {
  name: ProviderCheckName;
  /** null: the check could not be decided (or was not run because an earlier one failed); `message` says why. */
  ok: boolean | null;
  message: string;
}

/** A test passes when no check failed; undecided checks (null) are listed for a person to verify. */
export function checksPassed(checks: readonly ProviderCheck[]): boolean {
  return checks.length > 0 && checks.every((c) => c.ok !== false);
}

/** Collects checks in order; once one fails, the ones that depend on it are listed as not checked. */
export class CheckList {
  private readonly checks: ProviderCheck[] = [];

  pass(name: ProviderCheckName, message: string): this {
    return this.add(name, true, message);
  }

  fail(name: ProviderCheckName, message: string): this {
    return this.add(name, false, message);
  }

  undecided(name: ProviderCheckName, message: string): this {
    return this.add(name, null, message);
  }

  add(name: ProviderCheckName, ok: boolean | null, message: string): this {
    this.checks.push({ name, ok, message });
    return this;
  }

  /** Lists `names` as not checked, naming the check that stopped the test. */
  notChecked(names: readonly ProviderCheckName[], because: ProviderCheckName): ProviderCheck[] {
    for (const name of names) this.undecided(name, `not checked: "${because}" did not pass`);
    return this.result();
  }

  result(): ProviderCheck[] {
    return [...this.checks];
  }
}

/**
 * The claims of a JWT, read without verifying its signature: for reporting what a token we were just issued
 * says about us (Entra's `roles`), never for trusting anyone. Null when the token is not a JWT.
 */
export function unverifiedJwtClaims(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
