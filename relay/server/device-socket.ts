import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import type { ServerFrame } from '../../contracts/wire/frames.js';
import type { RelayConfig } from '../config.js';
import type { RelayMetrics } from '../metrics.js';
import type { ConnectionTimers, Pinged } from './timer-wheel.js';

/**
 * What the socket reports to the connection that owns it. Methods of the owner rather than
 * closures: nothing more to allocate per connection.
 */
export interface DeviceSocketEvents {
  /** A text frame arrived (also after the socket closed: the owner ignores those). */
  onText(text: string): void;
  /** A binary frame arrived: not part of the protocol. */
  onBinaryFrame(): void;
  /** 50 ms after `waitForBuffer`: try writing again (checking the buffer again). */
  retryWrite(): void;
  /** The socket closed (whoever closed it); its timers are cleared. */
  onSocketClosed(): void;
}

const OWNER = Symbol('DeviceSocket');
type OwnedWebSocket = WebSocket & { [OWNER]: DeviceSocket };

// The socket's listeners are shared by every connection (the emitter is `this`) and find
// their DeviceSocket on it: no closures to allocate per connection.
function ownerOf(socket: WebSocket): DeviceSocket {
  return (socket as OwnedWebSocket)[OWNER];
}
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  ownerOf(this).receivedFrame(data, isBinary);
}
function onPong(this: WebSocket): void {
  ownerOf(this).markAlive();
}
function onClose(this: WebSocket): void {
  ownerOf(this).socketEnded();
}
function onError(this: WebSocket): void {
  this.terminate();
}

/**
 * The lifecycle of one device's WebSocket, below the protocol: keepalive pings (a peer
 * that stops answering is cut off), frames written in one tick leaving in one system call,
 * back-pressure on the send buffer (a slow consumer is closed), and close with a deadline
 * for the closing handshake.
 */
export class DeviceSocket implements Pinged {
  private closed = false;
  /** The peer answered the last ping. */
  private alive = true;
  private corked = false;
  /** The slot of the next ping on the relay's wheel. */
  private pingSlot: number;
  /** When the send buffer went over its bound, while it stays there. */
  private slowSince: number | undefined;
  private slowTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly settings: RelayConfig['connection'],
    private readonly metrics: RelayMetrics,
    private readonly timers: ConnectionTimers,
    private readonly events: DeviceSocketEvents,
  ) {
    (socket as OwnedWebSocket)[OWNER] = this;
    socket.on('message', onMessage);
    socket.on('pong', onPong);
    socket.on('close', onClose);
    socket.on('error', onError);
    this.pingSlot = timers.pings.schedule(this, timers.clock() + settings.pingIntervalMs);
  }

  /** (Pinged) */
  pingDue(now: number): void {
    if (this.closed) return;
    if (!this.alive) {
      // Half-open: the peer stopped answering. Nothing can be sent to it; just drop it.
      this.metrics.closes.inc({ code: String(CloseCode.timeout) });
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
    this.pingSlot = this.timers.pings.schedule(this, now + this.settings.pingIntervalMs);
  }

  /** (the socket's listener) The peer answered a ping. */
  markAlive(): void {
    this.alive = true;
  }

  /** (the socket's listener) A frame arrived. */
  receivedFrame(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.events.onBinaryFrame();
      return;
    }
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    this.events.onText(bytes.toString('utf8'));
  }

  /** (the socket's listener) The socket closed, whoever closed it. */
  socketEnded(): void {
    this.closed = true;
    this.timers.pings.cancel(this, this.pingSlot);
    if (this.slowTimer !== undefined) clearTimeout(this.slowTimer);
    this.events.onSocketClosed();
  }

  /**
   * Closed by the relay, or by the peer. A method, not a getter on the field: the state
   * changes across awaits, where narrowing would mislead.
   */
  isClosed(): boolean {
    return this.closed;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.metrics.closes.inc({ code: String(code) });
    this.socket.close(code, reason.slice(0, 120));
    // A peer that never completes the closing handshake is cut off.
    setTimeout(() => this.socket.terminate(), 5000).unref();
  }

  /** Stops reading frames from the peer (TCP back-pressure) until `resume`. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  send(frame: ServerFrame): void {
    this.write(JSON.stringify(frame));
  }

  /** Writes a frame's text; nothing once closed. */
  write(text: string): void {
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

  /** Sends an `error` frame (counted by code). */
  error(code: string, message: string, id?: string, retryAfterMs?: number): void {
    this.metrics.rejected.inc({ code });
    this.send({
      t: 'error',
      code,
      message,
      ...(id === undefined ? {} : { id }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  /** The send buffer is over `maxBufferedBytes`: write nothing more for now. */
  overBufferBound(): boolean {
    return this.socket.bufferedAmount > this.settings.maxBufferedBytes;
  }

  /**
   * Called while the buffer is over its bound: reports `retryWrite` 50 ms later, or closes
   * the connection as a slow consumer once the buffer stayed over its bound for longer
   * than `slowConsumerTimeoutMs`.
   */
  waitForBuffer(): void {
    this.slowSince ??= this.timers.clock();
    if (this.timers.clock() - this.slowSince > this.settings.slowConsumerTimeoutMs) {
      this.close(CloseCode.slowConsumer, 'slow consumer: reconnect when ready to read');
      return;
    }
    if (this.slowTimer !== undefined) return;
    this.slowTimer = setTimeout(() => {
      this.slowTimer = undefined;
      if (!this.overBufferBound()) this.slowSince = undefined;
      this.events.retryWrite();
    }, 50);
  }
}
