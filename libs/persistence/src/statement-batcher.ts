/**
 * Runs the calls of one statement that workers make at about the same time as one execution over all of them.
 *
 * Why: in a bulk, thirty targets each send the same small statement (claim, fence, finish) within a millisecond,
 * and PostgreSQL spent most of its time on each statement's start, commit and WAL flush, not on its row: ten
 * claims in one statement ran at nearly eight times the rows per second of one claim each (docs/decisions.md). A call waits only while
 * earlier batches of its statement fill the slots (maxInFlight), which is when the next batch gathers; a lone
 * call goes out at the next turn of the event loop, as a batch of one. Under load (the last batch carried
 * several calls) the next batch may also wait a few milliseconds to gather more (`gather`): each execution
 * PostgreSQL is spared is worth far more CPU than the row it carries.
 *
 * What keeps it the same as calls one by one:
 * - Two calls sharing a key (a task, a directory object) are never in one batch, and a call left out keeps a
 *   later call with its key from overtaking it. The statements rely on this: one statement cannot change a
 *   row twice, nor upsert one key twice. Across batches, PostgreSQL's row locks order them as they ordered
 *   calls one by one.
 * - The batch is one statement, so it is atomic: when it fails (a deadlock, a constraint one item broke),
 *   nothing of it happened, and each call runs again alone, failing or succeeding as it would have without
 *   the batch. (A connection lost after PostgreSQL committed is the one exception; the worker's statements
 *   are safe to run twice for the same attempt, as they were when BullMQ ran a job again.)
 */
export class StatementBatcher<I, O> {
  private queue: Array<Pending<I, O>> = [];
  private inFlight = 0;
  private scheduled = false;
  /** Calls in the batch sent last: more than one means the calls come faster than PostgreSQL answers. */
  private lastBatch = 0;
  private gathering: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: {
      /** The statement over these items (one or more); one result per item, in the items' order. */
      run: (items: I[]) => Promise<O[]>;
      /** Keys of what the item's statement writes: items sharing one never share a batch. */
      keys: (item: I) => string[];
      maxBatch: number;
      /** Batches of this statement in PostgreSQL at once; below the pool's size, leaving room for the rest. */
      maxInFlight: number;
      /**
       * Under load, how long a batch may wait for more calls (`ms`), going out as soon as `upTo` are queued.
       * Never when the last batch was a lone call: a single task's latency does not change.
       */
      gather?: { ms: number; upTo: number };
    },
  ) {}

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, keys: this.options.keys(item), resolve, reject });
      if (this.gathering && this.queue.length >= (this.options.gather?.upTo ?? 0)) {
        clearTimeout(this.gathering);
        this.gathering = null;
        this.flush();
        return;
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    const gather = this.options.gather;
    if (gather && this.lastBatch > 1 && this.queue.length < gather.upTo) {
      this.gathering = setTimeout(() => {
        this.gathering = null;
        this.flush();
      }, gather.ms);
      return;
    }
    // The calls of the jobs that resumed in this turn of the event loop join the same batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) this.send(this.take());
  }

  /** The next batch: queued calls in order, skipping (and keeping in order) those whose keys are taken. */
  private take(): Array<Pending<I, O>> {
    const batch: Array<Pending<I, O>> = [];
    const rest: Array<Pending<I, O>> = [];
    const taken = new Set<string>();
    for (const p of this.queue) {
      const fits = batch.length < this.options.maxBatch && !p.keys.some((k) => taken.has(k));
      (fits ? batch : rest).push(p);
      // A call left behind still holds its keys, so a later call with the same key cannot overtake it.
      for (const k of p.keys) taken.add(k);
    }
    this.queue = rest;
    return batch;
  }

  private send(batch: Array<Pending<I, O>>): void {
    this.inFlight++;
    this.lastBatch = batch.length;
    void this.execute(batch).finally(() => {
      this.inFlight--;
      this.schedule();
    });
  }

  private async execute(batch: Array<Pending<I, O>>): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await this.options.run(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(results[i]));
        return;
      } catch {
        // Rolled back whole: each call runs alone below and meets its own fate.
      }
    }
    await Promise.all(
      batch.map((p) =>
        this.options.run([p.item]).then(
          ([r]) => p.resolve(r),
          (e: unknown) => p.reject(e),
        ),
      ),
    );
  }
}

interface Pending<I, O> {
  item: I;
  keys: string[];
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}
