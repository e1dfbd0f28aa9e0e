import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import IORedis from 'ioredis';
import type { FaultEngine } from '../test/faults/harness/fault-engine';
import { REDIS_URL } from '../test/faults/harness/fault-engine';
import { openLdapProvider, SlapdHandle, startSlapd } from '../test/harness/slapd';
import { ensureSystemPackages } from '../test/harness/system-packages';
import { BulkAction, BulkResult, Latency, runBulk, singleTaskLatency } from './bench/engine-bulk';
import { CpuSplit, CpuWindow } from './bench/cpu-split';
import { runExtras } from './bench/extras';
import { BenchOptions, benchOptions } from './bench/options';
import { MemoryPeak, MemoryWindow, startEngineProcesses } from './bench/processes';
import { BenchReport, Check, renderReport, SizeResult, WarmUp } from './bench/report';
import { addUsers, bareLdapmodify, bareLdapts, countLocked } from './bench/slapd-bare';

/**
 * `npm run bench`: the engine's bulk Disable and Enable against a real slapd, side by side with the same
 * slapd's bare write rate and bare ldapts doing the same directory work, measured in the same run; the
 * single-task latency; the API's and the worker's peak memory; and the sections other modules of
 * scripts/bench/ add. Prints the report and writes docs/benchmarks.md. Exits non-zero when a check fails
 * (a task not successful, slapd not holding the expected state), whatever the speed.
 */
async function main(): Promise<void> {
  const opts = benchOptions();
  const startedAt = new Date();
  await ensureSystemPackages();
  const { sizes, latency, versions, checks, warmUp } = await againstSlapd(opts);

  // The other sections start what they need themselves; the engine above is gone, so they do not compete.
  const extras = await runExtras({ accounts: Math.max(...opts.bulkSizes), concurrency: opts.concurrency });
  for (const e of extras.errors) checks.push({ what: 'section', ok: false, detail: e });

  const report: BenchReport = {
    startedAt,
    opts,
    versions,
    sizes,
    warmUp,
    latency,
    sections: extras.sections,
    checks,
  };
  const text = renderReport(report);
  console.log(text);
  if (opts.outFile) writeFileSync(join(__dirname, '..', opts.outFile), text);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) {
    console.error(
      `bench: ${failed.length} check(s) failed:\n${failed.map((c) => `  ${c.what}: ${c.detail}`).join('\n')}`,
    );
    process.exitCode = 1;
  }
}

/**
 * One slapd, the engine's two processes pointed at it, and per bulk size: the bare runs, then the engine's
 * bulk Disable and Enable of the same accounts, each followed by reading slapd back.
 */
async function againstSlapd(opts: BenchOptions): Promise<{
  sizes: SizeResult[];
  latency: Latency;
  versions: Record<string, string>;
  checks: Check[];
  warmUp: WarmUp | null;
}> {
  const slapd = await startSlapd();
  let engine: FaultEngine | null = null;
  let cleanup = () => undefined as void;
  const checks: Check[] = [];
  const sizes: SizeResult[] = [];
  try {
    const latencyUsers = Array.from({ length: opts.sequential }, (_, i) => `lat-${i}`);
    const users = new Map(opts.bulkSizes.map((n, k) => [k, accountsOf(k, n)]));
    const warmUsers = Array.from({ length: opts.warmUp }, (_, i) => `warm-${i}`);
    const all = [...latencyUsers, ...warmUsers, ...[...users.values()].flat()];
    log(`adding ${all.length} users to slapd`);
    await addUsers(slapd, all);

    log('starting the built API and worker as processes');
    ({ engine, cleanup } = await startEngineProcesses(
      [openLdapProvider(slapd, { concurrency: opts.concurrency })],
      opts,
    ));
    const versions = await serverVersions(engine);

    log(`single-task latency: ${opts.sequential} Disable tasks one after another`);
    const latency = await singleTaskLatency(engine, latencyUsers);

    // A fresh engine's first bulk runs slower than the next (its processes' JIT and heaps, PostgreSQL's and
    // slapd's caches: docs/decisions.md); a deployed engine has long run. Reported on its own, not hidden.
    let warmUp: WarmUp | null = null;
    if (warmUsers.length) {
      log(
        `warm-up: the fresh engine's first bulk Disable and Enable, ${warmUsers.length} accounts of their own`,
      );
      const disable = await runBulk(engine, 'disable', warmUsers, opts.bulkTimeoutMs);
      checks.push(
        await slapdHolds(slapd, 'warm-', warmUsers.length, warmUsers.length, 'after the warm-up Disable'),
      );
      const enable = await runBulk(engine, 'enable', warmUsers, opts.bulkTimeoutMs);
      checks.push(await slapdHolds(slapd, 'warm-', warmUsers.length, 0, 'after the warm-up Enable'));
      warmUp = { disable, enable };
    }

    for (const [k, n] of opts.bulkSizes.entries()) {
      const uids = users.get(k) as string[];
      const prefix = prefixOf(k, n);
      const holds = async (locked: number, when: string) =>
        checks.push(await slapdHolds(slapd, prefix, n, locked, when));
      const ldapmodify: SizeResult['ldapmodify'] = { lock: [], unlock: [] };
      const bare = async (when: string) => {
        log(`${n} accounts: bare ldapmodify, lock then unlock (${when})`);
        ldapmodify.lock.push(await bareLdapmodify(slapd, uids, 'lock'));
        await holds(n, `after bare ldapmodify lock of ${n} (${when})`);
        ldapmodify.unlock.push(await bareLdapmodify(slapd, uids, 'unlock'));
        await holds(0, `after bare ldapmodify unlock of ${n} (${when})`);
      };
      await bare('before the engine');
      log(`${n} accounts: bare ldapts, lock then unlock`);
      const ldapts = { lock: await bareLdapts(slapd, uids, 'lock', opts.concurrency), unlock: 0 };
      await holds(n, `after bare ldapts lock of ${n}`);
      ldapts.unlock = await bareLdapts(slapd, uids, 'unlock', opts.concurrency);
      await holds(0, `after bare ldapts unlock of ${n}`);

      const disable = await measuredBulk(engine, 'disable', uids, opts.bulkTimeoutMs, checks);
      await holds(n, `after the engine's bulk Disable of ${n}`);
      const enable = await measuredBulk(engine, 'enable', uids, opts.bulkTimeoutMs, checks);
      await holds(0, `after the engine's bulk Enable of ${n}`);
      // The bare rate of this machine moves by tens of percent from one minute to the next: measured on both
      // sides of the engine's bulks, the ratio compares the engine with the directory's pace around it.
      await bare('after the engine');
      sizes.push({
        size: n,
        ldapmodify,
        ldapts,
        disable: disable.result,
        enable: enable.result,
        memory: { disable: disable.memory, enable: enable.memory },
        cpu: { disable: disable.cpu, enable: enable.cpu },
      });
    }
    return { sizes, latency, versions, checks, warmUp };
  } finally {
    await engine?.stop();
    cleanup();
    await slapd.stop();
  }
}

