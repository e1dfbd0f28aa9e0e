import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Attribute, Change, Client as LdapClient } from 'ldapts';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { TargetRunner } from '@app/engine';
import { TargetJobData } from '@app/queue';
import { ensureSystemPackages } from '../../test/harness/system-packages';
import { openLdapProvider, startSlapd } from '../../test/harness/slapd';
import { startEngine } from '../../test/harness/engine';
import type { Row } from './report';

/**
 * What one target costs the engine in PostgreSQL, counted rather than timed (so the figure is the same on a
 * busy machine): every statement the worker sends while it runs one Disable target and one Enable target
 * against a real slapd, and how many of those are transaction control (BEGIN/COMMIT). Each is a round trip.
 *
 * Statements are attributed to the target whose `TargetRunner.handle` sent them (AsyncLocalStorage), so the
 * API's own transactions, the webhook relay's polling and the reconciler are not counted.
 *
 * Standalone: `TS_NODE_TRANSPILE_ONLY=true npx ts-node -r tsconfig-paths/register scripts/bench/statements-per-target.ts`
 * (STATEMENTS_VERBOSE=1 prints each statement; DRAIN_TARGETS=n also times the worker alone, see workerDrain, and
 * DRAIN_PROFILE=file.cpuprofile writes a CPU profile of the drain).
 */

interface Counted {
  statements: string[];
}

const TRANSACTION_CONTROL = /^\s*(BEGIN|START TRANSACTION|COMMIT|ROLLBACK)\b/i;

