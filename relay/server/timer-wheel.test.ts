import { describe, expect, it } from '@jest/globals';
import { ConnectionTimers, TimerWheel, wheelTickMs, type Deadlined } from './timer-wheel.js';

function recorder(tickMs: number, start = 0) {
  const fired: { item: string; at: number }[] = [];
  const wheel = new TimerWheel<string>(tickMs, (item, now) => fired.push({ item, at: now }), start);
  return { wheel, fired };
}

/** Advances `wheel` in `step` ms steps from `from` to `to`, as the driver's interval would. */
function run(wheel: TimerWheel<string>, from: number, to: number, step: number): void {
  for (let now = from; now <= to; now += step) wheel.advance(now);
}

describe('TimerWheel', () => {
  it('fires an item at its time, never before, and at most one tick after', () => {
    for (const at of [1, 99, 100, 101, 250, 1234, 15_000]) {
      const { wheel, fired } = recorder(100);
      wheel.schedule('x', at);
      run(wheel, 0, at + 500, 1);
      expect(fired).toHaveLength(1);
      const when = fired[0]?.at ?? Number.NaN;
      expect(when).toBeGreaterThanOrEqual(at);
      expect(when).toBeLessThanOrEqual(at + 100);
    }
  });

  it('fires a deadline already past at the next advance', () => {
    const { wheel, fired } = recorder(100, 10_000);
    wheel.schedule('late', 5_000);
    wheel.advance(10_050);
    expect(fired).toEqual([]);
    wheel.advance(10_100);
    expect(fired).toEqual([{ item: 'late', at: 10_100 }]);
  });

  it('does not fire a cancelled item, and counts what waits', () => {
    const { wheel, fired } = recorder(100);
    const a = wheel.schedule('a', 300);
    wheel.schedule('b', 300);
    expect(wheel.size).toBe(2);
    wheel.cancel('a', a);
    wheel.cancel('a', a);
    expect(wheel.size).toBe(1);
    run(wheel, 0, 1000, 50);
    expect(fired.map((f) => f.item)).toEqual(['b']);
    expect(wheel.size).toBe(0);
  });

  it('fires items in the order of their deadlines across slots', () => {
    const { wheel, fired } = recorder(10);
    wheel.schedule('third', 95);
    wheel.schedule('first', 12);
    wheel.schedule('second', 47);
    wheel.advance(1000);
    expect(fired.map((f) => f.item)).toEqual(['first', 'second', 'third']);
  });

  it('after a jump of the clock, fires everything due once and keeps the rest', () => {
    const { wheel, fired } = recorder(100);
    wheel.schedule('soon', 200);
    wheel.schedule('later', 3_600_000);
    wheel.advance(60_000);
    expect(fired).toEqual([{ item: 'soon', at: 60_000 }]);
    wheel.advance(3_599_999);
    expect(fired).toHaveLength(1);
    wheel.advance(3_600_000);
    expect(fired.map((f) => f.item)).toEqual(['soon', 'later']);
  });

  it('an item rescheduled as it fires (a ping interval) fires once per interval', () => {
    const interval = 300;
    const times: number[] = [];
    const wheel: TimerWheel<string> = new TimerWheel<string>(
      30,
      (item, now) => {
        times.push(now);
        wheel.schedule(item, now + interval);
      },
      0,
    );
    wheel.schedule('ping', interval);
    run(wheel, 0, 3000, 7);
    expect(times.length).toBe(9);
    for (const [i, at] of times.entries()) {
      // Each interval starts when the previous one fired, at most a tick late.
      expect(at).toBeGreaterThanOrEqual((i + 1) * interval);
      expect(at).toBeLessThanOrEqual((i + 1) * (interval + 30));
    }
  });
});

describe('wheelTickMs', () => {
  it('is a tenth of the shortest deadline, within 10–100 ms', () => {
    expect(wheelTickMs({ pingIntervalMs: 15_000, helloTimeoutMs: 10_000 })).toBe(100);
    expect(wheelTickMs({ pingIntervalMs: 300, helloTimeoutMs: 500 })).toBe(30);
    expect(wheelTickMs({ pingIntervalMs: 50, helloTimeoutMs: 10_000 })).toBe(10);
  });
});

describe('ConnectionTimers', () => {
  it('runs its interval only while a deadline waits, and closes on time', async () => {
    const timers = new ConnectionTimers({ pingIntervalMs: 200, helloTimeoutMs: 100 }, Date.now);
    const fired: number[] = [];
    const handshake: Deadlined = {
      helloDue: () => fired.push(Date.now()),
      expiryDue: () => undefined,
    };
    const started = Date.now();
    timers.hellos.schedule(handshake, started + 100);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(fired).toHaveLength(1);
    expect((fired[0] ?? 0) - started).toBeGreaterThanOrEqual(100);
    expect(timers.hellos.size).toBe(0);
    timers.stop();
  });
});
