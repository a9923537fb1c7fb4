import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { DeviceClaims } from '../../contracts/auth/device-token.js';
import { WindowCounter } from '../limits/token-bucket.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { closeCodeOf, RelayError } from '../../contracts/errors/relay-errors.js';
import {
  decodeClientFrame,
  type ClientFrame,
  type ServerFrame,
} from '../../contracts/wire/frames.js';
import { deviceKeys, identityKeys } from '../../contracts/redis/keys.js';
import { decodeDeviceChannelMessage } from '../../contracts/wire/device-channel.js';
import { presenceFrameText, type PresenceStatus } from '../../contracts/wire/presence.js';
import { decodeQueueEntry } from '../../contracts/wire/queue-entry.js';
import { newConnectionId, type RelayCore } from './relay-core.js';

/** Reads at most this many entries per Redis round trip. */
const FETCH_BATCH = 128;
const FETCH_BYTES = 1024 * 1024;

/**
 * One device's WebSocket: hello/auth, then the send path and the delivery loop. Delivery
 * reads the device's queue from the cursor, keeps at most `maxInFlight` unacknowledged
 * messages on the wire, pauses while the socket buffer is over its bound, and is woken by
 * the device's channel when a message is queued. Nothing is removed from Redis before
 * the device acknowledges it, so any close loses nothing.
 */
export class DeviceConnection {
  private claims: DeviceClaims | undefined;
  /** Frames received while the hello is being processed; undefined outside that time. */
  private early: ClientFrame[] | undefined;
  private connectionId = '';
  private epoch = '';
  private drops = 0;
  /** An ack of this seq or later proves the device read the last drop signal (see ack). */
  private dropsSignalledFrom: number | undefined;
  /** Next seq to write to the socket. */
  private cursor = 1;
  /** Everything below this seq is acknowledged (the queue head as last seen). */
  private head = 1;
  /** One past the newest seq known to exist (from wake-ups and reads): no read when caught up. */
  private knownNext = 1;
  private fetching = false;
  private wakePending = false;
  private acking = false;
  private pendingAck: number | undefined;
  private slowSince: number | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private alive = true;
  private closed = false;
  private corked = false;
  private counted = false;
  private badFrames = 0;
  private readonly frameBudget: WindowCounter;
  private readonly watched = new Set<string>();
  private readonly sentAt = new Map<number, number>();
  private status: PresenceStatus = 'active';
  private readonly onWake = (text: string): void => {
    const message = decodeDeviceChannelMessage(text);
    if (message.kind === 'claim') {
      if (message.connectionId !== this.connectionId) {
        this.close(CloseCode.displaced, 'this device connected again elsewhere');
      }
      return;
    }
    const { seq, epoch, entry } = message;
    if (epoch === this.epoch && seq >= this.knownNext) this.knownNext = seq + 1;
    if (entry !== undefined && epoch === this.epoch && this.writeFromWake(seq, entry)) return;
    this.pump();
  };
  private readonly onPresence = (message: string): void => {
    this.write(presenceFrameText(message));
  };

