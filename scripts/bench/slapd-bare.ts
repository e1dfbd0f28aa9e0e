import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import type { SlapdHandle } from '../../test/harness/slapd';

const run = promisify(execFile);

/** ppolicy's administrator lock: the value the engine writes for a Disable and removes for an Enable. */
export const PERMANENT_LOCK = '000001010000Z';

export type LockOp = 'lock' | 'unlock';

/** Adds `uids` under the people OU over one bound connection, `width` adds in flight. */
export async function addUsers(slapd: SlapdHandle, uids: string[], width = 16): Promise<void> {
  await withRoot(slapd, async (c) => {
    await inParallel(uids.length, width, (i) =>
      c.add(slapd.userDn(uids[i]), {
        objectClass: ['inetOrgPerson'],
        uid: uids[i],
        cn: uids[i],
        sn: uids[i],
        userPassword: `${uids[i]}-Secret1`,
      }),
    );
  });
}

/**
 * The directory's own pace: one `ldapmodify` process, one connection, applying one modify record per account
 * from an LDIF file, each waiting for the previous answer. Includes starting the process and binding, which
 * is a few milliseconds against seconds of writes.
 */
export async function bareLdapmodify(slapd: SlapdHandle, uids: string[], op: LockOp): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'are-bench-ldif-'));
  try {
    const ldif = join(dir, `${op}.ldif`);
    const change =
      op === 'lock'
        ? `replace: pwdAccountLockedTime\npwdAccountLockedTime: ${PERMANENT_LOCK}\n`
        : 'delete: pwdAccountLockedTime\n';
    writeFileSync(
      ldif,
      uids.map((uid) => `dn: ${slapd.userDn(uid)}\nchangetype: modify\n${change}-\n`).join('\n'),
    );
    // The password goes in a file (-y), so that it is not on a command line other users can list.
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, slapd.bindPassword, { mode: 0o600 });
    const started = performance.now();
    await run('ldapmodify', ['-x', '-H', slapd.url, '-D', slapd.bindDN, '-y', pwFile, '-f', ldif], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return performance.now() - started;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the engine does to the directory per account, with nothing else: over one bound ldapts connection,
 * `width` accounts in flight, read the lock, change it, read it back.
 */
export async function bareLdapts(
  slapd: SlapdHandle,
  uids: string[],
  op: LockOp,
  width: number,
): Promise<number> {
  return withRoot(slapd, async (c) => {
    const change = new Change({
      operation: op === 'lock' ? 'replace' : 'delete',
      modification: new Attribute({
        type: 'pwdAccountLockedTime',
        values: op === 'lock' ? [PERMANENT_LOCK] : [],
      }),
    });
    const started = performance.now();
    await inParallel(uids.length, width, async (i) => {
      const dn = slapd.userDn(uids[i]);
      await c.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
      await c.modify(dn, change);
      await c.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    });
    return performance.now() - started;
  });
}

/**
 * How many of the accounts whose uid starts with `prefix` carry exactly the permanent lock, read back from
 * slapd in one paged search: what a Disable or Enable must have left behind, whatever the engine recorded.
 */
export async function countLocked(
  slapd: SlapdHandle,
  prefix: string,
): Promise<{ users: number; locked: number }> {
  return withRoot(slapd, async (c) => {
    const { searchEntries } = await c.search(slapd.baseDN, {
      scope: 'one',
      // The prefix is the bench's own (letters, digits and '-'); no filter escaping is needed.
      filter: `(&(objectClass=inetOrgPerson)(uid=${prefix}*))`,
      attributes: ['uid', 'pwdAccountLockedTime'],
      paged: { pageSize: 1000 },
    });
    const locked = searchEntries.filter((e) => {
      const v = e.pwdAccountLockedTime;
      const values = v === undefined ? [] : Array.isArray(v) ? v : [v];
      return values.length === 1 && String(values[0]) === PERMANENT_LOCK;
    }).length;
    return { users: searchEntries.length, locked };
  });
}

async function withRoot<T>(slapd: SlapdHandle, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: slapd.url, timeout: 60_000, connectTimeout: 5_000 });
  try {
    await c.bind(slapd.bindDN, slapd.bindPassword);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

export async function inParallel(
  n: number,
  width: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
