import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { DeviceClaims } from '../../contracts/auth/device-token.js';
import { httpStatusOf, RelayError } from '../../contracts/errors/relay-errors.js';
import { encodeErrorBody } from '../../contracts/wire/error-body.js';
import { isId, sendFrame } from '../../contracts/wire/frames.js';
import {
  ackBodySchema,
  decodePresenceQuery,
  encodePollReply,
  longPollPaths,
  pollQuerySchema,
  presenceQuerySchema,
  type PollQuery,
} from '../../contracts/wire/long-poll.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { isWake } from '../../contracts/wire/device-channel.js';
import type { ConnectionHandle } from '../../contracts/wire/presence.js';
import type { RelayCore } from './relay-core.js';

/** Sends a typed error as `{"error":{"code","message"}}` with a matching HTTP status. */
export function replyError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof RelayError) {
    if (error.retryAfterMs !== undefined)
      reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
    return reply.code(httpStatusOf(error.code)).send(encodeErrorBody(error.code, error.message));
  }
  return reply.code(httpStatusOf('INTERNAL')).send(encodeErrorBody('INTERNAL', 'internal error'));
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RelayError(
      'BAD_FRAME',
      `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

/**
 * The HTTP long-poll transport for networks that block WebSocket: plain requests carrying
 * the device token. A poll acknowledges what the device processed (`ack`) and waits up to
 * `wait` seconds for messages, returning at most `responseCapBytes` of them.
 */
export class LongPollTransport {
  /** device key → {handle, last poll}: presence for devices that only poll. */
  private readonly pollers = new Map<string, { claims: DeviceClaims; lastPoll: number }>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Wake functions of the polls in progress → their device (domain/device). */
  private readonly waiting = new Map<() => void, string>();
  /** Set by a drain: polls return at once instead of waiting. */
  private released = false;

  constructor(private readonly core: RelayCore) {}

  register(app: FastifyInstance, isReady: () => boolean): void {
    const authenticate = async (request: FastifyRequest): Promise<DeviceClaims> => {
      if (!isReady()) throw new RelayError('NOT_READY', 'relay is draining: retry another relay');
      const header = request.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (token === '')
        throw new RelayError('AUTH_MALFORMED', 'missing "Authorization: Bearer <token>"');
      return this.core.authenticate(token);
    };

    app.post(longPollPaths.send, async (request, reply) => {
      try {
        const claims = await authenticate(request);
        const frame = parse(sendFrame.omit({ t: true }), request.body);
        const wait = this.core.takeSend(claims);
        if (wait > 0) {
          throw new RelayError('RATE_LIMITED', "send rate over this domain's limit", wait);
        }
        return await this.core.send(claims, frame);
      } catch (error) {
        return replyError(reply, error);
      }
    });

    app.post(longPollPaths.ack, async (request, reply) => {
      try {
        const claims = await authenticate(request);
        const body = parse(ackBodySchema, request.body);
        const head = await this.core.storage(() =>
          this.core.queues.ack(claims.domain, claims.device, body.upTo, body.epoch),
        );
        if (head === 'stale') {
          throw new RelayError('STALE_EPOCH', 'the queue was reset: resync, then poll again');
        }
        return { head };
      } catch (error) {
        return replyError(reply, error);
      }
    });

    app.get(longPollPaths.poll, async (request, reply) => {
      try {
        const claims = await authenticate(request);
        const query = parse(pollQuerySchema, request.query);
        const body = await this.poll(claims, query, request);
        return await reply.type('application/json; charset=utf-8').send(body);
      } catch (error) {
        return replyError(reply, error);
      }
    });

    app.get(longPollPaths.presence, async (request, reply) => {
      try {
        const claims = await authenticate(request);
        const asked = decodePresenceQuery(parse(presenceQuerySchema, request.query));
        const { maxWatchedIdentities } = this.core.limits(claims.domain);
        if (asked.length > maxWatchedIdentities) {
          throw new RelayError(
            'WATCH_LIMIT_EXCEEDED',
            `${asked.length} identities asked; this domain's limit is ${maxWatchedIdentities} (maxWatchedIdentities)`,
          );
        }
        const invalid = asked.find((identity) => !isId(identity));
        if (invalid !== undefined) {
          throw new RelayError(
            'BAD_FRAME',
            `identities: ${JSON.stringify(invalid.slice(0, 140))} is not an identity id`,
          );
        }
        const identities = [...new Set(asked)];
        const snapshots = await this.core.storage(() =>
          Promise.all(
            identities.map((identity) => this.core.presence.snapshot(claims.domain, identity)),
          ),
        );
        return { presence: snapshots.flat() };
      } catch (error) {
        return replyError(reply, error);
      }
    });

    this.sweepTimer = setInterval(() => {
      void this.sweepPollers();
    }, 5000);
    this.sweepTimer.unref();
  }

  private async poll(
    claims: DeviceClaims,
    query: PollQuery,
    request: FastifyRequest,
  ): Promise<string> {
    const settings = this.core.config.longPoll;
    const waitMs = Math.min(query.wait ?? 0, settings.maxWaitSeconds) * 1000;
    await this.markOnline(claims);
    if (query.ack !== undefined && query.epoch !== undefined) {
      await this.core.storage(() =>
        this.core.queues.ack(
          claims.domain,
          claims.device,
          query.ack ?? 0,
          query.epoch ?? '',
          query.drops,
        ),
      );
    }
    const keys = deviceKeys(claims.domain, claims.device);
    // Each round waits on a fresh promise; a wake-up between rounds is remembered.
    let woken = false;
    // Read through a function: the flag is set by the listener during awaits.
    const wokenSinceRead = () => woken;
    let resolveWake: (() => void) | undefined;
    const wakeUp = () => {
      woken = true;
      resolveWake?.();
    };
    const listener = (message: string) => {
      if (isWake(message)) wakeUp();
    };
    await this.core.storage(() => this.core.wakeups.subscribe(keys.channel, listener));
    this.waiting.set(wakeUp, `${claims.domain}/${claims.device}`);
    request.raw.once('close', wakeUp);
    try {
      const deadline = this.core.clock() + waitMs;
      for (;;) {
        woken = false;
        if (this.core.isRevoked(claims.domain, claims.device)) {
          throw new RelayError('AUTH_REVOKED', 'this device was revoked by an administrator');
        }
        const fetchFrom = async (from: number) =>
          this.core.storage(() =>
            this.core.queues.fetch(
              claims.domain,
              claims.device,
              from,
              1000,
              settings.responseCapBytes,
            ),
          );
        let window = await fetchFrom((query.ack ?? 0) + 1);
        // A new epoch means the device's ack belongs to an older queue: read from the head.
        if (window !== undefined && query.epoch !== undefined && query.epoch !== window.epoch) {
          window = await fetchFrom(0);
        }
        if (window === undefined) {
          const claim = await this.core.storage(() =>
            this.core.queues.claim(claims.domain, claims.device, `poll:${this.core.config.podId}`, {
              mode: 'init',
            }),
          );
          window = { ...claim, expired: 0, entries: [] };
        }
        if (window.expired > 0) this.core.metrics.drops.inc({ reason: 'expired' }, window.expired);
        const resync = query.epoch !== undefined && query.epoch !== window.epoch;
        const remaining = deadline - this.core.clock();
        if (
          window.entries.length > 0 ||
          resync ||
          remaining <= 0 ||
          request.raw.destroyed ||
          this.released
        ) {
          const deliveries = await this.core.toDeliveries(window.entries);
          this.core.metrics.messagesOut.inc({ transport: 'long-poll' }, deliveries.length);
          // A first poll learns which drops the device was already told of (see the claim script).
          const told =
            query.ack === undefined
              ? Number((await this.core.redis.hget(keys.meta, 'told')) ?? 0)
              : undefined;
          return encodePollReply(
            {
              epoch: window.epoch,
              head: window.head,
              drops: window.drops,
              ...(told === undefined ? {} : { told }),
              resync,
            },
            deliveries.map((delivery) => delivery.frame),
          );
        }
        if (wokenSinceRead()) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          resolveWake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        resolveWake = undefined;
      }
    } finally {
      request.raw.off('close', wakeUp);
      this.waiting.delete(wakeUp);
      this.core.wakeups.unsubscribe(keys.channel, listener);
    }
  }

  private async markOnline(claims: DeviceClaims): Promise<void> {
    const key = `${claims.domain}/${claims.device}`;
    const known = this.pollers.has(key);
    this.pollers.set(key, { claims, lastPoll: this.core.clock() });
    if (!known) {
      this.core.metrics.connections.inc({ transport: 'long-poll' });
      await this.core.storage(() =>
        this.core.presence.online(this.core.config.podId, this.presenceHandleOf(claims), 'active'),
      );
    }
  }

  /** The presence entry of a device that polls: one per device and pod. */
  private presenceHandleOf(claims: DeviceClaims): ConnectionHandle {
    return {
      domain: claims.domain,
      identity: claims.identity,
      device: claims.device,
      connectionId: `poll:${this.core.config.podId}`,
    };
  }

  private async sweepPollers(): Promise<void> {
    const idleAfter = (this.core.config.longPoll.maxWaitSeconds + 10) * 1000;
    const now = this.core.clock();
    for (const [key, poller] of this.pollers) {
      if (now - poller.lastPoll < idleAfter) continue;
      this.pollers.delete(key);
      this.core.metrics.connections.dec({ transport: 'long-poll' });
      await this.core.presence
        .offline(this.core.config.podId, this.presenceHandleOf(poller.claims))
        .catch(() => this.core.metrics.redisErrors.inc());
    }
  }

  /**
   * A revoked device: its waiting polls end with AUTH_REVOKED (they check the core's
   * revocation list when woken) and it goes offline.
   */
  revoke(domain: string, device: string): void {
    const key = `${domain}/${device}`;
    for (const [wake, of] of this.waiting) if (of === key) wake();
    const poller = this.pollers.get(key);
    if (poller === undefined) return;
    this.pollers.delete(key);
    this.core.metrics.connections.dec({ transport: 'long-poll' });
    this.core.presence
      .offline(this.core.config.podId, this.presenceHandleOf(poller.claims))
      .catch(() => this.core.metrics.redisErrors.inc());
  }

  /** Ends every waiting poll now (drain): clients poll again, elsewhere. */
  releaseAll(): void {
    this.released = true;
    this.wakeAll();
  }

  /** Makes every waiting poll read its queue again. */
  wakeAll(): void {
    for (const wake of this.waiting.keys()) wake();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.releaseAll();
    for (const poller of this.pollers.values()) {
      await this.core.presence
        .offline(this.core.config.podId, this.presenceHandleOf(poller.claims))
        .catch(() => undefined);
    }
    this.pollers.clear();
  }
}
