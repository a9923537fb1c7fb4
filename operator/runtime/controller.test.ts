import { describe, expect, it, jest } from '@jest/globals';
import { Registry } from 'prom-client';
import { loggerOf, type LogFields, type LogLevel } from '../../contracts/logger.js';
import {
  Controller,
  ControllerOptionsError,
  ControllerStateError,
  ControllerStoppedError,
  ReconcileTimeoutError,
  type ControllerOptions,
  type ReconcileResult,
} from './controller.js';
import { FakeClock, flushPromises } from './testing/fake-clock.js';
import { deferred, type Deferred } from './testing/deferred.js';

interface LogEntry {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

function setup(
  reconcile: ControllerOptions['reconcile'],
  options: Partial<ControllerOptions> = {},
) {
  const clock = new FakeClock();
  const logs: LogEntry[] = [];
  const controller = new Controller({
    name: 'pools',
    registry: new Registry(),
    clock,
    log: loggerOf((level, msg, fields) => logs.push({ level, msg, fields: fields ?? {} })),
    reconcile,
    ...options,
  });
  return { clock, logs, controller };
}

/** A reconcile whose calls wait until the test settles them. */
function blockingReconcile() {
  const calls: { key: string; signal: AbortSignal; done: Deferred<ReconcileResult> }[] = [];
  const running = new Map<string, number>();
  let maxRunning = 0;
  let maxSameKey = 0;
  const reconcile = async (key: string, signal: AbortSignal): Promise<ReconcileResult> => {
    const done = deferred<ReconcileResult>();
    calls.push({ key, signal, done });
    running.set(key, (running.get(key) ?? 0) + 1);
    maxSameKey = Math.max(maxSameKey, running.get(key) ?? 0);
    maxRunning = Math.max(
      maxRunning,
      [...running.values()].reduce((a, b) => a + b, 0),
    );
    try {
      return await done.promise;
    } finally {
      running.set(key, (running.get(key) ?? 1) - 1);
    }
  };
  return {
    reconcile,
    calls,
    running: () => [...running].filter(([, n]) => n > 0).map(([k]) => k),
    maxRunning: () => maxRunning,
    maxSameKey: () => maxSameKey,
  };
}

// A broken invariant shows up as a stop that never resolves: fail fast instead of at 60 s.
jest.setTimeout(5000);

describe('controller', () => {
  it('retries a failing key with growing backoff and forgets it after success', async () => {
    const script = ['fail', 'fail', 'fail', 'ok', 'fail', 'ok'];
    const times: number[] = [];
    const { clock, logs, controller } = setup(
      (key) => {
        times.push(clock.now());
        const step = script.shift();
        return step === 'fail'
          ? Promise.reject(new Error(`apply of ${key} conflicted`))
          : Promise.resolve(undefined);
      },
      { rateLimiter: { baseDelayMs: 200 } },
    );
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(2000);
    expect(times).toEqual([0, 200, 600, 1400]);
    expect(controller.queue.numRequeues('ns/a')).toBe(0);
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(3);
    expect(errors[0]?.fields).toMatchObject({
      controller: 'pools',
      key: 'ns/a',
      error: 'apply of ns/a conflicted',
    });
    // After the success the backoff starts again from the base.
    controller.enqueue('ns/a');
    await clock.advance(199);
    expect(times).toEqual([0, 200, 600, 1400, 2000]);
    await clock.advance(1);
    expect(times).toEqual([0, 200, 600, 1400, 2000, 2200]);
    await controller.stop();
  });

  it('uses Grove backoff defaults (200 ms, capped at 5 min) when none are given', async () => {
    const times: number[] = [];
    const { clock, controller } = setup(() => {
      times.push(clock.now());
      return Promise.reject(new Error('down'));
    });
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(200 * (2 ** 12 - 1) + 300_000);
    const delays = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(delays.slice(0, 3)).toEqual([200, 400, 800]);
    expect(delays.at(-1)).toBe(300_000);
    await controller.stop();
  });

  it('runs at most maxConcurrentReconciles at once, and different keys in parallel', async () => {
    const r = blockingReconcile();
    const { controller } = setup(r.reconcile, { maxConcurrentReconciles: 2 });
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    controller.enqueue('ns/c');
    controller.start();
    await flushPromises();
    expect(r.running()).toEqual(['ns/a', 'ns/b']);
    // A key already being reconciled waits for its turn, even with a worker free.
    controller.enqueue('ns/a');
    r.calls[1]?.done.resolve(undefined);
    await flushPromises();
    expect(r.running()).toEqual(['ns/a', 'ns/c']);
    r.calls[0]?.done.resolve(undefined);
    await flushPromises();
    expect(r.running()).toEqual(['ns/a', 'ns/c']);
    expect(r.calls.map((c) => c.key)).toEqual(['ns/a', 'ns/b', 'ns/c', 'ns/a']);
    for (const call of r.calls) call.done.resolve(undefined);
    await flushPromises();
    expect(r.maxRunning()).toBe(2);
    expect(r.maxSameKey()).toBe(1);
    await controller.stop();
  });

  it('requeueAfter re-runs the key later, without counting a failure', async () => {
    const times: number[] = [];
    const { clock, controller } = setup(() => {
      times.push(clock.now());
      return Promise.resolve(times.length === 1 ? { requeueAfterMs: 5000 } : undefined);
    });
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(4999);
    expect(times).toEqual([0]);
    expect(controller.queue.numRequeues('ns/a')).toBe(0);
    await clock.advance(1);
    expect(times).toEqual([0, 5000]);
    await clock.advance(60_000);
    expect(times).toEqual([0, 5000]);
    await controller.stop();
  });

  it('requeue re-runs the key after the rate-limited backoff', async () => {
    const times: number[] = [];
    const { clock, controller } = setup(
      () => {
        times.push(clock.now());
        return Promise.resolve(times.length < 3 ? { requeue: true } : undefined);
      },
      { rateLimiter: { baseDelayMs: 100 } },
    );
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(10_000);
    expect(times).toEqual([0, 100, 300]);
    await controller.stop();
  });

  it('counts a synchronous throw as a failed reconcile', async () => {
    let calls = 0;
    const { clock, logs, controller } = setup(
      () => {
        calls++;
        if (calls === 1) throw new Error('bug');
        return Promise.resolve(undefined);
      },
      { rateLimiter: { baseDelayMs: 100 } },
    );
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(100);
    expect(calls).toBe(2);
    expect(logs.some((l) => l.level === 'error' && l.fields.error === 'bug')).toBe(true);
    await controller.stop();
  });

  it('stop waits for in-flight reconciles and starts no queued key', async () => {
    const r = blockingReconcile();
    const { controller } = setup(r.reconcile);
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    controller.start();
    await flushPromises();
    let stopped = false;
    const stopping = controller.stop().then(() => {
      stopped = true;
    });
    await flushPromises();
    expect(stopped).toBe(false);
    expect(r.calls[0]?.signal.aborted).toBe(false);
    r.calls[0]?.done.resolve(undefined);
    await stopping;
    expect(r.calls.map((c) => c.key)).toEqual(['ns/a']);
    // Keys added after stop are ignored.
    controller.enqueue('ns/c');
    await flushPromises();
    expect(r.calls).toHaveLength(1);
  });

  it('stop aborts the signal of reconciles still running after the grace', async () => {
    const r = blockingReconcile();
    const { clock, controller } = setup(r.reconcile, { stopGraceMs: 1000 });
    controller.enqueue('ns/a');
    controller.start();
    await flushPromises();
    const signal = r.calls[0]?.signal;
    signal?.addEventListener('abort', () => r.calls[0]?.done.reject(signal.reason));
    let stopped = false;
    void controller.stop().then(() => {
      stopped = true;
    });
    await clock.advance(999);
    expect(signal?.aborted).toBe(false);
    expect(stopped).toBe(false);
    await clock.advance(1);
    expect(signal?.reason).toBeInstanceOf(ControllerStoppedError);
    expect(stopped).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('aborts a reconcile that exceeds reconcileTimeoutMs and retries it', async () => {
    const r = blockingReconcile();
    const { clock, controller } = setup(r.reconcile, {
      reconcileTimeoutMs: 500,
      rateLimiter: { baseDelayMs: 100 },
    });
    controller.enqueue('ns/a');
    controller.start();
    await flushPromises();
    const first = r.calls[0];
    first?.signal.addEventListener('abort', () => first.done.reject(first.signal.reason));
    await clock.advance(499);
    expect(first?.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(first?.signal.reason).toBeInstanceOf(ReconcileTimeoutError);
    await clock.advance(100);
    expect(r.calls).toHaveLength(2);
    r.calls[1]?.done.resolve(undefined);
    await flushPromises();
    expect(clock.pendingTimers()).toBe(0);
    await controller.stop();
  });

  it('keeps working when the log sink throws', async () => {
    let calls = 0;
    const { clock, controller } = setup(
      () => {
        calls++;
        return calls === 1 ? Promise.reject(new Error('x')) : Promise.resolve(undefined);
      },
      {
        rateLimiter: { baseDelayMs: 100 },
        log: loggerOf(() => {
          throw new Error('log sink broken');
        }),
      },
    );
    controller.enqueue('ns/a');
    controller.start();
    await clock.advance(100);
    expect(calls).toBe(2);
    await controller.stop();
  });

  it('refuses a second start, a start after stop, and bad options', async () => {
    const { controller } = setup(() => Promise.resolve(undefined));
    controller.start();
    expect(() => controller.start()).toThrow(ControllerStateError);
    await controller.stop();
    expect(() => controller.start()).toThrow(ControllerStateError);
    expect(() => setup(() => Promise.resolve(undefined), { maxConcurrentReconciles: 0 })).toThrow(
      ControllerOptionsError,
    );
    expect(() => setup(() => Promise.resolve(undefined), { reconcileTimeoutMs: -1 })).toThrow(
      /reconcileTimeoutMs/,
    );
  });
});
