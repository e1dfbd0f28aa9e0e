import { StatementBatcher } from './statement-batcher';

interface Item {
  id: string;
  keys: string[];
}

/** A statement whose executions the test finishes by hand, recording which items each one carried. */
function statement(fail?: (items: Item[]) => Error | null) {
  const runs: Array<{ items: string[]; finish: () => void }> = [];
  const run = (items: Item[]) =>
    new Promise<string[]>((resolve, reject) => {
      runs.push({
        items: items.map((i) => i.id),
        finish: () => {
          const err = fail?.(items);
          if (err) reject(err);
          else resolve(items.map((i) => `done:${i.id}`));
        },
      });
    });
  return { runs, run };
}

const turn = () => new Promise((r) => setImmediate(r));
/** Lets a finished batch hand back its results and the next batch go out (each takes a turn). */
const settle = async () => {
  for (let i = 0; i < 3; i++) await turn();
};

function batcher(
  run: (items: Item[]) => Promise<string[]>,
  maxBatch = 50,
  maxInFlight = 1,
  gather?: { ms: number; upTo: number },
) {
  return new StatementBatcher<Item, string>({ run, keys: (i) => i.keys, maxBatch, maxInFlight, gather });
}

describe('StatementBatcher', () => {
  it('sends a lone call at the next turn of the event loop, as a batch of one', async () => {
    const s = statement();
    const b = batcher(s.run);
    const result = b.run({ id: 'a', keys: ['a'] });
    await turn();
    expect(s.runs.map((r) => r.items)).toEqual([['a']]);
    s.runs[0].finish();
    await expect(result).resolves.toBe('done:a');
  });

  it('runs the calls of one turn together, in order, each getting its own result', async () => {
    const s = statement();
    const b = batcher(s.run);
    const results = ['a', 'b', 'c'].map((id) => b.run({ id, keys: [id] }));
    await turn();
    expect(s.runs.map((r) => r.items)).toEqual([['a', 'b', 'c']]);
    s.runs[0].finish();
    await expect(Promise.all(results)).resolves.toEqual(['done:a', 'done:b', 'done:c']);
  });

  it('gathers the calls made while a batch is in PostgreSQL into the next one', async () => {
    const s = statement();
    const b = batcher(s.run);
    const first = b.run({ id: 'a', keys: ['a'] });
    await turn();
    const later = ['b', 'c'].map((id) => b.run({ id, keys: [id] }));
    await turn();
    expect(s.runs.map((r) => r.items)).toEqual([['a']]);
    s.runs[0].finish();
    await first;
    await settle();
    expect(s.runs.map((r) => r.items)).toEqual([['a'], ['b', 'c']]);
    s.runs[1].finish();
    await expect(Promise.all(later)).resolves.toEqual(['done:b', 'done:c']);
  });

  it('never puts two calls sharing a key in one batch, and keeps their order across batches', async () => {
    const s = statement();
    const b = batcher(s.run);
    const results = [
      b.run({ id: 'a1', keys: ['task-a'] }),
      b.run({ id: 'b', keys: ['task-b'] }),
      b.run({ id: 'a2', keys: ['task-a', 'object-x'] }),
      // Its only clash is with a2, which waits: it must not overtake a2.
      b.run({ id: 'x', keys: ['object-x'] }),
      b.run({ id: 'c', keys: ['task-c'] }),
    ];
    await turn();
    expect(s.runs.map((r) => r.items)).toEqual([['a1', 'b', 'c']]);
    s.runs[0].finish();
    await settle();
    expect(s.runs[1].items).toEqual(['a2']);
    s.runs[1].finish();
    await settle();
    expect(s.runs[2].items).toEqual(['x']);
    s.runs[2].finish();
    await expect(Promise.all(results)).resolves.toEqual(['done:a1', 'done:b', 'done:a2', 'done:x', 'done:c']);
  });

  it('holds at most maxBatch calls per batch and maxInFlight batches at once', async () => {
    const s = statement();
    const b = batcher(s.run, 2, 2);
    const results = ['a', 'b', 'c', 'd', 'e'].map((id) => b.run({ id, keys: [id] }));
    await turn();
    expect(s.runs.map((r) => r.items)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    s.runs[0].finish();
    await settle();
    expect(s.runs.map((r) => r.items)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    s.runs[1].finish();
    s.runs[2].finish();
    await expect(Promise.all(results)).resolves.toEqual(['done:a', 'done:b', 'done:c', 'done:d', 'done:e']);
  });

  it('runs each call of a failed batch again alone, so one bad call fails alone', async () => {
    const s = statement((items) =>
      items.some((i) => i.id === 'bad') ? new Error('check constraint violated') : null,
    );
    const b = batcher(s.run);
    const results = ['a', 'bad', 'c'].map((id) =>
      b.run({ id, keys: [id] }).then(
        (r) => r,
        (e: Error) => `rejected:${e.message}`,
      ),
    );
    await turn();
    s.runs[0].finish();
    await settle();
    expect(s.runs.map((r) => r.items)).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    s.runs.slice(1).forEach((r) => r.finish());
    await expect(Promise.all(results)).resolves.toEqual([
      'done:a',
      'rejected:check constraint violated',
      'done:c',
    ]);
  });

  describe('gathering under load', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    it('waits up to gather.ms for more calls after a batch of several, and no longer once gather.upTo are queued', async () => {
      const s = statement();
      const b = batcher(s.run, 50, 1, { ms: 4, upTo: 3 });
      const all = ['a', 'b'].map((id) => b.run({ id, keys: [id] }));
      // Nothing was sent before: the first calls go at the next turn.
      await turn();
      expect(s.runs.map((r) => r.items)).toEqual([['a', 'b']]);
      s.runs[0].finish();
      await settle();

      // The last batch carried two calls: the next one waits to gather.
      all.push(b.run({ id: 'c', keys: ['c'] }));
      await settle();
      jest.advanceTimersByTime(3);
      all.push(b.run({ id: 'd', keys: ['d'] }));
      await settle();
      expect(s.runs).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await settle();
      expect(s.runs.map((r) => r.items)).toEqual([
        ['a', 'b'],
        ['c', 'd'],
      ]);
      s.runs[1].finish();
      await settle();

      // Full before the time is up: it goes at once.
      all.push(...['e', 'f', 'g'].map((id) => b.run({ id, keys: [id] })));
      await settle();
      expect(s.runs[2]?.items).toEqual(['e', 'f', 'g']);
      s.runs[2].finish();
      await settle();

      // A call alone after that still waits its gather.ms, and goes as a batch of one.
      all.push(b.run({ id: 'h', keys: ['h'] }));
      await settle();
      expect(s.runs).toHaveLength(3);
      jest.advanceTimersByTime(4);
      await settle();
      expect(s.runs[3]?.items).toEqual(['h']);
      s.runs[3].finish();
      await settle();

      // Once the load is gone (the last batch was a lone call), a call goes at the next turn again.
      all.push(b.run({ id: 'i', keys: ['i'] }));
      await turn();
      expect(s.runs[4]?.items).toEqual(['i']);
      s.runs[4].finish();
      await expect(Promise.all(all)).resolves.toEqual(
        ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((id) => `done:${id}`),
      );
    });
  });
});
