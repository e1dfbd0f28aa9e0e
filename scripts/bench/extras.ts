import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Row, Section } from './report';

/** What a plugged-in section is given; each takes what it needs and starts anything else itself. */
export interface ExtraContext {
  /** The largest bulk size of this run. */
  accounts: number;
  concurrency: number;
}

/**
 * Sections written beside this one (rate-limited directories, statements per target, the LDAP connection
 * pool). Each is a module of scripts/bench/ exporting one function that returns rows; a module that is not
 * there yet is skipped, so that the bench runs on any branch and picks a section up when it lands.
 */
const EXTRAS: Array<{
  file: string;
  title: string;
  exportName: string;
  /** What the section is called with: each picks sizes that keep the whole run within minutes. */
  args: (ctx: ExtraContext) => Record<string, unknown>;
}> = [
  {
    file: 'rate-limited',
    title: 'Rate-limited directories (Entra and Okta emulators)',
    exportName: 'benchRateLimited',
    // Its own default size: at Okta's 600 requests a minute, 10,000 accounts would take over an hour.
    args: () => ({}),
  },
  {
    file: 'statements-per-target',
    title: 'PostgreSQL statements per target',
    exportName: 'statementsPerTarget',
    args: () => ({}),
  },
  {
    file: 'ldap-pool',
    title: 'LDAP connection pool',
    exportName: 'benchLdapPool',
    args: (ctx) => ({ accounts: 1000, repeats: 3, concurrency: ctx.concurrency }),
  },
];

type BenchFn = (args: Record<string, unknown>) => Promise<Row[]> | Row[];

export async function runExtras(ctx: ExtraContext): Promise<{ sections: Section[]; errors: string[] }> {
  const sections: Section[] = [];
  const errors: string[] = [];
  for (const extra of EXTRAS) {
    if (!['.ts', '.js'].some((ext) => existsSync(join(__dirname, `${extra.file}${ext}`)))) continue;
    process.stderr.write(`bench: ${extra.title}\n`);
    try {
      // require, not import(): ts-node runs the bench as CommonJS, where import() of a .ts path is not resolved.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(join(__dirname, extra.file)) as Record<string, unknown>;
      const fn = pickFunction(mod, extra.exportName);
      if (!fn) throw new Error(`exports no function (expected ${extra.exportName})`);
      const rows = await fn(extra.args(ctx));
      if (!Array.isArray(rows)) throw new Error('returned no rows');
      sections.push({ title: extra.title, rows });
    } catch (e) {
      // One section failing must not lose the figures of the others; the run still fails at the end.
      errors.push(`${extra.file}: ${(e as Error).message}`);
      sections.push({
        title: extra.title,
        rows: [{ name: extra.file, value: '**failed**', note: (e as Error).message.replace(/\|/g, '\\|') }],
      });
    }
  }
  return { sections, errors };
}

/** The expected export, or else the module's only exported function whose name starts with `bench`. */
function pickFunction(mod: Record<string, unknown>, name: string): BenchFn | null {
  if (typeof mod[name] === 'function') return mod[name] as BenchFn;
  const fns = Object.entries(mod).filter(([k, v]) => typeof v === 'function' && /^bench/i.test(k));
  return fns.length === 1 ? (fns[0][1] as BenchFn) : null;
}
