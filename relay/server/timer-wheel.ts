/**
 * Deadlines of many connections on slots of one coarse tick, instead of a Node timer each.
 * A `Timeout` (with its closure, context and, for a duration no other timer has, a timer
 * list of its own) costs a few hundred bytes of heap per connection; an entry in a slot's
 * Set costs a few dozen. Pure apart from the clock its driver passes in: `advance(now)`
 * fires what is due.
 *
 * An item never fires before its time and at most one tick after it (plus however late
 * `advance` is called). An item is in at most one slot of a wheel at a time: the caller
 * keeps the slot `schedule` returned and passes it to `cancel`.
 */
export class TimerWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  /** The last slot fired: every slot up to it is empty. */
  private fired: number;
  private count = 0;

  constructor(
    private readonly tickMs: number,
    private readonly fire: (item: T, now: number) => void,
    now: number,
    /** Told of every schedule (the driver starts its interval). */
    private readonly onSchedule: () => void = () => undefined,
  ) {
    this.fired = Math.floor(now / tickMs);
  }

  /** Items waiting. */
  get size(): number {
    return this.count;
  }

  /**
   * Fires `item` once `advance` is called at or after `at` (ms, the clock's scale). Returns
   * its slot, for `cancel`.
   */
  schedule(item: T, at: number): number {
    // Slot k holds what is due by k·tick: it fires once now ≥ k·tick ≥ at, never early.
    const slot = Math.max(Math.ceil(at / this.tickMs), this.fired + 1);
    let items = this.slots.get(slot);
    if (items === undefined) {
      items = new Set();
      this.slots.set(slot, items);
    }
    if (!items.has(item)) {
      items.add(item);
      this.count++;
    }
    this.onSchedule();
    return slot;
  }

  /** Takes `item` out of `slot` (nothing if it is not there, e.g. it fired already). */
  cancel(item: T, slot: number): void {
    const items = this.slots.get(slot);
    if (items?.delete(item) !== true) return;
    this.count--;
    if (items.size === 0) this.slots.delete(slot);
  }

  /** Fires every item due by `now`, in the order of their slots. */
  advance(now: number): void {
    const current = Math.floor(now / this.tickMs);
    if (current <= this.fired) return;
    if (current - this.fired <= this.slots.size) {
      for (let slot = this.fired + 1; slot <= current; slot++) {
        this.fired = slot;
        this.fireSlot(slot, now);
      }
      return;
    }
    // Far behind (the process was stopped, or the clock jumped): visit only the slots that
    // exist. What a fired item schedules goes after `current`.
    const due = [...this.slots.keys()].filter((slot) => slot <= current).sort((a, b) => a - b);
    this.fired = current;
    for (const slot of due) this.fireSlot(slot, now);
  }

  private fireSlot(slot: number, now: number): void {
    const items = this.slots.get(slot);
    if (items === undefined) return;
    this.slots.delete(slot);
    this.count -= items.size;
    for (const item of items) this.fire(item, now);
  }
}

/** The tick of a relay's wheels: a tenth of its shortest deadline, within 10–100 ms. */
export function wheelTickMs(settings: { pingIntervalMs: number; helloTimeoutMs: number }): number {
  const shortest = Math.min(settings.pingIntervalMs, settings.helloTimeoutMs);
  return Math.max(10, Math.min(100, Math.floor(shortest / 10)));
}

/**
 * Drives wheels with one Node interval, running only while one of them holds an item (an
 * idle relay, and a test's core, keep no timer). Unref'd: the server keeps the process.
 */
export class WheelDriver {
  private readonly wheels: { advance(now: number): void; readonly size: number }[] = [];
  private interval: NodeJS.Timeout | undefined;

  constructor(
    private readonly tickMs: number,
    private readonly clock: () => number,
  ) {}

  /** A wheel on this driver's tick and clock; `fire` runs as its items fall due. */
  wheel<T>(fire: (item: T, now: number) => void): TimerWheel<T> {
    const wheel = new TimerWheel<T>(this.tickMs, fire, this.clock(), () => {
      this.start();
    });
    this.wheels.push(wheel);
    return wheel;
  }

  private start(): void {
    if (this.interval !== undefined) return;
    this.interval = setInterval(() => {
      this.tick();
    }, this.tickMs);
    this.interval.unref();
  }

  /** Advances every wheel to the clock's now; stops the interval once all are empty. */
  tick(): void {
    const now = this.clock();
    for (const wheel of this.wheels) wheel.advance(now);
    if (this.wheels.every((wheel) => wheel.size === 0)) this.stop();
  }

  stop(): void {
    if (this.interval !== undefined) clearInterval(this.interval);
    this.interval = undefined;
  }
}

/** A connection's socket, pinged on the relay's wheel. */
export interface Pinged {
  /** Its ping interval elapsed: cut it off if the last ping went unanswered, else ping again. */
  pingDue(now: number): void;
}

/** A connection's handshake, with the deadlines it keeps on the relay's wheels. */
export interface Deadlined {
  /** No hello arrived within `helloTimeoutMs`. */
  helloDue(): void;
  /** The session's token expired. */
  expiryDue(): void;
}

/**
 * The relay-wide wheels of every WebSocket connection: keepalive pings, the hello deadline
 * and token expiry, on one interval instead of two or three Node timers per connection.
 */
export class ConnectionTimers {
  private readonly driver: WheelDriver;
  readonly pings: TimerWheel<Pinged>;
  readonly hellos: TimerWheel<Deadlined>;
  readonly expiries: TimerWheel<Deadlined>;

  constructor(
    settings: { pingIntervalMs: number; helloTimeoutMs: number },
    readonly clock: () => number,
  ) {
    this.driver = new WheelDriver(wheelTickMs(settings), clock);
    this.pings = this.driver.wheel<Pinged>((socket, now) => {
      socket.pingDue(now);
    });
    this.hellos = this.driver.wheel<Deadlined>((handshake) => {
      handshake.helloDue();
    });
    this.expiries = this.driver.wheel<Deadlined>((handshake) => {
      handshake.expiryDue();
    });
  }

  /** Stops the interval (the relay is stopping). */
  stop(): void {
    this.driver.stop();
  }
}
