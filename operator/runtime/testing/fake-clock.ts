import type { Clock, Timer } from '../clock.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Lets every promise chain that is ready run to its next real wait. */
export function flushPromises(): Promise<void> {
  // setImmediate runs after the microtask queue is empty, including microtasks queued by
  // microtasks.
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A clock for tests: time moves only through `advance`, which fires due timers in order
 * (ties in creation order) and lets promises settle after each one, so async code driven
 * by timers runs as it would in real time, without waiting.
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly pending = new Set<Pending>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    const entry: Pending = {
      at: this.current + (Math.max(ms, 0) || 0),
      seq: this.seq++,
      callback,
    };
    this.pending.add(entry);
    return { cancel: () => this.pending.delete(entry) };
  }

  /** Timers not yet fired nor cancelled. */
  pendingTimers(): number {
    return this.pending.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    await flushPromises();
    for (;;) {
      const next = this.nextDue(until);
      if (next === undefined) break;
      this.pending.delete(next);
      this.current = next.at;
      next.callback();
      await flushPromises();
    }
    this.current = until;
    await flushPromises();
  }

  private nextDue(until: number): Pending | undefined {
    let next: Pending | undefined;
    for (const entry of this.pending) {
      if (entry.at > until) continue;
      if (
        next === undefined ||
        entry.at < next.at ||
        (entry.at === next.at && entry.seq < next.seq)
      )
        next = entry;
    }
    return next;
  }
}
