import { systemClock, type Clock } from './clock.js';

/** Decides how long a key waits before its next retry (client-go's workqueue.RateLimiter). */
export interface RateLimiter {
  /** The delay in milliseconds before `key` may be processed again; counts one retry. */
  when(key: string): number;
  /** Stops tracking `key` (call after it was processed successfully). */
  forget(key: string): void;
  /** How many times `key` has been rate-limited since the last `forget`. */
  retries(key: string): number;
}

export interface RateLimiterOptions {
  /** First per-key backoff; doubles on each failure. Default 5 ms (controller-runtime). */
  baseDelayMs?: number;
  /** Cap of the per-key backoff. Default 1000 s (controller-runtime). */
  maxDelayMs?: number;
  /** Overall token bucket refill rate. Default 10 per second. */
  qps?: number;
  /** Overall token bucket size. Default 100. */
  burst?: number;
  clock?: Clock;
}

/** The per-key backoff Grove's controllers use (base 200 ms, max 5 min). */
export const GROVE_RATE_LIMITER_OPTIONS = {
  baseDelayMs: 200,
  maxDelayMs: 5 * 60 * 1000,
} as const satisfies RateLimiterOptions;

export class RateLimiterOptionsError extends Error {
  override readonly name = 'RateLimiterOptionsError';
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RateLimiterOptionsError(
      `rate limiter: ${name} must be a positive number, got ${value}`,
    );
  }
  return value;
}

/** Per-key exponential backoff: base·2^failures, capped at max. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
  ) {
    positive('baseDelayMs', baseDelayMs);
    positive('maxDelayMs', maxDelayMs);
  }

  when(key: string): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    // 2^exp overflows to Infinity for large exp, which the cap absorbs.
    return Math.min(this.baseDelayMs * 2 ** exp, this.maxDelayMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * An overall token bucket (golang.org/x/time/rate's Reserve): starts full, refills at `qps`,
 * and each call takes a token, possibly going into debt; the delay pays the debt back.
 */
export class BucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock = systemClock,
  ) {
    positive('qps', qps);
    positive('burst', burst);
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    const elapsed = Math.max(now - this.last, 0);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.qps) - 1;
    this.last = Math.max(now, this.last);
    return this.tokens < 0 ? (-this.tokens / this.qps) * 1000 : 0;
  }

  forget(_key: string): void {
    // The bucket is shared by all keys: nothing per key to forget.
  }

  retries(_key: string): number {
    return 0;
  }
}

/** The longest delay of several limiters; every limiter sees every call. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let delay = 0;
    for (const limiter of this.limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  forget(key: string): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  retries(key: string): number {
    let retries = 0;
    for (const limiter of this.limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }
}

/**
 * controller-runtime's default controller rate limiter: the max of a per-key exponential
 * backoff (5 ms doubling to 1000 s) and an overall bucket (10 qps, burst 100), each
 * overridable.
 */
export function defaultControllerRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  return new MaxOfRateLimiter(
    new ItemExponentialFailureRateLimiter(
      options.baseDelayMs ?? 5,
      options.maxDelayMs ?? 1_000_000,
    ),
    new BucketRateLimiter(options.qps ?? 10, options.burst ?? 100, options.clock ?? systemClock),
  );
}
