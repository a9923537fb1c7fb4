import type { WebSocket } from 'ws';
import type { DeviceClaims } from '../../contracts/auth/device-token.js';
import { WindowCounter } from '../limits/token-bucket.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { RelayError } from '../../contracts/errors/relay-errors.js';
import { decodeClientFrame, type ClientFrame } from '../../contracts/wire/frames.js';
import { deviceKeys, identityKeys } from '../../contracts/redis/keys.js';
import { decodeDeviceChannelMessage } from '../../contracts/wire/device-channel.js';
import { presenceFrameText } from '../../contracts/wire/presence.js';
import { decodeQueueEntry } from '../../contracts/wire/queue-entry.js';
import { DeliveryCursor } from './delivery-cursor.js';
import { DeviceSocket, type DeviceSocketEvents } from './device-socket.js';
import { displacedReason, Handshake, type DeviceSession, type HandshakeHost } from './handshake.js';
import type { RelayCore } from './relay-core.js';

/** The pause before an ack Redis did not take is sent again. */
const ACK_RETRY_MS = 500;

/** Reads at most this many entries per Redis round trip. */
const FETCH_BATCH = 128;
const FETCH_BYTES = 1024 * 1024;

/**
 * One device's WebSocket: the socket's lifecycle (`DeviceSocket`), the hello
 * (`Handshake`), then the frames of the protocol and the delivery loop. Delivery reads the
 * device's queue from the cursor (`DeliveryCursor`), keeps at most `maxInFlight`
 * unacknowledged messages on the wire, pauses while the socket buffer is over its bound,
 * and is woken by the device's channel when a message is queued. Nothing is removed from
 * Redis before the device acknowledges it, so any close loses nothing.
 */
export class DeviceConnection implements DeviceSocketEvents, HandshakeHost {
  private readonly socket: DeviceSocket;
  private readonly handshake: Handshake;
  private readonly delivery = new DeliveryCursor();
  private fetching = false;
  private wakePending = false;
  private acking = false;
  private pendingAck: number | undefined;
  /** Set while an ack Redis did not take waits to be sent again. */
  private ackRetry: NodeJS.Timeout | undefined;
  private badFrames = 0;
  private readonly frameBudget: WindowCounter;
  /** Presence channels watched; created by the first watch (most devices never watch). */
  private watched: Set<string> | undefined;
  /** The device channel's listener: wake-ups, and claims by newer connections (HandshakeHost). */
  readonly onDeviceChannel = (text: string): void => {
    const message = decodeDeviceChannelMessage(text);
    if (message.kind === 'claim') {
      const session = this.handshake.session;
      if (session === undefined || message.connectionId === session.presenceHandle.connectionId) {
        return;
      }
      // Only a newer claim displaces this connection: of two simultaneous connects exactly
      // the newer one stays. Before this connection's own claim returned, the handshake decides.
      if (session.claim === undefined) this.handshake.otherClaim(message.ordinal);
      else if (message.ordinal === undefined || message.ordinal > session.claim) {
        this.close(CloseCode.displaced, displacedReason(message.ordinal));
      }
      return;
    }
    const { seq, epoch, entry } = message;
    this.delivery.woken(seq, epoch);
    if (entry !== undefined && this.writeFromWake(seq, epoch, entry)) return;
    this.pump();
  };
  /** The presence channels' listener, created with `watched`. */
  private onPresence: ((message: string) => void) | undefined;

  constructor(
    ws: WebSocket,
    private readonly core: RelayCore,
    private readonly onClosed: (connection: DeviceConnection) => void,
  ) {
    const settings = core.config.connection;
    this.frameBudget = new WindowCounter(settings.maxFramesPerSecond, core.clock);
    this.socket = new DeviceSocket(ws, settings, core.metrics, core.timers, this);
    this.handshake = new Handshake(core, this.socket, this.delivery, this);
  }

