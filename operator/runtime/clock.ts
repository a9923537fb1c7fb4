/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/**
 * Time as the controller runtime sees it. Injected so tests run on a fake clock without
 * real waiting.
 */
export interface Clock {
  /** Milliseconds; monotonic, so only differences are meaningful. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds (negative or NaN means as soon as possible). */
  setTimeout(callback: () => void, ms: number): Timer;
}

// Node fires timers longer than 2^31-1 ms after 1 ms (with a warning), and a requeueAfter
// of weeks is legitimate (certificate renewals), so long delays are chained.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The real clock: monotonic (performance.now anchored at the process' time origin, so it
 * reads like epoch milliseconds but never jumps back). Timers are unref'd: a pending
 * requeue must not keep an otherwise finished process alive.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout(callback, ms) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (remaining: number) => {
      const step = Math.min(Math.max(remaining, 0) || 0, MAX_TIMER_MS);
      handle = setTimeout(() => {
        if (cancelled) return;
        if (remaining > step) arm(remaining - step);
        else callback();
      }, step);
      handle.unref();
    };
    arm(ms);
    return {
      cancel() {
        cancelled = true;
        clearTimeout(handle);
      },
    };
  },
};
