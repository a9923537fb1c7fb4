import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  ackBatchScript,
  claimScript,
  deviceLedgerMember,
  ENTRY_OVERHEAD,
  enqueueBatchScript,
  fetchScript,
  payloadLedgerMember,
  payloadReleaseScript,
  payloadStoreScript,
  PAYLOAD_OVERHEAD,
  type AckItem,
  type AckResult,
  type ClaimMode,
  type ClaimResult,
  type EnqueuedMessage,
  type EnqueueItem,
  type EnqueueReply,
  type EnqueueResult,
  type LedgerEntry,
  type QueueWindow,
} from '../../contracts/redis/device-queue-scripts.js';
import { deviceKeys, parsePayloadKey, payloadKey } from '../../contracts/redis/keys.js';
import { keySlot } from '../../contracts/redis/replica-acks.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { encodeQueuedMessage } from '../../contracts/wire/queue-entry.js';
import type { QueueOverflow } from '../../crds/relay-limits.js';
import { DomainStorage } from './domain-storage.js';
import { GroupCommit, type BatchBounds } from './group-commit.js';

export interface QueueBounds {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  retentionSeconds: number;
  /** Default: retentionSeconds. */
  dedupWindowSeconds?: number;
  /** Default: dropOldest. */
  queueOverflow?: QueueOverflow;
  /** Default: 100 (no bound beyond the queue's own). */
  senderQueueSharePercent?: number;
  /** Default: none. */
  maxDomainStoredBytes?: number;
}

/** One message for several devices, as the relay queues it. */
export interface MessageToQueue {
  dedupKey: string;
  expiresAt: number;
  body: string;
  /**
   * What the entry is charged against a queue's byte bound. Default: every byte of it, the
   * stored text (with its recipient list), ENTRY_OVERHEAD, and the payload stored apart.
   */
  bytes?: number;
  /** The sending identity: counted in each queue's per-sender share. */
  sender?: string;
  /** A payload stored apart (storePayload) and its charge. */
  payloadRef?: string;
  payloadBytes?: number;
  /** The payload's reference is counted (storePayload said so): entries release it. */
  counted?: boolean;
}

/** Devices per fan-out script call on a standalone Redis. */
const ENQUEUE_CHUNK = 100;

/**
 * Bounds of one group-commit call (device enqueues or acks, and bytes of arguments). Redis
 * serves nothing else while a script runs, and the Lua work is per item (a batch saves the
 * call, not the enqueue: on the shared benchmark machine a call of about 130 enqueues took
 * 15-21 ms in Redis), so a call stays at 64 device enqueues or acks; a fan-out chunk of up
 * to 100 devices goes alone.
 */
export const ENQUEUE_BATCH: BatchBounds = { maxWeight: 64, maxBytes: 1024 * 1024 };
export const ACK_BATCH: BatchBounds = { maxWeight: 64, maxBytes: 256 * 1024 };
/** What an item's arguments take beyond the message (keys, channels, numbers), estimated. */
const ITEM_ARGUMENT_BYTES = 256;
const DEVICE_ARGUMENT_BYTES = 192;

/** Slack on key expiry beyond retention, so Redis never removes a queue before its entries are due. */
const KEY_TTL_SLACK_MS = 60 * 60 * 1000;

/**
 * Per-device queues in Redis: idempotent enqueue with wake-up, windowed reads, cumulative
 * acks, connection claims, payloads stored apart with their reference counts, and the
 * domain's storage ledger (DomainStorage). Thin: the logic lives in the Lua scripts
 * (contracts/redis/device-queue-scripts.ts).
 *
 * Enqueues and acks go through group commit (GroupCommit): those that arrive while this
 * relay's previous call is in flight share the next script call, each with its own result.
 * On a standalone Redis (or Sentinel) everything is one group; on Redis Cluster a script's
 * keys must share a slot, so the groups are hash slots.
 */
