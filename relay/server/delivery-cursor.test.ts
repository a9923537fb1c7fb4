import { describe, expect, it } from '@jest/globals';
import type { ClaimResult, QueueWindow } from '../../contracts/redis/device-queue-scripts.js';
import { DeliveryCursor, type LatencySink } from './delivery-cursor.js';
import type { Delivery } from './relay-core.js';

function claimOf(fields: Partial<ClaimResult> = {}): ClaimResult {
  return {
    epoch: 'e1',
    head: 1,
    next: 1,
    drops: 0,
    created: false,
    told: 0,
    ordinal: 1,
    ...fields,
  };
}

function windowOf(fields: Partial<QueueWindow> = {}): QueueWindow {
  return { epoch: 'e1', head: 1, next: 1, drops: 0, expired: 0, entries: [], ...fields };
}

function msg(seq: number, createdAt = 1000): Delivery {
  return { seq, frame: `msg ${seq}`, expired: false, createdAt };
}

function skip(seq: number): Delivery {
  return { seq, frame: `skip ${seq}`, expired: true, createdAt: 0 };
}

function latencies(): LatencySink & { seconds: number[] } {
  const seconds: number[] = [];
  return { seconds, observe: (value) => seconds.push(value) };
}

/** A cursor claimed at `head` with `next`, and `written` messages written from the head. */
function cursorAt(head: number, next: number, written = 0): DeliveryCursor {
  const cursor = new DeliveryCursor();
  cursor.claim(claimOf({ head, next }));
  for (let seq = head; seq < head + written; seq++) cursor.wrote(msg(seq));
  return cursor;
}

function position(cursor: DeliveryCursor) {
  const { epoch, head, knownNext, drops, dropsSignalledFrom } = cursor;
  return { epoch, head, cursor: cursor.cursor, knownNext, drops, dropsSignalledFrom };
}

