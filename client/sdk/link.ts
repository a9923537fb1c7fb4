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
