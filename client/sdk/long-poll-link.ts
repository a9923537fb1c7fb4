import { CloseCode } from '../../contracts/errors/close-codes.js';
import { refusalCloseCodeOf } from '../../contracts/errors/relay-errors.js';
import { decodeErrorBody } from '../../contracts/wire/error-body.js';
import {
  encodePollQuery,
  encodePresenceQuery,
  longPollPaths,
  type AckBody,
  type PollReply,
} from '../../contracts/wire/long-poll.js';
import type { PresenceEvent } from '../../contracts/wire/presence.js';
import { HttpClient } from './http-client.js';
import {
  connectErrorCode,
  type Link,
  type LinkClosed,
  type LinkHandlers,
  type OutgoingMessage,
} from './link.js';

/** How long a relay may take to answer a request beyond the poll's own wait. */
const REQUEST_DEADLINE_MS = 10_000;

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
  /** identity/device → the device's last known presence. */
  private readonly presence = new Map<
    string,
    { identity: string; device: string; status: string }
  >();
  private presenceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    epoch: string | undefined,
    private readonly handlers: LinkHandlers,
    private readonly waitSeconds = 25,
    private readonly http: HttpClient = new HttpClient(),
  ) {
    this.epoch = epoch;
    void this.loop();
  }

  /**
   * Every request has a deadline (a poll: its wait plus REQUEST_DEADLINE_MS). Without one, a
   * request to a relay pod that vanished without closing its sockets (force-deleted, or its
   * node's kube-proxy still routing to it) hung until the kernel gave up: 70 s and more on a
   * real cluster, while every other relay served. Past the deadline the link ends like a
   * network failure: the SDK reconnects and resends under the same id.
   */
  private async request(
    path: string,
    init: { method?: string; body?: string } = {},
    waitSeconds = 0,
  ): Promise<unknown> {
    const deadline = AbortSignal.timeout(waitSeconds * 1000 + REQUEST_DEADLINE_MS);
    const response = await this.http.json(`${this.baseUrl}${path}`, {
      ...init,
      signal: AbortSignal.any([this.abort.signal, deadline]),
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
    });
    if (!response.ok) {
      const error = decodeErrorBody(response.body);
      throw new HttpError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? '',
      );
    }
    return response.body;
  }

  private async loop(): Promise<void> {
    const knownEpoch = this.epoch;
    try {
      for (let first = true; !this.ended; first = false) {
        const query = encodePollQuery({
          wait: first ? 0 : this.waitSeconds,
          epoch: this.epoch,
          ack: this.epoch !== undefined && this.acked > 0 ? this.acked : undefined,
          drops: this.seenDrops,
        });
        this.ackSent = this.acked;
        const reply = (await this.request(
          `${longPollPaths.poll}?${query}`,
          {},
          first ? 0 : this.waitSeconds,
        )) as PollReply;
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
      const code = refusalCloseCodeOf(error.code);
      if (code !== undefined) {
        this.end({ code, reason: error.message, reconnect: false, transportFailed: false });
        return;
      }
      this.end({
        code: CloseCode.storageUnavailable,
        reason: `${error.code}: ${error.message}`,
        reconnect: true,
        transportFailed: false,
        // Not a Grove error body: something else (a proxy, an Ingress) answered.
        ...(error.code.startsWith('HTTP_') ? { errorCode: error.code } : {}),
      });
      return;
    }
    const errorCode = connectErrorCode(error);
    this.end({
      code: 1006,
      reason: (error as Error).message,
      reconnect: true,
      transportFailed: !this.welcomed,
      ...(errorCode === undefined ? {} : { errorCode }),
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
    this.request(longPollPaths.send, { method: 'POST', body: JSON.stringify(message) })
      .then((result) => {
        this.handlers.frame({
          t: 'sent',
          ...(result as { id: string; recipients: number; duplicates: number }),
        });
      })
      .catch((error: unknown) => {
        // A Grove error body is the relay's answer to this send (retried or refused by its
        // code). Anything else (HTTP_<status>) came from something that is not serving Grove:
        // a relay shutting down (its HTTP server answers 503 to requests on open connections),
        // a proxy, an Ingress. Seen on a real cluster during rolling updates: it must not
        // refuse the send, so it ends the link like a network failure, below.
        if (error instanceof HttpError && !error.code.startsWith('HTTP_')) {
          this.handlers.frame({
            t: 'error',
            id: message.id,
            code: error.code,
            message: error.message,
          });
          return;
        }
        // A network failure or a non-Grove answer (the send may or may not have arrived): end
        // this link, so the SDK reconnects and resends under the same id.
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
      const query = encodePresenceQuery([...this.watched]);
      const reply = (await this.request(`${longPollPaths.presence}?${query}`)) as {
        presence: PresenceEvent[];
      };
      const now = new Map(reply.presence.map((p) => [`${p.identity}/${p.device}`, p]));
      for (const [key, p] of now) {
        if (this.presence.get(key)?.status !== p.status) {
          this.presence.set(key, {
            identity: p.identity,
            device: p.device,
            status: p.status ?? 'active',
          });
          this.handlers.frame({
            t: 'presence',
            identity: p.identity,
            device: p.device,
            state: 'online',
            ...(p.status === undefined ? {} : { status: p.status }),
          });
        }
      }
      for (const [key, { identity, device }] of [...this.presence]) {
        if (!now.has(key)) {
          this.presence.delete(key);
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
      const ack: AckBody = { upTo: this.acked, epoch: this.epoch };
      this.http
        .json(`${this.baseUrl}${longPollPaths.ack}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(ack),
        })
        .catch(() => undefined);
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
