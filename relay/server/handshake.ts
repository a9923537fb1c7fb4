import type { DeviceClaims } from '../../contracts/auth/device-token.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { closeCodeOf, RelayError } from '../../contracts/errors/relay-errors.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import type { ClientFrame, HelloFrame } from '../../contracts/wire/frames.js';
import type { ConnectionHandle, PresenceStatus } from '../../contracts/wire/presence.js';
import type { RelayLimits } from '../../crds/relay-limits.js';
import type { DeliveryCursor } from './delivery-cursor.js';
import type { DeviceSocket } from './device-socket.js';
import { newConnectionId, type RelayCore } from './relay-core.js';
import type { Deadlined } from './timer-wheel.js';

/** Who a connection speaks for, from the moment its hello's token is accepted. */
export interface DeviceSession {
  readonly claims: DeviceClaims;
  /** The limits of the device's domain. */
  readonly limits: RelayLimits;
  /**
   * This connection as presence knows it (domain, identity, device, connection id): its
   * entry in the identity's presence hash and in the pod's set of connections.
   */
  readonly presenceHandle: ConnectionHandle;
  /** The presence status the device last told (in its hello, then in `status` frames). */
  status: PresenceStatus;
  /** Counted in the connections gauge and recorded online: both are undone at close. */
  counted: boolean;
  /** This connection's claim ordinal, once its claim returned (claim.lua). */
  claim: number | undefined;
}

/** The close reason of a connection displaced by the claim `ordinal` (the SDK reads it). */
export function displacedReason(ordinal: number | undefined): string {
  return ordinal === undefined
    ? 'this device connected again elsewhere'
    : `displaced by a newer connection (claim ${ordinal})`;
}

/** What the handshake needs of the connection it opens (the connection itself). */
export interface HandshakeHost {
  /** Listens on the device's channel (wake-ups, claims); subscribed before the claim. */
  readonly onDeviceChannel: (text: string) => void;
  /** Tells the device of drops (a `resync` frame) from seq `from` on. */
  signalDrops(from: number): void;
  /** Handles a frame the device pipelined behind its hello, once the hello is settled. */
  handleFrame(frame: ClientFrame, session: DeviceSession): Promise<void>;
  /** Starts delivery. */
  pump(): void;
}

/**
 * The hello of one connection: the deadline for it, the token (a refusal closes with the
 * error's close code), then subscribe to the device's channel before claiming the queue
 * (no wake-up between the claim and the first read is missed), the claim, which sets the
 * delivery cursor, `welcome` (and `resync` for drops the device was not told of), presence
 * online, the close at token expiry, and delivery. Frames the device pipelines behind its
 * hello are held, and the socket paused, until the hello is settled; then they are handled
 * in order.
 */