  constructor(
    private readonly socket: WebSocket,
    private readonly core: RelayCore,
    private readonly onClosed: (connection: DeviceConnection) => void,
  ) {
    const settings = core.config.connection;
    this.frameBudget = new WindowCounter(settings.maxFramesPerSecond, core.clock);
    this.helloTimer = setTimeout(() => {
      this.close(CloseCode.timeout, 'no hello within the deadline');
    }, settings.helloTimeoutMs);
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.badFrame(undefined, 'binary frames are not part of the protocol; send JSON text');
        return;
      }
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      const text = bytes.toString('utf8');
      this.onText(text);
    });
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => {
      void this.cleanup();
    });
    socket.on('error', () => {
      socket.terminate();
    });
    this.pingTimer = setInterval(() => {
      if (!this.alive) {
        // Half-open: the peer stopped answering. Nothing can be sent to it; just drop it.
        this.core.metrics.closes.inc({ code: String(CloseCode.timeout) });
        socket.terminate();
        return;
      }
      this.alive = false;
      socket.ping();
    }, settings.pingIntervalMs);
  }

  /** A method, not the field: the state changes across awaits, where narrowing would mislead. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** A wake-up arrived during the last await (set by the wake handler, not this loop). */
  private wokenWhileReading(): boolean {
    return this.wakePending;
  }

  get device(): DeviceClaims | undefined {
    return this.claims;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.core.metrics.closes.inc({ code: String(code) });
    this.socket.close(code, reason.slice(0, 120));
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => this.socket.terminate(), 5000).unref();
  }

  /** Ends the connection for good because an administrator revoked the device. */
  revoke(): void {
    if (this.closed) return;
    this.error('AUTH_REVOKED', 'this device was revoked by an administrator');
    this.close(CloseCode.revoked, 'device revoked');
  }

  private onText(text: string): void {
    // The socket still delivers what the peer sent before it saw the close: ignore it all.
    if (this.closed) return;
    if (!this.frameBudget.hit()) {
      this.close(CloseCode.flood, 'too many frames per second');
      return;
    }
    const decoded = decodeClientFrame(text);
    if (!decoded.ok) {
      this.badFrame(decoded.id, decoded.message);
      return;
    }
    const frame = decoded.frame;
    if (this.early !== undefined) {
      this.early.push(frame);
      return;
    }
    if (this.claims === undefined) {
      if (frame.t !== 'hello') {
        this.error('EXPECTED_HELLO', 'the first frame must be hello with a token');
        this.close(CloseCode.protocolError, 'expected hello');
        return;
      }
      // A client may pipeline frames behind its hello: hold them, and stop reading, until
      // the hello is settled, then handle them in order.
      this.early = [];
      this.socket.pause();
      void this.hello(frame.token, frame.epoch, frame.status).finally(() => {
        const early = this.early ?? [];
        this.early = undefined;
        this.socket.resume();
        const claims = this.claims;
        if (this.closed || claims === undefined) return;
        for (const next of early) void this.handle(next, claims);
      });
      return;
    }
    void this.handle(frame, this.claims);
  }

  private badFrame(id: string | undefined, message: string): void {
    this.badFrames++;
    this.error('BAD_FRAME', message, id);
    // Before hello the peer has not shown that it speaks the protocol at all.
    if (this.claims === undefined && this.early === undefined) {
      this.close(CloseCode.protocolError, 'expected hello');
    } else if (this.badFrames >= this.core.config.connection.maxBadFrames) {
      this.close(CloseCode.protocolError, 'too many invalid frames');
    }
  }

  private async hello(
    token: string,
    knownEpoch: string | undefined,
    status: PresenceStatus | undefined,
  ) {
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
    let claims: DeviceClaims;
    try {
      claims = await this.core.authenticate(token);
    } catch (error) {
      this.refuse(error);
      return;
    }
    if (this.closed) return;
    this.claims = claims;
    this.status = status ?? 'active';
    this.connectionId = newConnectionId(this.core.config.podId);
    const limits = this.core.limits(claims.domain);
    const keys = deviceKeys(claims.domain, claims.device);
    try {
      // Subscribe before claiming: no wake-up between the claim and the first read is missed.
      await this.core.wakeups.subscribe(keys.channel, this.onWake);
      const claim = await this.core.storage(() =>
        this.core.queues.claim(claims.domain, claims.device, this.connectionId),
      );
      if (this.isClosed()) return;
      this.epoch = claim.epoch;
      this.head = claim.head;
      this.cursor = claim.head;
      this.knownNext = claim.next;
      this.drops = claim.drops;
      const resync = knownEpoch !== undefined && knownEpoch !== claim.epoch;
      if (resync) this.core.metrics.resyncs.inc({ reason: 'epoch' });
      this.send({
        t: 'welcome',
        domain: claims.domain,
        identity: claims.identity,
        device: claims.device,
        epoch: claim.epoch,
        head: claim.head,
        drops: claim.drops,
        resync,
        limits: { ...limits },
      });
      if (claim.drops > claim.told) {
        // Dropped while the device was away (or before it acked the last signal).
        this.signalDrops(claim.head);
      }
      this.core.metrics.connections.inc({ transport: 'websocket' });
      this.counted = true;
      await this.core.storage(() =>
        this.core.presence.online(this.core.config.podId, this.handle_(), this.status),
      );
      // Closed while going online: cleanup ran before the entry existed, so remove it here.
      if (this.isClosed()) {
        await this.core.presence.offline(this.core.config.podId, this.handle_());
        return;
      }
      this.expiryTimer = setTimeout(
        () => {
          this.close(CloseCode.authExpired, 'token expired: reconnect with a fresh token');
        },
        Math.min(claims.expiresAt * 1000 - this.core.clock(), 2 ** 31 - 1),
      );
      this.pump();
    } catch (error) {
      this.refuse(error);
    }
  }

  private handle_() {
    const claims = this.claims;
    if (claims === undefined) throw new Error('not authenticated');
    return {
      domain: claims.domain,
      identity: claims.identity,
      device: claims.device,
      connectionId: this.connectionId,
    };
  }

  private refuse(error: unknown): void {
    if (error instanceof RelayError) {
      this.error(error.code, error.message);
      this.close(closeCodeOf(error.code), error.message);
      return;
    }
    this.close(CloseCode.storageUnavailable, 'internal error');
  }

  private async handle(frame: ClientFrame, claims: DeviceClaims): Promise<void> {
    switch (frame.t) {
      case 'send': {
        const wait = this.core.takeSend(claims);
        if (wait > 0) {
          this.error('RATE_LIMITED', "send rate over this domain's limit", frame.id, wait);
          return;
        }
        try {
          const result = await this.core.send(claims, frame);
          this.send({ t: 'sent', ...result });
        } catch (error) {
          if (error instanceof RelayError)
            this.error(error.code, error.message, frame.id, error.retryAfterMs);
          else
            this.error(
              'STORAGE_UNAVAILABLE',
              'send failed; retry with the same id',
              frame.id,
              1000,
            );
        }
        return;
      }
      case 'ack':
        this.ack(frame.upTo);
        return;
      case 'watch':
      case 'unwatch':
        await this.watch(frame.t, frame.identities, claims);
        return;
      case 'status':
        this.status = frame.status;
        await this.core.presence
          .online(this.core.config.podId, this.handle_(), frame.status)
          .catch(() => this.core.metrics.redisErrors.inc());
        return;
      case 'ping':
        this.send({ t: 'pong' });
        return;
      case 'hello':
        this.badFrame(undefined, 'hello was already received');
        return;
    }
  }

  private ack(upTo: number): void {
    // Acks past what was written are clamped: a device cannot acknowledge unseen messages.
    const bounded = Math.min(upTo, this.cursor - 1);
    if (bounded < this.head) return;
    if (this.acking) {
      this.pendingAck = Math.max(this.pendingAck ?? 0, bounded);
      return;
    }
    void this.flushAck(bounded);
  }

  private async flushAck(upTo: number): Promise<void> {
    const claims = this.claims;
    if (claims === undefined) return;
    this.acking = true;
    const signalledFrom = this.dropsSignalledFrom;
    const told = signalledFrom !== undefined && upTo >= signalledFrom ? this.drops : undefined;
    try {
      const head = await this.core.queues.ack(claims.domain, claims.device, upTo, this.epoch, told);
      if (told !== undefined && this.dropsSignalledFrom === signalledFrom) {
        this.dropsSignalledFrom = undefined;
      }
      if (head !== 'stale') {
        const now = this.core.clock();
        for (let seq = this.head; seq < head; seq++) {
          const createdAt = this.sentAt.get(seq);
          if (createdAt !== undefined) {
            this.core.metrics.deliveryLatency.observe((now - createdAt) / 1000);
            this.sentAt.delete(seq);
          }
        }
        this.head = Math.max(this.head, head);
      }
    } catch {
      this.core.metrics.redisErrors.inc();
    } finally {
      this.acking = false;
    }
    const next = this.pendingAck;
    this.pendingAck = undefined;
    if (next !== undefined && next >= this.head) void this.flushAck(next);
    else if (this.cursor < this.knownNext) this.pump();
  }

  private async watch(kind: 'watch' | 'unwatch', identities: string[], claims: DeviceClaims) {
    for (const identity of identities) {
      const channel = identityKeys(claims.domain, identity).channel;
      if (kind === 'unwatch') {
        if (this.watched.delete(channel)) this.core.wakeups.unsubscribe(channel, this.onPresence);
        continue;
      }
      if (this.watched.has(channel)) continue;
      this.watched.add(channel);
      try {
        await this.core.wakeups.subscribe(channel, this.onPresence);
        const snapshot = await this.core.presence.snapshot(claims.domain, identity);
        for (const event of snapshot) this.send({ t: 'presence', ...event });
      } catch {
        this.core.metrics.redisErrors.inc();
        this.error('STORAGE_UNAVAILABLE', `could not watch ${identity}; watch again`);
      }
    }
  }

  /** Records this connection's presence again (after this pod was wrongly swept as dead). */
  async reassertPresence(): Promise<void> {
    if (this.closed || !this.counted) return;
    await this.core.presence.online(this.core.config.podId, this.handle_(), this.status);
  }

  /**
   * The fast path for a device that is caught up: the wake-up carried the entry, so write
   * it without reading the queue. Anything unusual (a read in progress, a gap, a full
   * window or buffer, a payload by reference) leaves it to the normal read.
   */
  private writeFromWake(seq: number, raw: string): boolean {
    const claims = this.claims;
    if (claims === undefined || this.closed || this.fetching || seq !== this.cursor) return false;
    if (this.core.limits(claims.domain).maxInFlight - (this.cursor - this.head) <= 0) return false;
    if (this.socket.bufferedAmount > this.core.config.connection.maxBufferedBytes) return false;
    const delivery = this.core.inlineDelivery(decodeQueueEntry(raw));
    if (delivery === undefined) return false;
    this.write(delivery.frame);
    this.cursor = seq + 1;
    if (delivery.expired) this.core.metrics.drops.inc({ reason: 'expired' });
    else this.sentAt.set(seq, delivery.createdAt);
    this.core.metrics.messagesOut.inc({ transport: 'websocket' });
    return true;
  }

  /** Reads more of the queue when the window and the socket buffer allow. */
  pump(): void {
    // Before the claim (epoch still empty) a wake-up must not read: the hello reads next.
    if (this.closed || this.claims === undefined || this.epoch === '') return;
    if (this.fetching) {
      this.wakePending = true;
      return;
    }
    void this.fetchAndWrite(this.claims);
  }

  private async fetchAndWrite(claims: DeviceClaims): Promise<void> {
    const settings = this.core.config.connection;
    const limits = this.core.limits(claims.domain);
    this.fetching = true;
    try {
      for (;;) {
        this.wakePending = false;
        if (this.closed) return;
        if (this.socket.bufferedAmount > settings.maxBufferedBytes) {
          this.waitForBuffer();
          return;
        }
        const room = limits.maxInFlight - (this.cursor - this.head);
        if (room <= 0) return;
        const window = await this.core.queues.fetch(
          claims.domain,
          claims.device,
          this.cursor,
          Math.min(room, FETCH_BATCH),
          FETCH_BYTES,
        );
        if (this.isClosed()) return;
        if (window === undefined || window.epoch !== this.epoch) {
          // The queue vanished (left unacked past retention) or was recreated: start over.
          const claim = await this.core.queues.claim(
            claims.domain,
            claims.device,
            this.connectionId,
          );
          this.epoch = claim.epoch;
          this.head = claim.head;
          this.cursor = claim.head;
          this.knownNext = claim.next;
          this.drops = claim.drops;
          this.dropsSignalledFrom = undefined;
          this.sentAt.clear();
          this.core.metrics.resyncs.inc({ reason: 'epoch' });
          this.send({ t: 'resync', reason: 'epoch', epoch: claim.epoch, drops: claim.drops });
          continue;
        }
        if (window.expired > 0) this.core.metrics.drops.inc({ reason: 'expired' }, window.expired);
        const dropped = window.drops > this.drops;
        this.drops = Math.max(this.drops, window.drops);
        if (window.head > this.head) this.head = window.head;
        if (this.cursor < window.head) this.cursor = window.head;
        if (dropped) this.signalDrops(this.cursor);
        if (window.next > this.knownNext) this.knownNext = window.next;
        if (window.entries.length === 0) {
          if (!this.wokenWhileReading()) return;
          continue;
        }
        const deliveries = await this.core.toDeliveries(window.entries);
        for (const delivery of deliveries) {
          if (delivery.seq < this.cursor) continue;
          this.write(delivery.frame);
          this.cursor = delivery.seq + 1;
          if (delivery.expired) this.core.metrics.drops.inc({ reason: 'expired' });
          else this.sentAt.set(delivery.seq, delivery.createdAt);
        }
        this.core.metrics.messagesOut.inc({ transport: 'websocket' }, deliveries.length);
        if (this.cursor >= window.next && !this.wokenWhileReading()) return;
      }
    } catch {
      this.core.metrics.redisErrors.inc();
      // Retry shortly: Redis may be restarting. The messages stay queued meanwhile.
      setTimeout(() => this.pump(), 500).unref();
    } finally {
      this.fetching = false;
      if (this.wakePending) this.pump();
    }
  }

  /**
   * Tells the device that messages were dropped. The signal counts as received (and is not
   * repeated at the next connect) once the device acks `from` or later: frames arrive in
   * order, so such an ack was sent after reading this one.
   */
  private signalDrops(from: number): void {
    this.dropsSignalledFrom = from;
    this.core.metrics.resyncs.inc({ reason: 'dropped' });
    this.send({ t: 'resync', reason: 'dropped', epoch: this.epoch, drops: this.drops });
  }

  private waitForBuffer(): void {
    const settings = this.core.config.connection;
    this.slowSince ??= this.core.clock();
    if (this.core.clock() - this.slowSince > settings.slowConsumerTimeoutMs) {
      this.close(CloseCode.slowConsumer, 'slow consumer: reconnect when ready to read');
      return;
    }
    if (this.slowTimer !== undefined) return;
    this.slowTimer = setTimeout(() => {
      this.slowTimer = undefined;
      if (this.socket.bufferedAmount <= settings.maxBufferedBytes) this.slowSince = undefined;
      this.pump();
    }, 50);
  }

  private send(frame: ServerFrame): void {
    this.write(JSON.stringify(frame));
  }

  private write(text: string): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    if (!this.corked) {
      // Frames written in one tick leave in one system call instead of one each.
      const raw = (this.socket as unknown as { _socket?: Socket })._socket;
      if (raw !== undefined) {
        raw.cork();
        this.corked = true;
        process.nextTick(() => {
          this.corked = false;
          raw.uncork();
        });
      }
    }
    this.socket.send(text);
  }

  private error(code: string, message: string, id?: string, retryAfterMs?: number): void {
    this.core.metrics.rejected.inc({ code });
    this.send({
      t: 'error',
      code,
      message,
      ...(id === undefined ? {} : { id }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  private async cleanup(): Promise<void> {
    this.closed = true;
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    if (this.slowTimer !== undefined) clearTimeout(this.slowTimer);
    for (const channel of this.watched) this.core.wakeups.unsubscribe(channel, this.onPresence);
    this.watched.clear();
    const claims = this.claims;
    if (this.counted) this.core.metrics.connections.dec({ transport: 'websocket' });
    if (claims !== undefined) {
      this.core.wakeups.unsubscribe(deviceKeys(claims.domain, claims.device).channel, this.onWake);
      await this.core.presence
        .offline(this.core.config.podId, this.handle_())
        .catch(() => this.core.metrics.redisErrors.inc());
    }
    this.onClosed(this);
  }
}
