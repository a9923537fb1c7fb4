import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  ackScript,
  claimScript,
  enqueueScript,
  fetchScript,
  type ClaimResult,
  type EnqueuedMessage,
  type EnqueueResult,
  type QueueWindow,
} from '../../contracts/redis/device-queue-scripts.js';
import { payloadKey } from '../../contracts/redis/keys.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { encodeQueuedMessage } from '../../contracts/wire/queue-entry.js';

export interface QueueBounds {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  retentionSeconds: number;
}

/** Devices per fan-out script call on a standalone Redis. */
const ENQUEUE_CHUNK = 100;

/** Slack on key expiry beyond retention, so Redis never removes a queue before its entries are due. */
const KEY_TTL_SLACK_MS = 60 * 60 * 1000;

/**
 * Per-device queues in Redis: idempotent enqueue with wake-up, windowed reads, cumulative
 * acks, connection claims. Thin: the logic lives in the Lua scripts
 * (contracts/redis/device-queue-scripts.ts).
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
    const enqueued: EnqueuedMessage = {
      now,
      dedupMember: message.dedupKey,
      dedupUntil: now + retentionMs,
      expiresAt: message.expiresAt,
      stored: encodeQueuedMessage(message),
      bytes: message.bytes,
      maxCount: bounds.maxQueuedMessages,
      maxBytes: bounds.maxQueuedBytes,
      keyTtlMs: retentionMs + KEY_TTL_SLACK_MS,
      newEpoch: this.newEpoch(),
    };
    const chunkSize = this.redis.isCluster ? 1 : ENQUEUE_CHUNK;
    const calls: Promise<EnqueueResult[]>[] = [];
    for (let i = 0; i < devices.length; i += chunkSize) {
      calls.push(
        runScript(this.redis, enqueueScript, {
          domain,
          devices: devices.slice(i, i + chunkSize),
          message: enqueued,
        }),
      );
    }
    return (await Promise.all(calls)).flat();
  }

  fetch(
    domain: string,
    device: string,
    fromSeq: number,
    maxCount: number,
    maxBytes: number,
  ): Promise<QueueWindow | undefined> {
    return runScript(this.redis, fetchScript, { domain, device, fromSeq, maxCount, maxBytes });
  }

  /**
   * Returns the new head, or 'stale' when the epoch changed under the connection. `told`:
   * the drop count this ack proves the device has seen signalled.
   */
  ack(
    domain: string,
    device: string,
    upTo: number,
    epoch: string,
    told?: number,
  ): Promise<number | 'stale'> {
    return runScript(this.redis, ackScript, { domain, device, upTo, epoch, told });
  }

  claim(domain: string, device: string, connectionId: string): Promise<ClaimResult> {
    return runScript(this.redis, claimScript, {
      domain,
      device,
      connectionId,
      newEpoch: this.newEpoch(),
    });
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
