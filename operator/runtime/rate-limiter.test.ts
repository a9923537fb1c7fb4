import { describe, expect, it } from '@jest/globals';
import {
  BucketRateLimiter,
  GROVE_RATE_LIMITER_OPTIONS,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  RateLimiterOptionsError,
  defaultControllerRateLimiter,
} from './rate-limiter.js';
import { FakeClock } from './testing/fake-clock.js';

describe('rate limiter', () => {
  it('per-key backoff doubles from the base and caps at the max', () => {
    const limiter = new ItemExponentialFailureRateLimiter(200, 1000);
    expect([1, 2, 3, 4, 5].map(() => limiter.when('ns/a'))).toEqual([200, 400, 800, 1000, 1000]);
    expect(limiter.retries('ns/a')).toBe(5);
    // Keys back off independently.
    expect(limiter.when('ns/b')).toBe(200);
    expect(limiter.retries('ns/b')).toBe(1);
  });

  it('forget resets the backoff of that key only', () => {
    const limiter = new ItemExponentialFailureRateLimiter(200, 1000);
    limiter.when('ns/a');
    limiter.when('ns/a');
    limiter.when('ns/b');
    limiter.forget('ns/a');
    expect(limiter.retries('ns/a')).toBe(0);
    expect(limiter.when('ns/a')).toBe(200);
    expect(limiter.when('ns/b')).toBe(400);
  });

  it('does not overflow after very many failures', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    for (let i = 0; i < 2000; i++) limiter.when('ns/a');
    expect(limiter.when('ns/a')).toBe(1_000_000);
  });

  it('Grove options back off from 200 ms to a 5 min cap', () => {
    const limiter = defaultControllerRateLimiter({
      ...GROVE_RATE_LIMITER_OPTIONS,
      clock: new FakeClock(),
    });
    const delays = Array.from({ length: 13 }, () => limiter.when('ns/a'));
    expect(delays.slice(0, 3)).toEqual([200, 400, 800]);
    expect(delays[10]).toBe(204_800);
    expect(delays[11]).toBe(300_000);
    expect(delays[12]).toBe(300_000);
  });

  it('the overall bucket lets a burst through, then spaces calls at the qps', async () => {
    const clock = new FakeClock();
    const bucket = new BucketRateLimiter(10, 100, clock);
    for (let i = 0; i < 100; i++) expect(bucket.when(`ns/k${i}`)).toBe(0);
    expect(bucket.when('ns/x')).toBeCloseTo(100);
    expect(bucket.when('ns/y')).toBeCloseTo(200);
    // 1 s refills 10 tokens: the debt of 2 is paid, 8 are left.
    await clock.advance(1000);
    for (let i = 0; i < 8; i++) expect(bucket.when(`ns/z${i}`)).toBe(0);
    expect(bucket.when('ns/late')).toBeCloseTo(100);
    // The bucket never holds more than the burst, however long it rests.
    await clock.advance(3_600_000);
    for (let i = 0; i < 100; i++) bucket.when(`ns/r${i}`);
    expect(bucket.when('ns/over')).toBeCloseTo(100);
    expect(bucket.retries('ns/over')).toBe(0);
  });

  it('the default limiter takes the longer of the per-key backoff and the bucket', () => {
    const limiter = defaultControllerRateLimiter({ clock: new FakeClock() });
    expect(limiter.when('ns/a')).toBe(5);
    expect(limiter.when('ns/a')).toBe(10);
    for (let i = 0; i < 98; i++) limiter.when(`ns/k${i}`);
    // The bucket is empty now: its 100 ms beat the key's 5 ms.
    expect(limiter.when('ns/fresh')).toBeCloseTo(100);
    expect(limiter.retries('ns/a')).toBe(2);
    limiter.forget('ns/a');
    expect(limiter.retries('ns/a')).toBe(0);
  });

  it('max-of asks every limiter each time', () => {
    const a = new ItemExponentialFailureRateLimiter(10, 1000);
    const b = new ItemExponentialFailureRateLimiter(30, 40);
    const max = new MaxOfRateLimiter(a, b);
    expect([max.when('k'), max.when('k'), max.when('k')]).toEqual([30, 40, 40]);
    expect(a.retries('k')).toBe(3);
    expect(max.when('k')).toBe(80);
  });

  it('rejects a base, max, qps or burst that is not positive', () => {
    expect(() => defaultControllerRateLimiter({ baseDelayMs: 0 })).toThrow(RateLimiterOptionsError);
    expect(() => defaultControllerRateLimiter({ maxDelayMs: -1 })).toThrow(/maxDelayMs/);
    expect(() => defaultControllerRateLimiter({ qps: Number.NaN })).toThrow(/qps/);
    expect(() => defaultControllerRateLimiter({ burst: 0 })).toThrow(/burst/);
  });
});
