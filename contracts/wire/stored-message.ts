/**
 * The message JSON a queue entry holds (contracts/wire/queue-entry.ts), and the delivery
 * frames the relay makes of it without parsing it: a stored message is the `msg` frame
 * minus `t` and `seq`, so delivering one is a splice.
 */
export interface StoredMessage {
  createdAt: number;
  id: string;
  from: { identity: string; device: string };
  to: readonly string[];
  ttl?: number;
  /** Standard base64 (validated on the send path, so it needs no escaping); absent when stored by reference. */
  data?: string;
}

const CREATED_AT_PREFIX = '{"createdAt":';

/** createdAt first: the delivery path reads it at a fixed offset. */
export function encodeStoredMessage(message: StoredMessage): string {
  const from = JSON.stringify({ identity: message.from.identity, device: message.from.device });
  const ttl = message.ttl === undefined ? '' : `,"ttl":${message.ttl}`;
  const head = `${CREATED_AT_PREFIX}${message.createdAt},"id":${JSON.stringify(message.id)},"from":${from},"to":${JSON.stringify(message.to)}${ttl}`;
  return message.data === undefined ? `${head}}` : `${head},"data":"${message.data}"}`;
}

export function decodeStoredMessage(body: string): StoredMessage {
  return JSON.parse(body) as StoredMessage;
}

/** The message's createdAt, read without parsing the JSON. */
export function storedMessageCreatedAt(body: string): number {
  const start = CREATED_AT_PREFIX.length;
  return Number(body.slice(start, body.indexOf(',', start)));
}

/**
 * The `msg` frame text of a stored message. `data`: the payload of a message stored by
 * reference (the stored JSON has none); undefined for one stored with its data.
 */
export function messageFrameText(seq: number, body: string, data?: string): string {
  const rest = data === undefined ? body.slice(1) : `${body.slice(1, -1)},"data":"${data}"}`;
  return `{"t":"msg","seq":${seq},${rest}`;
}

/** The frame of an entry that expired before delivery: the device acks it like a message. */
export function skipFrameText(seq: number): string {
  return `{"t":"skip","seq":${seq},"reason":"expired"}`;
}
