import { DataSource } from 'typeorm';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

const TASKS = 60;

/**
 * A rolling restart of the worker under load (issue #9): the old worker is stopped gracefully while tasks are
 * running (it takes no new job and lets its directory calls finish), a new one takes over. Nothing is lost
 * and nothing runs twice in the directory: every target ends after exactly one attempt, as `disabled`.
 */
describe('worker rolling restart under load', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;

  beforeAll(async () => {
    slapd = await startSlapd();
    engine = await startEngine({
      label: 'rolling',
      workers: 1,
      providers: [{ ...openLdapProvider(slapd), concurrency: 4 }],
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  it('loses nothing and runs nothing twice', async () => {
    const dns = await Promise.all(
      Array.from({ length: TASKS }, (_, i) => slapd.addUser({ uid: `roll${i}`, password: 'Passw0rd-1' })),
    );
    const ids = await Promise.all(
      dns.map(async (_, i) => {
        const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
          body: { account: `roll${i}` },
        });
        expect(res.status).toBe(202);
        return res.body.id as string;
      }),
    );
    const db = engine.api.get(DataSource);
    const done = async () =>
      Number((await db.query(`SELECT count(*) AS n FROM tasks WHERE status <> 'inProgress'`))[0].n);
    const deadline = Date.now() + 30_000;
    while ((await done()) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10)); // polling

    const [old] = engine.workers.splice(0);
    await old.close();
    // The stopped worker left no target half-done: each one it had started finished before it closed.
    expect(
      Number((await db.query(`SELECT count(*) AS n FROM task_targets WHERE status = 'running'`))[0].n),
    ).toBe(0);
    const finishedByOld = await done();

    await engine.startWorker();
    const tasks = await Promise.all(ids.map((id) => engine.waitForTask(id, 60_000)));
    for (const t of tasks) {
      expect(t.status).toBe('successful');
      expect(t.targets[0]).toMatchObject({ status: 'succeeded', outcome: 'disabled', attempts: 1 });
    }
    for (const dn of dns) {
      expect((await slapd.readAttributes(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toEqual([
        '000001010000Z',
      ]);
    }
    console.log(
      `rolling restart: ${TASKS} accepted, ${finishedByOld} ended before the restart, ${TASKS} ended, all disabled once`,
    );
  });
});
