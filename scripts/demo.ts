import 'reflect-metadata';
import { ensureSystemPackages } from '../test/harness/system-packages';
import { startEngine, TestEngine } from '../test/harness/engine';
import { BUNDLED, BundledDirectory, DEMO_ACCOUNT } from './demo/bundled-directories';

/**
 * `npm run demo`: the main job end to end. Brings up the bundled directories, the API and a worker, then
 * walks one account through Disable and Enable in every directory, printing statuses and reading the state
 * back from each directory itself.
 */
async function main(): Promise<void> {
  process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'error';
  await ensureSystemPackages();
  const directories: BundledDirectory[] = [];
  let engine: TestEngine | null = null;
  try {
    for (const d of BUNDLED) {
      process.stdout.write(`starting ${d.name}... `);
      directories.push(await d.start());
      console.log('up');
    }
    engine = await startEngine({ label: 'demo', workers: 1, providers: directories.map((d) => d.provider) });
    console.log(`API on ${engine.baseUrl} (OpenAPI: ${engine.baseUrl}/api/docs), worker running\n`);

    await showStates('before', directories);
    for (const [label, path, body] of [
      [
        'Disable User Account',
        '/api/v1/tasks/disable-account',
        { account: DEMO_ACCOUNT, description: 'demo: suspicious sign-in' },
      ],
      [
        'Enable User Account',
        '/api/v1/tasks/enable-account',
        { account: DEMO_ACCOUNT, description: 'demo: verified safe' },
      ],
    ] as const) {
      const started = Date.now();
      const res = await engine.request('POST', path, { body });
      if (res.status !== 202) throw new Error(`${label}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      console.log(`\n${label}: POST ${path} -> 202, task ${res.body.id}`);
      const task = await engine.waitForTask(res.body.id, 120_000);
      console.log(`  task status: ${task.status} (${Date.now() - started} ms)`);
      for (const t of task.targets) {
        const error = t.error ? `  error ${t.error.code}: ${t.error.message}` : '';
        console.log(
          `  ${t.provider.padEnd(12)} ${t.kind.padEnd(16)} ${t.status.padEnd(10)} ${String(t.outcome).padEnd(16)} ${t.objectId ?? ''}${error}`,
        );
      }
      await showStates(`after ${label}`, directories);
      if (task.status !== 'successful') process.exitCode = 1;
    }
  } finally {
    await engine?.stop();
    await Promise.allSettled(directories.map((d) => d.stop()));
  }
}

async function showStates(when: string, directories: BundledDirectory[]): Promise<void> {
  console.log(`  directory state ${when}:`);
  for (const d of directories) console.log(`    ${d.provider.id.padEnd(12)} ${await d.describe()}`);
}

main().catch((e: Error) => {
  console.error(`demo failed: ${e.message}`);
  process.exit(1);
});
