import { describe, expect, it } from '@jest/globals';
import { abortableSleep, Backoff, backoffDelay } from './backoff.js';

describe('backoff', () => {
  const options = { initialMs: 500, maxMs: 30_000 };

  it('doubles from initialMs and never exceeds maxMs', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20, 5000].map((failures) =>
      backoffDelay(failures, { ...options, jitter: 0 }, 0.7),
    );
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  });

  it('keeps every jittered delay within [base × (1 − jitter), base]', () => {
    for (const failures of [1, 3, 10]) {
      const base = Math.min(30_000, 500 * 2 ** (failures - 1));
      const low = backoffDelay(failures, { ...options, jitter: 0.5 }, 1);
      const high = backoffDelay(failures, { ...options, jitter: 0.5 }, 0);
      expect(low).toBe(Math.round(base / 2));
      expect(high).toBe(base);
      for (let i = 0; i < 100; i += 1) {
        const delay = backoffDelay(failures, { ...options, jitter: 0.5 }, Math.random());
        expect(delay).toBeGreaterThanOrEqual(low);
        expect(delay).toBeLessThanOrEqual(high);
      }
    }
  });

  it('spreads delays: different random draws give different waits', () => {
    const a = backoffDelay(4, options, 0.1);
    const b = backoffDelay(4, options, 0.9);
    expect(a).not.toBe(b);
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ ...options, jitter: 0 }, () => 0);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([500, 1000, 2000]);
    expect(backoff.consecutiveFailures).toBe(3);
    backoff.reset();
    expect(backoff.next()).toBe(500);
  });

  it('rejects nonsensical bounds', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10 })).toThrow(/initialMs/);
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(/maxMs/);
  });

  it('wakes a sleep early when its signal aborts', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const sleeping = abortableSleep(10_000, abort.signal);
    abort.abort();
    await sleeping;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
