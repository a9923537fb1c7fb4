import { describe, expect, it } from '@jest/globals';
import { ItemExponentialFailureRateLimiter } from './rate-limiter.js';
import { FakeClock, flushPromises } from './testing/fake-clock.js';
import { WorkQueue } from './work-queue.js';

/** Tracks whether a promise has settled, without awaiting it. */
function watch<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

function newQueue(clock = new FakeClock()) {
  return {
    clock,
    queue: new WorkQueue({
      name: 'test',
      clock,
      rateLimiter: new ItemExponentialFailureRateLimiter(100, 1000),
    }),
  };
}

describe('work queue', () => {
  it('de-duplicates a key added many times', async () => {
    const { queue } = newQueue();
    for (let i = 0; i < 5; i++) queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe('ns/a');
    expect(await queue.get()).toBe('ns/b');
    expect(queue.len()).toBe(0);
    const next = watch(queue.get());
    await flushPromises();
    expect(next.settled).toBe(false);
  });

  it('hands keys out in the order they were first added', async () => {
    const { queue } = newQueue();
    for (const key of ['ns/c', 'ns/a', 'ns/c', 'ns/b', 'ns/a']) queue.add(key);
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual([
      'ns/c',
      'ns/a',
      'ns/b',
    ]);
  });

  it('never hands out one key twice at once (re-queues it after done when added meanwhile)', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    expect(await queue.get()).toBe('ns/a');
    queue.add('ns/a');
    queue.add('ns/a');
    expect(queue.len()).toBe(0);
    const second = watch(queue.get());
    await flushPromises();
    expect(second.settled).toBe(false);
    queue.done('ns/a');
    await flushPromises();
    expect(second.value).toBe('ns/a');
    // Added twice while busy, it comes back once.
    queue.done('ns/a');
    expect(queue.len()).toBe(0);
  });

  it('does not re-queue a key whose processing ended without a new add', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    await queue.get();
    queue.done('ns/a');
    expect(queue.len()).toBe(0);
  });

  it('ignores done for a key that is not being processed', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    queue.done('ns/a');
    queue.done('ns/a');
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe('ns/a');
    queue.done('ns/a');
    queue.done('ns/a');
    expect(queue.len()).toBe(0);
  });

  it('gives waiting getters different keys, first come first served', async () => {
    const { queue } = newQueue();
    const first = watch(queue.get());
    const second = watch(queue.get());
    const third = watch(queue.get());
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/b');
    await flushPromises();
    expect([first.value, second.value, third.settled]).toEqual(['ns/a', 'ns/b', false]);
  });

  it('addAfter delivers at the right time (fake clock)', async () => {
    const { queue, clock } = newQueue();
    queue.addAfter('ns/a', 1000);
    await clock.advance(999);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe('ns/a');
  });

  it('addAfter keeps the earliest deadline of a waiting key', async () => {
    const { queue, clock } = newQueue();
    queue.addAfter('ns/a', 1000);
    queue.addAfter('ns/a', 300);
    queue.addAfter('ns/b', 300);
    queue.addAfter('ns/b', 1000);
    await clock.advance(300);
    expect(queue.len()).toBe(2);
    await queue.get();
    await queue.get();
    queue.done('ns/a');
    queue.done('ns/b');
    // Neither the replaced nor the ignored deadline fires later.
    await clock.advance(5000);
    expect(queue.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('addAfter with no delay adds at once', () => {
    const { queue } = newQueue();
    queue.addAfter('ns/a', 0);
    queue.addAfter('ns/b', -5);
    expect(queue.len()).toBe(2);
  });

  it('addRateLimited waits the limiter backoff and forget resets it', async () => {
    const { queue, clock } = newQueue();
    queue.addRateLimited('ns/a');
    expect(queue.numRequeues('ns/a')).toBe(1);
    await clock.advance(99);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(await queue.get()).toBe('ns/a');
    queue.done('ns/a');
    queue.addRateLimited('ns/a');
    await clock.advance(199);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    queue.forget('ns/a');
    expect(queue.numRequeues('ns/a')).toBe(0);
  });

  it('after shutDown, get resolves undefined, waiting getters are released and adds are ignored', async () => {
    const { queue, clock } = newQueue();
    const waiting = watch(queue.get());
    queue.addAfter('ns/later', 1000);
    queue.shutDown();
    await flushPromises();
    expect(waiting.settled).toBe(true);
    expect(waiting.value).toBeUndefined();
    queue.add('ns/a');
    queue.addAfter('ns/b', 10);
    expect(queue.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(await queue.get()).toBeUndefined();
    expect(queue.isShuttingDown()).toBe(true);
  });

  it('does not hand out keys still queued at shutdown', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    queue.shutDown();
    expect(await queue.get()).toBeUndefined();
  });

  it('shutDownWithDrain waits for keys being processed', async () => {
    const { queue } = newQueue();
    queue.add('ns/a');
    queue.add('ns/b');
    await queue.get();
    await queue.get();
    const drained = watch(queue.shutDownWithDrain());
    await flushPromises();
    expect(drained.settled).toBe(false);
    queue.done('ns/a');
    await flushPromises();
    expect(drained.settled).toBe(false);
    queue.done('ns/b');
    await flushPromises();
    expect(drained.settled).toBe(true);
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });

  it('keeps its promises under a random mix of adds, gets and dones (seeded)', async () => {
    const { queue } = newQueue();
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const keys = ['ns/a', 'ns/b', 'ns/c', 'ns/d'];
    const held = new Set<string>();
    // A key added after its last hand-out must be handed out again: track those owed.
    const owed = new Set<string>();
    const take = async () => {
      const key = await queue.get();
      if (key === undefined) throw new Error('queue shut down unexpectedly');
      expect(held.has(key)).toBe(false);
      held.add(key);
      owed.delete(key);
    };
    for (let step = 0; step < 3000; step++) {
      const op = random(3);
      if (op === 0) {
        const key = keys[random(keys.length)] ?? 'ns/a';
        queue.add(key);
        owed.add(key);
      } else if (op === 1 && queue.len() > 0) {
        await take();
      } else if (held.size > 0) {
        const key = [...held][random(held.size)] ?? '';
        held.delete(key);
        queue.done(key);
      }
    }
    for (const key of [...held]) {
      held.delete(key);
      queue.done(key);
    }
    while (queue.len() > 0) await take();
    expect(owed.size).toBe(0);
  });
});
