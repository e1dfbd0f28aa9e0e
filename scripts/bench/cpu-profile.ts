import 'reflect-metadata';
import type { FaultEngine } from '../../test/faults/harness/fault-engine';
import { openLdapProvider, startSlapd } from '../../test/harness/slapd';
import { CpuWindow, formatCpuSplit } from './cpu-split';
import { runBulk } from './engine-bulk';
import { benchOptions } from './options';
import { startEngineProcesses } from './processes';
import { addUsers } from './slapd-bare';

/**
 * A quick look at where one bulk's CPU goes, without the whole bench:
 * `BENCH_BULK_SIZES=3000 NODE_EXTRA_CA_CERTS=… ts-node scripts/bench/cpu-profile.ts`. Prints the rate and the
 * CPU split of a bulk Disable and a bulk Enable of fresh accounts.
 */
async function main(): Promise<void> {
  const opts = benchOptions();
  const n = opts.bulkSizes[0];
  const slapd = await startSlapd();
  let engine: FaultEngine | null = null;
  let cleanup = () => undefined as void;
  try {
    const uids = Array.from({ length: n }, (_, i) => `prof-${i}`);
    await addUsers(slapd, uids);
    ({ engine, cleanup } = await startEngineProcesses(
      [openLdapProvider(slapd, { concurrency: opts.concurrency })],
      opts,
    ));
    for (const action of ['disable', 'enable'] as const) {
      const cpu = new CpuWindow({ api: engine.api.pid, worker: engine.workers[0].pid });
      const r = await runBulk(engine, action, uids, opts.bulkTimeoutMs);
      const split = cpu.end();
      const rate = (n / r.totalMs) * 1000;
      console.log(`${action} ${n}: ${rate.toFixed(0)} tasks/s in ${(r.totalMs / 1000).toFixed(1)} s`);
      console.log(`  CPU: ${formatCpuSplit(split, n)}`);
    }
  } finally {
    await engine?.stop();
    cleanup();
    await slapd.stop();
  }
}

main().catch((e: Error) => {
  console.error(e.stack);
  process.exit(1);
});
