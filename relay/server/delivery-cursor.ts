import type { ClaimResult, QueueWindow } from '../../contracts/redis/device-queue-scripts.js';
import type { Delivery } from './relay-core.js';

/** Where delivery latencies go (the `deliveryLatency` histogram): seconds from send to ack. */
export interface LatencySink {
  observe(seconds: number): void;
}

/**
 * Where one connection stands in its device's queue: which queue (`epoch`), what the device
 * acknowledged (`head`), what was written to it (`cursor`), what is known to exist
 * (`knownNext`) and how many messages the queue ever dropped (`drops`). No I/O: the
 * connection reads Redis and writes frames, and tells the cursor what happened through
 * the transitions below. Only `claim` sets the position wholesale.
 *
 * Seqs: `head` ≤ `cursor`; [head, cursor) is written and unacknowledged (the in-flight
 * window); [cursor, knownNext) is queued and not yet written.
 */
export class DeliveryCursor {
  #epoch = '';
  #head = 1;
  #cursor = 1;
  #knownNext = 1;
  #drops = 0;
  #dropsSignalledFrom: number | undefined;
  /**
   * seq → createdAt of each message written and not yet acknowledged (for latencies).
   * Created by the first write: an idle connection keeps no Map.
   */
  #sentAt: Map<number, number> | undefined;

  /** The queue's epoch as last claimed; '' until the first claim (nothing may be read before). */
  get epoch(): string {
    return this.#epoch;
  }

  /** Everything below this seq is acknowledged (the queue head as last seen). */
  get head(): number {
    return this.#head;
  }

  /** Next seq to write to the socket. */
  get cursor(): number {
    return this.#cursor;
  }

  /** One past the newest seq known to exist (from wake-ups and reads): no read when caught up. */
  get knownNext(): number {
    return this.#knownNext;
  }

  /** Messages the queue dropped (quota or expiry), ever, as last seen. */
  get drops(): number {
    return this.#drops;
  }

  /** An ack of this seq or later proves the device read the last drop signal (see `dropsToldBy`). */
  get dropsSignalledFrom(): number | undefined {
    return this.#dropsSignalledFrom;
  }

  /**
   * Starts over at the queue's head as the claim found it: at connect, and when the queue
   * was recreated under the connection (a new epoch). Nothing written before counts: the
   * device reads the queue again from its head.
   */
  claim(claim: ClaimResult): void {
    this.#epoch = claim.epoch;
    this.#head = claim.head;
    this.#cursor = claim.head;
    this.#knownNext = claim.next;
    this.#drops = claim.drops;
    this.#dropsSignalledFrom = undefined;
    this.#sentAt?.clear();
  }

  /** Messages written and not yet acknowledged whose send time is kept (for latencies). */
  get timedInFlight(): number {
    return this.#sentAt?.size ?? 0;
  }

  /** True once a claim set the position: before it, a wake-up must not read the queue. */
  get claimed(): boolean {
    return this.#epoch !== '';
  }

  /** How many more messages the in-flight window takes (0 or less: none). */
  room(maxInFlight: number): number {
    return maxInFlight - (this.#cursor - this.#head);
  }

  /** Queued messages are known that were not written yet. */
  get behind(): boolean {
    return this.#cursor < this.#knownNext;
  }

  /** A wake-up announced `seq` in `epoch`: it exists, so a read would find it. */
  woken(seq: number, epoch: string): void {
    if (epoch === this.#epoch && seq >= this.#knownNext) this.#knownNext = seq + 1;
  }

  /**
   * Whether the message a wake-up carried may be written as it is, without reading the
   * queue: it is of this queue, it is the very next one to write, and the window has room.
   * (The connection also requires that no read is in progress and the socket buffer is
   * under its bound.)
   */
  writableFromWake(seq: number, epoch: string, maxInFlight: number): boolean {
    return epoch === this.#epoch && seq === this.#cursor && this.room(maxInFlight) > 0;
  }

  /**
   * Takes in what a read of this queue (same epoch) saw: its head, its newest seq and its
   * drop count, which never go back. Returns true when the drop count grew: the device must
   * be told (`dropsSignalled(cursor)` once it was).
   */
  read(window: QueueWindow): boolean {
    const dropped = window.drops > this.#drops;
    this.#drops = Math.max(this.#drops, window.drops);
    if (window.head > this.#head) {
      // Written seqs below the new head left the queue without an ack of this connection
      // (dropped by quota or expiry, or acknowledged through another connection): no
      // latency to record, and nothing to keep.
      const end = Math.min(window.head, this.#cursor);
      const sentAt = this.#sentAt;
      if (sentAt !== undefined) for (let seq = this.#head; seq < end; seq++) sentAt.delete(seq);
      this.#head = window.head;
    }
    if (this.#cursor < window.head) this.#cursor = window.head;
    if (window.next > this.#knownNext) this.#knownNext = window.next;
    return dropped;
  }

  /** `delivery` was written to the socket (a `msg`, or a `skip` for an expired entry). */
  wrote(delivery: Delivery): void {
    this.#cursor = delivery.seq + 1;
    if (!delivery.expired) (this.#sentAt ??= new Map()).set(delivery.seq, delivery.createdAt);
  }

  /**
   * The seq an ack of `upTo` acknowledges: acks past what was written are clamped (a device
   * cannot acknowledge messages it has not seen); undefined when nothing new is acknowledged.
   */
  ackable(upTo: number): number | undefined {
    const bounded = Math.min(upTo, this.#cursor - 1);
    return bounded < this.#head ? undefined : bounded;
  }

  /** A drop signal was sent while `from` was the next seq to write. */
  dropsSignalled(from: number): void {
    this.#dropsSignalledFrom = from;
  }

  /**
   * The drop count an ack of `upTo` proves the device has seen signalled, or undefined.
   * Frames arrive in order, so an ack of the seq written after the signal (or later) was
   * sent after reading it.
   */
  dropsToldBy(upTo: number): number | undefined {
    const from = this.#dropsSignalledFrom;
    return from !== undefined && upTo >= from ? this.#drops : undefined;
  }

  /**
   * The ack that told Redis about the signal sent at `signalledFrom` succeeded: the signal
   * is settled, unless a newer one went out meanwhile.
   */
  dropSignalSettled(signalledFrom: number | undefined): void {
    if (this.#dropsSignalledFrom === signalledFrom) this.#dropsSignalledFrom = undefined;
  }

  /**
   * Redis moved the queue head to `head` for an ack of this epoch: records the latency of
   * each newly acknowledged message written by this connection, at `now`.
   */
  acked(head: number, now: number, latencies: LatencySink): void {
    const sentAt = this.#sentAt;
    for (let seq = this.#head; sentAt !== undefined && seq < head; seq++) {
      const createdAt = sentAt.get(seq);
      if (createdAt !== undefined) {
        latencies.observe((now - createdAt) / 1000);
        sentAt.delete(seq);
      }
    }
    this.#head = Math.max(this.#head, head);
  }
}
