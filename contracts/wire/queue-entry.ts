/**
 * One entry of a device's queue as stored in Redis: `SEQ:EXPIRES_MS:BYTES:KIND…`.
 * The enqueue script writes the header (lua/includes/queue-entry.lua) in front of the queued
 * message the relay encodes here. KIND `i` holds the sending identity and the message JSON
 * with its data inline; KIND `p` the sending identity, the charge of a payload stored apart, a
 * reference to it (counted: the payload is freed when the last entry referencing it goes), a
 * newline, then the message JSON without data. KINDs `I` and `R` are the same without sender
 * (and, for `R`, without counted reference): entries of relays from before per-sender shares,
 * still read. BYTES is what the entry is charged against the queue's byte bound. Scripts read
 * the header with one pattern match and never decode the body.
 */
export interface QueueEntry {
  seq: number;
  expiresAt: number;
  /** What the entry is charged against the queue's byte bound. */
  bytes: number;
  /** The stored message JSON (contracts/wire/stored-message.ts); without `data` when `payloadRef` is set. */
  body: string;
  payloadRef?: string;
  /** The sending identity (absent on entries written before per-sender shares). */
  sender?: string;
}

/** What the enqueue script stores after the header. */
export interface QueuedMessage {
  body: string;
  /** The sending identity: counted in the queue's per-sender share. */
  sender?: string;
  /** The key of a payload stored apart; with a sender, a counted reference. */
  payloadRef?: string;
  /** The charge of that payload (counted references only). */
  payloadBytes?: number;
}

/** KIND and what follows it: what the enqueue script stores after the header. */
export function encodeQueuedMessage(message: QueuedMessage): string {
  const { body, sender, payloadRef } = message;
  if (sender === undefined) {
    return payloadRef === undefined ? `I${body}` : `R${payloadRef}\n${body}`;
  }
  return payloadRef === undefined
    ? `i${sender} ${body}`
    : `p${sender} ${message.payloadBytes ?? 0} ${payloadRef}\n${body}`;
}

export function decodeQueueEntry(raw: string): QueueEntry {
  const a = raw.indexOf(':');
  const b = raw.indexOf(':', a + 1);
  const c = raw.indexOf(':', b + 1);
  const seq = Number(raw.slice(0, a));
  const expiresAt = Number(raw.slice(a + 1, b));
  const bytes = Number(raw.slice(b + 1, c));
  const kind = raw.charAt(c + 1);
  switch (kind) {
    case 'i': {
      const space = raw.indexOf(' ', c + 2);
      return { seq, expiresAt, bytes, sender: raw.slice(c + 2, space), body: raw.slice(space + 1) };
    }
    case 'p': {
      const space = raw.indexOf(' ', c + 2);
      const second = raw.indexOf(' ', space + 1);
      const newline = raw.indexOf('\n', second + 1);
      return {
        seq,
        expiresAt,
        bytes,
        sender: raw.slice(c + 2, space),
        payloadRef: raw.slice(second + 1, newline),
        body: raw.slice(newline + 1),
      };
    }
    case 'R': {
      const newline = raw.indexOf('\n', c + 2);
      return {
        seq,
        expiresAt,
        bytes,
        payloadRef: raw.slice(c + 2, newline),
        body: raw.slice(newline + 1),
      };
    }
    default:
      return { seq, expiresAt, bytes, body: raw.slice(c + 2) };
  }
}
