import type { ItemOutcome } from '../../contracts/redis/device-queue-scripts.js';

export type { ItemOutcome };

/** Bounds of one batch: an item larger than them goes alone. */
export interface BatchBounds {
  /** Weight of a batch (e.g. device enqueues: a fan-out item weighs its devices). */
  maxWeight: number;
  /** Bytes of a batch (its items' arguments, estimated by the caller). */
  maxBytes: number;
}

/**
 * Runs one batch of a group: resolves with one outcome per item, in order, or rejects, which
 * fails every item of the batch with that error.
 */
export type BatchRunner<Item, Result> = (
  group: string,
  items: readonly Item[],
) => Promise<readonly ItemOutcome<Result>[]>;

interface Pending<Item, Result> {
  item: Item;
  weight: number;
  bytes: number;
  resolve: (value: Result) => void;
  reject: (error: Error) => void;
}

interface Group<Item, Result> {
  pending: Pending<Item, Result>[];
  weight: number;
  bytes: number;
  inFlight: number;
  /** A flush is scheduled for the end of the current turn. */
  scheduled: boolean;
}

/**
 * Group commit: the items of a group (one Redis node, or one hash slot of a cluster) that
 * arrive while a batch of that group is in flight wait and go out together in the next one,
 * so N concurrent operations cost about one call per round trip instead of N calls.
 *
 * An item that finds nothing in flight goes out in the same turn of the event loop (a
 * microtask: only items submitted in the same turn ride along), so an idle relay adds no
 * latency. Batches are bounded by weight and bytes: once the waiting items fill a batch, it
 * goes out at once, even while another is in flight, so at most one batch's worth waits per
 * group. No I/O here: `run` does the call, `schedule` defers the flush (injected in tests).
 */
export class GroupCommit<Item, Result> {
  private readonly groups = new Map<string, Group<Item, Result>>();

  constructor(
    private readonly run: BatchRunner<Item, Result>,
    private readonly bounds: BatchBounds,
    private readonly schedule: (flush: () => void) => void = queueMicrotask,
  ) {}

  /** Items waiting for a batch, over all groups (for tests and metrics). */
  get waiting(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.pending.length;
    return count;
  }

  /** Batches in flight, over all groups. */
  get inFlight(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.inFlight;
    return count;
  }

  submit(group: string, item: Item, weight = 1, bytes = 0): Promise<Result> {
    let state = this.groups.get(group);
    if (state === undefined) {
      state = { pending: [], weight: 0, bytes: 0, inFlight: 0, scheduled: false };
      this.groups.set(group, state);
    }
    const current = state;
    return new Promise<Result>((resolve, reject) => {
      current.pending.push({ item, weight, bytes, resolve, reject });
      current.weight += weight;
      current.bytes += bytes;
      if (current.weight >= this.bounds.maxWeight || current.bytes >= this.bounds.maxBytes) {
        // A full batch waits for nothing.
        this.flush(group, current);
      } else if (current.inFlight === 0 && !current.scheduled) {
        current.scheduled = true;
        this.schedule(() => {
          current.scheduled = false;
          if (current.inFlight === 0) this.flush(group, current);
        });
      }
    });
  }

  /** Sends what waits in `state`, one bounded batch after the other. */
  private flush(group: string, state: Group<Item, Result>): void {
    while (state.pending.length > 0) {
      const batch = this.take(state);
      state.inFlight++;
      this.send(group, state, batch);
      // What is left (less than a batch) waits for this batch to return.
      if (state.weight < this.bounds.maxWeight && state.bytes < this.bounds.maxBytes) break;
    }
  }

  /** The longest prefix of what waits that fits a batch (at least one item). */
  private take(state: Group<Item, Result>): Pending<Item, Result>[] {
    let weight = 0;
    let bytes = 0;
    let count = 0;
    for (const pending of state.pending) {
      if (
        count > 0 &&
        (weight + pending.weight > this.bounds.maxWeight ||
          bytes + pending.bytes > this.bounds.maxBytes)
      ) {
        break;
      }
      weight += pending.weight;
      bytes += pending.bytes;
      count++;
    }
    state.weight -= weight;
    state.bytes -= bytes;
    return state.pending.splice(0, count);
  }

  private send(group: string, state: Group<Item, Result>, batch: Pending<Item, Result>[]): void {
    let outcomes: Promise<readonly ItemOutcome<Result>[]>;
    try {
      outcomes = this.run(
        group,
        batch.map((pending) => pending.item),
      );
    } catch (error) {
      outcomes = Promise.reject(asError(error));
    }
    outcomes
      .then(
        (results) => {
          batch.forEach((pending, i) => {
            const outcome = results[i];
            if (outcome === undefined) {
              pending.reject(new Error('a batch call returned fewer results than items'));
            } else if (outcome.ok) pending.resolve(outcome.value);
            else pending.reject(outcome.error);
          });
        },
        (error: unknown) => {
          const failure = asError(error);
          for (const pending of batch) pending.reject(failure);
        },
      )
      .finally(() => {
        state.inFlight--;
        if (state.pending.length > 0) {
          if (state.inFlight === 0) this.flush(group, state);
        } else if (state.inFlight === 0 && !state.scheduled) {
          this.groups.delete(group);
        }
      });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
