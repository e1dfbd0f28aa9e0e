import { Client } from 'pg';
import { TaskView } from '@app/engine';
import { openLdapProvider, SlapdHandle, startSlapd } from '../harness/slapd';
import { BatchView, HttpResult, startEngine, TestEngine } from '../harness/engine';

const LOCKED = 'pwdAccountLockedTime';
/** slapo-ppolicy's administrative lock, what a Disable writes (and an Enable deletes). */
const PERMANENT_LOCK = '000001010000Z';
const ROUNDS = 3;

interface BulkItem {
  account: unknown;
  status: number;
  taskId?: string;
  error?: { code: string; message: string; taskId?: string };
}

/** A bulk answer after its batch has ended: its items, its batch, and its tasks (as listed by batchId) by id. */
interface SettledBulk {
  items: BulkItem[];
  batch: BatchView;
  tasks: Map<string, TaskView>;
}

/**
 * CONTRACT §5 bulk routes racing each other and single requests, against a real slapd with two workers.
 * Task creation is serialised (one lock, `tasks.seq` is commit order) and a bulk is one transaction, so every
 * race has an order; each item must be answered exactly as one by one in that order, each batch must count
 * what it accepted, and once everything has ended slapd must hold what the last accepted task of each account
 * asked for (CONTRACT §4.1).
 */