export class DeviceQueueStore {
  readonly storage: DomainStorage;
  private readonly enqueues: GroupCommit<EnqueueItem, EnqueueReply>;
  private readonly acks: GroupCommit<AckItem, AckResult>;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: () => number,
    private readonly newEpoch: () => string,
    storage?: DomainStorage,
    /** Told of each failed payload release (the relay's Redis error count). */
    private readonly onError: () => void = () => undefined,
  ) {
    this.storage = storage ?? new DomainStorage(redis, clock);
    // Group commit batches these calls itself: they go out at once, not auto-pipelined.
    this.enqueues = new GroupCommit(
      (_group, items) => runScript(this.redis, enqueueBatchScript, items, { now: true }),
      ENQUEUE_BATCH,
    );
    this.acks = new GroupCommit(
      (_group, items) => runScript(this.redis, ackBatchScript, items, { now: true }),
      ACK_BATCH,
    );
  }

  /** The group of a device's keys: its slot on a cluster, the one server otherwise. */
  private groupOf(domain: string, device: string): string {
    return this.redis.isCluster ? String(keySlot(deviceKeys(domain, device).meta)) : '';
  }

  /**
   * Queues one message for several devices of a domain. On a standalone Redis one item
   * does them all (in chunks, so no call blocks Redis for long); on a cluster each device's
   * keys live in their own slot, so it is one item per device. Items share script calls with
   * the other enqueues in flight (group commit). References an item removed (entries
   * dropped or expired) are released, and so are those taken for devices that did not queue
   * the message.
   */
  async enqueue(
    domain: string,
    devices: readonly string[],
    message: MessageToQueue,
    bounds: QueueBounds,
  ): Promise<EnqueueResult[]> {
    const now = this.clock();
    const retentionMs = bounds.retentionSeconds * 1000;
    const windowMs =
      Math.min(bounds.dedupWindowSeconds ?? bounds.retentionSeconds, bounds.retentionSeconds) *
      1000;
    const share = bounds.senderQueueSharePercent ?? 100;
    const sender = message.sender ?? '';
    const counted = message.counted === true && sender !== '';
    // Each device is charged the payload it references; the ledger counts a counted one once.
    const referenced = message.payloadRef === undefined ? 0 : (message.payloadBytes ?? 0);
    const payloadBytes = counted ? referenced : 0;
    const stored = encodeQueuedMessage(
      sender === '' || (message.payloadRef !== undefined && !counted)
        ? // An uncounted reference (a payload stored by an older relay) is not released.
          {
            body: message.body,
            ...(message.payloadRef === undefined ? {} : { payloadRef: message.payloadRef }),
          }
        : {
            body: message.body,
            sender,
            ...(message.payloadRef === undefined
              ? {}
              : { payloadRef: message.payloadRef, payloadBytes }),
          },
    );
    const enqueued: EnqueuedMessage = {
      now,
      dedupMember: message.dedupKey,
      dedupUntil: now + windowMs,
      dedupWindowMs: windowMs,
      expiresAt: message.expiresAt,
      stored,
      bytes: message.bytes ?? stored.length + ENTRY_OVERHEAD + referenced,
      payloadBytes,
      maxCount: bounds.maxQueuedMessages,
      maxBytes: bounds.maxQueuedBytes,
      sender,
      shareCount:
        share >= 100 ? -1 : Math.max(1, Math.floor((bounds.maxQueuedMessages * share) / 100)),
      shareBytes:
        share >= 100 ? -1 : Math.max(1, Math.floor((bounds.maxQueuedBytes * share) / 100)),
      rejectNew: bounds.queueOverflow === 'rejectNew',
      domainMax: bounds.maxDomainStoredBytes ?? -1,
      keyTtlMs: retentionMs + KEY_TTL_SLACK_MS,
      idsTtlMs: windowMs + KEY_TTL_SLACK_MS,
      newEpoch: this.newEpoch(),
    };
    const ledger = this.storage.inScripts;
    const chunkSize = this.redis.isCluster ? 1 : ENQUEUE_CHUNK;
    const calls: Promise<EnqueueResult[]>[] = [];
    const itemBytes = stored.length + message.dedupKey.length + ITEM_ARGUMENT_BYTES;
    for (let i = 0; i < devices.length; i += chunkSize) {
      const chunk = devices.slice(i, i + chunkSize);
      calls.push(
        this.enqueues
          .submit(
            this.groupOf(domain, chunk[0] ?? ''),
            { domain, devices: chunk, message: enqueued, ledger },
            chunk.length,
            itemBytes + chunk.length * DEVICE_ARGUMENT_BYTES,
          )
          .then((reply) => {
            this.storage.noteTotal(domain, reply.total);
            reply.results.forEach((result, j) => {
              result.ledger.member = deviceLedgerMember(chunk[j] ?? '');
            });
            return reply.results;
          }),
      );
    }
    const results = (await Promise.all(calls)).flat();
    this.afterward(
      domain,
      results.map((result) => result.ledger),
      results.map((result) => result.released),
    );
    if (counted && message.payloadRef !== undefined) {
      const unused = results.filter((result) => result.status !== 'queued').length;
      if (unused > 0) this.release(new Map([[message.payloadRef, unused]]));
    }
    return results;
  }

  /** Ledger entries to apply (Redis Cluster) and payload references to give back, not awaited. */
  private afterward(
    domain: string,
    entries: readonly (LedgerEntry | undefined)[],
    released: readonly Map<string, number>[],
  ): void {
    this.storage.record(
      domain,
      entries.filter((entry): entry is LedgerEntry => entry !== undefined && entry.version > 0),
    );
    const all = new Map<string, number>();
    for (const map of released) {
      for (const [ref, n] of map) all.set(ref, (all.get(ref) ?? 0) + n);
    }
    if (all.size > 0) this.release(all);
  }

  /**
   * Gives references back to payloads stored apart; the last one deletes the payload. A
   * release that fails leaves the payload to its expiry (retention): nothing is lost, it is
   * kept longer than needed.
   */
  private release(refs: Map<string, number>): void {
    const now = this.clock();
    for (const [ref, references] of refs) {
      runScript(this.redis, payloadReleaseScript, {
        ref,
        references,
        now,
        ledger: this.storage.inScripts,
      })
        .then(({ left, total }) => {
          const parsed = parsePayloadKey(ref);
          if (parsed === undefined) return;
          this.storage.noteTotal(parsed.domain, total);
          if (left === 0 && !this.storage.inScripts) {
            this.storage.record(parsed.domain, [
              {
                member: payloadLedgerMember(parsed.sender, parsed.messageId),
                version: now,
                bytes: 0,
                deadline: now,
              },
            ]);
          }
        })
        .catch(() => this.onError());
    }
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
  async ack(
    domain: string,
    device: string,
    upTo: number,
    epoch: string,
    told?: number,
  ): Promise<number | 'stale'> {
    const result = await this.acks.submit(
      this.groupOf(domain, device),
      { domain, device, upTo, epoch, told, now: this.clock(), ledger: this.storage.inScripts },
      1,
      ITEM_ARGUMENT_BYTES + epoch.length,
    );
    this.storage.noteTotal(domain, result.total);
    if (result.ledger !== undefined) result.ledger.member = deviceLedgerMember(device);
    this.afterward(domain, [result.ledger], [result.released]);
    return result.head;
  }

  /** See ClaimMode: a new connection's claim by default. */
  claim(
    domain: string,
    device: string,
    connectionId: string,
    claim: ClaimMode = { mode: 'claim' },
  ): Promise<ClaimResult> {
    return runScript(this.redis, claimScript, {
      domain,
      device,
      connectionId,
      newEpoch: this.newEpoch(),
      claim,
    });
  }

  /**
   * Stores a payload once for a fan-out, taking `references` to it (one per device it is
   * about to be queued for); queues then hold a reference to it. The first payload stored
   * under an id is kept. `counted` is false for a payload an older relay stored without a
   * reference count: the entries must then not release it.
   */
  async storePayload(
    domain: string,
    senderDevice: string,
    messageId: string,
    data: string,
    references: number,
    retentionSeconds: number,
  ): Promise<{ ref: string; counted: boolean; bytes: number }> {
    const ref = payloadKey(domain, senderDevice, messageId);
    const bytes = payloadCharge(ref, data);
    const now = this.clock();
    const ttlMs = retentionSeconds * 1000 + KEY_TTL_SLACK_MS;
    const { state, total } = await runScript(this.redis, payloadStoreScript, {
      domain,
      sender: senderDevice,
      messageId,
      data,
      references,
      ttlMs,
      now,
      charge: bytes,
      ledger: this.storage.inScripts,
    });
    this.storage.noteTotal(domain, total);
    if (state === 1 && !this.storage.inScripts) {
      this.storage.record(domain, [
        {
          member: payloadLedgerMember(senderDevice, messageId),
          version: now,
          bytes,
          deadline: now + ttlMs,
        },
      ]);
    }
    return { ref, counted: state >= 0, bytes };
  }

  async loadPayloads(refs: string[]): Promise<(string | null)[]> {
    // One GET per key: the keys live in different slots on a cluster (auto-pipelined anyway).
    return Promise.all(refs.map((ref) => this.redis.get(ref)));
  }
}

/** What a payload stored apart is charged: its text, its key and its count's, and overhead. */
export function payloadCharge(ref: string, data: string): number {
  return data.length + 2 * ref.length + 2 + PAYLOAD_OVERHEAD;
}
