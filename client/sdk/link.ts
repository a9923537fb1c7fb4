import type { MessageFrame, ServerFrame } from '../../contracts/wire/frames.js';

/** What the SDK receives from a relay, over either transport: the relay's own frame types. */
export type RelayFrame = ServerFrame | MessageFrame;

export interface OutgoingMessage {
  id: string;
  to: string[];
  /** base64 */
  data: string;
  ttl?: number;
}

/** Why a link ended, and whether reconnecting can help. */
export interface LinkClosed {
  code: number;
  reason: string;
  reconnect: boolean;
  /** The link never reached `welcome` because the transport itself is blocked (try the fallback). */
  transportFailed: boolean;
  /**
   * Why the connection itself failed, when it did: Node's error code (ENOTFOUND, ECONNREFUSED,
   * ETIMEDOUT, a TLS code such as ERR_SSL_WRONG_VERSION_NUMBER or
   * UNABLE_TO_VERIFY_LEAF_SIGNATURE), or HTTP_<status> for a refused WebSocket upgrade.
   */
  errorCode?: string;
}

/** The code of a connection error: Node's `code`, or that of its cause (fetch wraps errors). */
export function connectErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, cause, message } = error as { code?: unknown; cause?: unknown; message?: unknown };
  if (typeof code === 'string') return code;
  if (cause !== undefined) return connectErrorCode(cause);
  // ws reports its own handshake timeout without a code.
  if (typeof message === 'string' && /handshake has timed out/i.test(message)) return 'ETIMEDOUT';
  return undefined;
}

export interface LinkHandlers {
  frame(frame: RelayFrame): void;
  closed(closed: LinkClosed): void;
}

/** One connection attempt to one relay over one transport. */
export interface Link {
  send(message: OutgoingMessage): void;
  ack(upTo: number): void;
  watch(identities: string[]): void;
  status(status: 'active' | 'idle'): void;
  close(): void;
}
