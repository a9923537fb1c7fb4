import { deviceKeys, payloadKey } from '../../contracts/redis/keys.js';
import type { RedisClient } from './redis-connection.js';

export interface QueueBounds {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  retentionSeconds: number;
}

/** One queue entry as stored: see scripts.ts for the layout. */
export interface QueueEntry {
  seq: number;
  expiresAt: number;
  bytes: number;
  /** The message JSON; without `data` when `payloadRef` is set. */
  body: string;
  payloadRef?: string;
}

export interface EnqueueResult {
  queued: boolean;
  seq: number;
  /** Relay connections that received the wake-up: > 0 means the device is online now. */
  receivers: number;
  expired: number;
  dropped: number;
}

export interface QueueWindow {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  expired: number;
  entries: QueueEntry[];
}

export interface ClaimResult {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  created: boolean;
  /** The drop count the device was last seen to be told of; below `drops`, tell it again. */
  told: number;
}

export function parseEntry(raw: string): QueueEntry {
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

/** Slack on key expiry beyond retention, so Redis never removes a queue before its entries are due. */
/** Devices per fan-out script call on a standalone Redis. */
const ENQUEUE_CHUNK = 100;

const KEY_TTL_SLACK_MS = 60 * 60 * 1000;

/**
 * Per-device queues in Redis: idempotent enqueue with wake-up, windowed reads, cumulative
 * acks, connection claims. Thin: the logic lives in the Lua scripts.
 */
export class DeviceQueueStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: () => number,
    private readonly newEpoch: () => string,
  ) {}

  /**
   * Queues one message for several devices of a domain. On a standalone Redis one script
   * call does them all (in chunks, so no call blocks Redis for long); on a cluster each
   * device's keys live in their own slot, so it is one call per device.
   */
  async enqueue(
    domain: string,
    devices: readonly string[],
    message: {
      dedupKey: string;
      expiresAt: number;
      body: string;
      bytes: number;
      payloadRef?: string;
    },
    bounds: QueueBounds,
  ): Promise<EnqueueResult[]> {
    const now = this.clock();
    const retentionMs = bounds.retentionSeconds * 1000;
    const stored =
      message.payloadRef === undefined
        ? `I${message.body}`
        : `R${message.payloadRef}\n${message.body}`;
    const args = [
      now,
      message.dedupKey,
      message.expiresAt,
      stored,
      message.bytes,
      bounds.maxQueuedMessages,
      bounds.maxQueuedBytes,
      retentionMs + KEY_TTL_SLACK_MS,
      this.newEpoch(),
      '',
      now + retentionMs,
    ];
    const replies: number[][] = [];
    if ('isCluster' in this.redis && this.redis.isCluster) {
      replies.push(
        ...(await Promise.all(
          devices.map((device) => {
            const keys = deviceKeys(domain, device);
            const own = [...args];
            own[9] = keys.channel;
            return this.redis.groveEnqueue(keys.meta, keys.queue, keys.ids, ...own);
          }),
        )),
      );
    } else {
      const chunks: (readonly string[])[] = [];
      for (let i = 0; i < devices.length; i += ENQUEUE_CHUNK) {
        chunks.push(devices.slice(i, i + ENQUEUE_CHUNK));
      }
      const flat = await Promise.all(
        chunks.map((chunk) => {
          const keys = chunk.map((device) => deviceKeys(domain, device));
          return this.redis.groveEnqueueMany(
            keys.length * 3,
            ...keys.flatMap((k) => [k.meta, k.queue, k.ids]),
            ...args,
            ...keys.map((k) => k.channel),
          );
        }),
      );
      for (const reply of flat) {
        for (let i = 0; i < reply.length; i += 5) replies.push(reply.slice(i, i + 5));
      }
    }
    return replies.map(([queued, seq, receivers, expired, dropped]) => ({
      queued: queued === 1,
      seq: seq ?? 0,
      receivers: receivers ?? 0,
      expired: expired ?? 0,
      dropped: dropped ?? 0,
    }));
  }

  async fetch(
    domain: string,
    device: string,
    fromSeq: number,
    maxCount: number,
    maxBytes: number,
  ): Promise<QueueWindow | undefined> {
    const keys = deviceKeys(domain, device);
    const reply = await this.redis.groveFetch(
      keys.meta,
      keys.queue,
      this.clock(),
      fromSeq,
      maxCount,
      maxBytes,
    );
    const [epoch, head, next, drops, expired, ...entries] = reply;
    if (epoch === null || epoch === undefined) return undefined;
    return {
      epoch: String(epoch),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      expired: Number(expired),
      entries: entries.map((raw) => parseEntry(String(raw))),
    };
  }

  /**
   * Returns the new head, or 'stale' when the epoch changed under the connection. `told`:
   * the drop count this ack proves the device has seen signalled.
   */
  async ack(
    domain: string,
    device: string,
    upTo: number,
    epoch: string,
    told?: number,
  ): Promise<number | 'stale'> {
    const keys = deviceKeys(domain, device);
    const [head] = await this.redis.groveAck(
      keys.meta,
      keys.queue,
      upTo,
      epoch,
      ...(told === undefined ? [] : [told]),
    );
    if (head === undefined || head < 0) return 'stale';
    return head;
  }

  async claim(domain: string, device: string, connectionId: string): Promise<ClaimResult> {
    const keys = deviceKeys(domain, device);
    const [epoch, head, next, drops, created, told] = await this.redis.groveClaim(
      keys.meta,
      keys.queue,
      this.newEpoch(),
      connectionId,
      keys.channel,
    );
    return {
      epoch: String(epoch),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      created: created === 1,
      told: Number(told ?? 0),
    };
  }

  /** Stores a payload once for a fan-out; queues then hold a reference to it. */
  async storePayload(
    domain: string,
    senderDevice: string,
    messageId: string,
    data: string,
    retentionSeconds: number,
  ): Promise<string> {
    const key = payloadKey(domain, senderDevice, messageId);
    await this.redis.set(key, data, 'PX', retentionSeconds * 1000 + KEY_TTL_SLACK_MS);
    return key;
  }

  async loadPayloads(refs: string[]): Promise<(string | null)[]> {
    // One GET per key: the keys live in different slots on a cluster (auto-pipelined anyway).
    return Promise.all(refs.map((ref) => this.redis.get(ref)));
  }
}
