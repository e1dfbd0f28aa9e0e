import type { FaultEngine, TaskCounts } from '../../test/faults/harness/fault-engine';

export type BulkAction = 'disable' | 'enable';

export interface CreatedBulk {
  batchId: string;
  /** Accepted tasks, in request order. */
  taskIds: string[];
  /** Accounts the API refused, with the first refusal's code. */
  rejected: number;
  firstRejection: string | null;
  /** POST sent → answer received. */
  acceptMs: number;
}

/**
 * One bulk of `accounts`, the way a client creates it: one POST to the bulk route, answered 207 with an item
 * per account in request order. Everything else in the bench goes through here.
 */
export async function createBulk(
  engine: FaultEngine,
  action: BulkAction,
  accounts: string[],
): Promise<CreatedBulk> {
  const started = performance.now();
  const res = await engine.request('POST', `/api/v1/tasks/${action}-accounts`, {
    accounts,
    description: `npm run bench: bulk ${action} of ${accounts.length}`,
  });
  const acceptMs = performance.now() - started;
  if (res.status !== 207 || !Array.isArray(res.body?.items)) {
    throw new Error(`POST ${action}-accounts: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  }
  const items = res.body.items as Array<{ status: number; taskId?: string; error?: { code: string } }>;
  const taskIds = items.filter((i) => i.status === 202).map((i) => i.taskId as string);
  const refused = items.filter((i) => i.status !== 202);
  return {
    batchId: res.body.batchId as string,
    taskIds,
    rejected: refused.length,
    firstRejection: refused.length ? `${refused[0].status} ${refused[0].error?.code}` : null,
    acceptMs,
  };
}

export interface BulkResult {
  action: BulkAction;
  accounts: number;
  created: CreatedBulk;
  /** POST sent → the last task final, as PostgreSQL records it. */
  totalMs: number;
  counts: TaskCounts;
  /** GET /api/v1/batches/{id} once the bulk is done: what a client polling the batch would have seen last. */
  batch: BatchView;
}

export interface BatchView {
  requested: number;
  accepted: number;
  rejected: number;
  counts: { inProgress: number; successful: number; partiallySuccessful: number; unsuccessful: number };
  done: boolean;
}

/**
 * Creates the bulk and waits until no task of it is inProgress. Progress is read from PostgreSQL, not from the
 * API, so that the waiting adds no load to the process being measured; it is printed every few seconds.
 */
export async function runBulk(
  engine: FaultEngine,
  action: BulkAction,
  accounts: string[],
  timeoutMs: number,
): Promise<BulkResult> {
  const started = performance.now();
  const created = await createBulk(engine, action, accounts);
  if (created.rejected) {
    throw new Error(
      `${action} bulk: ${created.rejected} of ${accounts.length} refused, e.g. ${created.firstRejection}`,
    );
  }
  const ids = created.taskIds;
  let lastPrint = 0;
  for (const deadline = Date.now() + timeoutMs; ;) {
    // The poll is load on the PostgreSQL being measured: every 100 ms it only counts the tasks still in
    // progress (tasks_batch_idx, a range that shrinks as the bulk goes), and every 2 s all of them by status.
    const [{ open }] = await engine.query<{ open: number }>(
      `SELECT count(*)::int AS open FROM tasks WHERE batch_id = $1 AND status = 'inProgress'`,
      [created.batchId],
    );
    if (open === 0) break;
    if (Date.now() - lastPrint > 2_000) {
      lastPrint = Date.now();
      const rows = await engine.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM tasks WHERE batch_id = $1 GROUP BY status`,
        [created.batchId],
      );
      const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(
        `bench:   ${action} ${accounts.length} at ${secs} s: ${JSON.stringify(byStatus)}\n`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${action} bulk: ${open} of ${ids.length} tasks still inProgress after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100)); // a polling interval, not a stand-in for synchronisation
  }
  const totalMs = performance.now() - started;
  const batch = await engine.request('GET', `/api/v1/batches/${created.batchId}`);
  if (batch.status !== 200)
    throw new Error(`GET batch ${created.batchId}: ${batch.status} ${JSON.stringify(batch.body)}`);
  return {
    action,
    accounts: accounts.length,
    created,
    totalMs,
    counts: await engine.counts(ids),
    batch: batch.body as BatchView,
  };
}

export interface Latency {
  /** completed_at − created_at, as the database records the task. */
  server: number[];
  /** POST sent → a GET shows the task final, polling every 5 ms. */
  client: number[];
}

/** `accounts.length` Disable tasks one after another, each waited for before the next is posted. */
export async function singleTaskLatency(engine: FaultEngine, accounts: string[]): Promise<Latency> {
  const out: Latency = { server: [], client: [] };
  for (const account of accounts) {
    const t0 = performance.now();
    const res = await engine.request('POST', '/api/v1/tasks/disable-account', { account });
    if (res.status !== 202)
      throw new Error(`POST disable-account ${account}: ${res.status} ${JSON.stringify(res.body)}`);
    const id = res.body.id as string;
    for (const deadline = Date.now() + 60_000; ;) {
      const got = await engine.request('GET', `/api/v1/tasks/${id}`);
      if (got.body?.status && got.body.status !== 'inProgress') {
        if (got.body.status !== 'successful') throw new Error(`task ${id} ended ${got.body.status}`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`task ${id} did not finish`);
      await new Promise((r) => setTimeout(r, 5));
    }
    out.client.push(performance.now() - t0);
    const [row] = await engine.query<{ ms: number }>(
      `SELECT extract(epoch FROM (completed_at - created_at)) * 1000 AS ms FROM tasks WHERE id = $1`,
      [id],
    );
    out.server.push(Number(row.ms));
  }
  return out;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}
