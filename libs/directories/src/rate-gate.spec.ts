import { RateGate } from './rate-gate';

describe('RateGate', () => {
  let now = 1_000_000;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('starts a target only while every bucket has room for what it reserves', async () => {
    const gate = new RateGate({ get: 3, write: 1 }, 5_000, false, clock);
    gate.observe('write', { limit: 10, remaining: 2, resetAt: now + 60_000 });
    expect(gate.waitBeforeStart()).toBe(0);
    const finish: Array<() => void> = [];
    const running = () => gate.runTarget(() => new Promise<void>((r) => finish.push(r)));
    const first = running();
    const second = running();
    // Both writes left are reserved by targets still running: the next target waits for the window's end.
    expect(gate.waitBeforeStart()).toBe(60_000);
    finish[0]();
    await first;
    // The first one ended without writing: its reservation is free again.
    expect(gate.waitBeforeStart()).toBe(0);
    await gate.runTarget(() => gate.acquire('write'));
    expect(gate.waitBeforeStart()).toBe(60_000);
    now += 60_000;
    expect(gate.waitBeforeStart()).toBe(0);
    finish[1]();
    await second;
  });

  it('lets a running target spend its reservation even when the bucket is otherwise spent', async () => {
    const gate = new RateGate({ write: 1 }, 5_000, false, clock);
    gate.observe('write', { limit: 10, remaining: 1, resetAt: now + 60_000 });
    await gate.runTarget(async () => {
      await gate.acquire('write');
      // A second write was not reserved and the bucket is empty: a minute is too long to wait inside a target.
      await expect(gate.acquire('write')).rejects.toMatchObject({
        code: 'rateLimited',
        transient: true,
        retryAfterMs: 60_000,
      });
    });
  });

  it('holds requests outside targets back only after a 429', async () => {
    const gate = new RateGate({ write: 1 }, 5_000, false, clock);
    gate.observe('write', { limit: 10, remaining: 0, resetAt: now + 60_000 });
    await gate.acquire('write');
    gate.block('write', 30_000);
    await expect(gate.acquire('write')).rejects.toMatchObject({ retryAfterMs: 30_000 });
    expect(gate.waitBeforeStart()).toBe(60_000);
    now += 30_000;
    await gate.acquire('write');
  });

  it('opens a counted bucket again when a 429 block ends, even with no window end known', async () => {
    const gate = new RateGate({ get: 1 }, 5_000, false, clock);
    gate.observe('get', { limit: 5, remaining: 4, resetAt: now + 1_000 });
    now += 1_000; // the window ended; the next one's end is not known yet
    gate.block('get', 2_000);
    expect(gate.waitBeforeStart()).toBe(2_000);
    now += 2_000;
    expect(gate.waitBeforeStart()).toBe(0);
    await gate.runTarget(() => gate.acquire('get'));
  });

  it('ignores what an answer from an ended window says, and lowers its count from a later one', () => {
    const gate = new RateGate({ get: 1 }, 5_000, false, clock);
    gate.observe('get', { limit: 5, remaining: 0, resetAt: now - 1 });
    expect(gate.waitBeforeStart()).toBe(0);
    gate.observe('get', { limit: 5, remaining: 0, resetAt: now + 2_000 });
    expect(gate.waitBeforeStart()).toBe(2_000);
  });

  it('sits out a 429 whose window ends before the one it knows, then goes on with the known count', async () => {
    // Found by CI: a 429 naming a reset 3 s away, while the answers before it named a window ending in 50 s,
    // emptied the bucket for the whole 50 s (the later end and the lower count were both kept), so an Okta
    // target that met a short refusal waited up to a minute.
    const gate = new RateGate({ get: 1 }, 5_000, false, clock);
    gate.observe('get', { limit: 2_000, remaining: 1_500, resetAt: now + 50_000 });
    gate.observe('get', { limit: 600, remaining: 0, resetAt: now + 3_000 });
    gate.block('get', 3_000);
    expect(gate.waitBeforeStart()).toBe(3_000);
    now += 3_000;
    expect(gate.waitBeforeStart()).toBe(0);
    await gate.runTarget(() => gate.acquire('get'));
  });

  it('takes the answers of one window as one, though their ends differ by the rounding of the Date header', () => {
    const gate = new RateGate({ get: 1 }, 5_000, false, clock);
    gate.observe('get', { limit: 5, remaining: 3, resetAt: now + 10_400 });
    gate.observe('get', { limit: 5, remaining: 0, resetAt: now + 10_000 });
    expect(gate.waitBeforeStart()).toBe(10_400);
  });

  it('takes the count of the next window when it begins before the estimated end of the last one', () => {
    // The end is estimated from whole-second headers, so the directory may start its next window first: its
    // answers must not leave the last window's 0 in place until the next window's end.
    const gate = new RateGate({ write: 1 }, 5_000, false, clock);
    gate.observe('write', { limit: 600, remaining: 0, resetAt: now + 800 });
    expect(gate.waitBeforeStart()).toBe(800);
    now += 300;
    gate.observe('write', { limit: 600, remaining: 599, resetAt: now + 60_000 });
    expect(gate.waitBeforeStart()).toBe(0);
  });
});
