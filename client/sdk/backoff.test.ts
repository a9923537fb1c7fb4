import { describe, expect, it } from '@jest/globals';
import { backoffDelay } from './backoff.js';

const options = { initialMs: 100, maxMs: 5000 };
const almostOne = 1 - Number.EPSILON;

describe('backoffDelay', () => {
  it('doubles the cap with each attempt', () => {
    const caps = [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, options, () => almostOne));
    expect(caps).toEqual([99, 199, 399, 799, 1599]);
  });

  it('never exceeds maxMs, even after very many attempts', () => {
    for (const attempt of [6, 10, 20, 50, 1000, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelay(attempt, options, () => almostOne);
      expect(delay).toBe(4999);
    }
  });

  it('draws uniformly below the cap (full jitter)', () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(400);
    expect(backoffDelay(3, options, () => 0.25)).toBe(200);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(backoffDelay(2, options, () => 0.3333))).toBe(true);
  });

  it('spreads clients that fail together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(8, options)));
    expect(delays.size).toBeGreaterThan(40);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(5000);
    }
  });
});