  /** A wake-up arrived during the last await (set by the wake handler, not this loop). */
  private wokenWhileReading(): boolean {
    return this.wakePending;
  }

  get device(): DeviceClaims | undefined {
    return this.handshake.session?.claims;
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  /** Ends the connection for good because an administrator revoked the device. */
  revoke(): void {
    if (this.socket.isClosed()) return;
    this.socket.error('AUTH_REVOKED', 'this device was revoked by an administrator');
    this.close(CloseCode.revoked, 'device revoked');
  }

  /** (DeviceSocketEvents) */
  onText(text: string): void {
    // The socket still delivers what the peer sent before it saw the close: ignore it all.
    if (this.socket.isClosed()) return;
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
    const session = this.handshake.admit(frame);
    if (session !== undefined) void this.handleFrame(frame, session);
  }

  /** (DeviceSocketEvents) */
  onBinaryFrame(): void {
    this.badFrame(undefined, 'binary frames are not part of the protocol; send JSON text');
  }

  /** (DeviceSocketEvents) */
  retryWrite(): void {
    this.pump();
  }

  /** (DeviceSocketEvents) */
  onSocketClosed(): void {
    void this.cleanup();
  }

  private badFrame(id: string | undefined, message: string): void {
    this.badFrames++;
    this.socket.error('BAD_FRAME', message, id);
    // Before hello the peer has not shown that it speaks the protocol at all.
    if (this.handshake.awaitingHello) {
      this.close(CloseCode.protocolError, 'expected hello');
    } else if (this.badFrames >= this.core.config.connection.maxBadFrames) {
      this.close(CloseCode.protocolError, 'too many invalid frames');
    }
  }

  /** Handles a frame received after the hello (HandshakeHost: also those pipelined behind it). */
  async handleFrame(frame: ClientFrame, session: DeviceSession): Promise<void> {
    const { claims } = session;
    switch (frame.t) {
      case 'send': {
        const wait = this.core.takeSend(claims);
        if (wait > 0) {
          this.socket.error('RATE_LIMITED', "send rate over this domain's limit", frame.id, wait);
          return;
        }
        try {
          const result = await this.core.send(claims, frame);
          this.socket.send({ t: 'sent', ...result });
        } catch (error) {
          if (error instanceof RelayError)
            this.socket.error(error.code, error.message, frame.id, error.retryAfterMs);
          else
            this.socket.error(
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
        await this.watch(frame.t, frame.identities, session);
        return;
      case 'status':
        session.status = frame.status;
        await this.core.presence
          .online(this.core.config.podId, session.presenceHandle, frame.status)
          .catch(() => this.core.metrics.redisErrors.inc());
        return;
      case 'ping':
        this.socket.send({ t: 'pong' });
        return;
      case 'hello':
        this.badFrame(undefined, 'hello was already received');
        return;
    }
  }

  private ack(upTo: number): void {
    const bounded = this.delivery.ackable(upTo);
    if (bounded === undefined) return;
    if (this.acking) {
      this.pendingAck = Math.max(this.pendingAck ?? 0, bounded);
      return;
    }
    void this.flushAck(bounded);
  }

  private async flushAck(upTo: number): Promise<void> {
    const claims = this.handshake.session?.claims;
    if (claims === undefined) return;
    const delivery = this.delivery;
    this.acking = true;
    const signalledFrom = delivery.dropsSignalledFrom;
    const told = delivery.dropsToldBy(upTo);
    let failed = false;
    try {
      const head = await this.core.queues.ack(
        claims.domain,
        claims.device,
        upTo,
        delivery.epoch,
        told,
      );
      if (told !== undefined) delivery.dropSignalSettled(signalledFrom);
      if (head !== 'stale')
        delivery.acked(head, this.core.clock(), this.core.metrics.deliveryLatency);
    } catch {
      this.core.metrics.redisErrors.inc();
      failed = true;
    } finally {
      this.acking = false;
    }
    if (this.socket.isClosed()) return;
    if (failed) {
      // Redis did not take it (it may be restarting): send it again shortly, with any ack that
      // came meanwhile. The device has no reason to ack again, so without this a full
      // in-flight window would stall delivery until it reconnects.
      this.pendingAck = Math.max(this.pendingAck ?? 0, upTo);
      this.ackRetry ??= setTimeout(() => {
        this.ackRetry = undefined;
        const again = this.pendingAck;
        if (this.acking || this.socket.isClosed() || again === undefined) return;
        this.pendingAck = undefined;
        void this.flushAck(again);
      }, ACK_RETRY_MS);
      return;
    }
    const next = this.pendingAck;
    this.pendingAck = undefined;
    if (next !== undefined && next >= delivery.head) void this.flushAck(next);
    else if (delivery.behind) this.pump();
  }

  private async watch(
    kind: 'watch' | 'unwatch',
    identities: string[],
    session: DeviceSession,
  ): Promise<void> {
    const { claims, limits } = session;
    const channels = [...new Set(identities)].map((identity) => ({
      identity,
      channel: identityKeys(claims.domain, identity).channel,
    }));
    if (kind === 'unwatch') {
      const { watched, onPresence } = this;
      if (watched === undefined || onPresence === undefined) return;
      for (const { channel } of channels) {
        if (watched.delete(channel)) this.core.wakeups.unsubscribe(channel, onPresence);
      }
      return;
    }
    const watched = (this.watched ??= new Set());
    const onPresence = (this.onPresence ??= (message: string): void => {
      this.socket.write(presenceFrameText(message));
    });
    const fresh = channels.filter(({ channel }) => !watched.has(channel));
    const watching = watched.size + fresh.length;
    if (watching > limits.maxWatchedIdentities) {
      this.socket.error(
        'WATCH_LIMIT_EXCEEDED',
        `watching ${watching} identities; this domain's limit is ${limits.maxWatchedIdentities} (maxWatchedIdentities)`,
      );
      return;
    }
    // Counted at once, before any await: a frame handled meanwhile sees them.
    for (const { channel } of fresh) watched.add(channel);
    for (const { identity, channel } of fresh) {
      try {
        await this.core.wakeups.subscribe(channel, onPresence);
        const snapshot = await this.core.presence.snapshot(claims.domain, identity);
        for (const event of snapshot) this.socket.send({ t: 'presence', ...event });
      } catch {
        this.core.metrics.redisErrors.inc();
        watched.delete(channel);
        this.core.wakeups.unsubscribe(channel, onPresence);
        this.socket.error('STORAGE_UNAVAILABLE', `could not watch ${identity}; watch again`);
      }
    }
  }

  /** Records this connection's presence again (after this pod was wrongly swept as dead). */
  async reassertPresence(): Promise<void> {
    const session = this.handshake.session;
    if (this.socket.isClosed() || session?.counted !== true) return;
    await this.core.presence.online(this.core.config.podId, session.presenceHandle, session.status);
  }

  /**
   * The fast path for a device that is caught up: the wake-up carried the entry, so write
   * it without reading the queue. Anything unusual (a read in progress, a gap, a full
   * window or buffer, a payload by reference) leaves it to the normal read.
   */
  private writeFromWake(seq: number, epoch: string, raw: string): boolean {
    const session = this.handshake.session;
    if (session === undefined || this.socket.isClosed() || this.fetching) return false;
    if (!this.delivery.writableFromWake(seq, epoch, session.limits.maxInFlight)) return false;
    if (this.socket.overBufferBound()) return false;
    const delivery = this.core.inlineDelivery(decodeQueueEntry(raw));
    if (delivery === undefined) return false;
    this.socket.write(delivery.frame);
    this.delivery.wrote(delivery);
    if (delivery.expired) this.core.metrics.drops.inc({ reason: 'expired' });
    this.core.metrics.messagesOut.inc({ transport: 'websocket' });
    return true;
  }

  /** Reads more of the queue when the window and the socket buffer allow (HandshakeHost). */
  pump(): void {
    const session = this.handshake.session;
    // Before the claim a wake-up must not read: the hello reads next.
    if (this.socket.isClosed() || session === undefined || !this.delivery.claimed) return;
    if (this.fetching) {
      this.wakePending = true;
      return;
    }
    void this.fetchAndWrite(session);
  }

  private async fetchAndWrite(session: DeviceSession): Promise<void> {
    const { claims, limits } = session;
    const delivery = this.delivery;
    this.fetching = true;
    try {
      for (;;) {
        this.wakePending = false;
        if (this.socket.isClosed()) return;
        if (this.socket.overBufferBound()) {
          this.socket.waitForBuffer();
          return;
        }
        const room = delivery.room(limits.maxInFlight);
        if (room <= 0) return;
        const window = await this.core.queues.fetch(
          claims.domain,
          claims.device,
          delivery.cursor,
          Math.min(room, FETCH_BATCH),
          FETCH_BYTES,
        );
        if (this.socket.isClosed()) return;
        if (window === undefined || window.epoch !== delivery.epoch) {
          // The queue vanished (left unacked past retention) or was recreated: start over,
          // as this connection (its claim's ordinal), unless a newer one claimed the device.
          const claim = await this.core.queues.claim(
            claims.domain,
            claims.device,
            session.presenceHandle.connectionId,
            { mode: 'rejoin', ordinal: session.claim ?? 0 },
          );
          if (claim.ordinal < 0) {
            this.close(CloseCode.displaced, displacedReason(claim.newer));
            return;
          }
          delivery.claim(claim);
          this.core.metrics.resyncs.inc({ reason: 'epoch' });
          this.socket.send({
            t: 'resync',
            reason: 'epoch',
            epoch: claim.epoch,
            drops: claim.drops,
          });
          continue;
        }
        if (window.expired > 0) this.core.metrics.drops.inc({ reason: 'expired' }, window.expired);
        if (delivery.read(window)) this.signalDrops(delivery.cursor);
        if (window.entries.length === 0) {
          if (!this.wokenWhileReading()) return;
          continue;
        }
        const deliveries = await this.core.toDeliveries(window.entries);
        for (const next of deliveries) {
          if (next.seq < delivery.cursor) continue;
          this.socket.write(next.frame);
          delivery.wrote(next);
          if (next.expired) this.core.metrics.drops.inc({ reason: 'expired' });
        }
        this.core.metrics.messagesOut.inc({ transport: 'websocket' }, deliveries.length);
        if (delivery.cursor >= window.next && !this.wokenWhileReading()) return;
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
   * order, so such an ack was sent after reading this one. (HandshakeHost)
   */
  signalDrops(from: number): void {
    this.delivery.dropsSignalled(from);
    this.core.metrics.resyncs.inc({ reason: 'dropped' });
    this.socket.send({
      t: 'resync',
      reason: 'dropped',
      epoch: this.delivery.epoch,
      drops: this.delivery.drops,
    });
  }

  private async cleanup(): Promise<void> {
    this.handshake.dispose();
    if (this.ackRetry !== undefined) clearTimeout(this.ackRetry);
    const { watched, onPresence } = this;
    if (watched !== undefined && onPresence !== undefined) {
      for (const channel of watched) this.core.wakeups.unsubscribe(channel, onPresence);
      watched.clear();
    }
    const session = this.handshake.session;
    if (session?.counted === true) this.core.metrics.connections.dec({ transport: 'websocket' });
    if (session !== undefined) {
      const { claims } = session;
      this.core.wakeups.unsubscribe(
        deviceKeys(claims.domain, claims.device).channel,
        this.onDeviceChannel,
      );
      await this.core.presence
        .offline(this.core.config.podId, session.presenceHandle)
        .catch(() => this.core.metrics.redisErrors.inc());
    }
    this.onClosed(this);
  }
}
