import { EventEmitter } from 'node:events';
import { ulid } from 'ulid';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { errorCodeOfClose, isRetryable } from '../../contracts/errors/relay-errors.js';
import { backoffDelay } from './backoff.js';
import { HttpClient, type ExtraCa } from './http-client.js';
import type { Link, LinkClosed, OutgoingMessage, RelayFrame } from './link.js';
import { LongPollLink } from './long-poll-link.js';
import { PoolRotation, type PoolRotationOptions, type PoolSwitch } from './pool-rotation.js';
import { relayEndpoints } from './relay-urls.js';
import { SeenIds } from './seen-ids.js';
import { WebSocketLink } from './websocket-link.js';

export interface ReceivedMessage {
  id: string;
  seq: number;
  from: { identity: string; device: string };
  to: string[];
  data: Buffer;
  createdAt: number;
}

export interface SendReceipt {
  id: string;
  recipients: number;
  duplicates: number;
}

export interface PresenceChange {
  identity: string;
  device: string;
  state: 'online' | 'offline';
  status?: string | undefined;
}

export type Transport = 'auto' | 'websocket' | 'long-poll';

export interface GroveClientOptions {
  /** Relay URLs (ws://, wss://, http://, https://); tried in order, then round-robin. */
  relays: string[];
  /**
   * The Domain's relay pools in order, home first (each a list of relay URLs), all sharing the
   * Domain's store: replaces `relays`. The client stays on one pool, moves to the next when
   * every URL of its pool keeps failing or the pool does not know the device (4104), and
   * returns home once the home pool answers its probes again (see `poolFailover`).
   */
  pools?: readonly (readonly string[])[];
  poolFailover?: PoolRotationOptions & {
    /** How often the home pool's /readyz is probed while away from it (default 10 s). */
    homeProbeMs?: number;
  };
  /**
   * A fresh relay list (e.g. from the Manager), asked for after a connect attempt fails, at most
   * once per `relayRefreshIntervalMs`: a corrected address reaches a running client. Errors and
   * empty lists are ignored (the current list stays). See also `setRelays`.
   */
  refreshRelays?: () => Promise<readonly string[]>;
  /** Least time between two `refreshRelays` calls (default 30 s). */
  relayRefreshIntervalMs?: number;
  /**
   * Certificate authorities (PEM) to trust for wss:// and https:// relays besides Node's
   * default ones: relays whose certificate a private CA signed.
   */
  ca?: ExtraCa;
  /** A device token, or a function that returns a fresh one (called on every connect). */
  token: string | (() => Promise<string>);
  transport?: Transport;
  /** The queue epoch this device saw last (persist it to detect resyncs across restarts). */
  epoch?: string;
  backoff?: { initialMs: number; maxMs: number };
  /** Handles each message once; the SDK acknowledges it only after this resolves. */
  onMessage?: (message: ReceivedMessage) => void | Promise<void>;
  /**
   * 'after-handler' (the default): a message is acknowledged once `onMessage` resolved.
   * 'explicit': the application acknowledges with `acknowledge(message)` when it is ready
   * (e.g. once a batch is durable elsewhere: the Data Bridge), which also covers every message
   * delivered before it; meanwhile later messages keep coming, up to the relay's in-flight
   * window.
   */
  ackMode?: 'after-handler' | 'explicit';
  random?: () => number;
}

/**
 * Whether a close ends the client for good as a displacement (4110) by a newer connection of
 * the device: the relay names the claim that took over (`(claim N)` in the reason), and it is
 * newer than the claim of this connection's welcome. A 4110 without a claim (a relay of before
 * ordered claims), or before a welcome, counts as one. Any other close: true (not concerned).
 */
export function displacedByNewer(closed: LinkClosed, ownClaim: number | undefined): boolean {
  if (closed.code !== CloseCode.displaced) return true;
  const named = /\(claim (\d+)\)/.exec(closed.reason);
  if (named === null || ownClaim === undefined) return true;
  return Number(named[1]) > ownClaim;
}

/** A send that failed for good (the relay refused it; retrying the same message cannot help). */
export class SendRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'SendRefused';
  }
}

