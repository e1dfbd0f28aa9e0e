import 'reflect-metadata';
import { Attribute, Change, Client } from 'ldapts';
import { parseAccountIdentifier } from '@app/domain';
import { AppLogger } from '@app/logging';
import { unguarded } from '@app/directories';
import { DEFAULT_LDAP_CONNECTIONS } from '../../libs/directories/src/ldap';
import { createOpenLdapAdapter } from '../../libs/directories/src/openldap';
import { ensureSystemPackages } from '../../test/harness/system-packages';
import { openLdapProvider, SlapdHandle, startSlapd } from '../../test/harness/slapd';
import type { Row } from './report';

export interface LdapPoolBenchOptions {
  /** Accounts per run (each run disables, or re-enables, every one of them). */
  accounts?: number;
  /** Operations in flight at once, as a worker's concurrency. */
  concurrency?: number;
  /** Runs per figure; the median is reported. */
  repeats?: number;
  /** Connection counts for bare ldapts. */
  connections?: number[];
  /** Pool sizes for the adapter (default: DEFAULT_LDAP_CONNECTIONS, 1 and 4). */
  poolSizes?: number[];
}

const LOCK = 'pwdAccountLockedTime';
const PERMANENT_LOCK = '000001010000Z';

/**
 * Whether one bound connection limits what an LDAP provider gets out of slapd: bare ldapts doing a worker's
 * search-modify-read with `concurrency` in flight over 1, 2, 4 and 8 connections, then the OpenLDAP adapter
 * itself (resolve, then disable or enable with its reads) with pool sizes 1 and 4 (and the default). Every figure is the
 * median of `repeats` runs, the runs of all variants interleaved because this machine is shared and noisy; the
 * ×factor is the median ratio to the first variant's run of the same round. It starts its own slapd; with
 * the defaults it takes about two minutes on a loaded 2-core machine.
 */
export async function benchLdapPool(options: LdapPoolBenchOptions = {}): Promise<Row[]> {
  const accounts = options.accounts ?? 1000;
  const concurrency = options.concurrency ?? 10;
  const repeats = options.repeats ?? 5;
  const connectionCounts = options.connections ?? [1, 2, 4, 8];
  const poolSizes = options.poolSizes ?? [...new Set([DEFAULT_LDAP_CONNECTIONS, 1, 4])];

  await ensureSystemPackages();
  const slapd = await startSlapd();
  try {
    await addUsers(slapd, accounts);
    const uids = Array.from({ length: accounts }, (_, i) => `p${i}`);

    const bare = new Map<number, number[]>(connectionCounts.map((n) => [n, []]));
    const disable = new Map<number, number[]>(poolSizes.map((n) => [n, []]));
    const enable = new Map<number, number[]>(poolSizes.map((n) => [n, []]));
    for (let r = 0; r < repeats; r++) {
      for (const n of connectionCounts) {
        bare.get(n)!.push(await bareCycles(slapd, uids, n, concurrency));
      }
      for (const size of poolSizes) {
        const [d, e] = await adapterRuns(slapd, uids, size, concurrency);
        disable.get(size)!.push(d);
        enable.get(size)!.push(e);
      }
    }

    const rows: Row[] = [];
    for (const n of connectionCounts) {
      const runs = bare.get(n)!;
      rows.push({
        name: `Bare ldapts, search-modify-read over ${n} connection${n === 1 ? '' : 's'}`,
        value: `${Math.round(median(runs))} cycles/s (×${pairedRatio(runs, bare.get(connectionCounts[0])!)})`,
        note: `${accounts} accounts, ${concurrency} in flight; median of ${repeats} ${spread(runs)}`,
      });
    }
    for (const [label, results] of [
      ['disable', disable],
      ['enable', enable],
    ] as const) {
      for (const size of poolSizes) {
        const runs = results.get(size)!;
        rows.push({
          name: `OpenLdapAdapter resolve + ${label}, pool of ${size}${size === DEFAULT_LDAP_CONNECTIONS ? ' (default)' : ''}`,
          value: `${Math.round(median(runs))} accounts/s (×${pairedRatio(runs, results.get(poolSizes[0])!)})`,
          note: `${accounts} accounts, ${concurrency} in flight; median of ${repeats} ${spread(runs)}`,
        });
      }
    }
    return rows;
  } finally {
    await slapd.stop();
  }
}