/** Accounts of the k-th bulk size: a prefix of their own, so one bulk never sees another's history. */
function prefixOf(k: number, n: number): string {
  return `bulk${k}x${n}-`;
}

function accountsOf(k: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefixOf(k, n)}${i}`);
}

/** A bulk with the API's and the worker's memory watched while it runs, and its tasks checked after. */
async function measuredBulk(
  engine: FaultEngine,
  action: BulkAction,
  uids: string[],
  timeoutMs: number,
  checks: Check[],
): Promise<{ result: BulkResult; memory: Record<string, MemoryPeak>; cpu: CpuSplit }> {
  log(`${uids.length} accounts: the engine's bulk ${action === 'disable' ? 'Disable' : 'Enable'}`);
  const window = new MemoryWindow({ api: engine.api.pid, worker: engine.workers[0].pid });
  const cpuWindow = new CpuWindow({ api: engine.api.pid, worker: engine.workers[0].pid });
  let result: BulkResult;
  try {
    result = await runBulk(engine, action, uids, timeoutMs);
  } catch (e) {
    window.end();
    throw e;
  }
  const memory = window.end();
  const cpu = cpuWindow.end();
  const c = result.counts;
  const successful = c.byStatus.successful ?? 0;
  checks.push({
    what: `every task of the bulk ${action} of ${uids.length} successful, one task.completed each, no failed target`,
    ok: successful === uids.length && c.failedTargets === 0 && c.completedEventsNotOne === 0,
    detail: `${successful} of ${uids.length} successful (${JSON.stringify(c.byStatus)}), ${c.failedTargets} failed targets, ${c.completedEventsNotOne} tasks without exactly one task.completed, ${c.retriedTargets} targets retried`,
  });
  const b = result.batch;
  checks.push({
    what: `GET /api/v1/batches/{id} after the bulk ${action} of ${uids.length}`,
    ok:
      b.done &&
      b.requested === uids.length &&
      b.accepted === uids.length &&
      b.counts.successful === uids.length,
    detail: `done ${b.done}, requested ${b.requested}, accepted ${b.accepted}, counts ${JSON.stringify(b.counts)}`,
  });
  return { result, memory, cpu };
}

async function slapdHolds(
  slapd: SlapdHandle,
  prefix: string,
  users: number,
  locked: number,
  when: string,
): Promise<Check> {
  const seen = await countLocked(slapd, prefix);
  return {
    what: `slapd ${when}`,
    ok: seen.users === users && seen.locked === locked,
    detail: `${seen.locked} of ${seen.users} accounts carry pwdAccountLockedTime ${locked ? '(all expected)' : '(none expected)'}`,
  };
}

async function serverVersions(engine: FaultEngine): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const slapd = spawnSync('/usr/sbin/slapd', ['-VV'], { encoding: 'utf8' });
  const m = /slapd ([\w.+~-]+)/.exec(`${slapd.stdout}${slapd.stderr}`);
  if (m) out.slapd = m[1];
  const [pg] = await engine.query<{ server_version: string }>('SHOW server_version');
  out.PostgreSQL = pg.server_version.split(' ')[0];
  const redis = new IORedis(REDIS_URL, { lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info('server');
    out.Redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return out;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.stack}`);
  process.exit(1);
});
