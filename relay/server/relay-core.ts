import { randomBytes } from 'node:crypto';
import type { RelayLimits } from '../../crds/relay-limits.js';
import { DeviceTokenVerifier, type DeviceClaims } from '../../contracts/auth/device-token.js';
import { TokenBucket } from '../limits/token-bucket.js';
import type { RelayConfig } from '../config.js';
import type { RelayMetrics } from '../metrics.js';
import { resolveFanOut } from '../protocol/addressing.js';
import { parseRecipient } from '../../contracts/wire/recipient.js';
import { RelayError } from '../../contracts/errors/relay-errors.js';
import { base64DecodedLength, type SendFrame } from '../../contracts/wire/frames.js';
import { DirectoryCache } from '../store/directory.js';
import { DeviceQueueStore } from '../store/device-queue.js';
import { DomainStorage } from '../store/domain-storage.js';
import { deviceKeys, directoryKeys } from '../../contracts/redis/keys.js';
import { ReplicaAcks } from '../../contracts/redis/replica-acks.js';
import { PresenceStore } from '../store/presence-store.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import { DEDUP_RECORD_OVERHEAD, dedupMember } from '../../contracts/redis/device-queue-scripts.js';
import type { QueueEntry } from '../../contracts/wire/queue-entry.js';
import {
  encodeStoredMessage,
  messageFrameText,
  skipFrameText,
  storedMessageCreatedAt,
} from '../../contracts/wire/stored-message.js';
import { Wakeups } from './wakeups.js';
import { ConnectionTimers } from './timer-wheel.js';

export interface SendResult {
  id: string;
  recipients: number;
  duplicates: number;
}

/** A delivery as the relay writes it: the `msg` frame text, or a `skip` for an expired entry. */
export interface Delivery {
  seq: number;
  frame: string;
  expired: boolean;
  createdAt: number;
}

/**
 * What both transports (WebSocket and long-poll) share: authentication, the send path
 * with its fan-out, reading queue windows as frames, and the stores.
 */
export class RelayCore {
  readonly verifier: DeviceTokenVerifier;
  readonly queues: DeviceQueueStore;
  readonly presence: PresenceStore;
  readonly directory: DirectoryCache;
  readonly wakeups: Wakeups;
  /** Pings, hello deadlines and token expiry of every WebSocket connection. */
  readonly timers: ConnectionTimers;
  /** Sends are acknowledged once on `config.redis.replicaAcks.replicas` replicas (WAIT). */
  readonly replicaAcks: ReplicaAcks;
  private readonly limitsByDomain: Map<string, RelayLimits>;
  /** Send rate per device (domain/device), whatever transport or connection it uses. */
  private readonly sendBuckets = new Map<
    string,
    { bucket: TokenBucket; usedAt: number; refillMs: number }
  >();
  private bucketsSweptAt = 0;
  /** Accepted sends per domain since the last flush to Redis (see flushUsage). */
  private usage = new Map<string, number>();
  /**
   * Devices revoked while this relay ran (domain/device → when): a hello that read the
   * directory just before the revocation reached it is still refused, and a device that
   * comes back hears AUTH_REVOKED rather than AUTH_UNKNOWN_DEVICE.
   */
  private readonly revoked = new Map<string, number>();

  constructor(
    readonly config: RelayConfig,
    readonly redis: RedisClient,
    readonly subscriber: RedisClient,
    readonly metrics: RelayMetrics,
    readonly clock: () => number = Date.now,
  ) {
    const keys = new Map(config.domains.map((domain) => [domain.name, domain.publicKeys]));
    this.limitsByDomain = new Map(config.domains.map((domain) => [domain.name, domain.limits]));
    this.verifier = new DeviceTokenVerifier(
      (domain) => keys.get(domain),
      () => Math.floor(clock() / 1000),
    );
    const storage = new DomainStorage(
      redis,
      clock,
      (domain, bytes) => metrics.domainStoredBytes.set({ domain }, bytes),
      () => metrics.redisErrors.inc(),
    );
    this.queues = new DeviceQueueStore(redis, clock, newEpoch, storage, () =>
      metrics.redisErrors.inc(),
    );
    this.presence = new PresenceStore(redis, clock);
    this.directory = new DirectoryCache(redis, subscriber);
    this.wakeups = new Wakeups(subscriber);
    this.timers = new ConnectionTimers(config.connection, clock);
    this.replicaAcks = new ReplicaAcks(redis, config.redis.replicaAcks);
  }

  limits(domain: string): RelayLimits {
    const limits = this.limitsByDomain.get(domain);
    if (limits === undefined)
      throw new RelayError('AUTH_UNKNOWN_DOMAIN', `unknown domain "${domain}"`);
    return limits;
  }

