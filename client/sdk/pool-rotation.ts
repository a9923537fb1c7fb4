/**
 * Which relay a client tries next when a Domain has several relay pools (home first, then
 * failover pools, all sharing the Domain's store): the URLs of one pool in turn; the next pool
 * once every URL of this one failed `failoverAfterRounds` times in a row; back home once the
 * home pool answered `homeStableProbes` probes in a row (the hysteresis: one good answer from a
 * pool that is coming back does not pull every device over). Pure: the client does the I/O.
 */

export interface PoolRotationOptions {
  /** Failed connect rounds over a pool's URLs before moving to the next pool (default 2). */
  failoverAfterRounds?: number;
  /** Successful home probes in a row before returning home (default 3). */
  homeStableProbes?: number;
}

/** A pool change: `from` and `to` are indexes in the pool list (0 is home). */
export interface PoolSwitch {
  from: number;
  to: number;
  reason: 'unreachable' | 'unknown-device' | 'home-back';
}

export const MAX_POOLS = 16;
export const MAX_URLS_PER_POOL = 64;

export class PoolRotation {
  readonly pools: readonly (readonly string[])[];
  private index = 0;
  private relayIndex = 0;
  private failures = 0;
  private readonly rounds: number;
  private readonly stableProbes: number;
  /** Pools that answered 4104 (the device unknown there) since the last welcome. */
  private readonly unknownDevice = new Set<number>();
  /** Pools that refused the device at some point: never probed for a return. */
  private readonly notServing = new Set<number>();
  private homeOk = 0;

  constructor(pools: readonly (readonly string[])[], options: PoolRotationOptions = {}) {
    const cleaned = pools.map((pool) => [...pool]).filter((pool) => pool.length > 0);
    if (cleaned.length === 0) throw new Error('at least one relay pool with a URL is needed');
    if (cleaned.length > MAX_POOLS) throw new Error(`at most ${MAX_POOLS} relay pools`);
    if (cleaned.some((pool) => pool.length > MAX_URLS_PER_POOL)) {
      throw new Error(`at most ${MAX_URLS_PER_POOL} relay URLs per pool`);
    }
    this.pools = cleaned;
    this.rounds = Math.max(1, options.failoverAfterRounds ?? 2);
    this.stableProbes = Math.max(1, options.homeStableProbes ?? 3);
  }

  /** The index of the pool in use (0: home). */
  get pool(): number {
    return this.index;
  }

  /** Every URL of every pool, in order, each once. */
  get relays(): string[] {
    return [...new Set(this.pools.flat())];
  }

  /** The relay to try next. */
  current(): string {
    const pool = this.pools[this.index] ?? [];
    return pool[this.relayIndex % pool.length] ?? '';
  }

  /** A relay welcomed the client: its pool serves it and is reachable. */
  welcomed(): void {
    this.failures = 0;
    this.unknownDevice.clear();
  }

  /** A welcomed link ended (the relay went away): try the pool's next URL. */
  linkLost(): void {
    this.relayIndex++;
  }

  /**
   * A connect attempt failed before the welcome (refused, unreachable, "retry later"): the next
   * URL, or the next pool once every URL of this one failed `failoverAfterRounds` times.
   */
  connectFailed(): PoolSwitch | undefined {
    this.relayIndex++;
    this.failures++;
    const size = this.pools[this.index]?.length ?? 1;
    if (this.pools.length < 2 || this.failures < size * this.rounds) return undefined;
    return this.moveTo(this.nextPool(), 'unreachable');
  }

  /**
   * The pool answered 4104 (AUTH_UNKNOWN_DEVICE): it does not serve this device. Another pool
   * that has not said so since the last welcome is tried; undefined when none is left (fatal).
   */
  unknownDeviceHere(): PoolSwitch | undefined {
    this.unknownDevice.add(this.index);
    this.notServing.add(this.index);
    for (let step = 1; step < this.pools.length; step++) {
      const candidate = (this.index + step) % this.pools.length;
      if (!this.unknownDevice.has(candidate)) return this.moveTo(candidate, 'unknown-device');
    }
    return undefined;
  }

  /** Whether the home pool should be probed: away from it, and it never refused the device. */
  get awayFromHome(): boolean {
    return this.index !== 0 && !this.notServing.has(0);
  }

  /**
   * One probe of the home pool (some URL of it ready, or not): a switch home after
   * `homeStableProbes` good answers in a row.
   */
  homeProbed(ready: boolean): PoolSwitch | undefined {
    if (!this.awayFromHome) {
      this.homeOk = 0;
      return undefined;
    }
    this.homeOk = ready ? this.homeOk + 1 : 0;
    if (this.homeOk < this.stableProbes) return undefined;
    return this.moveTo(0, 'home-back');
  }

  private nextPool(): number {
    for (let step = 1; step <= this.pools.length; step++) {
      const candidate = (this.index + step) % this.pools.length;
      if (!this.unknownDevice.has(candidate)) return candidate;
    }
    return (this.index + 1) % this.pools.length;
  }

  private moveTo(to: number, reason: PoolSwitch['reason']): PoolSwitch {
    const from = this.index;
    this.index = to;
    this.relayIndex = 0;
    this.failures = 0;
    this.homeOk = 0;
    return { from, to, reason };
  }
}
