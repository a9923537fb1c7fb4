import { decodeQueueEntry, type QueueEntry } from '../wire/queue-entry.js';
import { deviceKeys } from './keys.js';
import { defineScript } from './script-runner.js';

/** The member of a device's `ids` set that stands for one message: a retry queues nothing. */
export function dedupMember(senderDevice: string, messageId: string): string {
  return `${senderDevice}|${messageId}`;
}

/** The message every device of one enqueue call gets. */
export interface EnqueuedMessage {
  now: number;
  /** dedupMember of the sender device and message id. */
  dedupMember: string;
  /** Until when the member is remembered (ms). */
  dedupUntil: number;
  expiresAt: number;
  /** KIND and BODY of the entry (contracts/wire/queue-entry.ts encodeQueuedMessage). */
  stored: string;
  /** The payload's size, counted against `maxBytes`. */
  bytes: number;
  /** Entries and payload bytes a queue may hold: the oldest are dropped beyond them. */
  maxCount: number;
  maxBytes: number;
  /** Expiry of the device's keys. */
  keyTtlMs: number;
  /** The epoch of a queue this call creates. */
  newEpoch: string;
}

export interface EnqueueResult {
  queued: boolean;
  seq: number;
  /** Relay connections that received the wake-up: > 0 means the device is online now. */
  receivers: number;
  expired: number;
  dropped: number;
}

function numbers(reply: unknown): number[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from a queue script');
  return reply as number[];
}

/** lua/enqueue.lua: on Redis Cluster, `devices` must be one device (one slot). */
export const enqueueScript = defineScript(
  'enqueue',
  (input: { domain: string; devices: readonly string[]; message: EnqueuedMessage }) => {
    const { message } = input;
    const keys: string[] = [];
    const args: (string | number)[] = [
      message.now,
      message.dedupMember,
      message.expiresAt,
      message.stored,
      message.bytes,
      message.maxCount,
      message.maxBytes,
      message.keyTtlMs,
      message.newEpoch,
      message.dedupUntil,
    ];
    for (const device of input.devices) {
      const deviceKeySet = deviceKeys(input.domain, device);
      keys.push(deviceKeySet.meta, deviceKeySet.queue, deviceKeySet.ids);
      args.push(deviceKeySet.channel);
    }
    return { keys, args };
  },
  (reply): EnqueueResult[] => {
    const flat = numbers(reply);
    const results: EnqueueResult[] = [];
    for (let i = 0; i < flat.length; i += 5) {
      results.push({
        queued: flat[i] === 1,
        seq: flat[i + 1] ?? 0,
        receivers: flat[i + 2] ?? 0,
        expired: flat[i + 3] ?? 0,
        dropped: flat[i + 4] ?? 0,
      });
    }
    return results;
  },
);

export interface QueueWindow {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  expired: number;
  entries: QueueEntry[];
}

/** lua/fetch.lua: undefined when the device has no queue. */
export const fetchScript = defineScript(
  'fetch',
  (input: {
    domain: string;
    device: string;
    fromSeq: number;
    maxCount: number;
    maxBytes: number;
  }) => {
    const keys = deviceKeys(input.domain, input.device);
    return {
      keys: [keys.meta, keys.queue],
      args: [input.fromSeq, input.maxCount, input.maxBytes],
    };
  },
  (reply): QueueWindow | undefined => {
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the fetch script');
    const [epoch, head, next, drops, expired, ...entries] = reply as (string | number | null)[];
    if (epoch === null || epoch === undefined) return undefined;
    return {
      epoch: String(epoch),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      expired: Number(expired),
      entries: entries.map((raw) => decodeQueueEntry(String(raw))),
    };
  },
);

/** lua/ack.lua: the new head, or 'stale' when the queue is gone or has another epoch. */
export const ackScript = defineScript(
  'ack',
  (input: { domain: string; device: string; upTo: number; epoch: string; told?: number }) => {
    const keys = deviceKeys(input.domain, input.device);
    return {
      keys: [keys.meta, keys.queue],
      args:
        input.told === undefined
          ? [input.upTo, input.epoch]
          : [input.upTo, input.epoch, input.told],
    };
  },
  (reply): number | 'stale' => {
    const [head] = numbers(reply);
    return head === undefined || head < 0 ? 'stale' : head;
  },
);

export interface ClaimResult {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  created: boolean;
  /** The drop count the device was last seen to be told of; below `drops`, tell it again. */
  told: number;
}

/** lua/claim.lua */
export const claimScript = defineScript(
  'claim',
  (input: { domain: string; device: string; connectionId: string; newEpoch: string }) => {
    const keys = deviceKeys(input.domain, input.device);
    return {
      keys: [keys.meta, keys.queue],
      args: [input.newEpoch, input.connectionId, keys.channel],
    };
  },
  (reply): ClaimResult => {
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the claim script');
    const [epoch, head, next, drops, created, told] = reply as (string | number | null)[];
    return {
      epoch: String(epoch),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      created: created === 1,
      told: Number(told ?? 0),
    };
  },
);