/** One run of bare ldapts: each account read, locked, read back; cycles per second. */
async function bareCycles(
  slapd: SlapdHandle,
  uids: string[],
  connections: number,
  concurrency: number,
): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = new Client({ url: slapd.url, timeout: 30_000 });
      await c.bind(slapd.bindDN, slapd.bindPassword);
      return c;
    }),
  );
  try {
    // Replace is a write every time (slapd updates modifyTimestamp too), whatever the run before left.
    const change = new Change({
      operation: 'replace',
      modification: new Attribute({ type: LOCK, values: [PERMANENT_LOCK] }),
    });
    const start = performance.now();
    // Each of the `concurrency` lanes keeps to one connection, as a job keeps to the one it was given.
    await inParallel(uids.length, concurrency, async (i, lane) => {
      const client = clients[lane % connections];
      const dn = slapd.userDn(uids[i]);
      await client.search(dn, { scope: 'base', attributes: [LOCK] });
      await client.modify(dn, change);
      await client.search(dn, { scope: 'base', attributes: [LOCK] });
    });
    return (uids.length / (performance.now() - start)) * 1000;
  } finally {
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  }
}

/** The adapter as a worker drives it: resolve, then disable every account; then the same for enable. */
async function adapterRuns(
  slapd: SlapdHandle,
  uids: string[],
  connections: number,
  concurrency: number,
): Promise<[number, number]> {
  const adapter = createOpenLdapAdapter(openLdapProvider(slapd, { connections, timeoutMs: 30_000 }), {
    logger: new AppLogger('bench', 'error', () => undefined),
  });
  try {
    // The bare runs leave some accounts locked: start every adapter run from unlocked accounts.
    await inParallel(uids.length, concurrency, (i) => slapd.setAttribute(slapd.userDn(uids[i]), LOCK, []));
    const rates: number[] = [];
    for (const action of ['disable', 'enable'] as const) {
      const start = performance.now();
      await inParallel(uids.length, concurrency, async (i) => {
        const account = await adapter.resolve(parseAccountIdentifier(uids[i]));
        if (!account) throw new Error(`${uids[i]} not found`);
        const outcome = await adapter[action](account, unguarded());
        if (outcome !== `${action}d`) throw new Error(`${uids[i]}: ${outcome}`);
      });
      rates.push((uids.length / (performance.now() - start)) * 1000);
    }
    return [rates[0], rates[1]];
  } finally {
    await adapter.close();
  }
}

async function addUsers(slapd: SlapdHandle, n: number): Promise<void> {
  const c = new Client({ url: slapd.url, timeout: 30_000 });
  await c.bind(slapd.bindDN, slapd.bindPassword);
  try {
    await inParallel(n, 10, (i) =>
      c.add(slapd.userDn(`p${i}`), {
        objectClass: ['inetOrgPerson'],
        uid: `p${i}`,
        cn: `p${i}`,
        sn: `p${i}`,
        userPassword: 'Bench-Passw0rd',
      }),
    );
  } finally {
    await c.unbind();
  }
}

async function inParallel(
  n: number,
  width: number,
  fn: (i: number, lane: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async (_, lane) => {
      while (next < n) await fn(next++, lane);
    }),
  );
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function spread(values: number[]): string {
  return `(runs ${[...values]
    .sort((a, b) => a - b)
    .map(Math.round)
    .join(', ')})`;
}

/**
 * The median of run-by-run ratios to the baseline: runs next to each other share the machine's load of the
 * moment, so their ratio is steadier than the ratio of two medians.
 */
function pairedRatio(runs: number[], baseline: number[]): string {
  return median(runs.map((r, i) => r / baseline[i])).toFixed(2);
}

if (require.main === module) {
  const env = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const list = (name: string) => process.env[name]?.split(',').map(Number);
  benchLdapPool({
    accounts: env('BENCH_LDAP_ACCOUNTS'),
    concurrency: env('BENCH_LDAP_CONCURRENCY'),
    repeats: env('BENCH_LDAP_REPEATS'),
    connections: list('BENCH_LDAP_CONNECTIONS'),
    poolSizes: list('BENCH_LDAP_POOLS'),
  })
    .then((rows) => {
      console.log('| measurement | result | conditions |\n| --- | --- | --- |');
      for (const r of rows) console.log(`| ${r.name} | ${r.value} | ${r.note} |`);
    })
    .catch((e: Error) => {
      console.error(`ldap-pool bench failed: ${e.stack}`);
      process.exit(1);
    });
}
