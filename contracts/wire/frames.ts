import { z } from 'zod';

/** Ids of identities, devices and workspaces (same rule as crds/common.ts). */
const idPattern = /^[a-z0-9][a-z0-9._@-]{0,127}$/;
const id = z.string().regex(idPattern);

/** Whether `value` is an id of an identity, device or workspace. */
export function isId(value: string): boolean {
  return idPattern.test(value);
}
// Shared by the schemas and the hand-written decoders of `send` and `ack` below, so the two
// cannot drift apart.
const MESSAGE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const RECIPIENT = /^(device|identity|workspace):[a-z0-9][a-z0-9._@-]{0,127}$/;
const MAX_RECIPIENTS = 1000;

/** A message id chosen by the sender (a ULID by default); the end-to-end de-duplication key. */
const messageId = z.string().regex(MESSAGE_ID, 'message id: 1–64 of [A-Za-z0-9._-]');
const base64 = z.string().regex(BASE64, 'data must be standard base64');
const recipient = z.string().regex(RECIPIENT, {
  message: 'recipient must be device:ID, identity:ID or workspace:ID',
});

export const helloFrame = z.object({
  t: z.literal('hello'),
  token: z.string().min(1).max(8192),
  /** The epoch the device last saw; a different server epoch means "resync". */
  epoch: z.string().max(64).optional(),
  status: z.enum(['active', 'idle']).optional(),
});

export const sendFrame = z.object({
  t: z.literal('send'),
  id: messageId,
  to: z.array(recipient).min(1).max(MAX_RECIPIENTS),
  data: base64,
  /** Seconds the message may wait in a queue; capped by the policy's retention. */
  ttl: z.number().int().positive().optional(),
});

export const ackFrame = z.object({
  t: z.literal('ack'),
  /** Cumulative: everything with seq <= upTo is acknowledged. */
  upTo: z.number().int().nonnegative(),
});

export const watchFrame = z.object({
  t: z.enum(['watch', 'unwatch']),
  identities: z.array(id).min(1).max(1000),
});

export const statusFrame = z.object({ t: z.literal('status'), status: z.enum(['active', 'idle']) });
export const pingFrame = z.object({ t: z.literal('ping') });

export const clientFrame = z.discriminatedUnion('t', [
  helloFrame,
  sendFrame,
  ackFrame,
  watchFrame,
  statusFrame,
  pingFrame,
]);

export type HelloFrame = z.infer<typeof helloFrame>;
export type SendFrame = z.infer<typeof sendFrame>;
export type AckFrame = z.infer<typeof ackFrame>;
export type ClientFrame = z.infer<typeof clientFrame>;

export type DecodeResult =
  { ok: true; frame: ClientFrame } | { ok: false; message: string; id?: string };

/** The id of a refused send frame, when it is a valid one: the sender can then match the error. */
function sendIdOf(json: unknown): { id?: string } {
  if (typeof json !== 'object' || json === null) return {};
  const { t, id } = json as { t?: unknown; id?: unknown };
  return t === 'send' && messageId.safeParse(id).success ? { id: id as string } : {};
}

/** Parses one text frame from a client; never throws. */
export function decodeClientFrame(text: string): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, message: 'frame is not valid JSON' };
  }
  // `send` and `ack` are the hot frames: a valid one is decoded by hand, without the
  // schema. Whatever the hand decoder does not accept goes through zod, which refuses it and
  // words the error (frames.test.ts checks that both accept exactly the same frames).
  const fast = decodeHotFrame(json);
  if (fast !== undefined) return { ok: true, frame: fast };
  const parsed = clientFrame.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    return {
      ok: false,
      message: `${path === '' ? 'frame' : path}: ${issue?.message ?? 'invalid'}`,
      ...sendIdOf(json),
    };
  }
  return { ok: true, frame: parsed.data };
}

/**
 * The `send` or `ack` frame in `json` when it is valid, as the schema would return it (fields
 * not part of the frame dropped); undefined for anything else, valid or not.
 */
export function decodeHotFrame(json: unknown): SendFrame | AckFrame | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const frame = json as Record<string, unknown>;
  const t = frame['t'];
  if (t === 'ack') {
    const upTo = frame['upTo'];
    // zod 4's int() is a safe integer.
    return Number.isSafeInteger(upTo) && (upTo as number) >= 0
      ? { t: 'ack', upTo: upTo as number }
      : undefined;
  }
  if (t !== 'send') return undefined;
  const { id, to, data, ttl } = frame;
  if (typeof id !== 'string' || !MESSAGE_ID.test(id)) return undefined;
  if (!Array.isArray(to) || to.length < 1 || to.length > MAX_RECIPIENTS) return undefined;
  for (const value of to as unknown[]) {
    if (typeof value !== 'string' || !RECIPIENT.test(value)) return undefined;
  }
  if (typeof data !== 'string' || !BASE64.test(data)) return undefined;
  if (ttl === undefined) return { t: 'send', id, to: to as string[], data };
  if (!Number.isSafeInteger(ttl) || (ttl as number) <= 0) return undefined;
  return { t: 'send', id, to: to as string[], data, ttl: ttl as number };
}

/** Decoded size of a standard base64 string, without decoding it. */
export function base64DecodedLength(data: string): number {
  if (data.length === 0) return 0;
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.floor((data.length * 3) / 4) - padding;
}

/** A queued message as delivered; the relay assembles it from stored JSON (relay-core.ts). */
export interface MessageFrame {
  t: 'msg';
  seq: number;
  id: string;
  from: { identity: string; device: string };
  to: string[];
  data: string;
  createdAt: number;
  ttl?: number;
}

/** What the relay sends. `msg` frames are assembled from stored JSON, not through this type. */
export type ServerFrame =
  | {
      t: 'welcome';
      domain: string;
      identity: string;
      device: string;
      epoch: string;
      head: number;
      drops: number;
      resync: boolean;
      limits: Record<string, number | string>;
      /**
       * This connection's claim ordinal: a `displaced` close (4110) names the claim that took
       * over; one not above this is no displacement (absent from relays of before ordered claims).
       */
      claim?: number;
    }
  | { t: 'sent'; id: string; recipients: number; duplicates: number }
  | { t: 'error'; id?: string; code: string; message: string; retryAfterMs?: number }
  | { t: 'skip'; seq: number; reason: 'expired' }
  | { t: 'resync'; reason: 'epoch' | 'dropped'; epoch: string; drops: number }
  | {
      t: 'presence';
      identity: string;
      device: string;
      state: 'online' | 'offline';
      status?: string;
    }
  | { t: 'pong' };
