import { describe, expect, it } from '@jest/globals';
import { MAX_RECONNECT_DELAY_MS, reconnectDelay } from './connection.js';

describe('reconnectDelay', () => {
  it('starts at 50 ms and doubles', () => {
    const middle = () => 0.5;
    expect([1, 2, 3, 4].map((times) => reconnectDelay(times, middle))).toEqual([50, 100, 200, 400]);
  });

  it('never waits more than 0.6 s between attempts, however long Redis is away', () => {
    for (const times of [5, 6, 10, 100, 10_000]) {
      expect(reconnectDelay(times, () => 0.999)).toBeLessThanOrEqual(MAX_RECONNECT_DELAY_MS * 1.2);
      expect(reconnectDelay(times, () => 0)).toBeGreaterThanOrEqual(MAX_RECONNECT_DELAY_MS * 0.8);
    }
  });

  it('spreads a fleet of relays by ±20 %', () => {
    expect(reconnectDelay(20, () => 0)).toBe(400);
    expect(reconnectDelay(20, () => 1)).toBe(600);
  });
});