  /**
   * Takes one send from the device's token bucket: 0, or the milliseconds until a send is
   * allowed. Shared by both transports, so neither a reconnect nor a switch to long-poll
   * resets the rate.
   */
  takeSend(device: DeviceClaims): number {
    const limits = this.limits(device.domain);
    const now = this.clock();
    if (now - this.bucketsSweptAt >= 10_000) {
      this.bucketsSweptAt = now;
      // A bucket left alone long enough to refill is the same as a new one: forget it.
      for (const [key, entry] of this.sendBuckets) {
        if (now - entry.usedAt >= entry.refillMs) this.sendBuckets.delete(key);
      }
    }
    const key = `${device.domain}/${device.device}`;
    let entry = this.sendBuckets.get(key);
    if (entry === undefined) {
      entry = {
        bucket: new TokenBucket(limits.sendRatePerSecond, limits.sendBurst, this.clock),
        usedAt: now,
        refillMs: (limits.sendBurst / limits.sendRatePerSecond) * 1000,
      };
      this.sendBuckets.set(key, entry);
    }
    entry.usedAt = now;
    return entry.bucket.take();
  }

  /** Verifies the token and that the device is enrolled in its domain's directory. */
  async authenticate(token: string): Promise<DeviceClaims> {
    const claims = await this.verifier.verify(token);
    const directory = await this.storage(() => this.directory.get(claims.domain));
    if (this.isRevoked(claims.domain, claims.device)) {
      throw new RelayError(
        'AUTH_REVOKED',
        `device "${claims.device}" of domain "${claims.domain}" was revoked`,
      );
    }
    if (directory.identityOfDevice(claims.device) !== claims.identity) {
      throw new RelayError(
        'AUTH_UNKNOWN_DEVICE',
        `device "${claims.device}" of "${claims.identity}" is not enrolled in domain "${claims.domain}"`,
      );
    }
    return claims;
  }

