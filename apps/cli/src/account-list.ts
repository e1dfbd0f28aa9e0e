import { MAX_BULK_ACCOUNTS } from '@app/engine';

/**
 * An account file: one account per line. Blank lines and lines whose first non-blank character is `#` are
 * skipped. A `#` later on a line is kept, because a DN may hold one (`cn=\#1,ou=…`). Surrounding whitespace
 * and a CR left by Windows line ends are trimmed; anything else is the account as written, checked by the
 * engine, not here, so the file gives the same per-item refusals as the API would.
 */
export function parseAccountList(text: string): string[] {
  const accounts: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    accounts.push(line);
  }
  return accounts;
}

/**
 * Splitting a larger list into several requests would give several batches to follow and a partial result
 * if one request failed; one list, one batch, refused whole before anything is created.
 */
export function checkBulkSize(count: number): string | null {
  if (count === 0) return 'no accounts given: name them as arguments or in --file (one per line)';
  if (count > MAX_BULK_ACCOUNTS)
    return (
      `${count.toLocaleString('en-US')} accounts: one request takes at most ` +
      `${MAX_BULK_ACCOUNTS.toLocaleString('en-US')}. Split the list (e.g. split -l ${MAX_BULK_ACCOUNTS} accounts.txt part-) ` +
      `and run one command per part`
    );
  return null;
}
