/**
 * One entry of a device's queue as stored in Redis: `SEQ:EXPIRES_MS:BYTES:KIND BODY`.
 * The enqueue script writes the header (lua/includes/queue-entry.lua) in front of the queued
 * message the relay encodes here: KIND `I` holds the message JSON with its data inline, KIND
 * `R` a payload reference, a newline, then the message JSON without data (fan-out by
 * reference: the payload is stored once). Scripts read the header with one pattern match and
 * never decode the body.
 */
export interface QueueEntry {
  seq: number;
  expiresAt: number;
  /** The payload's size, counted against the queue's byte bound. */
  bytes: number;
  /** The stored message JSON (contracts/wire/stored-message.ts); without `data` when `payloadRef` is set. */
  body: string;
  payloadRef?: string;
}

/** KIND and BODY of an entry: what the enqueue script stores after the header. */
export function encodeQueuedMessage(message: { body: string; payloadRef?: string }): string {
  return message.payloadRef === undefined
    ? `I${message.body}`
    : `R${message.payloadRef}\n${message.body}`;
}

export function decodeQueueEntry(raw: string): QueueEntry {
  const a = raw.indexOf(':');
  const b = raw.indexOf(':', a + 1);
  const c = raw.indexOf(':', b + 1);
  const seq = Number(raw.slice(0, a));
  const expiresAt = Number(raw.slice(a + 1, b));
  const bytes = Number(raw.slice(b + 1, c));
  const kind = raw.charAt(c + 1);
  if (kind === 'R') {
    const newline = raw.indexOf('\n', c + 2);
    return {
      seq,
      expiresAt,
      bytes,
      payloadRef: raw.slice(c + 2, newline),
      body: raw.slice(newline + 1),
    };
  }
  return { seq, expiresAt, bytes, body: raw.slice(c + 2) };
}