  /**
   * Queues the message for every recipient device and resolves only once every queue has
   * it (the fan-out ack rule). Retries with the same id queue nothing twice. A send the
   * domain's storage quota, a full queue (rejectNew) or the sender's share of a queue refuses
   * is answered QUOTA_EXCEEDED or QUEUE_FULL: the devices that had room keep it, and the same
   * id sent again later queues it for the others only.
   */
  async send(sender: DeviceClaims, frame: Omit<SendFrame, 't'>): Promise<SendResult> {
    const limits = this.limits(sender.domain);
    const bytes = base64DecodedLength(frame.data);
    if (bytes > limits.maxMessageBytes) {
      throw new RelayError(
        'MESSAGE_TOO_LARGE',
        `message is ${bytes} bytes; this domain's limit is ${limits.maxMessageBytes}`,
      );
    }
    if (frame.to.length > limits.maxRecipients) {
      throw new RelayError(
        'TOO_MANY_RECIPIENTS',
        `send lists ${frame.to.length} recipients; this domain's limit is ${limits.maxRecipients} (maxRecipients)`,
      );
    }
    let refs;
    try {
      refs = frame.to.map(parseRecipient);
    } catch (error) {
      throw new RelayError('BAD_RECIPIENT', (error as Error).message);
    }
    const directory = await this.storage(() => this.directory.get(sender.domain));
    const { devices, unknown } = resolveFanOut(refs, directory, sender, {
      membersOnly: limits.workspaceSend === 'members',
    });
    if (unknown.length > 0) {
      throw new RelayError(
        'UNKNOWN_RECIPIENT',
        `no such recipient in domain "${sender.domain}": ${unknown.join(', ')}`,
      );
    }
    if (devices.length > limits.maxRecipients) {
      throw new RelayError(
        'TOO_MANY_RECIPIENTS',
        `send reaches ${devices.length} devices; this domain's limit is ${limits.maxRecipients} (maxRecipients)`,
      );
    }
    const now = this.clock();
    const ttlSeconds = Math.min(frame.ttl ?? limits.retentionSeconds, limits.retentionSeconds);
    const expiresAt = now + ttlSeconds * 1000;
    const byReference = devices.length >= 2 && bytes >= this.config.fanOutByReferenceBytes;
    const body = encodeStoredMessage({
      createdAt: now,
      id: frame.id,
      from: sender,
      to: frame.to,
      ttl: frame.ttl,
      data: byReference ? undefined : frame.data,
    });
    const dedupKey = dedupMember(sender.device, frame.id);
    const queues = this.queues;
    // What the domain's ledger would grow by at most, checked against the total last seen
    // (exact on a standalone Redis, where the script checks again; on Redis Cluster, where this
    // is the only check, a second old at most plus what this relay's sends reserved since).
    const payloadBytes = byReference ? frame.data.length + PAYLOAD_ESTIMATE_OVERHEAD : 0;
    const perDevice =
      body.length + ENTRY_ESTIMATE_OVERHEAD + dedupKey.length + DEDUP_RECORD_OVERHEAD;
    const growth = payloadBytes + devices.length * perDevice;
    const stored = await this.storage(() => queues.storage.total(sender.domain));
    if (stored + growth > limits.maxDomainStoredBytes) {
      throw this.refused(sender.domain, 'domain', limits, 0, devices.length);
    }
    const reservation = queues.storage.reserve(sender.domain, growth);
    const mark = this.replicaAcks.mark();
    const result = await this.storage(async () => {
      const payload = byReference
        ? await queues.storePayload(
            sender.domain,
            sender.device,
            frame.id,
            frame.data,
            devices.length,
            limits.retentionSeconds,
          )
        : undefined;
      const outcomes = await queues.enqueue(
        sender.domain,
        devices.map((target) => target.device),
        {
          dedupKey,
          expiresAt,
          body,
          sender: sender.identity,
          ...(payload === undefined
            ? {}
            : { payloadRef: payload.ref, payloadBytes: payload.bytes, counted: payload.counted }),
        },
        limits,
      );
      reservation.stored();
      // Acknowledged only once on enough replicas too (none by default): a failover then loses
      // nothing acknowledged (docs/architecture.md#durability-per-setting).
      await this.replicaAcks.confirm(
        mark,
        devices.map((target) => deviceKeys(sender.domain, target.device).meta),
      );
      return outcomes;
    }).catch((error: unknown) => {
      // A failed store may have stored part: counted until the next total says (a flush).
      reservation.stored();
      throw error;
    });
    let duplicates = 0;
    let queued = 0;
    const refusals: Record<'domain' | 'queue' | 'sender', number> = {
      domain: 0,
      queue: 0,
      sender: 0,
    };
    for (const outcome of result) {
      if (outcome.status === 'queued') queued++;
      else if (outcome.status === 'duplicate') duplicates++;
      else if (outcome.status === 'quota') refusals.domain++;
      else if (outcome.status === 'full') refusals.queue++;
      else refusals.sender++;
      if (outcome.dropped > 0) this.metrics.drops.inc({ reason: 'quota' }, outcome.dropped);
      if (outcome.expired > 0) this.metrics.drops.inc({ reason: 'expired' }, outcome.expired);
    }
    // A retry whose every copy was already queued was counted the first time.
    if (queued > 0) {
      this.usage.set(sender.domain, (this.usage.get(sender.domain) ?? 0) + 1);
    }
    if (duplicates > 0) this.metrics.duplicates.inc(duplicates);
    const done = queued + duplicates;
    if (refusals.domain > 0)
      throw this.refused(sender.domain, 'domain', limits, done, devices.length);
    if (refusals.queue > 0)
      throw this.refused(sender.domain, 'queue', limits, done, devices.length);
    if (refusals.sender > 0)
      throw this.refused(sender.domain, 'sender', limits, done, devices.length);
    this.metrics.messagesIn.inc();
    this.metrics.fanOut.observe(devices.length);
    return { id: frame.id, recipients: devices.length, duplicates };
  }

  /** The refusal of a send for storage (counted): QUOTA_EXCEEDED or QUEUE_FULL. */
  private refused(
    domain: string,
    scope: 'domain' | 'queue' | 'sender',
    limits: RelayLimits,
    queued: number,
    devices: number,
  ): RelayError {
    this.metrics.quotaExceeded.inc({ domain, scope });
    const progress = `queued for ${queued} of ${devices} devices; send the same id again later`;
    switch (scope) {
      case 'domain':
        return new RelayError(
          'QUOTA_EXCEEDED',
          `domain "${domain}" holds its storage quota of ${limits.maxDomainStoredBytes} bytes (maxDomainStoredBytes): ${progress}`,
        );
      case 'queue':
        return new RelayError(
          'QUEUE_FULL',
          `a recipient's queue is full (maxQueuedMessages ${limits.maxQueuedMessages}, maxQueuedBytes ${limits.maxQueuedBytes}, queueOverflow rejectNew): ${progress}`,
        );
      case 'sender':
        return new RelayError(
          'QUEUE_FULL',
          `your messages take ${limits.senderQueueSharePercent}% of a recipient's queue, the most one sender may (senderQueueSharePercent): ${progress}`,
        );
    }
  }

