import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { systemClock } from './clock.js';
import { FakeClock } from './testing/fake-clock.js';

describe('clock', () => {
  it('system clock fires a timer after its delay and never reads backwards', async () => {
    const start = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 20));
    const elapsed = systemClock.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(19);
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(1000);
  });

  it('system clock timers can be cancelled', async () => {
    let fired = false;
    systemClock.setTimeout(() => (fired = true), 5).cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(false);
  });

  it('system clock chains timers longer than Node allows (2^31-1 ms) instead of firing early', () => {
    jest.useFakeTimers();
    let fired = false;
    const thirtyDays = 30 * 24 * 3600 * 1000;
    systemClock.setTimeout(() => (fired = true), thirtyDays);
    jest.advanceTimersByTime(thirtyDays - 1);
    expect(fired).toBe(false);
    jest.advanceTimersByTime(1);
    expect(fired).toBe(true);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('fake clock fires due timers in time order, ties in creation order, and skips cancelled ones', async () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push('never'), 15).cancel();
    // A timer set by a timer fires in the same advance when due.
    clock.setTimeout(() => clock.setTimeout(() => fired.push(`d@${clock.now()}`), 5), 10);
    await clock.advance(19);
    expect(fired).toEqual(['a@1010', 'd@1015']);
    await clock.advance(100);
    expect(fired).toEqual(['a@1010', 'd@1015', 'b@1020', 'c@1020']);
    expect(clock.now()).toBe(1119);
    expect(clock.pendingTimers()).toBe(0);
  });
});