/** The connection ended for good: a close code in the "do not reconnect" range. */
export class ConnectionRefused extends Error {
  /** The relay error code (e.g. `AUTH_REVOKED`) when the close code has one. */
  readonly errorCode: string | undefined;

  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    const errorCode = errorCodeOfClose(code);
    super(
      code === CloseCode.revoked
        ? `AUTH_REVOKED: this device was revoked by an administrator; it cannot reconnect (enroll again) [close ${code}: ${reason}]`
        : `relay refused the connection (${code}${errorCode === undefined ? '' : ` ${errorCode}`}): ${reason}`,
    );
    this.errorCode = errorCode;
    this.name = 'ConnectionRefused';
  }
}

/** Connect attempts to one relay that failed before its welcome, since it last welcomed us. */
export interface ConnectFailure {
  relay: string;
  attempts: number;
  /** The last failure's text, e.g. "getaddrinfo ENOTFOUND relay.example.com". */
  reason: string;
  /** The last failure's code, e.g. ENOTFOUND, ECONNREFUSED, ERR_SSL_WRONG_VERSION_NUMBER, HTTP_502. */
  errorCode?: string;
  /** The last failure's close code: 1006 for a network failure, 40xx when the relay answered "later". */
  closeCode: number;
}

interface PendingSend {
  message: OutgoingMessage;
  resolve: (receipt: SendReceipt) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The Grove client: keeps one link to some relay, reconnecting with jittered backoff over
 * the relay list and falling back to long-poll when WebSocket is blocked. Sends are
 * retried under the same id until the relay acknowledges them durably; received
 * messages are de-duplicated by id and acknowledged after the handler returns.
 *
 * Events: `connected` (welcome), `disconnected` (LinkClosed), `resync` ({reason}),
 * `presence` (PresenceChange), `fatal` (ConnectionRefused), `connect-failed` (ConnectFailure:
 * an attempt ended before the relay's welcome), `token-error` (the token function threw),
 * `relays` (string[]: the relay list changed).
 */
export class GroveClient extends EventEmitter {
  private link: Link | undefined;
  private linkRelay = '';
  private linkWelcomed = false;
  /** The claim ordinal of the current link's welcome (see displacedByNewer). */
  private linkClaim: number | undefined;
  private relays: string[];
  private rotation: PoolRotation;
  private homeProbe: NodeJS.Timeout | undefined;
  private probing = false;
  private readonly failures = new Map<string, ConnectFailure>();
  private lastRelayRefresh = Number.NEGATIVE_INFINITY;
  private refreshingRelays = false;
  private lastTokenError: string | undefined;
  private readonly http: HttpClient;
  private attempt = 0;
  private transport: 'websocket' | 'long-poll';
  private readonly pending = new Map<string, PendingSend>();
  /** Keyed by sender device and id, as the relay de-duplicates: ids are unique per sender only. */
  private readonly seen = new SeenIds();
  private readonly watched = new Set<string>();
  private epochSeen: string | undefined;
  private handlerChain: Promise<void> = Promise.resolve();
  private stopped = false;
  private connectedOnce = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private status: 'active' | 'idle' = 'active';
  private ackScheduled = false;
  private ackUpTo = 0;
  /** ackMode 'explicit': the highest seq the application acknowledged in the current epoch. */
  private appAckedUpTo = 0;
  /** ackMode 'explicit': seqs above appAckedUpTo that need no application ack (skip frames). */
  private readonly autoAcked = new Set<number>();
  /** ackMode 'explicit': the queue epoch each delivered message came from. */
  private readonly epochOf = new WeakMap<ReceivedMessage, string>();
  private readonly random: () => number;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly options: GroveClientOptions) {
    super();
    const pools = options.pools ?? [options.relays];
    this.rotation = new PoolRotation(pools, options.poolFailover);
    for (const relay of this.rotation.relays) relayEndpoints(relay);
    this.relays = this.rotation.relays;
    this.http = new HttpClient(options.ca);
    this.transport = options.transport === 'long-poll' ? 'long-poll' : 'websocket';
    this.epochSeen = options.epoch;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? { initialMs: 200, maxMs: 10_000 };
  }

  get epoch(): string | undefined {
    return this.epochSeen;
  }

  get connected(): boolean {
    return this.link !== undefined && this.connectedOnce;
  }

  /** Whether some relay has welcomed this client since it started. */
  get everConnected(): boolean {
    return this.connectedOnce;
  }

  /** The relay list in use. */
  get relayList(): readonly string[] {
    return this.relays;
  }

  /** Failed connect attempts per relay since that relay last welcomed this client. */
  get connectFailures(): ConnectFailure[] {
    return [...this.failures.values()].map((failure) => ({ ...failure }));
  }

  /** Why the last call of the token function failed, if the last one failed. */
  get tokenError(): string | undefined {
    return this.lastTokenError;
  }

  /**
   * Replaces the relay list (e.g. after a token refresh brought a new one); used from the next
   * connect attempt. An empty list, or one with an invalid URL, is refused (throws).
   */
  setRelays(relays: readonly string[]): void {
    if (relays.length === 0) throw new Error('GroveClient needs at least one relay URL');
    for (const relay of relays) relayEndpoints(relay);
    if (relays.length === this.relays.length && relays.every((r, i) => r === this.relays[i]))
      return;
    this.rotation = new PoolRotation([relays], this.options.poolFailover);
    this.relays = this.rotation.relays;
    for (const relay of this.failures.keys()) {
      if (!this.relays.includes(relay)) this.failures.delete(relay);
    }
    this.emit('relays', [...this.relays]);
  }

  /**
   * Replaces the relay pools (home first), as `pools` at construction; used from the next
   * connect attempt. Invalid pools are refused (throws).
   */
  setPools(pools: readonly (readonly string[])[]): void {
    const rotation = new PoolRotation(pools, this.options.poolFailover);
    for (const relay of rotation.relays) relayEndpoints(relay);
    const same =
      rotation.pools.length === this.rotation.pools.length &&
      rotation.pools.every(
        (pool, i) =>
          pool.length === this.rotation.pools[i]?.length &&
          pool.every((url, j) => url === this.rotation.pools[i]?.[j]),
      );
    if (same) return;
    this.rotation = rotation;
    this.relays = rotation.relays;
    for (const relay of this.failures.keys()) {
      if (!this.relays.includes(relay)) this.failures.delete(relay);
    }
    this.emit('relays', [...this.relays]);
  }

  /** Asks `refreshRelays` for a new list, at most once per interval; never throws. */
  private maybeRefreshRelays(): void {
    const refresh = this.options.refreshRelays;
    if (refresh === undefined || this.refreshingRelays || this.stopped) return;
    const now = Date.now();
    if (now - this.lastRelayRefresh < (this.options.relayRefreshIntervalMs ?? 30_000)) return;
    this.lastRelayRefresh = now;
    this.refreshingRelays = true;
    refresh()
      .then((relays) => {
        if (relays.length > 0 && !this.stopped) this.setRelays(relays);
      })
      .catch(() => undefined)
      .finally(() => (this.refreshingRelays = false));
  }

  /** Connects; resolves at the first welcome, rejects if the relay refuses for good. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onConnected = () => {
        this.off('fatal', onFatal);
        resolve();
      };
      const onFatal = (error: Error) => {
        this.off('connected', onConnected);
        reject(error);
      };
      this.once('connected', onConnected);
      this.once('fatal', onFatal);
      void this.connect();
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token =
        typeof this.options.token === 'string' ? this.options.token : await this.options.token();
      this.lastTokenError = undefined;
    } catch (error) {
      this.lastTokenError = error instanceof Error ? error.message : String(error);
      this.emit('token-error', error);
      this.scheduleReconnect();
      return;
    }
    // After the token: getting it may have brought a new relay list (setRelays).
    const relay = this.rotation.current();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- may change during the await
    if (this.stopped) return;
    const endpoints = relayEndpoints(relay);
    const handlers = {
      frame: (frame: RelayFrame) => {
        if (this.link === link) this.onFrame(frame);
      },
      closed: (closed: LinkClosed) => {
        if (this.link === link) this.onClosed(closed);
      },
    };
    let link: Link;
    if (this.transport === 'websocket') {
      link = new WebSocketLink(
        endpoints.websocket,
        { token, epoch: this.epochSeen, status: this.status },
        handlers,
        undefined,
        this.options.ca,
      );
    } else {
      link = new LongPollLink(
        endpoints.http,
        token,
        this.epochSeen,
        handlers,
        undefined,
        this.http,
      );
    }
    this.link = link;
    this.linkRelay = relay;
    this.linkWelcomed = false;
    this.linkClaim = undefined;
  }

  private onFrame(frame: RelayFrame): void {
    switch (frame.t) {
      case 'welcome': {
        this.attempt = 0;
        this.linkWelcomed = true;
        this.rotation.welcomed();
        this.scheduleHomeProbe();
        this.linkClaim = frame.claim;
        this.failures.delete(this.linkRelay);
        const resync =
          frame.resync || (this.epochSeen !== undefined && this.epochSeen !== frame.epoch);
        const sameQueue = this.epochSeen === frame.epoch;
        this.epochSeen = frame.epoch;
        this.ackUpTo = frame.head - 1;
        if (this.options.ackMode === 'explicit') {
          if (!sameQueue || this.appAckedUpTo < this.ackUpTo) this.appAckedUpTo = this.ackUpTo;
          this.autoAcked.clear();
          // An ack sent on the previous link may have been lost with it: send it again.
          if (this.appAckedUpTo > this.ackUpTo) {
            this.ackUpTo = this.appAckedUpTo;
            this.scheduleAck();
          }
        }
        this.connectedOnce = true;
        this.emit('connected', frame);
        if (resync) this.emit('resync', { reason: 'epoch' });
        if (this.watched.size > 0) this.link?.watch([...this.watched]);
        for (const pending of this.pending.values()) this.link?.send(pending.message);
        return;
      }
      case 'sent': {
        const pending = this.pending.get(frame.id);
        if (pending === undefined) return;
        this.pending.delete(frame.id);
        if (pending.timer !== undefined) clearTimeout(pending.timer);
        pending.resolve({
          id: frame.id,
          recipients: frame.recipients,
          duplicates: frame.duplicates,
        });
        return;
      }
      case 'error': {
        const pending = frame.id === undefined ? undefined : this.pending.get(frame.id);
        if (pending === undefined) {
          this.emit('relay-error', frame);
          return;
        }
        if (isRetryable(frame.code)) {
          const delay = frame.retryAfterMs ?? 500;
          pending.timer = setTimeout(() => {
            pending.timer = undefined;
            if (this.pending.has(pending.message.id)) this.link?.send(pending.message);
          }, delay);
          return;
        }
        this.pending.delete(pending.message.id);
        pending.reject(new SendRefused(frame.code, frame.message));
        return;
      }
      case 'msg':
      case 'skip':
        this.enqueueDelivery(frame);
        return;
      case 'resync':
        this.epochSeen = frame.epoch;
        this.emit('resync', { reason: frame.reason });
        return;
      case 'presence':
        this.emit('presence', {
          identity: frame.identity,
          device: frame.device,
          state: frame.state,
          status: frame.status,
        } satisfies PresenceChange);
        return;
      case 'pong':
        return;
    }
  }

  /** Messages are handled one at a time, in queue order, and acked after their handler. */
  private enqueueDelivery(frame: Extract<RelayFrame, { t: 'msg' } | { t: 'skip' }>): void {
    const link = this.link;
    this.handlerChain = this.handlerChain.then(async () => {
      // The next link redelivers what an ended link left unacked; handling it now would let
      // it overtake a message whose handler failed.
      if (this.link !== link) return;
      const explicit = this.options.ackMode === 'explicit';
      if (frame.t === 'skip') {
        this.emit('resync', { reason: 'expired' });
        if (explicit) {
          this.autoAcked.add(frame.seq);
          this.advanceExplicitAck();
          return;
        }
      } else if (this.seen.add(`${frame.from.device}|${frame.id}`)) {
        try {
          const message: ReceivedMessage = {
            id: frame.id,
            seq: frame.seq,
            from: frame.from,
            to: frame.to,
            data: Buffer.from(frame.data, 'base64'),
            createdAt: frame.createdAt,
          };
          if (explicit && this.epochSeen !== undefined) this.epochOf.set(message, this.epochSeen);
          await this.options.onMessage?.(message);
        } catch (error) {
          // Not acked: the relay redelivers it after the next reconnect.
          this.seen.delete(`${frame.from.device}|${frame.id}`);
          this.emit('handler-error', error);
          if (link !== undefined && this.link === link) {
            // Ack what was handled before this message (its scheduled ack would find no
            // link): only this one and later ones come again.
            link.ack(this.ackUpTo);
            // A link closed from this side reports no close of its own: reconnect here.
            link.close();
            this.onClosed({
              code: 1000,
              reason: 'message handler failed',
              reconnect: true,
              transportFailed: false,
            });
          }
          return;
        }
      }
      if (this.link !== link) return;
      // Explicit mode: a message (or a redelivery of one) waits for the application's ack.
      if (explicit) return;
      this.ackUpTo = Math.max(this.ackUpTo, frame.seq);
      this.scheduleAck();
    });
  }

  /**
   * ackMode 'explicit': acknowledges `message` and every message delivered before it. A
   * message of an earlier queue epoch (the queue was reset since: a resync) is ignored.
   */
  acknowledge(message: ReceivedMessage): void {
    if (this.options.ackMode !== 'explicit') {
      throw new Error("acknowledge() needs ackMode 'explicit'");
    }
    if (this.epochOf.get(message) !== this.epochSeen) return;
    if (message.seq <= this.appAckedUpTo) return;
    this.appAckedUpTo = message.seq;
    this.advanceExplicitAck();
  }

  /** The relay ack: what the application acknowledged, and skip frames right after it. */
  private advanceExplicitAck(): void {
    let upTo = Math.max(this.ackUpTo, this.appAckedUpTo);
    while (this.autoAcked.has(upTo + 1)) upTo++;
    for (const seq of this.autoAcked) if (seq <= upTo) this.autoAcked.delete(seq);
    if (upTo <= this.ackUpTo) return;
    this.ackUpTo = upTo;
    this.scheduleAck();
  }

  /** Coalesces acks: one cumulative ack per turn of the event loop. */
  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.link?.ack(this.ackUpTo);
    });
  }

  private onClosed(closed: LinkClosed): void {
    this.link = undefined;
    this.emit('disconnected', closed);
    if (this.stopped) return;
    if (!this.linkWelcomed && closed.reconnect) this.noteConnectFailure(closed);
    if (
      closed.transportFailed &&
      this.transport === 'websocket' &&
      this.options.transport !== 'websocket'
    ) {
      // WebSocket is blocked on this network (or by a proxy): use plain HTTP from now on.
      this.transport = 'long-poll';
      void this.connect();
      return;
    }
    if (!closed.reconnect && !displacedByNewer(closed, this.linkClaim)) {
      // A 4110 naming a claim no newer than this link's own is no displacement: reconnect.
      this.rotation.linkLost();
      this.scheduleReconnect();
      return;
    }
    if (closed.code === CloseCode.authUnknownDevice) {
      // This pool does not serve the device (another store, or not told yet): another might.
      const moved = this.rotation.unknownDeviceHere();
      if (moved !== undefined) {
        this.switchedPool(moved);
        this.scheduleReconnect();
        return;
      }
    }
    if (!closed.reconnect) {
      const renewable =
        closed.code === CloseCode.authExpired && typeof this.options.token === 'function';
      if (!renewable) {
        this.stopped = true;
        this.failPending(new ConnectionRefused(closed.code, closed.reason));
        this.emit('fatal', new ConnectionRefused(closed.code, closed.reason));
        return;
      }
    }
    if (this.linkWelcomed || !closed.reconnect) this.rotation.linkLost();
    else {
      const moved = this.rotation.connectFailed();
      if (moved !== undefined) this.switchedPool(moved);
    }
    this.scheduleReconnect();
  }

  /** The client now uses another pool: connect there at once, tell listeners (`pool`). */
  private switchedPool(moved: PoolSwitch): void {
    this.attempt = 0;
    this.emit('pool', { ...moved, relays: [...(this.rotation.pools[moved.to] ?? [])] });
  }

  /**
   * Away from the home pool: probes its relays' /readyz every `homeProbeMs`; after enough good
   * answers in a row, closes the link and connects home. Sends in flight are sent again there
   * under their ids (the store is shared, so nothing is queued twice); unacknowledged
   * messages come again and are de-duplicated.
   */
  private scheduleHomeProbe(): void {
    if (this.homeProbe !== undefined || !this.rotation.awayFromHome || this.stopped) return;
    this.homeProbe = setInterval(() => {
      if (this.probing) return;
      if (!this.rotation.awayFromHome || this.stopped) {
        clearInterval(this.homeProbe);
        this.homeProbe = undefined;
        return;
      }
      this.probing = true;
      void this.probeHome()
        .then((ready) => {
          const moved = this.rotation.homeProbed(ready);
          if (moved === undefined || this.stopped) return;
          clearInterval(this.homeProbe);
          this.homeProbe = undefined;
          this.switchedPool(moved);
          const link = this.link;
          if (link === undefined) return;
          link.ack(this.ackUpTo);
          this.link = undefined;
          link.close();
          const closed: LinkClosed = {
            code: 1000,
            reason: 'returning to the home relay pool',
            reconnect: true,
            transportFailed: false,
          };
          this.emit('disconnected', closed);
          if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
          this.reconnectTimer = undefined;
          void this.connect();
        })
        .finally(() => (this.probing = false));
    }, this.options.poolFailover?.homeProbeMs ?? 10_000);
    this.homeProbe.unref();
  }

  /** Whether some relay of the home pool answers /readyz with 200 (within 2 s). */
  private async probeHome(): Promise<boolean> {
    for (const relay of this.rotation.pools[0] ?? []) {
      try {
        const answer = await this.http.json(`${relayEndpoints(relay).http}/readyz`, {
          signal: AbortSignal.timeout(2000),
        });
        if (answer.ok) return true;
      } catch {
        // Not this one: the next URL.
      }
    }
    return false;
  }

  /** A connect attempt ended before the welcome: count it, tell listeners, maybe refresh relays. */
  private noteConnectFailure(closed: LinkClosed): void {
    const previous = this.failures.get(this.linkRelay);
    const failure: ConnectFailure = {
      relay: this.linkRelay,
      attempts: (previous?.attempts ?? 0) + 1,
      reason: closed.reason,
      closeCode: closed.code,
      ...(closed.errorCode === undefined ? {} : { errorCode: closed.errorCode }),
    };
    this.failures.set(this.linkRelay, failure);
    this.emit('connect-failed', { ...failure });
    this.maybeRefreshRelays();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.backoff, this.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }

  /**
   * Sends a message and resolves once the relay has it durably queued for every recipient.
   * Retries under the same id across reconnects; rejects only when the relay refuses it.
   */
  send(
    to: string[],
    data: Buffer | string,
    options: { id?: string; ttl?: number } = {},
  ): Promise<SendReceipt> {
    if (this.stopped) return Promise.reject(new Error('client is closed'));
    const message: OutgoingMessage = {
      id: options.id ?? ulid(),
      to,
      data: (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64'),
      ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    };
    return new Promise((resolve, reject) => {
      const inFlight = this.pending.get(message.id);
      if (inFlight !== undefined) {
        // The application retried a send still in flight: both calls settle with its outcome.
        const { resolve: first, reject: firstReject } = inFlight;
        inFlight.resolve = (receipt) => {
          first(receipt);
          resolve(receipt);
        };
        inFlight.reject = (error) => {
          firstReject(error);
          reject(error);
        };
        return;
      }
      this.pending.set(message.id, { message, resolve, reject, timer: undefined });
      if (this.connectedOnce) this.link?.send(message);
    });
  }

  watch(identities: string[]): void {
    for (const identity of identities) this.watched.add(identity);
    if (this.connectedOnce) this.link?.watch(identities);
  }

  setStatus(status: 'active' | 'idle'): void {
    this.status = status;
    this.link?.status(status);
  }

  get pendingSends(): number {
    return this.pending.size;
  }

  private failPending(error: Error): void {
    for (const pending of this.pending.values()) {
      if (pending.timer !== undefined) clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }

  /** Waits for handlers in progress, sends the last ack, and closes. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    if (this.homeProbe !== undefined) clearInterval(this.homeProbe);
    await this.handlerChain;
    this.link?.ack(this.ackUpTo);
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.link?.close();
    this.link = undefined;
    this.http.close();
    this.failPending(new Error('client closed'));
  }
}