  /** Remembers a revocation announced on the domain's directory channel. */
  noteRevoked(domain: string, device: string): void {
    const now = this.clock();
    // Revocations are rare; an hour covers any hello racing the announcement.
    for (const [key, at] of this.revoked) {
      if (now - at > REVOKED_MEMORY_MS) this.revoked.delete(key);
    }
    this.revoked.set(`${domain}/${device}`, now);
  }

  isRevoked(domain: string, device: string): boolean {
    if (this.revoked.size === 0) return false;
    const at = this.revoked.get(`${domain}/${device}`);
    return at !== undefined && this.clock() - at <= REVOKED_MEMORY_MS;
  }

  /**
   * Adds the accepted sends counted since the last flush to each domain's usage hash
   * (`messagesRelayed`). On failure the counts are kept for the next flush.
   */
  async flushUsage(): Promise<void> {
    if (this.usage.size === 0) return;
    const counts = this.usage;
    this.usage = new Map();
    await Promise.all(
      [...counts].map(async ([domain, count]) => {
        try {
          await this.redis.hincrby(directoryKeys(domain).usage, 'messagesRelayed', count);
        } catch {
          this.metrics.redisErrors.inc();
          this.usage.set(domain, (this.usage.get(domain) ?? 0) + count);
        }
      }),
    );
  }

  /** Turns queue entries into frames, loading referenced payloads in one round. */
  async toDeliveries(entries: QueueEntry[]): Promise<Delivery[]> {
    const now = this.clock();
    const refs = entries.filter((entry) => entry.payloadRef !== undefined && entry.expiresAt > now);
    const payloads =
      refs.length === 0
        ? new Map<string, string | null>()
        : await this.storage(async () => {
            const keys = refs.map((entry) => entry.payloadRef ?? '');
            const values = await this.queues.loadPayloads(keys);
            return new Map(keys.map((key, i) => [key, values[i] ?? null]));
          });
    return entries.map((entry) =>
      deliveryOf(
        entry,
        entry.payloadRef === undefined ? undefined : payloads.get(entry.payloadRef),
        now,
      ),
    );
  }

  /** The frame of an entry that holds its payload inline (no Redis read needed). */
  inlineDelivery(entry: QueueEntry): Delivery | undefined {
    if (entry.payloadRef !== undefined) return undefined;
    return deliveryOf(entry, undefined, this.clock());
  }

  /**
   * Runs a storage operation; a Redis failure becomes STORAGE_UNAVAILABLE and is counted. The
   * client gets one stable message, never the Redis client's own text (the relay's log says
   * what happened to Redis: RedisHealth).
   */
  async storage<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof RelayError) throw error;
      this.metrics.redisErrors.inc();
      throw new RelayError('STORAGE_UNAVAILABLE', STORAGE_UNAVAILABLE_MESSAGE, STORAGE_RETRY_MS);
    }
  }
}

const REVOKED_MEMORY_MS = 60 * 60 * 1000;

/**
 * Upper bounds of what an entry and a payload are charged beyond their text (the sender, the
 * header, a payload reference; see DeviceQueueStore), for the check of a send against the
 * domain's total before anything is stored.
 */
const ENTRY_ESTIMATE_OVERHEAD = 512;
const PAYLOAD_ESTIMATE_OVERHEAD = 512;

/**
 * What a client is told when Redis does not answer (short enough for a WebSocket close reason,
 * at most 123 bytes). Stable: clients and scripts may show it as it is.
 */
export const STORAGE_UNAVAILABLE_MESSAGE =
  'Redis is unavailable; retry shortly with the same message id (nothing acked is lost)';
/** retryAfterMs of STORAGE_UNAVAILABLE: the relay reconnects to Redis within 0.5 s of its return. */
export const STORAGE_RETRY_MS = 500;

/** `data`: the referenced payload (null when it expired), undefined for inline entries. */
function deliveryOf(entry: QueueEntry, data: string | null | undefined, now: number): Delivery {
  const createdAt = storedMessageCreatedAt(entry.body);
  if (entry.expiresAt <= now || data === null) {
    return { seq: entry.seq, expired: true, createdAt, frame: skipFrameText(entry.seq) };
  }
  return {
    seq: entry.seq,
    expired: false,
    createdAt,
    frame: messageFrameText(entry.seq, entry.body, data),
  };
}

// Epoch candidates are made for every enqueue (used only when a queue is created), so they
// come from a per-process random nonce and a counter rather than a random draw each time.
const epochNonce = randomBytes(4).toString('hex');
let epochCounter = 0;

export function newEpoch(): string {
  epochCounter = (epochCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${Date.now().toString(36)}-${epochNonce}${epochCounter.toString(36)}`;
}

export function newConnectionId(pod: string): string {
  return `${pod}/${randomBytes(6).toString('hex')}`;
}
