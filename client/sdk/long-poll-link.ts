import { CloseCode } from '../../contracts/errors/close-codes.js';
import type { Link, LinkClosed, LinkHandlers, OutgoingMessage, RelayFrame } from './link.js';

const AUTH_CODES: Record<string, number> = {
  AUTH_MALFORMED: CloseCode.authMalformed,
  AUTH_BAD_SIGNATURE: CloseCode.authBadSignature,
  AUTH_UNKNOWN_DOMAIN: CloseCode.authUnknownDomain,
  AUTH_EXPIRED: CloseCode.authExpired,
  AUTH_UNKNOWN_DEVICE: CloseCode.authUnknownDevice,
  AUTH_REVOKED: CloseCode.revoked,
};

interface PollReply {
  epoch: string;
  head: number;
  drops: number;
  /** On a first poll: the drops the device was already told of. */
  told?: number;
  resync: boolean;
  messages: RelayFrame[];
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/**
 * A link over plain HTTP requests for networks that block WebSocket. Each poll carries the
 * cumulative ack of what the application processed and waits for more; the next poll
 * starts only once everything returned was acked, so nothing is skipped.
 */
export class LongPollLink implements Link {
  private readonly abort = new AbortController();
  private epoch: string | undefined;
  private acked = 0;
  /** The ack carried by the last poll sent. */
  private ackSent = 0;
  /** The queue's drop count as of the last reply. */
  private seenDrops: number | undefined;
  private awaitingAck = 0;
  private ackWaiter: (() => void) | undefined;
  private ended = false;
  private welcomed = false;
  private readonly watched = new Set<string>();
  private readonly presence = new Map<string, string>();
  private presenceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    epoch: string | undefined,
    private readonly handlers: LinkHandlers,
    private readonly waitSeconds = 25,
  ) {
    this.epoch = epoch;
    void this.loop();
  }

  private async request(path: string, init: RequestInit = {}): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      ...init,
      signal: this.abort.signal,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
    });
    const body: unknown = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = (body as ErrorBody).error;
      throw new HttpError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? '',
      );
    }
    return body;
  }

  private async loop(): Promise<void> {
    const knownEpoch = this.epoch;
    try {
      for (let first = true; !this.ended; first = false) {
        const params = new URLSearchParams({ wait: String(first ? 0 : this.waitSeconds) });
        if (this.epoch !== undefined) params.set('epoch', this.epoch);
        if (this.epoch !== undefined && this.acked > 0) params.set('ack', String(this.acked));
        if (this.seenDrops !== undefined) params.set('drops', String(this.seenDrops));
        this.ackSent = this.acked;
        const reply = (await this.request(`/v1/poll?${params.toString()}`)) as PollReply;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- may change during the await
        if (this.ended) return;
        if (!this.welcomed || reply.resync) {
          this.acked = reply.head - 1;
          if (!this.welcomed) {
            this.welcomed = true;
            this.handlers.frame({
              t: 'welcome',
              epoch: reply.epoch,
              head: reply.head,
              drops: reply.drops,
              resync: knownEpoch !== undefined && knownEpoch !== reply.epoch,
              domain: '',
              identity: '',
              device: '',
              limits: {},
            });
          } else {
            this.handlers.frame({
              t: 'resync',
              reason: 'epoch',
              epoch: reply.epoch,
              drops: reply.drops,
            });
          }
        }
        this.epoch = reply.epoch;
        if (reply.drops > (this.seenDrops ?? reply.told ?? reply.drops)) {
          this.handlers.frame({
            t: 'resync',
            reason: 'dropped',
            epoch: reply.epoch,
            drops: reply.drops,
          });
        }
        this.seenDrops = reply.drops;
        if (reply.messages.length === 0) continue;
        const last = reply.messages.at(-1);
        this.awaitingAck = last !== undefined && 'seq' in last ? last.seq : 0;
        const acked = new Promise<void>((resolve) => (this.ackWaiter = resolve));
        for (const frame of reply.messages) this.handlers.frame(frame);
        if (this.acked < this.awaitingAck) await acked;
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    if (error instanceof HttpError) {
      const code = AUTH_CODES[error.code];
      if (code !== undefined) {
        this.end({ code, reason: error.message, reconnect: false, transportFailed: false });
        return;
      }
      this.end({
        code: 4002,
        reason: `${error.code}: ${error.message}`,
        reconnect: true,
        transportFailed: false,
      });
      return;
    }
    this.end({
      code: 1006,
      reason: (error as Error).message,
      reconnect: true,
      transportFailed: !this.welcomed,
    });
  }

  private end(closed: LinkClosed): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    if (this.presenceTimer !== undefined) clearInterval(this.presenceTimer);
    this.handlers.closed(closed);
  }

  send(message: OutgoingMessage): void {
    this.request('/v1/poll/send', { method: 'POST', body: JSON.stringify(message) })
      .then((result) => {
        this.handlers.frame({
          t: 'sent',
          ...(result as { id: string; recipients: number; duplicates: number }),
        });
      })
      .catch((error: unknown) => {
        if (error instanceof HttpError) {
          this.handlers.frame({
            t: 'error',
            id: message.id,
            code: error.code,
            message: error.message,
          });
          return;
        }
        // A network failure (the send may or may not have arrived): end this link, so the
        // SDK reconnects and resends under the same id.
        this.fail(error);
      });
  }

  ack(upTo: number): void {
    this.acked = Math.max(this.acked, upTo);
    if (this.acked >= this.awaitingAck && this.ackWaiter !== undefined) {
      const waiter = this.ackWaiter;
      this.ackWaiter = undefined;
      waiter();
    }
  }

  watch(identities: string[]): void {
    for (const identity of identities) this.watched.add(identity);
    void this.pollPresence();
    this.presenceTimer ??= setInterval(() => void this.pollPresence(), 1000);
  }

  private async pollPresence(): Promise<void> {
    if (this.watched.size === 0 || this.ended) return;
    try {
      const params = new URLSearchParams({ identities: [...this.watched].join(',') });
      const reply = (await this.request(`/v1/poll/presence?${params.toString()}`)) as {
        presence: { identity: string; device: string; status?: string }[];
      };
      const now = new Map(reply.presence.map((p) => [`${p.identity}/${p.device}`, p]));
      for (const [key, p] of now) {
        if (this.presence.get(key) !== p.status) {
          this.presence.set(key, p.status ?? 'active');
          this.handlers.frame({
            t: 'presence',
            identity: p.identity,
            device: p.device,
            state: 'online',
            ...(p.status === undefined ? {} : { status: p.status }),
          });
        }
      }
      for (const key of [...this.presence.keys()]) {
        if (!now.has(key)) {
          this.presence.delete(key);
          const [identity = '', device = ''] = key.split('/');
          this.handlers.frame({ t: 'presence', identity, device, state: 'offline' });
        }
      }
    } catch {
      // The next round tries again; a dead relay also ends the poll loop, which reconnects.
    }
  }

  status(_status: 'active' | 'idle'): void {
    // Long-poll devices are reported as active while they poll.
  }

  close(): void {
    this.ended = true;
    this.abort.abort();
    if (this.epoch !== undefined && this.acked > this.ackSent) {
      // The last ack rides on no further poll: send it on its own (best effort; unacked
      // messages are redelivered and de-duplicated anyway).
      fetch(`${this.baseUrl}/v1/poll/ack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ upTo: this.acked, epoch: this.epoch }),
      }).catch(() => undefined);
    }
    if (this.presenceTimer !== undefined) clearInterval(this.presenceTimer);
    this.ackWaiter?.();
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