export class Handshake implements Deadlined {
  private current: DeviceSession | undefined;
  /** Frames received while the hello is being processed; undefined outside that time. */
  private early: ClientFrame[] | undefined;
  /** Slots on the relay's wheels while the deadline is pending. */
  private helloSlot: number | undefined;
  private expirySlot: number | undefined;
  /** The newest claim of another connection seen before this one's claim returned. */
  private newestOtherClaim = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly core: RelayCore,
    private readonly socket: DeviceSocket,
    private readonly cursor: DeliveryCursor,
    private readonly host: HandshakeHost,
  ) {
    const timers = core.timers;
    this.helloSlot = timers.hellos.schedule(
      this,
      timers.clock() + core.config.connection.helloTimeoutMs,
    );
  }

  /** (Deadlined) */
  helloDue(): void {
    this.helloSlot = undefined;
    this.socket.close(CloseCode.timeout, 'no hello within the deadline');
  }

  /** (Deadlined) */
  expiryDue(): void {
    this.expirySlot = undefined;
    this.socket.close(CloseCode.authExpired, 'token expired: reconnect with a fresh token');
  }

  /** Set once the hello's token is accepted (the claim may still be under way). */
  get session(): DeviceSession | undefined {
    return this.current;
  }

  /** No hello was received yet: the peer has not shown that it speaks the protocol at all. */
  get awaitingHello(): boolean {
    return this.current === undefined && this.early === undefined;
  }

  /**
   * Takes each valid frame first. Returns the session to handle the frame with, or
   * undefined when the handshake took it: the hello, a frame pipelined behind it (held),
   * or a first frame that is not a hello (refused: the connection closes).
   */
  admit(frame: ClientFrame): DeviceSession | undefined {
    if (this.early !== undefined) {
      this.early.push(frame);
      return undefined;
    }
    if (this.current !== undefined) return this.current;
    if (frame.t !== 'hello') {
      this.socket.error('EXPECTED_HELLO', 'the first frame must be hello with a token');
      this.socket.close(CloseCode.protocolError, 'expected hello');
      return undefined;
    }
    // A client may pipeline frames behind its hello: hold them, and stop reading, until
    // the hello is settled, then handle them in order.
    this.early = [];
    this.socket.pause();
    void this.hello(frame).finally(() => {
      const early = this.early ?? [];
      this.early = undefined;
      this.socket.resume();
      const session = this.current;
      if (this.socket.isClosed() || session === undefined) return;
      for (const next of early) void this.host.handleFrame(next, session);
    });
    return undefined;
  }

  private async hello(frame: HelloFrame) {
    this.cancelHello();
    const { core, socket } = this;
    let claims: DeviceClaims;
    try {
      claims = await core.authenticate(frame.token);
    } catch (error) {
      this.refuse(error);
      return;
    }
    if (socket.isClosed()) return;
    try {
      const session: DeviceSession = {
        claims,
        limits: core.limits(claims.domain),
        presenceHandle: {
          domain: claims.domain,
          identity: claims.identity,
          device: claims.device,
          connectionId: newConnectionId(core.config.podId),
        },
        status: frame.status ?? 'active',
        counted: false,
        claim: undefined,
      };
      this.current = session;
      await this.open(session, frame);
    } catch (error) {
      this.refuse(error);
    }
  }

  /**
   * Another connection of the device claimed it (a claim on the device's channel) while this
   * one's claim was under way: decided when this one's ordinal is known. Undefined: a claim
   * without ordinal (a relay of before ordered claims), newer than any.
   */
  otherClaim(ordinal: number | undefined): void {
    this.newestOtherClaim = Math.max(this.newestOtherClaim, ordinal ?? Number.POSITIVE_INFINITY);
  }

  private async open(session: DeviceSession, frame: HelloFrame): Promise<void> {
    const { core, socket } = this;
    const { claims, limits, presenceHandle } = session;
    const keys = deviceKeys(claims.domain, claims.device);
    // Subscribe before claiming: no wake-up between the claim and the first read is missed.
    await core.wakeups.subscribe(keys.channel, this.host.onDeviceChannel);
    const claim = await core.storage(() =>
      core.queues.claim(claims.domain, claims.device, presenceHandle.connectionId),
    );
    if (socket.isClosed()) return;
    session.claim = claim.ordinal;
    if (this.newestOtherClaim > claim.ordinal) {
      // A newer connection claimed the device before this claim returned.
      const newest = this.newestOtherClaim;
      socket.close(
        CloseCode.displaced,
        displacedReason(Number.isFinite(newest) ? newest : undefined),
      );
      return;
    }
    this.cursor.claim(claim);
    const resync = frame.epoch !== undefined && frame.epoch !== claim.epoch;
    if (resync) core.metrics.resyncs.inc({ reason: 'epoch' });
    socket.send({
      t: 'welcome',
      domain: claims.domain,
      identity: claims.identity,
      device: claims.device,
      epoch: claim.epoch,
      head: claim.head,
      drops: claim.drops,
      resync,
      limits: { ...limits },
      claim: claim.ordinal,
    });
    if (claim.drops > claim.told) {
      // Dropped while the device was away (or before it acked the last signal).
      this.host.signalDrops(claim.head);
    }
    core.metrics.connections.inc({ transport: 'websocket' });
    session.counted = true;
    await core.storage(() =>
      core.presence.online(core.config.podId, presenceHandle, session.status),
    );
    // Closed while going online: cleanup ran before the entry existed, so remove it here.
    if (socket.isClosed()) {
      await core.presence.offline(core.config.podId, presenceHandle);
      return;
    }
    this.expirySlot = core.timers.expiries.schedule(this, claims.expiresAt * 1000);
    this.host.pump();
  }

  private refuse(error: unknown): void {
    if (error instanceof RelayError) {
      this.socket.error(error.code, error.message);
      this.socket.close(closeCodeOf(error.code), error.message);
      return;
    }
    this.socket.close(CloseCode.storageUnavailable, 'internal error');
  }

  /** The socket closed: no deadline applies any more. */
  dispose(): void {
    this.cancelHello();
    if (this.expirySlot !== undefined) this.core.timers.expiries.cancel(this, this.expirySlot);
    this.expirySlot = undefined;
  }

  private cancelHello(): void {
    if (this.helloSlot !== undefined) this.core.timers.hellos.cancel(this, this.helloSlot);
    this.helloSlot = undefined;
  }
}
