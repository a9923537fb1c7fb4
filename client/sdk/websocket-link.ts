import WebSocket from 'ws';
import { shouldReconnect } from '../../contracts/errors/close-codes.js';
import { trustedCas, type ExtraCa } from './http-client.js';
import {
  connectErrorCode,
  type Link,
  type LinkHandlers,
  type OutgoingMessage,
  type RelayFrame,
} from './link.js';

/** Connection errors that mean the relay is down or unknown, whatever the transport. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** A link over WebSocket: one JSON frame per message. */
export class WebSocketLink implements Link {
  private readonly socket: WebSocket;
  private welcomed = false;
  private ended = false;

  constructor(
    url: string,
    hello: { token: string; epoch?: string | undefined; status?: 'active' | 'idle' },
    private readonly handlers: LinkHandlers,
    openTimeoutMs = 10_000,
    ca?: ExtraCa,
  ) {
    this.socket = new WebSocket(url, {
      handshakeTimeout: openTimeoutMs,
      perMessageDeflate: false,
      ...(ca === undefined ? {} : { ca: trustedCas(ca) }),
    });
    this.socket.on('open', () => {
      this.raw({ t: 'hello', ...hello });
    });
    this.socket.on('message', (data: Buffer) => {
      let frame: RelayFrame;
      try {
        frame = JSON.parse(data.toString('utf8')) as RelayFrame;
      } catch {
        return;
      }
      if (frame.t === 'welcome') this.welcomed = true;
      handlers.frame(frame);
    });
    this.socket.on('unexpected-response', (_request, response) => {
      // A proxy or server that answers the upgrade with plain HTTP: WebSocket is blocked here.
      this.end({
        code: 1006,
        reason: `upgrade refused with HTTP ${response.statusCode ?? 0}`,
        reconnect: true,
        transportFailed: true,
        errorCode: `HTTP_${response.statusCode ?? 0}`,
      });
      this.socket.terminate();
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      const errorCode = connectErrorCode(error);
      this.end({
        code: 1006,
        reason: error.message,
        reconnect: true,
        // A relay that cannot be reached at all says nothing about WebSocket being blocked.
        transportFailed: !this.welcomed && !UNREACHABLE.has(errorCode ?? ''),
        ...(errorCode === undefined ? {} : { errorCode }),
      });
    });
    this.socket.on('close', (code, reason) => {
      this.end({
        code,
        reason: reason.toString(),
        reconnect: shouldReconnect(code),
        transportFailed: !this.welcomed && code === 1006,
      });
    });
  }

  private end(closed: Parameters<LinkHandlers['closed']>[0]): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.closed(closed);
  }

  private raw(frame: object): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  send(message: OutgoingMessage): void {
    this.raw({ t: 'send', ...message });
  }

  ack(upTo: number): void {
    this.raw({ t: 'ack', upTo });
  }

  watch(identities: string[]): void {
    if (identities.length > 0) this.raw({ t: 'watch', identities });
  }

  status(status: 'active' | 'idle'): void {
    this.raw({ t: 'status', status });
  }

  close(): void {
    this.ended = true;
    this.socket.close(1000, 'client closing');
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}