describe('DeliveryCursor', () => {
  describe('claim', () => {
    it('is unclaimed until the first claim: nothing may be read before it', () => {
      const cursor = new DeliveryCursor();
      expect(cursor.claimed).toBe(false);
      expect(cursor.writableFromWake(1, 'e1', 10)).toBe(false);
      cursor.claim(claimOf());
      expect(cursor.claimed).toBe(true);
    });

    it('starts writing at the queue head, knowing what the queue holds and dropped', () => {
      const cursor = new DeliveryCursor();
      cursor.claim(claimOf({ epoch: 'e7', head: 40, next: 45, drops: 3, told: 1 }));
      expect(position(cursor)).toEqual({
        epoch: 'e7',
        head: 40,
        cursor: 40,
        knownNext: 45,
        drops: 3,
        dropsSignalledFrom: undefined,
      });
      expect(cursor.behind).toBe(true);
    });

    it('forgets everything of the previous epoch when the queue was recreated', () => {
      const cursor = cursorAt(10, 20, 5);
      cursor.read(windowOf({ head: 10, next: 20, drops: 2 }));
      cursor.dropsSignalled(15);
      cursor.claim(claimOf({ epoch: 'e2', head: 1, next: 3, drops: 0 }));
      expect(position(cursor)).toEqual({
        epoch: 'e2',
        head: 1,
        cursor: 1,
        knownNext: 3,
        drops: 0,
        dropsSignalledFrom: undefined,
      });
      // The writes of the old epoch are not timed against the new queue's acks.
      const sink = latencies();
      cursor.acked(20, 5000, sink);
      expect(sink.seconds).toEqual([]);
    });
  });

  describe('in-flight window', () => {
    it('has room for maxInFlight minus what is written and unacknowledged', () => {
      const cursor = cursorAt(1, 10);
      expect(cursor.room(4)).toBe(4);
      cursor.wrote(msg(1));
      cursor.wrote(msg(2));
      cursor.wrote(msg(3));
      expect(cursor.room(4)).toBe(1);
      cursor.wrote(msg(4));
      expect(cursor.room(4)).toBe(0);
      cursor.acked(3, 1000, latencies());
      expect(cursor.room(4)).toBe(2);
    });

    it('counts a skip (expired entry) in the window like a message until acked', () => {
      const cursor = cursorAt(1, 10);
      cursor.wrote(skip(1));
      expect(cursor.cursor).toBe(2);
      expect(cursor.room(1)).toBe(0);
    });

    it('is behind while known messages are not written yet', () => {
      const cursor = cursorAt(1, 3);
      expect(cursor.behind).toBe(true);
      cursor.wrote(msg(1));
      cursor.wrote(msg(2));
      expect(cursor.behind).toBe(false);
    });
  });

  describe('acks', () => {
    it('acknowledges up to what was written, never past it', () => {
      const cursor = cursorAt(1, 10, 3);
      expect(cursor.ackable(2)).toBe(2);
      expect(cursor.ackable(3)).toBe(3);
      expect(cursor.ackable(9)).toBe(3);
      expect(cursor.ackable(Number.MAX_SAFE_INTEGER)).toBe(3);
    });

    it('acknowledges nothing below the head, and nothing at all before a write', () => {
      const cursor = cursorAt(5, 10);
      expect(cursor.ackable(7)).toBeUndefined();
      cursor.wrote(msg(5));
      cursor.wrote(msg(6));
      expect(cursor.ackable(4)).toBeUndefined();
      expect(cursor.ackable(0)).toBeUndefined();
      expect(cursor.ackable(5)).toBe(5);
      cursor.acked(6, 1000, latencies());
      expect(cursor.ackable(5)).toBeUndefined();
      expect(cursor.ackable(6)).toBe(6);
    });

    it('times each acknowledged message once, from its creation to the ack', () => {
      const cursor = cursorAt(1, 10);
      cursor.wrote(msg(1, 1000));
      cursor.wrote(skip(2));
      cursor.wrote(msg(3, 1500));
      cursor.wrote(msg(4, 1800));
      const sink = latencies();
      cursor.acked(4, 3000, sink);
      expect(sink.seconds).toEqual([2, 1.5]);
      expect(cursor.head).toBe(4);
      cursor.acked(4, 9000, sink);
      expect(sink.seconds).toEqual([2, 1.5]);
      cursor.acked(5, 4000, sink);
      expect(sink.seconds).toEqual([2, 1.5, 2.2]);
    });

    it('never moves the head back for an ack answered after a later one', () => {
      const cursor = cursorAt(1, 10, 5);
      cursor.acked(6, 2000, latencies());
      cursor.acked(3, 2000, latencies());
      expect(cursor.head).toBe(6);
    });

    it('forgets, untimed, the messages a read moved the head past (dropped, or acknowledged elsewhere)', () => {
      const cursor = cursorAt(1, 10);
      cursor.wrote(msg(1, 1000));
      cursor.wrote(msg(2, 1000));
      cursor.wrote(msg(3, 1000));
      cursor.read(windowOf({ head: 3, next: 10 }));
      // Seqs 1 and 2 are gone from the queue: their times are dropped now, not kept for good.
      expect(cursor.timedInFlight).toBe(1);
      const sink = latencies();
      cursor.acked(4, 2000, sink);
      expect(sink.seconds).toEqual([1]);
      expect(cursor.timedInFlight).toBe(0);
    });
  });

  describe('wake-ups', () => {
    it('learns of newer messages of its epoch only', () => {
      const cursor = cursorAt(1, 1);
      cursor.woken(4, 'e1');
      expect(cursor.knownNext).toBe(5);
      cursor.woken(2, 'e1');
      expect(cursor.knownNext).toBe(5);
      cursor.woken(9, 'old');
      expect(cursor.knownNext).toBe(5);
      expect(cursor.behind).toBe(true);
    });

    it('writes a woken message at once only when it is the next one and the window has room', () => {
      const cursor = cursorAt(1, 1);
      expect(cursor.writableFromWake(1, 'e1', 2)).toBe(true);
      cursor.wrote(msg(1));
      // Already written (a read got there first), or a gap before it: read instead.
      expect(cursor.writableFromWake(1, 'e1', 2)).toBe(false);
      expect(cursor.writableFromWake(3, 'e1', 2)).toBe(false);
      expect(cursor.writableFromWake(2, 'e1', 2)).toBe(true);
      // Another epoch's message.
      expect(cursor.writableFromWake(2, 'e2', 2)).toBe(false);
      cursor.wrote(msg(2));
      // The window is full.
      expect(cursor.writableFromWake(3, 'e1', 2)).toBe(false);
      cursor.acked(2, 1000, latencies());
      expect(cursor.writableFromWake(3, 'e1', 2)).toBe(true);
    });
  });

  describe('reads', () => {
    it('moves the head, the cursor and what is known forward, never back', () => {
      const cursor = cursorAt(1, 1, 0);
      expect(cursor.read(windowOf({ head: 4, next: 9 }))).toBe(false);
      // Entries below the head expired or were dropped: writing resumes at the head.
      expect(position(cursor)).toMatchObject({ head: 4, cursor: 4, knownNext: 9 });
      cursor.wrote(msg(4));
      cursor.wrote(msg(5));
      cursor.woken(11, 'e1');
      cursor.read(windowOf({ head: 2, next: 7 }));
      expect(position(cursor)).toMatchObject({ head: 4, cursor: 6, knownNext: 12 });
    });

    it('keeps the cursor where it is when the head passes only acknowledged seqs', () => {
      const cursor = cursorAt(1, 10, 6);
      cursor.read(windowOf({ head: 3, next: 10 }));
      expect(position(cursor)).toMatchObject({ head: 3, cursor: 7 });
    });

    it('says when the drop count grew, and only then', () => {
      const cursor = new DeliveryCursor();
      cursor.claim(claimOf({ drops: 2 }));
      expect(cursor.read(windowOf({ drops: 2 }))).toBe(false);
      expect(cursor.read(windowOf({ drops: 3 }))).toBe(true);
      expect(cursor.drops).toBe(3);
      expect(cursor.read(windowOf({ drops: 3 }))).toBe(false);
      // A count that went back (a stale read) is not taken.
      expect(cursor.read(windowOf({ drops: 1 }))).toBe(false);
      expect(cursor.drops).toBe(3);
    });
  });

  describe('drop signalling', () => {
    it('counts a signal as read once the device acks the seq written after it', () => {
      const cursor = cursorAt(1, 10, 4);
      cursor.read(windowOf({ drops: 2, next: 10 }));
      cursor.dropsSignalled(cursor.cursor);
      expect(cursor.dropsSignalledFrom).toBe(5);
      expect(cursor.dropsToldBy(4)).toBeUndefined();
      expect(cursor.dropsToldBy(5)).toBe(2);
      expect(cursor.dropsToldBy(8)).toBe(2);
    });

    it('tells nothing without a signal', () => {
      const cursor = cursorAt(1, 10, 4);
      cursor.read(windowOf({ drops: 2, next: 10 }));
      expect(cursor.dropsToldBy(4)).toBeUndefined();
    });

    it('settles the signal the ack was for, and keeps a newer one', () => {
      const cursor = cursorAt(1, 10, 4);
      cursor.dropsSignalled(3);
      const signalledFrom = cursor.dropsSignalledFrom;
      // A newer signal went out while the ack was on its way to Redis.
      cursor.dropsSignalled(5);
      cursor.dropSignalSettled(signalledFrom);
      expect(cursor.dropsSignalledFrom).toBe(5);
      cursor.dropSignalSettled(5);
      expect(cursor.dropsSignalledFrom).toBeUndefined();
    });

    it('signals at connect from the head (drops the device was not told of)', () => {
      const cursor = new DeliveryCursor();
      cursor.claim(claimOf({ head: 7, next: 9, drops: 4, told: 2 }));
      cursor.dropsSignalled(cursor.head);
      expect(cursor.dropsToldBy(6)).toBeUndefined();
      cursor.wrote(msg(7));
      expect(cursor.dropsToldBy(cursor.ackable(7) ?? 0)).toBe(4);
    });
  });
});
