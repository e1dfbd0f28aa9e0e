import { DataSource } from 'typeorm';
import { openLdapProvider, startSlapd, SlapdHandle } from '../harness/slapd';
import { startEngine, TestEngine } from '../harness/engine';

// Two worker processes finishing the targets of the same tasks at the same moment: every task must be
// rolled up exactly once, to the right status.
describe('roll-up with two workers', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;

  beforeAll(async () => {
    slapd = await startSlapd();
    // Three providers over one slapd, so each task has three targets finishing concurrently.
    engine = await startEngine({
      label: 'rollup',
      workers: 2,
      providers: ['a', 'b', 'c'].map((id) => openLdapProvider(slapd, { id })),
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await slapd?.stop();
  });

  it('completes each of 30 tasks exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      await slapd.addUser({ uid: `many${i}`, password: 'Secret-123' });
      const res = await engine.request('POST', '/api/v1/tasks/disable-account', {
        body: { account: `many${i}` },
      });
      ids.push(res.body.id);
    }
    const tasks = await Promise.all(ids.map((id) => engine.waitForTask(id, 60_000)));
    for (const t of tasks) {
      expect(t.status).toBe('successful');
      // The first target to run disables; the other two providers (same slapd) find it already disabled.
      expect(t.targets.map((x) => x.outcome).sort()).toEqual(expect.arrayContaining(['disabled']));
    }
    const completed: Array<{ task_id: string; n: string }> = await engine.api
      .get(DataSource)
      .query(`SELECT task_id, count(*) AS n FROM task_events WHERE type = 'task.completed' GROUP BY task_id`);
    expect(completed).toHaveLength(30);
    expect(completed.every((r) => Number(r.n) === 1)).toBe(true);
  });

  it('refuses to change a task once it has left inProgress, in the database', async () => {
    const [row]: Array<{ id: string }> = await engine.api
      .get(DataSource)
      .query(`SELECT id FROM tasks WHERE status = 'successful' LIMIT 1`);
    await expect(
      engine.api.get(DataSource).query(`UPDATE tasks SET status = 'unsuccessful' WHERE id = $1`, [row.id]),
    ).rejects.toThrow(/already ended/);
  });

  it('keeps the event record append-only', async () => {
    await expect(engine.api.get(DataSource).query(`DELETE FROM task_events`)).rejects.toThrow(/append-only/);
  });
});
