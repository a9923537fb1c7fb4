import { describe, expect, it } from '@jest/globals';
import { TokenBucket, WindowCounter } from './token-bucket.js';

function fakeClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('TokenBucket', () => {
  it('allows a burst at once, then refuses with the wait until the next token', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(10, 3, clock.now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(100);
    clock.advance(40);
    expect(bucket.take()).toBe(60);
  });

  it('refills at the rate and allows a take once the wait has passed', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(4, 1, clock.now);
    expect(bucket.take()).toBe(0);
    const wait = bucket.take();
    expect(wait).toBe(250);
    clock.advance(wait);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(250);
  });

  it('never holds more than the burst however long it was idle', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(100, 2, clock.now);
    clock.advance(3_600_000);
    expect([bucket.take(), bucket.take()]).toEqual([0, 0]);
    expect(bucket.take()).toBeGreaterThan(0);
  });

  it('does not consume a token when it refuses', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1, 1, clock.now);
    expect(bucket.take()).toBe(0);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toBe(1000);
    clock.advance(1000);
    expect(bucket.take()).toBe(0);
  });

  it('supports fractional rates', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(0.5, 1, clock.now);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(2000);
    clock.advance(1999);
    expect(bucket.take()).toBe(1);
  });
});

describe('WindowCounter', () => {
  it('allows the budget within one second and refuses beyond it', () => {
    const clock = fakeClock();
    const counter = new WindowCounter(3, clock.now);
    expect([counter.hit(), counter.hit(), counter.hit(), counter.hit()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    clock.advance(999);
    expect(counter.hit()).toBe(false);
  });

  it('starts a fresh budget once a second has passed', () => {
    const clock = fakeClock();
    const counter = new WindowCounter(2, clock.now);
    counter.hit();
    counter.hit();
    expect(counter.hit()).toBe(false);
    clock.advance(1000);
    expect([counter.hit(), counter.hit(), counter.hit()]).toEqual([true, true, false]);
  });
});
