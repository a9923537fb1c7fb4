/**
 * A token bucket: `rate` tokens per second up to `burst`. Pure apart from the injected
 * clock; one per connection (a device has at most one connection at a time).
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: () => number,
  ) {
    this.tokens = burst;
    this.updatedAt = clock();
  }

  /** Takes one token; returns 0 on success or the milliseconds until one is available. */
  take(): number {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}

/** Counts events in fixed one-second windows; says when a budget per second is exceeded. */
export class WindowCounter {
  private windowStart: number;
  private count = 0;

  constructor(
    private readonly perSecond: number,
    private readonly clock: () => number,
  ) {
    this.windowStart = clock();
  }

  /** Records one event; true while within the budget. */
  hit(): boolean {
    const now = this.clock();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    return this.count <= this.perSecond;
  }
}
