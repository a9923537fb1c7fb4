/** Exponential backoff with jitter, for restarting informers and retrying lease writes. */
export interface BackoffOptions {
  /** Delay before the first retry (before jitter). */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** Growth per failure; 2 doubles the delay. */
  factor?: number;
  /**
   * Fraction of the delay that is random, in [0, 1]: each delay is drawn uniformly from
   * [base × (1 − jitter), base]. Spreads the restarts of many informers (or many operator
   * replicas) after an API server restart so they do not all relist at the same instant.
   */
  jitter?: number;
}

export const defaultBackoff = { initialMs: 500, maxMs: 30_000 } as const;

/** The delay after `failures` consecutive failures (1 = first failure); pure. */
export function backoffDelay(failures: number, options: BackoffOptions, random: number): number {
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const exponent = Math.max(0, failures - 1);
  // Capped before multiplying, so a long outage cannot overflow to Infinity.
  const base = Math.min(
    options.maxMs,
    options.initialMs * Math.pow(factor, Math.min(exponent, 64)),
  );
  const clamped = Math.min(1, Math.max(0, random));
  return Math.round(base * (1 - jitter * clamped));
}

/** Stateful wrapper: counts consecutive failures until reset(). */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new Error(
        `invalid backoff: initialMs must be > 0 and maxMs >= initialMs (got ${options.initialMs}, ${options.maxMs})`,
      );
    }
  }

  /** Records one more failure and returns how long to wait before the next attempt. */
  next(): number {
    this.failures += 1;
    return backoffDelay(this.failures, this.options, this.random());
  }

  reset(): void {
    this.failures = 0;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
