import { benchLdapPool } from './ldap-pool';
import { benchRateLimited } from './rate-limited';
import type { Row, Section } from './report';
import { statementsPerTarget } from './statements-per-target';

/** What a section is given; each takes what it needs and starts anything else itself. */
export interface ExtraContext {
  /** The largest bulk size of this run. */
  accounts: number;
  concurrency: number;
}

/**
 * The sections after the bulks (rate-limited directories, statements per target, the LDAP connection pool),
 * each a module of scripts/bench/ that returns rows and sizes itself to keep the whole run within minutes.
 */
const EXTRAS: Array<{ title: string; run: (ctx: ExtraContext) => Promise<Row[]> }> = [
  {
    title: 'Rate-limited directories (Entra and Okta emulators)',
    // Its own default size: at Okta's 600 requests a minute, 10,000 accounts would take over an hour. Then with
    // two workers, each pacing on its own from the headers it reads, as a deployment with a spare worker does.
    run: async () => [...(await benchRateLimited({})), ...(await benchRateLimited({ workers: 2 }))],
  },
  { title: 'PostgreSQL statements per target', run: () => statementsPerTarget() },
  {
    title: 'LDAP connection pool',
    run: (ctx) => benchLdapPool({ accounts: 1000, repeats: 3, concurrency: ctx.concurrency }),
  },
];

export async function runExtras(ctx: ExtraContext): Promise<{ sections: Section[]; errors: string[] }> {
  const sections: Section[] = [];
  const errors: string[] = [];
  for (const extra of EXTRAS) {
    process.stderr.write(`bench: ${extra.title}\n`);
    try {
      sections.push({ title: extra.title, rows: await extra.run(ctx) });
    } catch (e) {
      // One section failing must not lose the figures of the others; the run still fails at the end.
      errors.push(`${extra.title}: ${(e as Error).message}`);
      sections.push({
        title: extra.title,
        rows: [{ name: extra.title, value: '**failed**', note: (e as Error).message.replace(/\|/g, '\\|') }],
      });
    }
  }
  return { sections, errors };
}