export async function statementsPerTarget(): Promise<Row[]> {
  const perTarget = new AsyncLocalStorage<Counted>();
  const counted = new Map<string, Counted[]>();

  const handle = TargetRunner.prototype.handle;
  TargetRunner.prototype.handle = function (this: TargetRunner, data: TargetJobData) {
    const c: Counted = { statements: [] };
    const key = `${data.taskId}/${data.provider}`;
    counted.set(key, [...(counted.get(key) ?? []), c]);
    return perTarget.run(c, () => handle.call(this, data));
  };
  const query = Client.prototype.query;
  // pg's query has many overloads; only the text is read here, everything is passed on untouched.
  Client.prototype.query = function (this: Client, ...args: unknown[]) {
    const c = perTarget.getStore();
    if (c) {
      const first = args[0] as string | { text?: string };
      c.statements.push(typeof first === 'string' ? first : (first?.text ?? '?'));
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof Client.prototype.query;

  await ensureSystemPackages();
  const slapd = await startSlapd();
  const engine = await startEngine({ label: 'statements', workers: 1, providers: [openLdapProvider(slapd)] });
  try {
    await slapd.addUser({ uid: 'counted', password: 'Bench-Passw0rd' });
    const rows: Row[] = [];
    for (const action of ['disable', 'enable'] as const) {
      const res = await engine.request('POST', `/api/v1/tasks/${action}-account`, {
        body: { account: 'counted' },
      });
      if (res.status !== 202) throw new Error(`${action}: ${res.status} ${JSON.stringify(res.body)}`);
      const task = await engine.waitForTask(res.body.id);
      if (task.status !== 'successful') throw new Error(`${action} ended ${task.status}`);
      const runs = counted.get(`${res.body.id}/ldap`) ?? [];
      const statements = runs.flatMap((r) => r.statements);
      const control = statements.filter((s) => TRANSACTION_CONTROL.test(s));
      const transactions = control.filter((s) => /^\s*(BEGIN|START)/i.test(s)).length;
      if (process.env.STATEMENTS_VERBOSE) {
        console.log(`--- ${action} target`);
        for (const s of statements) console.log('  ' + s.replace(/\s+/g, ' ').slice(0, 140));
      }
      rows.push({
        name: `PostgreSQL round trips per ${action === 'disable' ? 'Disable' : 'Enable'} target (slapd)`,
        value: `${statements.length} (${statements.length - control.length} statements + ${control.length} BEGIN/COMMIT, ${transactions} transactions)`,
        note: `counted in the worker, ${runs.length} job run(s); claim to roll-up, task ${task.status}`,
      });
    }
    return rows;
  } finally {
    TargetRunner.prototype.handle = handle;
    Client.prototype.query = query;
    await engine.stop();
    await slapd.stop();
  }
}

/**
 * The worker's own pace, apart from the API's: `n` Disable tasks are accepted while no worker runs, then one
 * worker starts and drains them. Next to it, in the same run, bare ldapts doing the same search, modify and
 * read back at the same concurrency, so that the ratio holds on a machine whose speed varies.
 */
export async function workerDrain(n: number, concurrency = 10): Promise<Row[]> {
  await ensureSystemPackages();
  const slapd = await startSlapd();
  const ldap = openLdapProvider(slapd, { concurrency });
  const engine = await startEngine({ label: 'drain', workers: 0, providers: [ldap] });
  try {
    for (let i = 0; i < 2 * n; i++) await slapd.addUser({ uid: `d${i}`, password: 'Bench-Passw0rd' });
    const ids: string[] = [];
    await inParallel(n, 10, async (i) => {
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: `d${i}` },
      });
      ids.push(res.body.id);
    });
    const db = engine.api.get(DataSource);
    const profile = process.env.DRAIN_PROFILE ? new Session() : null;
    profile?.connect();
    await profile?.post('Profiler.enable');
    await profile?.post('Profiler.start');
    const cpu = process.cpuUsage();
    const start = performance.now();
    await engine.startWorker();
    for (;;) {
      const [{ left }] = await db.query(
        `SELECT count(*)::int AS left FROM tasks WHERE id = ANY($1) AND status = 'inProgress'`,
        [ids],
      );
      if (left === 0) break;
      await new Promise((r) => setTimeout(r, 20)); // polling interval
    }
    const engineMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    if (profile) {
      const { profile: taken } = await profile.post('Profiler.stop');
      writeFileSync(process.env.DRAIN_PROFILE as string, JSON.stringify(taken));
      profile.disconnect();
    }
    const cpuPerTarget = (used.user + used.system) / 1000 / n;
    const [{ ok }] = await db.query(
      `SELECT count(*)::int AS ok FROM tasks WHERE id = ANY($1) AND status = 'successful'`,
      [ids],
    );

    const bare = new LdapClient({ url: slapd.url });
    await bare.bind(slapd.bindDN, slapd.bindPassword);
    const bareStart = performance.now();
    await inParallel(n, concurrency, async (i) => {
      const dn = slapd.userDn(`d${n + i}`);
      await bare.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
      const locked = new Attribute({ type: 'pwdAccountLockedTime', values: ['000001010000Z'] });
      await bare.modify(dn, new Change({ operation: 'replace', modification: locked }));
      await bare.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    });
    const bareMs = performance.now() - bareStart;
    await bare.unbind();
    const rate = (ms: number) => Math.round((n / ms) * 1000);
    return [
      {
        name: `Worker alone: ${n} queued Disable targets drained (slapd)`,
        value: `${rate(engineMs)} targets/s, ${Math.round((100 * bareMs) / engineMs)}% of bare ldapts (${rate(bareMs)}/s)`,
        note: `${ok} successful; concurrency ${concurrency}; bare: search, modify, read back on one bound connection`,
      },
      {
        name: `Worker alone: CPU of this Node process per target`,
        value: `${cpuPerTarget.toFixed(2)} ms`,
        note: "user + system from the worker's start to the last task final (the API, in the same process, idle)",
      },
    ];
  } finally {
    await engine.stop();
    await slapd.stop();
  }
}

async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

if (require.main === module) {
  process.env.LOG_LEVEL = 'error';
  const drain = Number(process.env.DRAIN_TARGETS || 0);
  statementsPerTarget()
    .then(async (rows) => [...rows, ...(drain ? await workerDrain(drain) : [])])
    .then((rows) => {
      for (const r of rows) console.log(`| ${r.name} | ${r.value} | ${r.note} |`);
    })
    .catch((e: Error) => {
      console.error(`statements-per-target failed: ${e.stack}`);
      process.exit(1);
    });
}
