import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Queue, Worker } from 'bullmq';
import { Attribute, Change, Client } from 'ldapts';
import { DataSource } from 'typeorm';
import { redisOptionsFromUrl } from '@app/queue';
import { ensureSystemPackages } from '../test/harness/system-packages';
import { openLdapProvider, startSlapd } from '../test/harness/slapd';
import { startEngine, TestEngine } from '../test/harness/engine';

/**
 * `npm run bench`: how long a task takes and how many the engine finishes per second against a real slapd,
 * next to the bare stack doing the same directory writes (ldapts alone) and the same queue traffic
 * (BullMQ alone). Prints the figures and writes docs/benchmarks.md.
 */
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL || 30);
const BATCH = Number(process.env.BENCH_BATCH || 300);
const CONCURRENCY = 10;

interface Row {
  name: string;
  value: string;
  note: string;
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL = 'error';
  await ensureSystemPackages();
  const slapd = await startSlapd();
  const rows: Row[] = [];
  let engine: TestEngine | null = null;
  try {
    const total = SEQUENTIAL + BATCH * 2;
    for (let i = 0; i < total; i++) await slapd.addUser({ uid: `b${i}`, password: 'Bench-Passw0rd' });
    const ldap = openLdapProvider(slapd, { concurrency: CONCURRENCY });
    engine = await startEngine({ label: 'bench', workers: 1, providers: [ldap] });
    const db = engine.api.get(DataSource);

    // 1. One task at a time: POST to final status, as the database records it and as a client sees it.
    const server: number[] = [];
    const client: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: `b${i}` },
      });
      await waitFinal(engine, res.body.id, 5);
      client.push(performance.now() - t0);
      const [row] = await db.query(
        `SELECT extract(epoch FROM (completed_at - created_at)) * 1000 AS ms FROM tasks WHERE id = $1`,
        [res.body.id],
      );
      server.push(Number(row.ms));
    }
    rows.push({
      name: 'Disable task, POST → final (server: completed_at − created_at)',
      value: `p50 ${pct(server, 50)} ms, p95 ${pct(server, 95)} ms`,
      note: `${SEQUENTIAL} tasks one after another, 1 worker`,
    });
    rows.push({
      name: 'Disable task, POST → final (client, polling every 5 ms)',
      value: `p50 ${pct(client, 50)} ms, p95 ${pct(client, 95)} ms`,
      note: 'includes HTTP and polling',
    });

    // 2. A burst: BATCH tasks posted at once, until the last one is final.
    const burstStart = performance.now();
    const ids: string[] = [];
    await inParallel(BATCH, 20, async (i) => {
      const res = await engine!.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: `b${SEQUENTIAL + i}` },
      });
      ids.push(res.body.id);
    });
    const accepted = performance.now() - burstStart;
    // Completion is read from PostgreSQL, so that hundreds of polling clients do not load the API under test.
    for (const deadline = Date.now() + 300_000; ;) {
      const [{ n }] = await db.query(
        `SELECT count(*) AS n FROM tasks WHERE id = ANY($1) AND status = 'inProgress'`,
        [ids],
      );
      if (Number(n) === 0) break;
      if (Date.now() > deadline) throw new Error(`${n} tasks did not finish`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const burst = performance.now() - burstStart;
    const failedCount = Number(
      (
        await db.query(`SELECT count(*) AS n FROM tasks WHERE id = ANY($1) AND status <> 'successful'`, [ids])
      )[0].n,
    );
    rows.push({
      name: `Engine: ${BATCH} Disable tasks at once`,
      value: `${rate(BATCH, burst)} tasks/s (${Math.round(burst)} ms)`,
      note: `API accepted all in ${Math.round(accepted)} ms; ${failedCount} not successful; worker concurrency ${CONCURRENCY}`,
    });

    // 3. Bare stack: the same directory writes with ldapts alone (bind once, read, modify, read back).
    const bare = new Client({ url: slapd.url });
    await bare.bind(slapd.bindDN, slapd.bindPassword);
    const bareStart = performance.now();
    await inParallel(BATCH, CONCURRENCY, async (i) => {
      const dn = slapd.userDn(`b${SEQUENTIAL + BATCH + i}`);
      await bare.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
      await bare.modify(
        dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'pwdAccountLockedTime', values: ['000001010000Z'] }),
        }),
      );
      await bare.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    });
    const bareMs = performance.now() - bareStart;
    await bare.unbind();
    rows.push({
      name: `Bare ldapts: ${BATCH} disables (read, modify, read back)`,
      value: `${rate(BATCH, bareMs)} ops/s (${Math.round(bareMs)} ms)`,
      note: `concurrency ${CONCURRENCY}, one bound connection`,
    });

    // 4. Bare queue: BATCH no-op jobs through BullMQ on the same Redis.
    const connection = redisOptionsFromUrl(engine.config.redisUrl);
    const prefix = `bench-${Date.now()}`;
    const queue = new Queue('bare', { connection, prefix });
    let done = 0;
    const finished = new Promise<void>((resolve) => {
      const worker = new Worker('bare', async () => undefined, {
        connection,
        prefix,
        concurrency: CONCURRENCY,
      });
      worker.on('completed', () => {
        if (++done === BATCH) void worker.close().then(resolve);
      });
    });
    const queueStart = performance.now();
    await queue.addBulk(Array.from({ length: BATCH }, (_, i) => ({ name: 'noop', data: { i } })));
    await finished;
    const queueMs = performance.now() - queueStart;
    await queue.obliterate({ force: true });
    await queue.close();
    rows.push({
      name: `Bare BullMQ: ${BATCH} no-op jobs`,
      value: `${rate(BATCH, queueMs)} jobs/s (${Math.round(queueMs)} ms)`,
      note: `concurrency ${CONCURRENCY}`,
    });
  } finally {
    await engine?.stop();
    await slapd.stop();
  }
  report(rows);
}

async function waitFinal(engine: TestEngine, id: string, pollMs: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await engine.request('GET', `/api/v1/tasks/${id}`);
    if (res.body.status !== 'inProgress') return;
    if (Date.now() > deadline) throw new Error(`task ${id} did not finish`);
    await new Promise((r) => setTimeout(r, pollMs));
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

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

function report(rows: Row[]): void {
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const lines = [
    '# Benchmarks',
    '',
    'Written by `npm run bench`; figures from its latest run. PostgreSQL, Redis, slapd, the API and the worker all run',
    'on the one machine, so the figures compare parts with each other, not with production hardware.',
    '',
    `Run: ${new Date().toISOString()} on ${machine}.`,
    '',
    '| measurement | result | conditions |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.note} |`),
    '',
    'The engine does more per task than the bare stack: the API transaction (task, targets, identifiers, event),',
    'the claim, the resolution record and the roll-up transaction in PostgreSQL, on top of the same directory',
    'search/modify/read-back and one BullMQ job.',
    '',
  ];
  console.log(lines.join('\n'));
  writeFileSync(`${__dirname}/../docs/benchmarks.md`, lines.join('\n'));
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.stack}`);
  process.exit(1);
});
