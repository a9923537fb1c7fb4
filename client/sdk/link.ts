/** What the SDK receives from a relay, over either transport. */
export type RelayFrame =
  | {
      t: 'welcome';
      epoch: string;
      head: number;
      drops: number;
      resync: boolean;
      domain: string;
      identity: string;
      device: string;
      limits: Record<string, number>;
    }
  | { t: 'sent'; id: string; recipients: number; duplicates: number }
  | { t: 'error'; id?: string; code: string; message: string; retryAfterMs?: number }
  | {
      t: 'msg';
      seq: number;
      id: string;
      from: { identity: string; device: string };
      to: string[];
      data: string;
      createdAt: number;
      ttl?: number;
    }
  | { t: 'skip'; seq: number; reason: string }
  | { t: 'resync'; reason: string; epoch: string; drops: number }
  | {
      t: 'presence';
      identity: string;
      device: string;
      state: 'online' | 'offline';
      status?: string;
    }
  | { t: 'pong' };

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
