import { startSambaDc } from '../harness/samba';

type Stops = Array<() => Promise<void>>;

/**
 * Starts the one Samba AD DC of this test run (port 636 is fixed, so there can be only one) and hands its
 * connection facts to the specs through TEST_AD_* environment variables. The stop joins the global teardown.
 */
export async function startSharedSambaDc(): Promise<void> {
  const dc = await startSambaDc();
  Object.assign(process.env, dc.env);
  const g = globalThis as { __testServiceStops?: Stops };
  (g.__testServiceStops ??= []).push(dc.stop);
  process.stdout.write(
    `\nSamba AD DC ready (${dc.provisioning}: provision ${dc.provisionMs} ms, start ${dc.startMs} ms)\n`,
  );
}