describe('Bulk requests racing (CONTRACT §4.1, §5)', () => {
  let slapd: SlapdHandle;
  let engine: TestEngine;
  let db: Client;

  const post = (path: string, body: unknown) => engine.request('POST', path, { body });
  const lockOf = async (uid: string) => (await slapd.readAttributes(slapd.userDn(uid), [LOCKED]))[LOCKED];
  /** What slapd holds for an account, in the words of the task that asked for it. */
  const stateOf = async (uid: string) => {
    const lock = await lockOf(uid);
    if (lock === undefined) return 'enabled';
    return JSON.stringify(lock) === JSON.stringify([PERMANENT_LOCK]) ? 'disabled' : `locked ${lock}`;
  };
  const addUsers = async (prefix: string, n: number) => {
    const uids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    for (const uid of uids) await slapd.addUser({ uid, password: `${uid}-Secret1` });
    return uids;
  };
  const seqs = async (ids: string[]): Promise<Map<string, number>> => {
    const { rows } = await db.query(`SELECT id, seq::int AS seq FROM tasks WHERE id = ANY($1::uuid[])`, [
      ids,
    ]);
    return new Map(rows.map((r: { id: string; seq: number }) => [r.id, r.seq]));
  };

  /**
   * Checks what a user sees of a bulk answer: 207, `Location` naming the batch, one item per account in request
   * order; then waits for the batch to end and checks that it counts exactly the tasks it accepted, by status,
   * and that `GET /tasks?batchId=` lists exactly those tasks.
   */
  async function settle(res: HttpResult, accounts: string[], action: string): Promise<SettledBulk> {
    expect(res.status).toBe(207);
    const batchId: string = res.body.batchId;
    expect(res.headers.get('location')).toBe(`/api/v1/batches/${batchId}`);
    const items: BulkItem[] = res.body.items;
    expect(items.map((x) => x.account)).toEqual(accounts);
    for (const x of items) {
      if (x.status === 202) expect(typeof x.taskId).toBe('string');
      else expect(x.taskId).toBeUndefined();
    }
    const accepted = items.filter((x) => x.status === 202).map((x) => x.taskId as string);
    expect(new Set(accepted).size).toBe(accepted.length);

    const batch = await engine.waitForBatch(batchId, 40_000);
    const listed = await engine.listBatchTasks(batchId);
    expect(listed.map((t) => t.id).sort()).toEqual([...accepted].sort());
    const byStatus: Record<string, number> = {
      inProgress: 0,
      successful: 0,
      partiallySuccessful: 0,
      unsuccessful: 0,
    };
    for (const t of listed) {
      expect(t).toMatchObject({ batchId, action });
      byStatus[t.status]++;
    }
    expect(batch).toMatchObject({
      id: batchId,
      action,
      requested: accounts.length,
      accepted: accepted.length,
      rejected: accounts.length - accepted.length,
      counts: byStatus,
      done: true,
    });
    expect(byStatus.inProgress).toBe(0);
    return { items, batch, tasks: new Map(listed.map((t) => [t.id, t])) };
  }

  /** The only target's outcome (one provider is configured). */
  const outcome = (t: TaskView) => {
    expect(t.targets).toHaveLength(1);
    return t.targets[0].outcome;
  };

  /** An Enable accepted after a Disable of its account: that Disable must have ended before it was created. */
  const expectEndedBefore = (disable: TaskView, enable: TaskView) =>
    expect({
      disable: disable.id,
      endedBeforeEnableCreated: Date.parse(disable.completedAt as string) <= Date.parse(enable.createdAt),
    }).toEqual({ disable: disable.id, endedBeforeEnableCreated: true });

  /**
   * One raced account, whichever side was the bulk, in the order the API accepted the two (`tasks.seq`): an
   * Enable accepted first loses to the later Disable (stopped before it wrote, or it re-enabled the account and
   * the Disable disabled it again); one accepted after could be only once that Disable had ended, and is the
   * last; a refused one got exactly what one by one gets. Returns what slapd must hold.
   */
  function expectRaceVerdict(
    uid: string,
    disable: TaskView,
    enable: TaskView | null,
    refusal: { status: number; error?: BulkItem['error'] },
    seqOf: Map<string, number>,
    seen: { enableFirst: number; enableRefused: number; enableAfterDisableEnded: number },
  ): 'enabled' | 'disabled' {
    if (!enable) {
      seen.enableRefused++;
      expect({ uid, status: refusal.status, error: refusal.error }).toEqual({
        uid,
        status: 409,
        error: expect.objectContaining({ code: 'taskInProgress', taskId: disable.id }),
      });
      expect({ uid, disable: outcome(disable) }).toEqual({ uid, disable: 'alreadyDisabled' });
      return 'disabled';
    }
    if ((seqOf.get(enable.id) as number) < (seqOf.get(disable.id) as number)) {
      seen.enableFirst++;
      const pair = { uid, enable: [enable.status, outcome(enable)], disable: outcome(disable) };
      expect([
        { uid, enable: ['unsuccessful', 'superseded'], disable: 'alreadyDisabled' },
        { uid, enable: ['successful', 'enabled'], disable: 'disabled' },
      ]).toContainEqual(pair);
      return 'disabled';
    }
    // tasks.created_at is stamped when the row is written, after the checks.
    seen.enableAfterDisableEnded++;
    expectEndedBefore(disable, enable);
    expect({ uid, enable: [enable.status, outcome(enable)], disable: outcome(disable) }).toEqual({
      uid,
      enable: ['successful', 'enabled'],
      disable: 'alreadyDisabled',
    });
    return 'enabled';
  }

  /** Puts accounts in the state every Enable race starts from: a successful Disable, nothing in progress. */
  async function disableFirst(uids: string[]) {
    const res = await post('/api/v1/tasks/disable-accounts', { accounts: uids, description: 'set-up' });
    const { batch } = await settle(res, uids, 'disableAccount');
    expect(batch.counts.successful).toBe(uids.length);
    for (const uid of uids) expect(await stateOf(uid)).toBe('disabled');
  }

  beforeAll(async () => {
    slapd = await startSlapd();
    engine = await startEngine({
      label: 'bulkrace',
      workers: 2,
      providers: [{ ...openLdapProvider(slapd, { disableMethod: 'ppolicy' }), concurrency: 4 }],
    });
    db = new Client({ connectionString: engine.db.url });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await engine?.stop();
    await slapd?.stop();
  });

  it('accepts two overlapping bulk Disables in full; each shared account is written by one of them only', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const uids = await addUsers(`dd${round}u`, 60);
      // 40 accounts each, 20 shared; the second names every other shared account by its DN, so the two
      // creations cannot link them by name and only the object lease keeps their writes apart.
      const a = uids.slice(0, 40);
      const b = uids.slice(20, 60).map((uid, i) => (i < 20 && i % 2 === 0 ? slapd.userDn(uid) : uid));
      const [resA, resB] = await Promise.all([
        post('/api/v1/tasks/disable-accounts', { accounts: a, description: `wave ${round} a` }),
        post('/api/v1/tasks/disable-accounts', { accounts: b, description: `wave ${round} b` }),
      ]);
      // A Disable is always accepted (CONTRACT §4.1), also while another Disable of the account runs.
      const bulkA = await settle(resA, a, 'disableAccount');
      const bulkB = await settle(resB, b, 'disableAccount');
      for (const bulk of [bulkA, bulkB]) {
        expect(bulk.items.every((x) => x.status === 202)).toBe(true);
        expect(bulk.batch.counts.successful).toBe(40);
      }

      for (let i = 0; i < 60; i++) {
        const tasks: TaskView[] = [];
        if (i < 40) tasks.push(bulkA.tasks.get(bulkA.items[i].taskId as string) as TaskView);
        if (i >= 20) tasks.push(bulkB.tasks.get(bulkB.items[i - 20].taskId as string) as TaskView);
        for (const t of tasks) {
          expect(t.status).toBe('successful');
          expect(t.targets[0]).toMatchObject({ status: 'succeeded', objectId: slapd.userDn(uids[i]) });
        }
        // Two targets never act on one object at once: of two Disables of an account, the one that took the
        // object second found it disabled by the first.
        const outcomes = tasks.map(outcome).sort();
        expect({ uid: uids[i], outcomes }).toEqual({
          uid: uids[i],
          outcomes: tasks.length === 1 ? ['disabled'] : ['alreadyDisabled', 'disabled'],
        });
        expect({ uid: uids[i], state: await stateOf(uids[i]) }).toEqual({ uid: uids[i], state: 'disabled' });
      }
    }
  });

  it('races a bulk Enable with single Disables of its accounts: the last accepted task wins in slapd', async () => {
    const seen = { enableFirst: 0, enableRefused: 0, enableAfterDisableEnded: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const uids = await addUsers(`ed${round}u`, 20);
      await disableFirst(uids);
      const raced = [0, 6, 13, 19].map((i) => uids[i]);
      // Odd rounds name the raced accounts by DN: the Enable still has to see those Disables as the account's.
      const single = (uid: string) => (round % 2 ? slapd.userDn(uid) : uid);
      const sends = [
        () => post('/api/v1/tasks/enable-accounts', { accounts: uids, description: `all clear ${round}` }),
        ...raced.map((uid) => () => post('/api/v1/tasks/disable-account', { account: single(uid) })),
      ];
      const order = round % 2 ? [...sends].reverse() : sends;
      const answers = await Promise.all(order.map((send) => send()));
      if (round % 2) answers.reverse();
      const [bulkRes, ...disables] = answers;

      for (const d of disables) expect(d.status).toBe(202);
      const ended = await Promise.all(disables.map((d) => engine.waitForTask(d.body.id, 40_000)));
      const bulk = await settle(bulkRes, uids, 'enableAccount');
      const seqOf = await seqs([
        ...ended.map((t) => t.id),
        ...bulk.items.filter((x) => x.taskId).map((x) => x.taskId as string),
      ]);

      for (let i = 0; i < uids.length; i++) {
        const uid = uids[i];
        const item = bulk.items[i];
        const r = raced.indexOf(uid);
        if (r < 0) {
          // Nobody raced it: accepted and re-enabled, as one by one.
          expect(item.status).toBe(202);
          const t = bulk.tasks.get(item.taskId as string) as TaskView;
          expect({ uid, status: t.status, outcome: outcome(t) }).toEqual({
            uid,
            status: 'successful',
            outcome: 'enabled',
          });
          expect({ uid, state: await stateOf(uid) }).toEqual({ uid, state: 'enabled' });
          continue;
        }
        const disable = ended[r];
        expect(disable.status).toBe('successful');
        const enable = item.status === 202 ? (bulk.tasks.get(item.taskId as string) as TaskView) : null;
        const last = expectRaceVerdict(uid, disable, enable, item, seqOf, seen);
        expect({ uid, round, state: await stateOf(uid) }).toEqual({ uid, round, state: last });
      }
    }
    console.log(`bulk Enable against single Disables, raced accounts: ${JSON.stringify(seen)}`);
  });

  it('races single Enables with a bulk Disable of their accounts: the last accepted task wins in slapd', async () => {
    const seen = { enableFirst: 0, enableRefused: 0, enableAfterDisableEnded: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const uids = await addUsers(`de${round}u`, 20);
      const raced = [1, 8, 12, 18].map((i) => uids[i]);
      await disableFirst(raced);
      const single = (uid: string) => (round % 2 ? slapd.userDn(uid) : uid);
      const sends = [
        () => post('/api/v1/tasks/disable-accounts', { accounts: uids, description: `wave ${round}` }),
        ...raced.map((uid) => () => post('/api/v1/tasks/enable-account', { account: single(uid) })),
      ];
      const order = round % 2 ? sends : [...sends].reverse();
      const answers = await Promise.all(order.map((send) => send()));
      if (!(round % 2)) answers.reverse();
      const [bulkRes, ...enables] = answers;

      const bulk = await settle(bulkRes, uids, 'disableAccount');
      // A Disable is always accepted.
      expect(bulk.items.every((x) => x.status === 202)).toBe(true);
      const ended = await Promise.all(
        enables.map((e) => (e.status === 202 ? engine.waitForTask(e.body.id, 40_000) : null)),
      );
      const seqOf = await seqs([
        ...ended.filter((t): t is TaskView => t !== null).map((t) => t.id),
        ...bulk.items.map((x) => x.taskId as string),
      ]);

      for (let i = 0; i < uids.length; i++) {
        const uid = uids[i];
        const disable = bulk.tasks.get(bulk.items[i].taskId as string) as TaskView;
        expect(disable.status).toBe('successful');
        const r = raced.indexOf(uid);
        if (r < 0) {
          expect({ uid, outcome: outcome(disable), state: await stateOf(uid) }).toEqual({
            uid,
            outcome: 'disabled',
            state: 'disabled',
          });
          continue;
        }
        const answer = enables[r];
        const enable = ended[r];
        if (enable) expect(answer.status).toBe(202);
        const refusal = { status: answer.status, error: answer.body?.error };
        const last = expectRaceVerdict(uid, disable, enable, refusal, seqOf, seen);
        expect({ uid, round, state: await stateOf(uid) }).toEqual({ uid, round, state: last });
      }
    }
    console.log(`single Enables against a bulk Disable, raced accounts: ${JSON.stringify(seen)}`);
  });

  it('accepts one of two simultaneous bulk Enables of the same accounts; the other gets taskInProgress', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const uids = await addUsers(`ee${round}u`, 30);
      await disableFirst(uids);
      // The second names every other account by its DN, which the set-up Disables recorded.
      const a = uids;
      const b = uids.map((uid, i) => (i % 2 ? slapd.userDn(uid) : uid));
      const [resA, resB] = await Promise.all([
        post('/api/v1/tasks/enable-accounts', { accounts: a, description: `all clear ${round} a` }),
        post('/api/v1/tasks/enable-accounts', { accounts: b, description: `all clear ${round} b` }),
      ]);
      const bulkA = await settle(resA, a, 'enableAccount');
      const bulkB = await settle(resB, b, 'enableAccount');
      // A bulk is one transaction under the creation lock: whichever came first accepts every account, and the
      // other finds each of them with an Enable in progress (or, had that Enable already ended, nothing left to
      // reverse), exactly as one by one.
      const [winner, loser] = bulkA.items[0].status === 202 ? [bulkA, bulkB] : [bulkB, bulkA];
      expect(winner.items.map((x) => x.status)).toEqual(uids.map(() => 202));
      expect(winner.batch).toMatchObject({ accepted: 30, rejected: 0 });
      expect(winner.batch.counts.successful).toBe(30);
      expect(loser.batch).toMatchObject({
        accepted: 0,
        rejected: 30,
        counts: { inProgress: 0, successful: 0, partiallySuccessful: 0, unsuccessful: 0 },
      });
      for (let i = 0; i < uids.length; i++) {
        const uid = uids[i];
        const accepted = winner.tasks.get(winner.items[i].taskId as string) as TaskView;
        expect({ uid, status: accepted.status, outcome: outcome(accepted) }).toEqual({
          uid,
          status: 'successful',
          outcome: 'enabled',
        });
        const refused = loser.items[i];
        expect(refused.status).toBe(409);
        if (refused.error?.code === 'noPriorDisableTask') expect(refused.error.taskId).toBeUndefined();
        else
          expect({ uid, error: refused.error }).toEqual({
            uid,
            error: expect.objectContaining({ code: 'taskInProgress', taskId: accepted.id }),
          });
        expect({ uid, round, state: await stateOf(uid) }).toEqual({ uid, round, state: 'enabled' });
      }
    }
  });
});
